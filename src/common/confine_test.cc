#include "common/confine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace reel {
namespace {

namespace fs = std::filesystem;

// What a confined process could still do that it must not, one bit each (its exit status).
enum Breach {
  kReadOutside = 1,
  kCannotWriteInside = 2,
  kCannotReadReadOnly = 4,
  kWroteReadOnly = 8,
  kMadeOutside = 16,
  kLostWhatWasOpen = 32,
  kFollowedALinkOut = 64,
  kThreadUnconfined = 128,
};

// A confinement cannot be undone, so it is tried in a child process.
TEST(Confine, AConfinedProcessReachesOnlyWhatItWasGiven) {
  char base_template[] = "/tmp/reel-confine-XXXXXX";
  ASSERT_NE(mkdtemp(base_template), nullptr);
  const fs::path base = base_template;
  fs::create_directories(base / "allowed");
  fs::create_directories(base / "read");
  fs::create_directories(base / "outside");
  std::ofstream(base / "outside/secret") << "secret";
  std::ofstream(base / "read/input") << "input";
  const std::string secret = (base / "outside/secret").string();
  int kept = open(secret.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(kept, 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Result<int> abi = ConfineFileAccess(
        {{(base / "allowed").string()}, {(base / "read").string(), "/usr", "/lib", "/lib64"}});
    if (!abi.ok()) _exit(255);
    if (*abi == 0) _exit(254);  // no Landlock in this kernel
    int breach = 0;
    auto opens = [](const fs::path& p, int flags) {
      int fd = open(p.c_str(), flags | O_CLOEXEC, 0600);
      if (fd >= 0) close(fd);
      return fd >= 0;
    };
    if (opens(secret, O_RDONLY)) breach |= kReadOutside;
    if (!opens(base / "allowed/output", O_CREAT | O_WRONLY)) breach |= kCannotWriteInside;
    if (!opens(base / "read/input", O_RDONLY)) breach |= kCannotReadReadOnly;
    if (opens(base / "read/output", O_CREAT | O_WRONLY)) breach |= kWroteReadOnly;
    if (mkdir((base / "outside/made").c_str(), 0700) == 0) breach |= kMadeOutside;
    char c;
    if (pread(kept, &c, 1, 0) != 1) breach |= kLostWhatWasOpen;
    if (symlink(secret.c_str(), (base / "allowed/link").c_str()) == 0 &&
        opens(base / "allowed/link", O_RDONLY))
      breach |= kFollowedALinkOut;
    std::thread([&] {
      if (opens(secret, O_RDONLY)) breach |= kThreadUnconfined;
    }).join();
    _exit(breach);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  close(kept);
  fs::remove_all(base);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 254) GTEST_SKIP() << "this kernel has no Landlock";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "breaches (enum Breach): " << WEXITSTATUS(status);
}

// A thread already running would stay outside the confinement, sharing the memory of the
// confined ones: the process is not confined then, and says so. A path that does not exist is
// left out.
TEST(Confine, AProcessWithAThreadRunningAlreadyIsRefused) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::atomic<bool> done{false};
    std::thread running([&] {
      while (!done) usleep(1000);
    });
    Result<int> refused = ConfineFileAccess({{"/nonexistent-reel-folder"}, {}});
    done = true;
    running.join();
    if (refused.ok() && *refused == 0) _exit(254);  // no Landlock in this kernel
    bool named = !refused.ok() && refused.status().message().find("threads") != std::string::npos;
    _exit(named ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 254) GTEST_SKIP() << "this kernel has no Landlock";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace reel
