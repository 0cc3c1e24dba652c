#include "storage/local_paths.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace reel::storage
