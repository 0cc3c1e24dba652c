// Every kind of package the engine makes (HLS ladder with DASH, audio-only HLS and DASH, an HLS
// preview), made once each from a short clip whose length is a multiple of the segment length,
// and checked from the files alone by testing::CheckPackage and played to the end by GStreamer.
// Also the package helpers on their own: folding a short last segment, I-frame ranges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>

#include "engine/engine.h"
#include "engine/hls.h"
#include "testing/media_fixtures.h"
#include "testing/package_check.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TranscodeResult MustTranscode(const TranscodePlan& plan) {
  Result<TranscodeResult> r = Transcode(plan, {});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : TranscodeResult{};
}

// A ladder of two rungs with 2 s segments: a 4 s clip is exactly two segments, the case that
// used to leave a 21 ms audio segment after the video's end.
HlsOutputPlan ShortSegments(const std::string& dir, bool dash) {
  HlsOutputPlan h;
  h.directory = dir;
  h.ladder = *presets::FindLadder("default");
  h.ladder.segment_seconds = 2;
  h.dash = dash;
  h.kind = dash ? "dash" : "hls";
  return h;
}

// `playlists`: media and I-frame playlists the package has.
void ExpectPackageChecks(const std::string& dir, double duration, int playlists) {
  testing::PackageReport r = testing::CheckPackage(dir);
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.playlists, playlists);
  EXPECT_NEAR(r.media_duration, duration, 0.025);
  testing::PackageReport hls = testing::PlayWithGStreamer(dir + "/master.m3u8");
  EXPECT_TRUE(hls.ok()) << hls.Describe();
  if (fs::exists(dir + "/manifest.mpd")) {
    testing::PackageReport dash = testing::PlayWithGStreamer(dir + "/manifest.mpd");
    EXPECT_TRUE(dash.ok()) << dash.Describe();
  }
}

TEST(Package, LadderWithDashPassesTheChecker) {
  std::string src = testing::Clip(640, 360, 4, 30);
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  plan.hls.push_back(ShortSegments(out / "pkg", true));
  TranscodeResult r = MustTranscode(plan);
  ASSERT_EQ(r.outputs.size(), 1u);
  // The audio ends with the video: as many segments, none a leftover frame.
  Result<hls::MediaPlaylist> audio = hls::ReadMediaPlaylist(out / "pkg/audio/index.m3u8");
  Result<hls::MediaPlaylist> video = hls::ReadMediaPlaylist(out / "pkg/360p/index.m3u8");
  ASSERT_TRUE(audio.ok() && video.ok());
  EXPECT_EQ(audio->segments.size(), video->segments.size());
  EXPECT_GT(audio->segments.back().duration, 1.9);
  EXPECT_FALSE(fs::exists(out / "pkg/audio/seg_00002.m4s"));
  std::string mpd = testing::ReadFile(out / "pkg/manifest.mpd");
  // The presentation ends with the audio's last AAC frame, which 4 s of 48 kHz fills only half
  // (188 frames of 1024 samples end at 4.0107 s): an MPD ending at the picture's 4 s had dash.js
  // take the stream for ended while the element still played that frame.
  EXPECT_NE(mpd.find("mediaPresentationDuration=\"PT4.011S\""), std::string::npos) << mpd;
  std::string master = testing::ReadFile(out / "pkg/master.m3u8");
  EXPECT_NE(master.find("#EXT-X-I-FRAME-STREAM-INF:"), std::string::npos) << master;
  EXPECT_NE(master.find("URI=\"360p/iframes.m3u8\""), std::string::npos) << master;
  ExpectPackageChecks(out / "pkg", 4.0, 3);  // 360p, its I-frames, audio

  // The checker catches what the outside review found: a declared bandwidth below the measured
  // peak, a playlist without its end, an MPD that ends before the media.
  std::string pl = testing::ReadFile(out / "pkg/360p/index.m3u8");
  testing::WriteFile(out / "pkg/360p/index.m3u8", pl.substr(0, pl.find("#EXT-X-ENDLIST")));
  testing::WriteFile(
      out / "pkg/master.m3u8",
      std::regex_replace(master, std::regex("BANDWIDTH=\\d+,AVERAGE"), "BANDWIDTH=1000,AVERAGE"));
  testing::WriteFile(out / "pkg/manifest.mpd",
                     std::regex_replace(mpd, std::regex("PT4.011S"), "PT3.933S"));
  std::string problems = testing::CheckPackage(out / "pkg").Describe();
  EXPECT_NE(problems.find("360p/index.m3u8: no EXT-X-ENDLIST"), std::string::npos) << problems;
  EXPECT_NE(problems.find("BANDWIDTH 1000 below the measured peak"), std::string::npos) << problems;
  EXPECT_NE(problems.find("mediaPresentationDuration PT3.933S"), std::string::npos) << problems;
}

// The checker over several audio tracks, on a package given a second audio rendition by hand
// (a copy of its audio): each rendition must end with the video, and the group needs exactly one
// DEFAULT and distinct names.
TEST(Package, CheckerHoldsEveryAudioRenditionOfTheGroup) {
  std::string src = testing::Clip(640, 360, 4, 30);
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  plan.hls.push_back(ShortSegments(out / "pkg", false));
  ASSERT_EQ(MustTranscode(plan).outputs.size(), 1u);
  fs::copy(out / "pkg/audio", out / "pkg/audio_1");
  std::string master = testing::ReadFile(out / "pkg/master.m3u8");
  std::smatch line;
  ASSERT_TRUE(std::regex_search(master, line, std::regex("#EXT-X-MEDIA:TYPE=AUDIO[^\n]*\n")))
      << master;
  auto with_second = [&](const std::string& name, const std::string& is_default) {
    std::string second =
        std::regex_replace(line.str(), std::regex("NAME=\"default\""), "NAME=\"" + name + "\"");
    second = std::regex_replace(second, std::regex("DEFAULT=YES"), "DEFAULT=" + is_default);
    second = std::regex_replace(second, std::regex("URI=\"audio/"), "URI=\"audio_1/");
    return std::string(master).insert(line.position() + line.length(), second);
  };
  testing::WriteFile(out / "pkg/master.m3u8", with_second("Second", "NO"));
  testing::PackageReport ok = testing::CheckPackage(out / "pkg");
  EXPECT_TRUE(ok.ok()) << ok.Describe();
  EXPECT_EQ(ok.playlists, 4);  // 360p, its I-frames, audio, audio_1

  testing::WriteFile(out / "pkg/master.m3u8", with_second("default", "YES"));
  std::string pl = testing::ReadFile(out / "pkg/audio_1/index.m3u8");
  size_t last = pl.rfind("#EXTINF");
  ASSERT_NE(last, std::string::npos);
  testing::WriteFile(out / "pkg/audio_1/index.m3u8", pl.substr(0, last) + "#EXT-X-ENDLIST\n");
  std::string problems = testing::CheckPackage(out / "pkg").Describe();
  EXPECT_NE(problems.find("DEFAULT=YES on 2 audio renditions"), std::string::npos) << problems;
  EXPECT_NE(problems.find("audio NAME default twice"), std::string::npos) << problems;
  EXPECT_NE(problems.find("audio_1/index.m3u8: 1 segments end at"), std::string::npos) << problems;
  EXPECT_EQ(problems.find("audio/index.m3u8: "), std::string::npos) << "the first still ends "
                                                                       "with the video\n"
                                                                    << problems;
}

TEST(Package, AudioOnlyHlsAndDashPassTheChecker) {
  std::string src = testing::Fixture(
      "audio-only-4s.m4a",
      {"-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=4", "-c:a", "aac"});
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  plan.hls.push_back(ShortSegments(out / "pkg", true));
  TranscodeResult r = MustTranscode(plan);
  ASSERT_EQ(r.outputs.size(), 1u);
  Result<hls::MediaPlaylist> audio = hls::ReadMediaPlaylist(out / "pkg/audio/index.m3u8");
  ASSERT_TRUE(audio.ok());
  EXPECT_EQ(audio->segments.size(), 2u);
  // The MPD says what the decoded audio lasts: the source, not the source plus the priming.
  EXPECT_NEAR(r.outputs[0].duration, 4.0, 0.025);
  ExpectPackageChecks(out / "pkg", 4.0, 1);
}

TEST(Package, PreviewPassesTheChecker) {
  std::string src = testing::Clip(640, 360, 4, 30);
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  HlsOutputPlan h = ShortSegments(out / "pkg", false);
  presets::PreviewOptions o;
  o.start = 0;
  o.duration = 4;
  h.single = presets::PreviewPreset(o);
  h.kind = "preview";
  plan.hls.push_back(h);
  MustTranscode(plan);
  EXPECT_TRUE(fs::exists(out / "pkg/preview/iframes.m3u8"));
  ExpectPackageChecks(out / "pkg", 4.0, 3);
}

// Scene cuts make keyframes inside a segment (a preview has no fixed GOP; x264 cuts a GOP at a
// new scene): each is an I-frame of its own, a byte range from the moof of its own fragment, and
// lasts until the next. The checker compares them with the keyframes ffprobe finds.
TEST(Package, EveryKeyframeOfASegmentIsAnIFrame) {
  // Three scenes (1.2 s, 1.8 s, 3 s) and a tone: 6 s.
  std::string src = testing::Fixture(
      "scene-cuts-6s.mp4",
      {"-f",
       "lavfi",
       "-i",
       "testsrc2=size=640x360:rate=30:duration=1.2",
       "-f",
       "lavfi",
       "-i",
       "mandelbrot=size=640x360:rate=30",
       "-f",
       "lavfi",
       "-i",
       "smptehdbars=size=640x360:rate=30:duration=3",
       "-f",
       "lavfi",
       "-i",
       "sine=frequency=500:sample_rate=48000:duration=6",
       "-filter_complex",
       "[1:v]trim=duration=1.8,setpts=PTS-STARTPTS[m];[0:v][m][2:v]concat=n=3:v=1:a=0[v]",
       "-map",
       "[v]",
       "-map",
       "3:a",
       "-c:v",
       "libx264",
       "-preset",
       "veryfast",
       "-c:a",
       "aac"});
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  HlsOutputPlan h = ShortSegments(out / "pkg", false);
  h.ladder.segment_seconds = 6;
  presets::PreviewOptions o;
  o.start = 0;
  o.duration = 6;
  h.single = presets::PreviewPreset(o);
  h.kind = "preview";
  plan.hls.push_back(h);
  MustTranscode(plan);

  Result<hls::MediaPlaylist> video = hls::ReadMediaPlaylist(out / "pkg/preview/index.m3u8");
  Result<std::vector<hls::IFrame>> frames = hls::ReadIFrames(out / "pkg/preview/index.m3u8");
  ASSERT_TRUE(video.ok() && frames.ok());
  EXPECT_GT(frames->size(), video->segments.size())
      << testing::ReadFile(out / "pkg/preview/iframes.m3u8");
  // The cuts to the second and third scenes are I-frames, and the durations add up.
  std::vector<double> starts;
  double at = 0;
  for (const hls::IFrame& f : *frames) starts.push_back(at), at += f.duration;
  for (double cut : {1.2, 3.0})
    EXPECT_TRUE(std::any_of(starts.begin(), starts.end(),
                            [cut](double t) { return std::abs(t - cut) < 0.017; }))
        << "no I-frame at the scene cut at " << cut << " s";
  EXPECT_NEAR(at, video->Duration(), 1e-3);
  ExpectPackageChecks(out / "pkg", 6.0, 3);
}

TEST(Package, ShortLastSegmentIsFoldedIntoTheOneBefore) {
  TempDir dir;
  std::string src = testing::Fixture(
      "audio-only-4s.m4a",
      {"-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=4", "-c:a", "aac"});
  // The hls muxer's own cut of a 4 s AAC track at 2 s leaves a last segment of a frame.
  testing::CommandResult c = testing::RunCommand(
      {"ffmpeg", "-nostdin", "-loglevel", "error", "-i", src, "-c", "copy", "-f", "hls",
       "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
       "-avoid_negative_ts", "disabled", dir / "index.m3u8"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  Result<hls::MediaPlaylist> before = hls::ReadMediaPlaylist(dir / "index.m3u8");
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->segments.size(), 3u) << testing::ReadFile(dir / "index.m3u8");
  ASSERT_LT(before->segments[2].duration, 0.05);
  testing::MediaSummary whole_before = testing::ReadMedia(dir / "index.m3u8");
  std::string last = testing::ReadFile(dir / before->segments[2].uri);
  int64_t moved = int64_t(last.size() - (last.find("moof") - 4));  // from its moof on

  EXPECT_FALSE(*hls::FoldShortLastSegment(dir / "index.m3u8", 0.001)) << "longer than the limit";
  Result<bool> folded = hls::FoldShortLastSegment(dir / "index.m3u8", 0.05);
  ASSERT_TRUE(folded.ok()) << folded.status().ToString();
  EXPECT_TRUE(*folded);
  Result<hls::MediaPlaylist> after = hls::ReadMediaPlaylist(dir / "index.m3u8");
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->segments.size(), 2u);
  EXPECT_NEAR(after->Duration(), before->Duration(), 1e-6);
  EXPECT_FALSE(fs::exists(dir / before->segments[2].uri));
  EXPECT_EQ(after->segments[1].bytes, before->segments[1].bytes + moved)
      << "the fragments move, the last segment's styp and sidx do not";
  // Every sample is still there, in order.
  testing::MediaSummary whole_after = testing::ReadMedia(dir / "index.m3u8");
  ASSERT_NE(whole_after.Find("audio"), nullptr);
  EXPECT_EQ(whole_after.Find("audio")->packets, whole_before.Find("audio")->packets);
  EXPECT_NEAR(whole_after.Find("audio")->end, whole_before.Find("audio")->end, 1e-6);
  EXPECT_TRUE(whole_after.Find("audio")->monotonic_dts);
}

}  // namespace
}  // namespace reel::engine
