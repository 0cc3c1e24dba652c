#include "attempt/task_staging.h"

#include <unistd.h>

#include <filesystem>

#include "attempt/run_parts.h"
#include "attempt/staging_store.h"
#include "common/crypto.h"
#include "common/log.h"
#include "storage/storage.h"

namespace reel::attempt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool IsRemote(const std::string& url) {
  storage::Kind kind = storage::KindOf(url);
  return kind == storage::Kind::kHttp || kind == storage::Kind::kS3 || kind == storage::Kind::kFtp;
}

// A staged name as StageSources makes them: "sources/<n>/<file>", nothing that climbs out.
bool StagedName(const std::string& name) {
  if (name.rfind("sources/", 0) != 0) return false;
  for (const auto& part : fs::path(name))
    if (part == ".." || part == "." || part.empty()) return false;
  return true;
}

StagingAccess AccessOf(const Environment& env) { return MakeStagingAccess(env.staging_profiles); }

// The host's cached copy of a staged source: <source_cache>/<job>/<name>.
fs::path HostCopy(const Environment& env, const std::string& name) {
  if (env.source_cache.empty()) return {};
  return fs::path(env.source_cache) / StagingJob(env) / name;
}

// The cached copy, linked into the task's scratch (the cache may be swept while it runs).
Status FromHostCache(const Environment& env, const std::string& name, int64_t size,
                     const std::string& local) {
  fs::path cached = HostCopy(env, name);
  std::error_code ec;
  if (cached.empty() || static_cast<int64_t>(fs::file_size(cached, ec)) != size || ec)
    return NotFound("not cached");
  fs::create_directories(fs::path(local).parent_path(), ec);
  fs::remove(local, ec);
  ec.clear();
  fs::create_hard_link(cached, local, ec);
  return ec ? NotFound("not linked") : Status::Ok();
}

// Keeps a downloaded copy for the host's next task, renamed into place (never half of one).
void ToHostCache(const Environment& env, const std::string& name, const std::string& local) {
  fs::path cached = HostCopy(env, name);
  if (cached.empty()) return;
  fs::path part = cached;
  part += ".part" + std::to_string(::getpid());
  std::error_code ec;
  fs::create_directories(cached.parent_path(), ec);
  fs::create_hard_link(local, part, ec);
  if (!ec) fs::rename(part, cached, ec);
  if (ec) fs::remove(part, ec);
}

}  // namespace

std::string LocalStaging(const Environment& env) {
  return IsS3Staging(env.staging) ? (fs::path(env.scratch) / "staging").string() : env.staging;
}

Status PublishFolder(const Environment& env, const std::string& folder) {
  if (!IsS3Staging(env.staging)) return Status::Ok();
  fs::path local = fs::path(LocalStaging(env)) / folder;
  std::error_code ec;
  if (!fs::exists(local, ec)) return Status::Ok();  // a silent source's audio: nothing written
  return PushToStaging(local.string(), env.staging + folder + "/", AccessOf(env));
}

Status FetchFolders(const Environment& env, const std::vector<std::string>& folders) {
  if (!IsS3Staging(env.staging)) return Status::Ok();
  StagingAccess access = AccessOf(env);
  for (const std::string& folder : folders)
    REEL_RETURN_IF_ERROR(PullFolderFromStaging(
        env.staging + folder + "/", (fs::path(LocalStaging(env)) / folder).string(), access));
  return Status::Ok();
}

std::string StagingJob(const Environment& env) {
  std::string job = env.staging;
  while (!job.empty() && job.back() == '/') job.pop_back();
  return job.substr(job.rfind('/') + 1);
}

Result<std::string> FetchFoldersInto(const Environment& env,
                                     const std::vector<std::string>& folders,
                                     const std::string& cache) {
  if (!IsS3Staging(env.staging)) return env.staging;
  std::error_code ec;
  fs::create_directories(cache, ec);
  if (ec) return Unavailable("cannot create the publisher's cache: " + ec.message());
  // What a turn killed while downloading left: never taken for a whole copy.
  std::vector<fs::path> parts;
  for (const auto& e : fs::directory_iterator(cache, ec))
    if (e.path().extension() == ".part") parts.push_back(e.path());
  for (const fs::path& part : parts) fs::remove_all(part, ec);
  StagingAccess access = AccessOf(env);
  for (const std::string& folder : folders) {
    fs::path whole = fs::path(cache) / folder;
    if (fs::is_directory(whole, ec)) continue;
    fs::path part = whole;
    part += ".part";
    REEL_RETURN_IF_ERROR(PullFolderFromStaging(env.staging + folder + "/", part.string(), access));
    fs::create_directories(part, ec);  // a silent source's audio: an empty folder
    fs::rename(part, whole, ec);
    if (ec) return Unavailable("cannot keep a fetched folder: " + ec.message());
  }
  return cache;
}

Resolver Recording(Resolver resolve, FetchedSources* fetched) {
  return [resolve = std::move(resolve), fetched](const std::string& url, const std::string& field,
                                                 Role role) -> Result<std::string> {
    Result<std::string> p = resolve(url, field, role);
    if (p.ok() && role == Role::kSource && IsRemote(url)) (*fetched)[field] = {url, *p};
    return p;
  };
}

Status StageSources(const FetchedSources& fetched, const Environment& env, FanOutMessage* m) {
  if (fetched.empty() || env.staging.empty()) return Status::Ok();
  json sources = json::object();
  int n = 0;
  for (const auto& [field, source] : fetched) {
    const auto& [url, local] = source;
    std::error_code ec;
    int64_t size = static_cast<int64_t>(fs::file_size(local, ec));
    if (ec) return Unavailable(field + ": cannot read the fetched copy");
    std::string name = "sources/" + std::to_string(n++) + "/" + fs::path(local).filename().string();
    if (IsS3Staging(env.staging)) {
      REEL_RETURN_IF_ERROR(
          PushToStaging(local, env.staging + name, AccessOf(env)).WithContext(field));
    } else {
      // A hard link where the scratch and the staging share a file system (the data directory),
      // else a copy; renamed into place, so a task never reads half of one.
      fs::path dest = fs::path(env.staging) / name, part = dest;
      part += ".part";
      fs::create_directories(dest.parent_path(), ec);
      fs::remove(part, ec);
      ec.clear();
      fs::create_hard_link(local, part, ec);
      if (ec) {
        ec.clear();
        fs::copy_file(local, part, fs::copy_options::overwrite_existing, ec);
      }
      if (!ec) fs::rename(part, dest, ec);
      if (ec) return Unavailable(field + ": cannot stage the source: " + ec.message());
    }
    // The URL's hash, not the URL: task payloads are stored unsealed, and a URL may carry a
    // password or a token.
    sources[field] = {{"url_sha256", Sha256Hex(url)}, {"name", name}, {"size", size}};
  }
  for (PlannedTask& t : m->tasks) t.payload["sources"] = sources;
  return Status::Ok();
}

Resolver StagedSourceResolver(Resolver resolve, const json& payload, const Environment& env,
                              ServerPaths* paths) {
  json sources = payload.is_object() ? payload.value("sources", json::object()) : json::object();
  return [resolve = std::move(resolve), sources, &env, paths](
             const std::string& url, const std::string& field, Role role) -> Result<std::string> {
    auto entry = sources.is_object() ? sources.find(field) : sources.end();
    if (role != Role::kSource || entry == sources.end() || !entry->is_object() ||
        entry->value("url_sha256", "") != Sha256Hex(url) || env.staging.empty())
      return resolve(url, field, role);
    std::string name = entry->value("name", "");
    int64_t size = entry->value("size", int64_t{-1});
    if (!StagedName(name)) return resolve(url, field, role);
    std::string local;
    Status ready;
    if (IsS3Staging(env.staging)) {
      local = (fs::path(env.scratch) / "staged" / name).string();
      ready = FromHostCache(env, name, size, local);
      if (!ready.ok()) {
        ready = PullFileFromStaging(env.staging + name, local, size, AccessOf(env));
        if (ready.ok()) ToHostCache(env, name, local);
      }
    } else {
      local = (fs::path(env.staging) / name).string();
      std::error_code ec;
      int64_t got = static_cast<int64_t>(fs::file_size(local, ec));
      if (ec || got != size) ready = NotFound("missing or cut short");
    }
    if (!ready.ok()) {
      // Fetching the source again costs a download; failing the task would cost the job.
      log::Warn("the staged copy of a source is unusable; fetching the source again",
                {{"field", field}});
      return resolve(url, field, role);
    }
    if (paths) paths->Add(local, url, field);
    return local;
  };
}

}  // namespace reel::attempt
