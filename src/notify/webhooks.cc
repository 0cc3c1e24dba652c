#include "notify/webhooks.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/redact.h"
#include "job/sealed.h"

namespace reel::notify {
namespace {

// What a progress delivery says: fraction, fps, speed and the attempt as the job's progress has
// them (a job run as tasks has only the aggregated fraction), and the seconds left at the pace
// so far, when there is a pace to go by.
nlohmann::json ProgressBody(const store::Job& job) {
  using nlohmann::json;
  const json& p = job.progress.is_object() ? job.progress : json::object();
  double fraction = std::clamp(p.value("fraction", 0.0), 0.0, 1.0);
  json out = {{"fraction", fraction}, {"attempt", job.attempts}};
  for (const char* key : {"fps", "speed", "tasks", "tasks_succeeded"})
    if (p.contains(key) && p[key].is_number()) out[key] = p[key];
  double elapsed = p.value("elapsed", 0.0);
  if (elapsed <= 0 && job.started_at > 0) elapsed = job.updated_at - job.started_at;
  if (fraction > 0 && fraction < 1 && elapsed > 0)
    out["eta"] = std::round(elapsed * (1 - fraction) / fraction * 10) / 10;
  return out;
}

}  // namespace

std::optional<store::OutgoingWebhook> ComposeWebhook(const store::Job& job,
                                                     const std::string& event) {
  using nlohmann::json;
  auto hook = job.spec.find("webhook");
  if (hook == job.spec.end() || !hook->is_object() || !hook->contains("url")) return std::nullopt;
  json events = hook->value("events", json::array({"running", "succeeded", "failed", "canceled"}));
  bool wanted = false;
  for (const auto& e : events) wanted |= e.is_string() && e.get<std::string>() == event;
  if (!wanted) return std::nullopt;
  json payload = {{"event", event},
                  {"job",
                   {{"id", job.id},
                    {"state", store::StateName(job.state)},
                    {"attempts", job.attempts},
                    {"created_at", job.created_at},
                    {"updated_at", job.updated_at}}}};
  double interval = 0;
  if (event == "progress") {
    const json& p = hook->value("progress_interval", json());
    interval = p.is_number() ? p.get<double>() : kDefaultProgressInterval;
    payload["job"]["progress"] = ProgressBody(job);
  }
  if (!job.error.empty()) payload["job"]["error"] = job.error;
  if (!job.result.is_null()) payload["job"]["result"] = job.result;
  if (job.finished_at > 0) payload["job"]["finished_at"] = job.finished_at;
  // Metadata as the job's views show it: a "token" or "password" in it is redacted there, so
  // it is in the body too (the body is kept in the outbox, in the database).
  if (job.spec.contains("metadata"))
    payload["job"]["metadata"] = RedactSecrets(job.spec["metadata"]);
  if (payload["job"].contains("result") && payload["job"]["result"].is_object() &&
      payload["job"]["result"].contains("metadata"))
    payload["job"]["result"]["metadata"] = RedactSecrets(payload["job"]["result"]["metadata"]);
  return store::OutgoingWebhook{(*hook)["url"].get<std::string>(), payload.dump(), interval};
}

std::string SignatureHeader(const std::string& secret, int64_t timestamp, const std::string& body) {
  std::string t = std::to_string(timestamp);
  return "t=" + t + ",v1=" + HmacSha256Hex(secret, t + "." + body);
}

double Backoff(const WebhookOptions& options, int attempts) {
  static thread_local std::mt19937 rng(std::random_device{}());
  double delay = std::min(options.retry_max, options.retry_base * std::pow(2.0, attempts));
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return delay * jitter(rng);
}

WebhookDispatcher::WebhookDispatcher(store::JobStore* store, WebhookOptions options)
    : store_(store), options_(std::move(options)) {}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

// Senders work side by side, each taking one delivery at a time from the store: a receiver
// that hangs until the timeout holds up one sender, not every other tenant's deliveries.
constexpr int kSenders = 8;

void WebhookDispatcher::Start() {
  for (int i = 0; i < kSenders; ++i) senders_.emplace_back([this] { Loop(); });
}

void WebhookDispatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : senders_) t.join();
  senders_.clear();
}

void WebhookDispatcher::Wake() {
  {
    std::lock_guard lock(mu_);
    ++woken_;
  }
  cv_.notify_all();
}

void WebhookDispatcher::Loop() {
  int seen = 0;
  while (!stopping_) {
    // Held for longer than a delivery can take, so that no other sender (or API node) sends it.
    Result<std::vector<store::WebhookDelivery>> due =
        store_->DueWebhooks(store::NowSeconds(), 1, options_.timeout + 30);
    if (!due.ok()) spdlog::warn("webhooks: {}", due.status().ToString());
    if (due.ok() && !due->empty()) {
      Deliver(due->front());
      continue;
    }
    std::unique_lock lock(mu_);
    // New deliveries wake the senders; retries that fall due are found within a second.
    cv_.wait_for(lock, std::chrono::seconds(1), [&] { return woken_ != seen || stopping_.load(); });
    seen = woken_;
  }
}

// The URL to post to: the outbox's, unless the submission sealed it (it carried a token or a
// password; the outbox and the views hold it redacted): then the one sealed with the job.
Result<std::string> WebhookDispatcher::Url(const store::WebhookDelivery& d) {
  if (RedactUrl(d.url) != d.url) return d.url;  // queued before URLs were sealed
  if (d.url.find("[redacted]") == std::string::npos) return d.url;
  Result<store::Job> job = store_->GetJob(d.job_id);
  if (!job.ok()) return job.status();
  Result<nlohmann::json> spec = job::OpenSpec(job->spec, options_.secret_key);
  if (!spec.ok()) return spec.status();
  const nlohmann::json& hook = spec->value("webhook", nlohmann::json::object());
  std::string url = hook.is_object() ? hook.value("url", "") : "";
  if (url.empty() || url.find("[redacted]") != std::string::npos)
    return InvalidArgument("the job holds no sealed webhook URL");
  return url;
}

void WebhookDispatcher::Deliver(const store::WebhookDelivery& d) {
  Result<std::string> secret = store_->WebhookSecret(d.owner);
  if (secret.ok()) secret = OpenValue(options_.secret_key, *secret);
  Result<std::string> url = secret.ok() ? Url(d) : Result<std::string>(secret.status());
  // Progress is best effort: one attempt, a short timeout, and the end of that attempt kept as
  // next_attempt_at, which the store spaces the job's next progress delivery from. A missed one
  // is not worth retrying: the next carries newer numbers.
  const bool progress = d.event == "progress";
  if (!secret.ok() || !url.ok()) {
    // Never send unsigned (or signed with an empty key): count it as a failed attempt, retry.
    std::string error = !secret.ok() ? "no signing secret: " + secret.status().message()
                                     : "no webhook URL: " + url.status().message();
    double next = store::NowSeconds() + (progress ? 0 : Backoff(options_, d.attempts));
    bool give_up = progress || next - d.created_at > options_.give_up_after;
    Status s = store_->RecordWebhookAttempt(d.id, 0, error, false, next, give_up);
    spdlog::warn("job={} webhook={} not sent: {}{}", d.job_id, d.id, error,
                 s.ok() ? "" : " (" + s.ToString() + ")");
    return;
  }
  int64_t now = static_cast<int64_t>(store::NowSeconds());
  std::vector<std::string> headers = {
      "Content-Type: application/json", "Reel-Event: " + d.event,
      "Reel-Delivery: " + std::to_string(d.id), "Reel-Job: " + d.job_id,
      "Reel-Signature: " + SignatureHeader(*secret, now, d.payload)};
  Result<net::HttpResponse> r = net::Post(
      *url, d.payload, headers,
      progress ? std::min(options_.timeout, kProgressTimeout) : options_.timeout, options_.policy);
  bool delivered = r.ok() && r->status >= 200 && r->status < 300;
  int status = r.ok() ? static_cast<int>(r->status) : 0;
  std::string error =
      r.ok() ? (delivered ? "" : "HTTP " + std::to_string(r->status)) : r.status().message();
  double next = store::NowSeconds() + (progress ? 0 : Backoff(options_, d.attempts));
  // A 4xx says the receiver will not take it (408 and 429 say "later"): no point retrying for a
  // day, holding up the job's later deliveries behind it.
  bool refused = status >= 400 && status < 500 && status != 408 && status != 429;
  bool give_up =
      !delivered && (progress || refused || next - d.created_at > options_.give_up_after);
  Status s = store_->RecordWebhookAttempt(d.id, status, error, delivered, next, give_up);
  if (!s.ok()) spdlog::warn("webhooks: cannot record delivery {}: {}", d.id, s.ToString());
  log::Fields fields = {{"job", d.job_id},
                        {"webhook", d.id},
                        {"event", d.event},
                        {"status", status},
                        {"try", d.attempts + 1}};
  if (delivered) {
    log::Info("webhook delivered", fields);
  } else {
    fields.insert(fields.end(), {{"error", error}, {"giving_up", give_up}});
    log::Warn("webhook delivery failed", fields);
  }
}

}  // namespace reel::notify
