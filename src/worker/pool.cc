#include "worker/pool.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "layout/layout.h"
#include "store/job_view.h"
#include "worker/scratch.h"
#include "worker/supervisor.h"

namespace reel::worker {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using store::AttemptEnd;
using store::Job;

// Where a staged output of a killed child may be left: a staging name beside each destination
// (layout.h). A retried attempt must not mix with them.
void RemoveStaleStaging(const json& spec) {
  if (!spec.contains("outputs")) return;
  for (const auto& o : spec["outputs"]) {
    if (!o.contains("destination") || !o["destination"].is_string()) continue;
    fs::path dest(o["destination"].get<std::string>());
    // Local destinations are stored resolved (absolute); a URL's staging is in the scratch dir.
    if (!dest.is_absolute()) continue;
    if (dest.filename().empty()) dest = dest.parent_path();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dest.parent_path(), ec))
      if (layout::IsStagingName(e.path().filename().native(), dest.filename().native()))
        fs::remove_all(e.path(), ec);
  }
}

}  // namespace

WorkerPool::WorkerPool(store::JobStore* store, events::JobEvents* hub, PoolOptions options,
                       PoolObserver observer, Clock* clock)
    : store_(store),
      hub_(hub),
      options_(std::move(options)),
      observer_(std::move(observer)),
      clock_(clock ? clock : &RealClock::Get()) {}

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
  // An attempt's scratch ("<job id>-<attempt>") outlives a process killed hard, with downloads
  // and the job's opened credentials in it: remove it unless that job is running (a process
  // sharing this data directory may be running it).
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.work_dir, ec)) {
    std::string name = e.path().filename().string();
    size_t dash = name.rfind('-');
    if (name.rfind("job_", 0) != 0 || dash == std::string::npos) continue;
    Result<Job> job = store_->GetJob(name.substr(0, dash));
    if (job.ok() && job->state == store::JobState::kRunning) continue;
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
  auto it = running_.find(job_id);
  if (it != running_.end()) it->second = true;
}

std::vector<std::string> WorkerPool::RunningJobs() {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, cancel] : running_) ids.push_back(id);
  return ids;
}

void WorkerPool::Heartbeat() {
  double started = store::NowSeconds();
  while (!stopping_) {
    store::WorkerInfo info{options_.worker_id,
                           options_.host,
                           options_.version,
                           options_.slots,
                           RunningJobs(),
                           started,
                           0,
                           options_.tags};
    Status s = store_->HeartbeatWorker(info);
    if (!s.ok()) spdlog::warn("worker heartbeat failed: {}", s.ToString());
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, std::chrono::duration<double>(std::min(5.0, options_.lease_seconds / 3)),
                   [this] { return stopping_.load(); });
  }
}

void WorkerPool::SlotLoop(int slot) {
  while (!stopping_) {
    Result<std::optional<Job>> leased =
        store_->Lease(options_.worker_id, options_.host, options_.lease_seconds, options_.tags);
    if (!leased.ok()) {
      spdlog::warn("slot={} lease failed: {}", slot, leased.status().ToString());
    } else if (leased->has_value()) {
      RunAttempt(**leased);
      continue;
    }
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
  {
    std::lock_guard lock(mu_);
    running_[job.id] = false;
  }

  // A worker that died mid-attempt may have left staged files; this attempt starts clean.
  RemoveStaleStaging(job.spec);
  double started = clock_->Now();
  AttemptScratch scratch = PrepareScratch(options_.work_dir, job, options_.secret_key);
  AttemptEnding ending;
  if (!scratch.error.empty()) {
    ending = {Ending::kNotStarted, AttemptEnd::kFailedPermanently, "failed", scratch.error, {}};
  } else {
    SupervisorHooks hooks;
    hooks.on_progress = [&](const json& progress) {
      hub_->Publish(job.id, "progress", json{{"id", job.id}, {"progress", progress}});
      if (observer_.on_speed) observer_.on_speed(progress.value("speed", 0.0));
    };
    hooks.stop_requested = [&] {
      std::lock_guard lock(mu_);
      if (running_[job.id]) return StopRequest::kCancel;
      if (stopping_ && clock_->Now() > stop_deadline_) return StopRequest::kRelease;
      return StopRequest::kNone;
    };
    Supervisor supervisor(store_, clock_,
                          {options_.worker_id, options_.lease_seconds, options_.stall_timeout,
                           options_.progress_save_interval},
                          std::move(hooks));
    ending = supervisor.Run(
        job.id, ChildCommand{RunJobArgv(scratch.spec_path), ChildEnvironment(), scratch.log_path});
  }

  std::error_code ec;
  if (ending.how == Ending::kLeaseLost) {
    // Another worker owns the job now; writing anything would trample its attempt.
    log::Warn("lease lost; attempt abandoned", job_fields);
    std::lock_guard lock(mu_);
    running_.erase(job.id);
    fs::remove_all(scratch.dir, ec);
    return;
  }
  if (ending.end != AttemptEnd::kSucceeded) RemoveStaleStaging(job.spec);
  fs::remove_all(scratch.dir, ec);
  {
    std::lock_guard lock(mu_);
    running_.erase(job.id);
    last_busy_ = clock_->Now();
  }
  Completer completer(store_, hub_, clock_, options_.worker_id, options_.lease_seconds, &observer_);
  Result<Job> after = completer.Finish(job, ending, clock_->Now() - started);
  if (after.ok() && after->state == store::JobState::kQueued) Wake();
}

std::vector<std::string> WorkerPool::RunJobArgv(const std::string& spec_path) const {
  std::vector<std::string> args = {options_.reel_binary, "run-job", spec_path};
  for (const std::string& root : options_.allow_paths) {
    args.push_back("--allow-path");
    args.push_back(root);
  }
  for (const std::string& path : options_.forbidden_paths) {
    args.push_back("--forbid-path");
    args.push_back(path);
  }
  for (const std::string& host : options_.allow_hosts) {
    args.push_back("--allow-host");
    args.push_back(host);
  }
  if (!options_.storage_config.empty()) {
    args.push_back("--storage-config");
    args.push_back(options_.storage_config);
  }
  if (!options_.presets_file.empty()) {
    args.push_back("--presets");
    args.push_back(options_.presets_file);
  }
  args.insert(args.end(), options_.run_job_flags.begin(), options_.run_job_flags.end());
  return args;
}

}  // namespace reel::worker
