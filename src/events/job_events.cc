#include "events/job_events.h"

#include <vector>

namespace reel::events {

uint64_t JobEvents::Subscribe(const std::string& job_id, Callback callback) {
  std::lock_guard lock(mu_);
  uint64_t token = next_++;
  subs_[token] = {job_id, std::move(callback)};
  return token;
}

void JobEvents::Unsubscribe(uint64_t token) {
  std::lock_guard lock(mu_);
  subs_.erase(token);
}

void JobEvents::Publish(const std::string& job_id, const std::string& event,
                        const nlohmann::json& data) {
  std::vector<Callback> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& [token, sub] : subs_)
      if (sub.job_id == job_id || sub.job_id == "*") targets.push_back(sub.callback);
  }
  for (const Callback& cb : targets) cb(event, data);
}

}  // namespace reel::events
