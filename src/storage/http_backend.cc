// http:// and https://: sources downloaded with GET (redirects followed, every hop checked by
// the address policy), outputs delivered with PUT or POST.
#include "storage/backend.h"

namespace reel::storage {
namespace {

class Http final : public CurlBackend {
 public:
  Result<std::string> CheckSource(const std::string& url, const Options& o) const override {
    REEL_RETURN_IF_ERROR(o.policy.CheckUrl(url));
    return url;
  }
};

}  // namespace

const Backend& HttpBackend() {
  static const Http backend;
  return backend;
}

}  // namespace reel::storage
