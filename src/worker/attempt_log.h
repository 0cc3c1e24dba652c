// The log of one attempt: the lines its child (`reel run-job`) wrote to its stderr, which the
// supervisor points at a file of the attempt's scratch. The newest lines are kept, at most a cap of
// bytes; the worker forwards them to its own log with the job's fields (job, attempt, worker) and
// keeps them with the attempt in the store, for GET /v1/jobs/{id}/log.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace reel::store {
class JobStore;
struct Job;
struct Task;
}  // namespace reel::store

namespace reel::worker {

struct AttemptEnding;

inline constexpr size_t kAttemptLogCap = 64 * 1024;

struct AttemptLog {
  std::vector<log::Record> lines;  // oldest first; a line that is not one of ours is kept as text
  int64_t dropped = 0;             // bytes of older lines left out
};

// The last `cap` bytes of the child's log file, as whole lines (a longer line is cut).
AttemptLog ReadAttemptLog(const std::string& path, size_t cap = kAttemptLogCap);

// {"lines": [{"ts", "level", "msg"[, "fields"]}, ...], "dropped": bytes}, as the store keeps it.
// A first line says how much was dropped, when something was.
nlohmann::json AttemptLogJson(const AttemptLog& log);

// Forwards the child's lines to this process's log with the job's fields, then stores them and
// a last line for the end (outcome, seconds, error) with the attempt. The store being down loses
// the stored copy, not the attempt's end: a warning, and the caller records the end as usual.
// An attempt that fanned out says which tasks the job went on as, and where their logs are.
void KeepAttemptLog(store::JobStore* store, const store::Job& job, const std::string& worker_id,
                    const AttemptEnding& ending, double seconds);

// The same for attempt `task.attempts` of a task (store::JobStore::SaveTaskLog), forwarded with
// the task's fields (job, task, attempt, worker).
void KeepTaskLog(store::JobStore* store, const store::Task& task, const std::string& worker_id,
                 const AttemptEnding& ending, double seconds);

// "chunk-0".."chunk-2", "audio-0": how the API and `reel logs --task` name a task.
std::string TaskName(const std::string& kind, int ordinal);

}  // namespace reel::worker
