// SqlJobStore: jobs, leases and the attempt state machine; opening a store over a driver.
#include "store/sql_job_store.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

#include "common/crypto.h"
#include "store/migrations.h"

namespace reel::store {
namespace {

using nlohmann::json;

constexpr double kIdempotencyWindow = 24 * 3600;

constexpr const char* kJobColumns =
    "id, owner, state, spec, progress, attempts, max_attempts, created_at, updated_at, "
    "started_at, finished_at, error, result, cancel_requested, lease_owner, lease_expires_at, "
    "priority, retries, storage";
// How many kJobColumns names: a query that reads a column after them finds it at this index.
constexpr size_t kJobColumnCount = 19;

Job ReadJob(const SqlRows& r, size_t i) {
  Job j;
  j.id = r.Text(i, 0);
  j.owner = r.Text(i, 1);
  j.state = ParseState(r.Text(i, 2)).value_or(JobState::kFailed);
  j.spec = ParseJsonOr(r.Text(i, 3), json::object());
  j.progress = ParseJsonOr(r.Text(i, 4), json::object());
  j.attempts = static_cast<int>(r.Int(i, 5));
  j.max_attempts = static_cast<int>(r.Int(i, 6));
  j.created_at = r.Double(i, 7);
  j.updated_at = r.Double(i, 8);
  j.started_at = r.Double(i, 9);
  j.finished_at = r.Double(i, 10);
  j.error = r.Text(i, 11);
  j.result = ParseJsonOr(r.Text(i, 12), nullptr);
  j.cancel_requested = r.Bool(i, 13);
  j.lease_owner = r.Text(i, 14);
  j.lease_expires_at = r.Double(i, 15);
  j.priority = static_cast<int>(r.Int(i, 16));
  j.retries = static_cast<int>(r.Int(i, 17));
  j.storage = ParseStorageScope(r.Text(i, 18));
  return j;
}

SqlValue NullUnless(bool present, double v) { return present ? SqlValue(v) : SqlValue(); }

}  // namespace

bool SqlDriver::WaitForWork(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return false;
}

Result<std::unique_ptr<JobStore>> OpenSqlJobStore(std::unique_ptr<SqlDriver> driver) {
  REEL_RETURN_IF_ERROR(Migrate(*driver));
  return std::unique_ptr<JobStore>(std::make_unique<SqlJobStore>(std::move(driver)));
}

Result<std::unique_ptr<JobStore>> OpenSqliteStore(const std::string& path) {
  Result<std::unique_ptr<SqlDriver>> driver = OpenSqliteDriver(path);
  if (!driver.ok()) return driver.status();
  Result<std::unique_ptr<JobStore>> store = OpenSqlJobStore(std::move(driver).value());
  if (!store.ok()) return store.status().WithContext("store " + path);
  return store;
}

Result<std::unique_ptr<JobStore>> OpenPostgresStore(const std::string& url, int connect_attempts) {
  Result<std::unique_ptr<SqlDriver>> driver = OpenPostgresDriver(url, connect_attempts);
  if (!driver.ok()) return driver.status();
  return OpenSqlJobStore(std::move(driver).value());
}

Result<Job> SqlJobStore::CreateJob(const NewJob& nj, bool* existed) {
  std::lock_guard lock(mu_);
  *existed = false;
  double now = NowSeconds();
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  REEL_RETURN_IF_ERROR(LockOwner(nj.owner));
  if (!nj.idempotency_key.empty()) {
    Result<SqlRows> r =
        db_->Exec(std::string("SELECT id, request_hash, created_at FROM jobs WHERE owner = ? AND "
                              "idempotency_key = ?") +
                      db_->ForUpdate(),
                  {nj.owner, nj.idempotency_key});
    if (!r.ok()) return r.status();
    if (!r->empty()) {
      std::string id = r->Text(0, 0);
      if (now - r->Double(0, 2) < kIdempotencyWindow) {
        if (r->Text(0, 1) != nj.request_hash)
          return FailedPrecondition(
              "Idempotency-Key was already used with a different request body");
        *existed = true;
        return LoadJob(id);
      }
      // Expired: the key is free again.
      REEL_RETURN_IF_ERROR(
          db_->Exec("UPDATE jobs SET idempotency_key = NULL WHERE id = ?", {id}).status());
    }
  }
  if (nj.owner_limit > 0) REEL_RETURN_IF_ERROR(CheckOwnerLimit(nj.owner, nj.owner_limit));
  Result<double> turn = NextTurn(nj.owner, nj.priority);
  if (!turn.ok()) return turn.status();
  double fair_seq = *turn;
  std::string id = "job_" + RandomHex(12);
  REEL_RETURN_IF_ERROR(
      db_->Exec("INSERT INTO jobs (id, owner, state, spec, max_attempts, created_at, updated_at, "
                "idempotency_key, request_hash, priority, tags, storage, fair_seq) VALUES (?, ?, "
                "'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                {id, nj.owner, nj.spec.dump(), nj.max_attempts, now, now,
                 SqlValue::OrNull(nj.idempotency_key), SqlValue::OrNull(nj.request_hash),
                 nj.priority, json(nj.tags).dump(),
                 nj.storage.is_null() ? std::string() : nj.storage.dump(), fair_seq})
          .status());
  REEL_RETURN_IF_ERROR(db_->NotifyWork());
  REEL_RETURN_IF_ERROR(tx.Commit());
  return LoadJob(id);
}

// Submissions and retries of one key wait for each other here (PostgreSQL), so that two at once
// cannot both see room for one, take the same turn, or both miss the other's idempotency key;
// SQLite's writers are one at a time already.
Status SqlJobStore::LockOwner(const std::string& owner) {
  return db_->Exec(std::string("SELECT id FROM api_keys WHERE id = ?") + db_->ForUpdate(), {owner})
      .status();
}

Status SqlJobStore::LockOwnerOf(const std::string& job_id) {
  if (*db_->ForUpdate() == 0) return Status::Ok();  // SQLite: writers are one at a time
  Result<SqlRows> r = db_->Exec("SELECT owner FROM jobs WHERE id = ?", {job_id});
  if (!r.ok()) return r.status();
  return r->empty() ? Status::Ok() : LockOwner(r->Text(0, 0));
}

Status SqlJobStore::CheckOwnerLimit(const std::string& owner, int limit) {
  Result<SqlRows> r = db_->Exec(
      "SELECT COUNT(*) FROM jobs WHERE owner = ? AND state IN ('queued', 'running')", {owner});
  if (!r.ok()) return r.status();
  if (r->Int(0, 0) < limit) return Status::Ok();
  return ResourceExhausted("this API key has " + std::to_string(r->Int(0, 0)) +
                           " jobs queued or running, its limit; submit more as they finish");
}

// Keys take turns (fair queueing within a priority): a job's turn is one past the later of the
// last turn served at its priority and its key's last job or task queued at that priority. A
// key alone is served in order; a key with a thousand jobs queued (or a film fanned out into a
// hundred chunks) has one served per round beside each other key's, so a job another key
// submits after them waits about one round. Work that cannot be leased now (tags no worker has)
// holds nothing back: the clock is the turns served.
Result<double> SqlJobStore::NextTurn(const std::string& owner, int priority, bool behind_jobs) {
  const int64_t p = priority;
  Result<SqlRows> r = db_->Exec(
      "SELECT COALESCE((SELECT served FROM queue_turns WHERE priority = ?), 0), "
      "COALESCE((SELECT MAX(fair_seq) FROM tasks WHERE owner = ? AND state = 'queued' AND "
      "priority = ?), 0), COALESCE((SELECT MAX(fair_seq) FROM jobs WHERE owner = ? AND state = "
      "'queued' AND priority = ?), 0)",
      {p, owner, p, owner, p});
  if (!r.ok()) return r.status();
  double last = std::max(r->Double(0, 0), r->Double(0, 1));
  if (behind_jobs) last = std::max(last, r->Double(0, 2));
  return last + 1;
}

Status SqlJobStore::TurnServed(int64_t priority, double turn) {
  return db_
      ->Exec(
          "INSERT INTO queue_turns (priority, served) VALUES (?, ?) ON CONFLICT (priority) DO "
          "UPDATE SET served = CASE WHEN excluded.served > queue_turns.served THEN "
          "excluded.served ELSE queue_turns.served END",
          {priority, turn})
      .status();
}

Result<Job> SqlJobStore::GetJob(const std::string& id) {
  std::lock_guard lock(mu_);
  return LoadJob(id);
}

Result<ListPage> SqlJobStore::ListJobs(const ListQuery& q) {
  std::lock_guard lock(mu_);
  std::string sql = std::string("SELECT ") + kJobColumns + ", seq FROM jobs WHERE seq < ?";
  std::vector<SqlValue> params = {
      q.cursor.empty() ? int64_t{INT64_MAX} : static_cast<int64_t>(std::atoll(q.cursor.c_str()))};
  if (!q.owner.empty()) {
    sql += " AND owner = ?";
    params.push_back(q.owner);
  }
  if (q.state) {
    sql += " AND state = ?";
    params.push_back(StateName(*q.state));
  }
  sql += " ORDER BY seq DESC LIMIT ?";
  params.push_back(q.limit + 1);
  Result<SqlRows> r = db_->Exec(sql, params);
  if (!r.ok()) return r.status();
  ListPage page;
  size_t limit = static_cast<size_t>(std::max(q.limit, 0));
  for (size_t i = 0; i < r->size() && i < limit; ++i) page.jobs.push_back(ReadJob(*r, i));
  if (r->size() > limit && limit > 0)
    page.next_cursor = r->Text(limit - 1, kJobColumnCount);  // seq
  return page;
}

Result<Job> SqlJobStore::RequestCancel(const std::string& id) {
  std::lock_guard lock(mu_);
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  Result<Job> job = LoadJob(id, true);
  if (!job.ok()) return job;
  double now = NowSeconds();
  if (job->state == JobState::kQueued) {
    REEL_RETURN_IF_ERROR(db_->Exec("UPDATE jobs SET state = 'canceled', finished_at = ?, "
                                   "updated_at = ? WHERE id = ? AND state = 'queued'",
                                   {now, now, id})
                             .status());
    REEL_RETURN_IF_ERROR(EnqueueWebhook(id, "canceled"));
  } else if (job->state == JobState::kRunning) {
    REEL_RETURN_IF_ERROR(
        db_->Exec("UPDATE jobs SET cancel_requested = TRUE, updated_at = ? WHERE id = ?", {now, id})
            .status());
    // A fanned-out job: its queued tasks end now, its running ones see the cancel on renewal.
    if (!job->tasks.empty()) {
      job->cancel_requested = true;
      bool ended = false;
      REEL_RETURN_IF_ERROR(CancelTasks(*job, false, now, &ended));
    }
  } else {
    return FailedPrecondition("job is already " + std::string(StateName(job->state)));
  }
  REEL_RETURN_IF_ERROR(tx.Commit());
  return LoadJob(id);
}

Result<Job> SqlJobStore::Retry(const std::string& id, const RetryLimits& limits) {
  std::lock_guard lock(mu_);
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  REEL_RETURN_IF_ERROR(LockOwnerOf(id));  // the key's row before the job's, as everywhere
  Result<Job> job = LoadJob(id, true);
  if (!job.ok()) return job;
  std::string refused = "only failed or canceled jobs can be retried; this one is ";
  if (job->state != JobState::kFailed && job->state != JobState::kCanceled)
    return FailedPrecondition(refused + StateName(job->state));
  if (job->retries >= limits.max_retries)
    return FailedPrecondition("the job was retried " + std::to_string(job->retries) +
                              " times, the most this server allows (--max-retries " +
                              std::to_string(limits.max_retries) + ")");
  // The guards are in the UPDATE too: another node may have retried it (and a worker taken it)
  // since it was read. Attempts are numbered on: the log keeps every one.
  // A job that fanned out keeps its tasks' work: it runs again as its failed and canceled tasks
  // (and so its stitch), not from its first attempt.
  bool fanned_out = !job->tasks.empty();
  // A retry is a job back in the queue: within its key's limit, and at the back of the round
  // (a fresh turn), not before every key with the turn it had when first submitted.
  if (limits.owner_limit > 0) REEL_RETURN_IF_ERROR(CheckOwnerLimit(job->owner, limits.owner_limit));
  Result<double> turn = NextTurn(job->owner, job->priority);
  if (!turn.ok()) return turn.status();
  Result<SqlRows> r =
      db_->Exec(std::string("UPDATE jobs SET state = '") + (fanned_out ? "running" : "queued") +
                    "', max_attempts = attempts + ?, retries = retries + 1, "
                    "error = NULL, result = NULL, progress = '{}', cancel_requested = FALSE, "
                    "finished_at = NULL, updated_at = ?, fair_seq = ? "
                    "WHERE id = ? AND state IN ('failed', 'canceled') AND retries < ?",
                {static_cast<int64_t>(limits.attempts), NowSeconds(), *turn, id,
                 static_cast<int64_t>(limits.max_retries)});
  if (!r.ok()) return r.status();
  if (r->changed == 0)
    return FailedPrecondition(refused + "no longer failed or canceled, or was retried meanwhile");
  if (fanned_out) {
    REEL_RETURN_IF_ERROR(RequeueTasks(id, limits.attempts, *turn, NowSeconds()));
    REEL_RETURN_IF_ERROR(EnqueueWebhook(id, "running"));  // no lease will say it
  }
  REEL_RETURN_IF_ERROR(db_->NotifyWork());
  REEL_RETURN_IF_ERROR(tx.Commit());
  return LoadJob(id);
}

Status SqlJobStore::DeleteJob(const std::string& id) {
  std::lock_guard lock(mu_);
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  Result<Job> job = LoadJob(id, true);
  if (!job.ok()) return job.status();
  if (!IsFinished(job->state))
    return FailedPrecondition("job is " + std::string(StateName(job->state)) +
                              "; cancel it before deleting it");
  for (const char* sql :
       {"DELETE FROM webhooks WHERE job_id = ?", "DELETE FROM attempts WHERE job_id = ?",
        "DELETE FROM task_logs WHERE job_id = ?", "DELETE FROM tasks WHERE job_id = ?",
        "DELETE FROM jobs WHERE id = ?"})
    REEL_RETURN_IF_ERROR(db_->Exec(sql, {id}).status());
  return tx.Commit();
}

Result<std::map<std::string, int64_t>> SqlJobStore::CountByState(const std::string& owner) {
  std::lock_guard lock(mu_);
  std::map<std::string, int64_t> counts;
  for (JobState st : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                      JobState::kFailed, JobState::kCanceled})
    counts[StateName(st)] = 0;
  Result<SqlRows> r =
      owner.empty()
          ? db_->Exec("SELECT state, COUNT(*) FROM jobs GROUP BY state")
          : db_->Exec("SELECT state, COUNT(*) FROM jobs WHERE owner = ? GROUP BY state", {owner});
  if (!r.ok()) return r.status();
  for (size_t i = 0; i < r->size(); ++i) counts[r->Text(i, 0)] = r->Int(i, 1);
  return counts;
}

Result<std::optional<Job>> SqlJobStore::Lease(const std::string& worker_id, const std::string& host,
                                              double lease_seconds,
                                              const std::vector<std::string>& worker_tags) {
  std::lock_guard lock(mu_);
  double now = NowSeconds();
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  // The next job, highest priority first, then by turn (CreateJob: keys take turns), whose tags
  // are all the worker's; one another worker is taking is passed over.
  Result<SqlRows> r = db_->Exec(
      std::string("UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?, "
                  "lease_expires_at = ?, started_at = COALESCE(started_at, ?), updated_at = ?, "
                  "cancel_requested = FALSE WHERE seq = (SELECT q.seq FROM jobs q WHERE "
                  "q.state = 'queued' AND ") +
          db_->TagsWithin("q.tags") + " ORDER BY q.priority DESC, q.fair_seq, q.seq LIMIT 1" +
          db_->SkipLocked() + ") RETURNING id, attempts, priority, fair_seq",
      {worker_id, now + lease_seconds, now, now, json(worker_tags).dump()});
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<Job>();
  std::string id = r->Text(0, 0);
  REEL_RETURN_IF_ERROR(TurnServed(r->Int(0, 2), r->Double(0, 3)));
  REEL_RETURN_IF_ERROR(db_->Exec("INSERT INTO attempts (job_id, number, worker_id, host, "
                                 "started_at, outcome) VALUES (?, ?, ?, ?, ?, 'running')",
                                 {id, r->Int(0, 1), worker_id, host, now})
                           .status());
  REEL_RETURN_IF_ERROR(EnqueueWebhook(id, "running"));
  REEL_RETURN_IF_ERROR(tx.Commit());
  Result<Job> job = LoadJob(id);
  if (!job.ok()) return job.status();
  return std::optional<Job>(*job);
}

Status SqlJobStore::Renew(const std::string& job_id, const std::string& worker_id,
                          double lease_seconds, bool* cancel_requested) {
  std::lock_guard lock(mu_);
  Result<SqlRows> r = db_->Exec(
      "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND "
      "state = 'running' RETURNING cancel_requested",
      {NowSeconds() + lease_seconds, job_id, worker_id});
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("lease on " + job_id + " is no longer held");
  *cancel_requested = r->Bool(0, 0);
  return Status::Ok();
}

Status SqlJobStore::SaveProgress(const std::string& job_id, const std::string& worker_id,
                                 const json& progress) {
  std::lock_guard lock(mu_);
  double now = NowSeconds();
  SqlTransaction tx(*db_);  // the update locks the job's row for the progress webhook's check
  REEL_RETURN_IF_ERROR(tx.status());
  Result<SqlRows> r = db_->Exec(
      "UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND "
      "state = 'running'",
      {progress.dump(), now, job_id, worker_id});
  if (!r.ok()) return r.status();
  if (r->changed > 0) REEL_RETURN_IF_ERROR(QueueProgressWebhook(job_id, now));
  return tx.Commit();
}

Result<Job> SqlJobStore::FinishAttempt(const std::string& job_id, const std::string& worker_id,
                                       AttemptEnd end, const std::string& outcome,
                                       const std::string& error, const json& result) {
  std::lock_guard lock(mu_);
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  // Checked inside the transaction (fencing): a worker that lost its lease writes nothing.
  Result<Job> job = LoadJob(job_id, true);
  if (!job.ok()) return job;
  if (job->state != JobState::kRunning || job->lease_owner != worker_id)
    return NotFound("lease on " + job_id + " is no longer held by " + worker_id);
  REEL_RETURN_IF_ERROR(
      Settle(*job, NextState(*job, end, error), outcome, error, result, NowSeconds()));
  REEL_RETURN_IF_ERROR(tx.Commit());
  return LoadJob(job_id);
}

Result<std::vector<std::string>> SqlJobStore::ExpireLeases() {
  std::lock_guard lock(mu_);
  double now = NowSeconds();
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  Result<SqlRows> r =
      db_->Exec(std::string("SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < ? "
                            "ORDER BY seq") +
                    db_->SkipLocked(),
                {now});
  if (!r.ok()) return r.status();
  std::vector<std::string> touched;
  for (size_t i = 0; i < r->size(); ++i) {
    Result<Job> job = LoadJob(r->Text(i, 0));
    if (!job.ok()) return job.status();
    // A dead worker's attempt counts like a crash; a job it was asked to stop is canceled.
    std::string error = "the worker running attempt " + std::to_string(job->attempts) +
                        " stopped heartbeating (lease expired)";
    AttemptEnd end = job->cancel_requested ? AttemptEnd::kCanceled : AttemptEnd::kFailedRetryable;
    REEL_RETURN_IF_ERROR(
        Settle(*job, NextState(*job, end, error), "lease_expired", error, nullptr, now));
    touched.push_back(job->id);
  }
  Result<std::vector<std::string>> tasks = ExpireTaskLeases(now);
  if (!tasks.ok()) return tasks.status();
  touched.insert(touched.end(), tasks->begin(), tasks->end());
  REEL_RETURN_IF_ERROR(tx.Commit());
  return touched;
}

Result<int64_t> SqlJobStore::DeleteFinishedBefore(double before) {
  std::lock_guard lock(mu_);
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  const std::string finished = "state IN ('succeeded', 'failed', 'canceled') AND finished_at < ?";
  for (const char* table : {"attempts", "webhooks", "task_logs", "tasks"})
    REEL_RETURN_IF_ERROR(db_->Exec(std::string("DELETE FROM ") + table +
                                       " WHERE job_id IN (SELECT id FROM jobs WHERE " + finished +
                                       ")",
                                   {before})
                             .status());
  Result<SqlRows> r = db_->Exec("DELETE FROM jobs WHERE " + finished, {before});
  if (!r.ok()) return r.status();
  REEL_RETURN_IF_ERROR(tx.Commit());
  return r->changed;
}

Status SqlJobStore::Ping() {
  std::lock_guard lock(mu_);
  REEL_RETURN_IF_ERROR(db_->Exec("SELECT 1").status());
  return db_->CanWrite();  // a store that reads but cannot write is not ready either
}

Result<Job> SqlJobStore::LoadJob(const std::string& id, bool lock) {
  Result<SqlRows> r = db_->Exec(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?" +
                                    (lock ? db_->ForUpdate() : ""),
                                {id});
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("no job " + id);
  Job job = ReadJob(*r, 0);
  Result<SqlRows> a = db_->Exec(
      "SELECT number, worker_id, host, started_at, ended_at, outcome, error FROM attempts WHERE "
      "job_id = ? ORDER BY seq",
      {id});
  if (!a.ok()) return a.status();
  for (size_t i = 0; i < a->size(); ++i)
    job.attempt_log.push_back({static_cast<int>(a->Int(i, 0)), a->Text(i, 1), a->Text(i, 2),
                               a->Double(i, 3), a->Double(i, 4), a->Text(i, 5), a->Text(i, 6)});
  Result<std::vector<Task>> tasks = LoadTasks(id, lock);
  if (!tasks.ok()) return tasks.status();
  job.tasks = std::move(tasks).value();
  return job;
}

Status SqlJobStore::Settle(const Job& job, const Transition& t, const std::string& outcome,
                           const std::string& attempt_error, const json& result, double now) {
  REEL_RETURN_IF_ERROR(
      db_->Exec("UPDATE attempts SET ended_at = ?, outcome = ?, error = ? WHERE seq = (SELECT "
                "MAX(seq) FROM attempts WHERE job_id = ?) AND ended_at IS NULL",
                {now, outcome, SqlValue::OrNull(attempt_error), job.id})
          .status());
  json progress = job.progress;
  if (t.next == JobState::kSucceeded) progress["fraction"] = 1.0;
  bool finished = IsFinished(t.next);
  REEL_RETURN_IF_ERROR(db_->Exec("UPDATE jobs SET state = ?, attempts = ?, lease_owner = NULL, "
                                 "lease_expires_at = NULL, error = ?, result = ?, updated_at = ?, "
                                 "finished_at = ?, progress = ? WHERE id = ?",
                                 {StateName(t.next), t.attempts, SqlValue::OrNull(t.error),
                                  result.is_null() ? SqlValue() : SqlValue(result.dump()), now,
                                  NullUnless(finished, now), progress.dump(), job.id})
                           .status());
  if (finished) return EnqueueWebhook(job.id, StateName(t.next));
  return t.next == JobState::kQueued ? db_->NotifyWork() : Status::Ok();
}

Status SqlJobStore::EnqueueWebhook(const std::string& job_id, const std::string& event) {
  REEL_RETURN_IF_ERROR(DropWaitingProgress(job_id, event));
  Result<Job> job = LoadJob(job_id);
  if (!job.ok()) return job.status();
  std::optional<OutgoingWebhook> hook = compose_ ? compose_(*job, event) : std::nullopt;
  if (!hook) return Status::Ok();
  double now = NowSeconds();
  return db_
      ->Exec(
          "INSERT INTO webhooks (job_id, owner, url, event, payload, created_at, "
          "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
          {job->id, job->owner, hook->url, event, hook->payload, now, now})
      .status();
}

void SqlJobStore::SetWebhookComposer(WebhookComposer composer) {
  std::lock_guard lock(mu_);
  compose_ = std::move(composer);
}

}  // namespace reel::store
