#include "worker/child_env.h"

#include <unistd.h>

#include <cstring>
#include <set>
#include <string_view>

extern char** environ;

namespace reel::worker {
namespace {

bool StartsWith(const char* entry, std::string_view prefix) {
  return std::strncmp(entry, prefix.data(), prefix.size()) == 0;
}

bool NamesS3(const nlohmann::json& value) {
  if (value.is_string()) return value.get_ref<const std::string&>().rfind("s3://", 0) == 0;
  if (value.is_array())
    for (const nlohmann::json& v : value)
      if (NamesS3(v)) return true;
  if (value.is_object())
    for (const auto& [key, v] : value.items())
      if (key != "metadata" && NamesS3(v)) return true;
  return false;
}

// The S3 profile an s3:// URL names: "s3://NAME@bucket/key", else "default".
std::string ProfileOf(const std::string& url) {
  std::string rest = url.substr(5);
  size_t at = rest.find('@'), slash = rest.find('/');
  return at != std::string::npos && (slash == std::string::npos || at < slash) ? rest.substr(0, at)
                                                                               : "default";
}

void NamedProfiles(const nlohmann::json& value, std::set<std::string>* names) {
  if (value.is_string() && value.get_ref<const std::string&>().rfind("s3://", 0) == 0)
    names->insert(ProfileOf(value.get<std::string>()));
  if (value.is_array())
    for (const nlohmann::json& v : value) NamedProfiles(v, names);
  if (value.is_object())
    for (const auto& [key, v] : value.items())
      if (key != "metadata") NamedProfiles(v, names);
}

}  // namespace

bool UsesS3(const nlohmann::json& spec) { return NamesS3(spec); }

nlohmann::json ChildStorageConfig(const nlohmann::json& config, const nlohmann::json& spec,
                                  const std::vector<std::string>& more_urls) {
  std::set<std::string> names;
  NamedProfiles(spec, &names);
  for (const std::string& url : more_urls)
    if (url.rfind("s3://", 0) == 0) names.insert(ProfileOf(url));
  if (!config.is_object() || !config.contains("s3") || !config["s3"].is_object()) return nullptr;
  nlohmann::json profiles = nlohmann::json::object();
  for (const std::string& name : names)
    if (config["s3"].contains(name)) profiles[name] = config["s3"][name];
  if (profiles.empty()) return nullptr;
  return {{"s3", std::move(profiles)}};
}

std::vector<std::string> ChildEnvironment(const nlohmann::json& spec, bool staging_in_s3) {
  // A list of what to keep, not of what to drop: a secret the server is given tomorrow under a
  // new name stays out without anyone remembering to add it here.
  static constexpr std::string_view kAlways[] = {
      "PATH=", "HOME=", "LANG=",  "LC_",   "TZ=",          "TMPDIR=",          "FONTCONFIG",
      "XDG_",  "ASAN_", "UBSAN_", "LSAN_", "REEL_AV_LOG=", "REEL_TEST_HOOKS=", "REEL_CONFINE="};
  // The server's S3 keys and the AWS chain's settings sign the job's S3 requests; a job that
  // names no s3:// URL has no use for them, unless its chunks go to an S3 staging.
  static constexpr std::string_view kForS3[] = {"REEL_S3_", "AWS_"};
  bool s3 = staging_in_s3 || UsesS3(spec);
  std::vector<std::string> kept;
  for (char** e = environ; *e; ++e) {
    bool keep = false;
    for (std::string_view prefix : kAlways) keep = keep || StartsWith(*e, prefix);
    if (s3)
      for (std::string_view prefix : kForS3) keep = keep || StartsWith(*e, prefix);
    if (keep) kept.push_back(*e);
  }
  // Who the child's parent is meant to be: a child reading getppid() itself gets init's pid when
  // the worker died while it was starting, and would run its job unwatched (see run-job).
  kept.push_back("REEL_WORKER_PID=" + std::to_string(getpid()));
  return kept;
}

}  // namespace reel::worker
