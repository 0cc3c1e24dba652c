#include "worker/completer.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "store/job_view.h"
#include "worker/attempt_log.h"

namespace reel::worker {

Completer::Completer(store::JobStore* store, events::JobEvents* hub, Clock* clock,
                     std::string worker_id, double lease_seconds, const PoolObserver* observer,
                     std::string staging)
    : store_(store),
      hub_(hub),
      clock_(clock),
      worker_id_(std::move(worker_id)),
      lease_seconds_(lease_seconds),
      observer_(observer),
      staging_(std::move(staging)) {}

namespace {

// The child's planned tasks as the store keeps them; a kind this worker does not know is the
// child's mistake (a newer reel beside an older one), not a reason to run half a job.
Result<std::vector<store::NewTask>> ToStoreTasks(const attempt::FanOutMessage& fan_out) {
  std::vector<store::NewTask> tasks;
  for (const attempt::PlannedTask& t : fan_out.tasks) {
    std::optional<store::TaskKind> kind = store::ParseTaskKind(t.kind);
    if (!kind) return InvalidArgument("the attempt planned a task of unknown kind " + t.kind);
    tasks.push_back({*kind, t.ordinal, t.payload, t.weight});
  }
  return tasks;
}

}  // namespace

Result<store::Job> Completer::Record(const store::Job& job, const AttemptEnding& ending) {
  if (ending.how != Ending::kFannedOut || !ending.fan_out)
    return store_->FinishAttempt(job.id, worker_id_, ending.end, ending.outcome, ending.error,
                                 ending.result);
  Result<std::vector<store::NewTask>> tasks = ToStoreTasks(*ending.fan_out);
  Result<store::Job> after = tasks.ok() ? store_->FanOut(job.id, worker_id_, *tasks, staging_)
                                        : Result<store::Job>(tasks.status());
  if (after.ok() || after.status().code() != StatusCode::kInvalidArgument) return after;
  return store_->FinishAttempt(job.id, worker_id_, store::AttemptEnd::kFailedPermanently, "failed",
                               after.status().message(), nullptr);
}

Result<store::Job> Completer::Finish(const store::Job& job, const AttemptEnding& ending,
                                     double seconds) {
  // The attempt's log first, while this worker holds it: readers see it once the job has ended.
  KeepAttemptLog(store_, job, worker_id_, ending, seconds);
  const log::Fields tag = {{"job", job.id}, {"attempt", job.attempts}, {"worker", worker_id_}};
  return Settle(tag, job.id, ending, seconds, [&] { return Record(job, ending); });
}

Result<store::Job> Completer::FinishTask(const store::Task& task, const AttemptEnding& ending,
                                         double seconds) {
  const log::Fields tag = {
      {"job", task.job_id},
      {"task", std::string(store::TaskKindName(task.kind)) + "-" + std::to_string(task.ordinal)},
      {"attempt", task.attempts},
      {"worker", worker_id_}};
  AttemptEnding end = ending;
  if (end.how == Ending::kFannedOut)
    end = {Ending::kFailed,
           store::AttemptEnd::kFailedPermanently,
           "failed",
           "a task's process planned tasks of its own",
           {},
           std::nullopt,
           ending.log};
  // The task attempt's log first, while this worker holds it, as for a job's attempt.
  KeepTaskLog(store_, task, worker_id_, end, seconds);
  return Settle(tag, task.job_id, end, seconds, [&] {
    return store_->FinishTask(task.id, worker_id_, task.attempts, end.end, end.error, end.result);
  });
}

Result<store::Job> Completer::Settle(const log::Fields& tag, const std::string& job_id,
                                     const AttemptEnding& ending, double seconds,
                                     const std::function<Result<store::Job>()>& record) {
  // The store may be briefly unreachable (a database restart): keep trying to record the end
  // while the lease lasts, rather than leave the job to expire and run again.
  Result<store::Job> after = NotFound("not recorded");
  for (int i = 0;; ++i) {
    after = record();
    if (after.ok() || after.status().code() == StatusCode::kNotFound ||
        i * 0.5 > lease_seconds_ * 2)
      break;
    clock_->SleepFor(0.5);
  }
  log::Fields fields = tag;
  if (!after.ok()) {
    fields.push_back({"error", after.status().ToString()});
    log::Error("cannot record the end of the attempt", fields);
    return after;
  }
  fields.insert(fields.end(), {{"outcome", ending.outcome},
                               {"state", store::StateName(after->state)},
                               {"seconds", std::round(seconds * 100) / 100}});
  if (!ending.error.empty()) fields.push_back({"error", ending.error});
  log::Write(ending.error.empty() ? log::Level::kInfo : log::Level::kWarn, "attempt ended", fields);
  if (observer_ && observer_->on_finished && store::IsFinished(after->state)) {
    // A chunked job lasted from its first lease to this end, not just this task's attempt.
    bool chunked = !after->tasks.empty() && after->started_at > 0 && after->finished_at > 0;
    observer_->on_finished(
        *after, chunked ? std::max(0.0, after->finished_at - after->started_at) : seconds);
  }
  if (hub_) hub_->Publish(job_id, "state", JobView(*after));
  return after;
}

}  // namespace reel::worker
