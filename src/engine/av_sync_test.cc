// Audio/video sync of reel's outputs, measured as the packaging issue's outside check did: a
// source with a white flash and a 1 kHz beep at every even second, decoded back from each output
// as a player presents it (edit lists honoured), must keep the flash and the beep within 1 ms.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testing/av_sync.h"
#include "testing/media_fixtures.h"

namespace reel {
namespace {

using nlohmann::json;
using testing::MeasureSync;
using testing::SyncReport;
using testing::SyncSourceOptions;
using testing::TempDir;

constexpr double kTolerance = 0.001;  // seconds, as the issue asks

SyncSourceOptions Source(int num, int den, double audio_delay = 0) {
  SyncSourceOptions o;
  o.fps_num = num;
  o.fps_den = den;
  o.audio_delay = audio_delay;
  return o;
}

// The library's own checks: the source reads as in sync, a shifted copy as shifted.

TEST(AvSyncLibrary, MeasuresTheSourceInSync) {
  for (auto [num, den] : {std::pair{25, 1}, std::pair{30000, 1001}, std::pair{30, 1}}) {
    SCOPED_TRACE(std::to_string(num) + "/" + std::to_string(den));
    SyncReport r = MeasureSync(testing::SyncSource(Source(num, den)));
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.offsets.size(), 6u) << r.Describe();  // 0, 2, ... 10 s of 12
    EXPECT_NEAR(r.mean_offset, 0, kTolerance) << r.Describe();
    EXPECT_NEAR(r.min_offset, 0, kTolerance) << r.Describe();
    EXPECT_NEAR(r.max_offset, 0, kTolerance) << r.Describe();
    EXPECT_NEAR(r.first_video, 0, 1e-6);
    EXPECT_NEAR(r.first_audio, 0, 1e-6);
    EXPECT_EQ(r.audio_samples, 12 * 48000);
  }
}

TEST(AvSyncLibrary, MeasuresADelayedAudioTrackAsDelayed) {
  SyncReport r = MeasureSync(testing::SyncSource(Source(30, 1, 0.040)));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_NEAR(r.mean_offset, 0.040, kTolerance) << r.Describe();
  EXPECT_NEAR(r.first_audio, 0.040, 1e-6) << r.Describe();
}

TEST(AvSyncLibrary, ReadsEditListsAndTrunBoxes) {
  // The delayed copy's audio track starts with a 40 ms empty edit.
  SyncReport r = MeasureSync(testing::SyncSource(Source(30, 1, 0.040)));
  const testing::TrackBoxes* audio = r.audio_boxes.Find("soun");
  ASSERT_NE(audio, nullptr);
  EXPECT_EQ(audio->timescale, 48000u);
  ASSERT_EQ(audio->edits.size(), 2u);
  EXPECT_EQ(audio->edits[0].media_time, -1);
  EXPECT_EQ(audio->edits[0].segment_duration * 1000 / r.audio_boxes.movie_timescale, 40);
  EXPECT_EQ(audio->edits[1].media_time, 0);

  // A fragmented file with negative composition offsets: a version-1 trun whose first sample
  // (the IDR frame, shown first) has offset 0.
  TempDir dir;
  std::string frag = dir / "frag.mp4";
  testing::CommandResult c = testing::RunCommand(
      {"ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
       "testsrc2=size=160x90:rate=30:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-bf",
       "2", "-movflags", "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets",
       "-avoid_negative_ts", "disabled", frag});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  testing::BoxInfo boxes = testing::ReadBoxes(testing::ReadFile(frag));
  EXPECT_TRUE(boxes.fragmented);
  const testing::TrackBoxes* video = boxes.Find("vide");
  ASSERT_NE(video, nullptr);
  EXPECT_TRUE(video->has_trun);
  EXPECT_EQ(video->trun_version, 1);
  EXPECT_EQ(video->first_cts_offset, 0);
  EXPECT_EQ(video->sample_times.size(), 60u);
}

// reel's outputs. Every kind must keep the source's sync at every frame rate.

enum class Kind { kMp4, kHls, kDash, kPreview };

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kMp4:
      return "Mp4";
    case Kind::kHls:
      return "Hls";
    case Kind::kDash:
      return "Dash";
    case Kind::kPreview:
      return "Preview";
  }
  return "";
}

using SyncCase = std::tuple<std::pair<int, int>, Kind>;

class OutputSync : public ::testing::TestWithParam<SyncCase> {};

TEST_P(OutputSync, FlashAndBeepStayWithinOneMillisecond) {
  auto [rate, kind] = GetParam();
  std::string source = testing::SyncSource(Source(rate.first, rate.second));
  TempDir dir;
  json output;
  std::string measured;
  switch (kind) {
    case Kind::kMp4:
      output = {{"kind", "mp4"}, {"preset", "h264-360p"}, {"destination", dir / "out.mp4"}};
      measured = dir / "out.mp4";
      break;
    case Kind::kHls:
      output = {{"kind", "hls"}, {"destination", dir / "hls/"}};
      measured = dir / "hls/master.m3u8";
      break;
    case Kind::kDash:
      output = {{"kind", "dash"}, {"destination", dir / "dash/"}};
      measured = dir / "dash/manifest.mpd";
      break;
    case Kind::kPreview:
      output = {{"kind", "preview"}, {"duration", 12}, {"destination", dir / "preview/"}};
      measured = dir / "preview/master.m3u8";
      break;
  }
  json spec = {{"source", {{"url", "file://" + source}}}, {"outputs", {output}}};
  testing::WriteFile(dir / "job.json", spec.dump());
  testing::CommandResult c =
      testing::RunCommand({testing::ReelBinary(), "transcode", dir / "job.json"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  // Read as MSE players read it, and as ffmpeg, ffprobe and mpv do (libavformat): negative
  // composition offsets, which the first take on this used, put the picture two frames late in
  // the second.
  for (testing::SyncReader reader : {testing::SyncReader::kPlayer, testing::SyncReader::kLibav}) {
    SCOPED_TRACE(reader == testing::SyncReader::kPlayer ? "as a player reads it"
                                                        : "as libavformat reads it");
    SyncReport r = MeasureSync(measured, reader);
    ASSERT_TRUE(r.ok) << r.error;
    std::printf("%s: %s\n", measured.c_str(), r.Describe().c_str());
    EXPECT_GE(r.offsets.size(), 5u) << r.Describe();
    EXPECT_NEAR(r.mean_offset, 0, kTolerance) << r.Describe();
    EXPECT_NEAR(r.min_offset, 0, kTolerance) << r.Describe();
    EXPECT_NEAR(r.max_offset, 0, kTolerance) << r.Describe();
    // The picture starts at 0 (no B-frame delay left in the presentation) and the audio carries
    // no priming: a player sees the source's 12 s, give or take the last AAC frame's padding.
    EXPECT_NEAR(r.first_video, 0, kTolerance) << r.Describe();
    EXPECT_NEAR(r.first_audio, 0, kTolerance) << r.Describe();
    EXPECT_LE(std::llabs(r.audio_samples - 12 * 48000), 1024) << r.Describe();
    const testing::TrackBoxes* video = r.video_boxes.Find("vide");
    if (reader == testing::SyncReader::kPlayer && video && r.video_boxes.fragmented) {
      // One edit that skips the B-frame delay, composition offsets that are never negative,
      // decode times from 0: the layout every player and libavformat read alike.
      ASSERT_EQ(video->edits.size(), 1u);
      EXPECT_GT(video->first_cts_offset, 0);
      EXPECT_EQ(video->edits[0].media_time, video->first_cts_offset);
      EXPECT_EQ(video->trun_version, 0);
      EXPECT_EQ(video->first_tfdt, 0);
    }
  }
}

std::string CaseName(const ::testing::TestParamInfo<SyncCase>& info) {
  auto [rate, kind] = info.param;
  std::string fps = rate.second == 1 ? std::to_string(rate.first) + "fps" : "29_97fps";
  return std::string(KindName(kind)) + "_" + fps;
}

const auto kRates = ::testing::Values(std::pair{25, 1}, std::pair{30000, 1001}, std::pair{30, 1});

INSTANTIATE_TEST_SUITE_P(Files, OutputSync,
                         ::testing::Combine(kRates, ::testing::Values(Kind::kMp4)), CaseName);

// fMP4 packages: the video's B-frame delay and the AAC priming each skipped by their track's
// edit list (before, audio led by 45 ms at 30 fps and 59 ms at 25 fps).
INSTANTIATE_TEST_SUITE_P(Packages, OutputSync,
                         ::testing::Combine(kRates, ::testing::Values(Kind::kHls, Kind::kDash,
                                                                      Kind::kPreview)),
                         CaseName);

}  // namespace
}  // namespace reel
