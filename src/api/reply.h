// The API's replies and the small request-parsing helpers that the router and the connections
// share (internal to src/api).
#pragma once

#include <unistd.h>

#include <boost/beast/http.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace reel::api {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

// An open file, closed when the last reply holding it goes away.
struct OpenFile {
  explicit OpenFile(int f) : fd(f) {}
  ~OpenFile() { close(fd); }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  int fd;
};

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<OpenFile> file;             // when set, the body is this file, streamed from disk
  int64_t file_offset = 0, file_length = -1;  // the part of it sent (-1: to its end)
  // When set, the reply is this function's, run off the I/O threads (it blocks: a read from an
  // object store, the checks of a submission's sources and destinations).
  std::function<Reply()> deferred;
  // When set, the reply is this function's, run on the store gate under its deadline.
  std::function<Reply()> store_work;
  // Set when the caller asked for a job's event stream and may see it: the job as it is now,
  // and who asked (streams are capped per key, and end when the key is revoked).
  std::optional<nlohmann::json> events_for;
  std::string key_id, key_hash;
};

Reply TextReply(int status, std::string body, std::string content_type);
Reply JsonReply(int status, const nlohmann::json& body);
// {"error": {"code", "message", "field"}}, as every API error looks.
Reply ErrorReply(int status, const std::string& code, const std::string& message,
                 const std::string& field = "");
// A Status as its HTTP reply: 404, 400, 409, 503 (with Retry-After) or 500.
Reply FromStatus(const Status& s);

// Percent-decoding of a query value; DecodePath also refuses what would leave a folder ("..",
// NUL, backslashes).
std::string UrlDecode(const std::string& s);
std::optional<std::string> DecodePath(const std::string& s);
std::map<std::string, std::string> ParseQuery(const std::string& q);
std::vector<std::string> SplitPath(const std::string& path);

}  // namespace reel::api
