-- The schema as reel created it before migrations were numbered alike on both databases
-- (SQLite: 4 steps, recorded as one row in schema_version). The migration test builds a
-- database from this and checks that the current store takes it over without losing jobs.

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

ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_priority ON jobs(state, priority DESC, seq);

ALTER TABLE jobs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

CREATE TABLE schema_version (version INTEGER);
INSERT INTO schema_version VALUES (4);
