// The completer records how an attempt ended: it tells the store (retrying while the store is
// briefly unreachable), logs it, tells the metrics observer and publishes the job's new state.
#pragma once

#include <functional>
#include <string>

#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "events/job_events.h"
#include "store/job_store.h"
#include "worker/supervisor.h"

namespace reel::worker {

// Job-level observations for metrics: called when an attempt ends.
struct PoolObserver {
  // The job has ended; `seconds` is its wall time: its last attempt's, or for a job that fanned
  // out, from its first lease to the end of the task that ended it.
  std::function<void(const store::Job& job, double seconds)> on_finished;
  std::function<void(double speed)> on_speed;
};

class Completer {
 public:
  // Everything given must outlive the completer. `staging`: the identity of the worker's
  // staging (attempt::StagingIdentity), which the tasks of a fan-out carry.
  Completer(store::JobStore* store, events::JobEvents* hub, Clock* clock, std::string worker_id,
            double lease_seconds, const PoolObserver* observer, std::string staging = "");
  // Records `ending` (not kLeaseLost: another worker may own the job) for the attempt of `job`
  // that lasted `seconds`. Returns the job as it is afterwards.
  // A fan-out (Ending::kFannedOut) stores the job's tasks with the end of the attempt, in one
  // transaction (store::JobStore::FanOut).
  Result<store::Job> Finish(const store::Job& job, const AttemptEnding& ending, double seconds);
  // The same for attempt `task.attempts` of a task (store::JobStore::FinishTask). A task's child
  // that fans out again is refused: a task runs, it does not plan.
  Result<store::Job> FinishTask(const store::Task& task, const AttemptEnding& ending,
                                double seconds);

 private:
  Result<store::Job> Record(const store::Job& job, const AttemptEnding& ending);
  // Calls `record` until it answers (the store may be briefly unreachable), then logs the end
  // and publishes the job's state.
  Result<store::Job> Settle(const log::Fields& tag, const std::string& job_id,
                            const AttemptEnding& ending, double seconds,
                            const std::function<Result<store::Job>()>& record);

  store::JobStore* store_;
  events::JobEvents* hub_;
  Clock* clock_;
  std::string worker_id_;
  double lease_seconds_;
  const PoolObserver* observer_;
  std::string staging_;
};

}  // namespace reel::worker
