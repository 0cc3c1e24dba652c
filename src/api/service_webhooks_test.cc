// The service's webhooks: signed, retried, rate-limited, refused for private addresses.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "api/service_test_support.h"

namespace reel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

TEST_F(ServiceTest, WebhooksAreSignedAndDelivered) {
  Receiver receiver;
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json spec = HlsJob("small.mp4", "out", {{"media_id", "m-7"}});
  spec["webhook"] = {{"url", receiver.url()}};
  spec["outputs"][1]["quality"] = true;  // the report rides in the body's result
  std::string id = s.Submit(spec).body["id"];
  s.WaitForState(id, "succeeded");
  std::vector<Receiver::Request> got = receiver.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  std::string secret = ReadTrimmed(data_ / "admin.webhook-secret");
  std::vector<std::string> events;
  for (const Receiver::Request& r : got) {
    EXPECT_TRUE(SignatureValid(r, secret)) << r.headers.at("Reel-Signature");
    EXPECT_FALSE(SignatureValid(r, "whsec_wrong"));
    json body = json::parse(r.body);
    events.push_back(body["event"]);
    EXPECT_EQ(body["job"]["id"], id);
    EXPECT_EQ(body["job"]["metadata"]["media_id"], "m-7");
    EXPECT_EQ(r.headers.at("Reel-Event"), body["event"]);
  }
  EXPECT_EQ(events, (std::vector<std::string>{"running", "succeeded"}));
  json outputs = json::parse(got[1].body)["job"]["result"]["outputs"];
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_FALSE(outputs[0].contains("quality"));
  for (const char* measure : {"psnr_y", "psnr", "ssim"})
    for (const char* figure : {"mean", "min", "worst_1pct"})
      EXPECT_TRUE(outputs[1]["quality"][measure][figure].is_number())
          << measure << "." << figure << ": " << outputs[1].dump();
  json deliveries = s.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
  s.WaitFor(id, [&](const json&) {
    deliveries = s.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
    return deliveries.size() == 2 && deliveries[1]["state"] == "delivered";
  });
  EXPECT_EQ(deliveries[0]["state"], "delivered");
  EXPECT_EQ(deliveries[1]["attempt_log"][0]["status"], 200);
}

// Progress webhooks, opted into with an interval of 5 s: during a job of several seconds at
// least one, never two within 5 s of each other, signed like the others, and the end last.
TEST_F(ServiceTest, ProgressWebhooksComeAtMostOncePerIntervalAndTheEndLast) {
  AddLongSource();
  Receiver receiver;
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json spec = HlsJob("long.mp4", "out");
  spec["webhook"] = {
      {"url", receiver.url()}, {"events", {"progress", "succeeded"}}, {"progress_interval", 4}};
  ApiReply refused = s.Submit(spec);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body["error"]["field"], "webhook.progress_interval");
  spec["webhook"]["progress_interval"] = 5;
  spec["webhook"]["events"] = {"progress", "progres"};
  EXPECT_EQ(s.Submit(spec).body["error"]["field"], "webhook.events");
  spec["webhook"]["events"] = {"progress", "succeeded"};
  auto submitted = std::chrono::steady_clock::now();
  std::string id = s.Submit(spec).body["id"];
  json job = s.WaitForState(id, "succeeded", 120);
  double ran = std::chrono::duration<double>(std::chrono::steady_clock::now() - submitted).count();
  json deliveries;
  s.WaitFor(id, [&](const json&) {
    deliveries = s.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
    return !deliveries.empty() && deliveries.back()["state"] == "delivered";
  });
  std::vector<Receiver::Request> got = receiver.requests();
  ASSERT_GE(got.size(), 2u);
  std::string secret = ReadTrimmed(data_ / "admin.webhook-secret");
  for (const Receiver::Request& r : got) EXPECT_TRUE(SignatureValid(r, secret)) << r.body;
  EXPECT_EQ(json::parse(got.back().body)["event"], "succeeded") << "the end comes last";
  double last_fraction = 0;
  for (size_t i = 0; i + 1 < got.size(); ++i) {
    json body = json::parse(got[i].body);
    ASSERT_EQ(body["event"], "progress") << body.dump();
    EXPECT_EQ(got[i].headers.at("Reel-Event"), "progress");
    const json& p = body["job"]["progress"];
    EXPECT_EQ(body["job"]["id"], id);
    EXPECT_EQ(p["attempt"], 1);
    EXPECT_GE(p["fraction"].get<double>(), last_fraction);
    EXPECT_LT(p["fraction"].get<double>(), 1.0);
    last_fraction = p["fraction"];
    EXPECT_TRUE(p.contains("fps") && p.contains("speed")) << p.dump();
    if (i > 0) {
      double gap = std::chrono::duration<double>(got[i].at - got[i - 1].at).count();
      EXPECT_GE(gap, 5.0) << "two progress deliveries " << gap << " s apart";
    }
  }
  size_t progress = got.size() - 1;
  EXPECT_GE(progress, 1u);
  std::cout << "progress deliveries: " << progress << " over a job of " << ran << " s\n";
}

// The same when the job runs in a separate `reel worker` process: it queues the progress
// deliveries through the store it shares with the API node, which sends them.
TEST_F(ServiceTest, ProgressWebhooksOfAJobRunByASeparateWorkerAreSentByTheApiNode) {
  AddLongSource();
  Receiver receiver;
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1", "--workers", "0"});
  testing::BackgroundCommand worker({testing::ReelBinary(), "worker", "--data-dir", data_.path(),
                                     "--allow-path", media_.path(), "--name", "apart-1"});
  json spec = HlsJob("long.mp4", "out");
  spec["webhook"] = {
      {"url", receiver.url()}, {"events", {"progress", "succeeded"}}, {"progress_interval", 5}};
  std::string id = s.Submit(spec).body["id"];
  json job = s.WaitForState(id, "succeeded", 120);
  EXPECT_EQ(job["attempt_log"][0]["worker_id"], "apart-1") << job.dump();
  s.WaitFor(id, [&](const json&) {
    json d = s.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
    return !d.empty() && d.back()["state"] == "delivered";
  });
  std::vector<Receiver::Request> got = receiver.requests();
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got.front().headers.at("Reel-Event"), "progress");
  EXPECT_EQ(got.back().headers.at("Reel-Event"), "succeeded");
  std::string secret = ReadTrimmed(data_ / "admin.webhook-secret");
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(SignatureValid(got[i], secret));
    if (i > 0 && i + 1 < got.size()) {
      EXPECT_GE(std::chrono::duration<double>(got[i].at - got[i - 1].at).count(), 5.0);
    }
  }
  worker.Signal(SIGTERM);
  EXPECT_EQ(worker.Wait().exit_code, 0);
}

TEST_F(ServiceTest, ErrorsShowTenantsNoServerPaths) {
  // A downloaded source lives in the attempt's scratch under the data directory; its probe error
  // names the file it opened. The tenant sees the URL it gave, not where the server keeps it.
  Receiver web;
  web.Serve("/in/broken.mp4", std::string(4000, 'x'));
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json spec = {{"source", web.Base() + "/in/broken.mp4"},
               {"outputs", {{{"kind", "hls"}, {"destination", web.Base() + "/out/hls/"}}}},
               {"webhook", {{"url", web.url()}}}};
  ApiReply submitted = s.Submit(spec);
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  std::string id = submitted.body["id"];
  json failed = s.WaitForState(id, "failed");
  std::string error = failed["error"];
  EXPECT_NE(error.find("not a media file"), std::string::npos) << error;
  EXPECT_NE(error.find(web.Base() + "/in/broken.mp4"), std::string::npos) << error;
  std::vector<Receiver::Request> hooks = web.WaitFor(3);  // GET, running, failed
  std::string webhook;
  for (const Receiver::Request& r : hooks)
    if (r.target == "/hooks" && json::parse(r.body).value("event", "") == "failed")
      webhook = r.body;
  ASSERT_FALSE(webhook.empty()) << "the failed webhook arrived";
  EXPECT_NE(webhook.find("not a media file"), std::string::npos) << webhook;
  for (const std::string& shown : {failed.dump(), webhook, s.Get("/v1/jobs").body.dump()}) {
    EXPECT_EQ(shown.find(data_.path()), std::string::npos) << shown;
    EXPECT_EQ(shown.find("/work/job_"), std::string::npos) << shown;
  }
}

TEST_F(ServiceTest, WebhookIsRetriedUntilDeliveredEvenAcrossARestart) {
  Receiver receiver(2);  // two failures, then success
  json spec = HlsJob("small.mp4", "out");
  spec["webhook"] = {{"url", receiver.url()}, {"events", {"succeeded"}}};
  std::string id;
  {
    Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1", "--webhook-retry", "1s"});
    id = s.Submit(spec).body["id"];
    s.WaitForState(id, "succeeded");
    ASSERT_EQ(receiver.WaitFor(1).size(), 1u);
    // Once the failed attempt is on record (killed before that, the attempt would simply be
    // made again: deliveries are at least once), the retry is pending in the outbox.
    s.WaitFor(id, [&](const json&) {
      json d = s.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
      return d.size() == 1 && d[0]["attempts"] == 1;
    });
    s.Signal(SIGKILL);
    s.Wait();
  }
  Server restarted(data_.path(), media_.path(),
                   {"--allow-host", "127.0.0.1", "--webhook-retry", "0.2s"});
  std::vector<Receiver::Request> got = receiver.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  for (const Receiver::Request& r : got) EXPECT_EQ(r.body, got[0].body) << "the same delivery";
  json deliveries;
  restarted.WaitFor(id, [&](const json&) {
    deliveries = restarted.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
    return deliveries.size() == 1 && deliveries[0]["state"] == "delivered";
  });
  EXPECT_EQ(deliveries[0]["attempts"], 3);
  std::vector<int> statuses;
  for (const json& a : deliveries[0]["attempt_log"]) statuses.push_back(a["status"]);
  EXPECT_EQ(statuses, (std::vector<int>{500, 500, 200}));
}

// Accepts connections and never answers: a webhook receiver that hangs.
class SilentServer {
 public:
  SilentServer() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] {
      while (!stop_) {
        boost::system::error_code ec;
        auto sock = std::make_unique<boost::asio::ip::tcp::socket>(acceptor_.accept(ec));
        if (ec || stop_) return;
        held_.push_back(std::move(sock));
      }
    });
  }
  ~SilentServer() {
    stop_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket wake(ioc_);
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/hooks";
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<boost::asio::ip::tcp::socket>> held_;
  std::thread thread_;
};

TEST_F(ServiceTest, AHangingWebhookReceiverDoesNotHoldUpOthers) {
  SilentServer hanging;
  Receiver receiver;
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json stuck = HlsJob("small.mp4", "a");
  stuck["webhook"] = {{"url", hanging.url()}};
  json fine = HlsJob("small.mp4", "b");
  fine["webhook"] = {{"url", receiver.url()}, {"events", {"succeeded"}}};
  s.WaitForState(s.Submit(stuck).body["id"], "succeeded");
  std::string id = s.Submit(fine).body["id"];
  s.WaitForState(id, "succeeded");
  // The hanging receiver holds its deliveries for the 10 s timeout; this one is not behind them.
  auto asked = std::chrono::steady_clock::now();
  ASSERT_EQ(receiver.WaitFor(1).size(), 1u);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count(), 5);
}

TEST_F(ServiceTest, ServerWideDefaultWebhook) {
  Receiver receiver;
  // The operator's URL carries a token: tenants see that a webhook exists, never the token.
  Server s(data_.path(), media_.path(),
           {"--allow-host", "127.0.0.1", "--default-webhook", receiver.url() + "?token=opsecret"});
  std::string alice = s.CreateKey(data_.path(), "alice");
  std::string id = s.Submit(HlsJob("small.mp4", "out"), alice).body["id"];
  s.WaitForState(id, "succeeded");
  std::vector<Receiver::Request> got = receiver.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].target, "/hooks?token=opsecret");
  EXPECT_EQ(json::parse(got[1].body)["event"], "succeeded");
  for (const std::string& path : {"/v1/jobs/" + id, "/v1/jobs/" + id + "/webhooks"}) {
    ApiReply seen = s.Get(path, alice);
    EXPECT_EQ(seen.status, 200);
    EXPECT_EQ(seen.body.dump().find("opsecret"), std::string::npos) << seen.body.dump();
  }
}

TEST_F(ServiceTest, WebhooksToPrivateAddressesAreRefused) {
  Receiver receiver;
  Server s(data_.path(), media_.path(), {"--workers", "0"});
  json spec = HlsJob("small.mp4", "out");
  spec["webhook"] = {{"url", receiver.url()}};
  ApiReply r = s.Submit(spec);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "webhook.url");
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("loopback"), std::string::npos);
  spec["webhook"] = {{"url", "http://169.254.169.254/latest/meta-data/"}};
  r = s.Submit(spec);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("link-local"), std::string::npos);
}

}  // namespace
}  // namespace reel
