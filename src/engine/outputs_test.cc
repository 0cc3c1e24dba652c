// Output kinds beyond renditions, each read back: thumbnails, sprites, previews, waveforms,
// loudness (against Debian ffmpeg's ebur128), normalisation, mezzanine, DASH.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <regex>
#include <thread>

#include "engine/engine.h"
#include "engine/mux.h"
#include "engine/staging.h"
#include "engine/taps.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Clip;
using testing::Fixture;
using testing::ReadMedia;
using testing::TempDir;

TranscodeResult MustTranscode(const TranscodePlan& plan) {
  Result<TranscodeResult> r = Transcode(plan, {});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : TranscodeResult{};
}

// The frame at `seconds` as ffmpeg decodes it, in gray, scaled to w x h. The seek is an output
// option (decode from the start, drop until then): exact, and it avoids FFmpeg 5.1's HLS demuxer,
// which loses the fMP4 init segment's parameter sets when it seeks (its own HLS output too).
std::string FfmpegFrame(const std::string& file, double seconds, int w, int h) {
  testing::CommandResult c = testing::RunCommand(
      {"ffmpeg", "-nostdin", "-loglevel", "error", "-i", file, "-ss", std::to_string(seconds),
       "-frames:v", "1", "-vf", "scale=" + std::to_string(w) + ":" + std::to_string(h), "-f",
       "rawvideo", "-pix_fmt", "gray", "-"});
  EXPECT_EQ(c.exit_code, 0) << c.output;
  return c.stdout_text;
}

std::string Gray(const std::string& image_file) {
  testing::CommandResult c =
      testing::RunCommand({"ffmpeg", "-nostdin", "-loglevel", "error", "-i", image_file, "-f",
                           "rawvideo", "-pix_fmt", "gray", "-"});
  EXPECT_EQ(c.exit_code, 0) << c.output;
  return c.stdout_text;
}

double MeanAbsDiff(const std::string& a, const std::string& b) {
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size() || a.empty()) return 1e9;
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += std::abs(int(uint8_t(a[i])) - int(uint8_t(b[i])));
  return d / a.size();
}

TEST(Outputs, ThumbnailIsTheExactFrameAtTheTime) {
  std::string src = Clip(640, 360, 4, 30);
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  ThumbnailPlan t;
  t.destination = out / "t.png";
  t.options.at = {2.5, false};
  t.options.format = "png";
  plan.thumbnails.push_back(t);
  ThumbnailPlan d;  // the default: 10 % in, JPEG, at a smaller width
  d.index = 1;
  d.destination = out / "d.jpg";
  d.options.width = 320;
  plan.thumbnails.push_back(d);
  TranscodeResult r = MustTranscode(plan);
  ASSERT_EQ(r.outputs.size(), 2u);
  EXPECT_EQ(r.outputs[0].width, 640);
  EXPECT_EQ(r.outputs[1].width, 320);
  EXPECT_EQ(r.outputs[1].height, 180);
  // The result names the file where it ended up, not where it was staged.
  ASSERT_EQ(r.outputs[0].details["images"].size(), 1u);
  EXPECT_EQ(r.outputs[0].details["images"][0]["path"], "t.png");
  EXPECT_EQ(r.outputs[0].details["images"][0]["at"], 2.5);

  std::string ours = Gray(out / "t.png");
  EXPECT_LT(MeanAbsDiff(ours, FfmpegFrame(src, 2.5, 640, 360)), 1.0) << "the frame at 2.5 s";
  EXPECT_GT(MeanAbsDiff(ours, FfmpegFrame(src, 1.0, 640, 360)), 3.0) << "not some other frame";
  EXPECT_LT(MeanAbsDiff(Gray(out / "d.jpg"), FfmpegFrame(src, 0.4, 320, 180)), 4.0)
      << "10 % of 4 s";
}

TEST(Outputs, SeveralThumbnailsEvenlySpaced) {
  std::string src = Clip(640, 360, 4, 30);
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  ThumbnailPlan t;
  t.destination = out / "thumbs";
  t.options.count = 4;
  t.options.width = 160;
  t.options.format = "webp";
  plan.thumbnails.push_back(t);
  TranscodeResult r = MustTranscode(plan);
  ASSERT_EQ(r.outputs[0].details["images"].size(), 4u);
  for (int i = 1; i <= 4; ++i) {
    std::string name = out / ("thumbs/thumb_000" + std::to_string(i) + ".webp");
    ASSERT_TRUE(fs::exists(name)) << name;
    testing::MediaSummary m = ReadMedia(name);
    ASSERT_NE(m.Find("video"), nullptr);
    EXPECT_EQ(m.Find("video")->codec, "webp");
    EXPECT_EQ(m.Find("video")->width, 160);
    EXPECT_EQ(m.Find("video")->height, 90);
  }
  EXPECT_EQ(r.outputs[0].details["images"][3]["at"], 3.5);
}

TEST(Outputs, SpriteSheetStaysWithinWhatOneImageCanHold) {
  // 60 s at 0.5 s with 1280-wide tiles in rows of 50 would be 120 tiles of 0.9 megapixels on a
  // 50x3 canvas: over the 100 megapixel budget, so the interval grows instead (a header lying
  // about the duration could otherwise ask for a canvas of gigabytes).
  std::string src =
      Fixture("sprite-60s.mp4", {"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=2:duration=60",
                                 "-c:v", "libx264", "-preset", "ultrafast"});
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  SpritePlan s;
  s.destination = out / "sprite.jpg";
  s.options.interval = 0.5;
  s.options.columns = 50;
  s.options.tile_width = 1280;
  plan.sprites.push_back(s);
  TranscodeResult r = MustTranscode(plan);
  const nlohmann::json& d = r.outputs[0].details;
  int tiles = d["tiles"];
  EXPECT_EQ(tiles, 100) << "two whole rows of 50 fit the budget";
  EXPECT_LE(d["width"].get<double>() * d["height"].get<double>(), 100e6);
  EXPECT_GT(d["interval"].get<double>(), 0.5);
  testing::MediaSummary m = ReadMedia(out / "sprite.jpg");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->width, d["width"]);
}

TEST(Outputs, SpriteSheetAndWebVttTrack) {
  std::string src = Clip(640, 360, 4, 30);
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  SpritePlan s;
  s.destination = out / "sprite.jpg";
  s.options.interval = 0.5;  // 8 tiles
  s.options.columns = 3;
  s.options.tile_width = 160;
  plan.sprites.push_back(s);
  MustTranscode(plan);
  testing::MediaSummary m = ReadMedia(out / "sprite.jpg");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->width, 3 * 160);
  EXPECT_EQ(m.Find("video")->height, 3 * 90);
  std::string vtt = testing::ReadFile(out / "sprite.vtt");
  ASSERT_EQ(vtt.rfind("WEBVTT\n", 0), 0u);
  std::regex cue(
      R"((\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\nsprite\.jpg#xywh=(\d+),(\d+),160,90)");
  std::vector<std::smatch> cues;
  for (auto it = std::sregex_iterator(vtt.begin(), vtt.end(), cue); it != std::sregex_iterator();
       ++it)
    cues.push_back(*it);
  ASSERT_EQ(cues.size(), 8u) << vtt;
  EXPECT_EQ(cues[0][1].str(), "00:00:00.000");
  EXPECT_EQ(cues[4][1].str(), "00:00:02.000");
  EXPECT_EQ(cues[4][3].str(), "160");  // tile 4: second row, second column
  EXPECT_EQ(cues[4][4].str(), "90");
  EXPECT_EQ(cues[7][2].str(), "00:00:04.000");
  // Tile 4 shows the source at 2 s.
  std::string sheet = Gray(out / "sprite.jpg");
  std::string tile;
  for (int row = 0; row < 90; ++row) tile += sheet.substr((90 + row) * 480 + 160, 160);
  EXPECT_LT(MeanAbsDiff(tile, FfmpegFrame(src, 2.0, 160, 90)), 6.0);
}

TEST(Outputs, PreviewIsLetterboxedTrimmedAndClamped) {
  std::string src = Clip(320, 240, 6, 30);  // 4:3 into a 16:9 frame
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  presets::PreviewOptions o;
  o.start = 2;
  o.duration = 30;
  FileOutputPlan f;
  f.path = out / "preview.mp4";
  f.preset = presets::PreviewPreset(o);
  f.kind = "preview";
  plan.files.push_back(f);
  TranscodeResult r = MustTranscode(plan);
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].kind, "preview");
  ASSERT_EQ(r.outputs[0].notes.size(), 1u);
  EXPECT_NE(r.outputs[0].notes[0].find("clamped to 4.00 s"), std::string::npos);
  testing::MediaSummary m = ReadMedia(out / "preview.mp4");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->width, 480);
  EXPECT_EQ(m.Find("video")->height, 270);
  EXPECT_EQ(m.Find("video")->packets, 120) << "4 s at 30 fps";
  ASSERT_NE(m.Find("audio"), nullptr);
  EXPECT_NEAR(m.Find("audio")->end, 4.0, 0.05);
  // The preview starts where the source is at 2 s. The picture is never upscaled: 320x240 sits
  // in the middle of the 480x270 frame, and the bars around it are black.
  std::string first = FfmpegFrame(out / "preview.mp4", 0, 480, 270);
  std::string inner;
  for (int row = 0; row < 240; ++row) inner += first.substr((15 + row) * 480 + 80, 320);
  EXPECT_LT(MeanAbsDiff(inner, FfmpegFrame(src, 2.0, 320, 240)), 6.0);
  for (int row = 20; row < 250; row += 30) EXPECT_LT(uint8_t(first[row * 480 + 10]), 20);
  for (int col = 100; col < 380; col += 40) EXPECT_LT(uint8_t(first[5 * 480 + col]), 20);
}

TEST(Outputs, WaveformInAudiowaveformFormat) {
  std::string src = Fixture("tone.m4a", {"-f", "lavfi", "-i", "sine=frequency=220:duration=3",
                                         "-af", "volume=0.5", "-c:a", "aac"});
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  WaveformPlan w;
  w.destination = out / "wave.json";
  w.options.pixels_per_second = 50;
  w.options.image = out / "wave.png";
  w.options.image_width = 600;
  w.options.image_height = 100;
  plan.waveforms.push_back(w);
  MustTranscode(plan);
  json j = json::parse(testing::ReadFile(out / "wave.json"));
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["channels"], 1);
  EXPECT_EQ(j["bits"], 8);
  int rate = j["sample_rate"];
  EXPECT_EQ(j["samples_per_pixel"], rate / 50);
  int length = j["length"];
  EXPECT_NEAR(length, 150, 2);
  ASSERT_EQ(j["data"].size(), size_t(2 * length));
  int peak = 0;
  for (size_t i = 0; i < j["data"].size(); i += 2) {
    int lo = j["data"][i], hi = j["data"][i + 1];
    EXPECT_LE(lo, hi);
    EXPECT_GE(lo, -128);
    EXPECT_LE(hi, 127);
    peak = std::max(peak, hi);
  }
  EXPECT_NEAR(peak, 0.5 * 0.125 * 128, 6) << "sine at 1/8 scale (lavfi default), then -6 dB";
  testing::MediaSummary img = ReadMedia(out / "wave.png");
  ASSERT_NE(img.Find("video"), nullptr);
  EXPECT_EQ(img.Find("video")->width, 600);
  EXPECT_EQ(img.Find("video")->height, 100);
}

// ffmpeg's own EBU R128 summary of a file: I, LRA, true peak.
std::array<double, 3> FfmpegLoudness(const std::string& file) {
  testing::CommandResult c =
      testing::RunCommand({"ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", file, "-af",
                           "ebur128=peak=true", "-f", "null", "-"});
  std::smatch m;
  std::array<double, 3> v{};
  std::string s = c.output;
  s = s.substr(s.find("Summary:"));
  EXPECT_TRUE(std::regex_search(s, m, std::regex(R"(I:\s+(-?[\d.]+) LUFS)")));
  v[0] = std::stod(m[1]);
  EXPECT_TRUE(std::regex_search(s, m, std::regex(R"(LRA:\s+(-?[\d.]+) LU)")));
  v[1] = std::stod(m[1]);
  EXPECT_TRUE(std::regex_search(s, m, std::regex(R"(Peak:\s+(-?[\d.]+) dBFS)")));
  v[2] = std::stod(m[1]);
  return v;
}

TEST(Outputs, LoudnessAgreesWithFfmpegEbur128) {
  // A tone with noise that gets louder after 3 s: a real loudness range.
  std::string src =
      Fixture("loudness.m4a",
              {"-f", "lavfi", "-i", "sine=f=440:d=8", "-f", "lavfi", "-i", "anoisesrc=d=8:a=0.1",
               "-filter_complex", "[0][1]amix=inputs=2,volume='if(lt(t,3),0.2,0.9)':eval=frame",
               "-ac", "2", "-c:a", "aac", "-b:a", "192k"});
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  plan.loudness.push_back({0, out / "loudness.json"});
  TranscodeResult r = MustTranscode(plan);
  std::array<double, 3> ff = FfmpegLoudness(src);
  const json& d = r.outputs[0].details;
  // ffmpeg prints one decimal; agreeing within 0.1 means the same figure or its neighbour.
  EXPECT_NEAR(d["integrated_lufs"].get<double>(), ff[0], 0.1 + 1e-9);
  EXPECT_NEAR(d["range_lu"].get<double>(), ff[1], 0.1 + 1e-9);
  EXPECT_NEAR(d["true_peak_dbtp"].get<double>(), ff[2], 0.1 + 1e-9);
  EXPECT_GT(ff[1], 3) << "the fixture has a real loudness range";
  EXPECT_EQ(json::parse(testing::ReadFile(out / "loudness.json")), d);
}

TEST(Outputs, NormalisationReachesTheTarget) {
  std::string src = Fixture("quiet.mp4", {"-f", "lavfi", "-i", "testsrc2=size=320x240:d=6", "-f",
                                          "lavfi", "-i", "anoisesrc=d=6:a=0.02", "-c:v", "libx264",
                                          "-preset", "ultrafast", "-c:a", "aac"});
  Result<Loudness> before = MeasureLoudness(src, nullptr);
  ASSERT_TRUE(before.ok());
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  presets::Preset p = *presets::FindPreset("h264-360p");
  p.audio.normalize_lufs = -23;
  FileOutputPlan f;
  f.path = out / "n.mp4";
  f.preset = p;
  plan.files.push_back(f);
  TranscodeResult r = MustTranscode(plan);
  Result<Loudness> after = MeasureLoudness(out / "n.mp4", nullptr);
  ASSERT_TRUE(after.ok());
  EXPECT_LT(before->integrated, -30) << "the fixture is quiet";
  EXPECT_NEAR(after->integrated, -23, 0.5);
  EXPECT_LE(after->true_peak, -1 + 0.5);
  EXPECT_NEAR(r.outputs[0].details["normalized"]["gain_db"].get<double>(), -23 - before->integrated,
              0.05);
}

TEST(Outputs, MezzanineKeepsSizeRateAndIsLosslessWithFfv1) {
  std::string src = Clip(320, 240, 1, 25);
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  FileOutputPlan lossless;
  lossless.path = out / "m.mkv";
  lossless.preset = presets::MezzaninePreset(true);
  lossless.kind = "mezzanine";
  plan.files.push_back(lossless);
  FileOutputPlan h264 = lossless;
  h264.index = 1;
  h264.path = out / "m.mp4";
  h264.preset = presets::MezzaninePreset(false);
  plan.files.push_back(h264);
  MustTranscode(plan);
  testing::MediaSummary mkv = ReadMedia(out / "m.mkv");
  EXPECT_EQ(mkv.container, "matroska,webm");
  ASSERT_NE(mkv.Find("video"), nullptr);
  EXPECT_EQ(mkv.Find("video")->codec, "ffv1");
  EXPECT_EQ(mkv.Find("video")->width, 320);
  EXPECT_EQ(mkv.Find("video")->packets, 25);
  ASSERT_NE(mkv.Find("audio"), nullptr);
  EXPECT_EQ(mkv.Find("audio")->codec, "flac");
  EXPECT_EQ(MeanAbsDiff(FfmpegFrame(out / "m.mkv", 0.4, 320, 240), FfmpegFrame(src, 0.4, 320, 240)),
            0.0)
      << "lossless: the same pixels as the decoded source";
  testing::MediaSummary mp4 = ReadMedia(out / "m.mp4");
  ASSERT_NE(mp4.Find("video"), nullptr);
  EXPECT_EQ(mp4.Find("video")->codec, "h264");
  EXPECT_EQ(mp4.Find("video")->height, 240);
}

TEST(Outputs, DashManifestOverTheHlsSegments) {
  std::string src = Clip(854, 480, 8, 30);
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  HlsOutputPlan h;
  h.directory = out / "pkg";
  h.ladder = *presets::FindLadder("default");
  h.dash = true;
  h.kind = "dash";
  plan.hls.push_back(h);
  TranscodeResult r = MustTranscode(plan);
  EXPECT_EQ(r.outputs[0].manifest, out / "pkg/manifest.mpd");
  std::string mpd = testing::ReadFile(out / "pkg/manifest.mpd");
  EXPECT_NE(mpd.find("type=\"static\""), std::string::npos);
  // Every representation's template names files that exist, and its timeline covers the source.
  std::regex rep(R"x(<Representation id="([^"]+)"[^>]*>)x");
  std::vector<std::string> ids;
  for (auto it = std::sregex_iterator(mpd.begin(), mpd.end(), rep); it != std::sregex_iterator();
       ++it)
    ids.push_back((*it)[1]);
  EXPECT_EQ(ids, (std::vector<std::string>{"480p", "360p", "audio"}));
  for (const std::string& id : ids) {
    EXPECT_TRUE(fs::exists(out / ("pkg/" + id + "/init.mp4")));
    EXPECT_TRUE(fs::exists(out / ("pkg/" + id + "/seg_00000.m4s")));
    EXPECT_TRUE(fs::exists(out / ("pkg/" + id + "/seg_00001.m4s")));
  }
  EXPECT_NE(mpd.find("<S t=\"0\" d=\"6000\"/>"), std::string::npos) << mpd;
  EXPECT_NE(mpd.find("codecs=\"avc1.64"), std::string::npos);
  EXPECT_NE(mpd.find("codecs=\"mp4a.40.2\""), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "pkg/master.m3u8")) << "the same segments serve HLS";
  // ffmpeg's DASH demuxer reads it.
  testing::CommandResult c =
      testing::RunCommand({"ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of",
                           "csv=p=0", out / "pkg/manifest.mpd"});
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_NE(c.stdout_text.find("h264"), std::string::npos) << c.output;
}

TEST(Outputs, WhatTheSourceCannotGiveFailsAloneAndNamesTheOutput) {
  std::string silent = Clip(320, 240, 2, 30, false);
  TempDir out;
  TranscodePlan plan;
  plan.input = silent;
  plan.waveforms.push_back({0, out / "w.json", {}});
  ThumbnailPlan late;
  late.index = 1;
  late.destination = out / "late.jpg";
  late.options.at = {9, false};
  plan.thumbnails.push_back(late);
  FileOutputPlan preview;
  preview.index = 2;
  preview.path = out / "p.mp4";
  presets::PreviewOptions po;
  po.start = 5;
  preview.preset = presets::PreviewPreset(po);
  preview.kind = "preview";
  plan.files.push_back(preview);
  ThumbnailPlan fine;
  fine.index = 3;
  fine.destination = out / "fine.jpg";
  plan.thumbnails.push_back(fine);
  TranscodeResult r = MustTranscode(plan);
  ASSERT_EQ(r.outputs.size(), 4u);
  EXPECT_EQ(r.outputs[0].error, "outputs[0] (waveform): the source has no audio stream");
  EXPECT_NE(r.outputs[1].error.find("outputs[1] (thumbnail): 9.00 s is past the end"),
            std::string::npos)
      << r.outputs[1].error;
  EXPECT_NE(r.outputs[2].error.find("outputs[2] (preview): starts at 5.00 s, after the end"),
            std::string::npos)
      << r.outputs[2].error;
  EXPECT_TRUE(r.outputs[3].error.empty());
  EXPECT_TRUE(fs::exists(out / "fine.jpg"));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out.path())) names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"fine.jpg"}) << "nothing else written";
}

}  // namespace
}  // namespace reel::engine

namespace reel::engine {
namespace {

TEST(Inputs, ReplacementAudioTrackEndsWithThePicture) {
  std::string video = Clip(320, 240, 3, 30);  // with a quiet 440 Hz tone
  std::string music =
      Fixture("music.m4a", {"-f", "lavfi", "-i", "sine=frequency=660:duration=5", "-af",
                            "volume=12dB", "-ac", "2", "-c:a", "aac", "-b:a", "128k"});
  TempDir out;
  TranscodePlan plan;
  plan.input = video;
  plan.audio_input = music;
  FileOutputPlan f;
  f.path = out / "a.mp4";
  f.preset = *presets::FindPreset("h264-360p");
  plan.files.push_back(f);
  MustTranscode(plan);
  testing::MediaSummary m = ReadMedia(out / "a.mp4");
  ASSERT_NE(m.Find("audio"), nullptr);
  EXPECT_NEAR(m.Find("audio")->end, 3.0, 0.05) << "cut at the end of the picture";
  EXPECT_EQ(m.Find("video")->packets, 90);
  Result<Loudness> got = MeasureLoudness(out / "a.mp4", nullptr);
  Result<Loudness> noise = MeasureLoudness(music, nullptr);
  Result<Loudness> tone = MeasureLoudness(video, nullptr);
  ASSERT_TRUE(got.ok() && noise.ok() && tone.ok());
  EXPECT_GT(std::fabs(noise->integrated - tone->integrated), 5) << "the two tracks differ";
  EXPECT_NEAR(got->integrated, noise->integrated, 1.0) << "the output carries the new track";
}

TEST(Inputs, SubtitlesAreBurntIntoEveryRendition) {
  std::string src = Clip(640, 360, 3, 30);
  TempDir dir;
  // A big block of text from 0.5 s to 1.5 s.
  testing::WriteFile(dir / "subs it's: [1].ass",
                     "[Script Info]\nScriptType: v4.00+\nPlayResX: 640\nPlayResY: 360\n\n"
                     "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, "
                     "SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, "
                     "StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
                     "Alignment, MarginL, MarginR, MarginV, Encoding\n"
                     "Style: Default,DejaVu Sans,72,&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,"
                     "-1,0,0,0,100,100,0,0,3,8,0,2,10,10,20,1\n\n[Events]\n"
                     "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, "
                     "Text\nDialogue: 0,0:00:00.50,0:00:01.50,Default,,0,0,0,,MMMMMMMM\n");
  TranscodePlan plan;
  plan.input = src;
  plan.subtitles = dir / "subs it's: [1].ass";  // quotes, colon, brackets: filter syntax
  plan.hls.push_back({});
  plan.hls[0].directory = dir / "hls";
  plan.hls[0].ladder = *presets::FindLadder("default");
  FileOutputPlan f;
  f.index = 1;
  f.path = dir / "s.mp4";
  f.preset = *presets::FindPreset("h264-360p");
  plan.files.push_back(f);
  MustTranscode(plan);
  auto bottom = [](const std::string& frame) {  // the lower third, where the text is
    return frame.substr(240 * 640);
  };
  EXPECT_GT(MeanAbsDiff(bottom(FfmpegFrame(dir / "s.mp4", 1.0, 640, 360)),
                        bottom(FfmpegFrame(src, 1.0, 640, 360))),
            8.0)
      << "text burnt in while the subtitle is on";
  EXPECT_LT(MeanAbsDiff(bottom(FfmpegFrame(dir / "s.mp4", 2.5, 640, 360)),
                        bottom(FfmpegFrame(src, 2.5, 640, 360))),
            4.0)
      << "and gone after it ends";
  EXPECT_GT(MeanAbsDiff(bottom(FfmpegFrame(dir / "hls/360p/index.m3u8", 1.0, 640, 360)),
                        bottom(FfmpegFrame(src, 1.0, 640, 360))),
            8.0)
      << "the ladder's rungs get them too";
}

// Burns `subtitles` into a 360p MP4 in `dir`; the run must fail as not a subtitle file.
void ExpectSubtitlesRefused(const TempDir& dir, const std::string& subtitles) {
  TranscodePlan plan;
  plan.input = Clip(320, 240, 1, 30);
  plan.subtitles = subtitles;
  FileOutputPlan f;
  f.path = dir / "s.mp4";
  f.preset = *presets::FindPreset("h264-360p");
  plan.files.push_back(f);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not an SRT, ASS or WebVTT file"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(fs::exists(dir / "s.mp4"));
}

TEST(Inputs, SubtitlesThatDoNotParseAreAClearError) {
  TempDir dir;
  testing::WriteFile(dir / "broken.srt", std::string(3000, '\x01'));
  ExpectSubtitlesRefused(dir, dir / "broken.srt");
}

TEST(Inputs, SubtitlesThatAreAPlaylistAreRefused) {
  // A ".srt" that is an HLS playlist would make the subtitles filter read the files it names.
  std::string other = Fixture("other-with-subs.mkv",
                              {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=1",
                               "-c:v", "libx264", "-preset", "ultrafast"});
  TempDir dir;
  testing::WriteFile(dir / "subs.srt", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n" + other +
                                           "\n#EXT-X-ENDLIST\n");
  ExpectSubtitlesRefused(dir, dir / "subs.srt");
}

}  // namespace
}  // namespace reel::engine

namespace reel::engine {
namespace {

TEST(Inputs, SourcesAreJoinedOnTheMainSourcesFrame) {
  // A silent 16:9 title card, the main video (with audio), a 4:3 end card with 44.1 kHz audio.
  std::string title = Clip(640, 360, 2, 30, false);
  std::string main = Clip(1280, 720, 3, 30);
  std::string end = Fixture(
      "end-card.mp4", {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-f",
                       "lavfi", "-i", "sine=frequency=300:sample_rate=44100:duration=1", "-c:v",
                       "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "1"});
  TempDir out;
  TranscodePlan plan;
  plan.inputs = {title, main, end};
  FileOutputPlan f;
  f.path = out / "joined.mp4";
  f.preset = *presets::FindPreset("h264-720p");
  plan.files.push_back(f);
  HlsOutputPlan h;
  h.index = 1;
  h.directory = out / "hls";
  h.ladder = *presets::FindLadder("default");
  plan.hls.push_back(h);
  TranscodeResult r = MustTranscode(plan);
  EXPECT_NEAR(r.source_duration, 6.0, 0.1);
  EXPECT_EQ(r.outputs[1].variants.size(), 3u) << "720p, 480p, 360p: the main source's ladder";
  testing::MediaSummary m = ReadMedia(out / "joined.mp4");
  const testing::StreamSummary* v = m.Find("video");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->width, 1280);
  EXPECT_EQ(v->height, 720);
  EXPECT_NEAR(v->packets, 180, 1) << "6 s on the main source's 30 fps grid";
  EXPECT_TRUE(v->monotonic_dts);
  ASSERT_NE(m.Find("audio"), nullptr);
  EXPECT_NEAR(m.Find("audio")->end, 6.0, 0.1) << "silence under the title, then the sources' audio";
  // 1 s: the title card, scaled up to fill the 16:9 frame.
  EXPECT_LT(MeanAbsDiff(FfmpegFrame(out / "joined.mp4", 1.0, 640, 360),
                        FfmpegFrame(title, 1.0, 640, 360)),
            8.0);
  // 3.5 s: the main video's 1.5 s.
  EXPECT_LT(
      MeanAbsDiff(FfmpegFrame(out / "joined.mp4", 3.5, 640, 360), FfmpegFrame(main, 1.5, 640, 360)),
      8.0);
  // 5.5 s: the 4:3 end card, pillarboxed: black at the sides.
  std::string last = FfmpegFrame(out / "joined.mp4", 5.5, 640, 360);
  for (int row = 20; row < 340; row += 40) EXPECT_LT(uint8_t(last[row * 640 + 20]), 20);
  std::string inner;
  for (int row = 0; row < 360; ++row) inner += last.substr(row * 640 + 80, 480);
  EXPECT_LT(MeanAbsDiff(inner, FfmpegFrame(end, 0.5, 480, 360)), 10.0);
}

TEST(Inputs, EverySourceOfAJoinNeedsAPicture) {
  std::string tone = Fixture("tone.m4a", {"-f", "lavfi", "-i", "sine=frequency=220:duration=3",
                                          "-af", "volume=0.5", "-c:a", "aac"});
  TempDir out;
  TranscodePlan plan;
  plan.inputs = {Clip(320, 240, 1, 30), tone};
  FileOutputPlan f;
  f.path = out / "j.mp4";
  f.preset = *presets::FindPreset("h264-360p");
  plan.files.push_back(f);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sources[1]: has no video stream"), std::string::npos)
      << r.status().message();
}

// A canceled run used to leave the empty folders it had made for its outputs: it removes them,
// only if still empty, and never a folder that was there before.
TEST(Staging, AnAbandonedRunRemovesOnlyTheEmptyFoldersItMade) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "kept");
  {
    Staging staging;
    ASSERT_TRUE(staging.StageFile(dir / "kept/new/deeper/a.mp4").ok());
    ASSERT_TRUE(staging.StageDirectory(dir / "made/hls/").ok());
    ASSERT_TRUE(staging.StageFile(dir / "busy/b.mp4").ok());
    testing::WriteFile(dir / "busy/notes.txt", "put there meanwhile");
    EXPECT_TRUE(std::filesystem::is_directory(dir / "kept/new/deeper"));
  }  // abandoned: not committed
  EXPECT_FALSE(std::filesystem::exists(dir / "kept/new"));
  EXPECT_FALSE(std::filesystem::exists(dir / "made"));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "kept"));
  EXPECT_TRUE(std::filesystem::exists(dir / "busy/notes.txt"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "busy"),
                          std::filesystem::directory_iterator()),
            1);
  // Committed, the folders hold the outputs and stay.
  Staging staging;
  Result<std::string> temp = staging.StageFile(dir / "done/c.mp4");
  ASSERT_TRUE(temp.ok());
  ASSERT_TRUE(staging.Commit().ok());
  staging.Abandon();
  EXPECT_TRUE(std::filesystem::exists(dir / "done/c.mp4"));
}

// A process told to stop at once (`reel run-job` on SIGTERM while encoding) removes what is
// staged and not committed, from another thread than the run's, and never a committed output.
TEST(Staging, RemoveUncommittedOutputsTakesWhatIsStagedAndNothingCommitted) {
  testing::TempDir dir;
  Staging done;
  Result<std::string> committed = done.StageFile(dir / "done/a.mp4");
  ASSERT_TRUE(committed.ok());
  ASSERT_TRUE(done.Commit().ok());
  Staging running;
  Result<std::string> file = running.StageFile(dir / "out/b.mp4");
  Result<std::string> folder = running.StageDirectory(dir / "out/hls/");
  ASSERT_TRUE(file.ok() && folder.ok());
  testing::WriteFile(*folder + "/index.m3u8", "#EXTM3U\n");
  std::filesystem::path folder_name = std::filesystem::read_symlink(*folder);  // /proc/self/fd/N
  std::thread([] { RemoveUncommittedOutputs(); }).join();
  EXPECT_FALSE(std::filesystem::exists(*file));
  EXPECT_FALSE(std::filesystem::exists(folder_name));
  EXPECT_TRUE(std::filesystem::exists(dir / "done/a.mp4"));
  running.Abandon();  // what is gone already is no error; the folder it made goes
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

// Whoever may write an output's folder may swap a staged output for a link while the run
// encodes. The commit then refuses it: the mode that makes outputs servable is set through the
// staged entry itself, never by following a link onto a file or folder the server may change (a
// key made readable to every user, when the server runs as root).
TEST(Staging, AStagedOutputSwappedForALinkIsRefusedNotMadeReadableThrough) {
  namespace fs = std::filesystem;
  testing::TempDir dir;
  testing::WriteFile(dir / "server.key", "secret");
  fs::permissions(dir / "server.key", fs::perms::owner_read | fs::perms::owner_write);
  fs::create_directories(dir / "private");
  fs::permissions(dir / "private", fs::perms::owner_all);
  for (bool directory : {false, true}) {
    Staging staging;
    Result<std::string> temp =
        directory ? staging.StageDirectory(dir / "out/hls/") : staging.StageFile(dir / "out/a.mp4");
    ASSERT_TRUE(temp.ok());
    // A folder is written through /proc/self/fd/N (StageDirectory): its name is where that leads.
    fs::path name = directory ? fs::read_symlink(*temp) : fs::path(*temp);
    fs::remove_all(name);
    fs::create_symlink(directory ? dir / "private" : dir / "server.key", name);
    Status committed = staging.Commit();
    EXPECT_FALSE(committed.ok()) << "directory " << directory;
    EXPECT_NE(committed.message().find("was replaced"), std::string::npos) << committed.message();
    staging.Abandon();
  }
  EXPECT_EQ(fs::status(dir / "server.key").permissions(),
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(dir / "private").permissions(), fs::perms::owner_all);
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir / "out/a.mp4")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir / "out/hls")));
  // Untouched, the outputs are committed readable by all, as before.
  Staging staging;
  Result<std::string> file = staging.StageFile(dir / "out/b.mp4");
  Result<std::string> folder = staging.StageDirectory(dir / "out/dash/");
  ASSERT_TRUE(file.ok() && folder.ok());
  ASSERT_TRUE(staging.Commit().ok());
  EXPECT_EQ(fs::status(dir / "out/b.mp4").permissions(), fs::perms(0644));
  EXPECT_EQ(fs::status(dir / "out/dash").permissions(), fs::perms(0755));
}

// What the engine writes whole (thumbnails, sprites, waveforms, playlists) goes through one
// writer that never follows a link at the name, nor blocks on a FIFO put there.
TEST(Staging, AFileWrittenWholeIsNeverWrittenThroughALinkOrIntoAFifo) {
  namespace fs = std::filesystem;
  testing::TempDir dir;
  testing::WriteFile(dir / "server.key", "secret");
  fs::create_symlink(dir / "server.key", dir / "thumb.jpg");
  Status linked = WriteStagedFile(dir / "thumb.jpg", "jpeg bytes");
  EXPECT_FALSE(linked.ok());
  EXPECT_EQ(testing::ReadFile(dir / "server.key"), "secret");
  ASSERT_EQ(mkfifo((dir / "waveform.json").c_str(), 0600), 0);
  EXPECT_FALSE(WriteStagedFile(dir / "waveform.json", "{}").ok());
  ASSERT_TRUE(WriteStagedFile(dir / "sprite.jpg", "bytes").ok());
  EXPECT_EQ(testing::ReadFile(dir / "sprite.jpg"), "bytes");
  ASSERT_TRUE(WriteStagedFile(dir / "sprite.jpg", "b").ok()) << "replaced whole";
  EXPECT_EQ(testing::ReadFile(dir / "sprite.jpg"), "b");
}

// The muxers write a staged output through the descriptor it was created with, never by its
// name: a link put at the name (by whoever may write the folder) between its creation and the
// muxer's open leads nowhere, and the commit refuses the swapped name.
TEST(Staging, AMuxerWritesTheStagedFileItselfWhateverIsPutAtItsName) {
  namespace fs = std::filesystem;
  TempDir out;
  testing::WriteFile(out / "server.key", "secret");
  Staging staging;
  Result<std::string> temp = staging.StageFile(out / "a.mkv");
  ASSERT_TRUE(temp.ok());
  fs::remove(*temp);
  fs::create_symlink(out / "server.key", *temp);
  Muxer muxer(*temp);
  ASSERT_TRUE(muxer.Create("matroska").ok());
  ASSERT_TRUE(muxer.AddSubtitleStream("eng", "").ok());
  AVDictionary* options = nullptr;
  ASSERT_TRUE(muxer.WriteHeader(&options).ok());
  ASSERT_TRUE(muxer.Finish().ok());
  EXPECT_EQ(testing::ReadFile(out / "server.key"), "secret");
  Status committed = staging.Commit();
  EXPECT_NE(committed.message().find("was replaced"), std::string::npos) << committed.ToString();
  staging.Abandon();
  EXPECT_FALSE(fs::exists(fs::symlink_status(out / "a.mkv")));
}

}  // namespace
}  // namespace reel::engine
