#include "common/confine.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "common/no_follow.h"

// Newer than the kernel headers of some systems this builds on (Debian 12's are 6.1's).
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

namespace reel {
namespace {

// The rights of ABI 1: executing, reading and writing files, reading folders, removing and
// making every kind of entry.
constexpr uint64_t kRightsV1 = (1ULL << 13) - 1;
// What applies to a file itself (a rule on a file may grant only these).
constexpr uint64_t kFileRights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE;
constexpr uint64_t kReadRights =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;

// Every file system right the kernel's ABI knows (device ioctls, ABI 5, are left alone: the
// process opens no device it could misuse through them), so that none stays unchecked.
uint64_t HandledRights(int abi) {
  uint64_t rights = kRightsV1 | LANDLOCK_ACCESS_FS_REFER;  // renames and links between folders
  if (abi >= 3) rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
  return rights;
}

// Landlock confines the calling thread and what it starts later, never a thread already running:
// one would stay outside, sharing the memory of the confined ones.
bool OnlyThread() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8) == 1;
  return false;
}

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// A folder by OpenFolderNoFollow; a file (a device such as /dev/null) without following a
// link at its own name.
int OpenNoFollow(const std::string& path) {
  int fd = OpenFolderNoFollow(path);
  if (fd >= 0 || errno != ENOTDIR) return fd;
  fd = open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) != 0 || S_ISLNK(st.st_mode))) {
    close(fd);
    return -1;
  }
  return fd;
}

Status SystemError(const std::string& what) {
  return Internal("cannot confine the process: " + what + ": " + std::strerror(errno));
}

// `follow`: the path may lead through links (the system's, /etc/resolv.conf say); else it is
// opened part by part without following one (common/no_follow.h), so that a folder of a job's
// swapped for a link since it was checked does not move the rule elsewhere.
Status AllowBeneath(int ruleset, const std::string& path, uint64_t rights, bool follow) {
  int opened = follow ? open(path.c_str(), O_PATH | O_CLOEXEC) : OpenNoFollow(path);
  Descriptor fd(opened);
  if (fd.get() < 0) return Status::Ok();  // nothing there (or a link now): nothing to allow
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return SystemError(path);
  if (!S_ISDIR(st.st_mode)) rights &= kFileRights;
  landlock_path_beneath_attr rule{};
  rule.allowed_access = rights;
  rule.parent_fd = fd.get();
  if (syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0)
    return SystemError(path);
  return Status::Ok();
}

}  // namespace

Result<int> ConfineFileAccess(const FileAccess& access) {
  long abi = syscall(__NR_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  // ENOSYS, EOPNOTSUPP (or a seccomp profile's EPERM): no Landlock here. ABI 1 (5.13-5.18)
  // refuses every link and rename between folders, which the caches and the stitch rely on.
  if (abi < 2) return 0;
  if (!OnlyThread())
    return FailedPrecondition("cannot confine the process: other threads are running already");
  const uint64_t handled = HandledRights(static_cast<int>(abi));
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = handled;
  Descriptor ruleset(
      static_cast<int>(syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0)));
  if (ruleset.get() < 0) return SystemError("a ruleset");
  // Nothing is run from what the process writes.
  for (const std::string& path : access.read_write)
    REEL_RETURN_IF_ERROR(
        AllowBeneath(ruleset.get(), path, handled & ~LANDLOCK_ACCESS_FS_EXECUTE, false));
  for (const std::string& path : access.read_only)
    REEL_RETURN_IF_ERROR(AllowBeneath(ruleset.get(), path, kReadRights & handled, true));
  // Required of a process without CAP_SYS_ADMIN; it also keeps set-user-ID programs from
  // gaining rights, which nothing here runs.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return SystemError("no_new_privs");
  if (syscall(__NR_landlock_restrict_self, ruleset.get(), 0) != 0)
    return SystemError("restrict_self");
  return static_cast<int>(abi);
}

}  // namespace reel
