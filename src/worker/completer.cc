#include "worker/completer.h"

#include <spdlog/spdlog.h>

#include "store/job_view.h"

namespace reel::worker {

Completer::Completer(store::JobStore* store, events::JobEvents* hub, Clock* clock,
                     std::string worker_id, double lease_seconds, const PoolObserver* observer)
    : store_(store),
      hub_(hub),
      clock_(clock),
      worker_id_(std::move(worker_id)),
      lease_seconds_(lease_seconds),
      observer_(observer) {}

Result<store::Job> Completer::Finish(const store::Job& job, const AttemptEnding& ending,
                                     double seconds) {
  const std::string tag = "job=" + job.id + " attempt=" + std::to_string(job.attempts);
  // The store may be briefly unreachable (a database restart): keep trying to record the end
  // while the lease lasts, rather than leave the job to expire and run again.
  Result<store::Job> after = NotFound("not recorded");
  for (int i = 0;; ++i) {
    after = store_->FinishAttempt(job.id, worker_id_, ending.end, ending.outcome, ending.error,
                                  ending.result);
    if (after.ok() || after.status().code() == StatusCode::kNotFound ||
        i * 0.5 > lease_seconds_ * 2)
      break;
    clock_->SleepFor(0.5);
  }
  if (!after.ok()) {
    spdlog::error("{} cannot record the end of the attempt: {}", tag, after.status().ToString());
    return after;
  }
  spdlog::info("{} ended outcome={} state={} seconds={:.2f}{}{}", tag, ending.outcome,
               store::StateName(after->state), seconds,
               ending.error.empty() ? "" : " error=", ending.error);
  if (observer_ && observer_->on_finished && store::IsFinished(after->state))
    observer_->on_finished(*after, seconds);
  if (hub_) hub_->Publish(job.id, "state", JobView(*after));
  return after;
}

}  // namespace reel::worker
