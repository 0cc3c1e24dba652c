// The attempt log: the child's stderr file read back capped, forwarded and kept in a real SQLite
// store.
#include "worker/attempt_log.h"

#include <gtest/gtest.h>

#include <fstream>

#include "store/job_store.h"
#include "testing/media_fixtures.h"
#include "worker/supervisor.h"

namespace reel::worker {
namespace {

using nlohmann::json;

std::string Line(int i) {
  return log::FormatLine(log::Format::kJson, {"2026-12-02T06:48:48.123Z",
                                              log::Level::kWarn,
                                              "corrupt frame " + std::to_string(i),
                                              {{"source", "ffmpeg"}, {"component", "h264"}}});
}

TEST(AttemptLog, AFloodKeepsTheNewestLinesWithinTheCapAndSaysHowMuchWasDropped) {
  testing::TempDir dir;
  std::string path = dir / "stderr.log";
  std::ofstream out(path);
  size_t total = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string line = Line(i) + "\n";
    total += line.size();
    out << line;
  }
  out.close();
  AttemptLog log = ReadAttemptLog(path);
  ASSERT_FALSE(log.lines.empty());
  EXPECT_EQ(log.lines.back().msg, "corrupt frame 19999") << "the newest kept";
  size_t kept = 0;
  for (const log::Record& r : log.lines) kept += log::FormatLine(log::Format::kJson, r).size() + 1;
  EXPECT_LE(kept, kAttemptLogCap);
  EXPECT_GT(kept, kAttemptLogCap - 200) << "the cap is used, less at most one partial line";
  EXPECT_EQ(static_cast<size_t>(log.dropped) + kept, total) << "every byte is kept or counted";
  std::string first = log.lines.front().msg;
  EXPECT_EQ(first.rfind("corrupt frame ", 0), 0u) << "whole lines only: " << first;

  json stored = AttemptLogJson(log);
  EXPECT_EQ(stored["dropped"], log.dropped);
  EXPECT_EQ(stored["lines"].size(), log.lines.size() + 1);
  EXPECT_EQ(stored["lines"][0]["level"], "warn");
  EXPECT_NE(stored["lines"][0]["msg"].get<std::string>().find(std::to_string(log.dropped) +
                                                              " bytes were dropped"),
            std::string::npos)
      << stored["lines"][0];
  EXPECT_EQ(stored["lines"][1]["fields"]["component"], "h264");
  EXPECT_LE(stored.dump().size(), kAttemptLogCap + 16 * 1024) << "what the store holds is bounded";
}

TEST(AttemptLog, ForeignLinesAreKeptAsCleanTextAndLongOnesAreCut) {
  testing::TempDir dir;
  std::string path = dir / "stderr.log";
  testing::WriteFile(path, "reel: error: \x1b[2Jboom\xff\n" + Line(1) + "\n" +
                               std::string(10000, 'y') + "\xc3\xa9" + "\n\n");
  AttemptLog log = ReadAttemptLog(path);
  ASSERT_EQ(log.lines.size(), 3u);
  EXPECT_EQ(log.dropped, 0);
  EXPECT_EQ(log.lines[0].msg, "reel: error: \xef\xbf\xbd[2Jboom\xef\xbf\xbd");
  EXPECT_EQ(log.lines[0].level, log::Level::kInfo);
  EXPECT_EQ(log.lines[1].level, log::Level::kWarn);
  EXPECT_EQ(log.lines[2].msg, std::string(4096, 'y'));
  EXPECT_TRUE(ReadAttemptLog(dir / "missing.log").lines.empty());
}

TEST(AttemptLog, KeptWithTheAttemptByTheWorkerThatHoldsIt) {
  testing::TempDir dir;
  auto opened = store::OpenSqliteStore(dir / "jobs.db");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store::JobStore& st = **opened;
  bool existed = false;
  store::NewJob submitted;
  submitted.owner = "owner";
  submitted.spec = {{"source", "x"}};
  ASSERT_TRUE(st.CreateJob(submitted, &existed).ok());
  Result<std::optional<store::Job>> leased = st.Lease("w1", "host", 30);
  ASSERT_TRUE(leased.ok() && leased->has_value());
  const store::Job& job = **leased;
  EXPECT_EQ(st.AttemptLog(job.id, 1)->dump(), R"({"dropped":0,"lines":[]})") << "running: empty";
  EXPECT_EQ(st.AttemptLog(job.id, 2).status().code(), StatusCode::kNotFound);

  testing::WriteFile(dir / "stderr.log", Line(7) + "\n");
  AttemptEnding ending;
  ending.outcome = "failed";
  ending.error = "HTTP 503\nfrom the origin";
  ending.log = ReadAttemptLog(dir / "stderr.log");
  KeepAttemptLog(&st, job, "w2", ending, 1.5);  // not the lease holder
  EXPECT_TRUE((*st.AttemptLog(job.id, 1))["lines"].empty()) << "another worker writes nothing";
  KeepAttemptLog(&st, job, "w1", ending, 1.5);
  json kept = *st.AttemptLog(job.id, 1);
  ASSERT_EQ(kept["lines"].size(), 2u) << kept.dump();
  EXPECT_EQ(kept["lines"][0]["msg"], "corrupt frame 7");
  EXPECT_EQ(kept["lines"][1]["msg"], "attempt ended");
  EXPECT_EQ(kept["lines"][1]["level"], "error");
  EXPECT_EQ(kept["lines"][1]["fields"]["outcome"], "failed");
  EXPECT_EQ(kept["lines"][1]["fields"]["error"], "HTTP 503 from the origin");
  EXPECT_EQ(kept["lines"][1]["fields"]["seconds"], 1.5);

  ASSERT_TRUE(st.FinishAttempt(job.id, "w1", store::AttemptEnd::kFailedPermanently, "failed",
                               "boom", nullptr)
                  .ok());
  KeepAttemptLog(&st, job, "w1", AttemptEnding{}, 0);
  EXPECT_EQ((*st.AttemptLog(job.id, 1))["lines"].size(), 2u) << "an ended attempt's log stays";
  ASSERT_TRUE(st.DeleteJob(job.id).ok());
  EXPECT_EQ(st.AttemptLog(job.id, 1).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace reel::worker
