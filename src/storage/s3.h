// S3 and S3-compatible stores (AWS, R2, B2, GCS interoperability, MinIO): objects addressed
// as s3://[profile@]bucket/key, requests signed by reel's own SigV4 (sigv4.h), large uploads in
// parts, packages uploaded a few files at a time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "net/http.h"

namespace reel::storage {

struct S3Profile {
  std::string endpoint = "https://s3.amazonaws.com";  // scheme://host[:port]
  std::string region = "us-east-1";
  std::string access_key;  // both empty: the AWS credential chain signs (aws_credentials.h)
  std::string secret_key;
  bool path_style = true;  // endpoint/bucket/key; false: bucket.endpoint/key
  std::string acl;         // x-amz-acl on uploads, e.g. "public-read"; empty: none
  std::string cache_control;
  int64_t multipart_threshold = int64_t{64} << 20;
  int64_t part_size = int64_t{16} << 20;
  int parallel_uploads = 4;
  // Made of a job's own keys (JobProfile), not the server's: an API key's bucket list
  // (KeyScope) does not limit it, since it reaches only what the job's owner may reach anyway.
  bool own_credentials = false;
};

// What one output asks of its uploaded objects (a job spec's "acl", "storage_class",
// "cache_control", "metadata"): non-empty values replace the profile's, metadata becomes
// x-amz-meta-NAME. The job spec bounds and checks them; S3Put only sends them, signed.
struct S3Headers {
  std::string acl;
  std::string storage_class;
  std::string cache_control;
  std::map<std::string, std::string> metadata;
};

// Profiles from a JSON file {"s3": {"name": {...}}} and, for "default", the environment
// (REEL_S3_ENDPOINT, REEL_S3_REGION, REEL_S3_ACCESS_KEY_ID, REEL_S3_SECRET_ACCESS_KEY), or
// else, when the environment configures a source of the AWS chain, a keyless "default".
Result<std::map<std::string, S3Profile>> LoadS3Profiles(const std::string& config_file);

struct S3Object {
  std::string profile_name;
  S3Profile profile;
  std::string bucket;
  std::string key;
};

// The profile a job's own credentials make, on top of `base` (the configured "default").
S3Profile JobProfile(const nlohmann::json& credentials, const S3Profile& base);
// The profiles a job uses: the server's, with the job's own S3 credentials (the "s3" part of its
// secrets, job/sealed.h) as the "default" profile; unchanged when `credentials` is null.
std::map<std::string, S3Profile> WithJobCredentials(std::map<std::string, S3Profile> profiles,
                                                    const nlohmann::json& credentials);

Result<S3Object> ParseS3Url(const std::string& url,
                            const std::map<std::string, S3Profile>& profiles);

Status S3Get(const S3Object& object, const std::string& path, const net::AddressPolicy& policy,
             const net::TransferOptions& options = {});
// Part of the object into `path`: `range` is one HTTP byte range ("bytes=0-99", "bytes=100-",
// "bytes=-500"), passed on to the store so that only those bytes travel.
struct S3Range {
  std::string content_range;   // the store's "bytes 0-99/1234"; empty: it sent the whole object
  bool unsatisfiable = false;  // 416: the range starts past the end
  int64_t object_size = -1;    // when unsatisfiable, if the store said
};
Result<S3Range> S3GetRange(const S3Object& object, const std::string& path,
                           const std::string& range, const net::AddressPolicy& policy,
                           const net::TransferOptions& options = {});
// Uploads a file (in parts above the profile's threshold; an unfinished multipart upload is
// aborted on failure), with the profile's ACL and Cache-Control unless `headers` names others.
Status S3Put(const S3Object& object, const std::string& path, const std::string& content_type,
             const net::AddressPolicy& policy, const S3Headers& headers = {});
// The objects whose keys start with `prefix.key` (its bucket and profile), every page of them;
// with a `delimiter` ("/"), the keys below the next one are folded into `prefixes` instead.
struct S3Listing {
  std::vector<std::pair<std::string, int64_t>> objects;  // key, size
  std::vector<std::string> prefixes;
};
Result<S3Listing> S3List(const S3Object& prefix, const std::string& delimiter,
                         const net::AddressPolicy& policy);
// Deletes one object (absent already is fine, as S3 says).
Status S3Delete(const S3Object& object, const net::AddressPolicy& policy);
// A presigned GET URL valid for `seconds`.
std::string S3Presign(const S3Object& object, int64_t seconds);
// The object's plain https URL (readable as is when the bucket or the object is public).
std::string S3ObjectUrl(const S3Object& object);

}  // namespace reel::storage
