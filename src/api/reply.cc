#include "api/reply.h"

namespace reel::api {

using nlohmann::json;

Reply TextReply(int status, std::string body, std::string content_type) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

Reply JsonReply(int status, const json& body) {
  // Strings from a request (a path, a query) may be any bytes: invalid UTF-8 is shown replaced
  // (U+FFFD) rather than throwing, which turned a 404 into a 500 (found by fuzz/http_fuzz).
  return TextReply(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                   "application/json");
}

Reply ErrorReply(int status, const std::string& code, const std::string& message,
                 const std::string& field) {
  json err = {{"code", code}, {"message", message}};
  if (!field.empty()) err["field"] = field;
  return JsonReply(status, json{{"error", err}});
}

Reply FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound:
      return ErrorReply(404, "not_found", s.message());
    case StatusCode::kInvalidArgument:
      return ErrorReply(400, "invalid_argument", s.message());
    case StatusCode::kFailedPrecondition:
      return ErrorReply(409, "conflict", s.message());
    case StatusCode::kResourceExhausted: {
      Reply r = ErrorReply(429, "limit_reached", s.message());
      r.headers.push_back({"Retry-After", "30"});
      return r;
    }
    case StatusCode::kUnavailable: {
      Reply r = ErrorReply(503, "unavailable", s.message());
      r.headers.push_back({"Retry-After", "1"});
      return r;
    }
    default:
      return ErrorReply(500, "internal", s.message());
  }
}

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A path segment's %XX escapes decoded ('+' is itself); nullopt when an escape is malformed.
std::optional<std::string> DecodePath(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
      return std::nullopt;
    out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
    i += 2;
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(const std::string& q) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= q.size() && !q.empty()) {
    size_t amp = q.find('&', pos);
    std::string part = q.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = part.find('=');
    if (!part.empty())
      out[UrlDecode(part.substr(0, eq))] =
          eq == std::string::npos ? "" : UrlDecode(part.substr(eq + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    std::string part =
        path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return parts;
}

}  // namespace reel::api
