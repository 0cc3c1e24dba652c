#include "storage/sigv4.h"

#include <cstdio>

#include "common/crypto.h"

namespace reel::storage::sigv4 {
namespace {

std::string Scope(const std::string& amz_date, const Credentials& c) {
  return amz_date.substr(0, 8) + "/" + c.region + "/s3/aws4_request";
}

std::string CanonicalQuery(const std::map<std::string, std::string>& query) {
  std::map<std::string, std::string> encoded;  // sorted by encoded name
  for (const auto& [k, v] : query) encoded[UriEncode(k, false)] = UriEncode(v, false);
  std::string out;
  for (const auto& [k, v] : encoded) out += (out.empty() ? "" : "&") + k + "=" + v;
  return out;
}

std::string Sign(const std::string& canonical_request, const Credentials& c,
                 const std::string& amz_date) {
  std::string to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + Scope(amz_date, c) + "\n" +
                        Sha256Hex(canonical_request);
  std::string key = HmacSha256("AWS4" + c.secret_key, amz_date.substr(0, 8));
  key = HmacSha256(key, c.region);
  key = HmacSha256(key, "s3");
  key = HmacSha256(key, "aws4_request");
  return HmacSha256Hex(key, to_sign);
}

// SigV4 signs a header's value with its ends trimmed and inner runs of spaces made one, as
// the store reads it: "a  b " must sign as "a b" or the store rejects the request.
std::string Trimmed(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

std::string AmzDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string UriEncode(const std::string& s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string Authorization(const Request& r, const Credentials& c, const std::string& amz_date) {
  std::map<std::string, std::string> headers = r.headers;
  headers["host"] = r.host;
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + Trimmed(v) + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + k;
  }
  std::string canonical = r.method + "\n" + r.path + "\n" + CanonicalQuery(r.query) + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" + r.payload_hash;
  return "AWS4-HMAC-SHA256 Credential=" + c.access_key + "/" + Scope(amz_date, c) +
         ",SignedHeaders=" + signed_headers + ",Signature=" + Sign(canonical, c, amz_date);
}

std::string PresignGet(const std::string& scheme, const std::string& host, const std::string& path,
                       const Credentials& c, const std::string& amz_date, int64_t expires) {
  std::map<std::string, std::string> query = {
      {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
      {"X-Amz-Credential", c.access_key + "/" + Scope(amz_date, c)},
      {"X-Amz-Date", amz_date},
      {"X-Amz-Expires", std::to_string(expires)},
      {"X-Amz-SignedHeaders", "host"}};
  if (!c.session_token.empty()) query["X-Amz-Security-Token"] = c.session_token;
  std::string canonical = "GET\n" + path + "\n" + CanonicalQuery(query) + "\nhost:" + host +
                          "\n\nhost\nUNSIGNED-PAYLOAD";
  return scheme + "://" + host + path + "?" + CanonicalQuery(query) +
         "&X-Amz-Signature=" + Sign(canonical, c, amz_date);
}

}  // namespace reel::storage::sigv4
