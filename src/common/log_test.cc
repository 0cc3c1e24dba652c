#include "common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

namespace reel::log {
namespace {

using nlohmann::json;

const std::string kHostile =
    "evil\n2026-01-01T00:00:00.000Z error forged line\r\x1b[31mred\x1b[0m\x07 \xc2\x9b"
    "2J \xe2\x80\xa8 \"q\" \\ \xff\xfe tail";

// No byte a terminal acts on: no C0 (not even a newline), DEL, C1 (UTF-8 C2 80..9F) or U+2028/9.
void ExpectInert(const std::string& line) {
  for (size_t i = 0; i < line.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    ASSERT_FALSE(c < 0x20 || c == 0x7f) << "control byte " << int(c) << " at " << i << ": " << line;
    if (c == 0xc2 && i + 1 < line.size()) {
      ASSERT_FALSE(static_cast<unsigned char>(line[i + 1]) < 0xa0) << "C1 at " << i;
    }
    ASSERT_NE(line.compare(i, 3, "\xe2\x80\xa8"), 0) << "U+2028 at " << i;
  }
}

TEST(Log, JsonLineHasTsLevelMsgAndFieldsAndEscapesEverything) {
  Record r{"2026-12-02T06:48:48.123Z",
           Level::kWarn,
           "source " + kHostile,
           {{"job", "job_1"}, {"attempt", 2}, {"label", kHostile}, {"ok", true}}};
  std::string line = FormatLine(Format::kJson, r);
  ExpectInert(line);
  json j = json::parse(line);  // valid JSON, invalid UTF-8 included
  EXPECT_EQ(j["ts"], "2026-12-02T06:48:48.123Z");
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["job"], "job_1");
  EXPECT_EQ(j["attempt"], 2) << "numbers stay numbers";
  EXPECT_EQ(j["ok"], true);
  std::string label = j["label"];
  EXPECT_EQ(label.substr(0, 5), "evil\n") << "escaped, not lost: the reader gets the text back";
  EXPECT_NE(label.find("\x1b[31mred"), std::string::npos);
  EXPECT_NE(label.find("\xef\xbf\xbd"), std::string::npos) << "invalid bytes become U+FFFD";
  EXPECT_NE(line.find("\\u001b[31m"), std::string::npos);
  EXPECT_NE(line.find("\\u009b"), std::string::npos) << "C1 CSI escaped";
  EXPECT_NE(line.find("\\u2028"), std::string::npos);
}

TEST(Log, JsonFieldsCannotOverwriteTsLevelOrMsg) {
  std::string line = FormatLine(Format::kJson, {"t", Level::kInfo, "m", {{"level", "error"}}});
  json j = json::parse(line);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["level_"], "error");
}

TEST(Log, TextLineIsTsLevelMsgKeyValuesWithValuesQuotedWhenNeeded) {
  Record r{"2026-12-02T06:48:48.123Z",
           Level::kInfo,
           "attempt ended",
           {{"job", "job_1"}, {"seconds", 1.5}, {"error", "HTTP 503: \"busy\""}, {"empty", ""}}};
  EXPECT_EQ(FormatLine(Format::kText, r),
            "2026-12-02T06:48:48.123Z info attempt ended job=job_1 seconds=1.5 "
            "error=\"HTTP 503: \\\"busy\\\"\" empty=\"\"");
  std::string hostile =
      FormatLine(Format::kText, {"t", Level::kError, kHostile, {{"k", kHostile}}});
  ExpectInert(hostile);
  EXPECT_EQ(hostile.find("\n"), std::string::npos);
  EXPECT_NE(hostile.find("evil\\n2026"), std::string::npos) << "a forged line stays on this one";
  EXPECT_NE(hostile.find("k=\"evil\\n"), std::string::npos);
  // Keys are ours, but even so cannot break the line apart.
  std::string bad_key = FormatLine(Format::kText, {"t", Level::kInfo, "m", {{"a b=\n", "v"}}});
  EXPECT_EQ(bad_key, "t info m a_b__=v");
}

TEST(Log, LinesParseBackAndCleanWhatTheyKeep) {
  Record r{"2026-12-02T06:48:48.123Z", Level::kWarn, "decode: " + kHostile, {{"n", 3}}};
  std::optional<Record> back = ParseLine(FormatLine(Format::kJson, r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->level, Level::kWarn);
  EXPECT_EQ(back->ts, r.ts);
  ExpectInert(back->msg);
  EXPECT_EQ(back->msg.substr(0, 13), "decode: evil ") << "a line break becomes a space";
  ASSERT_EQ(back->fields.size(), 1u);
  EXPECT_EQ(back->fields[0].value, 3);
  EXPECT_EQ(ToJson(*back)["fields"]["n"], 3);
  EXPECT_EQ(ToJson(*back).dump().find("\\u001b"), std::string::npos) << "cleaned, not escaped";
  EXPECT_FALSE(ParseLine("reel: error: not json"));
  EXPECT_FALSE(ParseLine("{\"no\": \"msg\"}"));
}

TEST(Log, LevelsAndFormatsByName) {
  EXPECT_EQ(ParseLevel("warning"), Level::kWarn);
  EXPECT_EQ(ParseLevel("debug"), Level::kDebug);
  EXPECT_FALSE(ParseLevel("verbose"));
  EXPECT_EQ(ParseFormat("json"), Format::kJson);
  EXPECT_FALSE(ParseFormat("xml"));
  EXPECT_STREQ(LevelName(Level::kError), "error");
}

TEST(Log, ThrottleLetsABurstThroughThenARateAndCountsTheRest) {
  Throttle t(3, 1);
  int64_t skipped = -1;
  int passed = 0;
  for (int i = 0; i < 100; ++i) passed += t.Allow(0.0, &skipped) ? 1 : 0;
  EXPECT_EQ(passed, 3);
  EXPECT_FALSE(t.Allow(0.5, &skipped));
  ASSERT_TRUE(t.Allow(1.0, &skipped));
  EXPECT_EQ(skipped, 98) << "97 refused at 0 s and one at 0.5 s";
  ASSERT_FALSE(t.Allow(1.1, &skipped));
  ASSERT_TRUE(t.Allow(2.2, &skipped));
  EXPECT_EQ(skipped, 1);
}

// Writes from many threads (ours and spdlog's) arrive as whole lines, filtered by level.
TEST(Log, ThreadsWriteWholeLinesAtTheConfiguredLevel) {
  char path[] = "/tmp/reel-log-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  Configure(Format::kJson, Level::kInfo);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) {
        Info("event", {{"thread", t}, {"i", i}, {"pad", std::string(300, 'x')}});
        Debug("hidden at info");
        if (i % 50 == 0) spdlog::warn("through spdlog {}", t);
      }
    });
  for (std::thread& t : threads) t.join();
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fd);
  Configure(Format::kText, Level::kInfo);
  std::ifstream in(path);
  std::string line;
  int events = 0, bridged = 0;
  while (std::getline(in, line)) {
    json j = json::parse(line);  // throws on a torn or mixed line
    if (j["msg"] == "event") ++events;
    if (j["level"] == "warn" && j["msg"].get<std::string>().rfind("through spdlog", 0) == 0)
      ++bridged;
    EXPECT_NE(j["msg"], "hidden at info");
  }
  std::remove(path);
  EXPECT_EQ(events, 8 * 200);
  EXPECT_EQ(bridged, 8 * 4);
}

}  // namespace
}  // namespace reel::log
