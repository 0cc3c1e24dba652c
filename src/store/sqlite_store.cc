// JobStore on SQLite: one file under the data directory, WAL mode, one connection serialised by
// a mutex (every statement is a short point query or update; see the API benchmark).
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "common/crypto.h"
#include "store/job_store.h"

namespace reel::store {
namespace {

using nlohmann::json;

// Schema migrations, applied in order; the store records how many have run.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  state TEXT NOT NULL,
  spec TEXT NOT NULL,
  progress TEXT NOT NULL DEFAULT '{}',
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  started_at REAL,
  finished_at REAL,
  error TEXT,
  result TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_expires_at REAL,
  idempotency_key TEXT,
  request_hash TEXT
);
CREATE INDEX jobs_by_state ON jobs(state, seq);
CREATE INDEX jobs_by_owner ON jobs(owner, seq);
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs(owner, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE TABLE attempts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  host TEXT NOT NULL,
  started_at REAL NOT NULL,
  ended_at REAL,
  outcome TEXT NOT NULL,
  error TEXT
);
CREATE INDEX attempts_by_job ON attempts(job_id, seq);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL UNIQUE,
  admin INTEGER NOT NULL,
  created_at REAL NOT NULL,
  revoked_at REAL
);
CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  version TEXT NOT NULL,
  capacity INTEGER NOT NULL,
  running TEXT NOT NULL,
  started_at REAL NOT NULL,
  last_heartbeat REAL NOT NULL
);
)sql",
    R"sql(
ALTER TABLE api_keys ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT '';
CREATE TABLE webhooks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  owner TEXT NOT NULL,
  url TEXT NOT NULL,
  event TEXT NOT NULL,
  payload TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL,
  next_attempt_at REAL NOT NULL,
  delivered_at REAL,
  gave_up INTEGER NOT NULL DEFAULT 0,
  attempt_log TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX webhooks_due ON webhooks(next_attempt_at) WHERE delivered_at IS NULL AND gave_up = 0;
CREATE INDEX webhooks_by_job ON webhooks(job_id, id);
)sql",
    R"sql(
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_priority ON jobs(state, priority DESC, seq);
)sql",
    R"sql(
ALTER TABLE jobs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
)sql",
};

constexpr double kIdempotencyWindow = 24 * 3600;

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string(v)); }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  Stmt& BindOptional(int i, const std::string& v) { return v.empty() ? BindNull(i) : Bind(i, v); }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

Status SqlError(sqlite3* db, const std::string& what) {
  int code = sqlite3_errcode(db);
  StatusCode sc = (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_IOERR ||
                   code == SQLITE_FULL || code == SQLITE_CANTOPEN)
                      ? StatusCode::kUnavailable
                      : StatusCode::kInternal;
  return Status(sc, what + ": sqlite: " + sqlite3_errmsg(db) + " (" + std::to_string(code) + ")");
}

constexpr const char* kJobColumns =
    "id, owner, state, spec, progress, attempts, max_attempts, created_at, updated_at, "
    "started_at, finished_at, error, result, cancel_requested, lease_owner, lease_expires_at, "
    "priority";

constexpr const char* kWebhookColumns =
    "id, job_id, owner, url, event, payload, attempts, created_at, next_attempt_at, "
    "delivered_at, gave_up, attempt_log";

WebhookDelivery ReadWebhook(const Stmt& s) {
  WebhookDelivery w;
  w.id = s.Int(0);
  w.job_id = s.Text(1);
  w.owner = s.Text(2);
  w.url = s.Text(3);
  w.event = s.Text(4);
  w.payload = s.Text(5);
  w.attempts = static_cast<int>(s.Int(6));
  w.created_at = s.Double(7);
  w.next_attempt_at = s.Double(8);
  w.delivered_at = s.Double(9);
  w.gave_up = s.Int(10) != 0;
  w.attempt_log = ParseJsonOr(s.Text(11), json::array());
  return w;
}

Job ReadJob(const Stmt& s) {
  Job j;
  j.id = s.Text(0);
  j.owner = s.Text(1);
  j.state = ParseState(s.Text(2)).value_or(JobState::kFailed);
  j.spec = ParseJsonOr(s.Text(3), json::object());
  j.progress = ParseJsonOr(s.Text(4), json::object());
  j.attempts = static_cast<int>(s.Int(5));
  j.max_attempts = static_cast<int>(s.Int(6));
  j.created_at = s.Double(7);
  j.updated_at = s.Double(8);
  j.started_at = s.Double(9);
  j.finished_at = s.Double(10);
  j.error = s.Text(11);
  j.result = ParseJsonOr(s.Text(12), nullptr);
  j.cancel_requested = s.Int(13) != 0;
  j.lease_owner = s.Text(14);
  j.lease_expires_at = s.Double(15);
  j.priority = static_cast<int>(s.Int(16));
  return j;
}

class SqliteStore : public JobStore {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close(db_); }

  Status Init() {
    REEL_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    REEL_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
    REEL_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON"));
    sqlite3_busy_timeout(db_, 5000);
    return Migrate();
  }

  Result<Job> CreateJob(const NewJob& nj, bool* existed) override {
    std::lock_guard lock(mu_);
    *existed = false;
    double now = NowSeconds();
    Transaction tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    if (!nj.idempotency_key.empty()) {
      Stmt s(db_,
             "SELECT id, request_hash, created_at FROM jobs WHERE owner = ? AND "
             "idempotency_key = ?");
      s.Bind(1, nj.owner).Bind(2, nj.idempotency_key);
      if (s.Step() == SQLITE_ROW) {
        std::string id = s.Text(0), hash = s.Text(1);
        if (now - s.Double(2) < kIdempotencyWindow) {
          if (hash != nj.request_hash)
            return FailedPrecondition(
                "Idempotency-Key was already used with a different request body");
          *existed = true;
          return GetJobLocked(id);
        }
        // Expired: the key is free again.
        Stmt clear(db_, "UPDATE jobs SET idempotency_key = NULL WHERE id = ?");
        clear.Bind(1, id);
        if (clear.Step() != SQLITE_DONE) return SqlError(db_, "idempotency");
      }
    }
    std::string id = "job_" + RandomHex(12);
    Stmt s(db_,
           "INSERT INTO jobs (id, owner, state, spec, max_attempts, created_at, updated_at, "
           "idempotency_key, request_hash, priority, tags) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, "
           "?, ?, "
           "?)");
    s.Bind(1, id).Bind(2, nj.owner).Bind(3, nj.spec.dump()).Bind(4, nj.max_attempts);
    s.Bind(5, now)
        .Bind(6, now)
        .BindOptional(7, nj.idempotency_key)
        .BindOptional(8, nj.request_hash)
        .Bind(9, nj.priority)
        .Bind(10, json(nj.tags).dump());
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "create job");
    REEL_RETURN_IF_ERROR(tx.Commit());
    return GetJobLocked(id);
  }

  Result<Job> GetJob(const std::string& id) override {
    std::lock_guard lock(mu_);
    return GetJobLocked(id);
  }

  Result<ListPage> ListJobs(const ListQuery& q) override {
    std::lock_guard lock(mu_);
    std::string sql = std::string("SELECT ") + kJobColumns + ", seq FROM jobs WHERE 1=1";
    if (!q.owner.empty()) sql += " AND owner = ?1";
    if (q.state) sql += " AND state = ?2";
    int64_t cursor = q.cursor.empty() ? INT64_MAX : std::atoll(q.cursor.c_str());
    sql += " AND seq < ?3 ORDER BY seq DESC LIMIT ?4";
    Stmt s(db_, sql.c_str());
    if (!s.ok()) return SqlError(db_, "list jobs");
    if (!q.owner.empty()) s.Bind(1, q.owner);
    if (q.state) s.Bind(2, StateName(*q.state));
    s.Bind(3, cursor).Bind(4, q.limit + 1);
    ListPage page;
    int64_t last_seq = 0;
    while (s.Step() == SQLITE_ROW) {
      if (static_cast<int>(page.jobs.size()) == q.limit) {
        page.next_cursor = std::to_string(last_seq);
        break;
      }
      page.jobs.push_back(ReadJob(s));
      last_seq = s.Int(17);
    }
    return page;
  }

  Result<Job> RequestCancel(const std::string& id) override {
    std::lock_guard lock(mu_);
    Transaction tx(this);  // the state change and its webhook land together or not at all
    REEL_RETURN_IF_ERROR(tx.status());
    Result<Job> job = GetJobLocked(id);
    if (!job.ok()) return job;
    double now = NowSeconds();
    if (job->state == JobState::kQueued) {
      Stmt s(db_,
             "UPDATE jobs SET state = 'canceled', finished_at = ?, updated_at = ? "
             "WHERE id = ? AND state = 'queued'");
      s.Bind(1, now).Bind(2, now).Bind(3, id);
      if (s.Step() != SQLITE_DONE) return SqlError(db_, "cancel");
      REEL_RETURN_IF_ERROR(EnqueueWebhookLocked(id, "canceled"));
    } else if (job->state == JobState::kRunning) {
      Stmt s(db_, "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?");
      s.Bind(1, now).Bind(2, id);
      if (s.Step() != SQLITE_DONE) return SqlError(db_, "cancel");
    } else {
      return FailedPrecondition("job is already " + std::string(StateName(job->state)));
    }
    REEL_RETURN_IF_ERROR(tx.Commit());
    return GetJobLocked(id);
  }

  Result<Job> Retry(const std::string& id) override {
    std::lock_guard lock(mu_);
    Result<Job> job = GetJobLocked(id);
    if (!job.ok()) return job;
    if (job->state != JobState::kFailed && job->state != JobState::kCanceled)
      return FailedPrecondition("only failed or canceled jobs can be retried; this one is " +
                                std::string(StateName(job->state)));
    Stmt s(db_,
           "UPDATE jobs SET state = 'queued', attempts = 0, error = NULL, result = NULL, "
           "progress = '{}', cancel_requested = 0, finished_at = NULL, updated_at = ? "
           "WHERE id = ? AND state IN ('failed', 'canceled')");
    s.Bind(1, NowSeconds()).Bind(2, id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "retry");
    // Guarded in the UPDATE: another node may have retried it (and a worker taken it) since.
    if (sqlite3_changes(db_) == 0)
      return FailedPrecondition(
          "only failed or canceled jobs can be retried; this one is no "
          "longer failed or canceled");
    return GetJobLocked(id);
  }

  Status DeleteJob(const std::string& id) override {
    std::lock_guard lock(mu_);
    Result<Job> job = GetJobLocked(id);
    if (!job.ok()) return job.status();
    if (!IsFinished(job->state))
      return FailedPrecondition("job is " + std::string(StateName(job->state)) +
                                "; cancel it before deleting it");
    Transaction tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    Stmt w(db_, "DELETE FROM webhooks WHERE job_id = ?");
    w.Bind(1, id);
    if (w.Step() != SQLITE_DONE) return SqlError(db_, "delete webhooks");
    Stmt a(db_, "DELETE FROM attempts WHERE job_id = ?");
    a.Bind(1, id);
    Stmt j(db_, "DELETE FROM jobs WHERE id = ?");
    j.Bind(1, id);
    if (a.Step() != SQLITE_DONE || j.Step() != SQLITE_DONE) return SqlError(db_, "delete job");
    return tx.Commit();
  }

  Result<std::map<std::string, int64_t>> CountByState(const std::string& owner) override {
    std::lock_guard lock(mu_);
    std::map<std::string, int64_t> counts;
    for (JobState st : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                        JobState::kFailed, JobState::kCanceled})
      counts[StateName(st)] = 0;
    Stmt s(db_, owner.empty() ? "SELECT state, COUNT(*) FROM jobs GROUP BY state"
                              : "SELECT state, COUNT(*) FROM jobs WHERE owner = ? GROUP BY state");
    if (!owner.empty()) s.Bind(1, owner);
    while (s.Step() == SQLITE_ROW) counts[s.Text(0)] = s.Int(1);
    return counts;
  }

  Result<std::optional<Job>> Lease(const std::string& worker_id, const std::string& host,
                                   double lease_seconds,
                                   const std::vector<std::string>& worker_tags) override {
    std::lock_guard lock(mu_);
    double now = NowSeconds();
    Transaction tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    // A job whose tags are not all the worker's is left for another worker.
    Stmt pick(db_,
              "SELECT id, attempts FROM jobs WHERE state = 'queued' AND NOT EXISTS (SELECT 1 "
              "FROM json_each(jobs.tags) AS t WHERE t.value NOT IN (SELECT value FROM "
              "json_each(?))) ORDER BY priority DESC, seq LIMIT 1");
    pick.Bind(1, json(worker_tags).dump());
    if (pick.Step() != SQLITE_ROW) return std::optional<Job>();
    std::string id = pick.Text(0);
    int attempt = static_cast<int>(pick.Int(1)) + 1;
    Stmt up(db_,
            "UPDATE jobs SET state = 'running', attempts = ?, lease_owner = ?, "
            "lease_expires_at = ?, started_at = COALESCE(started_at, ?), updated_at = ?, "
            "cancel_requested = 0 WHERE id = ? AND state = 'queued'");
    up.Bind(1, attempt).Bind(2, worker_id).Bind(3, now + lease_seconds).Bind(4, now);
    up.Bind(5, now).Bind(6, id);
    if (up.Step() != SQLITE_DONE) return SqlError(db_, "lease");
    Stmt at(db_,
            "INSERT INTO attempts (job_id, number, worker_id, host, started_at, outcome) "
            "VALUES (?, ?, ?, ?, ?, 'running')");
    at.Bind(1, id).Bind(2, attempt).Bind(3, worker_id).Bind(4, host).Bind(5, now);
    if (at.Step() != SQLITE_DONE) return SqlError(db_, "lease attempt");
    REEL_RETURN_IF_ERROR(EnqueueWebhookLocked(id, "running"));
    REEL_RETURN_IF_ERROR(tx.Commit());
    Result<Job> job = GetJobLocked(id);
    if (!job.ok()) return job.status();
    return std::optional<Job>(*job);
  }

  Status Renew(const std::string& job_id, const std::string& worker_id, double lease_seconds,
               bool* cancel_requested) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND "
           "state = 'running' RETURNING cancel_requested");
    s.Bind(1, NowSeconds() + lease_seconds).Bind(2, job_id).Bind(3, worker_id);
    int rc = s.Step();
    if (rc == SQLITE_ROW) {
      *cancel_requested = s.Int(0) != 0;
      return Status::Ok();
    }
    if (rc == SQLITE_DONE) return NotFound("lease on " + job_id + " is no longer held");
    return SqlError(db_, "renew");
  }

  Status SaveProgress(const std::string& job_id, const std::string& worker_id,
                      const json& progress) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND "
           "state = 'running'");
    s.Bind(1, progress.dump()).Bind(2, NowSeconds()).Bind(3, job_id).Bind(4, worker_id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "progress");
    return Status::Ok();
  }

  Result<Job> FinishAttempt(const std::string& job_id, const std::string& worker_id, AttemptEnd end,
                            const std::string& outcome, const std::string& error,
                            const json& result) override {
    std::lock_guard lock(mu_);
    // The lease is checked inside the transaction: a worker that lost it writes nothing.
    Transaction tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    Result<Job> job = GetJobLocked(job_id);
    if (!job.ok()) return job;
    if (job->state != JobState::kRunning || job->lease_owner != worker_id)
      return NotFound("lease on " + job_id + " is no longer held by " + worker_id);
    double now = NowSeconds();
    Transition t = NextState(*job, end, error);
    JobState next = t.next;
    REEL_RETURN_IF_ERROR(EndAttempt(job_id, outcome, error, now));
    Stmt s(db_,
           "UPDATE jobs SET state = ?, attempts = ?, lease_owner = NULL, lease_expires_at = NULL, "
           "error = ?, result = ?, updated_at = ?, finished_at = ?, progress = CASE WHEN ? "
           "THEN json_set(progress, '$.fraction', 1.0) ELSE progress END WHERE id = ?");
    s.Bind(1, StateName(next)).Bind(2, t.attempts).BindOptional(3, t.error);
    if (result.is_null())
      s.BindNull(4);
    else
      s.Bind(4, result.dump());
    s.Bind(5, now);
    if (IsFinished(next))
      s.Bind(6, now);
    else
      s.BindNull(6);
    s.Bind(7, next == JobState::kSucceeded ? 1 : 0).Bind(8, job_id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "finish attempt");
    if (IsFinished(next)) REEL_RETURN_IF_ERROR(EnqueueWebhookLocked(job_id, StateName(next)));
    REEL_RETURN_IF_ERROR(tx.Commit());
    return GetJobLocked(job_id);
  }

  Result<std::vector<std::string>> ExpireLeases() override {
    std::lock_guard lock(mu_);
    double now = NowSeconds();
    std::vector<std::string> touched;
    Transaction tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    Stmt s(db_,
           "SELECT id, attempts, max_attempts, cancel_requested FROM jobs "
           "WHERE state = 'running' AND lease_expires_at < ?");
    s.Bind(1, now);
    struct Expired {
      std::string id;
      int attempts, max_attempts;
      bool cancel;
    };
    std::vector<Expired> expired;
    while (s.Step() == SQLITE_ROW)
      expired.push_back({s.Text(0), int(s.Int(1)), int(s.Int(2)), s.Int(3) != 0});
    for (const Expired& e : expired) {
      std::string error = "the worker running attempt " + std::to_string(e.attempts) +
                          " stopped heartbeating (lease expired)";
      REEL_RETURN_IF_ERROR(EndAttempt(e.id, "lease_expired", error, now));
      Job job;
      job.attempts = e.attempts;
      job.max_attempts = e.max_attempts;
      Transition t =
          NextState(job, e.cancel ? AttemptEnd::kCanceled : AttemptEnd::kFailedRetryable, error);
      JobState next = t.next;
      Stmt up(db_,
              "UPDATE jobs SET state = ?, lease_owner = NULL, lease_expires_at = NULL, "
              "error = ?, updated_at = ?, finished_at = ? WHERE id = ?");
      up.Bind(1, StateName(next)).Bind(2, t.error).Bind(3, now);
      if (IsFinished(next))
        up.Bind(4, now);
      else
        up.BindNull(4);
      up.Bind(5, e.id);
      if (up.Step() != SQLITE_DONE) return SqlError(db_, "expire lease");
      if (IsFinished(next)) REEL_RETURN_IF_ERROR(EnqueueWebhookLocked(e.id, StateName(next)));
      touched.push_back(e.id);
    }
    REEL_RETURN_IF_ERROR(tx.Commit());
    return touched;
  }

  Result<int64_t> DeleteFinishedBefore(double before) override {
    std::lock_guard lock(mu_);
    Transaction tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    for (const char* table : {"attempts", "webhooks"}) {
      std::string sql = std::string("DELETE FROM ") + table +
                        " WHERE job_id IN (SELECT id FROM jobs WHERE state IN "
                        "('succeeded','failed','canceled') AND finished_at < ?)";
      Stmt a(db_, sql.c_str());
      a.Bind(1, before);
      if (a.Step() != SQLITE_DONE) return SqlError(db_, "retention");
    }
    Stmt j(db_,
           "DELETE FROM jobs WHERE state IN ('succeeded','failed','canceled') AND "
           "finished_at < ?");
    j.Bind(1, before);
    if (j.Step() != SQLITE_DONE) return SqlError(db_, "retention");
    int64_t n = sqlite3_changes(db_);
    REEL_RETURN_IF_ERROR(tx.Commit());
    return n;
  }

  Result<ApiKey> CreateKey(const std::string& name, const std::string& hash, bool admin,
                           const std::string& webhook_secret) override {
    std::lock_guard lock(mu_);
    ApiKey k{"key_" + RandomHex(6), name, hash, admin, NowSeconds(), false};
    Stmt s(db_,
           "INSERT INTO api_keys (id, name, hash, admin, created_at, webhook_secret) "
           "VALUES (?,?,?,?,?,?)");
    s.Bind(1, k.id).Bind(2, name).Bind(3, hash).Bind(4, admin ? 1 : 0).Bind(5, k.created_at);
    s.Bind(6, webhook_secret);
    int rc = s.Step();
    if (rc == SQLITE_CONSTRAINT) return FailedPrecondition("a key named '" + name + "' exists");
    if (rc != SQLITE_DONE) return SqlError(db_, "create key");
    return k;
  }

  Result<ApiKey> FindKeyByHash(const std::string& hash) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "SELECT id, name, hash, admin, created_at, revoked_at IS NOT NULL FROM api_keys "
           "WHERE hash = ?");
    s.Bind(1, hash);
    if (s.Step() != SQLITE_ROW) return NotFound("unknown API key");
    return ApiKey{s.Text(0), s.Text(1), s.Text(2), s.Int(3) != 0, s.Double(4), s.Int(5) != 0};
  }

  Result<std::vector<ApiKey>> ListKeys() override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "SELECT id, name, hash, admin, created_at, revoked_at IS NOT NULL FROM api_keys "
           "ORDER BY created_at");
    std::vector<ApiKey> keys;
    while (s.Step() == SQLITE_ROW)
      keys.push_back({s.Text(0), s.Text(1), s.Text(2), s.Int(3) != 0, s.Double(4), s.Int(5) != 0});
    return keys;
  }

  Status RevokeKey(const std::string& id_or_name) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "UPDATE api_keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL");
    s.Bind(1, NowSeconds()).Bind(2, id_or_name).Bind(3, id_or_name);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "revoke key");
    if (sqlite3_changes(db_) == 0) return NotFound("no active key '" + id_or_name + "'");
    return Status::Ok();
  }

  Status HeartbeatWorker(const WorkerInfo& w) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "INSERT INTO workers (id, host, version, capacity, running, started_at, "
           "last_heartbeat) VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
           "capacity = excluded.capacity, running = excluded.running, "
           "last_heartbeat = excluded.last_heartbeat");
    s.Bind(1, w.id).Bind(2, w.host).Bind(3, w.version).Bind(4, w.capacity);
    s.Bind(5, json(w.running_jobs).dump()).Bind(6, w.started_at).Bind(7, NowSeconds());
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "worker heartbeat");
    return Status::Ok();
  }

  Status RemoveWorker(const std::string& id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM workers WHERE id = ?");
    s.Bind(1, id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "remove worker");
    return Status::Ok();
  }

  Result<std::vector<WorkerInfo>> ListWorkers() override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "SELECT id, host, version, capacity, running, started_at, last_heartbeat FROM workers "
           "ORDER BY started_at");
    std::vector<WorkerInfo> out;
    while (s.Step() == SQLITE_ROW) {
      WorkerInfo w{s.Text(0), s.Text(1), s.Text(2), int(s.Int(3)), {}, s.Double(5), s.Double(6)};
      json running = ParseJsonOr(s.Text(4), json::array());
      for (const auto& r : running)
        if (r.is_string()) w.running_jobs.push_back(r.get<std::string>());
      out.push_back(std::move(w));
    }
    return out;
  }

  Result<std::string> WebhookSecret(const std::string& key_id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT webhook_secret FROM api_keys WHERE id = ?");
    s.Bind(1, key_id);
    if (s.Step() != SQLITE_ROW) return NotFound("no key " + key_id);
    return s.Text(0);
  }

  Result<std::string> RotateWebhookSecret(const std::string& id_or_name,
                                          const std::string& secret) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "UPDATE api_keys SET webhook_secret = ? WHERE id = ? OR name = ?");
    s.Bind(1, secret).Bind(2, id_or_name).Bind(3, id_or_name);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "rotate secret");
    if (sqlite3_changes(db_) == 0) return NotFound("no key '" + id_or_name + "'");
    return secret;
  }

  Result<std::vector<WebhookDelivery>> DueWebhooks(double now, int limit,
                                                   double hold_seconds) override {
    std::lock_guard lock(mu_);
    std::string sql = std::string(
                          "UPDATE webhooks SET next_attempt_at = ? WHERE id IN (SELECT id "
                          "FROM webhooks w WHERE delivered_at IS NULL AND gave_up = 0 AND "
                          "next_attempt_at <= ? AND NOT EXISTS (SELECT 1 FROM webhooks e "
                          "WHERE e.job_id = w.job_id AND e.id < w.id AND e.delivered_at "
                          "IS NULL AND e.gave_up = 0) ORDER BY next_attempt_at LIMIT ?) "
                          "RETURNING ") +
                      kWebhookColumns;
    Stmt s(db_, sql.c_str());
    s.Bind(1, now + hold_seconds).Bind(2, now).Bind(3, limit);
    std::vector<WebhookDelivery> out;
    while (s.Step() == SQLITE_ROW) out.push_back(ReadWebhook(s));
    std::sort(out.begin(), out.end(), [](const WebhookDelivery& a, const WebhookDelivery& b) {
      return a.id < b.id;  // RETURNING has no order; deliveries go out in the order queued
    });
    return out;
  }

  Status RecordWebhookAttempt(int64_t id, int status, const std::string& error, bool delivered,
                              double next_attempt_at, bool give_up) override {
    std::lock_guard lock(mu_);
    double now = NowSeconds();
    json entry = {{"at", now}, {"status", status}};
    if (!error.empty()) entry["error"] = error;
    Stmt s(db_,
           "UPDATE webhooks SET attempts = attempts + 1, next_attempt_at = ?, delivered_at = ?, "
           "gave_up = ?, attempt_log = json_insert(attempt_log, '$[#]', json(?)) WHERE id = ?");
    s.Bind(1, next_attempt_at);
    if (delivered)
      s.Bind(2, now);
    else
      s.BindNull(2);
    s.Bind(3, give_up ? 1 : 0).Bind(4, entry.dump()).Bind(5, id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "webhook attempt");
    // The job's later deliveries wait for this one: parked until its retry, so that polls do
    // not keep scanning them; released as soon as it is through.
    bool through = delivered || give_up;
    Stmt later(db_, through
                        ? "UPDATE webhooks SET next_attempt_at = MIN(next_attempt_at, ?) "
                          "WHERE job_id = (SELECT job_id FROM webhooks WHERE id = ?) AND id > ? "
                          "AND delivered_at IS NULL AND gave_up = 0"
                        : "UPDATE webhooks SET next_attempt_at = MAX(next_attempt_at, ?) "
                          "WHERE job_id = (SELECT job_id FROM webhooks WHERE id = ?) AND id > ? "
                          "AND delivered_at IS NULL AND gave_up = 0");
    later.Bind(1, through ? now : next_attempt_at).Bind(2, id).Bind(3, id);
    if (later.Step() != SQLITE_DONE) return SqlError(db_, "webhook attempt");
    return Status::Ok();
  }

  Result<std::vector<WebhookDelivery>> ListWebhooks(const std::string& job_id) override {
    std::lock_guard lock(mu_);
    std::string sql =
        std::string("SELECT ") + kWebhookColumns + " FROM webhooks WHERE job_id = ? ORDER BY id";
    Stmt s(db_, sql.c_str());
    s.Bind(1, job_id);
    std::vector<WebhookDelivery> out;
    while (s.Step() == SQLITE_ROW) out.push_back(ReadWebhook(s));
    return out;
  }

  Status Ping() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT 1");
    if (s.Step() != SQLITE_ROW) return SqlError(db_, "ping");
    return Status::Ok();
  }

 private:
  class Transaction {
   public:
    explicit Transaction(SqliteStore* store) : store_(store) {
      status_ = store_->Exec("BEGIN IMMEDIATE");
    }
    ~Transaction() {
      if (status_.ok() && !done_) store_->Exec("ROLLBACK");
    }
    const Status& status() const { return status_; }
    Status Commit() {
      done_ = true;
      return store_->Exec("COMMIT");
    }

   private:
    SqliteStore* store_;
    Status status_;
    bool done_ = false;
  };

  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      StatusCode code =
          sqlite3_errcode(db_) == SQLITE_BUSY ? StatusCode::kUnavailable : StatusCode::kInternal;
      return Status(code, std::string("sqlite: ") + msg);
    }
    return Status::Ok();
  }

  Status Migrate() {
    REEL_RETURN_IF_ERROR(Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)"));
    Transaction tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    Stmt v(db_, "SELECT version FROM schema_version");
    int64_t version = v.Step() == SQLITE_ROW ? v.Int(0) : -1;
    if (version < 0) {
      REEL_RETURN_IF_ERROR(Exec("INSERT INTO schema_version VALUES (0)"));
      version = 0;
    }
    int64_t target = static_cast<int64_t>(std::size(kMigrations));
    if (version > target)
      return FailedPrecondition("the store's schema (v" + std::to_string(version) +
                                ") is newer than this reel (v" + std::to_string(target) + ")");
    for (int64_t i = version; i < target; ++i) REEL_RETURN_IF_ERROR(Exec(kMigrations[i]));
    Stmt set(db_, "UPDATE schema_version SET version = ?");
    set.Bind(1, target);
    if (set.Step() != SQLITE_DONE) return SqlError(db_, "migrate");
    return tx.Commit();
  }

  Status EndAttempt(const std::string& job_id, const std::string& outcome, const std::string& error,
                    double now) {
    Stmt s(db_,
           "UPDATE attempts SET ended_at = ?, outcome = ?, error = ? WHERE seq = (SELECT MAX(seq) "
           "FROM attempts WHERE job_id = ?) AND ended_at IS NULL");
    s.Bind(1, now).Bind(2, outcome).BindOptional(3, error).Bind(4, job_id);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "end attempt");
    return Status::Ok();
  }

  // The outbox: a job whose spec asks for webhooks gets a row per subscribed event, written in
  // the transaction that changes its state, so no state change is ever lost to a crash.
  Status EnqueueWebhookLocked(const std::string& job_id, const std::string& event) {
    Result<Job> job = GetJobLocked(job_id);
    if (!job.ok()) return job.status();
    auto hook = WebhookFor(*job, event);
    if (!hook) return Status::Ok();
    double now = NowSeconds();
    Stmt s(db_,
           "INSERT INTO webhooks (job_id, owner, url, event, payload, created_at, "
           "next_attempt_at) VALUES (?,?,?,?,?,?,?)");
    s.Bind(1, job->id).Bind(2, job->owner).Bind(3, hook->first);
    s.Bind(4, event).Bind(5, hook->second).Bind(6, now).Bind(7, now);
    if (s.Step() != SQLITE_DONE) return SqlError(db_, "enqueue webhook");
    return Status::Ok();
  }

  Result<Job> GetJobLocked(const std::string& id) {
    std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?";
    Stmt s(db_, sql.c_str());
    s.Bind(1, id);
    int rc = s.Step();
    if (rc == SQLITE_DONE) return NotFound("no job " + id);
    if (rc != SQLITE_ROW) return SqlError(db_, "get job");
    Job job = ReadJob(s);
    Stmt a(db_,
           "SELECT number, worker_id, host, started_at, ended_at, outcome, error FROM attempts "
           "WHERE job_id = ? ORDER BY seq");
    a.Bind(1, id);
    while (a.Step() == SQLITE_ROW)
      job.attempt_log.push_back(
          {int(a.Int(0)), a.Text(1), a.Text(2), a.Double(3), a.Double(4), a.Text(5), a.Text(6)});
    return job;
  }

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<JobStore>> OpenSqliteStore(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Unavailable("cannot open store " + path + ": " + msg);
  }
  auto store = std::make_unique<SqliteStore>(db);
  Status s = store->Init();
  if (!s.ok()) return s.WithContext("store " + path);
  return std::unique_ptr<JobStore>(std::move(store));
}

}  // namespace reel::store
