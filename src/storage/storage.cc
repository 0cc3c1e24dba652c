#include "storage/storage.h"

#include <filesystem>
#include <functional>

#include "common/redact.h"
#include "storage/backend.h"
#include "storage/local_paths.h"
#include "storage/s3.h"

namespace reel::storage {
namespace {

namespace fs = std::filesystem;

// Every scheme and its backend: the one place that knows which is which.
struct Scheme {
  const char* prefix;
  Kind kind;
  const Backend& (*backend)();
};
constexpr Scheme kSchemes[] = {
    {"http://", Kind::kHttp, HttpBackend},   {"https://", Kind::kHttp, HttpBackend},
    {"data:", Kind::kData, DataBackend},     {"s3://", Kind::kS3, S3Backend},
    {"ftp://", Kind::kFtp, FtpBackend},      {"ftps://", Kind::kFtp, FtpBackend},
    {"file://", Kind::kLocal, LocalBackend},
};

const Scheme* SchemeOf(const std::string& url) {
  for (const Scheme& s : kSchemes)
    if (url.rfind(s.prefix, 0) == 0) return &s;
  static const Scheme kPath = {"", Kind::kLocal, LocalBackend};
  if (url.find("://") == std::string::npos) return &kPath;
  return nullptr;
}

}  // namespace

Kind KindOf(const std::string& url) {
  const Scheme* s = SchemeOf(url);
  return s ? s->kind : Kind::kUnsupported;
}

Result<std::string> CheckSource(const std::string& url, const Options& o) {
  const Scheme* s = SchemeOf(url);
  if (!s)
    return InvalidArgument(
        "unsupported scheme (local paths, http(s)://, s3://, ftp(s):// and data: are)");
  return s->backend().CheckSource(url, o);
}

Result<std::string> CheckDestination(const std::string& url, const Options& o) {
  const Scheme* s = SchemeOf(url);
  if (!s)
    return InvalidArgument(
        "unsupported destination (local paths, http(s)://, s3:// and ftp(s):// are)");
  return s->backend().CheckDestination(url, o);
}

Result<std::string> FetchSource(const std::string& url, const std::string& scratch,
                                const Options& o) {
  const Scheme* s = SchemeOf(url);
  if (!s) return InvalidArgument("unsupported source " + RedactUrl(url));
  if (s->kind == Kind::kLocal) return s->backend().Fetch(url, "", o);
  // Each source gets its own folder so two with the same file name never collide.
  std::string dir =
      (fs::path(scratch) / "inputs" / std::to_string(std::hash<std::string>{}(url))).string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  return s->backend().Fetch(url, dir, o);
}

Result<RangeFetch> FetchSourceRange(const std::string& url, const std::string& range,
                                    const std::string& scratch, const Options& o) {
  if (KindOf(url) != Kind::kS3) return InvalidArgument("byte ranges are read from S3 only");
  Result<S3Object> obj = ParseS3UrlWithin(url, o);
  if (!obj.ok()) return obj.status();
  std::error_code ec;
  fs::create_directories(scratch, ec);
  RangeFetch out;
  out.path = (fs::path(scratch) / "range").string();
  Result<S3Range> r = S3GetRange(*obj, out.path, range, o.policy, SourceLimits(o));
  if (!r.ok()) return r.status();
  out.content_range = r->content_range;
  out.unsatisfiable = r->unsatisfiable;
  out.object_size = r->object_size;
  return out;
}

Result<std::string> LocalTarget(const std::string& destination, bool directory,
                                const std::string& scratch, const Options& o) {
  const Scheme* s = SchemeOf(destination);
  if (!s) return InvalidArgument("unsupported destination " + RedactUrl(destination));
  return s->backend().Target(destination, directory, scratch, o);
}

Result<nlohmann::json> Deliver(const std::string& local, const std::string& destination,
                               const std::string& method, const Options& o,
                               int64_t presign_seconds) {
  const Scheme* s = SchemeOf(destination);
  if (!s) return InvalidArgument("unsupported destination " + RedactUrl(destination));
  return s->backend().Put(local, destination, method, o, presign_seconds);
}

void PointAtDelivered(nlohmann::json& output, const std::string& local,
                      const nlohmann::json& delivered) {
  std::string base = local;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::string url = delivered.value("url", ""), prefix = delivered.value("public_url", url);
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  std::function<void(nlohmann::json&)> visit = [&](nlohmann::json& j) {
    if (j.is_structured()) {
      for (auto& item : j) visit(item);
    } else if (j.is_string()) {
      const std::string& s = j.get_ref<const std::string&>();
      if (s == local || s == base)
        j = delivered.value("public_url", url);
      else if (s.rfind(base + "/", 0) == 0)
        j = prefix + s.substr(base.size() + 1);
    }
  };
  visit(output);
  output["path"] = url;
  output["delivered"] = delivered;
}

bool SameFile(const std::string& source, const std::string& destination) {
  if (KindOf(source) != Kind::kLocal || KindOf(destination) != Kind::kLocal) return false;
  auto plain = [](std::string p) { return p.rfind("file://", 0) == 0 ? p.substr(7) : p; };
  return Overwrites(plain(destination), plain(source));
}

Status CheckNotASource(const std::string& destination, const std::vector<std::string>& sources) {
  for (const std::string& source : sources)
    if (SameFile(source, destination))
      return InvalidArgument("would overwrite a source of the job; choose another destination");
  return Status::Ok();
}

Status CheckLocalWrite(const std::string& destination, const Options& o) {
  Result<std::string> resolved = ResolveLocalDestination(o.allow_paths, destination);
  if (!resolved.ok()) return resolved.status();
  return CheckNotForbidden(o.allow_paths, o.forbidden_roots, *resolved);
}

std::string ContentType(const std::string& path) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".m3u8", "application/vnd.apple.mpegurl"},
      {".m4s", "video/iso.segment"},
      {".mp4", "video/mp4"},
      {".m4a", "audio/mp4"},
      {".mpd", "application/dash+xml"},
      {".webm", "video/webm"},
      {".mkv", "video/x-matroska"},
      {".ts", "video/mp2t"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".png", "image/png"},
      {".webp", "image/webp"},
      {".json", "application/json"},
      {".vtt", "text/vtt"}};
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [e, type] : kTypes)
    if (ext == e) return type;
  return "application/octet-stream";
}

}  // namespace reel::storage
