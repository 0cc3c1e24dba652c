// Fuzz target: storage URLs as a job names them (sources, destinations) through storage::KindOf,
// CheckSource and CheckDestination, and RedactUrl, which every message and answer showing a URL
// goes through. Hosts resolve only when numeric (numeric_dns.cc) and the checks never connect.
#include <curl/curl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "common/redact.h"
#include "storage/storage.h"

#include "require.h"

namespace {

const reel::storage::Options& FuzzOptions() {
  static const reel::storage::Options* options = [] {
    auto* o = new reel::storage::Options;
    o->allow_paths = {"/nonexistent/reel-fuzz"};
    o->policy = *reel::net::AddressPolicy::Parse({});
    o->max_inline_bytes = 4096;
    reel::storage::S3Profile local;
    local.endpoint = "http://127.0.0.1:9000";  // refused by the policy: checks stop there
    o->s3_profiles["default"] = local;
    o->s3_profiles["aws"] = reel::storage::S3Profile{};
    return o;
  }();
  return *options;
}

// The password libcurl reads in `url`, if any.
std::string PasswordOf(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  char* password = nullptr;
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
      curl_url_get(u.get(), CURLUPART_PASSWORD, &password, 0) != CURLUE_OK || !password)
    return "";
  std::string out = password;
  curl_free(password);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string url(reinterpret_cast<const char*>(data), size);
  reel::storage::Kind kind = reel::storage::KindOf(url);
  const reel::storage::Options& o = FuzzOptions();
  reel::Result<std::string> source = reel::storage::CheckSource(url, o);
  reel::Result<std::string> destination = reel::storage::CheckDestination(url, o);
  // Local paths stay inside the root (below it, for a destination), whatever they spell.
  const std::string root = o.allow_paths.front() + "/";
  if (source.ok() && kind == reel::storage::Kind::kLocal)
    Require(*source + "/" == root || source->rfind(root, 0) == 0);
  if (destination.ok() && kind == reel::storage::Kind::kLocal)
    Require(destination->rfind(root, 0) == 0 && destination->size() > root.size());
  if (destination.ok()) Require(kind != reel::storage::Kind::kData);
  // Whoever reads a shown URL the way libcurl does finds no password in it. (Only URLs reel
  // hands to libcurl: "ftp:/x:y@z" is a local file name to reel, which libcurl would not see.)
  std::string shown = reel::RedactUrl(url);
  if (kind == reel::storage::Kind::kHttp || kind == reel::storage::Kind::kFtp) {
    std::string password = PasswordOf(shown);
    Require(password.empty() || password == "[redacted]" || PasswordOf(url).empty());
  }
  return 0;
}
