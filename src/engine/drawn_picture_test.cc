// An audio-only source where a picture is needed (the hardening issue's item 22): the picture is
// drawn from the audio on a background (a colour, the waveform or the spectrum) with the
// subtitles burnt in, or the output fails saying how to ask for one; outputs that are audio by
// nature stay audio only. Pictures are read back through Debian's ffmpeg as RGB.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

using testing::TempDir;

// One frame of `path` (an image, or a video at `at` seconds) as RGB24 at `width`x`height`.
std::string Rgb(const std::string& path, int width, int height, double at = 0) {
  testing::CommandResult c = testing::RunCommand(
      {"ffmpeg", "-nostdin", "-loglevel", "error", "-ss", std::to_string(at), "-i", path,
       "-frames:v", "1", "-s", std::to_string(width) + "x" + std::to_string(height), "-f",
       "rawvideo", "-pix_fmt", "rgb24", "-"});
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.stdout_text.size(), size_t(width) * height * 3) << path;
  return c.stdout_text;
}

struct Colour {
  double r = 0, g = 0, b = 0;
};
Colour Mean(const std::string& rgb) {
  Colour c;
  size_t n = rgb.size() / 3;
  for (size_t i = 0; i < n; ++i) {
    c.r += uint8_t(rgb[3 * i]);
    c.g += uint8_t(rgb[3 * i + 1]);
    c.b += uint8_t(rgb[3 * i + 2]);
  }
  if (n) c = {c.r / n, c.g / n, c.b / n};
  return c;
}
// Pixels brighter than 200 on every channel: white text on a dark background.
size_t WhitePixels(const std::string& rgb) {
  size_t n = 0;
  for (size_t i = 0; i + 2 < rgb.size(); i += 3)
    n += uint8_t(rgb[i]) > 200 && uint8_t(rgb[i + 1]) > 200 && uint8_t(rgb[i + 2]) > 200;
  return n;
}
// Distinct grey levels: a drawn waveform or spectrum has many, a plain colour one or two.
size_t Levels(const std::string& rgb) {
  std::vector<bool> seen(256);
  size_t n = 0;
  for (size_t i = 0; i + 2 < rgb.size(); i += 3) {
    int y = (uint8_t(rgb[i]) + uint8_t(rgb[i + 1]) + uint8_t(rgb[i + 2])) / 3;
    if (!seen[y]) ++n;
    seen[y] = true;
  }
  return n;
}

FileOutputPlan Mp4(const std::string& path, int index = 0) {
  FileOutputPlan f;
  f.index = index;
  f.path = path;
  f.preset = *presets::FindPreset("h264-360p");
  return f;
}

Result<TranscodeResult> MustRun(const TranscodePlan& plan) {
  Result<TranscodeResult> r = Transcode(plan, {});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r;
}

TEST(DrawnPicture, AnMp4OfAudioAloneIsDrawnOnBlackAtTheRungSize) {
  TempDir out;
  TranscodePlan plan;
  plan.input = testing::AudioOnlySource(4);
  plan.files.push_back(Mp4(out / "a.mp4"));
  ASSERT_TRUE(MustRun(plan).ok());
  testing::MediaSummary m = testing::ReadMedia(out / "a.mp4");
  const testing::StreamSummary* v = m.Find("video");
  ASSERT_NE(v, nullptr) << "an MP4 of an audio-only source must have a picture";
  ASSERT_NE(m.Find("audio"), nullptr);
  EXPECT_EQ(v->width, 640);
  EXPECT_EQ(v->height, 360);
  EXPECT_NEAR(v->first_pts, 0, 1e-3);
  EXPECT_EQ(v->packets, 100);  // 4 s at 25 fps
  EXPECT_NEAR(v->end, m.Find("audio")->end, 0.05);
  Colour c = Mean(Rgb(out / "a.mp4", 64, 36, 2));
  EXPECT_LT(c.r + c.g + c.b, 3 * 20) << c.r << " " << c.g << " " << c.b;
}

TEST(DrawnPicture, AColourBackgroundAndAThumbnailThatNamesIt) {
  TempDir out;
  TranscodePlan plan;
  plan.input = testing::AudioOnlySource(4);
  plan.background = "#336699";
  plan.files.push_back(Mp4(out / "a.mp4"));
  ThumbnailPlan t;
  t.index = 1;
  t.destination = out / "t.png";
  t.options.format = "png";
  t.options.at = {50, true};
  t.background = true;
  plan.thumbnails.push_back(t);
  Result<TranscodeResult> r = MustRun(plan);
  ASSERT_TRUE(r.ok());
  for (const OutputResult& o : r->outputs) EXPECT_EQ(o.error, "") << o.index;
  for (const std::string& file : {out / "a.mp4", out / "t.png"}) {
    Colour c = Mean(Rgb(file, 64, 36, file == out / "a.mp4" ? 2 : 0));
    EXPECT_NEAR(c.r, 0x33, 8) << file;
    EXPECT_NEAR(c.g, 0x66, 8) << file;
    EXPECT_NEAR(c.b, 0x99, 8) << file;
  }
}

TEST(DrawnPicture, WaveformAndSpectrumAreDrawnFromTheAudio) {
  for (const char* background : {"waveform", "spectrum"}) {
    SCOPED_TRACE(background);
    TempDir out;
    TranscodePlan plan;
    plan.input = testing::AudioOnlySource(4);
    plan.background = background;
    plan.files.push_back(Mp4(out / "a.mp4"));
    ASSERT_TRUE(MustRun(plan).ok());
    testing::MediaSummary m = testing::ReadMedia(out / "a.mp4");
    ASSERT_NE(m.Find("video"), nullptr);
    EXPECT_EQ(m.Find("video")->packets, 100);
    EXPECT_GT(Levels(Rgb(out / "a.mp4", 320, 180, 2)), 8u) << "nothing drawn";
  }
}

TEST(DrawnPicture, OutputsThatAreAudioStayAudioAndPicturesNotAskedForFail) {
  TempDir out;
  TranscodePlan plan;
  plan.input = testing::AudioOnlySource(4);
  HlsOutputPlan h;  // names no background: an audio-only package
  h.index = 0;
  h.directory = out / "hls";
  h.ladder = *presets::FindLadder("default");
  plan.hls.push_back(h);
  ThumbnailPlan t;  // names no background either
  t.index = 1;
  t.destination = out / "t.jpg";
  plan.thumbnails.push_back(t);
  SpritePlan s;
  s.index = 2;
  s.destination = out / "s.jpg";
  s.background = true;  // this one does
  plan.background = "waveform";
  plan.sprites.push_back(s);
  Result<TranscodeResult> r = MustRun(plan);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->outputs.size(), 3u);
  EXPECT_NE(r->outputs[1].error.find("outputs[1].background"), std::string::npos)
      << r->outputs[1].error;
  EXPECT_EQ(r->outputs[2].error, "");
  std::string master = testing::ReadFile(out / "hls/master.m3u8");
  EXPECT_EQ(master.find("RESOLUTION"), std::string::npos) << master;
  EXPECT_NE(master.find("mp4a.40.2"), std::string::npos) << master;
}

// Seed 000's karaoke preview, through the CLI and the job spec: an audio file and ASS subtitles
// give a preview and a package with the words on the picture.
TEST(DrawnPicture, KaraokeSubtitlesAreBurntIntoTheDrawnPicture) {
  TempDir dir;
  testing::WriteFile(dir / "words.ass", R"([Script Info]
ScriptType: v4.00+
PlayResX: 640
PlayResY: 360

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,DejaVu Sans,72,&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,1,0,0,0,100,100,0,0,1,0,0,5,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.00,0:00:10.00,Default,,0,0,0,,SING ALONG
)");
  nlohmann::json spec = {
      {"source", {{"url", "file://" + testing::AudioOnlySource(4)}}},
      {"subtitles", {{"url", "file://" + dir / "words.ass"}}},
      {"outputs",
       {{{"kind", "preview"}, {"destination", dir / "preview.mp4"}},
        {{"kind", "hls"}, {"destination", dir / "hls/"}},
        {{"kind", "mp4"}, {"preset", "h264-360p"}, {"destination", dir / "plain.mp4"}}}}};
  testing::WriteFile(dir / "job.json", spec.dump());
  testing::CommandResult c =
      testing::RunCommand({testing::ReelBinary(), "transcode", dir / "job.json"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  testing::MediaSummary preview = testing::ReadMedia(dir / "preview.mp4");
  ASSERT_NE(preview.Find("video"), nullptr);
  EXPECT_EQ(preview.Find("video")->width, 480);
  EXPECT_NEAR(preview.Find("video")->end, 4, 0.05);
  EXPECT_GT(WhitePixels(Rgb(dir / "preview.mp4", 480, 270, 2)), 500u) << "no words burnt in";
  EXPECT_GT(WhitePixels(Rgb(dir / "plain.mp4", 640, 360, 2)), 500u) << "no words burnt in";
  // With subtitles the package shows them too: it has picture rungs.
  std::string master = testing::ReadFile(dir / "hls/master.m3u8");
  EXPECT_NE(master.find("RESOLUTION="), std::string::npos) << master;

  // A thumbnail that names no background fails the job, saying how to ask for one.
  spec["outputs"] = {{{"kind", "thumbnail"}, {"destination", dir / "t.jpg"}}};
  testing::WriteFile(dir / "job.json", spec.dump());
  c = testing::RunCommand({testing::ReelBinary(), "transcode", dir / "job.json"});
  EXPECT_NE(c.exit_code, 0) << c.output;
  EXPECT_NE(c.output.find("outputs[0].background"), std::string::npos) << c.output;
}

}  // namespace
}  // namespace reel::engine
