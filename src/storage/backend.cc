#include "storage/backend.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "common/redact.h"
#include "layout/layout.h"

namespace reel::storage {
namespace {
namespace fs = std::filesystem;
}  // namespace

std::string FileNameOf(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  std::string name = path.substr(path.find_last_of('/') + 1);
  std::string safe;
  for (char c : name)
    safe +=
        (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  return safe.empty() || safe[0] == '.' ? "source" + safe : safe;
}

net::TransferOptions SourceLimits(const Options& o) {
  net::TransferOptions t;
  if (o.max_download_bytes > 0) t.max_bytes = o.max_download_bytes;
  t.low_speed_bytes = o.min_source_speed;
  t.stall_timeout = o.low_speed_seconds;
  t.deadline = o.max_source_seconds;
  t.slow_is_final = true;
  return t;
}

Result<std::string> Backend::Target(const std::string& destination, bool directory,
                                    const std::string& scratch, const Options&) const {
  fs::path dir =
      fs::path(scratch) / "outputs" / std::to_string(std::hash<std::string>{}(destination));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (directory) return (dir / "package").string() + "/";
  return (dir / FileNameOf(destination)).string();
}

Status Backend::PutFile(const std::string&, const std::string& url, const std::string&,
                        const Options&) const {
  return InvalidArgument("cannot deliver to " + RedactUrl(url));
}

size_t Backend::Parallelism(const std::string&, const Options&) const { return 1; }

std::string Backend::Presign(const std::string&, int64_t, const Options&) const { return ""; }

std::string Backend::PublicUrl(const std::string& url, const Options&) const {
  return RedactUrl(url);
}

Result<nlohmann::json> Backend::Put(const std::string& local, const std::string& destination,
                                    const std::string& method, const Options& o,
                                    int64_t presign_seconds) const {
  std::error_code ec;
  // One file, or every file of a package at its relative path under the destination.
  std::vector<std::pair<std::string, std::string>> files;  // local path, destination URL
  fs::path root(local);
  bool directory = fs::is_directory(root, ec);
  std::string base =
      !destination.empty() && destination.back() == '/' ? destination : destination + "/";
  if (directory) {
    for (const auto& e : fs::recursive_directory_iterator(root, ec))
      if (e.is_regular_file())
        files.push_back({e.path().string(), base + fs::relative(e.path(), root).generic_string()});
  } else {
    files.push_back({local, destination});
  }
  // A few uploads at a time: packages are many small files, and latency dominates.
  size_t parallel = std::max<size_t>(1, Parallelism(destination, o));
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
        Status s = PutFile(files[i].first, files[i].second, method, o);
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
  // What the user reads the result at: the scratch copy the engine wrote is gone.
  out["public_url"] = PublicUrl(directory ? base : destination, o);
  if (directory) {
    for (const auto& e : fs::directory_iterator(root, ec)) {
      std::string name = e.path().filename().string(), ext = e.path().extension().string();
      if (name == layout::kMasterPlaylist) out["master"] = PublicUrl(base + name, o);
      if (name == layout::kDashManifest) out["manifest"] = PublicUrl(base + name, o);
    }
  }
  if (presign_seconds > 0) {
    std::string target = directory ? base + std::string(layout::kMasterPlaylist) : destination;
    std::string presigned = Presign(target, presign_seconds, o);
    if (!presigned.empty()) out["presigned_url"] = presigned;
  }
  return out;
}

Result<std::string> CurlBackend::Fetch(const std::string& url, const std::string& dir,
                                       const Options& o) const {
  std::string path = dir + "/" + FileNameOf(url);
  REEL_RETURN_IF_ERROR(net::Download(url, path, o.policy, SourceLimits(o)));
  return path;
}

Status CurlBackend::PutFile(const std::string& local, const std::string& url,
                            const std::string& method, const Options& o) const {
  return net::Upload(url, local, method, ContentType(local), o.policy);
}

}  // namespace reel::storage
