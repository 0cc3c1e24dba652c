#include "common/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace reel::log {
namespace {

using nlohmann::json;

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kText)};
std::atomic<bool> g_configured{false};
std::mutex g_write_mu;  // one line at a time, whole

void AppendHex4(unsigned value, std::string* out) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\u%04x", value);
  *out += buf;
}

// Length of the valid UTF-8 sequence at s[i] and its code point; 0 when it is not one.
size_t Utf8At(std::string_view s, size_t i, unsigned* cp) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned c = b(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  unsigned v = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  static const unsigned kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return n;
}

// The body of a JSON string for `s` (also used by the text format, whose quoted values are JSON
// strings): every character a terminal could act on is escaped.
void Escape(std::string_view s, std::string* out) {
  for (size_t i = 0; i < s.size();) {
    unsigned cp = 0;
    size_t n = Utf8At(s, i, &cp);
    if (n == 0) {
      *out += "\\ufffd";  // not UTF-8: a stray byte could start an escape sequence
      ++i;
      continue;
    }
    switch (cp) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 || cp == 0x2029)
          AppendHex4(cp, out);
        else
          out->append(s.substr(i, n));
    }
    i += n;
  }
}

// Keys are ours, but a line must stay parseable whatever is passed: [a-z0-9_] only.
std::string CleanKey(std::string_view key) {
  std::string out;
  for (char c : key.substr(0, 64))
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') ? c : '_';
  if (out.empty()) out = "_";
  if (out == "ts" || out == "level" || out == "msg") out += '_';
  return out;
}

// A text value goes bare when nothing in it needs quoting.
bool Bare(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("._:/@+,%-").find(c) == std::string_view::npos)
      return false;
  return true;
}

void AppendJsonValue(const json& v, std::string* out) {
  if (v.is_string()) {
    *out += '"';
    Escape(v.get_ref<const std::string&>(), out);
    *out += '"';
  } else {
    // ASCII only: nlohmann escapes the rest, and replaces invalid UTF-8.
    *out += v.dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

class Sink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& m) override {
    Level level = m.level <= spdlog::level::debug  ? Level::kDebug
                  : m.level == spdlog::level::info ? Level::kInfo
                  : m.level == spdlog::level::warn ? Level::kWarn
                                                   : Level::kError;
    Write(level, std::string_view(m.payload.data(), m.payload.size()));
  }
  void flush_() override {}
};

}  // namespace

std::optional<Level> ParseLevel(std::string_view name) {
  if (name == "error") return Level::kError;
  if (name == "warn" || name == "warning") return Level::kWarn;
  if (name == "info") return Level::kInfo;
  if (name == "debug") return Level::kDebug;
  return std::nullopt;
}

std::optional<Format> ParseFormat(std::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  return std::nullopt;
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kError:
      return "error";
    case Level::kWarn:
      return "warn";
    case Level::kInfo:
      return "info";
    case Level::kDebug:
      return "debug";
  }
  return "info";
}

void Configure(Format format, Level level) {
  g_format = static_cast<int>(format);
  g_level = static_cast<int>(level);
  auto logger = std::make_shared<spdlog::logger>("reel", std::make_shared<Sink>());
  logger->set_level(level == Level::kDebug  ? spdlog::level::debug
                    : level == Level::kInfo ? spdlog::level::info
                    : level == Level::kWarn ? spdlog::level::warn
                                            : spdlog::level::err);
  spdlog::set_default_logger(std::move(logger));
  g_configured = true;
}

bool Configured() { return g_configured.load(); }

bool Enabled(Level level) { return static_cast<int>(level) <= g_level.load(); }

void Write(Level level, std::string_view msg, const Fields& fields) {
  if (!Enabled(level)) return;
  Record r{Now(), level, std::string(msg), fields};
  std::string line = FormatLine(static_cast<Format>(g_format.load()), r) + "\n";
  std::lock_guard lock(g_write_mu);
  // One write per line: lines of several threads never interleave.
  for (size_t done = 0; done < line.size();) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
}

std::string FormatLine(Format format, const Record& r) {
  std::string out;
  if (format == Format::kJson) {
    out += "{\"ts\":\"";
    Escape(r.ts, &out);
    out += "\",\"level\":\"";
    out += LevelName(r.level);
    out += "\",\"msg\":\"";
    Escape(r.msg, &out);
    out += '"';
    for (const Field& f : r.fields) {
      out += ",\"" + CleanKey(f.key) + "\":";
      AppendJsonValue(f.value, &out);
    }
    out += '}';
    return out;
  }
  Escape(r.ts, &out);
  out += ' ';
  out += LevelName(r.level);
  out += ' ';
  Escape(r.msg, &out);
  for (const Field& f : r.fields) {
    out += ' ' + CleanKey(f.key) + '=';
    std::string value = f.value.is_string()
                            ? f.value.get<std::string>()
                            : f.value.dump(-1, ' ', true, json::error_handler_t::replace);
    if (Bare(value)) {
      out += value;
    } else {
      out += '"';
      Escape(value, &out);
      out += '"';
    }
  }
  return out;
}

std::string Clean(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    unsigned cp = 0;
    size_t n = Utf8At(text, i, &cp);
    if (n == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD
      ++i;
    } else if (cp == '\n' || cp == '\r' || cp == '\t') {
      out += ' ';
      i += n;
    } else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 || cp == 0x2029) {
      out += "\xef\xbf\xbd";
      i += n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string Now() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];  // room for any int, as the compiler counts
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

json ToJson(const Record& r) {
  json j = {{"ts", r.ts}, {"level", LevelName(r.level)}, {"msg", r.msg}};
  if (!r.fields.empty()) {
    json fields = json::object();
    for (const Field& f : r.fields) fields[f.key] = f.value;
    j["fields"] = std::move(fields);
  }
  return j;
}

std::optional<Record> FromJson(const json& j) {
  if (!j.is_object() || !j.contains("msg") || !j["msg"].is_string()) return std::nullopt;
  // Whatever the line holds: a member of another type is no string (value() would throw).
  auto text = [&j](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  Record r;
  r.ts = Clean(text("ts"));
  std::optional<Level> level = ParseLevel(text("level"));
  r.level = level.value_or(Level::kInfo);
  r.msg = Clean(j["msg"].get<std::string>());
  auto add = [&r](const std::string& key, const json& value) {
    r.fields.push_back(
        {CleanKey(key), value.is_string() ? json(Clean(value.get<std::string>())) : value});
  };
  if (j.contains("fields") && j["fields"].is_object())
    for (const auto& [key, value] : j["fields"].items()) add(key, value);
  for (const auto& [key, value] : j.items())
    if (key != "ts" && key != "level" && key != "msg" && key != "fields") add(key, value);
  return r;
}

std::optional<Record> ParseLine(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  return FromJson(j);
}

bool Throttle::Allow(double now, int64_t* skipped) {
  if (last_ >= 0) tokens_ = std::min(burst_, tokens_ + (now - last_) * rate_);
  last_ = now;
  if (tokens_ < 1) {
    ++refused_;
    return false;
  }
  tokens_ -= 1;
  *skipped = refused_;
  refused_ = 0;
  return true;
}

}  // namespace reel::log
