// A small blocking HTTP/1.1 client for reel's own API: the CLI client commands and the tests.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "common/status.h"

namespace reel::client {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

using Headers = std::map<std::string, std::string>;

// `url` is http://host:port/path?query.
Result<HttpResponse> Fetch(const std::string& method, const std::string& url,
                           const std::string& body = "", const Headers& headers = {},
                           double timeout_seconds = 30);

// Reads a Server-Sent Events stream, calling `on_event(event, data)` for each event until it
// returns false, the server closes the stream, or `timeout_seconds` pass with nothing received.
Status StreamEvents(const std::string& url, const Headers& headers,
                    const std::function<bool(const std::string&, const std::string&)>& on_event,
                    double timeout_seconds = 60);

}  // namespace reel::client
