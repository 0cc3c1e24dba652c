#include "worker/maintenance.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "store/job_view.h"

namespace reel::worker {

PeriodicTask::~PeriodicTask() { Stop(); }

void PeriodicTask::Start(double interval, std::function<void()> tick) {
  thread_ = std::thread([this, interval, tick = std::move(tick)] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      tick();
      lock.lock();
      cv_.wait_for(lock, std::chrono::duration<double>(interval), [&] { return stopping_; });
    }
  });
}

void PeriodicTask::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

LeaseRescuer::LeaseRescuer(store::JobStore* store, events::JobEvents* hub,
                           LeaseRescuerOptions options)
    : store_(store), hub_(hub), options_(std::move(options)) {}

void LeaseRescuer::Start() {
  task_.Start(options_.interval, [this] { RunOnce(); });
}

void LeaseRescuer::Stop() { task_.Stop(); }

int LeaseRescuer::RunOnce() {
  Result<std::vector<std::string>> expired = store_->ExpireLeases();
  if (!expired.ok() || expired->empty()) return 0;
  for (const std::string& id : *expired) {
    spdlog::warn("job={} lease expired; requeued or failed", id);
    Result<store::Job> j = store_->GetJob(id);
    if (j.ok() && hub_) hub_->Publish(id, "state", store::JobView(*j));
  }
  if (options_.wake) options_.wake();
  return static_cast<int>(expired->size());
}

RetentionCleaner::RetentionCleaner(store::JobStore* store, RetentionOptions options)
    : store_(store), options_(std::move(options)) {}

void RetentionCleaner::Start() {
  task_.Start(options_.interval, [this] { RunOnce(); });
}

void RetentionCleaner::Stop() { task_.Stop(); }

int64_t RetentionCleaner::RunOnce() {
  Result<int64_t> n = store_->DeleteFinishedBefore(options_.now() - options_.retention);
  if (!n.ok()) {
    spdlog::warn("retention: {}", n.status().message());
    return 0;
  }
  if (*n > 0) spdlog::info("retention: deleted {} finished jobs", *n);
  return *n;
}

}  // namespace reel::worker
