#include "storage/local_paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/no_follow.h"

namespace reel::storage {
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

// Without a trailing separator, so that "a/b/" and "a/b" compare alike.
fs::path Plain(const fs::path& p) {
  fs::path n = p.lexically_normal();
  return n.has_filename() ? n : n.parent_path();
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

std::vector<std::string> NarrowRoots(const std::vector<std::string>& roots,
                                     const std::vector<std::string>& key_roots) {
  std::vector<std::string> out;
  auto add = [&](const fs::path& p) {
    if (std::find(out.begin(), out.end(), p.string()) == out.end()) out.push_back(p.string());
  };
  std::error_code ec;
  for (const std::string& k : key_roots) {
    fs::path key = Plain(fs::weakly_canonical(k, ec));
    // A key's folders were stored resolved: one that resolves elsewhere now has been replaced
    // by a link (or moved under one), and would carry the key into whatever it points at.
    if (ec || !key.is_absolute() || key != Plain(fs::path(k))) continue;
    for (const std::string& r : roots) {
      fs::path root = Plain(fs::weakly_canonical(r, ec));
      if (ec) continue;
      if (Within(key, root))
        add(key);
      else if (Within(root, key))
        add(root);
    }
  }
  return out;
}

Result<std::string> PinLocalFile(const std::string& resolved, const std::string& dir) {
  fs::path path(resolved);
  std::vector<std::string> parts;
  for (const fs::path& part : path.relative_path())
    if (!part.empty() && part != ".") parts.push_back(part.string());
  if (!path.is_absolute() || parts.empty())
    return InvalidArgument("'" + resolved + "' is not a file's absolute path");
  // Why `where` (a part of the path, opened beneath `at`) could not be opened: a link met where
  // the check resolved none is a swap since; anything else is named as what it is.
  auto refused = [&](int err, int at, const std::string& where) -> Status {
    struct stat st;
    if (err == ENOENT) return InvalidArgument("'" + resolved + "' does not exist");
    if ((err == ELOOP || err == ENOTDIR) && at >= 0 &&
        fstatat(at, fs::path(where).filename().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode))
      return InvalidArgument("'" + resolved + "' changed after it was checked: '" + where +
                             "' is a link now; submit the job again");
    if (err == ENOTDIR) return InvalidArgument("'" + where + "' is not a folder");
    return InvalidArgument("cannot open '" + resolved + "': " + std::strerror(err));
  };
  // The parent part by part, keeping its parent open to say why a part failed.
  std::string failed_at;
  int parent = OpenFolderNoFollow(path.parent_path().string(), &failed_at);
  if (parent < 0) {
    int err = errno;
    int above = OpenFolderNoFollow(fs::path(failed_at).parent_path().string());
    Status why = refused(err, above, failed_at);
    if (above >= 0) close(above);
    return why;
  }
  // O_PATH first: nothing is opened for reading (a device, a FIFO) before its kind is known.
  int handle = openat(parent, parts.back().c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (handle < 0) {
    Status why = refused(errno, parent, resolved);
    close(parent);
    return why;
  }
  close(parent);
  struct stat st {};
  if (fstat(handle, &st) != 0 || !S_ISREG(st.st_mode)) {
    bool link = S_ISLNK(st.st_mode);
    close(handle);
    return InvalidArgument("'" + resolved + "' " +
                           (link ? "changed after it was checked: it is a link now; submit the "
                                   "job again"
                                 : "is not a regular file"));
  }
  int fd = open(("/proc/self/fd/" + std::to_string(handle)).c_str(), O_RDONLY | O_CLOEXEC);
  int err = errno;
  close(handle);
  if (fd < 0) return InvalidArgument("cannot open '" + resolved + "': " + std::strerror(err));
  fs::path link = fs::path(dir) / std::to_string(fd) / path.filename();
  std::error_code ec;
  fs::remove_all(link.parent_path(), ec);
  fs::create_directories(link.parent_path(), ec);
  if (!ec) fs::create_symlink("/proc/self/fd/" + std::to_string(fd), link, ec);
  if (ec) {
    close(fd);
    return Unavailable("cannot make the source's pinned name: " + ec.message());
  }
  return link.string();
}

bool Overwrites(const std::string& destination, const std::string& source) {
  std::error_code ec;
  fs::path d = fs::weakly_canonical(destination, ec);
  if (ec) return false;
  fs::path s = fs::weakly_canonical(source, ec);
  if (ec) return false;
  bool directory = (!destination.empty() && destination.back() == '/') || fs::is_directory(d, ec);
  if (Plain(d) == Plain(s)) return true;
  if (directory && Within(Plain(s), Plain(d))) return true;
  // A hard link is another name for the same bytes.
  return fs::exists(d, ec) && fs::exists(s, ec) && fs::equivalent(d, s, ec) && !ec;
}

Status CheckNotForbidden(const std::vector<std::string>& roots,
                         const std::vector<std::string>& forbidden, const std::string& resolved) {
  std::error_code ec;
  fs::path p = Plain(fs::weakly_canonical(resolved, ec));
  if (ec) return InvalidArgument("cannot resolve a destination: " + ec.message());
  std::vector<std::string> refused = forbidden;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) refused.push_back(self.string());
  for (const std::string& f : refused) {
    if (f.empty() || f.rfind("s3://", 0) == 0) continue;  // an S3 staging: s3_backend.cc's
    fs::path r = Plain(fs::weakly_canonical(f, ec));
    if (ec || !(Within(p, r) || Within(r, p))) continue;
    // Named as the job named it: relative to its allowed root, not where the server lives.
    std::string shown = p.filename().string();
    for (const std::string& root : roots) {
      fs::path rr = Plain(fs::weakly_canonical(root, ec));
      if (!ec && Within(p, rr)) shown = p.lexically_relative(rr).generic_string();
    }
    return FailedPrecondition("'" + shown +
                              "' is where the server keeps its own files; jobs cannot write there");
  }
  return Status::Ok();
}

}  // namespace reel::storage
