// KeyScope (storage.h): what of the server's storage one API key reaches.
#include <filesystem>
#include <regex>

#include "storage/local_paths.h"
#include "storage/storage.h"

namespace reel::storage {
namespace {

using nlohmann::json;

// As ParseS3Url accepts them: a profile name, and a bucket under either addressing.
const std::regex& ProfileName() {
  static const std::regex r(R"([A-Za-z0-9._-]{1,64})");
  return r;
}
const std::regex& BucketName() {
  static const std::regex r(R"([A-Za-z0-9._-]{1,222})");
  return r;
}

Result<std::vector<std::string>> Strings(const json& scope, const char* field) {
  std::vector<std::string> out;
  if (!scope.contains(field)) return out;
  const json& list = scope[field];
  if (!list.is_array()) return InvalidArgument(std::string(field) + ": must be a list");
  if (list.size() > kMaxKeyScopeEntries)
    return InvalidArgument(std::string(field) + ": at most " + std::to_string(kMaxKeyScopeEntries));
  for (const json& v : list) {
    if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
        v.get_ref<const std::string&>().size() > 4096)
      return InvalidArgument(std::string(field) + ": each must be a non-empty string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

Result<std::optional<KeyScope>> ParseKeyScope(const json& scope) {
  if (scope.is_null()) return std::optional<KeyScope>();
  if (!scope.is_object()) return InvalidArgument("a key's storage scope must be an object");
  for (const auto& [name, value] : scope.items())
    if (name != "paths" && name != "buckets")
      return InvalidArgument("a key's storage scope has no field '" + name + "'");
  Result<std::vector<std::string>> paths = Strings(scope, "paths");
  if (!paths.ok()) return paths.status();
  Result<std::vector<std::string>> buckets = Strings(scope, "buckets");
  if (!buckets.ok()) return buckets.status();
  KeyScope out;
  for (const std::string& p : *paths) {
    if (p[0] != '/') return InvalidArgument("paths: '" + p + "' is not absolute");
    for (const auto& part : std::filesystem::path(p))
      if (part == "..") return InvalidArgument("paths: '..' is not allowed");
    out.paths.push_back(p);
  }
  for (const std::string& b : *buckets) {
    size_t at = b.find('@');
    std::string profile = at == std::string::npos ? "default" : b.substr(0, at);
    std::string bucket = at == std::string::npos ? b : b.substr(at + 1);
    if (!std::regex_match(profile, ProfileName()) || !std::regex_match(bucket, BucketName()))
      return InvalidArgument("buckets: '" + b + "' is not [profile@]bucket");
    out.buckets.push_back(profile + "@" + bucket);
  }
  return std::optional<KeyScope>(std::move(out));
}

json KeyScopeJson(const KeyScope& scope) {
  return {{"paths", scope.paths}, {"buckets", scope.buckets}};
}

Options Narrowed(Options options, const KeyScope& scope) {
  options.allow_paths = NarrowRoots(options.allow_paths, scope.paths);
  options.key_scope = scope;
  return options;
}

}  // namespace reel::storage
