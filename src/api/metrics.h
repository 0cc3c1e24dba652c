// Prometheus text-format metrics: counters and histograms kept in memory, rendered on scrape.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace reel::api {

class Metrics {
 public:
  void CountRequest(const std::string& route, const std::string& method, int status,
                    double seconds);
  void ObserveJob(const std::string& final_state, double seconds);
  void SetEncodeSpeed(double speed);
  // `gauges` are values read at scrape time (jobs by state, queue depth, ...), each a full
  // sample line such as `reel_jobs{state="queued"} 3`.
  std::string Render(const std::vector<std::string>& gauges);

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bound, not cumulative
    uint64_t total = 0;
    double sum = 0;
    void Observe(double v);
  };
  static Histogram MakeHistogram(std::vector<double> bounds);

  std::mutex mu_;
  std::map<std::string, uint64_t> requests_;      // label set -> count
  std::map<std::string, Histogram> latency_;      // route -> histogram
  std::map<std::string, Histogram> job_seconds_;  // final state -> histogram
  double encode_speed_ = 0;
};

}  // namespace reel::api
