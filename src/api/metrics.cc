#include "api/metrics.h"

#include <sstream>

namespace reel::api {
namespace {

// A label value in the text format: backslash, double quote and newline escaped.
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Metrics::Histogram Metrics::MakeHistogram(std::vector<double> bounds) {
  Histogram h;
  h.counts.assign(bounds.size(), 0);
  h.bounds = std::move(bounds);
  return h;
}

void Metrics::Histogram::Observe(double v) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (v <= bounds[i]) {
      ++counts[i];
      break;
    }
  }
  ++total;
  sum += v;
}

void Metrics::CountRequest(const std::string& route, const std::string& method, int status,
                           double seconds) {
  std::lock_guard lock(mu_);
  ++requests_["route=\"" + Escape(route) + "\",method=\"" + Escape(method) + "\",status=\"" +
              std::to_string(status) + "\""];
  std::string label = Escape(route);
  auto it = latency_.find(label);
  if (it == latency_.end())
    it = latency_
             .emplace(label, MakeHistogram({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25, 0.5, 1, 2.5}))
             .first;
  it->second.Observe(seconds);
}

void Metrics::ObserveJob(const std::string& final_state, double seconds) {
  std::lock_guard lock(mu_);
  auto it = job_seconds_.find(final_state);
  if (it == job_seconds_.end())
    it = job_seconds_
             .emplace(final_state,
                      MakeHistogram({1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200}))
             .first;
  it->second.Observe(seconds);
}

void Metrics::SetEncodeSpeed(double speed) {
  std::lock_guard lock(mu_);
  encode_speed_ = speed;
}

std::string Metrics::Render(const std::vector<std::string>& gauges) {
  std::lock_guard lock(mu_);
  std::ostringstream out;
  auto histogram = [&](const std::string& name, const std::string& label_name,
                       const std::map<std::string, Histogram>& hs) {
    for (const auto& [label, h] : hs) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < h.bounds.size(); ++i) {
        cumulative += h.counts[i];
        out << name << "_bucket{" << label_name << "=\"" << label << "\",le=\"" << h.bounds[i]
            << "\"} " << cumulative << "\n";
      }
      out << name << "_bucket{" << label_name << "=\"" << label << "\",le=\"+Inf\"} " << h.total
          << "\n";
      out << name << "_sum{" << label_name << "=\"" << label << "\"} " << h.sum << "\n";
      out << name << "_count{" << label_name << "=\"" << label << "\"} " << h.total << "\n";
    }
  };
  out << "# HELP reel_http_requests_total HTTP requests by route, method and status.\n"
         "# TYPE reel_http_requests_total counter\n";
  for (const auto& [labels, n] : requests_)
    out << "reel_http_requests_total{" << labels << "} " << n << "\n";
  out << "# HELP reel_http_request_duration_seconds Request latency by route.\n"
         "# TYPE reel_http_request_duration_seconds histogram\n";
  histogram("reel_http_request_duration_seconds", "route", latency_);
  out << "# HELP reel_job_duration_seconds Wall time of finished jobs by final state: the last "
         "attempt's, or a chunked job's from its first lease to its last task's end.\n"
         "# TYPE reel_job_duration_seconds histogram\n";
  histogram("reel_job_duration_seconds", "state", job_seconds_);
  out << "# HELP reel_encode_speed Media seconds encoded per wall second, last reported.\n"
         "# TYPE reel_encode_speed gauge\nreel_encode_speed "
      << encode_speed_ << "\n";
  for (const std::string& g : gauges) out << g << "\n";
  return out.str();
}

}  // namespace reel::api
