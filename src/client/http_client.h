// A small blocking HTTP/1.1 client for reel's own API, over http:// or https://: the CLI client
// commands and the tests.
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

// How an https:// server is checked: its certificate must chain to a CA of `ca_file` (PEM), or
// of the system's trust store when empty, and name the URL's host (or address). TLS 1.2 or later.
struct TlsOptions {
  std::string ca_file;
};

// `url` is http://host:port/path?query or https://...
Result<HttpResponse> Fetch(const std::string& method, const std::string& url,
                           const std::string& body = "", const Headers& headers = {},
                           double timeout_seconds = 30, const TlsOptions& tls = {});

// Reads a Server-Sent Events stream, calling `on_event(event, data)` for each event until it
// returns false, the server closes the stream, or `timeout_seconds` pass with nothing received.
Status StreamEvents(const std::string& url, const Headers& headers,
                    const std::function<bool(const std::string&, const std::string&)>& on_event,
                    double timeout_seconds = 60, const TlsOptions& tls = {});

}  // namespace reel::client
