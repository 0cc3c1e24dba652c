#include "storage/s3.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string_view>

#include "common/crypto.h"
#include "storage/aws_credentials.h"
#include "storage/sigv4.h"

namespace reel::storage {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kEmptyHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Endpoint {
  std::string scheme, host, path;  // host with :port if any; path without query
};

Endpoint Locate(const S3Object& o) {
  std::string ep = o.profile.endpoint;
  size_t sep = ep.find("://");
  Endpoint e;
  e.scheme = sep == std::string::npos ? "https" : ep.substr(0, sep);
  e.host = sep == std::string::npos ? ep : ep.substr(sep + 3);
  while (!e.host.empty() && e.host.back() == '/') e.host.pop_back();
  std::string key = "/" + sigv4::UriEncode(o.key, true);
  if (o.profile.path_style) {
    e.path = "/" + o.bucket + key;
  } else {
    e.host = o.bucket + "." + e.host;
    e.path = key;
  }
  return e;
}

// An S3 error answer as one line: "S3 403 InvalidAccessKeyId: The AWS Access Key Id ...".
Status S3Error(const std::string& what, const net::ExchangeResult& r) {
  auto tag = [&](const char* name) {
    std::string open = std::string("<") + name + ">", close = std::string("</") + name + ">";
    size_t a = r.body.find(open), b = r.body.find(close);
    return a == std::string::npos || b == std::string::npos
               ? std::string()
               : r.body.substr(a + open.size(), b - a - open.size());
  };
  std::string code = tag("Code"), message = tag("Message");
  std::string text = what + ": S3 " + std::to_string(r.status) + (code.empty() ? "" : " " + code) +
                     (message.empty() ? "" : ": " + message);
  return Status(r.status >= 500 ? StatusCode::kUnavailable : StatusCode::kInvalidArgument, text);
}

// The profile's own keys or, when it has none, the AWS credential chain's.
Result<sigv4::Credentials> CredentialsOf(const S3Object& o) {
  sigv4::Credentials c{o.profile.access_key, o.profile.secret_key, o.profile.region, ""};
  if (!c.access_key.empty()) return c;
  Result<aws::Credentials> chain = aws::DefaultChain().Get();
  if (!chain.ok()) return chain.status();
  c.access_key = chain->access_key;
  c.secret_key = chain->secret_key;
  c.session_token = chain->session_token;
  return c;
}

// A signed request to the object (or to its multipart sub-resources via `query`).
net::Exchange Signed(const S3Object& o, const sigv4::Credentials& creds, const std::string& method,
                     const std::map<std::string, std::string>& query,
                     std::map<std::string, std::string> extra_headers,
                     const std::string& payload_hash) {
  Endpoint e = Locate(o);
  std::string amz_date = sigv4::AmzDate(std::time(nullptr));
  sigv4::Request req;
  req.method = method;
  req.host = e.host;
  req.path = e.path;
  req.query = query;
  req.payload_hash = payload_hash;
  req.headers = std::move(extra_headers);
  req.headers["x-amz-content-sha256"] = payload_hash;
  req.headers["x-amz-date"] = amz_date;
  if (!creds.session_token.empty()) req.headers["x-amz-security-token"] = creds.session_token;
  net::Exchange x;
  x.method = method;
  std::string qs;
  for (const auto& [k, v] : query) {
    qs.append(qs.empty() ? "?" : "&").append(sigv4::UriEncode(k, false));
    if (!(v.empty() && k == "uploads")) qs.append("=").append(sigv4::UriEncode(v, false));
  }
  x.url = e.scheme + "://" + e.host + e.path + qs;
  for (const auto& [k, v] : req.headers) x.headers.push_back(k + ": " + v);
  x.headers.push_back("Authorization: " + sigv4::Authorization(req, creds, amz_date));
  x.headers.push_back("Expect:");  // no 100-continue round trip
  return x;
}

std::string Tag(const std::string& xml, const std::string& name) {
  size_t a = xml.find("<" + name + ">"), b = xml.find("</" + name + ">");
  if (a == std::string::npos || b == std::string::npos) return "";
  return xml.substr(a + name.size() + 2, b - a - name.size() - 2);
}

// "default" from the AWS settings (endpoint_url, region; keys from the chain) when the operator
// asks for it (REEL_S3_AWS_CHAIN=1) and the environment configures a source of the chain;
// REEL_S3_* and the config file replace it. Opt-in: a host whose role (or a developer's
// ~/.aws) can reach buckets must not lend that reach to every tenant because AWS_REGION is set.
void AddAwsDefault(std::map<std::string, S3Profile>& profiles) {
  aws::Env env = aws::ProcessEnv();
  const char* opt_in = std::getenv("REEL_S3_AWS_CHAIN");
  if (!opt_in || std::string(opt_in) != "1" || !aws::Configured(env)) return;
  aws::ProfileSettings s = aws::S3Settings(env);
  S3Profile p;
  if (!s.region.empty()) p.region = s.region;
  p.endpoint = s.endpoint.empty() ? "https://s3." + p.region + ".amazonaws.com" : s.endpoint;
  p.path_style = !s.endpoint.empty();  // AWS itself: virtual-hosted buckets
  profiles["default"] = p;
}

}  // namespace

Result<std::map<std::string, S3Profile>> LoadS3Profiles(const std::string& config_file) {
  std::map<std::string, S3Profile> profiles;
  AddAwsDefault(profiles);
  if (const char* ak = std::getenv("REEL_S3_ACCESS_KEY_ID")) {
    S3Profile p;
    p.access_key = ak;
    if (const char* sk = std::getenv("REEL_S3_SECRET_ACCESS_KEY")) p.secret_key = sk;
    if (const char* ep = std::getenv("REEL_S3_ENDPOINT")) p.endpoint = ep;
    if (const char* rg = std::getenv("REEL_S3_REGION")) p.region = rg;
    profiles["default"] = p;
  }
  if (config_file.empty()) return profiles;
  std::ifstream in(config_file);
  if (!in) return NotFound("cannot open storage config " + config_file);
  json config = json::parse(in, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return InvalidArgument(config_file + ": not a JSON object");
  json s3 = config.value("s3", json::object());
  for (auto& [name, j] : s3.items()) {
    S3Profile p;
    p.endpoint = j.value("endpoint", p.endpoint);
    p.region = j.value("region", p.region);
    p.access_key = j.value("access_key", "");
    p.secret_key = j.value("secret_key", "");
    p.path_style = j.value("path_style", true);
    p.acl = j.value("acl", "");
    p.cache_control = j.value("cache_control", "");
    p.multipart_threshold = j.value("multipart_threshold", p.multipart_threshold);
    p.part_size = std::max<int64_t>(j.value("part_size", p.part_size), 5 << 20);
    if (j.contains("part_size_for_tests")) p.part_size = j["part_size_for_tests"];
    p.parallel_uploads = std::clamp(j.value("parallel_uploads", 4), 1, 32);
    // No keys at all: the AWS credential chain signs (aws_credentials.h).
    if (p.access_key.empty() != p.secret_key.empty())
      return InvalidArgument(config_file + ": s3 profile '" + name +
                             "' needs both access_key and secret_key, or neither");
    profiles[name] = p;
  }
  return profiles;
}

S3Profile JobProfile(const json& c, const S3Profile& base) {
  S3Profile p = base;
  p.access_key = c.value("access_key", "");
  p.secret_key = c.value("secret_key", "");
  p.endpoint = c.value("endpoint", p.endpoint);
  p.region = c.value("region", p.region);
  p.path_style = c.value("path_style", p.path_style);
  // Without keys of its own the AWS chain, the server's, would sign.
  p.own_credentials = !p.access_key.empty();
  return p;
}

std::map<std::string, S3Profile> WithJobCredentials(std::map<std::string, S3Profile> profiles,
                                                    const json& credentials) {
  if (credentials.is_null()) return profiles;
  S3Profile& profile = profiles["default"];  // made empty when the server has none
  profile = JobProfile(credentials, profile);
  return profiles;
}

Result<S3Object> ParseS3Url(const std::string& url,
                            const std::map<std::string, S3Profile>& profiles) {
  if (url.rfind("s3://", 0) != 0) return InvalidArgument("not an s3:// URL");
  std::string rest = url.substr(5);
  S3Object o;
  o.profile_name = "default";
  size_t at = rest.find('@'), slash = rest.find('/');
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    o.profile_name = rest.substr(0, at);
    rest = rest.substr(at + 1);
    slash = rest.find('/');
  }
  if (slash == std::string::npos || slash == 0)
    return InvalidArgument("an s3 URL is s3://[profile@]bucket/key");
  o.bucket = rest.substr(0, slash);
  o.key = rest.substr(slash + 1);
  // curl folds "." and ".." parts out of a request's path after the bucket was judged and the
  // request signed: s3://mine/../theirs/x would ask for another bucket's object (which a store
  // that checks signatures refuses, and one that does not serves).
  if (o.bucket == "." || o.bucket == "..")
    return InvalidArgument("'" + o.bucket + "' is not an S3 bucket name");
  for (size_t start = 0; start <= o.key.size();) {
    size_t end = std::min(o.key.find('/', start), o.key.size());
    std::string_view part(o.key.data() + start, end - start);
    if (part == "." || part == "..")
      return InvalidArgument("an S3 key may not have '.' or '..' parts (" + o.key + ")");
    start = end + 1;
  }
  auto it = profiles.find(o.profile_name);
  if (it == profiles.end())
    return InvalidArgument("no S3 profile '" + o.profile_name +
                           "' (configure it with --storage-config, REEL_S3_* or AWS_*)");
  o.profile = it->second;
  // With virtual-host addressing the bucket becomes part of the host name ("127.0.0.1:9#" would
  // send the profile's signed requests elsewhere): S3's naming rules. With path-style it is a
  // path segment: older and GCS-interop names (capitals, '_') pass, nothing that ends a segment.
  static const std::regex host_bucket(R"([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])");
  static const std::regex path_bucket(R"([A-Za-z0-9._-]{1,222})");
  if (!std::regex_match(o.bucket, o.profile.path_style ? path_bucket : host_bucket))
    return InvalidArgument("'" + o.bucket + "' is not an S3 bucket name" +
                           (o.profile.path_style ? " (letters, digits, '.', '_', '-')"
                                                 : " (3-63 of a-z, 0-9, '.', '-')"));
  return o;
}

Status S3Get(const S3Object& o, const std::string& path, const net::AddressPolicy& policy,
             const net::TransferOptions& options) {
  Result<sigv4::Credentials> creds = CredentialsOf(o);
  if (!creds.ok()) return creds.status().WithContext("GET s3://" + o.bucket + "/" + o.key);
  net::Exchange x = Signed(o, *creds, "GET", {}, {}, kEmptyHash);
  x.response_file = path;
  Result<net::ExchangeResult> r = net::Send(x, policy, options);
  if (!r.ok()) return r.status().WithContext("GET s3://" + o.bucket + "/" + o.key);
  if (r->status != 200) return S3Error("GET s3://" + o.bucket + "/" + o.key, *r);
  return Status::Ok();
}

Result<S3Range> S3GetRange(const S3Object& o, const std::string& path, const std::string& range,
                           const net::AddressPolicy& policy, const net::TransferOptions& options) {
  std::string what = "GET s3://" + o.bucket + "/" + o.key + " (" + range + ")";
  Result<sigv4::Credentials> creds = CredentialsOf(o);
  if (!creds.ok()) return creds.status().WithContext(what);
  net::Exchange x = Signed(o, *creds, "GET", {}, {{"range", range}}, kEmptyHash);
  x.response_file = path;
  Result<net::ExchangeResult> r = net::Send(x, policy, options);
  if (!r.ok()) return r.status().WithContext(what);
  S3Range out;
  if (r->status == 416) {
    out.unsatisfiable = true;
    std::string size = Tag(r->body, "ActualObjectSize");  // in S3's InvalidRange error
    if (!size.empty()) out.object_size = std::atoll(size.c_str());
    return out;
  }
  if (r->status == 206) {
    out.content_range = r->headers["content-range"];
    if (out.content_range.empty()) return Internal(what + ": 206 without Content-Range");
    return out;
  }
  if (r->status != 200) return S3Error(what, *r);
  return out;
}

Status S3Put(const S3Object& o, const std::string& path, const std::string& content_type,
             const net::AddressPolicy& policy, const S3Headers& extra) {
  std::string what = "PUT s3://" + o.bucket + "/" + o.key;
  std::error_code ec;
  int64_t size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) return Unavailable(what + ": cannot read " + path);
  Result<sigv4::Credentials> creds = CredentialsOf(o);
  if (!creds.ok()) return creds.status().WithContext(what);
  std::map<std::string, std::string> headers = {{"content-type", content_type}};
  // An output's own values win over its profile's. Signed() signs every header it is given, so
  // a proxy cannot strip or change them; multipart uploads send them when created.
  auto set = [&headers](const char* name, const std::string& mine, const std::string& profile) {
    const std::string& value = mine.empty() ? profile : mine;
    if (!value.empty()) headers[name] = value;
  };
  set("x-amz-acl", extra.acl, o.profile.acl);
  set("cache-control", extra.cache_control, o.profile.cache_control);
  set("x-amz-storage-class", extra.storage_class, "");
  for (const auto& [name, value] : extra.metadata) headers["x-amz-meta-" + name] = value;

  if (size < o.profile.multipart_threshold) {
    net::Exchange x = Signed(o, *creds, "PUT", {}, headers, "UNSIGNED-PAYLOAD");
    x.body_file = path;
    Result<net::ExchangeResult> r = net::Send(x, policy);
    if (!r.ok()) return r.status().WithContext(what);
    if (r->status != 200) return S3Error(what, *r);
    return Status::Ok();
  }

  // Multipart: create, send the parts, complete; abort if anything fails so no parts linger.
  net::Exchange create = Signed(o, *creds, "POST", {{"uploads", ""}}, headers, kEmptyHash);
  Result<net::ExchangeResult> created = net::Send(create, policy);
  if (!created.ok()) return created.status().WithContext(what);
  if (created->status != 200) return S3Error(what + " (create multipart)", *created);
  std::string upload_id = Tag(created->body, "UploadId");
  if (upload_id.empty()) return Internal(what + ": no UploadId in the answer");
  auto abort = [&](Status why) {
    net::Send(Signed(o, *creds, "DELETE", {{"uploadId", upload_id}}, {}, kEmptyHash), policy);
    return why;
  };
  std::string complete = "<CompleteMultipartUpload>";
  int part = 0;
  for (int64_t offset = 0; offset < size; offset += o.profile.part_size) {
    ++part;
    net::Exchange x =
        Signed(o, *creds, "PUT", {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}},
               {}, "UNSIGNED-PAYLOAD");
    x.body_file = path;
    x.offset = offset;
    x.length = std::min(o.profile.part_size, size - offset);
    Result<net::ExchangeResult> r = net::Send(x, policy);
    if (!r.ok()) return abort(r.status().WithContext(what + " part " + std::to_string(part)));
    if (r->status != 200) return abort(S3Error(what + " part " + std::to_string(part), *r));
    complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" +
                r->headers["etag"] + "</ETag></Part>";
  }
  complete += "</CompleteMultipartUpload>";
  net::Exchange done = Signed(o, *creds, "POST", {{"uploadId", upload_id}},
                              {{"content-type", "application/xml"}}, Sha256Hex(complete));
  done.body = complete;
  Result<net::ExchangeResult> r = net::Send(done, policy);
  if (!r.ok()) return abort(r.status().WithContext(what + " (complete)"));
  if (r->status != 200 || r->body.find("<Error>") != std::string::npos)
    return abort(S3Error(what + " (complete)", *r));
  return Status::Ok();
}

namespace {

// The text of an XML element as S3 escapes it, unescaped.
std::string XmlText(std::string s) {
  static const std::pair<const char*, const char*> kEntities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (const auto& [entity, plain] : kEntities)
    for (size_t at = s.find(entity); at != std::string::npos; at = s.find(entity, at + 1))
      s.replace(at, std::string(entity).size(), plain);
  return s;
}

// Every `<name>...</name>` block of `xml`, in order.
std::vector<std::string> Blocks(const std::string& xml, const std::string& name) {
  std::vector<std::string> out;
  std::string open = "<" + name + ">", close = "</" + name + ">";
  for (size_t a = xml.find(open); a != std::string::npos; a = xml.find(open, a)) {
    size_t b = xml.find(close, a);
    if (b == std::string::npos) break;
    out.push_back(xml.substr(a + open.size(), b - a - open.size()));
    a = b + close.size();
  }
  return out;
}

}  // namespace

Result<S3Listing> S3List(const S3Object& prefix, const std::string& delimiter,
                         const net::AddressPolicy& policy) {
  std::string what = "LIST s3://" + prefix.bucket + "/" + prefix.key;
  Result<sigv4::Credentials> creds = CredentialsOf(prefix);
  if (!creds.ok()) return creds.status().WithContext(what);
  S3Object bucket = prefix;
  bucket.key = "";
  S3Listing out;
  std::string token;
  // A bound on pages (1000 keys each) so that a store answering in circles cannot loop us.
  for (int page = 0; page < 10000; ++page) {
    std::map<std::string, std::string> query = {{"list-type", "2"}, {"prefix", prefix.key}};
    if (!delimiter.empty()) query["delimiter"] = delimiter;
    if (!token.empty()) query["continuation-token"] = token;
    Result<net::ExchangeResult> r =
        net::Send(Signed(bucket, *creds, "GET", query, {}, kEmptyHash), policy);
    if (!r.ok()) return r.status().WithContext(what);
    if (r->status != 200) return S3Error(what, *r);
    for (const std::string& c : Blocks(r->body, "Contents"))
      out.objects.emplace_back(XmlText(Tag(c, "Key")), std::atoll(Tag(c, "Size").c_str()));
    for (const std::string& c : Blocks(r->body, "CommonPrefixes"))
      out.prefixes.push_back(XmlText(Tag(c, "Prefix")));
    token = XmlText(Tag(r->body, "NextContinuationToken"));
    if (Tag(r->body, "IsTruncated") != "true" || token.empty()) return out;
  }
  return Internal(what + ": too many pages");
}

Status S3Delete(const S3Object& o, const net::AddressPolicy& policy) {
  std::string what = "DELETE s3://" + o.bucket + "/" + o.key;
  Result<sigv4::Credentials> creds = CredentialsOf(o);
  if (!creds.ok()) return creds.status().WithContext(what);
  Result<net::ExchangeResult> r =
      net::Send(Signed(o, *creds, "DELETE", {}, {}, kEmptyHash), policy);
  if (!r.ok()) return r.status().WithContext(what);
  if (r->status != 204 && r->status != 200 && r->status != 404) return S3Error(what, *r);
  return Status::Ok();
}

std::string S3Presign(const S3Object& o, int64_t seconds) {
  Endpoint e = Locate(o);
  Result<sigv4::Credentials> creds = CredentialsOf(o);
  if (!creds.ok()) return "";
  return sigv4::PresignGet(e.scheme, e.host, e.path, *creds, sigv4::AmzDate(std::time(nullptr)),
                           seconds);
}

std::string S3ObjectUrl(const S3Object& o) {
  Endpoint e = Locate(o);
  return e.scheme + "://" + e.host + e.path;
}

}  // namespace reel::storage
