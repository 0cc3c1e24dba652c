#include "common/no_follow.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace reel {

int OpenFolderNoFollow(const std::string& path, std::string* failed_at) {
  std::filesystem::path p(path);
  if (!p.is_absolute()) {
    errno = EINVAL;
    return -1;
  }
  int at = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  std::string walked;
  for (const std::filesystem::path& part : p.relative_path()) {
    if (at < 0) break;
    if (part.empty() || part == ".") continue;
    walked.push_back('/');
    walked += part.native();
    int next = openat(at, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    close(at);
    at = next;
    errno = err;
  }
  if (at < 0 && failed_at) *failed_at = walked.empty() ? std::string(1, '/') : walked;
  return at;
}

}  // namespace reel
