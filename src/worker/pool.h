// The worker pool inside `reel serve` and `reel worker`: it leases jobs, and the tasks of jobs that
// fanned out (README "Chunked encoding"), from the store and runs each attempt in a child process
// (`reel run-job`, `reel run-job --task`), so that a codec crash, an abort or an out-of-memory
// kill fails that attempt only. Each slot prepares the attempt's scratch, hands
// the child to a Supervisor (supervisor.h: lease, progress, stalls, cancel) and what it says to
// the Completer (completer.h: the store, events, metrics).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "attempt/staging_store.h"
#include "common/clock.h"
#include "events/job_events.h"
#include "store/job_store.h"
#include "worker/completer.h"
#include "worker/scratch.h"
#include "worker/supervisor.h"

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
  std::vector<std::string> forbidden_paths;  // the server's own files: never a destination
  std::vector<std::string> allow_hosts;      // passed on to the job's process for its transfers
  std::string storage_config;  // the server's: each child gets only the S3 profiles its job names
  std::string presets_file;    // user ladders and presets (--presets), for each attempt
  std::vector<std::string> run_job_flags;  // more flags for each `reel run-job` (source limits)
  std::vector<std::string> tags;           // this worker runs jobs whose tags are all among these
  // Chunked encoding: where chunks are staged (a folder every worker reaches, or an S3 prefix
  // "s3://[profile@]bucket/prefix/" signed with the storage config's or REEL_S3_* keys; empty:
  // jobs never fan out), the chunk length and the source length from which "auto" chunks.
  std::string staging_dir;
  // Given by --staging: every host reaches it (else the data directory's, this host's alone).
  // Tasks go only to workers whose staging is the same (attempt::StagingIdentity).
  bool staging_shared = false;
  double chunk_seconds = 60;
  double chunk_min_seconds = 180;
  std::string secret_key;  // opens the per-job credentials sealed by the API
  std::string worker_id;
  std::string host;
  std::string version = "0.1.0";
};

class WorkerPool {
 public:
  // `clock` (tests) must outlive the pool; null: the real clock.
  WorkerPool(store::JobStore* store, events::JobEvents* hub, PoolOptions options,
             PoolObserver observer = {}, Clock* clock = nullptr);
  ~WorkerPool();

  void Start();
  // Stops leasing; running attempts get `shutdown_grace` seconds, then are stopped and their
  // jobs released back to the queue. Blocks until every slot has ended.
  void Shutdown();
  // A job was submitted or released: look now rather than at the next poll.
  void Wake();
  // Stops the attempt, or the tasks, of `job_id` running here (the API calls this after marking
  // the job).
  void Cancel(const std::string& job_id);
  std::vector<std::string> RunningJobs();
  // Seconds since the pool last had a job running (0 while one runs).
  double IdleSeconds();
  const PoolOptions& options() const { return options_; }
  // What the store knows this pool's staging by (attempt::StagingIdentity).
  const std::string& staging_identity() const { return staging_identity_; }

 private:
  void SweepScratch();
  void SweepStaging();  // every 10 minutes, from the heartbeat thread
  void RemoveJobStaging(const std::string& job_id);
  bool StagingInS3() const;
  static constexpr double kStagingKeptSeconds = 24 * 3600;
  void SlotLoop(int slot);
  void RunAttempt(const store::Job& job);
  void RunTask(const store::Task& task);
  // Before and after a child: what Cancel and RunningJobs see, keyed by job or task id.
  void Track(const std::string& key, const std::string& job_id);
  StopRequest StopAsked(const std::string& key);
  void Untrack(const std::string& key);
  // Worker slots heard from lately on every host whose staging is this pool's: those that may
  // share a job's tasks ("auto" chunking needs more than one). `other_pools`: some worker heard
  // from is not this pool, whatever its staging.
  int LiveSlots(bool* other_pools);
  // `storage_path`: the attempt's own storage config (scratch.h), if the job names S3 profiles.
  // `key_scope`: the storage scope the job was submitted under (store::Job::storage), if any.
  std::vector<std::string> RunJobArgv(const std::string& spec_path, const std::string& job_id,
                                      const std::string& task_path = "",
                                      const std::string& storage_path = "",
                                      const nlohmann::json& key_scope = nullptr);
  ServerStorage ChildStorage() const;
  void Heartbeat();

  store::JobStore* store_;
  events::JobEvents* hub_;
  PoolOptions options_;
  PoolObserver observer_;
  Clock* clock_;
  attempt::StagingAccess staging_access_;  // the server's S3 profiles, for an S3 staging
  std::string staging_identity_;           // attempt::StagingIdentity of options_.staging_dir
  std::vector<std::thread> threads_;
  std::thread heartbeat_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool woken_ = false;
  std::atomic<bool> stopping_{false};
  double stop_deadline_ = 0;  // clock seconds after which running attempts are released
  struct Running {
    std::string job_id;
    bool cancel = false;  // requested locally
  };
  std::map<std::string, Running> running_;  // job or task id -> its job
  double last_busy_ = 0;                    // clock seconds when the last job ended
  std::thread listener_;                    // wakes idle slots on the store's notifications
};

}  // namespace reel::worker
