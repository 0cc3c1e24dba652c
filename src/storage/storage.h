// Sources and destinations by URL scheme. A job's process fetches remote sources into its
// scratch directory before the engine runs, and delivers outputs written to scratch after it
// succeeds; local paths are used in place, confined to the allowed roots.
//
//   "/data/in.mp4", "file:///data/in.mp4"   local, inside --allow-path
//   "http://...", "https://..."             GET (redirects followed, every hop checked), PUT/POST
//   "data:video/mp4;base64,...."            inline source (10 MiB at most)
//   "s3://[profile@]bucket/key"             S3-compatible stores (s3.h)
//   "ftp://user:password@host/path", ftps   download and upload (directories created)
//
// Each scheme is one backend (backend.h, *_backend.cc) found once in a table; local paths follow
// local_paths.h, and never reach where the server keeps its own files (forbidden_roots).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "net/http.h"
#include "storage/s3.h"

namespace reel::storage {

// What of the server's own storage one API key reaches (`reel keys create --allow-path DIR
// --allow-bucket [PROFILE@]BUCKET`): local paths under its roots (the parts of them inside the
// server's --allow-path) and, with the server's S3 profiles, its buckets. What a tenant reaches
// with access of its own stays open: http(s), ftp(s) with its password, s3 with the job's own
// credentials, inline data. A key without a scope (a team's key) reaches all the server allows.
struct KeyScope {
  std::vector<std::string> paths;    // absolute, resolved when the key was made
  std::vector<std::string> buckets;  // "profile@bucket" ("default@b" for s3://b/...)
};
inline constexpr size_t kMaxKeyScopeEntries = 64;

// A scope as stored or given ({"paths": [...], "buckets": [...]}; a bucket without a profile is
// the default profile's), checked: at most kMaxKeyScopeEntries of each, paths absolute without
// "..", bucket and profile names as s3:// URLs spell them. nullopt for null (no scope).
Result<std::optional<KeyScope>> ParseKeyScope(const nlohmann::json& scope);
nlohmann::json KeyScopeJson(const KeyScope& scope);

struct Options;
// `options` narrowed to `scope`: its local roots to their parts inside the key's, its use of
// the server's S3 profiles to the key's buckets.
Options Narrowed(Options options, const KeyScope& scope);

struct Options {
  std::vector<std::string> allow_paths;
  // Set by Narrowed: allow_paths are one key's, and the server's S3 profiles reach only its
  // buckets.
  std::optional<KeyScope> key_scope;
  net::AddressPolicy policy;
  size_t max_inline_bytes = 10 << 20;
  std::map<std::string, S3Profile> s3_profiles;
  // Sources (downloads) larger than this are refused, as soon as a Content-Length or the bytes
  // received pass it; so are sources slower than min_source_speed bytes a second for
  // low_speed_seconds, or not done in max_source_seconds (0: no deadline). These failures are
  // kInvalidArgument: a job's attempt does not retry them.
  int64_t max_download_bytes = int64_t{20} << 30;
  int64_t min_source_speed = 1024;
  double low_speed_seconds = 30;
  double max_source_seconds = 3 * 3600;
  // Where no job may write, whatever --allow-path says: the server's data directory, its
  // scratch directory. The running binary is always refused too. An "s3://bucket/prefix/"
  // entry (an S3 staging) refuses every S3 source and destination under that prefix.
  std::vector<std::string> forbidden_roots;
  // Headers for the S3 objects a delivery uploads (one output's "acl", "metadata"...); the
  // caller sets them per output on a copy of its options.
  S3Headers s3_headers;
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

// One byte range of an s3:// object (an HTTP Range value, "bytes=0-99"), downloaded into
// `scratch`: the store is asked for those bytes only. InvalidArgument for other kinds of URL.
struct RangeFetch {
  std::string path;
  std::string content_range;   // "bytes 0-99/1234"; empty when the store sent it all
  bool unsatisfiable = false;  // the range starts past the end (object_size, if known)
  int64_t object_size = -1;
};
Result<RangeFetch> FetchSourceRange(const std::string& url, const std::string& range,
                                    const std::string& scratch, const Options& options);

// Where the engine writes an output: the destination itself when local, else a path in
// `scratch` (a directory when `directory`), delivered later by Deliver.
Result<std::string> LocalTarget(const std::string& destination, bool directory,
                                const std::string& scratch, const Options& options);

// Uploads what the engine wrote at `local` (a file, or a directory tree file by file) to
// `destination` with `method` (PUT or POST; S3 takes PUT). Returns {url, files, bytes,
// public_url}: public_url is where a user reads it (an S3 object's https URL; for a directory,
// the prefix each file's relative path is appended to), with "master" and "manifest" for a
// package that has them, and a presigned GET URL valid `presign_seconds` for an S3 file (or a
// package's master) when that is above 0.
Result<nlohmann::json> Deliver(const std::string& local, const std::string& destination,
                               const std::string& method, const Options& options,
                               int64_t presign_seconds = 0);

// Points an engine output's result (`output`, as engine::ToJson gives it) at what Deliver made
// of `local`: its "path" becomes the destination, paths of files under `local` (master,
// manifest, images...) their URLs, and "delivered" is set. No scratch path stays behind.
void PointAtDelivered(nlohmann::json& output, const std::string& local,
                      const nlohmann::json& delivered);

// Whether writing `destination` would destroy `source`, both as CheckSource and
// CheckDestination returned them (only local paths can): the same file by resolved path or by
// device and inode (a hard link), or a source inside a destination that is a directory (named
// with a trailing '/' or one now), which an output replaces whole.
bool SameFile(const std::string& source, const std::string& destination);
// kInvalidArgument when `destination` would overwrite one of `sources` (SameFile), so that the
// API answers 400 naming the destination's field.
Status CheckNotASource(const std::string& destination, const std::vector<std::string>& sources);

std::string ContentType(const std::string& path);

// Refuses (kFailedPrecondition) a local destination that resolves, following the symlinks of
// the parts that exist now, inside a forbidden root or onto the running binary, or that would
// replace a directory holding one. CheckDestination and LocalTarget call it; the engine should
// call it again right before it moves an output into place, since a symlink may be swapped in
// between. The message names the path relative to its allowed root, never the server's layout.
Status CheckLocalWrite(const std::string& destination, const Options& options);

}  // namespace reel::storage
