// End-to-end checks of the engine on generated media: every output is read back with
// libavformat and checked against the source.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <regex>

#include "engine/engine.h"
#include "engine/hls.h"
#include "presets/catalog.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using testing::Clip;
using testing::Fixture;
using testing::MediaSummary;
using testing::ReadMedia;
using testing::TempDir;

HlsOutputPlan HlsOut(const std::string& dir) {
  HlsOutputPlan h;
  h.directory = dir;
  h.ladder = *presets::FindLadder("default");
  return h;
}

FileOutputPlan FileOut(const std::string& path, const presets::Preset& preset) {
  FileOutputPlan f;
  f.index = 1;
  f.path = path;
  f.preset = preset;
  return f;
}

TranscodePlan HlsPlan(const std::string& input, const std::string& dir) {
  TranscodePlan plan;
  plan.input = input;
  plan.hls.push_back(HlsOut(dir));
  return plan;
}

TranscodePlan FilePlan(const std::string& input, const std::string& path, const char* preset) {
  TranscodePlan plan;
  plan.input = input;
  plan.files.push_back(FileOut(path, *presets::FindPreset(preset)));
  return plan;
}

TranscodeResult MustTranscode(const TranscodePlan& plan, TranscodeOptions options = {}) {
  Result<TranscodeResult> r = Transcode(plan, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : TranscodeResult{};
}

// Nothing but the listed names in `dir`: no temp files, no half outputs.
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A segment of an fMP4 HLS rendition read as a file on its own (init + media segment).
MediaSummary ReadSegment(const std::string& variant_dir, const hls::MediaPlaylist& pl, size_t i,
                         const TempDir& scratch) {
  std::string joined = testing::ReadFile(variant_dir + "/" + pl.init_uri) +
                       testing::ReadFile(variant_dir + "/" + pl.segments[i].uri);
  std::string path = scratch / ("segment" + std::to_string(i) + ".mp4");
  testing::WriteFile(path, joined);
  return ReadMedia(path);
}

hls::MediaPlaylist MustReadPlaylist(const std::string& path) {
  Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(path);
  EXPECT_TRUE(pl.ok()) << pl.status().ToString();
  return pl.ok() ? *pl : hls::MediaPlaylist{};
}

std::vector<std::string> Lines(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  return out;
}

// ---------------------------------------------------------------------------------------------

TEST(Transcode, LadderFromAnHdSource) {
  std::string src = Clip(1280, 720, 13, 30);
  TempDir out;
  TranscodeResult r = MustTranscode(HlsPlan(src, out / "hls"));
  ASSERT_EQ(r.outputs.size(), 1u);
  const OutputResult& o = r.outputs[0];
  EXPECT_EQ(o.kind, "hls");
  EXPECT_EQ(o.master, out / "hls/master.m3u8");

  // 1080p is above the source and is dropped; nothing is upscaled.
  ASSERT_EQ(o.variants.size(), 3u);
  const int expected[3][2] = {{1280, 720}, {854, 480}, {640, 360}};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(o.variants[i].width, expected[i][0]);
    EXPECT_EQ(o.variants[i].height, expected[i][1]);
  }

  // Master playlist: an audio group and one STREAM-INF per rung with every attribute.
  std::string master = testing::ReadFile(o.master);
  ASSERT_EQ(Lines(master, "#EXT-X-MEDIA:TYPE=AUDIO").size(), 1u) << master;
  std::vector<std::string> infs = Lines(master, "#EXT-X-STREAM-INF:");
  ASSERT_EQ(infs.size(), 3u) << master;
  std::regex inf_re(
      R"(#EXT-X-STREAM-INF:BANDWIDTH=(\d+),AVERAGE-BANDWIDTH=(\d+),RESOLUTION=(\d+)x(\d+),FRAME-RATE=30\.000,CODECS="avc1\.64[0-9A-F]{4},mp4a\.40\.2",AUDIO="audio",CLOSED-CAPTIONS=NONE)");
  for (size_t i = 0; i < infs.size(); ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(infs[i], m, inf_re)) << infs[i];
    int64_t peak = std::stoll(m[1]), avg = std::stoll(m[2]);
    EXPECT_GE(peak, avg);
    EXPECT_EQ(std::stoi(m[3]), expected[i][0]);
    // The declared bandwidth is what the files measure, and near the rung's target.
    int64_t target = presets::FindLadder("default")->rungs[i + 1].bitrate + 128000;
    EXPECT_GT(avg, target * 0.5) << infs[i];
    EXPECT_LT(avg, target * 1.3) << infs[i];
  }

  // Every rung: same segment boundaries, each segment starting on a keyframe, 6 s targets,
  // the source's duration within one frame.
  TempDir scratch;
  std::vector<std::vector<double>> starts;
  for (size_t v = 0; v < o.variants.size(); ++v) {
    std::string dir = out / ("hls/" + o.variants[v].name);
    hls::MediaPlaylist pl = MustReadPlaylist(dir + "/index.m3u8");
    EXPECT_TRUE(pl.ended);
    EXPECT_EQ(pl.target_duration, 6);
    ASSERT_EQ(pl.segments.size(), 3u);
    EXPECT_NEAR(pl.segments[0].duration, 6.0, 1e-3);
    EXPECT_NEAR(pl.segments[1].duration, 6.0, 1e-3);
    EXPECT_NEAR(pl.Duration(), 13.0, 1.0 / 30);
    std::vector<double> s;
    double first_key = 0;
    for (size_t i = 0; i < pl.segments.size(); ++i) {
      MediaSummary seg = ReadSegment(dir, pl, i, scratch);
      const testing::StreamSummary* video = seg.Find("video");
      ASSERT_NE(video, nullptr);
      EXPECT_EQ(video->codec, "h264");
      EXPECT_EQ(video->width, expected[v][0]);
      EXPECT_EQ(video->height, expected[v][1]);
      ASSERT_FALSE(video->keyframes.empty());
      EXPECT_NEAR(video->keyframes.front(), video->first_pts, 1e-6)
          << o.variants[v].name << " segment " << i << " does not start on a keyframe";
      // Fixed GOP: a keyframe every 2 s and nowhere else. (fMP4 shifts every timestamp by
      // the B-frame delay, so count from the first keyframe; by decode time, which the
      // demuxer does not shift by what each fragment read alone holds.)
      ASSERT_EQ(video->keyframe_dts.size(), video->keyframes.size());
      if (i == 0) first_key = video->keyframe_dts.front();
      for (double k : video->keyframe_dts)
        EXPECT_NEAR(std::fmod(k - first_key + 1e-6, 2.0), 0, 1e-3)
            << o.variants[v].name << " at " << k;
      s.push_back(video->keyframe_dts.front());
    }
    starts.push_back(s);
  }
  for (size_t v = 1; v < starts.size(); ++v) EXPECT_EQ(starts[v], starts[0]) << "rung " << v;

  // One audio rendition serves every variant.
  hls::MediaPlaylist audio = MustReadPlaylist(out / "hls/audio/index.m3u8");
  ASSERT_FALSE(audio.segments.empty());
  MediaSummary a = ReadSegment(out / "hls/audio", audio, 0, scratch);
  const testing::StreamSummary* as = a.Find("audio");
  ASSERT_NE(as, nullptr);
  EXPECT_EQ(as->codec, "aac");
  EXPECT_EQ(as->channels, 2);
  EXPECT_EQ(as->sample_rate, 48000);
  EXPECT_EQ(a.Find("video"), nullptr);
  EXPECT_NEAR(audio.Duration(), 13.0, 0.05);

  // Only the package is left in the output's parent.
  EXPECT_EQ(Entries(out.path()), std::vector<std::string>{"hls"});
}

TEST(Transcode, HugeSourceGetsTheFullLadder) {
  std::string src = Clip(3840, 2160, 0.2, 30, false);
  TempDir out;
  TranscodeResult r = MustTranscode(HlsPlan(src, out / "hls"));
  ASSERT_EQ(r.outputs.size(), 1u);
  ASSERT_EQ(r.outputs[0].variants.size(), 4u);
  EXPECT_EQ(r.outputs[0].variants[0].width, 1920);
  EXPECT_EQ(r.outputs[0].variants[0].height, 1080);
  EXPECT_EQ(r.outputs[0].variants[3].height, 360);
}

TEST(Transcode, SmallSourceIsNeverUpscaled) {
  std::string src = Clip(320, 240, 1, 30);
  TempDir out;
  TranscodeResult r = MustTranscode(HlsPlan(src, out / "hls"));
  ASSERT_EQ(r.outputs[0].variants.size(), 1u);
  EXPECT_EQ(r.outputs[0].variants[0].width, 320);
  EXPECT_EQ(r.outputs[0].variants[0].height, 240);
  MediaSummary m = ReadMedia(out / ("hls/" + r.outputs[0].variants[0].name + "/index.m3u8"));
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->height, 240);
}

TEST(Transcode, TinyFrames) {
  std::string src = Clip(32, 18, 1, 30);
  TempDir out;
  TranscodeResult r = MustTranscode(FilePlan(src, out / "tiny.mp4", "h264-360p"));
  MediaSummary m = ReadMedia(out / "tiny.mp4");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->width, 32);
  EXPECT_EQ(m.Find("video")->height, 18);
  EXPECT_EQ(m.Find("video")->packets, 30);
}

TEST(Transcode, PhoneRotationIsApplied) {
  // A landscape-coded clip with a display matrix saying "turn it 90 degrees", as phones write.
  std::string src = Fixture(
      "rotated.mp4", {"-i", Clip(320, 240, 1, 30), "-c", "copy", "-metadata:s:v:0", "rotate=90"});
  Result<MediaInfo> info = Probe(src);
  ASSERT_TRUE(info.ok());
  ASSERT_NE(info->BestVideo()->rotation, 0);
  TempDir out;
  TranscodeResult r = MustTranscode(FilePlan(src, out / "r.mp4", "h264-360p"));
  MediaSummary m = ReadMedia(out / "r.mp4");
  const testing::StreamSummary* v = m.Find("video");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->width, 240);
  EXPECT_EQ(v->height, 320);
  EXPECT_EQ(v->rotation, 0) << "the picture is turned, so no rotation is left to apply";

  // Turned the right way: the first frame matches ffmpeg's own autorotation of the source.
  auto gray_frame = [](const std::string& file) {
    testing::CommandResult c =
        testing::RunCommand({"ffmpeg", "-nostdin", "-loglevel", "error", "-i", file, "-frames:v",
                             "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"});
    EXPECT_EQ(c.exit_code, 0) << c.output;
    return c.stdout_text;
  };
  std::string ours = gray_frame(out / "r.mp4"), theirs = gray_frame(src);
  ASSERT_EQ(ours.size(), 240u * 320u);
  ASSERT_EQ(theirs.size(), ours.size());
  double diff = 0;
  for (size_t i = 0; i < ours.size(); ++i)
    diff += std::abs(int(uint8_t(ours[i])) - int(uint8_t(theirs[i])));
  EXPECT_LT(diff / ours.size(), 8.0) << "mean absolute difference per pixel";

  // Portrait sources get portrait rungs: the short side names the rung.
  TranscodeResult h = MustTranscode(HlsPlan(src, out / "hls"));
  ASSERT_EQ(h.outputs[0].variants.size(), 1u);
  EXPECT_EQ(h.outputs[0].variants[0].width, 240);
  EXPECT_EQ(h.outputs[0].variants[0].height, 320);
}

TEST(Transcode, OddSizesRoundToEven) {
  std::string src = Clip(321, 241, 1, 30);
  TempDir out;
  MustTranscode(FilePlan(src, out / "o.mp4", "h264-360p"));
  MediaSummary m = ReadMedia(out / "o.mp4");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->width, 320);
  EXPECT_EQ(m.Find("video")->height, 240);
}

TEST(Transcode, AnamorphicPixelsKeepTheDisplayAspect) {
  // DVD-style 720x480 with 32:27 pixels: displayed 16:9.
  std::string src =
      Fixture("anamorphic.mp4", {"-f", "lavfi", "-i", "testsrc2=size=720x480:rate=25:duration=1",
                                 "-vf", "setsar=32/27", "-c:v", "libx264", "-preset", "ultrafast"});
  TempDir out;
  TranscodeResult r = MustTranscode(HlsPlan(src, out / "hls"));
  ASSERT_EQ(r.outputs[0].variants.size(), 2u);  // 480p and 360p
  for (const VariantResult& v : r.outputs[0].variants)
    EXPECT_NEAR(double(v.width) / v.height, 16.0 / 9, 0.01) << v.name;
  MediaSummary m = ReadMedia(out / "hls/360p/index.m3u8");
  const testing::StreamSummary* v = m.Find("video");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->width, 640);
  EXPECT_EQ(v->height, 360);
  EXPECT_TRUE(v->sar_num == 0 || v->sar_num == v->sar_den) << "square pixels out";
}

TEST(Transcode, VariableFrameRateComesOutConstantAndMonotonic) {
  // Drop frames irregularly and keep the gaps in the timestamps.
  std::string src =
      Fixture("vfr.mp4", {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=4", "-vf",
                          "select='not(eq(mod(n\\,7)\\,3))*not(eq(mod(n\\,11)\\,5))'", "-vsync",
                          "vfr", "-c:v", "libx264", "-preset", "ultrafast"});
  TempDir out;
  MustTranscode(FilePlan(src, out / "v.mp4", "h264-360p"));
  MediaSummary m = ReadMedia(out / "v.mp4");
  const testing::StreamSummary* v = m.Find("video");
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(v->monotonic_dts);
  EXPECT_EQ(v->packets, 120) << "30 fps grid over 4 s";
  EXPECT_NEAR(v->end, 4.0, 1.0 / 30);
}

TEST(Transcode, VideoWithoutAudioMakesVideoOnlyVariants) {
  std::string src = Clip(640, 360, 2, 30, false);
  TempDir out;
  TranscodeResult r = MustTranscode(HlsPlan(src, out / "hls"));
  std::string master = testing::ReadFile(out / "hls/master.m3u8");
  EXPECT_EQ(master.find("EXT-X-MEDIA"), std::string::npos) << master;
  EXPECT_EQ(master.find("mp4a"), std::string::npos) << master;
  EXPECT_FALSE(fs::exists(out / "hls/audio"));
  ASSERT_EQ(r.outputs[0].variants.size(), 1u);
  EXPECT_TRUE(r.outputs[0].audio_codec.empty());
}

TEST(Transcode, AudioOnlySourceMakesAudioHls) {
  std::string src = Fixture("audio-only.m4a",
                            {"-f", "lavfi", "-i", "sine=frequency=300:sample_rate=44100:duration=7",
                             "-c:a", "aac", "-b:a", "128k"});
  TempDir out;
  TranscodeResult r = MustTranscode(HlsPlan(src, out / "hls"));
  std::string master = testing::ReadFile(out / "hls/master.m3u8");
  std::vector<std::string> infs = Lines(master, "#EXT-X-STREAM-INF:");
  ASSERT_EQ(infs.size(), 1u) << master;
  EXPECT_NE(infs[0].find("CODECS=\"mp4a.40.2\""), std::string::npos);
  EXPECT_EQ(infs[0].find("RESOLUTION"), std::string::npos);
  EXPECT_NE(master.find("\naudio/index.m3u8\n"), std::string::npos);
  hls::MediaPlaylist pl = MustReadPlaylist(out / "hls/audio/index.m3u8");
  EXPECT_EQ(pl.segments.size(), 2u);
  EXPECT_NEAR(pl.Duration(), 7.0, 0.05);
  TempDir scratch;
  MediaSummary seg = ReadSegment(out / "hls/audio", pl, 0, scratch);
  ASSERT_NE(seg.Find("audio"), nullptr);
  EXPECT_EQ(seg.Find("audio")->sample_rate, 48000);
  // 128k AAC measured, not just declared.
  EXPECT_NEAR(r.outputs[0].variants[0].average_bandwidth, 128000, 20000);
}

TEST(Transcode, SurroundAudioIsDownmixedToStereo) {
  std::string src = Fixture("surround.mp4", {"-f",
                                             "lavfi",
                                             "-i",
                                             "testsrc2=size=320x240:rate=30:duration=2",
                                             "-f",
                                             "lavfi",
                                             "-i",
                                             "sine=frequency=500:sample_rate=48000:duration=2",
                                             "-filter_complex",
                                             "[1:a]pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0[a]",
                                             "-map",
                                             "0:v",
                                             "-map",
                                             "[a]",
                                             "-c:v",
                                             "libx264",
                                             "-preset",
                                             "ultrafast",
                                             "-c:a",
                                             "aac"});
  Result<MediaInfo> info = Probe(src);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->BestAudio()->channels, 6);
  TempDir out;
  MustTranscode(FilePlan(src, out / "s.mp4", "h264-360p"));
  MediaSummary m = ReadMedia(out / "s.mp4");
  ASSERT_NE(m.Find("audio"), nullptr);
  EXPECT_EQ(m.Find("audio")->channels, 2);
  EXPECT_NEAR(m.Find("audio")->end, 2.0, 0.05);
}

TEST(Transcode, TenBitSourceBecomesEightBit) {
  std::string src =
      Fixture("10bit.mp4", {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=1", "-c:v",
                            "libx264", "-pix_fmt", "yuv420p10le", "-preset", "ultrafast"});
  Result<MediaInfo> info = Probe(src);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->BestVideo()->bit_depth, 10);
  TempDir out;
  MustTranscode(FilePlan(src, out / "t.mp4", "h264-360p"));
  MediaSummary m = ReadMedia(out / "t.mp4");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->pixel_format, "yuv420p");
}

TEST(Transcode, TimestampsThatDoNotStartAtZero) {
  std::string src =
      Fixture("offset.ts", {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3", "-f",
                            "lavfi", "-i", "sine=duration=3", "-c:v", "libx264", "-preset",
                            "ultrafast", "-c:a", "aac", "-output_ts_offset", "10"});
  Result<MediaInfo> info = Probe(src);
  ASSERT_TRUE(info.ok());
  ASSERT_GT(info->start_time, 9);
  TempDir out;
  MustTranscode(FilePlan(src, out / "o.mp4", "h264-360p"));
  MediaSummary m = ReadMedia(out / "o.mp4");
  ASSERT_NE(m.Find("video"), nullptr);
  ASSERT_NE(m.Find("audio"), nullptr);
  EXPECT_NEAR(m.Find("video")->first_pts, 0, 1e-3);
  // The source's audio starts 23 ms (AAC priming) before its video; the output keeps that
  // offset, which may cost one repeated first frame on the 25 fps grid.
  EXPECT_NEAR(m.Find("video")->packets, 75, 1);
  EXPECT_NEAR(m.Find("audio")->end, 3.0, 0.1);
}

TEST(Transcode, SeveralTracksUseTheBestOfEach) {
  std::string src = Fixture("tracks.mkv", {"-f",
                                           "lavfi",
                                           "-i",
                                           "testsrc2=size=320x240:rate=30:duration=1",
                                           "-f",
                                           "lavfi",
                                           "-i",
                                           "sine=frequency=200:duration=1",
                                           "-f",
                                           "lavfi",
                                           "-i",
                                           "sine=frequency=800:duration=1",
                                           "-map",
                                           "0",
                                           "-map",
                                           "1",
                                           "-map",
                                           "2",
                                           "-c:v",
                                           "libx264",
                                           "-preset",
                                           "ultrafast",
                                           "-c:a",
                                           "libopus",
                                           "-metadata:s:a:1",
                                           "language=fra"});
  TempDir out;
  MustTranscode(FilePlan(src, out / "m.mp4", "h264-360p"));
  MediaSummary m = ReadMedia(out / "m.mp4");
  EXPECT_EQ(m.streams.size(), 2u);
  ASSERT_NE(m.Find("audio"), nullptr);
  EXPECT_EQ(m.Find("audio")->codec, "aac");
}

TEST(Transcode, Mp4PresetIsFastStart) {
  std::string src = Clip(1280, 720, 2, 30);
  TempDir out;
  TranscodeResult r = MustTranscode(FilePlan(src, out / "720.mp4", "h264-720p"));
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].width, 1280);
  std::string bytes = testing::ReadFile(out / "720.mp4");
  size_t moov = bytes.find("moov"), mdat = bytes.find("mdat");
  ASSERT_NE(moov, std::string::npos);
  ASSERT_NE(mdat, std::string::npos);
  EXPECT_LT(moov, mdat) << "moov must come first so playback starts before the download ends";
  MediaSummary m = ReadMedia(out / "720.mp4");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->codec, "h264");
  EXPECT_EQ(m.Find("video")->packets, 60);
  EXPECT_NEAR(m.Find("video")->end, 2.0, 1.0 / 30);
  ASSERT_NE(m.Find("audio"), nullptr);
  EXPECT_EQ(m.Find("audio")->codec, "aac");
  EXPECT_EQ(r.outputs[0].bytes, static_cast<int64_t>(bytes.size()));
}

TEST(Transcode, HevcAndVp9Presets) {
  std::string src = Clip(640, 360, 1, 30);
  TempDir out;
  TranscodePlan plan = FilePlan(src, out / "h.mp4", "hevc-1080p");
  plan.files.push_back(FileOut(out / "v.webm", *presets::FindPreset("vp9-720p")));
  MustTranscode(plan);
  MediaSummary h = ReadMedia(out / "h.mp4");
  ASSERT_NE(h.Find("video"), nullptr);
  EXPECT_EQ(h.Find("video")->codec, "hevc");
  EXPECT_EQ(h.Find("video")->height, 360);
  MediaSummary v = ReadMedia(out / "v.webm");
  EXPECT_EQ(v.container, "matroska,webm");
  ASSERT_NE(v.Find("video"), nullptr);
  EXPECT_EQ(v.Find("video")->codec, "vp9");
  ASSERT_NE(v.Find("audio"), nullptr);
  EXPECT_EQ(v.Find("audio")->codec, "opus");
}

TEST(Transcode, OverridesReachTheEncoder) {
  std::string src = Clip(640, 360, 2, 30);
  TempDir out;
  presets::Preset p = *presets::FindPreset("h264-720p");
  presets::Overrides o;
  o.width = 320;
  o.fps = 15;
  o.bitrate = 300000;
  ASSERT_FALSE(presets::ApplyOverrides(o, &p).has_value());
  TranscodePlan plan;
  plan.input = src;
  plan.files.push_back(FileOut(out / "o.mp4", p));
  MustTranscode(plan);
  MediaSummary m = ReadMedia(out / "o.mp4");
  const testing::StreamSummary* v = m.Find("video");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->width, 320);
  EXPECT_EQ(v->height, 180);
  EXPECT_EQ(v->packets, 30);
  int64_t bytes = static_cast<int64_t>(fs::file_size(out / "o.mp4"));
  EXPECT_LT(bytes * 8 / 2, 300000 * 2) << "the bitrate override is honoured";
}

// An inline rung's own encoding reaches its rendition, not only the parsed ladder: a frame-rate
// cap (the master's FRAME-RATE and the frames), a profile, and crf under a maxrate.
TEST(Transcode, InlineRungFieldsReachTheirRenditions) {
  std::string src = Clip(640, 360, 2, 30, false);
  TempDir out;
  Result<presets::Ladder> ladder = presets::ParseLadder(nlohmann::json::parse(R"([
      {"height": 360, "bitrate": "600k", "fps": 15, "profile": "main"},
      {"height": 180, "crf": 30, "maxrate": "300k", "profile": "baseline"}])"),
                                                        "ladder");
  ASSERT_TRUE(ladder.ok()) << ladder.status().ToString();
  TranscodePlan plan;
  plan.input = src;
  HlsOutputPlan h = HlsOut(out / "hls");
  h.ladder = *ladder;
  plan.hls.push_back(h);
  TranscodeResult r = MustTranscode(plan);
  ASSERT_EQ(r.outputs.size(), 1u);
  const std::vector<VariantResult>& variants = r.outputs[0].variants;
  ASSERT_EQ(variants.size(), 2u);
  EXPECT_EQ(variants[0].name, "360p");
  EXPECT_DOUBLE_EQ(variants[0].frame_rate, 15);
  EXPECT_DOUBLE_EQ(variants[1].frame_rate, 30);
  std::string master = testing::ReadFile(out / "hls/master.m3u8");
  EXPECT_NE(master.find("FRAME-RATE=15.000"), std::string::npos) << master;
  // avc1.4D...: Main; avc1.42...: Constrained Baseline.
  EXPECT_EQ(variants[0].codecs.rfind("avc1.4D", 0), 0u) << variants[0].codecs;
  EXPECT_EQ(variants[1].codecs.rfind("avc1.42", 0), 0u) << variants[1].codecs;
  MediaSummary capped = ReadMedia(out / ("hls/" + variants[0].playlist));
  ASSERT_NE(capped.Find("video"), nullptr);
  EXPECT_EQ(capped.Find("video")->packets, 30) << "2 s at 15 fps";
  EXPECT_EQ(capped.Find("video")->profile, "Main");
  MediaSummary crf = ReadMedia(out / ("hls/" + variants[1].playlist));
  ASSERT_NE(crf.Find("video"), nullptr);
  EXPECT_EQ(crf.Find("video")->packets, 60);
  EXPECT_NE(crf.Find("video")->profile.find("Baseline"), std::string::npos);
  // The playlist declares the cap: its measured peak stays near it.
  EXPECT_LT(variants[1].bandwidth, 2 * 300000);
}

TEST(Transcode, OneDecodeFeedsSeveralOutputs) {
  std::string src = Clip(854, 480, 2, 30);
  TempDir out;
  TranscodePlan plan = HlsPlan(src, out / "hls");
  plan.files.push_back(FileOut(out / "a.mp4", *presets::FindPreset("h264-360p")));
  plan.files.push_back(FileOut(out / "b.mp4", *presets::FindPreset("h264-480p")));
  TranscodeResult r = MustTranscode(plan);
  ASSERT_EQ(r.outputs.size(), 3u);
  EXPECT_EQ(r.outputs[1].height, 360);
  EXPECT_EQ(r.outputs[2].height, 480);
  EXPECT_EQ(ReadMedia(out / "b.mp4").Find("video")->packets, 60);
  EXPECT_EQ(Entries(out.path()), (std::vector<std::string>{"a.mp4", "b.mp4", "hls"}));
}

TEST(Transcode, ProgressIsMonotonicAndEndsAtOne) {
  std::string src = Clip(640, 360, 4, 30);
  TempDir out;
  std::vector<Progress> seen;
  TranscodeOptions options;
  options.progress_interval = 0;
  options.on_progress = [&](const Progress& p) { seen.push_back(p); };
  MustTranscode(HlsPlan(src, out / "hls"), options);
  ASSERT_GT(seen.size(), 3u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i].fraction, seen[i - 1].fraction);
  EXPECT_EQ(seen.back().fraction, 1.0);
  EXPECT_GT(seen.back().fps, 0);
  EXPECT_GT(seen.back().speed, 0);
  EXPECT_NEAR(seen.back().media_seconds, 4.0, 0.1);
}

TEST(Transcode, CancelRemovesEverything) {
  std::string src = Clip(640, 360, 4, 30);
  TempDir out;
  std::atomic<bool> cancel{false};
  TranscodeOptions options;
  options.cancel = &cancel;
  options.progress_interval = 0;
  options.on_progress = [&](const Progress& p) {
    if (p.fraction > 0.2) cancel = true;
  };
  TranscodePlan plan = HlsPlan(src, out / "hls");
  plan.files.push_back(FileOut(out / "a.mp4", *presets::FindPreset("h264-360p")));
  Result<TranscodeResult> r = Transcode(plan, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCanceled);
  EXPECT_TRUE(Entries(out.path()).empty());
}

// Every file under `dir` (relative name) with its bytes.
std::map<std::string, std::string> Files(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      files[fs::relative(e.path(), dir).string()] = testing::ReadFile(e.path().string());
  return files;
}

// Whoever may write an output's folder sees the package staged beside it (".hls.reel-XXXXXX").
// Swapped mid-run for a link to another package (another tenant's, with the same rendition
// folders), it must not make the run write there: the muxers and the playlists write into the
// folder the run made, and the commit refuses the name.
TEST(Transcode, APackageIsWrittenIntoItsOwnStagedFolderWhateverIsPutAtItsName) {
  std::string src = Clip(640, 360, 4, 30);
  TempDir out;
  MustTranscode(HlsPlan(Clip(640, 360, 2, 25), out / "victim"));
  const std::map<std::string, std::string> victim = Files(out / "victim");
  std::atomic<bool> swapped{false};
  TranscodeOptions options;
  options.progress_interval = 0;
  options.on_progress = [&](const Progress& p) {
    if (swapped || p.fraction < 0.2) return;
    for (const fs::directory_entry& e : fs::directory_iterator(out.path())) {
      if (e.path().filename().string().rfind(".hls", 0) != 0 || e.is_symlink()) continue;
      fs::rename(e.path(), out / "moved");
      fs::create_directory_symlink(out / "victim", e.path());
      swapped = true;
      break;
    }
  };
  Result<TranscodeResult> r = Transcode(HlsPlan(src, out / "hls"), options);
  ASSERT_TRUE(swapped);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("was replaced"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(Files(out / "victim") == victim) << "the other package was written into";
  EXPECT_FALSE(fs::exists(out / "hls"));
  EXPECT_TRUE(Entries(out / "moved").empty());  // what the run wrote is removed with it
}

TEST(Transcode, ExistingOutputIsReplacedWhole) {
  std::string src = Clip(640, 360, 1, 30);
  TempDir out;
  // An earlier package with a rendition this run does not make.
  fs::create_directories(out / "hls/1080p");
  testing::WriteFile(out / "hls/1080p/seg_00003.m4s", "old");
  testing::WriteFile(out / "hls/master.m3u8", "#EXTM3U\n");
  MustTranscode(HlsPlan(src, out / "hls"));
  EXPECT_FALSE(fs::exists(out / "hls/1080p"));
  EXPECT_TRUE(fs::exists(out / "hls/master.m3u8"));
  EXPECT_EQ(Entries(out.path()), std::vector<std::string>{"hls"});
  // Running again onto its own output is fine too (a retried job).
  MustTranscode(HlsPlan(src, out / "hls"));
}

TEST(Transcode, DirectoryOfOtherFilesIsNeverReplaced) {
  std::string src = Clip(640, 360, 1, 30);
  TempDir out;
  testing::WriteFile(out / "media/talk.mp4", "precious");
  testing::WriteFile(out / "media/bob/secret.txt", "precious");
  TranscodePlan plan = HlsPlan(src, out / "media");
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("holds files reel did not write"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(testing::ReadFile(out / "media/talk.mp4"), "precious");
  EXPECT_EQ(testing::ReadFile(out / "media/bob/secret.txt"), "precious");
  EXPECT_EQ(Entries(out.path()), std::vector<std::string>{"media"}) << "no staging left behind";
}

// ---------------------------------------------------------------------------------------------
// Bad input: a clear error, nothing left behind.

Status FailedTranscode(const std::string& input, const TempDir& out) {
  TranscodePlan plan = HlsPlan(input, out / "hls");
  plan.files.push_back(FileOut(out / "a.mp4", *presets::FindPreset("h264-360p")));
  Result<TranscodeResult> r = Transcode(plan, {});
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Entries(out.path()).empty()) << "partial outputs left behind";
  return r.ok() ? Status::Ok() : r.status();
}

TEST(TranscodeBadInput, MissingFile) {
  TempDir out;
  Status s = FailedTranscode(out / "nope.mp4", out);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("No such file"), std::string::npos) << s.message();
}

TEST(TranscodeBadInput, EmptyFile) {
  TempDir in, out;
  testing::WriteFile(in / "empty.mp4", "");
  Status s = FailedTranscode(in / "empty.mp4", out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("empty"), std::string::npos) << s.message();
}

TEST(TranscodeBadInput, NotMedia) {
  TempDir in, out;
  testing::WriteFile(in / "notes.mp4", std::string(5000, 'x') + "this is a text file\n");
  Status s = FailedTranscode(in / "notes.mp4", out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not a media file"), std::string::npos) << s.message();
}

TEST(TranscodeBadInput, PlaylistNamingOtherFilesIsRefused) {
  // A "source" that is an HLS playlist (or a concat list) would make the demuxer read whatever
  // files it names, anywhere on the host: only self-contained media are opened.
  std::string ts =
      Fixture("segment.ts", {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2",
                             "-c:v", "libx264", "-preset", "ultrafast", "-f", "mpegts"});
  TempDir in, out;
  testing::WriteFile(in / "evil.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n" + ts +
                                           "\n#EXT-X-ENDLIST\n");
  testing::WriteFile(in / "evil.txt", "ffconcat version 1.0\nfile '" + ts + "'\n");
  for (const char* name : {"evil.m3u8", "evil.txt"}) {
    Status s = FailedTranscode(in / name, out);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(s.message().find("not a"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("refused"), std::string::npos) << s.message();
  }
  // The segment itself is media, and reads.
  MustTranscode(FilePlan(ts, out / "ok.mp4", "h264-360p"));
}

TEST(TranscodeBadInput, ALonePhotoIsReadWhateverItsExtensionSuggests) {
  // A .jpg is taken for an image sequence (files named by a pattern, refused) before a JPEG;
  // the picture itself is one frame of video, as a .png already was.
  for (const char* name : {"photo.jpg", "photo.png"}) {
    std::string src =
        Fixture(name, {"-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"});
    Result<MediaInfo> info = Probe(src);
    ASSERT_TRUE(info.ok()) << name << ": " << info.status().ToString();
    ASSERT_NE(info->BestVideo(), nullptr);
    TempDir out;
    MustTranscode(FilePlan(src, out / "photo.mp4", "h264-360p"));
    MediaSummary m = ReadMedia(out / "photo.mp4");
    ASSERT_NE(m.Find("video"), nullptr) << name;
    EXPECT_EQ(m.Find("video")->packets, 1) << name;
    EXPECT_EQ(m.Find("video")->width, 320) << name;
  }
}

TEST(TranscodeBadInput, TruncatedFastStartMp4) {
  // moov at the front, media cut in half: opens fine, ends early.
  std::string whole = testing::ReadFile(Clip(640, 360, 4, 30));
  TempDir in, out;
  testing::WriteFile(in / "cut.mp4", whole.substr(0, whole.size() / 2));
  Status s = FailedTranscode(in / "cut.mp4", out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
}

TEST(TranscodeBadInput, AStretchTheDemuxerCannotReadFailsAsDamagedNotTruncated) {
  // An Ogg Opus file whose middle page carries a granule near INT64's limit: libavformat refuses
  // that page (an unsupported granule) and stops reading there. The reason says so; it used to
  // call the file truncated, which sends its owner to look for a failed upload.
  std::string src = testing::CorruptGranuleOgg(
      Fixture("tone-8s.opus.ogg",
              {"-f", "lavfi", "-i", "sine=frequency=440:duration=8", "-c:a", "libopus"}));
  TempDir out;
  Status s = FailedTranscode(src, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("file is damaged: reading stopped at"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("Invalid data"), std::string::npos) << s.message();
}

TEST(TranscodeBadInput, TruncatedMp4WithoutIndex) {
  // moov at the end, cut off: the file has no index at all.
  std::string src =
      Fixture("moov-at-end.mp4", {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2",
                                  "-c:v", "libx264", "-preset", "ultrafast"});
  std::string whole = testing::ReadFile(src);
  TempDir in, out;
  testing::WriteFile(in / "cut.mp4", whole.substr(0, whole.size() * 2 / 3));
  Status s = FailedTranscode(in / "cut.mp4", out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("cut.mp4"), std::string::npos) << s.message();
  // What is missing, as the demuxer said it, not only "Invalid data found".
  EXPECT_NE(s.message().find("moov atom not found"), std::string::npos) << s.message();
}

TEST(TranscodeBadInput, UnwritableOutputDirectory) {
  std::string src = Clip(320, 240, 1, 30);
  TempDir out;
  testing::WriteFile(out / "file", "a file, not a directory");
  TranscodePlan plan = HlsPlan(src, out / "file/hls");
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot create output directory"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(Entries(out.path()), std::vector<std::string>{"file"});
}

}  // namespace
}  // namespace reel::engine
