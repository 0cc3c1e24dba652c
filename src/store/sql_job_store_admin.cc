// SqlJobStore: API keys, live workers and the webhook outbox.
#include <algorithm>
#include <limits>

#include "common/crypto.h"
#include "store/sql_job_store.h"

namespace reel::store {
namespace {

using nlohmann::json;

constexpr const char* kKeyColumns =
    "id, name, hash, admin, created_at, revoked_at IS NOT NULL, storage FROM api_keys";

constexpr const char* kWebhookColumns =
    "id, job_id, owner, url, event, payload, attempts, created_at, next_attempt_at, "
    "delivered_at, gave_up, attempt_log";

ApiKey ReadKey(const SqlRows& r, size_t i) {
  return {r.Text(i, 0),
          r.Text(i, 1),
          r.Text(i, 2),
          r.Bool(i, 3),
          r.Double(i, 4),
          r.Bool(i, 5),
          ParseStorageScope(r.Text(i, 6))};
}

WebhookDelivery ReadWebhook(const SqlRows& r, size_t i) {
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

}  // namespace

Result<ApiKey> SqlJobStore::CreateKey(const std::string& name, const std::string& hash, bool admin,
                                      const std::string& webhook_secret, const json& storage) {
  std::lock_guard lock(mu_);
  ApiKey k{"key_" + RandomHex(6), name, hash, admin, NowSeconds(), false, storage};
  Result<SqlRows> r = db_->Exec(
      "INSERT INTO api_keys (id, name, hash, admin, created_at, webhook_secret, storage) VALUES "
      "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
      {k.id, name, hash, admin, k.created_at, webhook_secret,
       storage.is_null() ? std::string() : storage.dump()});
  if (!r.ok()) return r.status();
  if (r->changed == 0) return FailedPrecondition("a key named '" + name + "' exists");
  return k;
}

Result<ApiKey> SqlJobStore::FindKeyByHash(const std::string& hash) {
  std::lock_guard lock(mu_);
  Result<SqlRows> r = db_->Exec(std::string("SELECT ") + kKeyColumns + " WHERE hash = ?", {hash});
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("unknown API key");
  return ReadKey(*r, 0);
}

Result<std::vector<ApiKey>> SqlJobStore::ListKeys() {
  std::lock_guard lock(mu_);
  Result<SqlRows> r = db_->Exec(std::string("SELECT ") + kKeyColumns + " ORDER BY created_at");
  if (!r.ok()) return r.status();
  std::vector<ApiKey> keys;
  for (size_t i = 0; i < r->size(); ++i) keys.push_back(ReadKey(*r, i));
  return keys;
}

Status SqlJobStore::RevokeKey(const std::string& id_or_name) {
  std::lock_guard lock(mu_);
  Result<SqlRows> r = db_->Exec(
      "UPDATE api_keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL",
      {NowSeconds(), id_or_name, id_or_name});
  if (!r.ok()) return r.status();
  if (r->changed == 0) return NotFound("no active key '" + id_or_name + "'");
  return Status::Ok();
}

Result<std::string> SqlJobStore::WebhookSecret(const std::string& key_id) {
  std::lock_guard lock(mu_);
  Result<SqlRows> r = db_->Exec("SELECT webhook_secret FROM api_keys WHERE id = ?", {key_id});
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("no key " + key_id);
  return r->Text(0, 0);
}

Result<std::string> SqlJobStore::RotateWebhookSecret(const std::string& id_or_name,
                                                     const std::string& secret) {
  std::lock_guard lock(mu_);
  Result<SqlRows> r = db_->Exec("UPDATE api_keys SET webhook_secret = ? WHERE id = ? OR name = ?",
                                {secret, id_or_name, id_or_name});
  if (!r.ok()) return r.status();
  if (r->changed == 0) return NotFound("no key '" + id_or_name + "'");
  return secret;
}

Result<int> SqlJobStore::SealWebhookSecrets(const std::string& secret_key) {
  std::lock_guard lock(mu_);
  Result<SqlRows> r =
      db_->Exec("SELECT id, webhook_secret FROM api_keys WHERE webhook_secret NOT LIKE 'sealed:%'");
  if (!r.ok()) return r.status();
  int sealed = 0;
  for (size_t i = 0; i < r->size(); ++i) {
    std::string plain = r->Text(i, 1);
    if (plain.empty()) continue;  // no secret: deliveries refuse to go unsigned either way
    // Guarded by the old value: a secret rotated meanwhile by another node is left to it.
    Result<SqlRows> u =
        db_->Exec("UPDATE api_keys SET webhook_secret = ? WHERE id = ? AND webhook_secret = ?",
                  {SealValue(secret_key, plain), r->Text(i, 0), plain});
    if (!u.ok()) return u.status();
    sealed += static_cast<int>(u->changed);
  }
  return sealed;
}

Status SqlJobStore::HeartbeatWorker(const WorkerInfo& w) {
  std::lock_guard lock(mu_);
  return db_
      ->Exec(
          "INSERT INTO workers (id, host, version, capacity, running, started_at, "
          "last_heartbeat, tags, staging) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO "
          "UPDATE SET capacity = excluded.capacity, running = excluded.running, "
          "last_heartbeat = excluded.last_heartbeat, tags = excluded.tags, "
          "staging = excluded.staging",
          {w.id, w.host, w.version, w.capacity, json(w.running_jobs).dump(), w.started_at,
           NowSeconds(), json(w.tags).dump(), w.staging})
      .status();
}

Status SqlJobStore::RemoveWorker(const std::string& id) {
  std::lock_guard lock(mu_);
  return db_->Exec("DELETE FROM workers WHERE id = ?", {id}).status();
}

Result<std::vector<WorkerInfo>> SqlJobStore::ListWorkers() {
  std::lock_guard lock(mu_);
  Result<SqlRows> r = db_->Exec(
      "SELECT id, host, version, capacity, running, started_at, last_heartbeat, tags, staging "
      "FROM workers ORDER BY started_at");
  if (!r.ok()) return r.status();
  std::vector<WorkerInfo> out;
  for (size_t i = 0; i < r->size(); ++i) {
    WorkerInfo w{r->Text(i, 0),
                 r->Text(i, 1),
                 r->Text(i, 2),
                 static_cast<int>(r->Int(i, 3)),
                 {},
                 r->Double(i, 5),
                 r->Double(i, 6),
                 {},
                 r->Text(i, 8)};
    for (const auto& j : ParseJsonOr(r->Text(i, 4), json::array()))
      if (j.is_string()) w.running_jobs.push_back(j.get<std::string>());
    for (const auto& t : ParseJsonOr(r->Text(i, 7), json::array()))
      if (t.is_string()) w.tags.push_back(t.get<std::string>());
    out.push_back(std::move(w));
  }
  return out;
}

Result<std::vector<WebhookDelivery>> SqlJobStore::DueWebhooks(double now, int limit,
                                                              double hold_seconds) {
  std::lock_guard lock(mu_);
  // One statement claims them; rows another node is claiming are passed over.
  Result<SqlRows> r = db_->Exec(
      std::string("UPDATE webhooks SET next_attempt_at = ? WHERE id IN (SELECT id FROM webhooks w "
                  "WHERE delivered_at IS NULL AND NOT gave_up AND next_attempt_at <= ? AND NOT "
                  "EXISTS (SELECT 1 FROM webhooks e WHERE e.job_id = w.job_id AND e.id < w.id "
                  "AND e.delivered_at IS NULL AND NOT e.gave_up) ORDER BY next_attempt_at "
                  "LIMIT ?") +
          db_->SkipLocked() + ") RETURNING " + kWebhookColumns,
      {now + hold_seconds, now, limit});
  if (!r.ok()) return r.status();
  std::vector<WebhookDelivery> out;
  for (size_t i = 0; i < r->size(); ++i) out.push_back(ReadWebhook(*r, i));
  std::sort(out.begin(), out.end(), [](const WebhookDelivery& a, const WebhookDelivery& b) {
    return a.id < b.id;  // RETURNING has no order; deliveries go out in the order queued
  });
  return out;
}

Status SqlJobStore::RecordWebhookAttempt(int64_t id, int status, const std::string& error,
                                         bool delivered, double next_attempt_at, bool give_up) {
  std::lock_guard lock(mu_);
  double now = NowSeconds();
  json entry = {{"at", now}, {"status", status}};
  if (!error.empty()) entry["error"] = error;
  SqlTransaction tx(*db_);
  REEL_RETURN_IF_ERROR(tx.status());
  REEL_RETURN_IF_ERROR(db_->Exec("UPDATE webhooks SET attempts = attempts + 1, next_attempt_at = "
                                 "?, delivered_at = ?, gave_up = ?, attempt_log = " +
                                     db_->JsonAppend("attempt_log") + " WHERE id = ?",
                                 {next_attempt_at, delivered ? SqlValue(now) : SqlValue(), give_up,
                                  entry.dump(), id})
                           .status());
  // The job's later deliveries wait for this one: parked until its retry, so that polls do not
  // keep scanning them; released as soon as it is through.
  bool through = delivered || give_up;
  double until = through ? now : next_attempt_at;
  REEL_RETURN_IF_ERROR(
      db_->Exec(std::string("UPDATE webhooks SET next_attempt_at = CASE WHEN next_attempt_at ") +
                    (through ? ">" : "<") +
                    " ? THEN ? ELSE next_attempt_at END WHERE job_id = (SELECT job_id FROM "
                    "webhooks WHERE id = ?) AND id > ? AND delivered_at IS NULL AND NOT gave_up",
                {until, until, id, id})
          .status());
  return tx.Commit();
}

Status SqlJobStore::QueueProgressWebhook(const std::string& job_id, double now) {
  auto known = progress_due_.find(job_id);
  if (known != progress_due_.end() && known->second > now) return Status::Ok();
  if (progress_due_.size() > 10000) progress_due_.clear();  // only a shortcut: keep it small
  Result<Job> job = LoadJob(job_id);
  if (!job.ok()) return job.status();
  if (job->state != JobState::kRunning) return Status::Ok();  // its end is reported instead
  std::optional<OutgoingWebhook> hook = compose_ ? compose_(*job, "progress") : std::nullopt;
  if (!hook || hook->progress_interval <= 0) {
    progress_due_[job_id] = std::numeric_limits<double>::infinity();
    return Status::Ok();
  }
  Result<SqlRows> last = db_->Exec(
      "SELECT id, delivered_at IS NULL AND NOT gave_up, next_attempt_at FROM webhooks WHERE "
      "job_id = ? AND event = 'progress' ORDER BY id DESC LIMIT 1",
      {job_id});
  if (!last.ok()) return last.status();
  if (!last->empty() && last->Bool(0, 1)) {
    // One is waiting (behind the job's earlier deliveries) or being sent: no second one behind
    // it. A waiting one takes the newest numbers; one already claimed is sent as it was.
    return db_
        ->Exec(
            "UPDATE webhooks SET payload = ? WHERE id = ? AND delivered_at IS NULL AND NOT "
            "gave_up AND attempts = 0 AND (next_attempt_at <= ? OR EXISTS (SELECT 1 FROM "
            "webhooks e WHERE e.job_id = webhooks.job_id AND e.id < webhooks.id AND "
            "e.delivered_at IS NULL AND NOT e.gave_up))",
            {hook->payload, last->Int(0, 0), now})
        .status();
  }
  // A progress delivery that is through records when its attempt ended as next_attempt_at
  // (notify): the next one is queued an interval after that, so the receiver never gets two
  // closer together, however long the first one took.
  if (!last->empty() && last->Double(0, 2) > now - hook->progress_interval) {
    progress_due_[job_id] = last->Double(0, 2) + hook->progress_interval;
    return Status::Ok();
  }
  return db_
      ->Exec(
          "INSERT INTO webhooks (job_id, owner, url, event, payload, created_at, "
          "next_attempt_at) VALUES (?, ?, ?, 'progress', ?, ?, ?)",
          {job->id, job->owner, hook->url, hook->payload, now, now})
      .status();
}

Status SqlJobStore::DropWaitingProgress(const std::string& job_id, const std::string& event) {
  if (event == "progress") return Status::Ok();
  // Not being sent: due and unclaimed, or parked behind an earlier delivery of the job (which
  // no sender may claim past).
  double now = NowSeconds();
  json entry = {{"at", now}, {"status", 0}, {"error", "superseded by " + event}};
  return db_
      ->Exec("UPDATE webhooks SET gave_up = ?, attempt_log = " + db_->JsonAppend("attempt_log") +
                 " WHERE job_id = ? AND event = 'progress' AND delivered_at IS NULL AND NOT "
                 "gave_up AND (next_attempt_at <= ? OR EXISTS (SELECT 1 FROM webhooks e WHERE "
                 "e.job_id = webhooks.job_id AND e.id < webhooks.id AND e.delivered_at IS NULL "
                 "AND NOT e.gave_up))",
             {true, entry.dump(), job_id, now})
      .status();
}

Result<std::vector<WebhookDelivery>> SqlJobStore::ListWebhooks(const std::string& job_id) {
  std::lock_guard lock(mu_);
  Result<SqlRows> r = db_->Exec(
      std::string("SELECT ") + kWebhookColumns + " FROM webhooks WHERE job_id = ? ORDER BY id",
      {job_id});
  if (!r.ok()) return r.status();
  std::vector<WebhookDelivery> out;
  for (size_t i = 0; i < r->size(); ++i) out.push_back(ReadWebhook(*r, i));
  return out;
}

Status SqlJobStore::SaveAttemptLog(const std::string& job_id, int attempt,
                                   const std::string& worker_id, const json& log) {
  std::lock_guard lock(mu_);
  // Only the worker that holds the attempt, before its end: a worker that lost the lease must
  // not replace the log of the attempt that runs now.
  return db_
      ->Exec(
          "UPDATE attempts SET log = ? WHERE job_id = ? AND number = ? AND worker_id = ? AND "
          "ended_at IS NULL",
          {log.dump(-1, ' ', false, json::error_handler_t::replace), job_id, attempt, worker_id})
      .status();
}

Result<json> SqlJobStore::AttemptLog(const std::string& job_id, int attempt) {
  std::lock_guard lock(mu_);
  Result<SqlRows> r = db_->Exec(
      "SELECT log FROM attempts WHERE job_id = ? AND number = ? ORDER BY seq DESC LIMIT 1",
      {job_id, attempt});
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("job " + job_id + " has no attempt " + std::to_string(attempt));
  json log = ParseJsonOr(r->Text(0, 0), json::object());
  if (!log.is_object()) log = json::object();
  if (!log.contains("lines") || !log["lines"].is_array()) log["lines"] = json::array();
  if (!log.contains("dropped") || !log["dropped"].is_number_integer()) log["dropped"] = 0;
  return log;
}

}  // namespace reel::store
