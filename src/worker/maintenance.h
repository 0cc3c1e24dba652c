// The store's housekeeping, as named services that each role starts explicitly: the
// LeaseRescuer puts the jobs of dead workers back in the queue (ExpireLeases), the
// RetentionCleaner deletes finished jobs past their retention (DeleteFinishedBefore). Each runs
// on a thread of its own, on an interval; the clock is injectable for tests.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "events/job_events.h"
#include "store/job_store.h"

namespace reel::worker {

// A thread that runs `tick` every `interval` seconds until stopped.
class PeriodicTask {
 public:
  PeriodicTask() = default;
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;
  void Start(double interval, std::function<void()> tick);
  void Stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

struct LeaseRescuerOptions {
  double interval = 1;
  std::function<void()> wake;  // the local pool, if any: requeued jobs are work
};

class LeaseRescuer {
 public:
  // `hub` may be null; it gets a state event for each job touched.
  LeaseRescuer(store::JobStore* store, events::JobEvents* hub, LeaseRescuerOptions options);
  void Start();
  void Stop();
  // One pass, as the thread runs it; returns how many jobs it touched.
  int RunOnce();

 private:
  store::JobStore* store_;
  events::JobEvents* hub_;
  LeaseRescuerOptions options_;
  PeriodicTask task_;
};

struct RetentionOptions {
  double retention = 7 * 86400;  // seconds a finished job is kept
  double interval = 60;          // seconds between sweeps
  std::function<double()> now = store::NowSeconds;
};

class RetentionCleaner {
 public:
  RetentionCleaner(store::JobStore* store, RetentionOptions options);
  void Start();
  void Stop();
  // One sweep, as the thread runs it; returns how many jobs it deleted.
  int64_t RunOnce();

 private:
  store::JobStore* store_;
  RetentionOptions options_;
  PeriodicTask task_;
};

}  // namespace reel::worker
