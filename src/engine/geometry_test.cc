#include "engine/geometry.h"

#include <gtest/gtest.h>

namespace reel::engine {
namespace {

presets::VideoSettings Lines(int lines) {
  presets::VideoSettings v;
  v.lines = lines;
  return v;
}

TEST(Geometry, DisplaySizeAppliesSampleAspectAndRotation) {
  DisplaySize d = SourceDisplaySize(720, 480, 32, 27, 0);
  EXPECT_NEAR(d.width, 853.33, 0.01);
  EXPECT_EQ(d.height, 480);
  DisplaySize r = SourceDisplaySize(1920, 1080, 1, 1, 90);
  EXPECT_EQ(r.width, 1080);
  EXPECT_EQ(r.height, 1920);
  DisplaySize flipped = SourceDisplaySize(1920, 1080, 0, 0, 180);  // unknown SAR means square
  EXPECT_EQ(flipped.width, 1920);
}

TEST(Geometry, ShortSideDefinesTheRungForAnyOrientation) {
  Size landscape = FitOutputSize({1920, 1080}, Lines(720));
  EXPECT_EQ(landscape.width, 1280);
  EXPECT_EQ(landscape.height, 720);
  Size portrait = FitOutputSize({1080, 1920}, Lines(720));
  EXPECT_EQ(portrait.width, 720);
  EXPECT_EQ(portrait.height, 1280);
}

TEST(Geometry, NeverUpscalesAndRoundsToEven) {
  Size small = FitOutputSize({321, 241}, Lines(720));
  EXPECT_EQ(small.width, 320);
  EXPECT_EQ(small.height, 240);
  Size anamorphic = FitOutputSize({853.33, 480}, Lines(480));
  EXPECT_EQ(anamorphic.width, 852);
  Size scaled = FitOutputSize({1920, 1080}, Lines(480));
  EXPECT_EQ(scaled.width, 854) << "scaled sizes round to the nearest even number";
  EXPECT_EQ(anamorphic.height, 480);
  presets::VideoSettings box;
  box.width = 640;
  box.height = 640;
  Size boxed = FitOutputSize({1920, 1080}, box);
  EXPECT_EQ(boxed.width, 640);
  EXPECT_EQ(boxed.height, 360);
  Size tiny = FitOutputSize({3, 1}, Lines(360));
  EXPECT_EQ(tiny.width, 2);
  EXPECT_EQ(tiny.height, 2);
}

TEST(Geometry, RungsAboveTheSourceAreDropped) {
  const presets::Ladder& ladder = *presets::FindLadder("default");
  auto names = [](const std::vector<presets::Rung>& rungs) {
    std::string s;
    for (const auto& r : rungs) s += r.name + " ";
    return s;
  };
  EXPECT_EQ(names(SelectRungs(ladder, {3840, 2160})), "1080p 720p 480p 360p ");
  EXPECT_EQ(names(SelectRungs(ladder, {1280, 720})), "720p 480p 360p ");
  EXPECT_EQ(names(SelectRungs(ladder, {1080, 1920})), "1080p 720p 480p 360p ");
  EXPECT_EQ(names(SelectRungs(ladder, {640, 360})), "360p ");
  std::vector<presets::Rung> own = SelectRungs(ladder, {320, 240});
  ASSERT_EQ(own.size(), 1u) << "a source below every rung still gets one rung, at its own size";
  EXPECT_EQ(own[0].lines, 240);
  EXPECT_LT(own[0].bitrate, 800000);
}

}  // namespace
}  // namespace reel::engine
