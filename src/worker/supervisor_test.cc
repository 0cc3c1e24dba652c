// The supervisor against fake children: small shell scripts that print protocol lines, hang or
// die, with a manual clock and a real SQLite store.
#include "worker/supervisor.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "testing/media_fixtures.h"
#include "worker/completer.h"

namespace reel::worker {
namespace {

using nlohmann::json;
using store::AttemptEnd;

constexpr char kProgress[] =
    R"({"event":"progress","fraction":0.5,"media_seconds":1,"fps":30,"speed":2,"elapsed":0.5})";

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenSqliteStore(dir_ / "jobs.db");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
    bool existed = false;
    store::NewJob submitted;
    submitted.owner = "owner";
    submitted.spec = {{"source", "x"}};
    Result<store::Job> job = store_->CreateJob(submitted, &existed);
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    job_id_ = job->id;
    Lease("w1", 30);
  }

  void Lease(const std::string& worker, double seconds) {
    auto leased = store_->Lease(worker, "host", seconds);
    ASSERT_TRUE(leased.ok() && leased->has_value()) << leased.status().ToString();
  }

  // A child that runs `body` under /bin/sh.
  ChildCommand Child(const std::string& body) {
    std::string path = dir_ / ("child" + std::to_string(++children_) + ".sh");
    testing::WriteFile(path, "#!/bin/sh\n" + body + "\n");
    chmod(path.c_str(), 0755);
    return {{path, "run-job", "spec.json"}, {"PATH=/usr/bin:/bin"}, dir_ / "stderr.log"};
  }

  SupervisorOptions Options() {
    SupervisorOptions o;
    o.worker_id = "w1";
    o.lease_seconds = 30;
    o.stall_timeout = 60;
    return o;
  }

  // Runs the supervisor on another thread, so that the test can act while the child runs.
  std::future<AttemptEnding> Start(const ChildCommand& child, SupervisorHooks hooks = {}) {
    hooks.on_progress = [this](const json&) {
      ++progress_lines_;
      progress_seen_ = true;
    };
    return std::async(std::launch::async, [this, child, hooks] {
      return Supervisor(store_.get(), &clock_, Options(), hooks).Run(job_id_, child);
    });
  }

  // Waits (in real time) until the child's first progress line has been read.
  void AwaitProgress() {
    for (int i = 0; i < 1000 && !progress_seen_; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(progress_seen_) << "the child's progress never arrived";
  }

  // Waits (in real time) until `n` progress lines have been read.
  void AwaitProgressLines(int n) {
    for (int i = 0; i < 1000 && progress_lines_ < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_GE(progress_lines_, n) << "the child's progress lines never arrived";
  }

  AttemptEnding Finish(std::future<AttemptEnding>& running) {
    EXPECT_EQ(running.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "the supervisor did not end";
    return running.get();
  }

  testing::TempDir dir_;
  std::unique_ptr<store::JobStore> store_;
  std::string job_id_;
  ManualClock clock_;
  std::atomic<bool> progress_seen_{false};
  std::atomic<int> progress_lines_{0};
  int children_ = 0;
};

TEST_F(SupervisorTest, SuccessCarriesTheResultAndSavesProgress) {
  Supervisor s(store_.get(), &clock_, Options());
  AttemptEnding e = s.Run(job_id_, Child(std::string("echo '") + kProgress + "'\n" +
                                         "echo 'reel: a log line on stdout, not ours'\n"
                                         "echo '{\"event\":\"result\",\"outputs\":[]}'\n"));
  EXPECT_EQ(e.how, Ending::kSucceeded);
  EXPECT_EQ(e.end, AttemptEnd::kSucceeded);
  EXPECT_EQ(e.outcome, "succeeded");
  EXPECT_EQ(e.result, json({{"outputs", json::array()}}));
  Result<store::Job> job = store_->GetJob(job_id_);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->progress.value("fraction", 0.0), 0.5) << job->progress;
}

// The first attempt may end by planning tasks: the completer stores them with the end of the
// attempt, and a plan the store cannot take (no stitch) fails the job rather than leave it
// running with nothing to run.
TEST_F(SupervisorTest, AFanOutEndsTheAttemptAndQueuesItsTasks) {
  AttemptEnding e =
      Supervisor(store_.get(), &clock_, Options())
          .Run(job_id_, Child(R"(echo '{"event":"fan_out","tasks":[)"
                              R"({"kind":"main","ordinal":0,"weight":3,"payload":{}},)"
                              R"({"kind":"stitch","ordinal":0,"weight":1,)"
                              R"("payload":{}}]}')"));
  ASSERT_EQ(e.how, Ending::kFannedOut) << e.error;
  ASSERT_TRUE(e.fan_out);
  EXPECT_EQ(e.fan_out->tasks.size(), 2u);
  Completer completer(store_.get(), nullptr, &clock_, "w1", 30, nullptr);
  Result<store::Job> after = completer.Finish(*store_->GetJob(job_id_), e, 1);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->state, store::JobState::kRunning);
  ASSERT_EQ(after->tasks.size(), 2u);
  EXPECT_EQ(after->tasks[0].kind, store::TaskKind::kMain);
  EXPECT_EQ(after->attempt_log.back().outcome, "fanned_out");

  bool existed = false;
  store::Job other = *store_->CreateJob({"owner", json::object(), 3, "", "", 0, {}}, &existed);
  Lease("w1", 30);
  AttemptEnding no_stitch{Ending::kFannedOut, AttemptEnd::kSucceeded, "fanned_out", "", {}};
  no_stitch.fan_out = attempt::FanOutMessage{{{"transcribe", 0, 1, json::object()}}};
  Result<store::Job> refused = completer.Finish(other, no_stitch, 1);
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_EQ(refused->state, store::JobState::kFailed);
  EXPECT_NE(refused->error.find("unknown kind transcribe"), std::string::npos) << refused->error;
}

TEST_F(SupervisorTest, ExitZeroWithoutAResultIsNotASuccess) {
  AttemptEnding e = Supervisor(store_.get(), &clock_, Options()).Run(job_id_, Child("exit 0"));
  EXPECT_EQ(e.how, Ending::kFailed);
  EXPECT_EQ(e.end, AttemptEnd::kFailedRetryable);
  EXPECT_EQ(e.error, "the job process exited with status 0");
}

// The child's classification decides, not its error code: here the two disagree on purpose.
TEST_F(SupervisorTest, TheChildsRetryVerdictDecidesPermanentOrRetryable) {
  Supervisor s(store_.get(), &clock_, Options());
  AttemptEnding permanent =
      s.Run(job_id_, Child(R"(echo '{"event":"error","code":"unavailable","retry":"permanent",)"
                           R"("message":"source: not a media file"}'; exit 1)"));
  EXPECT_EQ(permanent.how, Ending::kFailed);
  EXPECT_EQ(permanent.end, AttemptEnd::kFailedPermanently);
  EXPECT_EQ(permanent.outcome, "failed");
  EXPECT_EQ(permanent.error, "source: not a media file");

  AttemptEnding retryable = s.Run(
      job_id_, Child(R"(echo '{"event":"error","code":"invalid_argument","retry":"retryable",)"
                     R"("message":"upload failed"}'; exit 1)"));
  EXPECT_EQ(retryable.end, AttemptEnd::kFailedRetryable);
  EXPECT_EQ(retryable.error, "upload failed");

  // A result then an error (an output the source cannot give): failed, not succeeded.
  AttemptEnding partial = s.Run(job_id_, Child(R"(echo '{"event":"result","outputs":[]}'
echo '{"event":"error","code":"invalid_argument","retry":"permanent","message":"no audio"}'
exit 1)"));
  EXPECT_EQ(partial.how, Ending::kFailed);
  EXPECT_EQ(partial.end, AttemptEnd::kFailedPermanently);
}

TEST_F(SupervisorTest, ACrashIsRetryableAndNamesTheSignal) {
  AttemptEnding e = Supervisor(store_.get(), &clock_, Options())
                        .Run(job_id_, Child(std::string("echo '") + kProgress + "'\nkill -9 $$"));
  EXPECT_EQ(e.how, Ending::kCrashed);
  EXPECT_EQ(e.end, AttemptEnd::kFailedRetryable);
  EXPECT_EQ(e.outcome, "crashed");
  EXPECT_NE(e.error.find("crashed with signal 9"), std::string::npos) << e.error;
}

TEST_F(SupervisorTest, AChildThatCannotStartIsRetryable) {
  ChildCommand missing{{dir_ / "no-such-binary"}, {}, dir_ / "stderr.log"};
  AttemptEnding e = Supervisor(store_.get(), &clock_, Options()).Run(job_id_, missing);
  EXPECT_EQ(e.how, Ending::kNotStarted);
  EXPECT_EQ(e.end, AttemptEnd::kFailedRetryable);
  EXPECT_NE(e.error.find("cannot start"), std::string::npos) << e.error;
}

TEST_F(SupervisorTest, ASilentChildIsKilledAsStalled) {
  auto running = Start(Child(std::string("echo '") + kProgress + "'\nexec sleep 1000"));
  AwaitProgress();
  clock_.Advance(59);  // not yet
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(running.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  clock_.Advance(2);
  AttemptEnding e = Finish(running);
  EXPECT_EQ(e.how, Ending::kStalled);
  EXPECT_EQ(e.end, AttemptEnd::kFailedRetryable);
  EXPECT_EQ(e.error, "stalled: no progress for 60 s (at 50.0 %)");
}

// Starting the process is not a stalled encode: until the child's first line the limit is the
// start-up one (120 s here, the stall limit 60 s); from that line on the stall limit counts.
TEST_F(SupervisorTest, StartingUpIsNotTakenForAStall) {
  mkfifo((dir_ / "go").c_str(), 0600);
  auto running = Start(Child(std::string("read go < ") + (dir_ / "go") + "\necho '" + kProgress +
                             "'\nexec sleep 1000"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  clock_.Advance(100);  // past the stall limit, within the start-up one
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(running.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  testing::WriteFile(dir_ / "go", "\n");  // the first line
  AwaitProgress();
  clock_.Advance(59);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(running.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  clock_.Advance(2);
  EXPECT_EQ(Finish(running).error, "stalled: no progress for 60 s (at 50.0 %)");
}

TEST_F(SupervisorTest, AChildThatNeverSpeaksIsStalledAfterTheStartUpLimit) {
  auto running = Start(Child("exec sleep 1000"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  clock_.Advance(119);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(running.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  clock_.Advance(2);
  AttemptEnding e = Finish(running);
  EXPECT_EQ(e.how, Ending::kStalled);
  EXPECT_EQ(e.error, "stalled: no word from the attempt for 120 s after it started");
}

TEST_F(SupervisorTest, BytesMovingAreProgress) {
  mkfifo((dir_ / "go").c_str(), 0600);
  auto running =
      Start(Child(std::string("echo '") + kProgress + "'\n" + "read go < " + (dir_ / "go") + "\n" +
                  "echo '{\"event\":\"transfer\",\"bytes\":1000}'\n"
                  "exec sleep 1000"));
  AwaitProgress();
  clock_.Advance(50);
  testing::WriteFile(dir_ / "go", "\n");  // the transfer line follows
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  clock_.Advance(50);  // 100 s since the last progress, 50 since bytes moved
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(running.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  clock_.Advance(11);
  EXPECT_EQ(Finish(running).how, Ending::kStalled);
}

// A long per-title pre-pass before the encode (engine::Progress::phase) leaves the fraction at 0;
// its own phase_fraction moving is progress, and a pre-pass that stops moving is a stall.
TEST_F(SupervisorTest, AnAnalysisThatMovesIsNotAStall) {
  auto analysis = [](double done) {
    return std::string("echo '") +
           R"({"event":"progress","fraction":0,"media_seconds":0,"fps":0,"speed":0,)" +
           R"("elapsed":1,"phase":"analysis","phase_fraction":)" + std::to_string(done) + "}'\n";
  };
  mkfifo((dir_ / "go").c_str(), 0600);
  auto running = Start(Child(analysis(0.2) + "read go < " + (dir_ / "go") + "\n" + analysis(0.5) +
                             "exec sleep 1000"));
  AwaitProgressLines(1);
  clock_.Advance(50);
  testing::WriteFile(dir_ / "go", "\n");  // the next analysis line follows
  AwaitProgressLines(2);
  clock_.Advance(50);  // 100 s since the first line, 50 since the analysis moved on
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(running.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  clock_.Advance(11);
  AttemptEnding e = Finish(running);
  EXPECT_EQ(e.how, Ending::kStalled);
  EXPECT_EQ(e.error, "stalled: no progress for 60 s (analysis at 50.0 %)");
  Result<store::Job> job = store_->GetJob(job_id_);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->progress.value("phase", ""), "analysis") << job->progress;
}

TEST_F(SupervisorTest, ACancelRequestedInTheStoreStopsTheChildAtTheNextRenewal) {
  auto running = Start(Child(std::string("echo '") + kProgress + "'\nexec sleep 1000"));
  AwaitProgress();
  ASSERT_TRUE(store_->RequestCancel(job_id_).ok());
  clock_.Advance(10);  // a third of the lease: the supervisor renews and hears of the cancel
  AttemptEnding e = Finish(running);
  EXPECT_EQ(e.how, Ending::kCanceled);
  EXPECT_EQ(e.end, AttemptEnd::kCanceled);
  EXPECT_EQ(e.error, "canceled by request");
}

TEST_F(SupervisorTest, ALocalCancelOrAReleaseStopsTheChild) {
  std::atomic<StopRequest> stop{StopRequest::kNone};
  SupervisorHooks hooks;
  hooks.stop_requested = [&] { return stop.load(); };
  auto running = Start(Child(std::string("echo '") + kProgress + "'\nexec sleep 1000"), hooks);
  AwaitProgress();
  stop = StopRequest::kRelease;
  AttemptEnding e = Finish(running);
  EXPECT_EQ(e.how, Ending::kReleased);
  EXPECT_EQ(e.end, AttemptEnd::kReleased);

  progress_seen_ = false;
  stop = StopRequest::kNone;
  running = Start(Child(std::string("echo '") + kProgress + "'\nexec sleep 1000"), hooks);
  AwaitProgress();
  stop = StopRequest::kCancel;
  EXPECT_EQ(Finish(running).how, Ending::kCanceled);
}

TEST_F(SupervisorTest, ALostLeaseStopsTheChildAndRecordsNothing) {
  // Lease again, briefly: the lease runs out and another worker takes the job.
  store::Job before = *store_->GetJob(job_id_);
  ASSERT_TRUE(store_->FinishAttempt(job_id_, "w1", AttemptEnd::kReleased, "released", "", {}).ok());
  Lease("w1", 0.5);
  auto running = Start(Child(std::string("echo '") + kProgress + "'\nexec sleep 1000"));
  AwaitProgress();
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_TRUE(store_->ExpireLeases().ok());
  Lease("w2", 30);
  clock_.Advance(10);  // the next renewal finds the lease gone
  AttemptEnding e = Finish(running);
  EXPECT_EQ(e.how, Ending::kLeaseLost);
  store::Job after = *store_->GetJob(job_id_);
  EXPECT_EQ(after.lease_owner, "w2");
  EXPECT_EQ(after.state, store::JobState::kRunning);
}

TEST_F(SupervisorTest, AChildIgnoringSigtermIsKilledAfterTheGrace) {
  std::atomic<StopRequest> stop{StopRequest::kNone};
  SupervisorHooks hooks;
  hooks.stop_requested = [&] { return stop.load(); };
  auto running = Start(
      Child(std::string("trap '' TERM\necho '") + kProgress + "'\nwhile :; do sleep 0.1; done"),
      hooks);
  AwaitProgress();
  stop = StopRequest::kCancel;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(running.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  clock_.Advance(6);
  EXPECT_EQ(Finish(running).how, Ending::kCanceled);
}

}  // namespace
}  // namespace reel::worker
