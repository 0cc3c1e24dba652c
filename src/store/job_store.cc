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

const char* TaskKindName(TaskKind kind) {
  switch (kind) {
    case TaskKind::kMain:
      return "main";
    case TaskKind::kThumbnail:
      return "thumbnail";
    case TaskKind::kSprite:
      return "sprite";
    case TaskKind::kWaveform:
      return "waveform";
    case TaskKind::kLoudness:
      return "loudness";
    case TaskKind::kStitch:
      return "stitch";
    case TaskKind::kChunk:
      return "chunk";
    case TaskKind::kAudio:
      return "audio";
    case TaskKind::kPublish:
      return "publish";
  }
  return "main";
}

std::optional<TaskKind> ParseTaskKind(const std::string& name) {
  for (TaskKind k : {TaskKind::kMain, TaskKind::kThumbnail, TaskKind::kSprite, TaskKind::kWaveform,
                     TaskKind::kLoudness, TaskKind::kStitch, TaskKind::kChunk, TaskKind::kAudio,
                     TaskKind::kPublish})
    if (name == TaskKindName(k)) return k;
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

json ParseStorageScope(const std::string& text) {
  return text.empty() ? json() : ParseJsonOr(text, json::object());
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
