// ftp:// and ftps:// ("ftp://user:password@host/path"): download, and upload with the missing
// directories created.
#include "storage/backend.h"

namespace reel::storage {
namespace {

class Ftp final : public CurlBackend {
 public:
  // FTP servers are checked like web servers: by the addresses their host resolves to.
  Result<std::string> CheckSource(const std::string& url, const Options& o) const override {
    REEL_RETURN_IF_ERROR(o.policy.CheckUrl("http://" + url.substr(url.find("://") + 3)));
    return url;
  }
};

}  // namespace

const Backend& FtpBackend() {
  static const Ftp backend;
  return backend;
}

}  // namespace reel::storage
