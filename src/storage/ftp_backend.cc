// ftp:// and ftps:// ("ftp://user:password@host/path"): download, and upload with the missing
// directories created.
#include "storage/backend.h"

namespace reel::storage {
namespace {

class Ftp final : public Backend {
 public:
  // FTP servers are checked like web servers: by the addresses their host resolves to.
  Result<std::string> CheckSource(const std::string& url, const Options& o) const override {
    REEL_RETURN_IF_ERROR(o.policy.CheckUrl("http://" + url.substr(url.find("://") + 3)));
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

const Backend& FtpBackend() {
  static const Ftp backend;
  return backend;
}

}  // namespace reel::storage
