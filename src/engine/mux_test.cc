// Matroska outputs (kind "mkv"): the codecs of MP4 and WebM in a .mkv, read back with
// libavformat: codec, profile, size, bit depth, colour tags, every frame of the source, its
// duration.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

using testing::ReadMedia;
using testing::TempDir;

// What the job spec makes of {"kind": "mkv", "codec": ..., "audio_codec": ...}.
presets::Preset MkvPreset(presets::VideoCodec codec, presets::AudioCodec audio) {
  presets::Preset p = *presets::FindPreset("h264-720p");
  p.container = presets::Container::kMatroska;
  p.audio.codec = audio;
  presets::Overrides o;
  o.codec = codec;
  o.height = 240;
  o.speed = codec == presets::VideoCodec::kAv1 ? "12" : "ultrafast";
  EXPECT_FALSE(presets::ApplyOverrides(o, &p).has_value());
  return p;
}

TEST(MatroskaOutputs, EveryCodecReadsBackWithTheSourcesFrames) {
  const std::string src = testing::Bt709Clip(320, 240, 2, 25);
  testing::MediaSummary source = ReadMedia(src);
  ASSERT_NE(source.Find("video"), nullptr);
  const int64_t frames = source.Find("video")->packets;
  ASSERT_EQ(frames, 50);

  struct Case {
    presets::VideoCodec video;
    presets::AudioCodec audio;
    const char* video_name;
    const char* audio_name;
    const char* profile;
  };
  const Case cases[] = {
      // x264's ultrafast uses no CABAC nor B-frames, so its stream is Constrained Baseline.
      {presets::VideoCodec::kH264, presets::AudioCodec::kAac, "h264", "aac",
       "Constrained Baseline"},
      {presets::VideoCodec::kHevc, presets::AudioCodec::kOpus, "hevc", "opus", "Main"},
      {presets::VideoCodec::kAv1, presets::AudioCodec::kOpus, "av1", "opus", "Main"},
  };
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  for (const Case& c : cases) {
    FileOutputPlan f;
    f.index = static_cast<int>(plan.files.size());
    f.path = out / (std::string(c.video_name) + ".mkv");
    f.preset = MkvPreset(c.video, c.audio);
    plan.files.push_back(f);
  }
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outputs.size(), 3u);
  for (const OutputResult& o : r->outputs) EXPECT_EQ(o.kind, "mkv");

  for (const Case& c : cases) {
    SCOPED_TRACE(c.video_name);
    testing::MediaSummary m = ReadMedia(out / (std::string(c.video_name) + ".mkv"));
    EXPECT_EQ(m.container, "matroska,webm");
    const testing::StreamSummary* v = m.Find("video");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->codec, c.video_name);
    EXPECT_EQ(v->width, 320);
    EXPECT_EQ(v->height, 240);
    EXPECT_EQ(v->profile, c.profile);
    EXPECT_EQ(v->pixel_format, "yuv420p");  // 8 bits
    // The source's colour tags, carried into the Matroska Colour element.
    EXPECT_EQ(v->color_primaries, "bt709");
    EXPECT_EQ(v->color_transfer, "bt709");
    EXPECT_EQ(v->color_space, "bt709");
    EXPECT_EQ(v->color_range, "tv");
    EXPECT_EQ(v->packets, frames) << "every frame of the source, none added";
    EXPECT_NEAR(v->first_pts, 0, 0.001);
    EXPECT_NEAR(v->end, 2.0, 0.05);
    const testing::StreamSummary* a = m.Find("audio");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->codec, c.audio_name);
    EXPECT_NEAR(m.duration, 2.0, 0.1);
  }
}

}  // namespace
}  // namespace reel::engine
