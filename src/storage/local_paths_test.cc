#include "storage/local_paths.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>

#include "testing/media_fixtures.h"

namespace reel::storage {
namespace {

TEST(Paths, ContainedPathsResolve) {
  testing::TempDir root;
  std::filesystem::create_directories(root / "in");
  std::vector<std::string> roots = {root.path()};
  EXPECT_EQ(*ResolveLocalPath(roots, root / "in/a.mp4"), root / "in/a.mp4");
  EXPECT_EQ(*ResolveLocalPath(roots, "file://" + (root / "in/a.mp4")), root / "in/a.mp4");
  EXPECT_EQ(*ResolveLocalPath(roots, "in/a.mp4"), root / "in/a.mp4") << "relative to the root";
  EXPECT_EQ(*ResolveLocalPath(roots, root / "out/hls/"), root / "out/hls/");
}

TEST(Paths, EscapesAreRefused) {
  testing::TempDir root, outside;
  std::vector<std::string> roots = {root.path()};
  EXPECT_EQ(ResolveLocalPath(roots, root / "../etc/passwd").status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(ResolveLocalPath(roots, "/etc/passwd").status().code(),
            StatusCode::kFailedPrecondition);
  std::filesystem::create_directory_symlink(outside.path(), root / "link");
  EXPECT_EQ(ResolveLocalPath(roots, root / "link/secret.mp4").status().code(),
            StatusCode::kFailedPrecondition)
      << "a symlink out of the root";
  EXPECT_EQ(ResolveLocalPath(roots, "s3://bucket/key").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveLocalPath({}, root / "a.mp4").status().code(), StatusCode::kFailedPrecondition);
  testing::TempDir sibling;  // "/tmp/reel-test-ab" must not match root "/tmp/reel-test-a"
  EXPECT_FALSE(ResolveLocalPath({root.path()}, sibling / "x").ok());
}

TEST(Paths, ADestinationIsBelowARootNeverTheRootItself) {
  testing::TempDir root;
  std::vector<std::string> roots = {root.path()};
  EXPECT_TRUE(ResolveLocalDestination(roots, root / "out/hls/").ok());
  for (const std::string& whole : {root.path(), root.path() + "/", std::string("./"),
                                   std::string("."), "file://" + root.path()})
    EXPECT_EQ(ResolveLocalDestination(roots, whole).status().code(),
              StatusCode::kFailedPrecondition)
        << whole;
}

// A source is checked by its path and read through a descriptor opened beneath it, part by
// part: a link swapped in between is refused, and a swap after the open changes nothing read.
TEST(Paths, APinnedFileIsTheOneCheckedWhateverHappensToItsName) {
  namespace fs = std::filesystem;
  testing::TempDir root, scratch;
  fs::create_directories(root / "acme");
  fs::create_directories(root / "bob");
  testing::WriteFile(root / "acme/in.ts", "acme's");
  testing::WriteFile(root / "bob/secret.ts", "bob's");

  Result<std::string> pinned = PinLocalFile(root / "acme/in.ts", scratch.path());
  ASSERT_TRUE(pinned.ok()) << pinned.status().ToString();
  EXPECT_EQ(fs::path(*pinned).filename(), "in.ts") << "its extension still says what it holds";
  EXPECT_EQ(pinned->rfind(scratch.path(), 0), 0u);
  fs::rename(root / "acme", root / "acme.old");
  fs::create_directory_symlink(root / "bob", root / "acme");
  fs::create_symlink(root / "bob/secret.ts", root / "bob/in.ts");
  EXPECT_EQ(testing::ReadFile(*pinned), "acme's") << "the file opened, not what the name became";

  // Opened now, the same name meets the links, in a folder part or at the file itself.
  Result<std::string> folder = PinLocalFile(root / "acme/in.ts", scratch.path());
  EXPECT_EQ(folder.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(folder.status().message().find("'" + root / "acme" + "' is a link now"),
            std::string::npos)
      << folder.status().message();
  Result<std::string> file = PinLocalFile(root / "bob/in.ts", scratch.path());
  EXPECT_NE(file.status().message().find("changed after it was checked"), std::string::npos)
      << file.status().message();
  EXPECT_NE(
      PinLocalFile(root / "bob/gone.ts", scratch.path()).status().message().find("does not exist"),
      std::string::npos);
  EXPECT_EQ(PinLocalFile(root / "bob/secret.ts/x.ts", scratch.path()).status().message(),
            "'" + root / "bob/secret.ts" + "' is not a folder")
      << "a file where a folder was named is no link";
  // Not a file: a folder, and a FIFO (refused at once, where reading it would wait forever).
  EXPECT_NE(
      PinLocalFile(root / "bob", scratch.path()).status().message().find("is not a regular file"),
      std::string::npos);
  ASSERT_EQ(mkfifo((root / "bob/pipe.ts").c_str(), 0600), 0);
  EXPECT_NE(PinLocalFile(root / "bob/pipe.ts", scratch.path())
                .status()
                .message()
                .find("is not a regular file"),
            std::string::npos);
}

}  // namespace
}  // namespace reel::storage
