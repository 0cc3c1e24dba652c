#include "api/routes.h"

namespace reel::api {
namespace {

// The non-empty segments of `path`, as the router splits it.
std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    size_t end = path.find('/');
    std::string_view part = path.substr(0, end);
    if (!part.empty()) out.push_back(part);
    path = end == std::string_view::npos ? std::string_view() : path.substr(end + 1);
  }
  return out;
}

// Whether `path` (as sent, without the query) fits `pattern`.
bool Matches(std::string_view pattern, std::string_view path) {
  std::vector<std::string_view> want = Segments(pattern), got = Segments(path);
  bool rest = !want.empty() && want.back() == "{file}";
  if (rest ? got.size() < want.size() : got.size() != want.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    bool param = want[i].size() > 2 && want[i].front() == '{' && want[i].back() == '}';
    if (!param && want[i] != got[i]) return false;
  }
  return true;
}

}  // namespace

const std::vector<Route>& Routes() {
  static const std::vector<Route> routes = {
      {"GET", "/", false},
      {"GET", "/healthz", false},
      {"GET", "/readyz", false},
      {"GET", "/metrics", false},
      {"GET", "/docs", false},
      {"GET", "/v1/openapi.json", false},
      {"POST", "/v1/jobs", true},
      {"GET", "/v1/jobs", true},
      {"GET", "/v1/jobs/{id}", true},
      {"DELETE", "/v1/jobs/{id}", true},
      {"POST", "/v1/jobs/{id}/cancel", true},
      {"POST", "/v1/jobs/{id}/retry", true},
      {"GET", "/v1/jobs/{id}/events", true},
      {"GET", "/v1/jobs/{id}/webhooks", true},
      {"GET", "/v1/jobs/{id}/log", true},
      {"GET", "/v1/jobs/{id}/outputs/{index}/{file}", true},
      {"GET", "/v1/queue", true},
      {"GET", "/v1/workers", true},
      {"GET", "/v1/presets", true},
  };
  return routes;
}

std::string_view RouteTemplate(std::string_view path) {
  for (const Route& r : Routes())
    if (Matches(r.path, path)) return r.path;
  return {};
}

const Route* FindRoute(std::string_view method, std::string_view path) {
  if (method == "HEAD") method = "GET";
  for (const Route& r : Routes())
    if (r.method == method && Matches(r.path, path)) return &r;
  return nullptr;
}

}  // namespace reel::api
