// Webhook delivery: the store queues one row per job event (the outbox); the dispatcher POSTs
// each, signed with the owner key's secret, and retries with exponential backoff and jitter
// until it is delivered or `give_up_after` has passed. A webhook that never answers costs a
// timeout on this thread, never a job or a worker. Progress deliveries are best effort: one
// attempt with a short timeout, never retried.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "net/http.h"
#include "store/job_store.h"

namespace reel::notify {

struct WebhookOptions {
  double retry_base = 5;    // seconds before the first retry; doubles each time
  double retry_max = 3600;  // cap of the backoff
  double give_up_after = 24 * 3600;
  double timeout = 10;  // per delivery attempt
  net::AddressPolicy policy;
  // The server's sealing key: signing secrets are stored sealed, and so is a webhook URL that
  // carries a credential (with the job's other URLs; the outbox holds it redacted).
  std::string secret_key;
};

// Seconds between a job's progress deliveries when its webhook gives no "progress_interval".
constexpr double kDefaultProgressInterval = 10;
// A progress delivery's timeout: one that is being sent holds up the job's end event.
constexpr double kProgressTimeout = 5;

// The webhook a job's spec asks for on `event`: its URL and the JSON body ({"event", "job": {id,
// state, attempts, created_at, updated_at, error, result, finished_at, metadata}}), if any. The
// stores are given this (JobStore::SetWebhookComposer) by every process that changes jobs.
// "progress" (opt-in) adds "progress": {fraction, fps, speed, eta, attempt} and the job's
// interval, which the store spaces the deliveries by.
std::optional<store::OutgoingWebhook> ComposeWebhook(const store::Job& job,
                                                     const std::string& event);

// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>"
std::string SignatureHeader(const std::string& secret, int64_t timestamp, const std::string& body);

// Seconds until attempt `attempts + 1`: base * 2^attempts, capped, +-20 % jitter.
double Backoff(const WebhookOptions& options, int attempts);

class WebhookDispatcher {
 public:
  WebhookDispatcher(store::JobStore* store, WebhookOptions options);
  ~WebhookDispatcher();
  void Start();
  void Stop();
  void Wake();

 private:
  void Loop();
  void Deliver(const store::WebhookDelivery& delivery);
  Result<std::string> Url(const store::WebhookDelivery& delivery);

  store::JobStore* store_;
  WebhookOptions options_;
  std::vector<std::thread> senders_;
  std::mutex mu_;
  std::condition_variable cv_;
  int woken_ = 0;  // a generation: each sender notices a wake once
  std::atomic<bool> stopping_{false};
};

}  // namespace reel::notify
