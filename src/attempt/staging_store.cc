#include "attempt/staging_store.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/crypto.h"
#include "net/http.h"
#include "storage/storage.h"

namespace reel::attempt {
namespace {

namespace fs = std::filesystem;

// The staging's endpoint is the operator's: reached wherever it is, loopback included.
const net::AddressPolicy& AnyAddress() {
  static const net::AddressPolicy policy = *net::AddressPolicy::Parse({"0.0.0.0/0", "::/0"});
  return policy;
}

storage::Options OptionsFor(const StagingAccess& access) {
  storage::Options o;
  o.s3_profiles = access.profiles;
  o.policy = AnyAddress();
  return o;
}

// An S3 prefix URL's object (its key the prefix), a '/' added to end the prefix.
Result<storage::S3Object> PrefixOf(std::string url, const StagingAccess& access) {
  if (url.empty() || url.back() != '/') url += '/';
  // ParseS3Url wants a key: a root staging ("s3://bucket/") lists the whole bucket.
  return storage::ParseS3Url(url, access.profiles);
}

// A relative key that stays inside the folder it is written under.
bool SafeRelative(const std::string& rel) {
  if (rel.empty() || rel[0] == '/') return false;
  for (const auto& part : fs::path(rel))
    if (part == ".." || part == ".") return false;
  return true;
}

}  // namespace

bool IsS3Staging(const std::string& staging) { return staging.rfind("s3://", 0) == 0; }

std::string JobStaging(const std::string& root, const std::string& job_id) {
  if (!IsS3Staging(root)) return (fs::path(root) / job_id).string();
  return (root.back() == '/' ? root : root + "/") + job_id + "/";
}

StagingAccess MakeStagingAccess(std::map<std::string, storage::S3Profile> server_profiles) {
  StagingAccess access{std::move(server_profiles)};
  for (auto& [name, profile] : access.profiles) {
    profile.acl.clear();
    profile.cache_control.clear();
  }
  return access;
}

Result<StagingAccess> ServerStagingAccess(const std::string& storage_config) {
  Result<std::map<std::string, storage::S3Profile>> profiles =
      storage::LoadS3Profiles(storage_config);
  if (!profiles.ok()) return profiles.status();
  return MakeStagingAccess(std::move(*profiles));
}

std::string StagingIdentity(const std::string& root, bool shared, const std::string& host,
                            const StagingAccess& access) {
  if (root.empty()) return "";
  std::string what;
  if (IsS3Staging(root)) {
    Result<storage::S3Object> prefix = PrefixOf(root, access);
    what = prefix.ok() ? "s3 " + prefix->profile.endpoint + " " + prefix->bucket + " " + prefix->key
                       : "s3 " + root;
  } else {
    std::string path = root;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    std::error_code ec;
    what = "folder " + (shared ? "" : host + " ") +
           fs::weakly_canonical(fs::absolute(path), ec).string();
  }
  return "sha256:" + Sha256Hex(what);
}

Status CheckS3Staging(const std::string& staging, const StagingAccess& access) {
  if (!IsS3Staging(staging)) return InvalidArgument("not an s3:// URL");
  Result<storage::S3Object> prefix = PrefixOf(staging, access);
  return prefix.ok() ? Status::Ok() : prefix.status();
}

Status PushToStaging(const std::string& local, const std::string& url,
                     const StagingAccess& access) {
  Result<nlohmann::json> done = storage::Deliver(local, url, "PUT", OptionsFor(access));
  return done.ok() ? Status::Ok() : done.status();
}

Status PullFolderFromStaging(const std::string& url, const std::string& dir,
                             const StagingAccess& access) {
  Result<storage::S3Object> prefix = PrefixOf(url, access);
  if (!prefix.ok()) return prefix.status();
  Result<storage::S3Listing> listed = storage::S3List(*prefix, "", AnyAddress());
  if (!listed.ok()) return listed.status();
  std::vector<std::pair<storage::S3Object, fs::path>> files;
  for (const auto& [key, size] : listed->objects) {
    std::string rel = key.substr(prefix->key.size());
    if (!SafeRelative(rel)) return Internal("an unexpected object in the job's staging");
    storage::S3Object object = *prefix;
    object.key = key;
    files.push_back({object, fs::path(dir) / rel});
  }
  // A few downloads at a time, as deliveries go up: a chunk is many small segments.
  size_t parallel = 4;
  for (const auto& [name, profile] : access.profiles)
    if (name == prefix->profile_name) parallel = std::max(1, profile.parallel_uploads);
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first_error;
  auto worker = [&] {
    for (size_t i; (i = next++) < files.size();) {
      std::error_code ec;
      fs::create_directories(files[i].second.parent_path(), ec);
      Status s = storage::S3Get(files[i].first, files[i].second.string(), AnyAddress());
      if (!s.ok()) {
        std::lock_guard lock(mu);
        if (first_error.ok()) first_error = s;
        next = files.size();
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < std::min(parallel, files.size()); ++t) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  return first_error;
}

Status PullFileFromStaging(const std::string& url, const std::string& path, int64_t size,
                           const StagingAccess& access) {
  Result<storage::S3Object> object = storage::ParseS3Url(url, access.profiles);
  if (!object.ok()) return object.status();
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  REEL_RETURN_IF_ERROR(storage::S3Get(*object, path, AnyAddress()));
  int64_t got = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec || got != size)
    return InvalidArgument("the staged copy has " + std::to_string(got) + " bytes, not " +
                           std::to_string(size));
  return Status::Ok();
}

Status RemoveStaging(const std::string& job_staging, const StagingAccess& access) {
  if (!IsS3Staging(job_staging)) {
    std::error_code ec;
    fs::remove_all(job_staging, ec);
    return ec ? Unavailable("cannot remove " + job_staging + ": " + ec.message()) : Status::Ok();
  }
  Result<storage::S3Object> prefix = PrefixOf(job_staging, access);
  if (!prefix.ok()) return prefix.status();
  // Never the whole staging by mistake: a job's prefix is below the root.
  if (prefix->key.empty()) return InvalidArgument("refusing to empty a whole bucket");
  Result<storage::S3Listing> listed = storage::S3List(*prefix, "", AnyAddress());
  if (!listed.ok()) return listed.status();
  for (const auto& [key, size] : listed->objects) {
    storage::S3Object object = *prefix;
    object.key = key;
    REEL_RETURN_IF_ERROR(storage::S3Delete(object, AnyAddress()));
  }
  return Status::Ok();
}

Result<std::vector<std::string>> StagedJobs(const std::string& root, const StagingAccess& access) {
  std::vector<std::string> ids;
  if (!IsS3Staging(root)) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root, ec)) ids.push_back(e.path().filename());
    return ids;
  }
  Result<storage::S3Object> prefix = PrefixOf(root, access);
  if (!prefix.ok()) return prefix.status();
  Result<storage::S3Listing> listed = storage::S3List(*prefix, "/", AnyAddress());
  if (!listed.ok()) return listed.status();
  for (std::string p : listed->prefixes) {
    p = p.substr(prefix->key.size());
    if (!p.empty() && p.back() == '/') p.pop_back();
    if (!p.empty() && p.find('/') == std::string::npos) ids.push_back(p);
  }
  return ids;
}

}  // namespace reel::attempt
