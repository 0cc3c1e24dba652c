// What an attempt's process may open once it runs the job (ConfineAttempt): see attempt.h.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "attempt/attempt.h"
#include "attempt/staging_store.h"
#include "attempt/task_staging.h"
#include "common/confine.h"
#include "common/log.h"

namespace reel::attempt {
namespace {

namespace fs = std::filesystem;

// The system's files, read only: libraries and their data (codecs, locales, TLS settings), and
// of /etc, /proc and /dev only what an attempt reads: CA certificates, name resolution, fonts,
// time zones; its own /proc entries (the pinned files' /proc/self/fd links lead to the files
// themselves, which are judged by where they are). Not the rest of /etc and /run, where
// deployments keep secrets (/etc/reel/storage.json, TLS keys, Kubernetes' service account).
constexpr const char* kSystemFiles[] = {"/usr",
                                        "/lib",
                                        "/lib32",
                                        "/lib64",
                                        "/bin",
                                        "/sbin",
                                        "/etc/ssl",
                                        "/etc/pki",
                                        "/etc/ca-certificates",
                                        "/etc/fonts",
                                        "/etc/alternatives",
                                        "/etc/resolv.conf",
                                        "/etc/hosts",
                                        "/etc/nsswitch.conf",
                                        "/etc/gai.conf",
                                        "/etc/host.conf",
                                        "/etc/services",
                                        "/etc/protocols",
                                        "/etc/localtime",
                                        "/etc/timezone",
                                        "/etc/ld.so.cache",
                                        "/run/systemd/resolve",
                                        "/run/resolvconf",
                                        "/proc/self",
                                        "/proc/cpuinfo",
                                        "/proc/meminfo",
                                        "/proc/stat",
                                        "/sys/devices/system/cpu",
                                        "/sys/fs/cgroup",
                                        "/dev/zero",
                                        "/dev/urandom",
                                        "/dev/random",
                                        "/var/cache/fontconfig"};

// The files the AWS credential chain may read while the attempt runs (aws_credentials.h), and
// fontconfig's own, read only.
constexpr const char* kFilesNamedByEnvironment[] = {"AWS_SHARED_CREDENTIALS_FILE",
                                                    "AWS_CONFIG_FILE",
                                                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                                    "FONTCONFIG_FILE",
                                                    "FONTCONFIG_PATH"};

// In the home folder: the AWS chain's files, and the user's fonts and their cache.
constexpr const char* kHomeFolders[] = {".aws", ".cache/fontconfig", ".local/share/fonts",
                                        ".fonts"};

bool Within(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

// A folder the attempt writes in, made now: a rule can name only what exists.
void AddFolder(const std::string& dir, FileAccess* access) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  access->read_write.push_back(dir);
}

}  // namespace

Status ConfineAttempt(const Environment& env, bool task) {
  if (const char* on = std::getenv("REEL_CONFINE"); on && std::string(on) == "0")
    return Status::Ok();
  // The engine's few temporary files (a copy of a subtitles file) go to the scratch too.
  if (!env.scratch.empty()) setenv("TMPDIR", env.scratch.c_str(), 1);
  FileAccess access;
  // The job's local roots, as its key's scope left them (sources and destinations alike).
  access.read_write = env.storage.allow_paths;
  AddFolder(env.scratch, &access);
  // This job's staging folder only (a job's attempt stages its sources there when it fans out;
  // the worker removes the folder again, empty, when it did not).
  if (!env.staging.empty() && !IsS3Staging(env.staging)) AddFolder(env.staging, &access);
  // This job's part of the host's caches, not the other jobs' beside it: only its tasks use them.
  if (task && !env.staging.empty()) {
    if (!env.source_cache.empty())
      AddFolder((fs::path(env.source_cache) / StagingJob(env)).string(), &access);
    if (!env.publish_cache.empty())
      AddFolder((fs::path(env.publish_cache) / StagingJob(env)).string(), &access);
  }
  access.read_write.push_back("/dev/null");
  for (const char* path : kSystemFiles) access.read_only.push_back(path);
  for (const char* name : kFilesNamedByEnvironment)
    if (const char* path = std::getenv(name); path && *path) access.read_only.push_back(path);
  if (const char* home = std::getenv("HOME"); home && *home)
    for (const char* dir : kHomeFolders) access.read_only.push_back(std::string(home) + "/" + dir);
  // A rule reaches all beneath its folder, and Landlock takes nothing back: a folder the server
  // refuses jobs (--forbid-path) inside an allowed root stays within the process's reach.
  for (const std::string& forbidden : env.storage.forbidden_roots)
    for (const std::string& root : env.storage.allow_paths)
      if (forbidden.rfind("s3://", 0) != 0 &&
          Within(fs::path(forbidden).lexically_normal(), fs::path(root).lexically_normal()))
        log::Warn("a forbidden folder lies inside an allowed root: it stays within reach",
                  {{"forbidden", forbidden}, {"root", root}});
  Result<int> abi = ConfineFileAccess(access);
  // A container whose seccomp profile lets the ruleset be made but not applied runs the job as
  // before, saying so: the confinement is a wall behind the storage checks, not the checks.
  if (!abi.ok())
    log::Warn("the attempt runs unconfined", {{"error", abi.status().message()}});
  else if (*abi == 0)
    log::Warn("the attempt runs unconfined", {{"error", "this kernel has no Landlock (ABI 2+)"}});
  else
    log::Debug("attempt confined", {{"landlock_abi", *abi}});
  return Status::Ok();
}

}  // namespace reel::attempt
