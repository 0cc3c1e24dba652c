// The maintenance services against a real SQLite store: leases that ran out are rescued (with
// an event and a wake), finished jobs past retention are deleted and nothing else is.
#include "worker/maintenance.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "testing/media_fixtures.h"

namespace reel::worker {
namespace {

using nlohmann::json;

class MaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<store::JobStore>> s = store::OpenSqliteStore(dir_ / "reel.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  std::string Create() {
    bool existed = false;
    store::NewJob nj;
    nj.owner = "k1";
    nj.spec = {{"source", "/x.mp4"}, {"outputs", json::array()}};
    Result<store::Job> j = store_->CreateJob(nj, &existed);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? j->id : "";
  }
  std::string CreateCanceled() {
    std::string id = Create();
    EXPECT_TRUE(store_->RequestCancel(id).ok());
    return id;
  }

  testing::TempDir dir_;
  std::unique_ptr<store::JobStore> store_;
};

TEST_F(MaintenanceTest, LeaseRescuerRequeuesExpiredLeasesPublishesAndWakes) {
  std::string id = Create();
  Result<std::optional<store::Job>> leased = store_->Lease("dead-worker", "h", 0.2);
  ASSERT_TRUE(leased.ok() && leased->has_value());
  events::JobEvents hub;
  std::atomic<int> states{0}, wakes{0};
  hub.Subscribe(id, [&](const std::string& event, const json& data) {
    if (event == "state" && data.value("state", "") == "queued") ++states;
  });
  LeaseRescuer rescuer(store_.get(), &hub, {0.05, [&] { ++wakes; }});
  EXPECT_EQ(rescuer.RunOnce(), 0) << "a live lease is left alone";
  rescuer.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (states == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  rescuer.Stop();
  EXPECT_EQ(states, 1);
  EXPECT_GE(wakes, 1);
  Result<store::Job> after = store_->GetJob(id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, store::JobState::kQueued);
  EXPECT_EQ(after->attempt_log.at(0).outcome, "lease_expired");
}

TEST_F(MaintenanceTest, RetentionCleanerDeletesOnlyFinishedJobsPastRetention) {
  std::string old_done = CreateCanceled();
  std::string queued = Create();
  double now = store::NowSeconds();
  RetentionOptions o;
  o.retention = 3600;
  o.interval = 0.05;
  std::atomic<double> clock{now};
  o.now = [&] { return clock.load(); };
  RetentionCleaner cleaner(store_.get(), o);
  EXPECT_EQ(cleaner.RunOnce(), 0) << "finished just now: kept";
  clock = now + 7200;  // two hours later
  cleaner.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (store_->GetJob(old_done).ok() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  cleaner.Stop();
  EXPECT_EQ(store_->GetJob(old_done).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetJob(queued).ok()) << "unfinished jobs are never swept";
}

}  // namespace
}  // namespace reel::worker
