// What every JobStore implementation shares: the attempt state machine and webhook payloads.
#include "store/job_store.h"

#include "common/redact.h"

#include <chrono>
#include <thread>

namespace reel::store {

using nlohmann::json;

const char* StateName(JobState s) {
  switch (s) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCanceled:
      return "canceled";
  }
  return "unknown";
}

std::optional<JobState> ParseState(const std::string& name) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCanceled})
    if (name == StateName(s)) return s;
  return std::nullopt;
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json ParseJsonOr(const std::string& text, json fallback) {
  if (text.empty()) return fallback;
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

Transition NextState(const Job& job, AttemptEnd end, const std::string& error) {
  Transition t{JobState::kFailed, job.attempts, error};
  switch (end) {
    case AttemptEnd::kSucceeded:
      t.next = JobState::kSucceeded;
      break;
    case AttemptEnd::kFailedPermanently:
      t.next = JobState::kFailed;
      break;
    case AttemptEnd::kFailedRetryable:
      t.next = job.attempts < job.max_attempts ? JobState::kQueued : JobState::kFailed;
      if (t.next == JobState::kFailed)
        t.error = error + " (gave up after " + std::to_string(job.attempts) + " attempts)";
      break;
    case AttemptEnd::kCanceled:
      t.next = JobState::kCanceled;
      break;
    case AttemptEnd::kReleased:
      t.next = JobState::kQueued;
      t.attempts -= 1;  // a worker shutting down does not spend an attempt
      break;
  }
  return t;
}

std::optional<std::pair<std::string, std::string>> WebhookFor(const Job& job,
                                                              const std::string& event) {
  auto hook = job.spec.find("webhook");
  if (hook == job.spec.end() || !hook->is_object() || !hook->contains("url")) return std::nullopt;
  json events = hook->value("events", json::array({"running", "succeeded", "failed", "canceled"}));
  bool wanted = false;
  for (const auto& e : events) wanted |= e.is_string() && e.get<std::string>() == event;
  if (!wanted) return std::nullopt;
  json payload = {{"event", event},
                  {"job",
                   {{"id", job.id},
                    {"state", StateName(job.state)},
                    {"attempts", job.attempts},
                    {"created_at", job.created_at},
                    {"updated_at", job.updated_at}}}};
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
  return std::pair{(*hook)["url"].get<std::string>(), payload.dump()};
}

bool JobStore::WaitForWork(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return false;
}

Result<std::unique_ptr<JobStore>> OpenStore(const std::string& location, int connect_attempts) {
  if (location.rfind("postgres://", 0) == 0 || location.rfind("postgresql://", 0) == 0)
    return OpenPostgresStore(location, connect_attempts);
  return OpenSqliteStore(location);
}

}  // namespace reel::store
