// The webhooks the store queues with the state changes they report, on both drivers.
#include <gtest/gtest.h>

#include "common/crypto.h"
#include "store/store_test_support.h"

namespace reel::store {
namespace {

using nlohmann::json;

class StoreWebhookTest : public StoreTest {};

// Signing secrets written in plain text (by an older reel) are sealed when a server starts: a
// reader of the database cannot forge webhooks. Sealed ones are left as they are.
TEST_P(StoreWebhookTest, PlainWebhookSecretsAreSealedOnce) {
  std::string key(32, 'k');
  Result<ApiKey> plain = store_->CreateKey("old", "hash-old", false, "whsec_plain");
  Result<ApiKey> sealed = store_->CreateKey("new", "hash-new", false, SealValue(key, "whsec_new"));
  ASSERT_TRUE(plain.ok() && sealed.ok());
  std::string before = *store_->WebhookSecret(sealed->id);
  EXPECT_EQ(*store_->SealWebhookSecrets(key), 1);
  std::string stored = *store_->WebhookSecret(plain->id);
  EXPECT_TRUE(IsSealedValue(stored));
  EXPECT_EQ(stored.find("whsec_plain"), std::string::npos);
  EXPECT_EQ(*OpenValue(key, stored), "whsec_plain");
  EXPECT_EQ(*store_->WebhookSecret(sealed->id), before);
  EXPECT_EQ(*store_->SealWebhookSecrets(key), 0);
}

TEST_P(StoreWebhookTest, WebhooksAreQueuedWithTheStateChangesTheyReport) {
  bool existed = false;
  json spec = {{"webhook", {{"url", "http://hooks.example/x"}}}, {"metadata", {{"m", 1}}}};
  Job j = *store_->CreateJob({"key_a", spec, 3, "", "", 0, {}}, &existed);
  Job quiet = Create();  // no webhook: nothing queued
  Lease("w1");           // takes j
  ASSERT_TRUE(store_
                  ->FinishAttempt(j.id, "w1", AttemptEnd::kSucceeded, "succeeded", "",
                                  {{"outputs", json::array()}})
                  .ok());
  // A job's deliveries go in order: "succeeded" waits until "running" is through.
  Result<std::vector<WebhookDelivery>> due = store_->DueWebhooks(NowSeconds() + 1, 10, 300);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].event, "running");
  EXPECT_EQ((*due)[0].owner, "key_a");
  // Claimed: another dispatcher (another API node) does not get it while it is held.
  EXPECT_TRUE(store_->DueWebhooks(NowSeconds() + 1, 10, 300)->empty());
  // One whose dispatcher died is due again once the hold is over.
  EXPECT_EQ(store_->DueWebhooks(NowSeconds() + 302, 10, 300)->size(), 1u);
  // A failed attempt is recorded and rescheduled, and holds up the job's later deliveries (parked
  // until its retry, so they are not even looked at before then).
  ASSERT_TRUE(
      store_->RecordWebhookAttempt((*due)[0].id, 500, "HTTP 500", false, NowSeconds() + 60, false)
          .ok());
  EXPECT_TRUE(store_->DueWebhooks(NowSeconds() + 1, 10, 300)->empty());
  EXPECT_GE(store_->ListWebhooks(j.id)->at(1).next_attempt_at, NowSeconds() + 59);
  ASSERT_TRUE(store_->RecordWebhookAttempt((*due)[0].id, 200, "", true, NowSeconds(), false).ok());
  Result<std::vector<WebhookDelivery>> next = store_->DueWebhooks(NowSeconds() + 1, 10, 300);
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].event, "succeeded");
  // What the composer made of the job after the change, as it made it.
  json payload = json::parse((*next)[0].payload);
  EXPECT_EQ(payload["event"], "succeeded");
  EXPECT_EQ(payload["job"]["state"], "succeeded");
  EXPECT_EQ(payload["job"]["metadata"]["m"], 1);
  EXPECT_EQ((*next)[0].url, "http://hooks.example/x");
  // A delivered one leaves the queue.
  ASSERT_TRUE(store_->RecordWebhookAttempt((*next)[0].id, 200, "", true, NowSeconds(), false).ok());
  EXPECT_TRUE(store_->DueWebhooks(NowSeconds() + 1, 10, 300)->empty());
  Result<std::vector<WebhookDelivery>> all = store_->ListWebhooks(j.id);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].attempts, 2);
  EXPECT_EQ((*all)[0].attempt_log[0]["status"], 500);
  EXPECT_GT((*all)[1].delivered_at, 0);
  EXPECT_TRUE(store_->ListWebhooks(quiet.id)->empty());
}

// Progress deliveries: opt-in (the composer gives an interval), one per interval counted from
// the end of the last one's attempt, never two waiting, never ahead of the job's end.
TEST_P(StoreWebhookTest, ProgressWebhooksAreSpacedCoalescedAndNeverHoldUpTheEnd) {
  store_->SetWebhookComposer([](const Job& job, const std::string& event) {
    std::optional<OutgoingWebhook> hook = ComposeForTest(job, event);
    if (hook && event == "progress") {
      hook->payload = json{{"event", event}, {"fraction", job.progress["fraction"]}}.dump();
      hook->progress_interval = 5;
    }
    return hook;
  });
  auto submit = [&] {
    bool existed = false;
    json spec = {{"webhook", {{"url", "http://hooks.example/p"}}}};
    return *store_->CreateJob({"key_a", spec, 3, "", "", 0, {}}, &existed);
  };
  auto events = [&](const std::string& id) {
    std::vector<std::string> out;
    Result<std::vector<WebhookDelivery>> all = store_->ListWebhooks(id);
    for (const WebhookDelivery& d : *all)
      out.push_back(d.event + (d.delivered_at > 0 ? " delivered" : d.gave_up ? " dropped" : ""));
    return out;
  };
  auto due = [&] { return *store_->DueWebhooks(NowSeconds(), 10, 300); };
  auto deliver = [&](const WebhookDelivery& d, double ended) {
    ASSERT_TRUE(store_->RecordWebhookAttempt(d.id, 200, "", true, ended, false).ok());
  };

  Job j = submit();
  Lease("w1");
  ASSERT_TRUE(store_->SaveProgress(j.id, "w1", {{"fraction", 0.1}}).ok());
  ASSERT_TRUE(store_->SaveProgress(j.id, "w1", {{"fraction", 0.2}}).ok());
  EXPECT_EQ(events(j.id), (std::vector<std::string>{"running", "progress"}))
      << "one waiting behind running, not two";
  std::vector<WebhookDelivery> d = due();
  ASSERT_EQ(d.size(), 1u);
  deliver(d[0], NowSeconds());
  d = due();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(json::parse(d[0].payload)["fraction"], 0.2) << "the waiting one took the newest";
  // Sent 6 s ago: the next one may go; then none while it waits or is sent, nor for 5 s after.
  deliver(d[0], NowSeconds() - 6);
  ASSERT_TRUE(store_->SaveProgress(j.id, "w1", {{"fraction", 0.4}}).ok());
  d = due();
  ASSERT_EQ(d.size(), 1u);
  ASSERT_TRUE(store_->SaveProgress(j.id, "w1", {{"fraction", 0.5}}).ok());
  EXPECT_EQ(json::parse(d[0].payload)["fraction"], 0.4);
  EXPECT_EQ(json::parse(store_->ListWebhooks(j.id)->back().payload)["fraction"], 0.4)
      << "one being sent is recorded as it was sent";
  deliver(d[0], NowSeconds());
  ASSERT_TRUE(store_->SaveProgress(j.id, "w1", {{"fraction", 0.6}}).ok());
  EXPECT_EQ(events(j.id), (std::vector<std::string>{"running delivered", "progress delivered",
                                                    "progress delivered"}));
  // Another worker's progress line (not the lease holder's) queues nothing.
  ASSERT_TRUE(store_->SaveProgress(j.id, "w2", {{"fraction", 0.7}}).ok());
  EXPECT_EQ(store_->ListWebhooks(j.id)->size(), 3u);

  // A progress delivery still waiting when the job ends is dropped: the end goes next.
  Job k = submit();
  Lease("w1");
  ASSERT_TRUE(store_->SaveProgress(k.id, "w1", {{"fraction", 0.3}}).ok());
  ASSERT_TRUE(
      store_->FinishAttempt(k.id, "w1", AttemptEnd::kSucceeded, "succeeded", "", json::object())
          .ok());
  EXPECT_EQ(events(k.id), (std::vector<std::string>{"running", "progress dropped", "succeeded"}));
  EXPECT_EQ(store_->ListWebhooks(k.id)->at(1).attempt_log[0]["error"], "superseded by succeeded");
  d = due();
  ASSERT_EQ(d.size(), 1u);
  deliver(d[0], NowSeconds());
  d = due();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].event, "succeeded");
  deliver(d[0], NowSeconds());

  // One being sent when the job ends goes first: the end is never ahead of a progress.
  Job m = submit();
  Lease("w1");
  d = due();
  ASSERT_EQ(d.size(), 1u);
  deliver(d[0], NowSeconds());
  ASSERT_TRUE(store_->SaveProgress(m.id, "w1", {{"fraction", 0.9}}).ok());
  d = due();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].event, "progress");
  ASSERT_TRUE(
      store_->FinishAttempt(m.id, "w1", AttemptEnd::kFailedPermanently, "failed", "bad", nullptr)
          .ok());
  EXPECT_TRUE(due().empty()) << "failed waits for the progress being sent";
  deliver(d[0], NowSeconds());
  d = due();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].event, "failed");
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreWebhookTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace reel::store
