#include <gtest/gtest.h>

#include "engine/engine.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

TEST(Probe, DescribesStreams) {
  Result<MediaInfo> info = Probe(testing::Clip(640, 360, 2, 30));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->container, "mov,mp4,m4a,3gp,3g2,mj2");
  EXPECT_NEAR(info->duration, 2.0, 0.05);
  EXPECT_GT(info->size, 0);
  const StreamInfo* v = info->BestVideo();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->codec, "h264");
  EXPECT_EQ(v->width, 640);
  EXPECT_EQ(v->height, 360);
  EXPECT_DOUBLE_EQ(v->frame_rate, 30);
  EXPECT_EQ(v->pixel_format, "yuv420p");
  EXPECT_EQ(v->bit_depth, 8);
  EXPECT_EQ(v->rotation, 0);
  EXPECT_GT(v->bitrate, 0);
  const StreamInfo* a = info->BestAudio();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->codec, "aac");
  EXPECT_EQ(a->channels, 2);
  EXPECT_EQ(a->sample_rate, 48000);

  nlohmann::json j = ToJson(*info);
  EXPECT_EQ(j["streams"][0]["width"], 640);
  EXPECT_EQ(j["streams"][1]["channels"], 2);
}

TEST(Probe, ReportsRotation) {
  std::string src = testing::Fixture("rotated.mp4", {"-i", testing::Clip(320, 240, 1, 30), "-c",
                                                     "copy", "-metadata:s:v:0", "rotate=90"});
  Result<MediaInfo> info = Probe(src);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->BestVideo()->rotation == 90 || info->BestVideo()->rotation == 270);
  EXPECT_EQ(ToJson(*info)["streams"][0]["rotation"], info->BestVideo()->rotation);
}

TEST(Probe, BadFilesGiveClearErrors) {
  testing::TempDir dir;
  EXPECT_EQ(Probe(dir / "missing.mp4").status().code(), StatusCode::kNotFound);
  testing::WriteFile(dir / "empty.mov", "");
  EXPECT_NE(Probe(dir / "empty.mov").status().message().find("empty"), std::string::npos);
  testing::WriteFile(dir / "junk.bin", std::string(4096, '\x07'));
  Result<MediaInfo> junk = Probe(dir / "junk.bin");
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(Probe(dir.path()).status().message().find("directory"), std::string::npos);
}

}  // namespace
}  // namespace reel::engine
