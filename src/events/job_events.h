// In-process fan-out of job events ("state" with the job's view, "progress") from the worker
// pool, the completer and the lease rescuer to live subscribers (the API's event streams). Every
// event's data carries the job's "id". Callbacks run on the publisher's thread and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace reel::events {

class JobEvents {
 public:
  using Callback = std::function<void(const std::string& event, const nlohmann::json& data)>;

  // Subscribes to one job's events, or to every job's with job_id "*". Returns a token.
  uint64_t Subscribe(const std::string& job_id, Callback callback);
  void Unsubscribe(uint64_t token);
  void Publish(const std::string& job_id, const std::string& event, const nlohmann::json& data);

 private:
  struct Subscription {
    std::string job_id;
    Callback callback;
  };
  std::mutex mu_;
  uint64_t next_ = 1;
  std::map<uint64_t, Subscription> subs_;
};

}  // namespace reel::events
