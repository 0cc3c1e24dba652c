#include "worker/pool.h"

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "store/job_view.h"
#include "worker/child_env.h"
#include "worker/scratch.h"
#include "worker/supervisor.h"

namespace reel::worker {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using store::AttemptEnd;
using store::Job;

}  // namespace

WorkerPool::WorkerPool(store::JobStore* store, events::JobEvents* hub, PoolOptions options,
                       PoolObserver observer, Clock* clock)
    : store_(store),
      hub_(hub),
      options_(std::move(options)),
      observer_(std::move(observer)),
      clock_(clock ? clock : &RealClock::Get()) {
  if (StagingInS3()) {
    Result<attempt::StagingAccess> access = attempt::ServerStagingAccess(options_.storage_config);
    if (access.ok())
      staging_access_ = std::move(*access);
    else  // checked when the server started: only a file changed since gets here
      log::Error("cannot read the S3 profiles of the staging",
                 {{"error", access.status().message()}});
  }
  staging_identity_ = attempt::StagingIdentity(options_.staging_dir, options_.staging_shared,
                                               options_.host, staging_access_);
}

bool WorkerPool::StagingInS3() const { return attempt::IsS3Staging(options_.staging_dir); }

void WorkerPool::RemoveJobStaging(const std::string& job_id) {
  std::error_code ec;
  for (const char* folder : {attempt::kSourceCacheFolder, attempt::kPublishCacheFolder}) {
    fs::path cache = fs::path(options_.work_dir) / folder;
    fs::remove_all(cache / job_id, ec);
    fs::remove(cache, ec);  // when no other job's copies are in it
  }
  Status s =
      attempt::RemoveStaging(attempt::JobStaging(options_.staging_dir, job_id), staging_access_);
  if (!s.ok())  // the sweep tries again
    log::Warn("cannot remove a job's staging", {{"job", job_id}, {"error", s.message()}});
}

WorkerPool::~WorkerPool() { Shutdown(); }

void WorkerPool::Start() {
  SweepScratch();
  last_busy_ = clock_->Now();
  for (int i = 0; i < options_.slots; ++i) threads_.emplace_back([this, i] { SlotLoop(i); });
  heartbeat_ = std::thread([this] { Heartbeat(); });
  // With PostgreSQL, jobs submitted through another host's API arrive as notifications.
  listener_ = std::thread([this] {
    while (!stopping_)
      if (store_->WaitForWork(0.5)) Wake();
  });
}

void WorkerPool::SweepScratch() {
  // An attempt's scratch ("<job id>-<attempt>", "<task id>-<attempt>") outlives a process killed
  // hard, with downloads and the job's opened credentials in it: remove it unless that job or
  // task is running (a process sharing this data directory may be running it).
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.work_dir, ec)) {
    std::string name = e.path().filename().string();
    size_t dash = name.rfind('-');
    bool task = name.rfind("task_", 0) == 0;
    if ((name.rfind("job_", 0) != 0 && !task) || dash == std::string::npos) continue;
    std::string id = name.substr(0, dash);
    if (task) {
      Result<store::Task> t = store_->GetTask(id);
      if (t.ok() && t->state == store::JobState::kRunning) continue;
    } else {
      Result<Job> job = store_->GetJob(id);
      if (job.ok() && job->state == store::JobState::kRunning) continue;
    }
    std::error_code removed;
    fs::remove_all(e.path(), removed);
    spdlog::info("removed the scratch of an earlier attempt: {}", name);
  }
}

double WorkerPool::IdleSeconds() {
  std::lock_guard lock(mu_);
  return running_.empty() ? clock_->Now() - last_busy_ : 0;
}

void WorkerPool::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stop_deadline_ = clock_->Now() + options_.shutdown_grace;
    stopping_ = true;
    woken_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (listener_.joinable()) listener_.join();
  store_->RemoveWorker(options_.worker_id);
}

void WorkerPool::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_.notify_all();
}

void WorkerPool::Cancel(const std::string& job_id) {
  std::lock_guard lock(mu_);
  for (auto& [key, run] : running_)
    if (run.job_id == job_id) run.cancel = true;
}

std::vector<std::string> WorkerPool::RunningJobs() {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [key, run] : running_)
    if (std::find(ids.begin(), ids.end(), run.job_id) == ids.end()) ids.push_back(run.job_id);
  return ids;
}

void WorkerPool::Track(const std::string& key, const std::string& job_id) {
  std::lock_guard lock(mu_);
  running_[key] = {job_id, false};
}

StopRequest WorkerPool::StopAsked(const std::string& key) {
  std::lock_guard lock(mu_);
  if (running_[key].cancel) return StopRequest::kCancel;
  if (stopping_ && clock_->Now() > stop_deadline_) return StopRequest::kRelease;
  return StopRequest::kNone;
}

void WorkerPool::Untrack(const std::string& key) {
  std::lock_guard lock(mu_);
  running_.erase(key);
  last_busy_ = clock_->Now();
}

int WorkerPool::LiveSlots(bool* other_pools) {
  *other_pools = false;
  Result<std::vector<store::WorkerInfo>> workers = store_->ListWorkers();
  if (!workers.ok()) {
    *other_pools = true;  // unknown: presume so
    return options_.slots;
  }
  // Heartbeats come every few seconds (at most a third of a lease): two leases of silence is
  // a worker gone. A worker with another staging never leases this pool's tasks.
  double now = store::NowSeconds();
  int slots = 0;
  for (const store::WorkerInfo& w : *workers)
    if (now - w.last_heartbeat < 2 * options_.lease_seconds) {
      if (w.staging == staging_identity_) slots += w.capacity;
      *other_pools |= w.id != options_.worker_id;
    }
  return std::max(slots, options_.slots);
}

void WorkerPool::SweepStaging() {
  // A job's chunks stay while a retry may stitch them again; a job deleted (by hand or by
  // retention), or failed or canceled a day ago, needs them no more. Without this, a tenant's
  // chunked jobs that fail would fill the staging.
  if (options_.staging_dir.empty()) return;
  // This host's copies of S3-staged sources and what its publishers kept: any job that has
  // ended needs them no more.
  std::error_code ec;
  for (const char* folder : {attempt::kSourceCacheFolder, attempt::kPublishCacheFolder})
    for (const auto& e : fs::directory_iterator(fs::path(options_.work_dir) / folder, ec)) {
      Result<Job> job = store_->GetJob(e.path().filename().string());
      bool ended = job.ok() ? job->state == store::JobState::kSucceeded ||
                                  job->state == store::JobState::kFailed ||
                                  job->state == store::JobState::kCanceled
                            : job.status().code() == StatusCode::kNotFound;
      std::error_code removed;
      if (ended) fs::remove_all(e.path(), removed);
    }
  double now = store::NowSeconds();
  Result<std::vector<std::string>> staged =
      attempt::StagedJobs(options_.staging_dir, staging_access_);
  if (!staged.ok()) {
    log::Warn("cannot list the staging", {{"error", staged.status().message()}});
    return;
  }
  for (const std::string& id : *staged) {
    if (stopping_) return;
    Result<Job> job = store_->GetJob(id);
    bool gone = !job.ok() && job.status().code() == StatusCode::kNotFound;
    bool stale =
        job.ok() &&
        (job->state == store::JobState::kFailed || job->state == store::JobState::kCanceled) &&
        job->finished_at > 0 && now - job->finished_at > kStagingKeptSeconds;
    // A succeeded job's is removed at its end; this catches a removal that failed (S3 down).
    stale |= job.ok() && job->state == store::JobState::kSucceeded;
    if (gone || stale) {
      log::Info("removed the staging of a finished job", {{"job", id}});
      RemoveJobStaging(id);
    }
  }
}

void WorkerPool::Heartbeat() {
  double started = store::NowSeconds();
  double last_sweep = -1e18;
  while (!stopping_) {
    if (store::NowSeconds() - last_sweep > 600) {
      last_sweep = store::NowSeconds();
      SweepStaging();
    }
    store::WorkerInfo info{options_.worker_id,
                           options_.host,
                           options_.version,
                           options_.slots,
                           RunningJobs(),
                           started,
                           0,
                           options_.tags,
                           staging_identity_};
    Status s = store_->HeartbeatWorker(info);
    if (!s.ok()) spdlog::warn("worker heartbeat failed: {}", s.ToString());
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, std::chrono::duration<double>(std::min(5.0, options_.lease_seconds / 3)),
                   [this] { return stopping_.load(); });
  }
}

void WorkerPool::SlotLoop(int slot) {
  int deferred_to_job = 0;
  while (!stopping_) {
    // A task, unless a job this worker may take comes before it (keys take turns, tasks and
    // jobs alike: the store decides); then the job.
    Result<std::optional<store::Task>> task =
        store_->LeaseTask(options_.worker_id, options_.host, options_.lease_seconds, options_.tags,
                          staging_identity_);
    if (!task.ok()) {
      spdlog::warn("slot={} task lease failed: {}", slot, task.status().ToString());
    } else if (task->has_value()) {
      deferred_to_job = 0;
      RunTask(**task);
      continue;
    }
    Result<std::optional<Job>> leased =
        store_->Lease(options_.worker_id, options_.host, options_.lease_seconds, options_.tags);
    if (!leased.ok()) {
      spdlog::warn("slot={} lease failed: {}", slot, leased.status().ToString());
    } else if (leased->has_value()) {
      deferred_to_job = 0;
      RunAttempt(**leased);
      continue;
    } else if (task.ok() && !task->has_value() && deferred_to_job < 1) {
      // The job that came before the tasks was taken by another worker meanwhile: a task may
      // be waiting, so look again once before sleeping.
      ++deferred_to_job;
      continue;
    }
    deferred_to_job = 0;
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, std::chrono::duration<double>(options_.poll_seconds),
                   [this] { return woken_ || stopping_.load(); });
    woken_ = false;
  }
}

void WorkerPool::RunAttempt(const Job& job) {
  const log::Fields job_fields = {
      {"job", job.id}, {"attempt", job.attempts}, {"worker", options_.worker_id}};
  log::Info("job leased", job_fields);
  hub_->Publish(job.id, "state", JobView(job));
  Track(job.id, job.id);

  // A worker that died mid-attempt may have left staged files; this attempt starts clean.
  RemoveStagedOutputs(job.spec);
  double started = clock_->Now();
  AttemptScratch scratch =
      PrepareScratch(options_.work_dir, job, options_.secret_key, ChildStorage());
  AttemptEnding ending;
  if (!scratch.error.empty()) {
    ending = {Ending::kNotStarted, AttemptEnd::kFailedPermanently, "failed", scratch.error, {}};
  } else {
    SupervisorHooks hooks;
    hooks.on_progress = [&](const json& progress) {
      hub_->Publish(job.id, "progress", json{{"id", job.id}, {"progress", progress}});
      if (observer_.on_speed) observer_.on_speed(progress.value("speed", 0.0));
    };
    hooks.stop_requested = [&] { return StopAsked(job.id); };
    Supervisor supervisor(store_, clock_,
                          {options_.worker_id, options_.lease_seconds, options_.stall_timeout,
                           options_.progress_save_interval},
                          std::move(hooks));
    ending = supervisor.Run(
        job.id,
        ChildCommand{RunJobArgv(scratch.spec_path, job.id, "", scratch.storage_path, job.storage),
                     ChildEnvironment(job.spec, StagingInS3()), scratch.log_path});
  }

  std::error_code ec;
  if (ending.how == Ending::kLeaseLost) {
    // Another worker owns the job now; writing anything would trample its attempt.
    log::Warn("lease lost; attempt abandoned", job_fields);
    Untrack(job.id);
    fs::remove_all(scratch.dir, ec);
    return;
  }
  if (ending.end != AttemptEnd::kSucceeded) RemoveStagedOutputs(job.spec);
  fs::remove_all(scratch.dir, ec);
  // The child made its job's staging folder to be confined to it (attempt::ConfineAttempt): an
  // attempt that did not fan out leaves it empty.
  if (ending.how != Ending::kFannedOut && !options_.staging_dir.empty() && !StagingInS3())
    fs::remove(attempt::JobStaging(options_.staging_dir, job.id), ec);
  Untrack(job.id);
  Completer completer(store_, hub_, clock_, options_.worker_id, options_.lease_seconds, &observer_,
                      staging_identity_);
  Result<Job> after = completer.Finish(job, ending, clock_->Now() - started);
  // Requeued, or fanned out into tasks this pool's slots may take at once.
  if (after.ok() && (after->state == store::JobState::kQueued || ending.how == Ending::kFannedOut))
    Wake();
}

void WorkerPool::RunTask(const store::Task& task) {
  const log::Fields task_fields = {
      {"job", task.job_id},
      {"task", std::string(store::TaskKindName(task.kind)) + "-" + std::to_string(task.ordinal)},
      {"attempt", task.attempts},
      {"worker", options_.worker_id}};
  log::Fields leased = task_fields;
  leased.push_back({"host", options_.host});
  log::Info("task leased", leased);
  Track(task.id, task.job_id);
  double started = clock_->Now();
  Completer completer(store_, hub_, clock_, options_.worker_id, options_.lease_seconds, &observer_,
                      staging_identity_);
  const bool writes_outputs =
      task.kind == store::TaskKind::kMain || task.kind == store::TaskKind::kStitch;
  // The child reads the job's spec; a stitch also the results of the job's other tasks.
  Result<Job> job = store_->GetJob(task.job_id);
  AttemptScratch scratch;
  AttemptEnding ending;
  if (!job.ok()) {
    ending = {Ending::kNotStarted,
              AttemptEnd::kFailedRetryable,
              "failed",
              "cannot read the task's job: " + job.status().message(),
              {}};
  } else if (job->cancel_requested) {
    // Leased just before the cancel: not worth a child that would fetch and encode until the
    // first renewal tells it.
    ending = {Ending::kCanceled, AttemptEnd::kCanceled, "canceled", "canceled by request", {}};
  } else {
    // A killed attempt of a task that writes the job's outputs (main, stitch) may have left
    // them staged beside their destinations: this one starts clean, as a job's attempt does.
    if (writes_outputs) RemoveStagedOutputs(job->spec);
    attempt::TaskRun run{
        task.id, store::TaskKindName(task.kind), task.ordinal, task.attempts, task.payload, {}};
    bool publish = task.kind == store::TaskKind::kPublish;
    if (task.kind == store::TaskKind::kStitch || publish)
      for (const store::Task& t : job->tasks)
        if (t.state == store::JobState::kSucceeded && t.id != task.id)
          run.results.push_back({store::TaskKindName(t.kind), t.ordinal, t.result});
    // A publisher also reads what its last turn published, to deliver only what is new.
    if (publish && task.result.is_object()) run.results.push_back({"publish", 0, task.result});
    scratch = PrepareTaskScratch(options_.work_dir, *job, task, run.ToJson(), options_.secret_key,
                                 ChildStorage());
    if (!scratch.error.empty())
      ending = {Ending::kNotStarted, AttemptEnd::kFailedPermanently, "failed", scratch.error, {}};
  }
  if (job.ok() && scratch.error.empty()) {
    LeaseCalls lease;
    lease.renew = [&](double seconds, bool* cancel) {
      return store_->RenewTask(task.id, options_.worker_id, task.attempts, seconds, cancel);
    };
    // The job's progress is its tasks' weighted sum: that, not the task's, is what is shown.
    lease.save_progress = [&](const json& progress) {
      Result<json> of_job =
          store_->SaveTaskProgress(task.id, options_.worker_id, task.attempts, progress);
      if (of_job.ok())
        hub_->Publish(task.job_id, "progress", json{{"id", task.job_id}, {"progress", *of_job}});
    };
    SupervisorHooks hooks;
    hooks.on_progress = [&](const json& progress) {
      if (observer_.on_speed) observer_.on_speed(progress.value("speed", 0.0));
    };
    hooks.stop_requested = [&] { return StopAsked(task.id); };
    Supervisor supervisor(store_, clock_,
                          {options_.worker_id, options_.lease_seconds, options_.stall_timeout,
                           options_.progress_save_interval},
                          std::move(hooks));
    ending = supervisor.Run(
        lease, ChildCommand{RunJobArgv(scratch.spec_path, task.job_id, scratch.task_path,
                                       scratch.storage_path, job->storage),
                            ChildEnvironment(job->spec, StagingInS3()), scratch.log_path});
  }
  std::error_code ec;
  if (!scratch.dir.empty()) fs::remove_all(scratch.dir, ec);
  Untrack(task.id);
  if (ending.how == Ending::kLeaseLost) {
    // Another worker may run this task now, under a newer attempt number: write nothing.
    log::Warn("lease lost; attempt abandoned", task_fields);
    return;
  }
  if (writes_outputs && job.ok() && ending.end != AttemptEnd::kSucceeded)
    RemoveStagedOutputs(job->spec);
  Result<Job> after = completer.FinishTask(task, ending, clock_->Now() - started);
  // The job has succeeded: its chunks are of no use any more. A failed or canceled job keeps
  // them, as a retry re-runs only its failed and canceled tasks and stitches the others' again.
  if (after.ok() && after->state == store::JobState::kSucceeded && !options_.staging_dir.empty())
    RemoveJobStaging(task.job_id);
  // The task's end may have made its stitch leasable, or requeued it: look now.
  Wake();
}

ServerStorage WorkerPool::ChildStorage() const {
  return {options_.storage_config,
          options_.staging_dir.rfind("s3://", 0) == 0 ? options_.staging_dir : ""};
}

std::vector<std::string> WorkerPool::RunJobArgv(const std::string& spec_path,
                                                const std::string& job_id,
                                                const std::string& task_path,
                                                const std::string& storage_path,
                                                const nlohmann::json& key_scope) {
  std::vector<std::string> args = {options_.reel_binary, "run-job", spec_path};
  // Its tasks go only to workers whose staging is this one (the store matches them by
  // StagingIdentity). A job still fans out on the default staging of this pool's data directory
  // only while every live worker is this pool: its tasks could run nowhere else, and would wait
  // for this host should it die, where an unchunked attempt is leased again by any worker.
  bool other_pools = false;
  int live_slots = task_path.empty() ? LiveSlots(&other_pools) : 0;
  bool may_fan_out = options_.staging_shared || !other_pools;
  if (!options_.staging_dir.empty() && (!task_path.empty() || may_fan_out)) {
    // A task's staging is its job's folder; a job's attempt learns only that it may fan out.
    args.insert(args.end(), {"--staging", attempt::JobStaging(options_.staging_dir, job_id),
                             "--chunk-seconds", std::to_string(options_.chunk_seconds),
                             "--chunk-min-seconds", std::to_string(options_.chunk_min_seconds)});
    if (task_path.empty())
      args.insert(args.end(), {"--live-slots", std::to_string(live_slots)});
    else
      args.insert(args.end(), {"--task", task_path});
  }
  for (const std::string& root : options_.allow_paths) {
    args.push_back("--allow-path");
    args.push_back(root);
  }
  // The child narrows the roots and profiles above to it (storage::Narrowed).
  if (!key_scope.is_null()) args.insert(args.end(), {"--key-scope", key_scope.dump()});
  for (const std::string& path : options_.forbidden_paths) {
    args.push_back("--forbid-path");
    args.push_back(path);
  }
  for (const std::string& host : options_.allow_hosts) {
    args.push_back("--allow-host");
    args.push_back(host);
  }
  if (!storage_path.empty()) {  // the profiles the job names (scratch.h), not the server's file
    args.push_back("--storage-config");
    args.push_back(storage_path);
  }
  if (!options_.presets_file.empty()) {
    args.push_back("--presets");
    args.push_back(options_.presets_file);
  }
  args.insert(args.end(), options_.run_job_flags.begin(), options_.run_job_flags.end());
  return args;
}

}  // namespace reel::worker
