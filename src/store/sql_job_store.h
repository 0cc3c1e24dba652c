// The job store over any SqlDriver: every rule of the queue, once. It decides (which state a job
// goes to, whether a lease is still held, which webhooks to queue) and hands the driver finished
// statements and parameters. One connection, serialised by a mutex: every statement is a short
// point query or update (see the API benchmark). Jobs and leases are in sql_job_store.cc; tasks
// in sql_job_store_tasks.cc; keys, workers and webhooks in sql_job_store_admin.cc.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "store/job_store.h"
#include "store/sql_driver.h"

namespace reel::store {

class SqlJobStore : public JobStore {
 public:
  explicit SqlJobStore(std::unique_ptr<SqlDriver> driver) : db_(std::move(driver)) {}

  void SetWebhookComposer(WebhookComposer composer) override;

  Result<Job> CreateJob(const NewJob& job, bool* existed) override;
  Result<Job> GetJob(const std::string& id) override;
  Result<ListPage> ListJobs(const ListQuery& query) override;
  Result<Job> RequestCancel(const std::string& id) override;
  Result<Job> Retry(const std::string& id, const RetryLimits& limits) override;
  Status DeleteJob(const std::string& id) override;
  Result<std::map<std::string, int64_t>> CountByState(const std::string& owner) override;
  Result<WorkCounts> CountWork() override;

  Result<std::optional<Job>> Lease(const std::string& worker_id, const std::string& host,
                                   double lease_seconds,
                                   const std::vector<std::string>& worker_tags) override;
  Status Renew(const std::string& job_id, const std::string& worker_id, double lease_seconds,
               bool* cancel_requested) override;
  Status SaveProgress(const std::string& job_id, const std::string& worker_id,
                      const nlohmann::json& progress) override;
  Result<Job> FinishAttempt(const std::string& job_id, const std::string& worker_id, AttemptEnd end,
                            const std::string& outcome, const std::string& error,
                            const nlohmann::json& result) override;
  Result<std::vector<std::string>> ExpireLeases() override;
  Result<int64_t> DeleteFinishedBefore(double before) override;

  Result<Job> FanOut(const std::string& job_id, const std::string& worker_id,
                     const std::vector<NewTask>& tasks, const std::string& staging) override;
  Result<std::optional<Task>> LeaseTask(const std::string& worker_id, const std::string& host,
                                        double lease_seconds,
                                        const std::vector<std::string>& worker_tags,
                                        const std::string& staging) override;
  Status RenewTask(const std::string& task_id, const std::string& worker_id, int fence,
                   double lease_seconds, bool* cancel_requested) override;
  Result<nlohmann::json> SaveTaskProgress(const std::string& task_id, const std::string& worker_id,
                                          int fence, const nlohmann::json& progress) override;
  Result<Job> FinishTask(const std::string& task_id, const std::string& worker_id, int fence,
                         AttemptEnd end, const std::string& error,
                         const nlohmann::json& result) override;
  Result<Task> GetTask(const std::string& task_id) override;

  Result<ApiKey> CreateKey(const std::string& name, const std::string& hash, bool admin,
                           const std::string& webhook_secret,
                           const nlohmann::json& storage = nullptr) override;
  Result<std::string> WebhookSecret(const std::string& key_id) override;
  Result<std::string> RotateWebhookSecret(const std::string& id_or_name,
                                          const std::string& secret) override;
  Result<int> SealWebhookSecrets(const std::string& secret_key) override;
  Result<std::vector<WebhookDelivery>> DueWebhooks(double now, int limit,
                                                   double hold_seconds) override;
  Status RecordWebhookAttempt(int64_t id, int status, const std::string& error, bool delivered,
                              double next_attempt_at, bool give_up) override;
  Result<std::vector<WebhookDelivery>> ListWebhooks(const std::string& job_id) override;
  Status SaveAttemptLog(const std::string& job_id, int attempt, const std::string& worker_id,
                        const nlohmann::json& log) override;
  Result<nlohmann::json> AttemptLog(const std::string& job_id, int attempt) override;
  Status SaveTaskLog(const std::string& task_id, const std::string& worker_id, int fence,
                     const nlohmann::json& log) override;
  Result<nlohmann::json> TaskLog(const std::string& task_id, int attempt) override;
  Result<ApiKey> FindKeyByHash(const std::string& hash) override;
  Result<std::vector<ApiKey>> ListKeys() override;
  Status RevokeKey(const std::string& id_or_name) override;

  Status HeartbeatWorker(const WorkerInfo& worker) override;
  Status RemoveWorker(const std::string& id) override;
  Result<std::vector<WorkerInfo>> ListWorkers() override;

  Status Ping() override;
  bool WaitForWork(double seconds) override { return db_->WaitForWork(seconds); }

 private:
  // Within a transaction: the key's row locked (PostgreSQL); kResourceExhausted when it has
  // `limit` jobs queued or running; the turn its next job at `priority` takes (behind its queued
  // jobs and tasks), or with `behind_jobs` false its next task (behind its queued tasks only).
  Status LockOwner(const std::string& owner);
  // LockOwner of the key that owns job `job_id` (read unlocked: a job's owner never changes),
  // taken before the job's own row, the order every transaction locks them in.
  Status LockOwnerOf(const std::string& job_id);
  Status CheckOwnerLimit(const std::string& owner, int limit);
  Result<double> NextTurn(const std::string& owner, int priority, bool behind_jobs = true);
  // The clock of the turns at `priority` moves on to `turn`, just leased (a job's or a task's).
  Status TurnServed(int64_t priority, double turn);
  // The job with its attempts; `lock`: row-locked for the rest of the transaction.
  Result<Job> LoadJob(const std::string& id, bool lock = false);
  // Ends the running attempt of `job` and moves the job as `t` says (FinishAttempt and lease
  // expiry alike), queueing the webhook of a finished job.
  Status Settle(const Job& job, const Transition& t, const std::string& outcome,
                const std::string& attempt_error, const nlohmann::json& result, double now);
  // Task rules (sql_job_store_tasks.cc), inside a caller's transaction with `job` locked.
  Result<std::vector<Task>> LoadTasks(const std::string& job_id, bool lock = false);
  // Ends the running attempt of `task` as `end` says and moves its job accordingly.
  Status SettleTask(const Job& job, const Task& task, AttemptEnd end, const std::string& error,
                    const nlohmann::json& result, double now);
  // Queues the job's idle publisher when `settled` (a task of `job` that has just succeeded
  // with `result`) lets it publish more than it has (sql_job_store_tasks.cc).
  Status WakePublisher(const Job& job, const Task& settled, const nlohmann::json& result);
  // The job's progress as the weighted sum of its tasks', written and returned.
  Result<nlohmann::json> UpdateJobProgress(const std::string& job_id, double now);
  // Cancels the job's queued tasks (and its running ones with `running`); ends the job as
  // canceled once none runs. `*ended`: whether it did.
  Status CancelTasks(const Job& job, bool running, double now, bool* ended);
  // Expired task leases, job by job (job locked first, as everywhere).
  Result<std::vector<std::string>> ExpireTaskLeases(double now);
  // Puts the failed and canceled tasks of a fanned-out job back with `attempts` more each, in
  // their order, taking turns from `turn` on.
  Status RequeueTasks(const std::string& job_id, int attempts, double turn, double now);

  // The outbox: a job whose spec asks for webhooks gets a row per subscribed event, written in
  // the transaction that changes its state, so no state change is ever lost to a crash.
  Status EnqueueWebhook(const std::string& job_id, const std::string& event);
  // The job's "progress" delivery, inside the transaction that saved its progress (job row
  // locked): at most one per the interval the composer gives, counted from the end of the last
  // one's attempt, and never two waiting: a waiting one takes the newest body instead.
  Status QueueProgressWebhook(const std::string& job_id, double now);
  // Before any other event of the job: its progress deliveries not yet being sent are given up,
  // so that the end never waits behind them and no progress arrives after it.
  Status DropWaitingProgress(const std::string& job_id, const std::string& event);

  std::mutex mu_;
  std::unique_ptr<SqlDriver> db_;
  WebhookComposer compose_;  // none: no webhooks
  // Job id -> when its progress webhook is worth looking at again (this process's shortcut: a
  // job that wants none, or sent one a moment ago, costs no load per progress line).
  std::map<std::string, double> progress_due_;
};

// The job store over `driver`, its schema migrated first.
Result<std::unique_ptr<JobStore>> OpenSqlJobStore(std::unique_ptr<SqlDriver> driver);

}  // namespace reel::store
