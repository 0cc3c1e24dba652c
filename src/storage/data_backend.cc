// data: URLs ("data:video/mp4;base64,...."): inline sources, decoded within their cap. Never a
// destination.
#include <fstream>

#include "common/crypto.h"
#include "storage/backend.h"

namespace reel::storage {
namespace {

// "data:[<type>][;base64],<payload>" into bytes.
Result<std::string> DecodeDataUrl(const std::string& url, size_t max_bytes) {
  size_t comma = url.find(',');
  if (comma == std::string::npos) return InvalidArgument("a data: URL needs a comma");
  std::string meta = url.substr(5, comma - 5), payload = url.substr(comma + 1);
  if (meta.size() < 7 || meta.compare(meta.size() - 7, 7, ";base64") != 0)
    return InvalidArgument("inline media must be base64 (data:...;base64,...)");
  if (payload.size() / 4 * 3 > max_bytes + 3)
    return InvalidArgument("inline media is larger than " + std::to_string(max_bytes) + " bytes");
  Result<std::string> bytes = Base64Decode(payload);
  if (!bytes.ok()) return InvalidArgument("inline media is not valid base64");
  if (bytes->size() > max_bytes)
    return InvalidArgument("inline media is larger than " + std::to_string(max_bytes) + " bytes");
  return bytes;
}

class Data final : public Backend {
 public:
  Result<std::string> CheckSource(const std::string& url, const Options& o) const override {
    Result<std::string> bytes = DecodeDataUrl(url, o.max_inline_bytes);
    if (!bytes.ok()) return bytes.status();
    return url;
  }
  Result<std::string> CheckDestination(const std::string&, const Options&) const override {
    return InvalidArgument(
        "unsupported destination (local paths, http(s)://, s3:// and ftp(s):// are)");
  }
  Result<std::string> Fetch(const std::string& url, const std::string& dir,
                            const Options& o) const override {
    Result<std::string> bytes = DecodeDataUrl(url, o.max_inline_bytes);
    if (!bytes.ok()) return bytes.status();
    std::string path = dir + "/inline";
    std::ofstream(path, std::ios::binary) << *bytes;
    return path;
  }
};

}  // namespace

const Backend& DataBackend() {
  static const Data backend;
  return backend;
}

}  // namespace reel::storage
