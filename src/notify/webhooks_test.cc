#include "notify/webhooks.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/crypto.h"

namespace reel::notify {
namespace {

TEST(Webhooks, APayloadSaysTheEventAndTheJobAfterIt) {
  store::Job job;
  job.id = "job_1";
  job.state = store::JobState::kFailed;
  job.attempts = 4;
  job.created_at = 10;
  job.updated_at = 20;
  job.finished_at = 20;
  job.error = "it broke";
  job.spec = {{"webhook", {{"url", "https://hooks.example/x"}, {"events", {"failed"}}}},
              {"metadata", {{"order", 7}}}};
  std::optional<store::OutgoingWebhook> hook = ComposeWebhook(job, "failed");
  ASSERT_TRUE(hook.has_value());
  EXPECT_EQ(hook->url, "https://hooks.example/x");
  nlohmann::json payload = nlohmann::json::parse(hook->payload);
  EXPECT_EQ(payload, nlohmann::json::parse(R"({"event": "failed", "job": {"id": "job_1",
      "state": "failed", "attempts": 4, "created_at": 10.0, "updated_at": 20.0,
      "finished_at": 20.0, "error": "it broke", "metadata": {"order": 7}}})"));
  // Only the events it asked for, and nothing for a job without a webhook.
  EXPECT_FALSE(ComposeWebhook(job, "running").has_value());
  job.spec.erase("webhook");
  EXPECT_FALSE(ComposeWebhook(job, "failed").has_value());
  job.spec["webhook"] = {{"url", "https://hooks.example/y"}};
  EXPECT_TRUE(ComposeWebhook(job, "running").has_value()) << "every event by default";
}

TEST(Webhooks, ProgressIsOptInAndCarriesTheNumbersAndTheInterval) {
  store::Job job;
  job.id = "job_2";
  job.state = store::JobState::kRunning;
  job.attempts = 2;
  job.progress = {
      {"fraction", 0.25}, {"fps", 120.5}, {"speed", 4.0}, {"elapsed", 3.0}, {"media_seconds", 10}};
  job.spec = {{"webhook", {{"url", "https://hooks.example/p"}}}};
  EXPECT_FALSE(ComposeWebhook(job, "progress").has_value()) << "not among the default events";
  job.spec["webhook"]["events"] = {"progress", "succeeded"};
  std::optional<store::OutgoingWebhook> hook = ComposeWebhook(job, "progress");
  ASSERT_TRUE(hook.has_value());
  EXPECT_EQ(hook->progress_interval, kDefaultProgressInterval);
  nlohmann::json payload = nlohmann::json::parse(hook->payload);
  EXPECT_EQ(payload["event"], "progress");
  EXPECT_EQ(payload["job"]["state"], "running");
  // 3 s for a quarter: 9 s for the other three quarters.
  EXPECT_EQ(payload["job"]["progress"], nlohmann::json::parse(R"({"fraction": 0.25, "fps": 120.5,
      "speed": 4.0, "eta": 9.0, "attempt": 2})"));
  job.spec["webhook"]["progress_interval"] = 30;
  EXPECT_EQ(ComposeWebhook(job, "progress")->progress_interval, 30);
  // The other events neither carry progress nor an interval.
  std::optional<store::OutgoingWebhook> end = ComposeWebhook(job, "succeeded");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->progress_interval, 0);
  EXPECT_FALSE(nlohmann::json::parse(end->payload)["job"].contains("progress"));
  // A job run as tasks has its aggregated fraction only: the eta comes from its running time.
  job.progress = {{"fraction", 0.5}, {"tasks", 4}, {"tasks_succeeded", 1}};
  job.started_at = 100;
  job.updated_at = 160;
  payload = nlohmann::json::parse(ComposeWebhook(job, "progress")->payload);
  EXPECT_EQ(payload["job"]["progress"], nlohmann::json::parse(R"({"fraction": 0.5, "tasks": 4,
      "tasks_succeeded": 1, "eta": 60.0, "attempt": 2})"));
}

TEST(Webhooks, SignatureIsHmacOfTimestampAndBody) {
  std::string body = R"({"event":"succeeded"})";
  std::string h = SignatureHeader("whsec_test", 1700000000, body);
  EXPECT_EQ(h, "t=1700000000,v1=" + HmacSha256Hex("whsec_test", "1700000000." + body));
  // Independently computed: printf '1700000000.{"event":"succeeded"}' |
  //   openssl dgst -sha256 -hmac whsec_test
  EXPECT_EQ(h.substr(16), "25d30cda230d301c9c6bc3e0c58718c6d5b245c9d15d9b31d7370ab826e3cb73")
      << "the value openssl prints";
}

TEST(Webhooks, BackoffGrowsWithJitterAndIsCapped) {
  WebhookOptions o;
  o.retry_base = 5;
  o.retry_max = 3600;
  for (int a = 0; a < 5; ++a) {
    double d = Backoff(o, a);
    EXPECT_GE(d, 5 * std::pow(2, a) * 0.8);
    EXPECT_LE(d, 5 * std::pow(2, a) * 1.2);
  }
  EXPECT_LE(Backoff(o, 30), 3600 * 1.2);
}

}  // namespace
}  // namespace reel::notify
