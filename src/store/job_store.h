// The job store: where jobs, their attempts, API keys and live workers are persisted. Jobs are
// written here before the API answers, and workers take them from here by lease, so nothing is
// lost when a process dies. One implementation, SqlJobStore (sql_job_store.h), holds the rules
// over a driver for SQLite (the default) or PostgreSQL (scale-out); both pass the same tests.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace reel::store {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCanceled };
const char* StateName(JobState s);
std::optional<JobState> ParseState(const std::string& name);
inline bool IsFinished(JobState s) { return s != JobState::kQueued && s != JobState::kRunning; }

struct Attempt {
  int number = 0;
  std::string worker_id;
  std::string host;
  double started_at = 0;
  double ended_at = 0;  // 0 while running
  std::string outcome;  // "running", "succeeded", "failed", "canceled", "crashed", "stalled",
                        // "lease_expired", "released"
  std::string error;
};

// A job that fans out (see README "Tasks") is run as tasks that any worker leases like jobs.
// `stitch` composes the job's result from the others' and is leased only once they all
// succeeded. What a fan-out plans today (attempt/fan_out.h): `chunk` (one time range of every
// chunked package's video), `audio` (the packages' whole audio), `main` (the outputs that are not
// chunked, encoded as an unchunked run would) and `stitch`. The derived kinds (`thumbnail`,
// `sprite`, `waveform`, `loudness`) are stored but not planned: they run inside `main`.
// `publish` (a job with a "publish": "progressive" output, attempt/publish.h) is the job's one
// publisher: idle as "succeeded", queued again by the store when a chunk or the audio succeeds
// and extends what can be published, never while it runs; the stitch waits for it to be idle.
enum class TaskKind {
  kMain,
  kThumbnail,
  kSprite,
  kWaveform,
  kLoudness,
  kStitch,
  kChunk,
  kAudio,
  kPublish
};
const char* TaskKindName(TaskKind kind);
std::optional<TaskKind> ParseTaskKind(const std::string& name);

struct Task {
  std::string id;
  std::string job_id;
  TaskKind kind = TaskKind::kMain;
  int ordinal = 0;                                    // among the job's tasks of its kind
  nlohmann::json payload = nlohmann::json::object();  // what the task does, for its runner
  JobState state = JobState::kQueued;  // queued, running, succeeded, failed or canceled
  int attempts = 0;                    // also the fencing token of the running attempt
  int max_attempts = 3;
  double weight = 1;  // its share of the job's progress
  std::string lease_owner;
  double lease_expires_at = 0;
  std::string worker, host;  // who ran it last
  nlohmann::json progress = nlohmann::json::object();
  double started_at = 0, finished_at = 0;
  std::string error;
  nlohmann::json result;  // null until succeeded
};

// A task as the first attempt plans it.
struct NewTask {
  TaskKind kind = TaskKind::kMain;
  int ordinal = 0;
  nlohmann::json payload = nlohmann::json::object();
  double weight = 1;
};

struct Job {
  std::string id;
  std::string owner;  // API key id
  JobState state = JobState::kQueued;
  nlohmann::json spec;
  nlohmann::json progress = nlohmann::json::object();  // fraction, fps, speed, ...
  int attempts = 0;                                    // numbered on across manual retries
  int max_attempts = 3;  // the attempt number past which a failure is final
  int retries = 0;       // manual retries so far
  int priority = 0;
  double created_at = 0, updated_at = 0, started_at = 0, finished_at = 0;
  std::string error;
  nlohmann::json result;  // null until succeeded
  bool cancel_requested = false;
  std::string lease_owner;
  double lease_expires_at = 0;
  std::vector<Attempt> attempt_log;
  std::vector<Task> tasks;  // empty unless the job fanned out
  nlohmann::json storage;   // its key's storage scope when submitted (ApiKey::storage)
};

struct NewJob {
  std::string owner;
  nlohmann::json spec;
  int max_attempts = 3;
  std::string idempotency_key;       // empty: none
  std::string request_hash;          // SHA-256 of the request body, for idempotency
  int priority = 0;                  // higher runs first; FIFO within a priority
  std::vector<std::string> tags;     // only workers with all of these take the job
  nlohmann::json storage = nullptr;  // the owner's storage scope (ApiKey::storage)
  // Refused (kResourceExhausted) when the owner has this many jobs queued or running already;
  // 0: no limit.
  int owner_limit = 0;
};

struct RetryLimits {
  int attempts = 3;     // attempts a retry gives
  int max_retries = 5;  // manual retries per job
  int owner_limit = 0;  // as NewJob::owner_limit: a retry is a job back in the queue
};

struct ListQuery {
  std::string owner;  // empty: every owner (admin)
  std::optional<JobState> state;
  int limit = 50;
  std::string cursor;  // opaque, from ListPage::next_cursor
};

struct ListPage {
  std::vector<Job> jobs;
  std::string next_cursor;  // empty: no more
};

// How an attempt ended, as reported by the worker that held the lease.
enum class AttemptEnd {
  kSucceeded,
  kFailedPermanently,  // the input or spec is wrong: no retry
  kFailedRetryable,    // retried while attempts remain
  kCanceled,
  kReleased,  // the worker shut down: back to the queue, attempt not counted
};

// What waits for and what occupies worker slots, on every worker: the metrics that scale
// workers read it. A job that fanned out holds no slot itself, its tasks do.
struct WorkCounts {
  int64_t queued_jobs = 0;
  int64_t queued_tasks = 0;  // that a worker could lease now (a stitch once the others are done)
  int64_t running_attempts = 0;  // jobs' own attempts and tasks, running now
};

struct ApiKey {
  std::string id;
  std::string name;
  std::string hash;  // SHA-256 of the key; the key itself is never stored
  bool admin = false;
  double created_at = 0;
  bool revoked = false;
  // What of the server's storage the key reaches (storage::KeyScope as JSON); null: all of it.
  nlohmann::json storage;
};

// One webhook notification of one job event, kept until delivered (the outbox).
struct WebhookDelivery {
  int64_t id = 0;
  std::string job_id;
  std::string owner;  // API key id: whose secret signs it
  std::string url;
  std::string event;    // running, succeeded, failed, canceled
  std::string payload;  // the exact JSON body sent (and signed)
  int attempts = 0;
  double created_at = 0;
  double next_attempt_at = 0;
  double delivered_at = 0;  // 0 until delivered
  bool gave_up = false;
  nlohmann::json attempt_log = nlohmann::json::array();  // {at, status, error} per attempt
};

struct WorkerInfo {
  std::string id;
  std::string host;
  std::string version;
  int capacity = 1;
  std::vector<std::string> running_jobs;
  double started_at = 0;
  double last_heartbeat = 0;
  std::vector<std::string> tags;  // what it was started with (--tags): the jobs it may take
  // Where it stages chunks, as an identity (attempt::StagingIdentity: no path to a secret, no
  // credentials); "" without a staging. It leases only tasks fanned out with the same.
  std::string staging;
};

// A webhook delivery to queue: where it goes and the exact body sent (and signed).
struct OutgoingWebhook {
  std::string url;
  std::string payload;
  // For "progress": the least seconds between two of the job's progress deliveries. None (0) is
  // queued without one: progress webhooks are opt-in, and the composer says how often.
  double progress_interval = 0;
};
// What a job's webhook says about `event` ("running", "succeeded", "failed", "canceled",
// "progress"), after the change: nothing when the job asked for none, or not for this event.
// The layer that owns
// the format gives it to the store (notify::ComposeWebhook); the store writes what it returns in
// the same transaction as the change it reports, and reads no spec for it.
using WebhookComposer =
    std::function<std::optional<OutgoingWebhook>(const Job& job, const std::string& event)>;

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Until it is set, no webhook is queued (a store opened for keys or migrations needs none).
  virtual void SetWebhookComposer(WebhookComposer composer) = 0;

  // Creates a job, or returns the one created earlier (within 24 h) under the same idempotency
  // key and body (`*existed` = true). The same key with another body is kFailedPrecondition.
  virtual Result<Job> CreateJob(const NewJob& job, bool* existed) = 0;
  virtual Result<Job> GetJob(const std::string& id) = 0;
  virtual Result<ListPage> ListJobs(const ListQuery& query) = 0;
  // A queued job is canceled at once; a running one is marked and its worker stops it.
  virtual Result<Job> RequestCancel(const std::string& id) = 0;
  // A failed or canceled job goes back to the queue with `limits.attempts` more attempts,
  // numbered on from its last (a job that fanned out stays running and only its failed and
  // canceled tasks go back, each with `limits.attempts` more); refused (kFailedPrecondition) in any
  // other state and once the job was retried `limits.max_retries` times.
  virtual Result<Job> Retry(const std::string& id, const RetryLimits& limits) = 0;
  // Deletes a finished job and its attempts.
  virtual Status DeleteJob(const std::string& id) = 0;
  virtual Result<std::map<std::string, int64_t>> CountByState(const std::string& owner) = 0;
  virtual Result<WorkCounts> CountWork() = 0;

  // Worker side. Lease takes the next queued job (highest priority, then oldest) whose tags
  // are all among `worker_tags` (nullopt when there is none).
  virtual Result<std::optional<Job>> Lease(const std::string& worker_id, const std::string& host,
                                           double lease_seconds,
                                           const std::vector<std::string>& worker_tags = {}) = 0;
  // Extends the lease; kNotFound if this worker no longer holds it. `*cancel_requested` tells
  // the worker to stop.
  virtual Status Renew(const std::string& job_id, const std::string& worker_id,
                       double lease_seconds, bool* cancel_requested) = 0;
  // Also queues the job's "progress" webhook when its spec asks for one and the interval has
  // passed (see QueueProgressWebhook in sql_job_store_admin.cc); SaveTaskProgress too, with the
  // job's aggregated progress.
  virtual Status SaveProgress(const std::string& job_id, const std::string& worker_id,
                              const nlohmann::json& progress) = 0;
  // Ends the attempt held by `worker_id`; returns the job as it is afterwards.
  virtual Result<Job> FinishAttempt(const std::string& job_id, const std::string& worker_id,
                                    AttemptEnd end, const std::string& outcome,
                                    const std::string& error, const nlohmann::json& result) = 0;
  // Jobs whose lease ran out (their worker died) go back to the queue, or fail once their
  // attempts are spent. Returns the ids touched.
  // Jobs and tasks alike: a task's expired lease goes through the same NextState rules.
  virtual Result<std::vector<std::string>> ExpireLeases() = 0;

  // Tasks. The first attempt of a job that fans out ends here instead of in FinishAttempt: its
  // attempt is recorded as "fanned_out" and `tasks` (exactly one of them a stitch) are queued in
  // the same transaction; the job stays running, leased by nobody, until its tasks end it: it
  // fails when a task fails for good (the others are canceled), succeeds with the stitch's
  // result, and its progress is the weighted sum of its tasks'. kNotFound without the lease.
  // The tasks carry `staging`, the identity of the staging they were fanned out with (the
  // fanning worker's, WorkerInfo::staging).
  virtual Result<Job> FanOut(const std::string& job_id, const std::string& worker_id,
                             const std::vector<NewTask>& tasks, const std::string& staging) = 0;
  // The next queued task (highest priority, then oldest) whose job's tags are all among
  // `worker_tags` and whose staging is `staging` (a task from before stagings were recorded:
  // any); a stitch only once every other task of its job succeeded. A job is thus never split
  // across workers whose stagings differ: one could not read what another staged.
  virtual Result<std::optional<Task>> LeaseTask(const std::string& worker_id,
                                                const std::string& host, double lease_seconds,
                                                const std::vector<std::string>& worker_tags,
                                                const std::string& staging) = 0;
  // As Renew, for the attempt `fence` (Task::attempts when leased) of a task.
  virtual Status RenewTask(const std::string& task_id, const std::string& worker_id, int fence,
                           double lease_seconds, bool* cancel_requested) = 0;
  // Records a running task's progress; returns its job's progress afterwards.
  virtual Result<nlohmann::json> SaveTaskProgress(const std::string& task_id,
                                                  const std::string& worker_id, int fence,
                                                  const nlohmann::json& progress) = 0;
  // Ends the attempt `fence` of a task; returns its job as it is afterwards.
  virtual Result<Job> FinishTask(const std::string& task_id, const std::string& worker_id,
                                 int fence, AttemptEnd end, const std::string& error,
                                 const nlohmann::json& result) = 0;
  virtual Result<Task> GetTask(const std::string& task_id) = 0;
  // Deletes finished jobs that finished before `before` (unix seconds). Returns how many.
  virtual Result<int64_t> DeleteFinishedBefore(double before) = 0;

  // `storage`: the key's storage scope (ApiKey::storage), null for none.
  virtual Result<ApiKey> CreateKey(const std::string& name, const std::string& hash, bool admin,
                                   const std::string& webhook_secret,
                                   const nlohmann::json& storage = nullptr) = 0;
  // The secret that signs a key's webhooks, and a fresh one in its place.
  virtual Result<std::string> WebhookSecret(const std::string& key_id) = 0;
  virtual Result<std::string> RotateWebhookSecret(const std::string& id_or_name,
                                                  const std::string& secret) = 0;
  // Seals (common/crypto.h SealValue) every signing secret still stored in plain text, as rows
  // written before secrets were sealed are: a reader of the database cannot forge webhooks.
  // Returns how many it sealed.
  virtual Result<int> SealWebhookSecrets(const std::string& secret_key) = 0;

  // Webhooks are queued by the store itself, in the same transaction as the state change they
  // report, for jobs whose spec has a "webhook"; a dispatcher delivers them. The deliveries due
  // at `now` are claimed: not due again for `hold_seconds` (longer than a delivery takes), so
  // that with several API nodes on one database each is sent by one of them; a dispatcher that
  // dies holding some leaves them to the others once the hold is over. A job's deliveries go in
  // order: one is due only when every earlier one of its job is delivered or given up.
  virtual Result<std::vector<WebhookDelivery>> DueWebhooks(double now, int limit,
                                                           double hold_seconds) = 0;
  virtual Status RecordWebhookAttempt(int64_t id, int status, const std::string& error,
                                      bool delivered, double next_attempt_at, bool give_up) = 0;
  virtual Result<std::vector<WebhookDelivery>> ListWebhooks(const std::string& job_id) = 0;

  // An attempt's own log ({"lines": [...], "dropped": bytes}, as worker/attempt_log.h makes it),
  // kept with the attempt by the worker holding it, before its end is recorded; deleted with the
  // job. AttemptLog is kNotFound for an attempt the job never had, and {"lines": [], "dropped": 0}
  // for one without a log (running, or lost with its worker).
  virtual Status SaveAttemptLog(const std::string& job_id, int attempt,
                                const std::string& worker_id, const nlohmann::json& log) = 0;
  virtual Result<nlohmann::json> AttemptLog(const std::string& job_id, int attempt) = 0;
  // The same for attempt `fence` of a task, kept by the worker that holds it (kNotFound once it
  // does not) before its end is recorded; deleted with the job. TaskLog is kNotFound for an
  // attempt the task never had, and has no lines for one without a log.
  virtual Status SaveTaskLog(const std::string& task_id, const std::string& worker_id, int fence,
                             const nlohmann::json& log) = 0;
  virtual Result<nlohmann::json> TaskLog(const std::string& task_id, int attempt) = 0;
  virtual Result<ApiKey> FindKeyByHash(const std::string& hash) = 0;
  virtual Result<std::vector<ApiKey>> ListKeys() = 0;
  virtual Status RevokeKey(const std::string& id_or_name) = 0;

  virtual Status HeartbeatWorker(const WorkerInfo& worker) = 0;
  virtual Status RemoveWorker(const std::string& id) = 0;
  virtual Result<std::vector<WorkerInfo>> ListWorkers() = 0;

  virtual Status Ping() = 0;

  // Blocks up to `seconds` for a sign that a job was queued (PostgreSQL: LISTEN/NOTIFY); returns
  // true on such a sign. The default just sleeps: in-process submissions wake the pool directly.
  virtual bool WaitForWork(double seconds);
};

// Opens (creating and migrating as needed) the SQLite store at `path`, in WAL mode.
Result<std::unique_ptr<JobStore>> OpenSqliteStore(const std::string& path);
// Opens the PostgreSQL store at a libpq URL, running migrations under an advisory lock.
// `connect_attempts`: tries with backoff (6: about 15 s) before giving up with kUnavailable; 1
// for a caller that waits and retries by itself (a worker started before its database).
Result<std::unique_ptr<JobStore>> OpenPostgresStore(const std::string& url,
                                                    int connect_attempts = 6);
// postgres://... or postgresql://... : PostgreSQL; anything else: a SQLite file.
Result<std::unique_ptr<JobStore>> OpenStore(const std::string& location, int connect_attempts = 6);

// Stored JSON text back into JSON; `fallback` for empty or damaged text.
nlohmann::json ParseJsonOr(const std::string& text, nlohmann::json fallback);
// A stored storage scope (ApiKey::storage, Job::storage): null for none (''), and for damaged
// text a scope that reaches nothing ({}), never all of the server's storage.
nlohmann::json ParseStorageScope(const std::string& text);

// The attempt state machine: every end of an attempt goes through it, lease expiry included.
struct Transition {
  JobState next;
  int attempts;       // after the attempt (a released one gives its attempt back)
  std::string error;  // what the job records
};
Transition NextState(const Job& job, AttemptEnd end, const std::string& error);

double NowSeconds();

}  // namespace reel::store
