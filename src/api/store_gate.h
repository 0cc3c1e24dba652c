// How the API reaches the store without blocking its I/O threads: store work runs on a bounded
// pool of its own, each call with a deadline the caller enforces, and a breaker that answers at
// once while the store is down or too slow. A call that misses its deadline opens the breaker; a
// probe (JobStore::Ping, on a thread of its own) closes it when the store answers again. A call
// stuck inside the store (libpq blocked in connect) holds only its pool thread, not a request.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/thread_pool.hpp>

#include "store/job_store.h"

namespace reel::api {

struct StoreGateOptions {
  int threads = 8;             // store calls at once (the stores serialise most of them anyway)
  size_t max_pending = 16384;  // calls queued or running; beyond, requests are refused at once
  double deadline = 5;         // seconds a request waits for its store work
  double probe_interval = 0.5;
};

class StoreGate {
 public:
  StoreGate(store::JobStore* store, StoreGateOptions options);
  ~StoreGate();
  StoreGate(const StoreGate&) = delete;
  StoreGate& operator=(const StoreGate&) = delete;

  // True while the breaker is open: the store is taken to be unavailable.
  bool open() const { return open_.load(); }
  // Why it opened, for the 503s.
  std::string why() const;
  const StoreGateOptions& options() const { return options_; }
  // Runs `work` on the store pool. False, and nothing runs, while the breaker is open or the
  // pool is full.
  bool Post(std::function<void()> work);
  // A call missed its deadline: open the breaker until the probe gets an answer.
  void Trip(const std::string& why);
  void Stop();

 private:
  void ProbeLoop();

  store::JobStore* store_;
  StoreGateOptions options_;
  boost::asio::thread_pool pool_;
  std::atomic<size_t> pending_{0};
  std::atomic<bool> open_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string why_;
  bool stopping_ = false;
  std::thread probe_;
};

}  // namespace reel::api
