// Internal to storage: one Backend per URL scheme (local_backend.cc, http_backend.cc,
// ftp_backend.cc, data_backend.cc, s3_backend.cc), found once through the scheme table in
// storage.cc, which only forwards to it. Modelled on Shaka Packager's file/file.cc.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "net/http.h"
#include "storage/storage.h"

namespace reel::storage {

// The s3:// object `url` names (ParseS3Url), refused when it would use a profile of the
// server's on a bucket outside the job's key's scope (Options::key_scope).
Result<S3Object> ParseS3UrlWithin(const std::string& url, const Options& o);

class Backend {
 public:
  virtual ~Backend() = default;

  // At submission: what to store for the URL (a local path resolved, a URL unchanged), or why
  // it cannot be used, so that the API answers 400 naming the field.
  virtual Result<std::string> CheckSource(const std::string& url, const Options& o) const = 0;
  virtual Result<std::string> CheckDestination(const std::string& url, const Options& o) const = 0;

  // The source as a local file: the path itself, or a copy in `dir` (a folder of its own).
  virtual Result<std::string> Fetch(const std::string& url, const std::string& dir,
                                    const Options& o) const = 0;

  // Where the engine writes an output for `destination`; by default a path in `scratch` that
  // Put delivers later.
  virtual Result<std::string> Target(const std::string& destination, bool directory,
                                     const std::string& scratch, const Options& o) const;

  // Delivers what the engine wrote at `local` (a file or a directory tree). By default every
  // file through PutFile, a few at a time (Parallelism), playlists after what they name.
  virtual Result<nlohmann::json> Put(const std::string& local, const std::string& destination,
                                     const std::string& method, const Options& o,
                                     int64_t presign_seconds) const;

 protected:
  // One file to one URL. Only backends that use the default Put implement it.
  virtual Status PutFile(const std::string& local, const std::string& url,
                         const std::string& method, const Options& o) const;
  virtual size_t Parallelism(const std::string& destination, const Options& o) const;
  // A URL that reads `url` for `seconds` without credentials; empty where there is none.
  virtual std::string Presign(const std::string& url, int64_t seconds, const Options& o) const;
  // What a user can fetch the delivered object at (no secrets in it).
  virtual std::string PublicUrl(const std::string& url, const Options& o) const;
};

// The backends whose bytes libcurl moves (http, ftp): a source downloads to a file named after
// its URL, a package uploads file by file; they differ in how a URL is checked.
class CurlBackend : public Backend {
 public:
  Result<std::string> CheckDestination(const std::string& url, const Options& o) const override {
    return CheckSource(url, o);
  }
  Result<std::string> Fetch(const std::string& url, const std::string& dir,
                            const Options& o) const override;

 protected:
  Status PutFile(const std::string& local, const std::string& url, const std::string& method,
                 const Options& o) const override;
};

const Backend& LocalBackend();
const Backend& HttpBackend();
const Backend& FtpBackend();
const Backend& DataBackend();
const Backend& S3Backend();

// Shared by the backends.
// A safe file name for what a URL names ("in.mp4"; "source" when it names nothing usable).
std::string FileNameOf(const std::string& url);
// Limits of a source download (size, speed, deadline): each failure is final (not retried).
net::TransferOptions SourceLimits(const Options& o);

}  // namespace reel::storage
