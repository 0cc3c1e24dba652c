// s3://[profile@]bucket/key: S3-compatible stores through the client in s3.h; packages go up a
// few files at a time, and a delivered object can be presigned.
#include <algorithm>

#include "storage/backend.h"
#include "storage/s3.h"

namespace reel::storage {
namespace {

// Whether `obj` lies under (or holds) an s3:// root among the server's forbidden ones (its chunk
// staging, which stitches trust): by bucket and key, whatever profile names it.
bool InForbiddenRoot(const S3Object& obj, const Options& o) {
  for (const std::string& root : o.forbidden_roots) {
    if (root.rfind("s3://", 0) != 0) continue;
    std::string rest = root.substr(5);
    if (size_t at = rest.find('@'); at != std::string::npos && at < rest.find('/'))
      rest = rest.substr(at + 1);
    size_t slash = rest.find('/');
    std::string bucket = rest.substr(0, slash);
    std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (bucket != obj.bucket) continue;
    // Inside it, or a package whose folder holds it ("staging" writes "staging/...").
    std::string folder = obj.key.empty() || obj.key.back() == '/' ? obj.key : obj.key + "/";
    if (obj.key.rfind(prefix, 0) == 0 || prefix.rfind(folder, 0) == 0) return true;
  }
  return false;
}

}  // namespace

Result<S3Object> ParseS3UrlWithin(const std::string& url, const Options& o) {
  Result<S3Object> obj = ParseS3Url(url, o.s3_profiles);
  if (!obj.ok() || !o.key_scope || obj->profile.own_credentials) return obj;
  const std::vector<std::string>& allowed = o.key_scope->buckets;
  if (std::find(allowed.begin(), allowed.end(), obj->profile_name + "@" + obj->bucket) !=
      allowed.end())
    return obj;
  std::string named = obj->profile_name == "default" ? "" : obj->profile_name + "@";
  return FailedPrecondition("s3://" + named + obj->bucket + " is not among this API key's buckets");
}

namespace {

class S3 final : public Backend {
 public:
  // The object's profile exists and its endpoint is reachable under the policy.
  Result<std::string> CheckSource(const std::string& url, const Options& o) const override {
    Result<S3Object> obj = ParseS3UrlWithin(url, o);
    if (!obj.ok()) return obj.status();
    if (obj->key.empty()) return InvalidArgument("the S3 URL has no key");
    if (InForbiddenRoot(*obj, o))
      return InvalidArgument("s3://" + obj->bucket + "/" + obj->key +
                             " is where the server stages its work; choose another place");
    REEL_RETURN_IF_ERROR(o.policy.CheckUrl(obj->profile.endpoint));
    return url;
  }
  Result<std::string> CheckDestination(const std::string& url, const Options& o) const override {
    return CheckSource(url, o);
  }
  Result<std::string> Fetch(const std::string& url, const std::string& dir,
                            const Options& o) const override {
    Result<S3Object> obj = ParseS3UrlWithin(url, o);
    if (!obj.ok()) return obj.status();
    std::string path = dir + "/" + FileNameOf(obj->key);
    REEL_RETURN_IF_ERROR(S3Get(*obj, path, o.policy, SourceLimits(o)));
    return path;
  }

 protected:
  Status PutFile(const std::string& local, const std::string& url, const std::string&,
                 const Options& o) const override {
    Result<S3Object> obj = ParseS3UrlWithin(url, o);
    if (!obj.ok()) return obj.status();
    return S3Put(*obj, local, ContentType(local), o.policy, o.s3_headers);
  }
  size_t Parallelism(const std::string& destination, const Options& o) const override {
    Result<S3Object> obj =
        ParseS3Url(destination.back() == '/' ? destination + "x" : destination, o.s3_profiles);
    return obj.ok() ? static_cast<size_t>(obj->profile.parallel_uploads) : 1;
  }
  std::string PublicUrl(const std::string& url, const Options& o) const override {
    Result<S3Object> obj = ParseS3Url(url.back() == '/' ? url + "x" : url, o.s3_profiles);
    if (!obj.ok()) return Backend::PublicUrl(url, o);
    std::string out = S3ObjectUrl(*obj);
    return url.back() == '/' ? out.substr(0, out.size() - 1) : out;
  }
  std::string Presign(const std::string& url, int64_t seconds, const Options& o) const override {
    Result<S3Object> obj = ParseS3UrlWithin(url, o);
    return obj.ok() ? S3Presign(*obj, seconds) : "";
  }
};

}  // namespace

const Backend& S3Backend() {
  static const S3 backend;
  return backend;
}

}  // namespace reel::storage
