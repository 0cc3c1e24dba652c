// The worker pool inside `reel serve` (and, later, `reel worker`): it leases jobs from the store
// and runs each attempt in a child process (`reel run-job`), so that a codec crash, an abort or
// an out-of-memory kill fails that attempt only. While a child runs, its slot renews the lease,
// relays progress to the store (about once a second) and to live subscribers (as it happens),
// watches for cancellation and for stalls, and records how the attempt ended.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "events/job_events.h"
#include "store/job_store.h"

namespace reel::worker {

struct PoolOptions {
  int slots = 1;
  double lease_seconds = 30;
  double poll_seconds = 1;     // idle re-check; submissions wake the pool at once
  double stall_timeout = 600;  // no progress for this long: the attempt is killed
  double shutdown_grace = 30;  // on shutdown, running attempts get this long to finish
  double progress_save_interval = 1;
  std::string reel_binary;  // re-executed as `reel run-job`
  std::string work_dir;     // per-attempt scratch space
  std::vector<std::string> allow_paths;
  std::vector<std::string> allow_hosts;  // passed on to the job's process for its transfers
  std::string storage_config;
  std::vector<std::string> tags;  // this worker runs jobs whose tags are all among these
  std::string secret_key;         // opens the per-job credentials sealed by the API
  std::string worker_id;
  std::string host;
  std::string version = "0.1.0";
};

// Job-level observations for metrics: called when an attempt ends.
struct PoolObserver {
  std::function<void(const store::Job& job, double seconds)> on_finished;
  std::function<void(double speed)> on_speed;
};

class WorkerPool {
 public:
  WorkerPool(store::JobStore* store, events::JobEvents* hub, PoolOptions options,
             PoolObserver observer = {});
  ~WorkerPool();

  void Start();
  // Stops leasing; running attempts get `shutdown_grace` seconds, then are stopped and their
  // jobs released back to the queue. Blocks until every slot has ended.
  void Shutdown();
  // A job was submitted or released: look now rather than at the next poll.
  void Wake();
  // Stops the attempt of `job_id` if it runs here (the API calls this after marking the job).
  void Cancel(const std::string& job_id);
  std::vector<std::string> RunningJobs();
  // Seconds since the pool last had a job running (0 while one runs).
  double IdleSeconds();
  const PoolOptions& options() const { return options_; }

 private:
  void SweepScratch();
  void SlotLoop(int slot);
  void RunAttempt(const store::Job& job);
  void Heartbeat();

  store::JobStore* store_;
  events::JobEvents* hub_;
  PoolOptions options_;
  PoolObserver observer_;
  std::vector<std::thread> threads_;
  std::thread heartbeat_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool woken_ = false;
  std::atomic<bool> stopping_{false};
  double stop_deadline_ = 0;             // steady seconds after which running attempts are released
  std::map<std::string, bool> running_;  // job id -> cancel requested locally
  double last_busy_ = 0;                 // steady seconds when the last job ended
  std::thread listener_;                 // wakes idle slots on the store's notifications
};

// Exit protocol between `reel run-job` and the pool: stdout carries JSON lines
// {"event":"progress",...}, then {"event":"result",...} or {"event":"error","code","message"}.
inline constexpr int kRunJobFailed = 1;

}  // namespace reel::worker
