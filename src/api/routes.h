// The routes `reel serve` answers, as one table: the router refuses any request that matches no
// entry (404, or 405 when only the method differs), metrics label requests by the entry's
// template, and `reel routes` prints the table so that the contract test can hold it against
// docs/openapi.json. A route added to the router without a line here is never reached.
#pragma once

#include <string_view>
#include <vector>

namespace reel::api {

struct Route {
  std::string_view method;  // "GET" (which also answers HEAD), "POST", "DELETE"
  // "/v1/jobs/{id}": a {name} matches one non-empty segment; a final {file} matches the rest
  // of the path (one or more segments), as OpenAPI cannot say.
  std::string_view path;
  bool key;  // needs an API key
};

const std::vector<Route>& Routes();

// The template of the table that `path` falls under ("/v1/jobs/{id}"), whatever the method;
// empty when none does.
std::string_view RouteTemplate(std::string_view path);

// The entry for `method` (HEAD as GET) at `path`, or nullptr.
const Route* FindRoute(std::string_view method, std::string_view path);

}  // namespace reel::api
