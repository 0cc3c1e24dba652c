// What a killed attempt left staged beside its destinations is removed before the next one, but
// only in the folders the job was checked for.
#include "worker/scratch.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "layout/layout.h"
#include "testing/media_fixtures.h"

namespace reel::worker {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(StagedOutputs, WhatAKilledAttemptLeftIsRemovedInTheJobsOwnFoldersOnly) {
  testing::TempDir root;
  for (const char* d : {"out", "other"}) fs::create_directories(root / d);
  const std::string debris = layout::StagingPrefix("film.mp4") + "a1b2c3.mp4";
  const std::string package = layout::StagingPrefix("hls") + "d4e5f6";
  testing::WriteFile(root / ("out/" + debris), "half a file");
  fs::create_directories(root / ("out/" + package + "/720p"));
  testing::WriteFile(root / "out/kept.mp4", "someone else's");
  testing::WriteFile(root / ("other/" + debris), "not this job's folder");
  json spec = {{"outputs",
                {{{"destination", root / "out/film.mp4"}},
                 {{"destination", root / "out/hls/"}},
                 {{"destination", "s3://bucket/film.mp4"}}}}};
  RemoveStagedOutputs(spec);
  EXPECT_FALSE(fs::exists(root / ("out/" + debris)));
  EXPECT_FALSE(fs::exists(root / ("out/" + package)));
  EXPECT_TRUE(fs::exists(root / "out/kept.mp4"));
  EXPECT_TRUE(fs::exists(root / ("other/" + debris)));

  // The destination's folder replaced by a link into another: nothing there is touched.
  testing::WriteFile(root / ("out/" + debris), "half a file");
  fs::rename(root / "out", root / "out.old");
  fs::create_directory_symlink(root / "other", root / "out");
  RemoveStagedOutputs(spec);
  EXPECT_TRUE(fs::exists(root / ("other/" + debris))) << "not cleaned through the link";
  EXPECT_TRUE(fs::exists(root / ("out.old/" + debris)));
}

}  // namespace
}  // namespace reel::worker
