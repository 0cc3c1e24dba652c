#include "common/confine.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

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
  uint64_t rights = kRightsV1;
  if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;  // renames and links between folders
  if (abi >= 3) rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
  return rights;
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

Status SystemError(const std::string& what) {
  return Internal("cannot confine the process: " + what + ": " + std::strerror(errno));
}

Status AllowBeneath(int ruleset, const std::string& path, uint64_t rights) {
  Descriptor fd(open(path.c_str(), O_PATH | O_CLOEXEC));
  if (fd.get() < 0) return Status::Ok();  // nothing there: nothing to allow
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
  if (abi <= 0) return 0;  // ENOSYS, EOPNOTSUPP: no Landlock here
  const uint64_t handled = HandledRights(static_cast<int>(abi));
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = handled;
  Descriptor ruleset(
      static_cast<int>(syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0)));
  if (ruleset.get() < 0) return SystemError("a ruleset");
  for (const std::string& path : access.read_write)
    REEL_RETURN_IF_ERROR(AllowBeneath(ruleset.get(), path, handled));
  for (const std::string& path : access.read_only)
    REEL_RETURN_IF_ERROR(AllowBeneath(ruleset.get(), path, kReadRights & handled));
  // Required of a process without CAP_SYS_ADMIN; it also keeps set-user-ID programs from
  // gaining rights, which nothing here runs.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return SystemError("no_new_privs");
  if (syscall(__NR_landlock_restrict_self, ruleset.get(), 0) != 0)
    return SystemError("restrict_self");
  return static_cast<int>(abi);
}

}  // namespace reel
