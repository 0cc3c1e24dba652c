#include "engine/geometry.h"

#include <cmath>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "presets/catalog.h"

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

TEST(Geometry, NoSideGoesPastWhatEncodersOpen) {
  // 320x240 coded with a 75:1 sample aspect ratio displays 24000x240, which x264 refused to
  // open ("invalid width x height"): the picture is scaled down to the longest side allowed.
  // Its 100:1 aspect is kept (within half a pixel, on even sizes).
  Size wide = FitOutputSize(SourceDisplaySize(320, 240, 75, 1, 0), Lines(360));
  EXPECT_LE(wide.width, kMaxOutputSide);
  EXPECT_GT(wide.width, kMaxOutputSide * 9 / 10);
  EXPECT_NEAR(wide.width, wide.height * 100.0, 50);
  Size tall = FitOutputSize({240, 24000}, presets::VideoSettings{});
  EXPECT_LE(tall.height, kMaxOutputSide);
  EXPECT_GT(tall.height, kMaxOutputSide * 9 / 10);
  EXPECT_NEAR(tall.height, tall.width * 100.0, 50);
}

TEST(Geometry, NeverUpscalesAndRoundsToEven) {
  Size small = FitOutputSize({321, 241}, Lines(720));
  EXPECT_EQ(small.width, 320);
  EXPECT_EQ(small.height, 240);
  Size anamorphic = FitOutputSize({853.33, 480}, Lines(480));
  EXPECT_EQ(anamorphic.width, 854) << "853.33 display pixels: the nearest even width";
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

// What each rung of the default ladder comes out as for a source, "WxH@bitrate/1000" each.
std::string Ladder(DisplaySize source, double fps = 30) {
  const presets::Ladder& ladder = *presets::FindLadder("default");
  std::string s;
  for (const presets::Rung& r : SelectRungs(ladder, source, fps)) {
    Size size = FitOutputSize(source, presets::RungVideoSettings(ladder, r));
    s += std::to_string(size.width) + "x" + std::to_string(size.height) + "@" +
         std::to_string(r.bitrate / 1000) + " ";
  }
  return s;
}

TEST(Geometry, RungsAreChosenByTheBoxThePictureFits) {
  EXPECT_EQ(Ladder({1920, 1080}), "1920x1080@5000 1280x720@3000 854x480@1500 640x360@800 ");
  // A 2.4:1 film is 1080p-class: its full width, the lower rungs scaled by width.
  EXPECT_EQ(Ladder({1920, 800}), "1920x800@5000 1276x532@3000 854x356@1500 638x266@800 ");
  EXPECT_EQ(Ladder({3840, 1600}), "1920x800@5000 1276x532@3000 854x356@1500 638x266@800 ");
  // 4:3 HD and portrait fit by their box too, none upscaled.
  EXPECT_EQ(Ladder({1440, 1080}), "1440x1080@5000 960x720@3000 640x480@1500 480x360@800 ");
  EXPECT_EQ(Ladder({1080, 1920}), "1080x1920@5000 720x1280@3000 480x854@1500 360x640@800 ");
  // Between two rungs: a top rung at the source's own size, priced between its neighbours.
  EXPECT_EQ(Ladder({720, 405}), "718x404@1032 640x360@800 ");
  // Below every rung: one rung, as before.
  EXPECT_EQ(Ladder({320, 240}), "320x240@355 ");
  EXPECT_EQ(Ladder({1280, 718}), "1280x718@3000 852x478@1500 638x358@800 ");
}

TEST(Geometry, AnInBetweenRungIsPricedByFrameRateAndCappedByTheRungAbove) {
  const presets::Ladder& ladder = *presets::FindLadder("default");
  auto top = [&](double fps) { return SelectRungs(ladder, {720, 405}, fps).front().bitrate; };
  EXPECT_LT(top(15), top(30));
  EXPECT_GT(top(60), top(30));
  EXPECT_GT(top(15), 800000) << "never below the rung under it";
  std::vector<presets::Rung> near_top = SelectRungs(ladder, {1900, 1060}, 60);
  ASSERT_EQ(near_top.size(), 4u) << "1900x1060 reaches the 1080p box";
  std::vector<presets::Rung> between = SelectRungs(ladder, {1600, 900}, 60);
  ASSERT_EQ(between.size(), 4u);
  EXPECT_EQ(between[0].name, "900p");
  EXPECT_LE(between[0].bitrate, 5000000) << "capped by the 1080p rung it stands in for";
}

// The rung made at the source's own size takes its set's encoding (the first rung's crf, fps
// cap, speed, profile, HDR); the ladder's own rungs keep theirs, however the first is set.
TEST(Geometry, OnlyTheRungAtTheSourcesSizeTakesTheSetsEncoding) {
  Result<presets::Ladder> ladder = presets::ParseLadder(nlohmann::json::parse(R"([
      {"height": 720, "crf": 30, "maxrate": "2M", "fps": 15, "codec": "hevc", "speed": "fast",
       "hdr": "keep"},
      {"height": 360, "bitrate": "600k", "codec": "hevc"}])"),
                                                        "ladder");
  ASSERT_TRUE(ladder.ok()) << ladder.status().ToString();
  std::vector<presets::Rung> rungs = SelectRungs(*ladder, {854, 480}, 30);
  ASSERT_EQ(rungs.size(), 2u);
  const presets::Rung& own = rungs[0];
  EXPECT_EQ(own.name, "480p-hevc");
  EXPECT_EQ(own.codec, presets::VideoCodec::kHevc);
  EXPECT_EQ(own.crf, 30);
  EXPECT_EQ(own.maxrate, 2000000);
  EXPECT_EQ(own.bitrate, 0);
  EXPECT_EQ(own.fps, 15);
  EXPECT_EQ(own.speed, "fast");
  EXPECT_TRUE(own.keep_hdr);
  const presets::Rung& low = rungs[1];
  EXPECT_EQ(low.name, "360p-hevc");
  EXPECT_EQ(low.bitrate, 600000) << "its bitrate, not the first rung's crf";
  EXPECT_EQ(low.crf, -1);
  EXPECT_EQ(low.fps, 0) << "no cap but its own";
  EXPECT_EQ(low.speed, "");
  EXPECT_FALSE(low.keep_hdr);
}

// Every rung of every plausible source: even sizes, the display aspect kept within half a pixel,
// never larger than the source, bitrates falling down the ladder.
TEST(Geometry, EveryRungIsEvenKeepsTheAspectAndBitratesFall) {
  const presets::Ladder& ladder = *presets::FindLadder("default");
  for (int w = 160; w <= 4096; w += 37) {
    for (double aspect : {2.39, 2.0, 16.0 / 9, 1.5, 4.0 / 3, 1.0, 9.0 / 16, 3.0 / 4}) {
      DisplaySize source{double(w), std::round(w / aspect)};
      if (source.height < 90 || source.height > 4096) continue;
      std::vector<presets::Rung> rungs = SelectRungs(ladder, source, 30);
      ASSERT_FALSE(rungs.empty());
      int64_t last_bitrate = INT64_MAX;
      int64_t last_pixels = INT64_MAX;
      for (const presets::Rung& r : rungs) {
        Size s = FitOutputSize(source, presets::RungVideoSettings(ladder, r));
        std::string what = std::to_string(w) + "x" + std::to_string(int(source.height)) + " " +
                           r.name + " " + std::to_string(s.width) + "x" + std::to_string(s.height);
        EXPECT_EQ(s.width % 2, 0) << what;
        EXPECT_EQ(s.height % 2, 0) << what;
        EXPECT_LE(s.width, source.width) << what;
        EXPECT_LE(s.height, source.height) << what;
        double a = source.width / source.height;
        EXPECT_LE(std::min(std::abs(s.width - s.height * a), std::abs(s.height - s.width / a)), 0.5)
            << what;
        EXPECT_LT(r.bitrate, last_bitrate) << what;
        EXPECT_LT(int64_t(s.width) * s.height, last_pixels) << what;
        last_bitrate = r.bitrate;
        last_pixels = int64_t(s.width) * s.height;
      }
    }
  }
}

}  // namespace
}  // namespace reel::engine
