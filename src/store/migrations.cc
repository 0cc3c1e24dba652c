// The schema's history. A step is never edited once released: a change is a new step, written
// for both databases under the same number.
#include "store/migrations.h"

#include <algorithm>
#include <string>

#include "store/job_store.h"

namespace reel::store {
namespace {

// Migration 12, the same on both databases: a task's key and turn (SqlJobStore::FanOut).
constexpr const char* kTaskTurns = R"sql(
ALTER TABLE tasks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN fair_seq DOUBLE PRECISION NOT NULL DEFAULT 0;
UPDATE tasks SET owner = COALESCE((SELECT owner FROM jobs WHERE jobs.id = tasks.job_id), '');
DROP INDEX IF EXISTS tasks_by_state;
CREATE INDEX tasks_by_turn ON tasks(state, priority DESC, fair_seq, seq);
CREATE INDEX tasks_queued_by_owner ON tasks(owner, priority, fair_seq) WHERE state = 'queued';
)sql";

}  // namespace

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> steps = {
      {1,
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
  request_hash TEXT
);
CREATE INDEX jobs_by_state ON jobs(state, seq);
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
  revoked_at DOUBLE PRECISION
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
)sql"},
      {2,
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
ALTER TABLE api_keys ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT '';
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
)sql"},
      // PostgreSQL databases made before the list was shared have jobs_by_state on
      // (state, priority DESC, seq) instead of this index: the same plans, another name.
      {3,
       R"sql(
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_priority ON jobs(state, priority DESC, seq);
)sql",
       R"sql(
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_priority ON jobs(state, priority DESC, seq);
)sql"},
      {4,
       R"sql(
ALTER TABLE jobs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
)sql",
       R"sql(
ALTER TABLE jobs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
)sql"},
      // A worker's tags, for GET /v1/workers (they were only in its memory).
      {5,
       R"sql(
ALTER TABLE workers ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
)sql",
       R"sql(
ALTER TABLE workers ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
)sql"},
      // Manual retries are counted (and capped); attempts are numbered on across them.
      {6,
       R"sql(
ALTER TABLE jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
)sql",
       R"sql(
ALTER TABLE jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
)sql"},
      // Jobs that fan out into tasks (README "Tasks"): leased like jobs; priority and tags are
      // the job's, copied so that a lease reads one table.
      {7,
       R"sql(
CREATE TABLE tasks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  job_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  ordinal INTEGER NOT NULL,
  payload TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  tags TEXT NOT NULL DEFAULT '[]',
  weight REAL NOT NULL DEFAULT 1,
  lease_owner TEXT,
  lease_expires_at REAL,
  worker TEXT,
  host TEXT,
  progress TEXT NOT NULL DEFAULT '{}',
  started_at REAL,
  finished_at REAL,
  error TEXT,
  result TEXT,
  UNIQUE (job_id, kind, ordinal)
);
CREATE INDEX tasks_by_state ON tasks(state, priority DESC, seq);
CREATE INDEX tasks_by_job ON tasks(job_id, seq);
)sql",
       R"sql(
CREATE TABLE tasks (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  job_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  ordinal INTEGER NOT NULL,
  payload TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  tags TEXT NOT NULL DEFAULT '[]',
  weight DOUBLE PRECISION NOT NULL DEFAULT 1,
  lease_owner TEXT,
  lease_expires_at DOUBLE PRECISION,
  worker TEXT,
  host TEXT,
  progress TEXT NOT NULL DEFAULT '{}',
  started_at DOUBLE PRECISION,
  finished_at DOUBLE PRECISION,
  error TEXT,
  result TEXT,
  UNIQUE (job_id, kind, ordinal)
);
CREATE INDEX tasks_by_state ON tasks(state, priority DESC, seq);
CREATE INDEX tasks_by_job ON tasks(job_id, seq);
)sql"},
      // Each attempt's own log (GET /v1/jobs/{id}/log): engine warnings, transfer retries, the
      // error; at most 64 KiB of lines as JSON, written by its worker.
      {8,
       R"sql(
ALTER TABLE attempts ADD COLUMN log TEXT;
)sql",
       R"sql(
ALTER TABLE attempts ADD COLUMN log TEXT;
)sql"},
      // Each task attempt's own log (GET /v1/jobs/{id}/log?task=chunk-3): tasks have no attempts
      // rows, so their logs get a table of their own, by task and attempt number.
      {9,
       R"sql(
CREATE TABLE task_logs (
  task_id TEXT NOT NULL,
  job_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  log TEXT NOT NULL,
  PRIMARY KEY (task_id, attempt)
);
CREATE INDEX task_logs_by_job ON task_logs(job_id);
)sql",
       R"sql(
CREATE TABLE task_logs (
  task_id TEXT NOT NULL,
  job_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  log TEXT NOT NULL,
  PRIMARY KEY (task_id, attempt)
);
CREATE INDEX task_logs_by_job ON task_logs(job_id);
)sql"},
      // The staging a worker writes chunks to, and the one a job's tasks were fanned out with
      // (an identity, never credentials): a worker leases only tasks staged where it reaches
      // them. '' on the tasks of before: leased by any worker, as they were.
      {10,
       R"sql(
ALTER TABLE workers ADD COLUMN staging TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN staging TEXT NOT NULL DEFAULT '';
)sql",
       R"sql(
ALTER TABLE workers ADD COLUMN staging TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN staging TEXT NOT NULL DEFAULT '';
)sql"},
      // An API key's storage scope (storage::KeyScope as JSON; '' for a team's key, which
      // reaches all the server allows), and the scope a job was submitted under, which its
      // attempts and tasks run under. The index counts a key's jobs in the queue (its limit).
      // fair_seq is a job's turn (SqlJobStore::CreateJob): keys take turns within a priority;
      // queue_turns holds each priority's last turn served.
      {11,
       R"sql(
ALTER TABLE api_keys ADD COLUMN storage TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN storage TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_unfinished_by_owner ON jobs(owner) WHERE state IN ('queued', 'running');
ALTER TABLE jobs ADD COLUMN fair_seq DOUBLE PRECISION NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS jobs_by_priority;
CREATE INDEX jobs_by_turn ON jobs(state, priority DESC, fair_seq, seq);
CREATE INDEX jobs_queued_by_owner ON jobs(owner, priority, fair_seq) WHERE state = 'queued';
CREATE TABLE queue_turns (priority INTEGER PRIMARY KEY, served DOUBLE PRECISION NOT NULL);
)sql",
       R"sql(
ALTER TABLE api_keys ADD COLUMN storage TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN storage TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_unfinished_by_owner ON jobs(owner) WHERE state IN ('queued', 'running');
ALTER TABLE jobs ADD COLUMN fair_seq DOUBLE PRECISION NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS jobs_by_priority;
CREATE INDEX jobs_by_turn ON jobs(state, priority DESC, fair_seq, seq);
CREATE INDEX jobs_queued_by_owner ON jobs(owner, priority, fair_seq) WHERE state = 'queued';
CREATE TABLE queue_turns (priority INTEGER PRIMARY KEY, served DOUBLE PRECISION NOT NULL);
)sql"},
      // A task's key and turn (SqlJobStore::FanOut): the tasks of a job that fanned out take
      // their key's turns as its jobs do, so a film's hundred chunks no longer go before every
      // other key's jobs. Tasks queued before this keep turn 0: first, as they were.
      {12, kTaskTurns, kTaskTurns},
  };
  return steps;
}

namespace {

// What a count in the old schema_version table meant, in today's numbers. SQLite's steps were
// these very steps; PostgreSQL's first step was today's 1 to 3 at once.
int64_t FromLegacyVersion(SqlDialect dialect, int64_t legacy) {
  if (dialect == SqlDialect::kSqlite || legacy == 0) return legacy;
  return legacy + 2;
}
int64_t ToLegacyVersion(SqlDialect dialect, int64_t version) {
  return dialect == SqlDialect::kSqlite ? version : std::max<int64_t>(version - 2, 0);
}

Status MigrateInTransaction(SqlDriver& db) {
  // Both tables are created by the same text on both databases.
  REEL_RETURN_IF_ERROR(
      db.ExecScript("CREATE TABLE IF NOT EXISTS reel_migrations (version INTEGER PRIMARY KEY, "
                    "applied_at DOUBLE PRECISION NOT NULL);"
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER);"));
  Result<SqlRows> applied = db.Exec("SELECT MAX(version) FROM reel_migrations");
  if (!applied.ok()) return applied.status();
  int64_t version = applied->Int(0, 0);
  double now = NowSeconds();
  if (applied->rows[0][0].null) {
    Result<SqlRows> legacy = db.Exec("SELECT version FROM schema_version");
    if (!legacy.ok()) return legacy.status();
    version = legacy->empty() ? 0 : FromLegacyVersion(db.dialect(), legacy->Int(0, 0));
    for (int64_t v = 1; v <= version; ++v)
      REEL_RETURN_IF_ERROR(
          db.Exec("INSERT INTO reel_migrations (version, applied_at) VALUES (?, ?)", {v, now})
              .status());
  }
  int64_t latest = Migrations().back().version;
  if (version > latest)
    return FailedPrecondition("the store's schema (v" + std::to_string(version) +
                              ") is newer than this reel (v" + std::to_string(latest) + ")");
  for (const Migration& m : Migrations()) {
    if (m.version <= version) continue;
    const char* sql = db.dialect() == SqlDialect::kSqlite ? m.sqlite : m.postgres;
    Status s = db.ExecScript(sql);
    if (!s.ok()) return s.WithContext("migration " + std::to_string(m.version));
    REEL_RETURN_IF_ERROR(db.Exec("INSERT INTO reel_migrations (version, applied_at) VALUES (?, ?)",
                                 {static_cast<int64_t>(m.version), now})
                             .status());
  }
  // Kept in the old numbering, for an older reel on the same database (a rolling upgrade): it
  // runs while the schema is the one it knows and refuses a newer one.
  REEL_RETURN_IF_ERROR(db.Exec("DELETE FROM schema_version").status());
  return db
      .Exec("INSERT INTO schema_version (version) VALUES (?)",
            {ToLegacyVersion(db.dialect(), latest)})
      .status();
}

}  // namespace

Status Migrate(SqlDriver& db) {
  REEL_RETURN_IF_ERROR(db.LockMigrations());
  Status s = [&] {
    SqlTransaction tx(db);
    REEL_RETURN_IF_ERROR(tx.status());
    REEL_RETURN_IF_ERROR(MigrateInTransaction(db));
    return tx.Commit();
  }();
  db.UnlockMigrations();
  return s;
}

}  // namespace reel::store
