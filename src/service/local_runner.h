// What the API needs of the jobs this process runs itself: a small interface, so that the API
// does not include the worker. `reel serve` implements it over worker::WorkerPool; an API-only
// node has none.
#pragma once

#include <string>
#include <vector>

namespace reel::service {

class LocalRunner {
 public:
  virtual ~LocalRunner() = default;
  // A job was queued or requeued: look now rather than at the next poll.
  virtual void Wake() = 0;
  // Stops the attempt of `job_id` if it runs here (called after the store marked the job).
  virtual void Cancel(const std::string& job_id) = 0;
  virtual std::vector<std::string> RunningJobs() = 0;
};

}  // namespace reel::service
