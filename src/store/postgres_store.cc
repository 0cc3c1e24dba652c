// JobStore on PostgreSQL, for workers on many hosts sharing one queue. Leasing takes the next
// job with SELECT ... FOR UPDATE SKIP LOCKED, so concurrent workers never block each other or
// take the same job; a NOTIFY on every queued job wakes idle workers (LISTEN) at once.
// One connection per store, serialised by a mutex, re-established with backoff when it drops.
#include <libpq-fe.h>
#include <sys/select.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include "common/crypto.h"
#include "store/job_store.h"

namespace reel::store {
namespace {

using nlohmann::json;

const char* const kMigrations[] = {
    R"sql(
CREATE TABLE jobs (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  state TEXT NOT NULL,
  spec TEXT NOT NULL,
  progress TEXT NOT NULL DEFAULT '{}',
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  created_at DOUBLE PRECISION NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL,
  started_at DOUBLE PRECISION,
  finished_at DOUBLE PRECISION,
  error TEXT,
  result TEXT,
  cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
  lease_owner TEXT,
  lease_expires_at DOUBLE PRECISION,
  idempotency_key TEXT,
  request_hash TEXT,
  priority INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_state ON jobs(state, priority DESC, seq);
CREATE INDEX jobs_by_owner ON jobs(owner, seq);
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs(owner, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE TABLE attempts (
  seq BIGSERIAL PRIMARY KEY,
  job_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  host TEXT NOT NULL,
  started_at DOUBLE PRECISION NOT NULL,
  ended_at DOUBLE PRECISION,
  outcome TEXT NOT NULL,
  error TEXT
);
CREATE INDEX attempts_by_job ON attempts(job_id, seq);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL UNIQUE,
  admin BOOLEAN NOT NULL,
  created_at DOUBLE PRECISION NOT NULL,
  revoked_at DOUBLE PRECISION,
  webhook_secret TEXT NOT NULL DEFAULT ''
);
CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  version TEXT NOT NULL,
  capacity INTEGER NOT NULL,
  running TEXT NOT NULL,
  started_at DOUBLE PRECISION NOT NULL,
  last_heartbeat DOUBLE PRECISION NOT NULL
);
CREATE TABLE webhooks (
  id BIGSERIAL PRIMARY KEY,
  job_id TEXT NOT NULL,
  owner TEXT NOT NULL,
  url TEXT NOT NULL,
  event TEXT NOT NULL,
  payload TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at DOUBLE PRECISION NOT NULL,
  next_attempt_at DOUBLE PRECISION NOT NULL,
  delivered_at DOUBLE PRECISION,
  gave_up BOOLEAN NOT NULL DEFAULT FALSE,
  attempt_log TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX webhooks_due ON webhooks(next_attempt_at) WHERE delivered_at IS NULL AND NOT gave_up;
CREATE INDEX webhooks_by_job ON webhooks(job_id, id);
)sql",
    R"sql(
ALTER TABLE jobs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
)sql",
};

constexpr double kIdempotencyWindow = 24 * 3600;
constexpr const char* kJobColumns =
    "id, owner, state, spec, progress, attempts, max_attempts, created_at, updated_at, "
    "started_at, finished_at, error, result, cancel_requested, lease_owner, lease_expires_at, "
    "priority";
constexpr const char* kWebhookColumns =
    "id, job_id, owner, url, event, payload, attempts, created_at, next_attempt_at, "
    "delivered_at, gave_up, attempt_log";

// A parameter: text, or SQL NULL.
struct Param {
  bool null = false;
  std::string text;
  Param() : null(true) {}
  Param(std::string s) : text(std::move(s)) {}  // NOLINT
  Param(const char* s) : text(s) {}             // NOLINT
  Param(double v) : text(std::to_string(v)) {   // NOLINT
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.6f", v);
    text = buf;
  }
  Param(int v) : text(std::to_string(v)) {}      // NOLINT
  Param(int64_t v) : text(std::to_string(v)) {}  // NOLINT
  Param(bool v) : text(v ? "true" : "false") {}  // NOLINT
  static Param Optional(const std::string& s) { return s.empty() ? Param() : Param(s); }
};

class Rows {
 public:
  explicit Rows(PGresult* r) : r_(r) {}
  ~Rows() { PQclear(r_); }
  Rows(Rows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Rows(const Rows&) = delete;
  int size() const { return PQntuples(r_); }
  std::string Text(int row, int col) const {
    return PQgetisnull(r_, row, col) ? "" : PQgetvalue(r_, row, col);
  }
  double Double(int row, int col) const {
    return PQgetisnull(r_, row, col) ? 0 : std::atof(PQgetvalue(r_, row, col));
  }
  int64_t Int(int row, int col) const {
    return PQgetisnull(r_, row, col) ? 0 : std::atoll(PQgetvalue(r_, row, col));
  }
  bool Bool(int row, int col) const { return Text(row, col) == "t"; }

 private:
  PGresult* r_;
};

Job ReadJob(const Rows& r, int i) {
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
  return j;
}

WebhookDelivery ReadWebhook(const Rows& r, int i) {
  WebhookDelivery w;
  w.id = r.Int(i, 0);
  w.job_id = r.Text(i, 1);
  w.owner = r.Text(i, 2);
  w.url = r.Text(i, 3);
  w.event = r.Text(i, 4);
  w.payload = r.Text(i, 5);
  w.attempts = static_cast<int>(r.Int(i, 6));
  w.created_at = r.Double(i, 7);
  w.next_attempt_at = r.Double(i, 8);
  w.delivered_at = r.Double(i, 9);
  w.gave_up = r.Bool(i, 10);
  w.attempt_log = ParseJsonOr(r.Text(i, 11), json::array());
  return w;
}

class PostgresStore : public JobStore {
 public:
  explicit PostgresStore(std::string url) : url_(std::move(url)) {}
  ~PostgresStore() override {
    if (conn_) PQfinish(conn_);
    if (listen_) PQfinish(listen_);
  }

  Status Init() {
    std::lock_guard lock(mu_);
    REEL_RETURN_IF_ERROR(ConnectLocked());
    // Several processes may start at once: one migrates, the others wait for it.
    REEL_RETURN_IF_ERROR(Exec("SELECT pg_advisory_lock(1919247724)").status());
    Status s = MigrateLocked();
    Exec("SELECT pg_advisory_unlock(1919247724)");
    return s;
  }

  Result<Job> CreateJob(const NewJob& nj, bool* existed) override {
    std::lock_guard lock(mu_);
    *existed = false;
    double now = NowSeconds();
    Tx tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    if (!nj.idempotency_key.empty()) {
      Result<Rows> r = Exec(
          "SELECT id, request_hash, created_at FROM jobs WHERE owner = $1 AND idempotency_key = $2 "
          "FOR UPDATE",
          {nj.owner, nj.idempotency_key});
      if (!r.ok()) return r.status();
      if (r->size() > 0) {
        std::string id = r->Text(0, 0);
        if (now - r->Double(0, 2) < kIdempotencyWindow) {
          if (r->Text(0, 1) != nj.request_hash)
            return FailedPrecondition(
                "Idempotency-Key was already used with a different request body");
          *existed = true;
          return GetJobLocked(id);
        }
        REEL_RETURN_IF_ERROR(
            Exec("UPDATE jobs SET idempotency_key = NULL WHERE id = $1", {id}).status());
      }
    }
    std::string id = "job_" + RandomHex(12);
    REEL_RETURN_IF_ERROR(
        Exec("INSERT INTO jobs (id, owner, state, spec, max_attempts, created_at, updated_at, "
             "idempotency_key, request_hash, priority, tags) VALUES ($1, $2, 'queued', $3, $4, $5, "
             "$6, $7, $8, $9, $10)",
             {id, nj.owner, nj.spec.dump(), nj.max_attempts, now, now,
              Param::Optional(nj.idempotency_key), Param::Optional(nj.request_hash), nj.priority,
              json(nj.tags).dump()})
            .status());
    REEL_RETURN_IF_ERROR(Exec("NOTIFY reel_jobs").status());
    REEL_RETURN_IF_ERROR(tx.Commit());
    return GetJobLocked(id);
  }

  Result<Job> GetJob(const std::string& id) override {
    std::lock_guard lock(mu_);
    return GetJobLocked(id);
  }

  Result<ListPage> ListJobs(const ListQuery& q) override {
    std::lock_guard lock(mu_);
    std::string sql = std::string("SELECT ") + kJobColumns + ", seq FROM jobs WHERE seq < $1";
    std::vector<Param> params = {
        q.cursor.empty() ? int64_t{INT64_MAX} : static_cast<int64_t>(std::atoll(q.cursor.c_str()))};
    if (!q.owner.empty()) {
      params.push_back(q.owner);
      sql += " AND owner = $" + std::to_string(params.size());
    }
    if (q.state) {
      params.push_back(StateName(*q.state));
      sql += " AND state = $" + std::to_string(params.size());
    }
    params.push_back(q.limit + 1);
    sql += " ORDER BY seq DESC LIMIT $" + std::to_string(params.size());
    Result<Rows> r = Exec(sql, params);
    if (!r.ok()) return r.status();
    ListPage page;
    for (int i = 0; i < r->size() && i < q.limit; ++i) page.jobs.push_back(ReadJob(*r, i));
    if (r->size() > q.limit) page.next_cursor = r->Text(q.limit - 1, 17);
    return page;
  }

  Result<Job> RequestCancel(const std::string& id) override {
    std::lock_guard lock(mu_);
    Tx tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    Result<Job> job = GetJobLocked(id, true);
    if (!job.ok()) return job;
    double now = NowSeconds();
    if (job->state == JobState::kQueued) {
      REEL_RETURN_IF_ERROR(
          Exec("UPDATE jobs SET state = 'canceled', finished_at = $1, updated_at = $1 "
               "WHERE id = $2",
               {now, id})
              .status());
      REEL_RETURN_IF_ERROR(EnqueueWebhookLocked(id, "canceled"));
    } else if (job->state == JobState::kRunning) {
      REEL_RETURN_IF_ERROR(
          Exec("UPDATE jobs SET cancel_requested = TRUE, updated_at = $1 WHERE id = $2", {now, id})
              .status());
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
    // Guarded in the UPDATE: another node may have retried it (and a worker taken it) since.
    Result<Rows> r = Exec(
        "UPDATE jobs SET state = 'queued', attempts = 0, error = NULL, result = NULL, "
        "progress = '{}', cancel_requested = FALSE, finished_at = NULL, updated_at = $1 "
        "WHERE id = $2 AND state IN ('failed', 'canceled') RETURNING id",
        {NowSeconds(), id});
    if (!r.ok()) return r.status();
    if (r->size() == 0)
      return FailedPrecondition(
          "only failed or canceled jobs can be retried; this one is no "
          "longer failed or canceled");
    Exec("NOTIFY reel_jobs");
    return GetJobLocked(id);
  }

  Status DeleteJob(const std::string& id) override {
    std::lock_guard lock(mu_);
    Result<Job> job = GetJobLocked(id);
    if (!job.ok()) return job.status();
    if (!IsFinished(job->state))
      return FailedPrecondition("job is " + std::string(StateName(job->state)) +
                                "; cancel it before deleting it");
    Tx tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    for (const char* table : {"webhooks", "attempts", "jobs"}) {
      std::string sql = std::string("DELETE FROM ") + table +
                        (std::string(table) == "jobs" ? " WHERE id = $1" : " WHERE job_id = $1");
      REEL_RETURN_IF_ERROR(Exec(sql, {id}).status());
    }
    return tx.Commit();
  }

  Result<std::map<std::string, int64_t>> CountByState(const std::string& owner) override {
    std::lock_guard lock(mu_);
    std::map<std::string, int64_t> counts;
    for (JobState st : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                        JobState::kFailed, JobState::kCanceled})
      counts[StateName(st)] = 0;
    Result<Rows> r =
        owner.empty()
            ? Exec("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            : Exec("SELECT state, COUNT(*) FROM jobs WHERE owner = $1 GROUP BY state", {owner});
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->size(); ++i) counts[r->Text(i, 0)] = r->Int(i, 1);
    return counts;
  }

  Result<std::optional<Job>> Lease(const std::string& worker_id, const std::string& host,
                                   double lease_seconds,
                                   const std::vector<std::string>& worker_tags) override {
    std::lock_guard lock(mu_);
    double now = NowSeconds();
    Tx tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    // SKIP LOCKED: a row another worker is taking is passed over, not waited for.
    Result<Rows> r = Exec(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, "
        "lease_expires_at = $2, started_at = COALESCE(started_at, $3), updated_at = $3, "
        "cancel_requested = FALSE WHERE seq = (SELECT seq FROM jobs WHERE state = 'queued' "
        "AND tags::jsonb <@ $4::jsonb "  // every job tag is one of the worker's
        "ORDER BY priority DESC, seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, attempts",
        {worker_id, now + lease_seconds, now, json(worker_tags).dump()});
    if (!r.ok()) return r.status();
    if (r->size() == 0) return std::optional<Job>();
    std::string id = r->Text(0, 0);
    REEL_RETURN_IF_ERROR(Exec("INSERT INTO attempts (job_id, number, worker_id, host, started_at, "
                              "outcome) VALUES ($1, $2, $3, $4, $5, 'running')",
                              {id, static_cast<int>(r->Int(0, 1)), worker_id, host, now})
                             .status());
    REEL_RETURN_IF_ERROR(EnqueueWebhookLocked(id, "running"));
    REEL_RETURN_IF_ERROR(tx.Commit());
    Result<Job> job = GetJobLocked(id);
    if (!job.ok()) return job.status();
    return std::optional<Job>(*job);
  }

  Status Renew(const std::string& job_id, const std::string& worker_id, double lease_seconds,
               bool* cancel_requested) override {
    std::lock_guard lock(mu_);
    Result<Rows> r = Exec(
        "UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND "
        "state = 'running' RETURNING cancel_requested",
        {NowSeconds() + lease_seconds, job_id, worker_id});
    if (!r.ok()) return r.status();
    if (r->size() == 0) return NotFound("lease on " + job_id + " is no longer held");
    *cancel_requested = r->Bool(0, 0);
    return Status::Ok();
  }

  Status SaveProgress(const std::string& job_id, const std::string& worker_id,
                      const json& progress) override {
    std::lock_guard lock(mu_);
    return Exec(
               "UPDATE jobs SET progress = $1, updated_at = $2 WHERE id = $3 AND "
               "lease_owner = $4 AND state = 'running'",
               {progress.dump(), NowSeconds(), job_id, worker_id})
        .status();
  }

  Result<Job> FinishAttempt(const std::string& job_id, const std::string& worker_id, AttemptEnd end,
                            const std::string& outcome, const std::string& error,
                            const json& result) override {
    std::lock_guard lock(mu_);
    Tx tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    Result<Job> job = GetJobLocked(job_id, true);
    if (!job.ok()) return job;
    // The lease is checked under the row lock: a worker that lost it writes nothing.
    if (job->state != JobState::kRunning || job->lease_owner != worker_id)
      return NotFound("lease on " + job_id + " is no longer held by " + worker_id);
    double now = NowSeconds();
    Transition t = NextState(*job, end, error);
    REEL_RETURN_IF_ERROR(EndAttempt(job_id, outcome, error, now));
    json progress = job->progress;
    if (t.next == JobState::kSucceeded) progress["fraction"] = 1.0;
    REEL_RETURN_IF_ERROR(
        Exec("UPDATE jobs SET state = $1, attempts = $2, lease_owner = NULL, "
             "lease_expires_at = NULL, error = $3, result = $4, updated_at = $5, finished_at = $6, "
             "progress = $7 WHERE id = $8",
             {StateName(t.next), t.attempts, Param::Optional(t.error),
              result.is_null() ? Param() : Param(result.dump()), now,
              IsFinished(t.next) ? Param(now) : Param(), progress.dump(), job_id})
            .status());
    if (IsFinished(t.next)) REEL_RETURN_IF_ERROR(EnqueueWebhookLocked(job_id, StateName(t.next)));
    if (t.next == JobState::kQueued) Exec("NOTIFY reel_jobs");
    REEL_RETURN_IF_ERROR(tx.Commit());
    return GetJobLocked(job_id);
  }

  Result<std::vector<std::string>> ExpireLeases() override {
    std::lock_guard lock(mu_);
    double now = NowSeconds();
    Tx tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    Result<Rows> r = Exec(
        "SELECT id, attempts, max_attempts, cancel_requested FROM jobs WHERE state = 'running' AND "
        "lease_expires_at < $1 FOR UPDATE SKIP LOCKED",
        {now});
    if (!r.ok()) return r.status();
    std::vector<std::string> touched;
    for (int i = 0; i < r->size(); ++i) {
      std::string id = r->Text(i, 0);
      int attempts = static_cast<int>(r->Int(i, 1)), max_attempts = static_cast<int>(r->Int(i, 2));
      std::string error = "the worker running attempt " + std::to_string(attempts) +
                          " stopped heartbeating (lease expired)";
      REEL_RETURN_IF_ERROR(EndAttempt(id, "lease_expired", error, now));
      Job job;
      job.attempts = attempts;
      job.max_attempts = max_attempts;
      Transition t = NextState(
          job, r->Bool(i, 3) ? AttemptEnd::kCanceled : AttemptEnd::kFailedRetryable, error);
      JobState next = t.next;
      REEL_RETURN_IF_ERROR(
          Exec("UPDATE jobs SET state = $1, lease_owner = NULL, "
               "lease_expires_at = NULL, error = $2, updated_at = $3, "
               "finished_at = $4 WHERE id = $5",
               {StateName(next), t.error, now, IsFinished(next) ? Param(now) : Param(), id})
              .status());
      if (IsFinished(next)) REEL_RETURN_IF_ERROR(EnqueueWebhookLocked(id, StateName(next)));
      touched.push_back(id);
    }
    if (!touched.empty()) Exec("NOTIFY reel_jobs");
    REEL_RETURN_IF_ERROR(tx.Commit());
    return touched;
  }

  Result<int64_t> DeleteFinishedBefore(double before) override {
    std::lock_guard lock(mu_);
    Tx tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    for (const char* table : {"attempts", "webhooks"}) {
      std::string sql = std::string("DELETE FROM ") + table +
                        " WHERE job_id IN (SELECT id FROM jobs WHERE state IN "
                        "('succeeded','failed','canceled') AND finished_at < $1)";
      REEL_RETURN_IF_ERROR(Exec(sql, {before}).status());
    }
    Result<Rows> r = Exec(
        "DELETE FROM jobs WHERE state IN ('succeeded','failed','canceled') AND finished_at < $1 "
        "RETURNING id",
        {before});
    if (!r.ok()) return r.status();
    int64_t n = r->size();
    REEL_RETURN_IF_ERROR(tx.Commit());
    return n;
  }

  Result<ApiKey> CreateKey(const std::string& name, const std::string& hash, bool admin,
                           const std::string& webhook_secret) override {
    std::lock_guard lock(mu_);
    ApiKey k{"key_" + RandomHex(6), name, hash, admin, NowSeconds(), false};
    Result<Rows> r = Exec(
        "INSERT INTO api_keys (id, name, hash, admin, created_at, webhook_secret) VALUES "
        "($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING RETURNING id",
        {k.id, name, hash, admin, k.created_at, webhook_secret});
    if (!r.ok()) return r.status();
    if (r->size() == 0) return FailedPrecondition("a key named '" + name + "' exists");
    return k;
  }

  Result<ApiKey> FindKeyByHash(const std::string& hash) override {
    std::lock_guard lock(mu_);
    Result<Rows> r = Exec(
        "SELECT id, name, hash, admin, created_at, revoked_at IS NOT NULL FROM api_keys WHERE "
        "hash = $1",
        {hash});
    if (!r.ok()) return r.status();
    if (r->size() == 0) return NotFound("unknown API key");
    return ApiKey{r->Text(0, 0), r->Text(0, 1),   r->Text(0, 2),
                  r->Bool(0, 3), r->Double(0, 4), r->Bool(0, 5)};
  }

  Result<std::vector<ApiKey>> ListKeys() override {
    std::lock_guard lock(mu_);
    Result<Rows> r = Exec(
        "SELECT id, name, hash, admin, created_at, revoked_at IS NOT NULL FROM api_keys ORDER BY "
        "created_at");
    if (!r.ok()) return r.status();
    std::vector<ApiKey> keys;
    for (int i = 0; i < r->size(); ++i)
      keys.push_back({r->Text(i, 0), r->Text(i, 1), r->Text(i, 2), r->Bool(i, 3), r->Double(i, 4),
                      r->Bool(i, 5)});
    return keys;
  }

  Status RevokeKey(const std::string& id_or_name) override {
    std::lock_guard lock(mu_);
    Result<Rows> r = Exec(
        "UPDATE api_keys SET revoked_at = $1 WHERE (id = $2 OR name = $2) AND revoked_at IS NULL "
        "RETURNING id",
        {NowSeconds(), id_or_name});
    if (!r.ok()) return r.status();
    if (r->size() == 0) return NotFound("no active key '" + id_or_name + "'");
    return Status::Ok();
  }

  Result<std::string> WebhookSecret(const std::string& key_id) override {
    std::lock_guard lock(mu_);
    Result<Rows> r = Exec("SELECT webhook_secret FROM api_keys WHERE id = $1", {key_id});
    if (!r.ok()) return r.status();
    if (r->size() == 0) return NotFound("no key " + key_id);
    return r->Text(0, 0);
  }

  Result<std::string> RotateWebhookSecret(const std::string& id_or_name,
                                          const std::string& secret) override {
    std::lock_guard lock(mu_);
    Result<Rows> r =
        Exec("UPDATE api_keys SET webhook_secret = $1 WHERE id = $2 OR name = $2 RETURNING id",
             {secret, id_or_name});
    if (!r.ok()) return r.status();
    if (r->size() == 0) return NotFound("no key '" + id_or_name + "'");
    return secret;
  }

  Result<std::vector<WebhookDelivery>> DueWebhooks(double now, int limit,
                                                   double hold_seconds) override {
    std::lock_guard lock(mu_);
    // One statement claims them: rows another node is claiming are skipped, not waited for.
    Result<Rows> r =
        Exec(std::string("UPDATE webhooks SET next_attempt_at = $3 WHERE id IN ("
                         "SELECT id FROM webhooks w WHERE delivered_at IS NULL AND NOT "
                         "gave_up AND next_attempt_at <= $1 AND NOT EXISTS (SELECT 1 "
                         "FROM webhooks e WHERE e.job_id = w.job_id AND e.id < w.id "
                         "AND e.delivered_at IS NULL AND NOT e.gave_up) ORDER BY "
                         "next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING ") +
                 kWebhookColumns,
             {now, limit, now + hold_seconds});
    if (!r.ok()) return r.status();
    std::vector<WebhookDelivery> out;
    for (int i = 0; i < r->size(); ++i) out.push_back(ReadWebhook(*r, i));
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
    Tx tx(this);
    REEL_RETURN_IF_ERROR(tx.status());
    Result<Rows> r = Exec("SELECT attempt_log FROM webhooks WHERE id = $1 FOR UPDATE", {id});
    if (!r.ok()) return r.status();
    json log = r->size() ? ParseJsonOr(r->Text(0, 0), json::array()) : json::array();
    log.push_back(entry);
    REEL_RETURN_IF_ERROR(
        Exec("UPDATE webhooks SET attempts = attempts + 1, next_attempt_at = $1, "
             "delivered_at = $2, gave_up = $3, attempt_log = $4 WHERE id = $5",
             {next_attempt_at, delivered ? Param(now) : Param(), give_up, log.dump(), id})
            .status());
    // The job's later deliveries wait for this one: parked until its retry, so that polls do
    // not keep scanning them; released as soon as it is through.
    bool through = delivered || give_up;
    REEL_RETURN_IF_ERROR(
        Exec(std::string("UPDATE webhooks SET next_attempt_at = ") +
                 (through ? "LEAST" : "GREATEST") +
                 "(next_attempt_at, $1) WHERE job_id = (SELECT job_id FROM webhooks WHERE id = "
                 "$2) AND id > $2 AND delivered_at IS NULL AND NOT gave_up",
             {through ? now : next_attempt_at, id})
            .status());
    return tx.Commit();
  }

  Result<std::vector<WebhookDelivery>> ListWebhooks(const std::string& job_id) override {
    std::lock_guard lock(mu_);
    Result<Rows> r = Exec(
        std::string("SELECT ") + kWebhookColumns + " FROM webhooks WHERE job_id = $1 ORDER BY id",
        {job_id});
    if (!r.ok()) return r.status();
    std::vector<WebhookDelivery> out;
    for (int i = 0; i < r->size(); ++i) out.push_back(ReadWebhook(*r, i));
    return out;
  }

  Status HeartbeatWorker(const WorkerInfo& w) override {
    std::lock_guard lock(mu_);
    return Exec(
               "INSERT INTO workers (id, host, version, capacity, running, started_at, "
               "last_heartbeat) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE "
               "SET capacity = excluded.capacity, running = excluded.running, "
               "last_heartbeat = excluded.last_heartbeat",
               {w.id, w.host, w.version, w.capacity, json(w.running_jobs).dump(), w.started_at,
                NowSeconds()})
        .status();
  }

  Status RemoveWorker(const std::string& id) override {
    std::lock_guard lock(mu_);
    return Exec("DELETE FROM workers WHERE id = $1", {id}).status();
  }

  Result<std::vector<WorkerInfo>> ListWorkers() override {
    std::lock_guard lock(mu_);
    Result<Rows> r = Exec(
        "SELECT id, host, version, capacity, running, started_at, last_heartbeat FROM workers "
        "ORDER BY started_at");
    if (!r.ok()) return r.status();
    std::vector<WorkerInfo> out;
    for (int i = 0; i < r->size(); ++i) {
      WorkerInfo w{
          r->Text(i, 0),   r->Text(i, 1),  r->Text(i, 2), static_cast<int>(r->Int(i, 3)), {},
          r->Double(i, 5), r->Double(i, 6)};
      for (const auto& j : ParseJsonOr(r->Text(i, 4), json::array()))
        if (j.is_string()) w.running_jobs.push_back(j.get<std::string>());
      out.push_back(std::move(w));
    }
    return out;
  }

  Status Ping() override {
    std::lock_guard lock(mu_);
    return Exec("SELECT 1").status();
  }

  // LISTEN on a connection of its own; select() on its socket until a NOTIFY or the timeout.
  bool WaitForWork(double seconds) override {
    // bench/scale.sh measures what LISTEN/NOTIFY saves by turning it off.
    static const bool polling_only = std::getenv("REEL_BENCH_NO_LISTEN") != nullptr;
    if (polling_only) return JobStore::WaitForWork(seconds);
    std::lock_guard lock(listen_mu_);
    if (!listen_ || PQstatus(listen_) != CONNECTION_OK) {
      if (listen_) PQfinish(listen_);
      listen_ = PQconnectdb(url_.c_str());
      if (PQstatus(listen_) != CONNECTION_OK) {
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        return false;
      }
      PQclear(PQexec(listen_, "LISTEN reel_jobs"));
    }
    int fd = PQsocket(listen_);
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    timeval tv{static_cast<time_t>(seconds),
               static_cast<suseconds_t>((seconds - static_cast<int>(seconds)) * 1e6)};
    if (select(fd + 1, &set, nullptr, nullptr, &tv) <= 0) return false;
    PQconsumeInput(listen_);
    bool notified = false;
    while (PGnotify* n = PQnotifies(listen_)) {
      notified = true;
      PQfreemem(n);
    }
    return notified;
  }

 private:
  class Tx {
   public:
    explicit Tx(PostgresStore* s) : s_(s) { status_ = s_->Exec("BEGIN").status(); }
    ~Tx() {
      if (status_.ok() && !done_) s_->Exec("ROLLBACK");
    }
    const Status& status() const { return status_; }
    Status Commit() {
      done_ = true;
      return s_->Exec("COMMIT").status();
    }

   private:
    PostgresStore* s_;
    Status status_;
    bool done_ = false;
  };

  Status ConnectLocked() {
    // A lost connection is re-made with backoff (about 15 s in all) before giving up.
    for (int attempt = 0; attempt < 6; ++attempt) {
      if (conn_) PQfinish(conn_);
      conn_ = PQconnectdb(url_.c_str());
      if (PQstatus(conn_) == CONNECTION_OK) {
        PQclear(PQexec(conn_, "SET client_min_messages = warning"));
        return Status::Ok();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
    }
    return Unavailable(std::string("postgres: cannot connect: ") + PQerrorMessage(conn_));
  }

  Result<Rows> Exec(const std::string& sql, const std::vector<Param>& params = {}) {
    for (int round = 0; round < 2; ++round) {
      std::vector<const char*> values;
      for (const Param& p : params) values.push_back(p.null ? nullptr : p.text.c_str());
      PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                 values.data(), nullptr, nullptr, 0);
      ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Rows(r);
      std::string message = PQresultErrorMessage(r);
      PQclear(r);
      // The connection dropped: reconnect once, and retry unless inside a transaction (its
      // work is gone with the connection; the caller's transaction fails and is retried whole).
      if (PQstatus(conn_) != CONNECTION_OK && round == 0) {
        Status s = ConnectLocked();
        if (!s.ok()) return s;
        if (sql != "BEGIN" && sql != "COMMIT" && sql != "ROLLBACK")
          return Unavailable("postgres: connection lost and re-made; retry: " + message);
        continue;
      }
      while (!message.empty() && message.back() == '\n') message.pop_back();
      // A broken connection is the environment failing (retry); anything else is a bug.
      StatusCode code =
          PQstatus(conn_) == CONNECTION_OK ? StatusCode::kInternal : StatusCode::kUnavailable;
      return Status(code, "postgres: " + message);
    }
    return Unavailable("postgres: connection lost");
  }

  Status MigrateLocked() {
    REEL_RETURN_IF_ERROR(
        Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)").status());
    Result<Rows> v = Exec("SELECT version FROM schema_version");
    if (!v.ok()) return v.status();
    int64_t version = v->size() ? v->Int(0, 0) : -1;
    if (version < 0) {
      REEL_RETURN_IF_ERROR(Exec("INSERT INTO schema_version VALUES (0)").status());
      version = 0;
    }
    int64_t target = static_cast<int64_t>(std::size(kMigrations));
    if (version > target)
      return FailedPrecondition("the store's schema (v" + std::to_string(version) +
                                ") is newer than this reel (v" + std::to_string(target) + ")");
    for (int64_t i = version; i < target; ++i) {
      PGresult* r = PQexec(conn_, kMigrations[i]);
      bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      std::string message = PQresultErrorMessage(r);
      PQclear(r);
      if (!ok) return Internal("postgres migration " + std::to_string(i + 1) + ": " + message);
    }
    return Exec("UPDATE schema_version SET version = $1", {target}).status();
  }

  Status EndAttempt(const std::string& job_id, const std::string& outcome, const std::string& error,
                    double now) {
    return Exec(
               "UPDATE attempts SET ended_at = $1, outcome = $2, error = $3 WHERE seq = "
               "(SELECT MAX(seq) FROM attempts WHERE job_id = $4) AND ended_at IS NULL",
               {now, outcome, Param::Optional(error), job_id})
        .status();
  }

  Status EnqueueWebhookLocked(const std::string& job_id, const std::string& event) {
    Result<Job> job = GetJobLocked(job_id);
    if (!job.ok()) return job.status();
    auto hook = WebhookFor(*job, event);
    if (!hook) return Status::Ok();
    double now = NowSeconds();
    return Exec(
               "INSERT INTO webhooks (job_id, owner, url, event, payload, created_at, "
               "next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
               {job->id, job->owner, hook->first, event, hook->second, now})
        .status();
  }

  Result<Job> GetJobLocked(const std::string& id, bool for_update = false) {
    Result<Rows> r = Exec(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = $1" +
                              (for_update ? " FOR UPDATE" : ""),
                          {id});
    if (!r.ok()) return r.status();
    if (r->size() == 0) return NotFound("no job " + id);
    Job job = ReadJob(*r, 0);
    Result<Rows> a = Exec(
        "SELECT number, worker_id, host, started_at, ended_at, outcome, error FROM attempts WHERE "
        "job_id = $1 ORDER BY seq",
        {id});
    if (!a.ok()) return a.status();
    for (int i = 0; i < a->size(); ++i)
      job.attempt_log.push_back({static_cast<int>(a->Int(i, 0)), a->Text(i, 1), a->Text(i, 2),
                                 a->Double(i, 3), a->Double(i, 4), a->Text(i, 5), a->Text(i, 6)});
    return job;
  }

  std::string url_;
  std::mutex mu_;
  PGconn* conn_ = nullptr;
  std::mutex listen_mu_;
  PGconn* listen_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<JobStore>> OpenPostgresStore(const std::string& url) {
  auto store = std::make_unique<PostgresStore>(url);
  Status s = store->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<JobStore>(std::move(store));
}

}  // namespace reel::store
