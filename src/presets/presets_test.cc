#include "presets/presets.h"

#include <gtest/gtest.h>

namespace reel::presets {
namespace {

TEST(Presets, RequiredPresetsExistWithTheirCodecs) {
  for (const char* name : {"h264-1080p", "h264-720p", "h264-480p", "h264-360p"}) {
    const Preset* p = FindPreset(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(p->video.codec, VideoCodec::kH264);
    EXPECT_EQ(p->container, Container::kMp4);
  }
  ASSERT_NE(FindPreset("hevc-1080p"), nullptr);
  EXPECT_EQ(FindPreset("hevc-1080p")->video.codec, VideoCodec::kHevc);
  ASSERT_NE(FindPreset("vp9-720p"), nullptr);
  EXPECT_EQ(FindPreset("vp9-720p")->container, Container::kWebm);
  EXPECT_EQ(FindPreset("vp9-720p")->audio.codec, AudioCodec::kOpus);
  EXPECT_EQ(FindPreset("h264-4k"), nullptr);
}

TEST(Presets, DefaultLadderIsTheSeedsLadder) {
  const Ladder* l = FindLadder("default");
  ASSERT_NE(l, nullptr);
  ASSERT_EQ(l->rungs.size(), 4u);
  EXPECT_EQ(l->rungs[0].lines, 1080);
  EXPECT_EQ(l->rungs[0].bitrate, 5000000);
  EXPECT_EQ(l->rungs[1].lines, 720);
  EXPECT_EQ(l->rungs[1].bitrate, 3000000);
  EXPECT_EQ(l->rungs[2].lines, 480);
  EXPECT_EQ(l->rungs[2].bitrate, 1500000);
  EXPECT_EQ(l->rungs[3].lines, 360);
  EXPECT_EQ(l->rungs[3].bitrate, 800000);
  EXPECT_EQ(l->audio.bitrate, 128000);
  EXPECT_EQ(l->segment_seconds, 6);
  EXPECT_TRUE(l->video.fixed_gop);
  VideoSettings rung = RungVideoSettings(*l, l->rungs[1]);
  EXPECT_EQ(rung.lines, 720);
  EXPECT_EQ(rung.bitrate, 3000000);
  EXPECT_GT(rung.maxrate, rung.bitrate);
}

TEST(Presets, ParseBitrate) {
  EXPECT_EQ(*ParseBitrate("2500k"), 2500000);
  EXPECT_EQ(*ParseBitrate("5M"), 5000000);
  EXPECT_EQ(*ParseBitrate("1.5m"), 1500000);
  EXPECT_EQ(*ParseBitrate("800000"), 800000);
  EXPECT_FALSE(ParseBitrate("").ok());
  EXPECT_FALSE(ParseBitrate("fast").ok());
  // Too large to round to an int64 (llround would give anything): refused, not wrapped.
  EXPECT_FALSE(ParseBitrate("1e300k").ok());
  EXPECT_FALSE(ParseBitrate("9223372036854775807000").ok());
  EXPECT_FALSE(ParseBitrate("inf").ok());
  EXPECT_FALSE(ParseBitrate("-5k").ok());
  EXPECT_FALSE(ParseBitrate("5kk").ok());
}

TEST(Presets, OverridesAreAppliedWithinBounds) {
  Preset p = *FindPreset("h264-720p");
  Overrides o;
  o.bitrate = 2000000;
  o.fps = 24;
  o.audio_bitrate = 96000;
  o.width = 640;
  EXPECT_FALSE(ApplyOverrides(o, &p).has_value());
  EXPECT_EQ(p.video.bitrate, 2000000);
  EXPECT_EQ(p.video.crf, -1);
  EXPECT_EQ(p.video.fps, 24);
  EXPECT_EQ(p.video.width, 640);
  EXPECT_EQ(p.video.lines, 0);
  EXPECT_EQ(p.audio.bitrate, 96000);
}

TEST(Presets, OutOfBoundOverridesNameTheField) {
  struct Case {
    Overrides o;
    const char* field;
  };
  std::vector<Case> cases(7);
  cases[0].o.bitrate = 10;
  cases[0].field = "bitrate";
  cases[1].o.crf = 52;
  cases[1].field = "crf";
  cases[2].o.width = 8;
  cases[2].field = "width";
  cases[3].o.height = 100000;
  cases[3].field = "height";
  cases[4].o.fps = 0;
  cases[4].field = "fps";
  cases[5].o.audio_bitrate = 1000;
  cases[5].field = "audio_bitrate";
  cases[6].o.bitrate = 1000000;
  cases[6].o.crf = 20;
  cases[6].field = "crf";
  for (const Case& c : cases) {
    Preset p = *FindPreset("h264-720p");
    auto err = ApplyOverrides(c.o, &p);
    ASSERT_TRUE(err.has_value()) << c.field;
    EXPECT_EQ(err->field, c.field);
    EXPECT_FALSE(err->message.empty());
  }
  Preset vp9 = *FindPreset("vp9-720p");
  Overrides crf60;
  crf60.crf = 60;
  EXPECT_FALSE(ApplyOverrides(crf60, &vp9).has_value()) << "VP9's CRF scale goes to 63";
}

}  // namespace
}  // namespace reel::presets
