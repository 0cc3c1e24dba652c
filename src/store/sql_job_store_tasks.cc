// SqlJobStore: the tasks of a job that fanned out. A task is leased, renewed, fenced and expired
// like a job; its job follows it (running while its tasks run, failed when one fails for good,
// succeeded with its stitch). Locks are always taken job first, then its tasks, so that a cancel
// (job, then tasks) and a task's end (job, then task) cannot deadlock on PostgreSQL.
#include <algorithm>
#include <set>

#include "common/crypto.h"
#include "store/sql_job_store.h"

namespace reel::store {
namespace {

using nlohmann::json;

constexpr const char* kTaskColumns =
    "id, job_id, kind, ordinal, payload, state, attempts, max_attempts, weight, lease_owner, "
    "lease_expires_at, worker, host, progress, started_at, finished_at, error, result";

Task ReadTask(const SqlRows& r, size_t i) {
  Task t;
  t.id = r.Text(i, 0);
  t.job_id = r.Text(i, 1);
  t.kind = ParseTaskKind(r.Text(i, 2)).value_or(TaskKind::kMain);
  t.ordinal = static_cast<int>(r.Int(i, 3));
  t.payload = ParseJsonOr(r.Text(i, 4), json::object());
  t.state = ParseState(r.Text(i, 5)).value_or(JobState::kFailed);
  t.attempts = static_cast<int>(r.Int(i, 6));
  t.max_attempts = static_cast<int>(r.Int(i, 7));
  t.weight = r.Double(i, 8);
  t.lease_owner = r.Text(i, 9);
  t.lease_expires_at = r.Double(i, 10);
  t.worker = r.Text(i, 11);
  t.host = r.Text(i, 12);
  t.progress = ParseJsonOr(r.Text(i, 13), json::object());
  t.started_at = r.Double(i, 14);
  t.finished_at = r.Double(i, 15);
  t.error = r.Text(i, 16);
  t.result = ParseJsonOr(r.Text(i, 17), nullptr);
  return t;
}

std::string TaskName(const Task& t) {
  return std::string(TaskKindName(t.kind)) + " task " + std::to_string(t.ordinal);
}

SqlValue NullUnless(bool present, double v) { return present ? SqlValue(v) : SqlValue(); }

}  // namespace

Result<std::vector<Task>> SqlJobStore::LoadTasks(const std::string& job_id, bool lock) {
  Result<SqlRows> r =
      db_->Exec(std::string("SELECT ") + kTaskColumns +
                    " FROM tasks WHERE job_id = ? ORDER BY seq" + (lock ? db_->ForUpdate() : ""),
                {job_id});
  if (!r.ok()) return r.status();
  std::vector<Task> tasks;
  for (size_t i = 0; i < r->size(); ++i) tasks.push_back(ReadTask(*r, i));
  return tasks;
}

Result<Task> SqlJobStore::GetTask(const std::string& task_id) {
  std::lock_guard lock(mu_);
  Result<SqlRows> r =
      db_->Exec(std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE id = ?", {task_id});
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("no task " + task_id);
  return ReadTask(*r, 0);
}

Result<Job> SqlJobStore::FanOut(const std::string& job_id, const std::string& worker_id,
                                const std::vector<NewTask>& tasks, const std::string& staging) {
  size_t stitches = std::count_if(tasks.begin(), tasks.end(),
                                  [](const NewTask& t) { return t.kind == TaskKind::kStitch; });
  if (stitches != 1 || tasks.size() < 2)
    return InvalidArgument("a fan-out needs one stitch task and at least one other task");
  std::lock_guard lock(mu_);
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  // The key's row before the job's, as a submission takes them (CreateJob locks the key, then
  // the job an idempotency key names): the other order could deadlock with a client resubmitting
  // this job while it fans out.
  REEL_RETURN_IF_ERROR(LockOwnerOf(job_id));
  Result<Job> job = LoadJob(job_id, true);
  if (!job.ok()) return job;
  if (job->state != JobState::kRunning || job->lease_owner != worker_id)
    return NotFound("lease on " + job_id + " is no longer held by " + worker_id);
  double now = NowSeconds();
  if (job->cancel_requested) {  // asked to stop while it planned: nothing to fan out
    REEL_RETURN_IF_ERROR(
        Settle(*job, NextState(*job, AttemptEnd::kCanceled, ""), "canceled", "", nullptr, now));
    REEL_RETURN_IF_ERROR(tx.Commit());
    return LoadJob(job_id);
  }
  REEL_RETURN_IF_ERROR(
      db_->Exec("UPDATE attempts SET ended_at = ?, outcome = 'fanned_out' WHERE seq = (SELECT "
                "MAX(seq) FROM attempts WHERE job_id = ?) AND ended_at IS NULL",
                {now, job_id})
          .status());
  // Each task gets the attempts the job had left when this attempt began.
  int budget = std::max(1, job->max_attempts - job->attempts + 1);
  // The tasks take their key's next turns, in their order (NextTurn): one per round beside other
  // keys' work, as jobs do. A job under way goes before its key's jobs still queued, which move
  // back behind its tasks: the key's work stays in the order it was submitted.
  Result<double> turn = NextTurn(job->owner, job->priority, false);
  if (!turn.ok()) return turn.status();
  REEL_RETURN_IF_ERROR(db_->Exec("UPDATE jobs SET fair_seq = fair_seq + ? WHERE owner = ? AND "
                                 "state = 'queued' AND priority = ? AND fair_seq >= ?",
                                 {static_cast<int64_t>(tasks.size()), job->owner,
                                  static_cast<int64_t>(job->priority), *turn})
                           .status());
  for (size_t i = 0; i < tasks.size(); ++i) {
    const NewTask& t = tasks[i];
    REEL_RETURN_IF_ERROR(
        db_->Exec("INSERT INTO tasks (id, job_id, kind, ordinal, payload, state, max_attempts, "
                  "priority, tags, weight, staging, owner, fair_seq) SELECT ?, id, ?, ?, ?, ?, ?, "
                  "priority, tags, ?, ?, owner, ? FROM jobs WHERE id = ?",
                  {"task_" + RandomHex(12), TaskKindName(t.kind), t.ordinal,
                   t.payload.is_object() ? t.payload.dump() : std::string("{}"),
                   // The publisher starts idle: nothing is published before a chunk is done.
                   t.kind == TaskKind::kPublish ? "succeeded" : "queued", budget,
                   std::max(t.weight, 0.0), staging, *turn + double(i), job_id})
            .status());
  }
  REEL_RETURN_IF_ERROR(db_->Exec("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, "
                                 "updated_at = ? WHERE id = ?",
                                 {now, job_id})
                           .status());
  REEL_RETURN_IF_ERROR(UpdateJobProgress(job_id, now).status());
  REEL_RETURN_IF_ERROR(db_->NotifyWork());
  REEL_RETURN_IF_ERROR(tx.Commit());
  return LoadJob(job_id);
}

Result<std::optional<Task>> SqlJobStore::LeaseTask(const std::string& worker_id,
                                                   const std::string& host, double lease_seconds,
                                                   const std::vector<std::string>& worker_tags,
                                                   const std::string& staging) {
  std::lock_guard lock(mu_);
  double now = NowSeconds();
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  // The next task by priority and turn (its key's, FanOut) that this worker may take; none when
  // a job it may take comes first, which the worker leases next (Lease). The stitch waits for
  // every other task of its job: the gate is part of the pick, so a stitch is never leased
  // early, whichever worker asks.
  const std::string tags = json(worker_tags).dump();
  Result<SqlRows> r = db_->Exec(
      std::string("UPDATE tasks SET state = 'running', attempts = attempts + 1, lease_owner = ?, "
                  "lease_expires_at = ?, worker = ?, host = ?, started_at = COALESCE(started_at, "
                  "?), finished_at = NULL, error = NULL WHERE seq = (SELECT q.seq FROM tasks q "
                  "WHERE q.state = 'queued' AND ") +
          db_->TagsWithin("q.tags") +
          " AND (q.staging = ? OR q.staging = '') AND (q.kind <> 'stitch' OR NOT EXISTS "
          "(SELECT 1 FROM tasks o WHERE o.job_id = q.job_id AND o.kind <> 'stitch' AND o.state "
          "<> 'succeeded')) ORDER BY q.priority DESC, q.fair_seq, q.seq LIMIT 1" +
          db_->SkipLocked() +
          ") AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.state = 'queued' AND " +
          db_->TagsWithin("j.tags") +
          " AND (j.priority > tasks.priority OR (j.priority = tasks.priority AND j.fair_seq < "
          "tasks.fair_seq))) RETURNING id, priority, fair_seq",
      {worker_id, now + lease_seconds, worker_id, host, now, tags, staging, tags});
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<Task>();
  std::string id = r->Text(0, 0);
  REEL_RETURN_IF_ERROR(TurnServed(r->Int(0, 1), r->Double(0, 2)));
  Result<SqlRows> t =
      db_->Exec(std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE id = ?", {id});
  if (!t.ok()) return t.status();
  REEL_RETURN_IF_ERROR(tx.Commit());
  return std::optional<Task>(ReadTask(*t, 0));
}

Status SqlJobStore::RenewTask(const std::string& task_id, const std::string& worker_id, int fence,
                              double lease_seconds, bool* cancel_requested) {
  std::lock_guard lock(mu_);
  Result<SqlRows> r = db_->Exec(
      "UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND attempts = ? "
      "AND state = 'running' RETURNING (SELECT cancel_requested FROM jobs WHERE jobs.id = "
      "tasks.job_id)",
      {NowSeconds() + lease_seconds, task_id, worker_id, fence});
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("lease on " + task_id + " is no longer held");
  *cancel_requested = r->Bool(0, 0);
  return Status::Ok();
}

Result<json> SqlJobStore::SaveTaskProgress(const std::string& task_id, const std::string& worker_id,
                                           int fence, const json& progress) {
  std::lock_guard lock(mu_);
  double now = NowSeconds();
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  Result<SqlRows> r = db_->Exec(
      "UPDATE tasks SET progress = ? WHERE id = ? AND lease_owner = ? AND attempts = ? AND "
      "state = 'running' RETURNING job_id",
      {progress.dump(), task_id, worker_id, fence});
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("lease on " + task_id + " is no longer held");
  Result<json> job_progress = UpdateJobProgress(r->Text(0, 0), now);
  if (!job_progress.ok()) return job_progress;
  REEL_RETURN_IF_ERROR(QueueProgressWebhook(r->Text(0, 0), now));  // the job's, not the task's
  REEL_RETURN_IF_ERROR(tx.Commit());
  return job_progress;
}

Result<Job> SqlJobStore::FinishTask(const std::string& task_id, const std::string& worker_id,
                                    int fence, AttemptEnd end, const std::string& error,
                                    const json& result) {
  std::lock_guard lock(mu_);
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  Result<SqlRows> owner = db_->Exec("SELECT job_id FROM tasks WHERE id = ?", {task_id});
  if (!owner.ok()) return owner.status();
  if (owner->empty()) return NotFound("no task " + task_id);
  std::string job_id = owner->Text(0, 0);
  Result<Job> job = LoadJob(job_id, true);
  if (!job.ok()) return job;
  // Fencing, inside the transaction: an attempt whose lease ran out writes nothing.
  auto held = std::find_if(job->tasks.begin(), job->tasks.end(), [&](const Task& t) {
    return t.id == task_id && t.state == JobState::kRunning && t.lease_owner == worker_id &&
           t.attempts == fence;
  });
  if (held == job->tasks.end())
    return NotFound("lease on " + task_id + " is no longer held by " + worker_id);
  REEL_RETURN_IF_ERROR(SettleTask(*job, *held, end, error, result, NowSeconds()));
  REEL_RETURN_IF_ERROR(tx.Commit());
  return LoadJob(job_id);
}

Status SqlJobStore::SettleTask(const Job& job, const Task& task, AttemptEnd end,
                               const std::string& error, const json& ended_with, double now) {
  json result = ended_with;
  // A task's attempt goes through the job's state machine, with the task's own budget.
  Job as_job;
  as_job.attempts = task.attempts;
  as_job.max_attempts = task.max_attempts;
  Transition t = NextState(as_job, end, error);
  if (job.cancel_requested && t.next == JobState::kQueued) t.next = JobState::kCanceled;
  // A task stopped while its job goes on (no cancel asked of the job) would leave the stitch
  // waiting forever: it runs again instead.
  if (!job.cancel_requested && t.next == JobState::kCanceled) t.next = JobState::kQueued;
  // A publisher out of attempts (a destination failing three turns running) does not fail the
  // job: publishing early is an extra, and the stitch delivers everything at the end. It goes
  // back to idle with its error and what it had published; a later chunk may wake it again.
  bool gave_up = task.kind == TaskKind::kPublish && t.next == JobState::kFailed;
  if (gave_up) t.next = JobState::kSucceeded;
  // A publisher's failed turn keeps what the turns before it published (its next turn sends
  // only what is newer, and again what this one may have half sent).
  if (task.kind == TaskKind::kPublish && result.is_null()) result = task.result;
  bool finished = IsFinished(t.next);
  json progress = task.progress;
  if (t.next == JobState::kSucceeded) progress["fraction"] = 1.0;
  REEL_RETURN_IF_ERROR(
      db_->Exec("UPDATE tasks SET state = ?, attempts = ?, lease_owner = NULL, lease_expires_at "
                "= NULL, error = ?, result = ?, finished_at = ?, progress = ? WHERE id = ?",
                {StateName(t.next), t.attempts, SqlValue::OrNull(t.error),
                 result.is_null() ? SqlValue() : SqlValue(result.dump()), NullUnless(finished, now),
                 progress.dump(), task.id})
          .status());
  if (t.next == JobState::kFailed) {
    // One task failed for good: the job has failed, and its other tasks are of no use now.
    bool ended = false;
    REEL_RETURN_IF_ERROR(CancelTasks(job, true, now, &ended));
    std::string job_error = TaskName(task) + ": " + t.error;
    REEL_RETURN_IF_ERROR(db_->Exec("UPDATE jobs SET state = 'failed', error = ?, finished_at = ?, "
                                   "updated_at = ? WHERE id = ?",
                                   {job_error, now, now, job.id})
                             .status());
    return EnqueueWebhook(job.id, "failed");
  }
  if (t.next == JobState::kSucceeded && task.kind == TaskKind::kStitch) {
    json job_progress = job.progress;
    job_progress["fraction"] = 1.0;
    REEL_RETURN_IF_ERROR(db_->Exec("UPDATE jobs SET state = 'succeeded', result = ?, progress = "
                                   "?, error = NULL, finished_at = ?, updated_at = ? WHERE id = ?",
                                   {result.is_null() ? SqlValue() : SqlValue(result.dump()),
                                    job_progress.dump(), now, now, job.id})
                             .status());
    return EnqueueWebhook(job.id, "succeeded");
  }
  if (job.cancel_requested) {
    bool ended = false;
    return CancelTasks(job, false, now, &ended);
  }
  // A publisher that gave up waits for the next chunk to try again, not for itself.
  if (t.next == JobState::kSucceeded && !gave_up)
    REEL_RETURN_IF_ERROR(WakePublisher(job, task, result));
  REEL_RETURN_IF_ERROR(UpdateJobProgress(job.id, now).status());
  // A requeued task, or a stitch that has just become leasable, is work for someone.
  return t.next == JobState::kFailed ? Status::Ok() : db_->NotifyWork();
}

Status SqlJobStore::WakePublisher(const Job& job, const Task& settled, const json& result) {
  // Read from the job as locked by the caller, with `settled` as it is now.
  const Task* publisher = nullptr;
  int chunks = 0;
  std::set<int> done;
  bool audio_done = true;
  for (const Task& t : job.tasks) {
    bool succeeded = t.id == settled.id || t.state == JobState::kSucceeded;
    if (t.kind == TaskKind::kPublish) publisher = &t;
    if (t.kind == TaskKind::kAudio) audio_done = succeeded;
    if (t.kind != TaskKind::kChunk) continue;
    ++chunks;
    if (succeeded) done.insert(t.ordinal);
  }
  if (!publisher || (publisher->id != settled.id && publisher->state != JobState::kSucceeded))
    return Status::Ok();  // none, or running (it ends and looks again), or queued already
  int ready = 0;          // the chunks done in order from the first: only those may be published
  while (done.count(ready)) ++ready;
  // Once every chunk is done the stitch publishes the rest, with ENDLIST.
  if (ready == 0 || ready >= chunks) return Status::Ok();
  const json& published = publisher->id == settled.id ? result : publisher->result;
  int chunks_published = published.is_object() ? published.value("chunks", 0) : 0;
  bool audio_published = published.is_object() && published.value("audio", false);
  if (ready <= chunks_published && (!audio_done || audio_published)) return Status::Ok();
  // A fresh budget of attempts for each turn: its retries count failures in a row, not turns.
  return db_
      ->Exec(
          "UPDATE tasks SET state = 'queued', finished_at = NULL, max_attempts = attempts + "
          "3 WHERE id = ? AND state = 'succeeded'",
          {publisher->id})
      .status();
}

Status SqlJobStore::CancelTasks(const Job& job, bool running, double now, bool* ended) {
  std::string states = running ? "('queued', 'running')" : "('queued')";
  REEL_RETURN_IF_ERROR(db_->Exec("UPDATE tasks SET state = 'canceled', lease_owner = NULL, "
                                 "lease_expires_at = NULL, finished_at = ? WHERE job_id = ? AND "
                                 "state IN " +
                                     states,
                                 {now, job.id})
                           .status());
  Result<SqlRows> r =
      db_->Exec("SELECT COUNT(*) FROM tasks WHERE job_id = ? AND state = 'running'", {job.id});
  if (!r.ok()) return r.status();
  *ended = r->Int(0, 0) == 0;
  if (!*ended || running) return Status::Ok();  // a failing job records its own end
  REEL_RETURN_IF_ERROR(db_->Exec("UPDATE jobs SET state = 'canceled', finished_at = ?, "
                                 "updated_at = ? WHERE id = ?",
                                 {now, now, job.id})
                           .status());
  return EnqueueWebhook(job.id, "canceled");
}

Result<WorkCounts> SqlJobStore::CountWork() {
  std::lock_guard lock(mu_);
  // Queued tasks as LeaseTask sees them: a stitch waiting for the others wants no slot yet. A
  // running job without a lease has fanned out: its running tasks are counted instead.
  Result<SqlRows> r = db_->Exec(
      "SELECT (SELECT COUNT(*) FROM jobs WHERE state = 'queued'), (SELECT COUNT(*) FROM tasks q "
      "WHERE q.state = 'queued' AND (q.kind <> 'stitch' OR NOT EXISTS (SELECT 1 FROM tasks o "
      "WHERE o.job_id = q.job_id AND o.kind <> 'stitch' AND o.state <> 'succeeded'))), (SELECT "
      "COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner IS NOT NULL) + (SELECT "
      "COUNT(*) FROM tasks WHERE state = 'running')");
  if (!r.ok()) return r.status();
  return WorkCounts{r->Int(0, 0), r->Int(0, 1), r->Int(0, 2)};
}

Status SqlJobStore::SaveTaskLog(const std::string& task_id, const std::string& worker_id, int fence,
                                const json& log) {
  std::lock_guard lock(mu_);
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  // Only the worker holding the attempt, before its end: one that lost the lease must not write
  // over the log of the attempt that runs now, nor add one the task never had.
  Result<SqlRows> held = db_->Exec(
      std::string("SELECT job_id FROM tasks WHERE id = ? AND lease_owner = ? AND attempts = ? "
                  "AND state = 'running'") +
          db_->ForUpdate(),
      {task_id, worker_id, fence});
  if (!held.ok()) return held.status();
  if (held->empty()) return NotFound("lease on " + task_id + " is no longer held by " + worker_id);
  REEL_RETURN_IF_ERROR(
      db_->Exec("DELETE FROM task_logs WHERE task_id = ? AND attempt = ?", {task_id, fence})
          .status());
  REEL_RETURN_IF_ERROR(
      db_->Exec("INSERT INTO task_logs (task_id, job_id, attempt, worker_id, log) VALUES (?, ?, "
                "?, ?, ?)",
                {task_id, held->Text(0, 0), fence, worker_id,
                 log.dump(-1, ' ', false, json::error_handler_t::replace)})
          .status());
  return tx.Commit();
}

Result<json> SqlJobStore::TaskLog(const std::string& task_id, int attempt) {
  std::lock_guard lock(mu_);
  Result<SqlRows> task = db_->Exec("SELECT attempts FROM tasks WHERE id = ?", {task_id});
  if (!task.ok()) return task.status();
  if (task->empty() || attempt < 1 || attempt > task->Int(0, 0))
    return NotFound("task " + task_id + " has no attempt " + std::to_string(attempt));
  Result<SqlRows> r =
      db_->Exec("SELECT log FROM task_logs WHERE task_id = ? AND attempt = ?", {task_id, attempt});
  if (!r.ok()) return r.status();
  json log = r->empty() ? json::object() : ParseJsonOr(r->Text(0, 0), json::object());
  if (!log.is_object()) log = json::object();
  if (!log.contains("lines") || !log["lines"].is_array()) log["lines"] = json::array();
  if (!log.contains("dropped") || !log["dropped"].is_number_integer()) log["dropped"] = 0;
  return log;
}

Result<json> SqlJobStore::UpdateJobProgress(const std::string& job_id, double now) {
  Result<SqlRows> r =
      db_->Exec("SELECT state, weight, progress FROM tasks WHERE job_id = ?", {job_id});
  if (!r.ok()) return r.status();
  double total = 0, done = 0;
  int succeeded = 0;
  for (size_t i = 0; i < r->size(); ++i) {
    double w = r->Double(i, 1);
    total += w;
    if (r->Text(i, 0) == "succeeded") {
      done += w;
      ++succeeded;
    } else if (r->Text(i, 0) == "running") {
      json p = ParseJsonOr(r->Text(i, 2), json::object());
      double f = p.value("fraction", 0.0);
      done += w * std::clamp(f, 0.0, 1.0);
    }
  }
  json progress = {{"fraction", total > 0 ? done / total : 0.0},
                   {"tasks", r->size()},
                   {"tasks_succeeded", succeeded}};
  REEL_RETURN_IF_ERROR(db_->Exec("UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ?",
                                 {progress.dump(), now, job_id})
                           .status());
  return progress;
}

Result<std::vector<std::string>> SqlJobStore::ExpireTaskLeases(double now) {
  Result<SqlRows> r = db_->Exec(
      "SELECT DISTINCT job_id FROM tasks WHERE state = 'running' AND lease_expires_at < ? "
      "ORDER BY job_id",
      {now});
  if (!r.ok()) return r.status();
  std::vector<std::string> touched;
  for (size_t i = 0; i < r->size(); ++i) {
    Result<Job> job = LoadJob(r->Text(i, 0), true);
    if (!job.ok()) return job.status();
    for (const Task& task : job->tasks) {
      if (task.state != JobState::kRunning || task.lease_expires_at >= now) continue;
      // Settling a task may end the job: later tasks are read again from the job as it is.
      Result<Job> current = LoadJob(job->id);
      if (!current.ok()) return current.status();
      if (current->state != JobState::kRunning) break;
      std::string error = "the worker running attempt " + std::to_string(task.attempts) + " of " +
                          TaskName(task) + " stopped heartbeating (lease expired)";
      AttemptEnd end =
          current->cancel_requested ? AttemptEnd::kCanceled : AttemptEnd::kFailedRetryable;
      REEL_RETURN_IF_ERROR(SettleTask(*current, task, end, error, nullptr, now));
    }
    touched.push_back(job->id);
  }
  return touched;
}

Status SqlJobStore::RequeueTasks(const std::string& job_id, int attempts, double turn, double now) {
  Result<SqlRows> again = db_->Exec(
      "SELECT id FROM tasks WHERE job_id = ? AND state IN ('failed', 'canceled') ORDER BY seq",
      {job_id});
  if (!again.ok()) return again.status();
  for (size_t i = 0; i < again->size(); ++i)
    REEL_RETURN_IF_ERROR(
        db_->Exec("UPDATE tasks SET state = 'queued', max_attempts = attempts + ?, error = NULL, "
                  "finished_at = NULL, progress = '{}', fair_seq = ? WHERE id = ?",
                  {attempts, turn + double(i), again->Text(i, 0)})
            .status());
  return UpdateJobProgress(job_id, now).status();
}

}  // namespace reel::store
