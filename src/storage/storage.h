// Sources and destinations by URL scheme. A job's process fetches remote sources into its
// scratch directory before the engine runs, and delivers outputs written to scratch after it
// succeeds; local paths are used in place, confined to the allowed roots.
//
//   "/data/in.mp4", "file:///data/in.mp4"   local, inside --allow-path
//   "http://...", "https://..."             GET (redirects followed, every hop checked), PUT/POST
//   "data:video/mp4;base64,...."            inline source (10 MiB at most)
//   "s3://[profile@]bucket/key"             S3-compatible stores (s3.h)
//   "ftp://user:password@host/path", ftps   download and upload (directories created)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "net/http.h"
#include "storage/s3.h"

namespace reel::storage {

struct Options {
  std::vector<std::string> allow_paths;
  net::AddressPolicy policy;
  size_t max_inline_bytes = 10 << 20;
  std::map<std::string, S3Profile> s3_profiles;
  int64_t max_download_bytes = 0;  // 0: the transfer default (64 GiB)
};

enum class Kind { kLocal, kHttp, kData, kS3, kFtp, kUnsupported };
Kind KindOf(const std::string& url);

// Checks a source or destination when a job is submitted, so that a bad one is a 400 naming
// the field; returns what to store (a local path resolved, anything else unchanged).
Result<std::string> CheckSource(const std::string& url, const Options& options);
Result<std::string> CheckDestination(const std::string& url, const Options& options);

// A local file holding the source: the path itself, or a download into `scratch`.
Result<std::string> FetchSource(const std::string& url, const std::string& scratch,
                                const Options& options);

// Where the engine writes an output: the destination itself when local, else a path in
// `scratch` (a directory when `directory`), delivered later by Deliver.
Result<std::string> LocalTarget(const std::string& destination, bool directory,
                                const std::string& scratch, const Options& options);

// Uploads what the engine wrote at `local` (a file, or a directory tree file by file) to
// `destination` with `method` (PUT or POST; S3 takes PUT). Returns {url, files, bytes}, and a
// presigned GET URL valid `presign_seconds` for an S3 file when that is above 0.
Result<nlohmann::json> Deliver(const std::string& local, const std::string& destination,
                               const std::string& method, const Options& options,
                               int64_t presign_seconds = 0);

std::string ContentType(const std::string& path);

}  // namespace reel::storage
