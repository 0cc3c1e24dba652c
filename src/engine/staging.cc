#include "engine/staging.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <system_error>

#include "layout/layout.h"

namespace reel::engine {
namespace fs = std::filesystem;

namespace {

// `*created` gets the folders made here, outermost first: a run that does not commit removes
// them again (if still empty), and no others.
Status PrepareParent(const fs::path& destination, std::vector<std::string>* created) {
  if (destination.filename().empty())
    return InvalidArgument("output path '" + destination.string() + "' has no file name");
  fs::path parent = destination.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  std::vector<std::string> missing;
  for (fs::path p = parent; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.insert(missing.begin(), p.string());
    if (p == p.parent_path()) break;
  }
  fs::create_directories(parent, ec);
  created->insert(created->end(), missing.begin(), missing.end());
  if (ec || !fs::is_directory(parent))
    return Unavailable("cannot create output directory '" + parent.string() +
                       "': " + (ec ? ec.message() : "not a directory"));
  if (access(parent.c_str(), W_OK) != 0)
    return Unavailable("cannot write to output directory '" + parent.string() +
                       "': " + std::strerror(errno));
  return Status::Ok();
}

// A directory output replaces what is at its destination, which must be a directory reel itself
// wrote (an earlier run of the same job, say) or empty: never a directory of other files, which
// a typo or a hostile job spec could otherwise wipe. Reel's packages hold master.m3u8,
// manifest.mpd and numbered thumbnails at the top, and rendition folders of playlists, init
// segments and numbered segments (layout.h). Returns the first entry that does not fit, or "".
std::string ForeignEntry(const fs::path& dir) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (e.is_symlink(ec)) return name;
    if (e.is_regular_file(ec)) {
      if (!layout::ParsePackageEntry(name, false)) return name;
      continue;
    }
    if (!e.is_directory(ec)) return name;
    for (const fs::directory_entry& f : fs::directory_iterator(e.path(), ec)) {
      std::string inner_name = f.path().filename().string();
      if (f.is_symlink(ec) || !f.is_regular_file(ec) ||
          !layout::ParsePackageEntry(inner_name, true))
        return name + "/" + inner_name;
    }
  }
  return ec ? "(unreadable)" : "";
}

Status CheckReplaceable(const fs::path& dest) {
  std::error_code ec;
  if (!fs::exists(dest, ec)) return Status::Ok();
  if (!fs::is_directory(dest, ec) || fs::is_symlink(dest, ec))
    return InvalidArgument("output '" + dest.string() + "' exists and is not a directory");
  std::string foreign = ForeignEntry(dest);
  if (!foreign.empty())
    return InvalidArgument("output directory '" + dest.string() +
                           "' holds files reel did not write (" + foreign +
                           "); give an empty or new directory");
  return Status::Ok();
}

// The staged outputs of this process not yet committed or abandoned (RemoveUncommittedOutputs),
// each with the descriptor it was created with (a file's) or opened as right after (a folder's).
// Never destroyed: a thread may still use it while the process exits.
std::mutex& LiveMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::map<std::string, int>& Live() {
  static std::map<std::string, int>* live = new std::map<std::string, int>;
  return *live;
}
void Track(const std::string& temp, bool staged, int fd) {
  std::lock_guard lock(LiveMutex());
  if (staged)
    Live()[temp] = fd;
  else
    Live().erase(temp);
}

std::string DescriptorPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// Whether `temp` still names the entry created (or opened right after) as `fd`, not something put
// at its name since: a link, another file or folder.
bool StillNamed(const std::string& temp, int fd) {
  struct stat named, created;
  return lstat(temp.c_str(), &named) == 0 && fstat(fd, &created) == 0 &&
         named.st_dev == created.st_dev && named.st_ino == created.st_ino;
}

// Staged outputs are created 0600 (0700 for a folder); outputs are meant to be served. The mode is
// set through the staged entry's own descriptor, before the rename: a chmod by path after it
// would follow a link swapped in at the destination by whoever may write its folder, onto any
// file the server may change. A name that is no longer the staged entry fails the commit; a file
// system that refuses modes (vfat, some network mounts) does not.
Status MakeServable(const std::string& temp, int fd, bool directory) {
  if (!StillNamed(temp, fd)) return Unavailable("staged output '" + temp + "' was replaced");
  fchmod(fd, directory ? 0755 : 0644);
  return Status::Ok();
}

// Removes a staged output, never what has been put at its name since (a link to another
// folder, or someone else's folder moved there): a folder's contents through its descriptor,
// then its name only while that is still the folder made (rmdir, which also refuses a folder
// swapped in with anything in it); a file's name only while it is still that file.
void RemoveStaged(const std::string& temp, int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    std::error_code ec;
    fs::directory_iterator it(DescriptorPath(fd), ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
    if (StillNamed(temp, fd)) rmdir(temp.c_str());
    return;
  }
  if (StillNamed(temp, fd)) unlink(temp.c_str());
}

// Writes `bytes` whole through `fd`, then closes it; `path` names it in errors.
Status WriteAllAndClose(int fd, const std::string& bytes, const std::string& path) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      return Unavailable("cannot write '" + path + "': " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) {
    int err = errno;
    return Unavailable("cannot write '" + path + "': " + std::strerror(err));
  }
  return Status::Ok();
}

}  // namespace

Status WriteStagedFile(const std::string& path, const std::string& bytes) {
  // A staged output itself through the descriptor it was created with (the magic link in /proc
  // is followed by design); any other name never through a link. O_NONBLOCK: a FIFO put at the
  // name, with no reader, fails the open instead of blocking.
  std::string pinned = StagedFileDescriptorPath(path);
  int fd = open(pinned.c_str(),
                O_WRONLY | O_CREAT | O_TRUNC | (pinned == path ? O_NOFOLLOW : 0) | O_NONBLOCK |
                    O_NOCTTY | O_CLOEXEC,
                0644);
  if (fd < 0) {
    int err = errno;
    return Unavailable("cannot write '" + path + "': " + std::strerror(err));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Unavailable("cannot write '" + path + "': not a regular file");
  }
  return WriteAllAndClose(fd, bytes, path);
}

Status WriteFileInPlace(const std::string& target, const std::string& bytes) {
  std::string temp = layout::StagingTemplate(target, "");
  int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return Unavailable("cannot create a file beside '" + target + "': " + std::strerror(err));
  }
  fchmod(fd, 0644);
  Status written = WriteAllAndClose(fd, bytes, temp);
  std::error_code ec;
  if (written.ok()) fs::rename(temp, target, ec);
  if (!written.ok() || ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    return written.ok() ? Unavailable("cannot write '" + target + "': " + ec.message()) : written;
  }
  return Status::Ok();
}

std::string StagedFileDescriptorPath(const std::string& path) {
  std::lock_guard lock(LiveMutex());
  auto it = Live().find(path);
  if (it == Live().end() || it->second < 0) return path;
  return DescriptorPath(it->second);
}

void RemoveUncommittedOutputs() {
  std::lock_guard lock(LiveMutex());
  for (const auto& [temp, fd] : Live()) RemoveStaged(temp, fd);
  Live().clear();
}

Staging::~Staging() { Abandon(); }

Result<std::string> Staging::StageDirectory(const std::string& destination) {
  fs::path dest = fs::path(destination).lexically_normal();
  if (dest.filename().empty()) dest = dest.parent_path();  // "out/hls/" names "out/hls"
  REEL_RETURN_IF_ERROR(PrepareParent(dest, &created_dirs_));
  REEL_RETURN_IF_ERROR(CheckReplaceable(dest));
  std::string temp = layout::StagingTemplate(dest.string(), "");
  if (!mkdtemp(temp.data()))
    return Unavailable("cannot create a directory beside '" + dest.string() +
                       "': " + std::strerror(errno));
  // Pinned at once: the name could be swapped (for a link, or another folder) by whoever may
  // write the destination's folder, so what is written inside goes through this descriptor. A
  // folder that is not one only this server may write (ours, no write for group or others;
  // file systems that fake owners and modes, vfat or CIFS, show what their mount gives) is
  // refused: someone else could put links inside it.
  int fd = open(temp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err != ELOOP && err != ENOTDIR) rmdir(temp.c_str());  // ours, still empty
    return Unavailable("cannot open the directory staged beside '" + dest.string() + "': " +
                       (err == ELOOP || err == ENOTDIR ? "it was replaced" : std::strerror(err)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 022) != 0) {
    close(fd);
    return Unavailable("the directory staged beside '" + dest.string() +
                       "' was replaced, or may be written by others");
  }
  entries_.push_back({temp, dest.string(), true, fd});
  Track(temp, true, fd);
  return DescriptorPath(fd);
}

Result<std::string> Staging::StageFile(const std::string& destination) {
  fs::path dest = fs::path(destination).lexically_normal();
  REEL_RETURN_IF_ERROR(PrepareParent(dest, &created_dirs_));
  std::error_code ec;
  if (fs::is_directory(dest, ec))
    return InvalidArgument("output '" + dest.string() + "' is a directory, expected a file name");
  std::string ext = dest.extension().string();
  std::string temp = layout::StagingTemplate(dest.string(), ext);
  int fd = mkostemps(temp.data(), static_cast<int>(ext.size()), O_CLOEXEC);
  if (fd < 0)
    return Unavailable("cannot create a file beside '" + dest.string() +
                       "': " + std::strerror(errno));
  // Kept open: the muxers write through it (StagedFileDescriptorPath), never by the name.
  entries_.push_back({temp, dest.string(), false, fd});
  Track(temp, true, fd);
  return temp;
}

Status Staging::Commit(const std::function<Status(const std::string&)>& check) {
  // Every entry judged before any is moved: a refusal leaves no output half committed.
  for (const Entry& e : entries_) {
    if (check) REEL_RETURN_IF_ERROR(check(e.destination));
    REEL_RETURN_IF_ERROR(MakeServable(e.temp, e.fd, e.directory));
  }
  for (Entry& e : entries_) {
    std::error_code ec;
    std::string old;
    if (e.directory && fs::exists(e.destination, ec)) {
      REEL_RETURN_IF_ERROR(CheckReplaceable(e.destination));  // again: it may have changed
      // rename(2) cannot replace a non-empty directory: move the old one aside first.
      old = layout::ReplacedPath(e.destination, getpid());
      fs::rename(e.destination, old, ec);
      if (ec) return Unavailable("cannot replace '" + e.destination + "': " + ec.message());
    }
    fs::rename(e.temp, e.destination, ec);
    if (ec) return Unavailable("cannot move output into '" + e.destination + "': " + ec.message());
    Track(e.temp, false, -1);
    if (e.fd >= 0) close(e.fd);
    e.fd = -1;
    if (!old.empty()) fs::remove_all(old, ec);
    e.temp.clear();
  }
  entries_.clear();
  created_dirs_.clear();  // they hold the outputs now
  return Status::Ok();
}

Status Staging::Named(const Status& status) const {
  if (status.ok()) return status;
  std::string message = status.message();
  for (const Entry& e : entries_) {
    if (!e.directory || e.fd < 0 || e.temp.empty()) continue;
    const std::string pinned = DescriptorPath(e.fd);
    for (size_t at = message.find(pinned); at != std::string::npos; at = message.find(pinned, at)) {
      size_t end = at + pinned.size();
      if (end < message.size() && std::isdigit(static_cast<unsigned char>(message[end]))) {
        at = end;  // another descriptor's number that starts with this one's
        continue;
      }
      message.replace(at, pinned.size(), e.temp);
      at += e.temp.size();
    }
  }
  return Status(status.code(), std::move(message));
}

void Staging::Abandon() {
  for (const Entry& e : entries_) {
    if (!e.temp.empty()) {
      RemoveStaged(e.temp, e.fd);
      Track(e.temp, false, -1);
    }
    if (e.fd >= 0) close(e.fd);
  }
  entries_.clear();
  // A canceled or failed run leaves no empty folders behind that it made; fs::remove takes only
  // an empty one, so whatever else was put there meanwhile stays, and so do its parents.
  for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) {
    std::error_code ec;
    fs::remove(*it, ec);
  }
  created_dirs_.clear();
}

}  // namespace reel::engine
