#include "storage/storage.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/crypto.h"
#include "common/redact.h"
#include "worker/paths.h"

namespace reel::storage {
namespace {

namespace fs = std::filesystem;

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

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
  return bytes;
}

std::string FileNameOf(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  std::string name = path.substr(path.find_last_of('/') + 1);
  std::string safe;
  for (char c : name)
    safe +=
        (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  return safe.empty() || safe[0] == '.' ? "source" + safe : safe;
}

}  // namespace

Kind KindOf(const std::string& url) {
  if (StartsWith(url, "http://") || StartsWith(url, "https://")) return Kind::kHttp;
  if (StartsWith(url, "data:")) return Kind::kData;
  if (StartsWith(url, "s3://")) return Kind::kS3;
  if (StartsWith(url, "ftp://") || StartsWith(url, "ftps://")) return Kind::kFtp;
  if (StartsWith(url, "file://") || url.find("://") == std::string::npos) return Kind::kLocal;
  return Kind::kUnsupported;
}

// An S3 object's profile exists and its endpoint is reachable under the policy.
Status CheckS3(const std::string& url, const Options& o) {
  Result<S3Object> obj = ParseS3Url(url, o.s3_profiles);
  if (!obj.ok()) return obj.status();
  if (obj->key.empty()) return InvalidArgument("the S3 URL has no key");
  return o.policy.CheckUrl(obj->profile.endpoint);
}

// FTP servers are checked like web servers: by the addresses their host resolves to.
Status CheckFtp(const std::string& url, const Options& o) {
  std::string as_http = "http://" + url.substr(url.find("://") + 3);
  return o.policy.CheckUrl(as_http);
}

// What a source and a destination share: local paths confined, remote hosts reachable.
Result<std::string> CheckUrl(Kind kind, const std::string& url, const Options& o) {
  Status s;
  switch (kind) {
    case Kind::kLocal:
      return worker::ResolveLocalPath(o.allow_paths, url);
    case Kind::kHttp:
      s = o.policy.CheckUrl(url);
      break;
    case Kind::kFtp:
      s = CheckFtp(url, o);
      break;
    case Kind::kS3:
      s = CheckS3(url, o);
      break;
    default:
      return InvalidArgument("unsupported URL " + RedactUrl(url));
  }
  if (!s.ok()) return s;
  return url;
}

Result<std::string> CheckSource(const std::string& url, const Options& o) {
  Kind kind = KindOf(url);
  if (kind == Kind::kData) {
    Result<std::string> bytes = DecodeDataUrl(url, o.max_inline_bytes);
    if (!bytes.ok()) return bytes.status();
    return url;
  }
  if (kind == Kind::kUnsupported)
    return InvalidArgument(
        "unsupported scheme (local paths, http(s)://, s3://, ftp(s):// and data: are)");
  return CheckUrl(kind, url, o);
}

Result<std::string> CheckDestination(const std::string& url, const Options& o) {
  Kind kind = KindOf(url);
  if (kind == Kind::kData || kind == Kind::kUnsupported)
    return InvalidArgument(
        "unsupported destination (local paths, http(s)://, s3:// and ftp(s):// are)");
  if (kind == Kind::kLocal) return worker::ResolveLocalDestination(o.allow_paths, url);
  return CheckUrl(kind, url, o);
}

namespace {
net::TransferOptions TransferLimits(const Options& o) {
  net::TransferOptions t;
  if (o.max_download_bytes > 0) t.max_bytes = o.max_download_bytes;
  return t;
}
}  // namespace

Result<std::string> FetchSource(const std::string& url, const std::string& scratch,
                                const Options& o) {
  Kind kind = KindOf(url);
  if (kind == Kind::kLocal) return worker::ResolveLocalPath(o.allow_paths, url);
  std::error_code ec;
  fs::create_directories(fs::path(scratch) / "inputs", ec);
  // Each source gets its own folder so two with the same file name never collide.
  std::string dir =
      (fs::path(scratch) / "inputs" / std::to_string(std::hash<std::string>{}(url))).string();
  fs::create_directories(dir, ec);
  if (kind == Kind::kData) {
    Result<std::string> bytes = DecodeDataUrl(url, o.max_inline_bytes);
    if (!bytes.ok()) return bytes.status();
    std::string path = dir + "/inline";
    std::ofstream(path, std::ios::binary) << *bytes;
    return path;
  }
  if (kind == Kind::kS3) {
    Result<S3Object> obj = ParseS3Url(url, o.s3_profiles);
    if (!obj.ok()) return obj.status();
    std::string path = dir + "/" + FileNameOf(obj->key);
    REEL_RETURN_IF_ERROR(S3Get(*obj, path, o.policy, TransferLimits(o)));
    return path;
  }
  if (kind != Kind::kHttp && kind != Kind::kFtp)
    return InvalidArgument("unsupported source " + url);
  std::string path = dir + "/" + FileNameOf(url);
  REEL_RETURN_IF_ERROR(net::Download(url, path, o.policy, TransferLimits(o)));
  return path;
}

Result<std::string> LocalTarget(const std::string& destination, bool directory,
                                const std::string& scratch, const Options& o) {
  if (KindOf(destination) == Kind::kLocal)
    return worker::ResolveLocalDestination(o.allow_paths, destination);
  fs::path dir =
      fs::path(scratch) / "outputs" / std::to_string(std::hash<std::string>{}(destination));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (directory) return (dir / "package").string() + "/";
  return (dir / FileNameOf(destination)).string();
}

Result<nlohmann::json> Deliver(const std::string& local, const std::string& destination,
                               const std::string& method, const Options& o,
                               int64_t presign_seconds) {
  Kind kind = KindOf(destination);
  if (kind == Kind::kLocal) return nlohmann::json{{"url", destination}};
  std::error_code ec;
  // One file, or every file of a package at its relative path under the destination.
  std::vector<std::pair<std::string, std::string>> files;  // local path, destination URL
  fs::path root(local);
  bool directory = fs::is_directory(root, ec);
  if (directory) {
    std::string base = destination.back() == '/' ? destination : destination + "/";
    for (const auto& e : fs::recursive_directory_iterator(root, ec))
      if (e.is_regular_file())
        files.push_back({e.path().string(), base + fs::relative(e.path(), root).generic_string()});
  } else {
    files.push_back({local, destination});
  }
  auto put = [&](const std::pair<std::string, std::string>& f) -> Status {
    if (kind == Kind::kS3) {
      Result<S3Object> obj = ParseS3Url(f.second, o.s3_profiles);
      if (!obj.ok()) return obj.status();
      return S3Put(*obj, f.first, ContentType(f.first), o.policy);
    }
    return net::Upload(f.second, f.first, method, ContentType(f.first), o.policy);
  };
  // A few uploads at a time: packages are many small files, and latency dominates.
  size_t parallel = 1;
  if (kind == Kind::kS3) {
    Result<S3Object> obj =
        ParseS3Url(destination.back() == '/' ? destination + "x" : destination, o.s3_profiles);
    if (!obj.ok()) return obj.status();
    parallel = static_cast<size_t>(obj->profile.parallel_uploads);
  }
  // Segments first, then rendition playlists, then the master playlist and manifest: a player
  // that finds a playlist finds what it names, even while a package is still going up.
  auto rank = [&](const std::string& path) {
    std::string ext = fs::path(path).extension().string();
    if (ext != ".m3u8" && ext != ".mpd") return 0;
    return fs::path(path).parent_path() == root ? 2 : 1;
  };
  std::stable_sort(files.begin(), files.end(),
                   [&](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });
  Status first_error;
  for (size_t begin = 0; begin < files.size() && first_error.ok();) {
    size_t end = begin;
    while (end < files.size() && rank(files[end].first) == rank(files[begin].first)) ++end;
    std::atomic<size_t> next{begin};
    std::mutex mu;
    auto worker = [&] {
      for (size_t i; (i = next++) < end;) {
        Status s = put(files[i]);
        if (!s.ok()) {
          std::lock_guard lock(mu);
          if (first_error.ok()) first_error = s;
          next = end;
        }
      }
    };
    std::vector<std::thread> threads;
    for (size_t t = 1; t < std::min(parallel, end - begin); ++t) threads.emplace_back(worker);
    worker();
    for (std::thread& t : threads) t.join();
    begin = end;
  }
  if (!first_error.ok()) return first_error;
  int64_t bytes = 0;
  for (const auto& f : files) bytes += static_cast<int64_t>(fs::file_size(f.first, ec));
  nlohmann::json out = {{"url", RedactUrl(destination)}, {"files", files.size()}, {"bytes", bytes}};
  if (kind == Kind::kS3 && presign_seconds > 0) {
    std::string target = directory
                             ? destination + (destination.back() == '/' ? "" : "/") + "master.m3u8"
                             : destination;
    Result<S3Object> obj = ParseS3Url(target, o.s3_profiles);
    if (obj.ok()) out["presigned_url"] = S3Presign(*obj, presign_seconds);
  }
  return out;
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
