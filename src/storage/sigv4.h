// AWS Signature Version 4 for S3, computed by reel itself (header and presigned-URL forms), so
// that it can be checked against AWS's published examples: S3 servers used in tests (s3rver)
// do not verify signatures.
#pragma once

#include <cstdint>
#include <ctime>
#include <map>
#include <string>

namespace reel::storage::sigv4 {

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string region = "us-east-1";
  std::string session_token;  // temporary credentials: signed as X-Amz-Security-Token
};

// "20130524T000000Z" for a unix time.
std::string AmzDate(std::time_t t);
// RFC 3986 encoding as SigV4 wants it; '/' kept when `keep_slash`.
std::string UriEncode(const std::string& s, bool keep_slash);

struct Request {
  std::string method;
  std::string host;  // the Host header value (with :port when not default)
  std::string path;  // already URI-encoded, e.g. "/bucket/key" or "/test.txt"
  std::map<std::string, std::string> query;    // decoded names and values
  std::map<std::string, std::string> headers;  // lower-case names; host is added
  std::string payload_hash;                    // hex SHA-256, or "UNSIGNED-PAYLOAD"
};

// The Authorization header value for `request` at `amz_date` (it also needs the x-amz-date and
// x-amz-content-sha256 headers, which the caller sends and includes in `headers`).
std::string Authorization(const Request& request, const Credentials& credentials,
                          const std::string& amz_date);

// A presigned GET URL: scheme + host + path + the X-Amz-* query parameters.
std::string PresignGet(const std::string& scheme, const std::string& host, const std::string& path,
                       const Credentials& credentials, const std::string& amz_date,
                       int64_t expires_seconds);

}  // namespace reel::storage::sigv4
