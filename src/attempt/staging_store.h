// Where the tasks of a job that fanned out meet (README "Chunked encoding"): its staging, a
// folder every worker reaches or an S3 prefix (`--staging s3://bucket/prefix/`, a job's under
// <prefix>/<job>/). The staging's S3 credentials are the server's (its storage config,
// REEL_S3_*), never a tenant's, and its endpoint is the operator's choice: the address policy
// that guards tenants' URLs does not apply to it.
//
// Its own small library: the worker pool removes the staging of ended jobs without linking the
// engine.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/s3.h"

namespace reel::attempt {

// Whether a staging is an S3 prefix rather than a folder.
bool IsS3Staging(const std::string& staging);
// The staging of one job under the server's staging root (a folder, or "s3://.../" whose job
// prefixes end with '/').
std::string JobStaging(const std::string& root, const std::string& job_id);

// With an S3 staging, each host keeps the staged sources its tasks downloaded in this folder of
// its work directory (<work>/staged-sources/<job>/...), removed with the job's staging.
inline constexpr const char* kSourceCacheFolder = "staged-sources";
// A job's progressive publisher keeps what its turns fetched and built on this host in this
// folder of its work directory (<work>/published/<job>/...), removed with the job's staging.
inline constexpr const char* kPublishCacheFolder = "published";

// The server's S3 profiles (never a job's own credentials), with their ACL and Cache-Control
// dropped: staged chunks are nobody's to read but the workers'.
struct StagingAccess {
  std::map<std::string, storage::S3Profile> profiles;
};
StagingAccess MakeStagingAccess(std::map<std::string, storage::S3Profile> server_profiles);
Result<StagingAccess> ServerStagingAccess(const std::string& storage_config);
// What a worker records of its staging root in the store (store::WorkerInfo::staging, and on the
// tasks it fans out): workers share a job's tasks only when theirs are equal, so that a job is
// never split across workers that could not read each other's chunks. An S3 staging is its
// endpoint, bucket and prefix (a profile's name is each host's own word for them); a folder given
// with --staging (`shared`) its absolute path; the default folder of a data directory, which no
// other host reaches, that path on `host`. Hashed: it is compared, never shown, and names no
// credentials or paths.
std::string StagingIdentity(const std::string& root, bool shared, const std::string& host,
                            const StagingAccess& access);
// Refuses an S3 staging that cannot be used (not s3://, no bucket, unknown profile): checked
// when the server starts. Whether the bucket answers is not: a worker may start before its store.
Status CheckS3Staging(const std::string& staging, const StagingAccess& access);

// A file or a folder's tree uploaded under an S3 staging URL (a folder's at "<url>/<relative>").
Status PushToStaging(const std::string& local, const std::string& url, const StagingAccess& access);
// Every object under the S3 prefix `url` ("s3://b/p/job/chunk-0.a1/") downloaded into `dir` at
// its relative path.
Status PullFolderFromStaging(const std::string& url, const std::string& dir,
                             const StagingAccess& access);
// One object into `path`; InvalidArgument when its size is not `size` (a copy cut short).
Status PullFileFromStaging(const std::string& url, const std::string& path, int64_t size,
                           const StagingAccess& access);

// A job's staging removed: every object under its prefix (S3), or its folder.
Status RemoveStaging(const std::string& job_staging, const StagingAccess& access);
// The ids of the jobs with something staged under `root`.
Result<std::vector<std::string>> StagedJobs(const std::string& root, const StagingAccess& access);

}  // namespace reel::attempt
