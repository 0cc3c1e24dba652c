// reel's log: one line per event on stderr, as JSON ({"ts", "level", "msg", fields...}) or text
// (`ts level msg key=value ...`), from any thread. Every value is escaped in both formats, since
// many come from users or remote servers (labels, URLs, error texts): no control character, line
// break, ANSI escape or invalid UTF-8 reaches the terminal or the collector. Lines written through
// spdlog (older call sites) take the same format and level once Configure has run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace reel::log {

enum class Level { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };
enum class Format { kText, kJson };

struct Field {
  std::string key;
  nlohmann::json value;
};
using Fields = std::vector<Field>;

// "error", "warn", "info", "debug" (and "warning" for warn); nullopt for anything else.
std::optional<Level> ParseLevel(std::string_view name);
std::optional<Format> ParseFormat(std::string_view name);
const char* LevelName(Level level);

// The process's format and level (default: text, info), and spdlog's default logger routed here.
void Configure(Format format, Level level);
// Whether Configure ran: a service process, whose libraries may log (the CLI's own commands keep
// stderr for their messages).
bool Configured();
bool Enabled(Level level);

// Writes one line if `level` is enabled. Keys should be short snake_case words of ours.
void Write(Level level, std::string_view msg, const Fields& fields = {});
inline void Error(std::string_view msg, const Fields& fields = {}) {
  Write(Level::kError, msg, fields);
}
inline void Warn(std::string_view msg, const Fields& fields = {}) {
  Write(Level::kWarn, msg, fields);
}
inline void Info(std::string_view msg, const Fields& fields = {}) {
  Write(Level::kInfo, msg, fields);
}
inline void Debug(std::string_view msg, const Fields& fields = {}) {
  Write(Level::kDebug, msg, fields);
}

// One event, as a line holds it.
struct Record {
  std::string ts;  // RFC 3339, UTC, milliseconds: "2026-12-02T06:48:48.123Z"
  Level level = Level::kInfo;
  std::string msg;
  Fields fields;
};

// The line for `record`, without its newline.
std::string FormatLine(Format format, const Record& record);
// A JSON line of ours back into a record (strings cleaned as Clean does); nullopt for anything
// else.
std::optional<Record> ParseLine(std::string_view line);
// {"ts", "level", "msg"[, "fields": {...}]}, as the API shows a stored line.
nlohmann::json ToJson(const Record& record);
std::optional<Record> FromJson(const nlohmann::json& j);

// `text` as valid UTF-8 without control characters, for text kept to be shown later (the stored
// attempt log): tabs and line breaks become spaces, other control characters (C0, DEL, C1,
// U+2028/9) and invalid bytes U+FFFD. (Lines written here are escaped instead, losing nothing.)
std::string Clean(std::string_view text);
// Now, as Record::ts.
std::string Now();

// At most `burst` events at once, then `per_second` on average; counts what it refused, so the
// next allowed event can say how many were left out. For sources that a stranger's input can make
// talk without end (the decoder's complaints about a corrupt file). Not thread-safe.
class Throttle {
 public:
  Throttle(double burst, double per_second) : burst_(burst), rate_(per_second), tokens_(burst) {}
  // Whether an event at `now` (seconds, any monotonic scale) may pass; when it may, `*skipped`
  // gets the number refused since the last one that passed.
  bool Allow(double now, int64_t* skipped);

 private:
  double burst_, rate_, tokens_;
  double last_ = -1;
  int64_t refused_ = 0;
};

}  // namespace reel::log
