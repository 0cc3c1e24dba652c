// The supervisor of one attempt's child process (`reel run-job`): it spawns the child, reads its
// protocol lines (attempt/protocol.h), renews the job's lease and fences (stops the child once
// the lease is lost or cannot be renewed for a whole lease), watches for stalls, forwards a
// cancel or a release, and says how the attempt ended as a typed value. It records nothing as
// the end of the attempt: that is the completer's job (completer.h).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attempt/protocol.h"
#include "common/clock.h"
#include "store/job_store.h"
#include "worker/attempt_log.h"

namespace reel::worker {

// How an attempt ended, as the supervisor saw it.
enum class Ending {
  kSucceeded,   // exit 0 after a result line
  kFannedOut,   // exit 0 after a fan_out line: the job goes on as tasks (`fan_out`)
  kFailed,      // the child reported an error, or exited non-zero without a result
  kCrashed,     // killed by a signal nobody sent it (abort, segfault, OOM killer)
  kStalled,     // no progress for the stall timeout: killed
  kCanceled,    // the job's cancel was requested: stopped
  kReleased,    // the worker shuts down: stopped, the job goes back to the queue
  kLeaseLost,   // another worker may own the job now: stopped, nothing may be recorded
  kNotStarted,  // the child could not be started (or its spec not prepared)
};

struct AttemptEnding {
  Ending how = Ending::kNotStarted;
  store::AttemptEnd end = store::AttemptEnd::kFailedRetryable;  // what the store is told
  std::string outcome;    // the attempt log's word: "succeeded", "failed", "crashed", ...
  std::string error;      // empty when succeeded
  nlohmann::json result;  // the result line, when succeeded
  std::optional<attempt::FanOutMessage> fan_out = std::nullopt;  // with kFannedOut
  AttemptLog log = {};  // what the child wrote to its stderr (its log lines), capped
};

// The lease a child runs under: its job's (Run with a job id) or one task's.
struct LeaseCalls {
  // Extends the lease; kNotFound once it is lost. `*cancel`: the job's cancel was requested.
  std::function<Status(double lease_seconds, bool* cancel)> renew;
  std::function<void(const nlohmann::json& progress)> save_progress;
};

// What the pool wants of a running attempt; asked several times a second.
enum class StopRequest { kNone, kCancel, kRelease };

struct SupervisorOptions {
  std::string worker_id;
  double lease_seconds = 30;
  double stall_timeout = 600;  // no progress (nor bytes moved) for this long: SIGKILL
  // Before the child's first line, the limit is the larger of this and stall_timeout: starting a
  // process (the binary and the FFmpeg libraries) on a loaded host is not a stalled encode.
  double start_timeout = 120;
  double progress_save_interval = 1;
  double term_grace = 5;  // after SIGTERM, this long before SIGKILL
};

struct SupervisorHooks {
  // Every progress line as it comes, as the store shows it ({fraction, fps, speed, ...}).
  std::function<void(const nlohmann::json& progress)> on_progress;
  std::function<StopRequest()> stop_requested;
};

struct ChildCommand {
  std::vector<std::string> argv;  // argv[0]: the executable's path (no PATH search)
  std::vector<std::string> env;   // the child's whole environment
  std::string log_path;           // the child's stderr goes here
};

class Supervisor {
 public:
  // `store` and `clock` must outlive the supervisor.
  Supervisor(store::JobStore* store, Clock* clock, SupervisorOptions options,
             SupervisorHooks hooks = {});
  // Spawns the child for `job_id` (leased by options.worker_id) and watches it until it exits.
  AttemptEnding Run(const std::string& job_id, const ChildCommand& command);
  // The same under any lease (a task's).
  AttemptEnding Run(const LeaseCalls& lease, const ChildCommand& command);

 private:
  store::JobStore* store_;
  Clock* clock_;
  SupervisorOptions options_;
  SupervisorHooks hooks_;
};

}  // namespace reel::worker
