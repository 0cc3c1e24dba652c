#include "worker/paths.h"

#include <filesystem>

namespace reel::worker {
namespace fs = std::filesystem;

namespace {

bool Within(const fs::path& path, const fs::path& root) {
  auto p = path.begin(), r = root.begin();
  for (; r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // trailing separator
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

}  // namespace

Result<std::string> ResolveLocalPath(const std::vector<std::string>& roots,
                                     const std::string& path_or_url) {
  std::string raw = path_or_url;
  if (raw.rfind("file://", 0) == 0) raw = raw.substr(7);
  if (raw.find("://") != std::string::npos)
    return InvalidArgument("only local paths are supported (got '" + path_or_url + "')");
  if (raw.empty()) return InvalidArgument("empty path");
  if (roots.empty())
    return FailedPrecondition("local paths are disabled: start the server with --allow-path");
  for (const auto& part : fs::path(raw))
    if (part == "..") return FailedPrecondition("'..' is not allowed in paths");
  fs::path p(raw);
  if (p.is_relative()) p = fs::path(roots.front()) / p;
  std::error_code ec;
  // weakly_canonical resolves symlinks in the part that exists, so a link out of a root is seen.
  fs::path resolved = fs::weakly_canonical(p, ec);
  if (ec) return InvalidArgument("cannot resolve '" + raw + "': " + ec.message());
  for (const std::string& root : roots) {
    fs::path r = fs::weakly_canonical(root, ec);
    if (!ec && Within(resolved, r)) {
      std::string out = resolved.string();
      // Keep a trailing slash ("out/hls/" names a directory).
      if (!raw.empty() && raw.back() == '/' && (out.empty() || out.back() != '/')) out += '/';
      return out;
    }
  }
  return FailedPrecondition("'" + raw + "' is outside the allowed paths");
}

Result<std::string> ResolveLocalDestination(const std::vector<std::string>& roots,
                                            const std::string& path_or_url) {
  Result<std::string> resolved = ResolveLocalPath(roots, path_or_url);
  if (!resolved.ok()) return resolved;
  fs::path p = fs::path(*resolved).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  std::error_code ec;
  for (const std::string& root : roots) {
    fs::path r = fs::weakly_canonical(root, ec).lexically_normal();
    if (!r.has_filename()) r = r.parent_path();
    if (!ec && p == r)
      return FailedPrecondition("'" + path_or_url +
                                "' is an allowed root itself; name a file or folder inside it");
  }
  return resolved;
}

}  // namespace reel::worker
