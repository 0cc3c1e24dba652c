// Local paths ("/data/in.mp4", "file:///data/in.mp4", "in/a.mp4"): used in place, confined to
// the allowed roots (local_paths.h); the engine writes outputs straight to their destination.
#include "storage/backend.h"
#include "storage/local_paths.h"

namespace reel::storage {
namespace {

// A key whose scope meets none of the server's roots has no local paths, which is not the
// server's "--allow-path" missing.
Status KeyHasPaths(const Options& o) {
  if (o.key_scope && o.allow_paths.empty())
    return FailedPrecondition("local paths are outside this API key's storage");
  return Status::Ok();
}

class Local final : public Backend {
 public:
  Result<std::string> CheckSource(const std::string& url, const Options& o) const override {
    REEL_RETURN_IF_ERROR(KeyHasPaths(o));
    return ResolveLocalPath(o.allow_paths, url);
  }
  Result<std::string> CheckDestination(const std::string& url, const Options& o) const override {
    REEL_RETURN_IF_ERROR(KeyHasPaths(o));
    Result<std::string> resolved = ResolveLocalDestination(o.allow_paths, url);
    if (!resolved.ok()) return resolved;
    REEL_RETURN_IF_ERROR(CheckNotForbidden(o.allow_paths, o.forbidden_roots, *resolved));
    return resolved;
  }
  Result<std::string> Fetch(const std::string& url, const std::string&,
                            const Options& o) const override {
    return CheckSource(url, o);
  }
  // Resolved again when the job runs: a symlink swapped in since submission is seen.
  Result<std::string> Target(const std::string& destination, bool, const std::string&,
                             const Options& o) const override {
    return CheckDestination(destination, o);
  }
  // Written in place by the engine: nothing to move.
  Result<nlohmann::json> Put(const std::string&, const std::string& destination, const std::string&,
                             const Options&, int64_t) const override {
    return nlohmann::json{{"url", destination}};
  }
};

}  // namespace

const Backend& LocalBackend() {
  static const Local backend;
  return backend;
}

}  // namespace reel::storage
