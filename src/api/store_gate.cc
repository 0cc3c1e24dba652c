#include "api/store_gate.h"

#include <boost/asio/post.hpp>
#include <chrono>

#include <spdlog/spdlog.h>

namespace reel::api {

StoreGate::StoreGate(store::JobStore* store, StoreGateOptions options)
    : store_(store),
      options_(options),
      pool_(static_cast<size_t>(std::max(1, options.threads))),
      probe_([this] { ProbeLoop(); }) {}

StoreGate::~StoreGate() { Stop(); }

std::string StoreGate::why() const {
  std::lock_guard lock(mu_);
  return why_;
}

bool StoreGate::Post(std::function<void()> work) {
  if (open_) return false;
  if (pending_.fetch_add(1) >= options_.max_pending) {
    pending_.fetch_sub(1);
    return false;
  }
  boost::asio::post(pool_, [this, work = std::move(work)] {
    work();
    pending_.fetch_sub(1);
  });
  return true;
}

void StoreGate::Trip(const std::string& why) {
  std::lock_guard lock(mu_);
  if (!open_.exchange(true))
    spdlog::warn("store unavailable ({}); answering 503 until it is back", why);
  why_ = why;
  cv_.notify_all();
}

void StoreGate::ProbeLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait(lock, [&] { return stopping_ || open_.load(); });
    if (stopping_) break;
    lock.unlock();
    Status s = store_->Ping();  // may block for long: this thread is there to wait
    lock.lock();
    if (s.ok()) {
      open_ = false;
      spdlog::info("store available again");
      continue;
    }
    why_ = s.message();
    cv_.wait_for(lock, std::chrono::duration<double>(options_.probe_interval),
                 [&] { return stopping_; });
  }
}

void StoreGate::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  // Calls stuck in a store that is down end with its connect timeout; they are waited for, as
  // the store outlives this gate.
  pool_.stop();
  probe_.join();
  pool_.join();
}

}  // namespace reel::api
