// http:// and https://: sources downloaded with GET (redirects followed, every hop checked by
// the address policy), outputs delivered with PUT or POST.
#include "common/redact.h"
#include "storage/backend.h"

namespace reel::storage {
namespace {

class Http final : public Backend {
 public:
  Result<std::string> CheckSource(const std::string& url, const Options& o) const override {
    REEL_RETURN_IF_ERROR(o.policy.CheckUrl(url));
    return url;
  }
  Result<std::string> CheckDestination(const std::string& url, const Options& o) const override {
    return CheckSource(url, o);
  }
  Result<std::string> Fetch(const std::string& url, const std::string& dir,
                            const Options& o) const override {
    std::string path = dir + "/" + FileNameOf(url);
    REEL_RETURN_IF_ERROR(net::Download(url, path, o.policy, SourceLimits(o)));
    return path;
  }

 protected:
  Status PutFile(const std::string& local, const std::string& url, const std::string& method,
                 const Options& o) const override {
    return net::Upload(url, local, method, ContentType(local), o.policy);
  }
};

}  // namespace

const Backend& HttpBackend() {
  static const Http backend;
  return backend;
}

}  // namespace reel::storage
