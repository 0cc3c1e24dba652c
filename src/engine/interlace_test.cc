// Interlaced sources that do not say so: woven fields in a stream flagged progressive are found
// by the idet pre-pass (interlace.h) and deinterlaced with the field order it saw; progressive
// sources are left alone. Checked with ffmpeg's own idet on the outputs.
#include "engine/interlace.h"

#include <gtest/gtest.h>

#include <regex>
#include <tuple>

#include "engine/engine.h"
#include "engine/filter.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

using testing::Fixture;
using testing::TempDir;

// testsrc2 at 50 pictures a second woven into 25 frames, coded as progressive H.264 with the
// frames flagged progressive: nothing in the stream says it is interlaced.
std::string UnflaggedWoven(bool top_first) {
  std::string mode = top_first ? "interleave_top" : "interleave_bottom";
  return Fixture(std::string("woven-unflagged-") + (top_first ? "tff" : "bff") + ".mkv",
                 {"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=50:duration=2", "-vf",
                  "tinterlace=mode=" + mode + ",setfield=prog", "-c:v", "libx264", "-preset",
                  "ultrafast", "-crf", "18"});
}

struct Idet {
  int64_t tff = 0, bff = 0, progressive = 0;
};

// ffmpeg's interlace detector over a whole file ("Multi frame detection" counts).
Idet FfmpegIdet(const std::string& path) {
  testing::CommandResult r = testing::RunCommand(
      {"ffmpeg", "-nostdin", "-hide_banner", "-i", path, "-vf", "idet", "-an", "-f", "null", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  std::regex line(R"(Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+))");
  if (!std::regex_search(r.output, m, line)) {
    ADD_FAILURE() << r.output;
    return {};
  }
  return {std::stoll(m[1]), std::stoll(m[2]), std::stoll(m[3])};
}

TEST(InterlaceDetection, FindsUnflaggedFieldsAndTheirOrder) {
  for (bool top : {true, false}) {
    std::string source = UnflaggedWoven(top);
    Result<MediaInfo> info = Probe(source);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_NE(info->BestVideo()->field_order, "tt") << "the stream must not say it";
    EXPECT_NE(info->BestVideo()->field_order, "bb");
    Result<FieldsSeen> seen = DetectInterlacing(source, 0);
    ASSERT_TRUE(seen.ok()) << seen.status().ToString();
    EXPECT_EQ(seen->frames, kInterlaceProbeFrames);
    EXPECT_EQ(seen->order, top ? AV_FIELD_TT : AV_FIELD_BB)
        << seen->tff << " tff, " << seen->bff << " bff, " << seen->progressive << " progressive";
  }
  Result<FieldsSeen> progressive = DetectInterlacing(testing::Clip(640, 360, 2, 25), 0);
  ASSERT_TRUE(progressive.ok()) << progressive.status().ToString();
  EXPECT_EQ(progressive->order, AV_FIELD_PROGRESSIVE)
      << progressive->tff << " tff, " << progressive->bff << " bff, " << progressive->progressive
      << " progressive";
  EXPECT_GT(progressive->progressive, 0);
  // A short file: what there is.
  Result<FieldsSeen> few = DetectInterlacing(UnflaggedWoven(true), 0, 10);
  ASSERT_TRUE(few.ok());
  EXPECT_EQ(few->frames, 10);
  EXPECT_FALSE(DetectInterlacing("/nonexistent/file.mkv", 0).ok());
}

TEST(InterlaceDetection, ProbeShowsTheVerdictAndItsCounts) {
  for (bool top : {true, false}) {
    std::string source = UnflaggedWoven(top);
    Result<MediaInfo> info = Probe(source);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_TRUE(info->BestVideo()->idet.verdict.empty()) << "Probe alone does not decode";
    ASSERT_TRUE(DetectFields(source, &*info).ok());
    nlohmann::json j = ToJson(*info)["streams"][0];
    SCOPED_TRACE(j.dump());
    EXPECT_EQ(j["field_order"], "progressive") << "what the stream says";
    EXPECT_EQ(j["idet"]["verdict"], "interlaced");
    EXPECT_EQ(j["idet"]["field_order"], top ? "tt" : "bb");
    EXPECT_EQ(j["idet"]["frames"], kInterlaceProbeFrames);
    // The counts are idet's own: the side the verdict names holds most of the frames.
    Result<FieldsSeen> seen = DetectInterlacing(source, 0);
    ASSERT_TRUE(seen.ok());
    EXPECT_EQ(j["idet"]["tff"], seen->tff);
    EXPECT_EQ(j["idet"]["bff"], seen->bff);
    EXPECT_EQ(j["idet"]["progressive"], seen->progressive);
    EXPECT_GT(j["idet"][top ? "tff" : "bff"].get<int64_t>(),
              j["idet"]["progressive"].get<int64_t>());
  }
  std::string clip = testing::Clip(640, 360, 2, 25);
  Result<MediaInfo> info = Probe(clip);
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(DetectFields(clip, &*info).ok());
  nlohmann::json j = ToJson(*info)["streams"];
  EXPECT_EQ(j[0]["idet"]["verdict"], "progressive") << j.dump();
  EXPECT_FALSE(j[0]["idet"].contains("field_order"));
  EXPECT_GT(j[0]["idet"]["progressive"].get<int64_t>(), 0);
  EXPECT_FALSE(j[1].contains("idet")) << "audio has no fields";
}

TEST(InterlaceDetection, DetectedFieldsGiveBwdifTheirParity) {
  SourcePicture p;
  p.field_order = AV_FIELD_PROGRESSIVE;
  p.detected_order = AV_FIELD_BB;
  EXPECT_EQ(DeinterlaceFilter(p), "bwdif=mode=send_frame:parity=bff:deint=all");
  p.detected_order = AV_FIELD_TT;
  p.deinterlace = presets::Deinterlace::kField;
  EXPECT_EQ(DeinterlaceFilter(p), "bwdif=mode=send_field:parity=tff:deint=all");
  p.deinterlace = presets::Deinterlace::kOff;
  EXPECT_EQ(DeinterlaceFilter(p), "");
  p.deinterlace = presets::Deinterlace::kAuto;
  p.detected_order = AV_FIELD_PROGRESSIVE;
  EXPECT_EQ(DeinterlaceFilter(p), "") << "idet saw progressive frames";
  // A declared order wins: each frame's own flag.
  p.field_order = AV_FIELD_BB;
  EXPECT_EQ(DeinterlaceFilter(p), "bwdif=mode=send_frame:parity=auto:deint=all");
}

TEST(InterlaceDetection, UnflaggedSourceIsDeinterlacedAtFrameOrFieldRate) {
  for (bool top : {true, false}) {
    for (auto [mode, name, frames] : {std::tuple{presets::Deinterlace::kAuto, "frame", 50},
                                      std::tuple{presets::Deinterlace::kField, "field", 100}}) {
      SCOPED_TRACE(std::string(top ? "tff " : "bff ") + name);
      TempDir out;
      TranscodePlan plan;
      plan.input = UnflaggedWoven(top);
      plan.deinterlace = mode;
      FileOutputPlan mp4;
      mp4.path = out / "out.mp4";
      mp4.preset = *presets::FindPreset("h264-720p");
      plan.files.push_back(mp4);
      Result<TranscodeResult> r = Transcode(plan, {});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->deinterlaced, name);
      testing::MediaSummary m = testing::ReadMedia(mp4.path);
      ASSERT_NE(m.Find("video"), nullptr);
      EXPECT_EQ(m.Find("video")->packets, frames);
      Idet det = FfmpegIdet(mp4.path);
      EXPECT_GT(det.progressive, 5 * (det.tff + det.bff))
          << det.tff << " tff, " << det.bff << " bff, " << det.progressive << " progressive";
    }
  }
  // Without deinterlacing the combing stays: the check above can fail.
  Idet source = FfmpegIdet(UnflaggedWoven(true));
  EXPECT_GT(source.tff, 5 * source.progressive);
}

// The pre-pass decodes the first frames a second time: only a job with an output that reads
// the picture pays for it.
TEST(InterlaceDetection, PrePassOnlyWhenAnOutputReadsThePicture) {
  std::string source = Fixture(
      "woven-unflagged-with-sound.mkv",
      {"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=50:duration=2", "-f", "lavfi", "-i",
       "sine=frequency=440:duration=2", "-vf", "tinterlace=mode=interleave_top,setfield=prog",
       "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"});
  TempDir out;
  TranscodePlan sound;
  sound.input = source;
  WaveformPlan w;
  w.destination = out / "peaks.json";
  sound.waveforms.push_back(w);
  LoudnessPlan l;
  l.index = 1;
  sound.loudness.push_back(l);
  int64_t before = InterlacingPrePasses();
  Result<TranscodeResult> r = Transcode(sound, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(InterlacingPrePasses(), before) << "waveform and loudness read only the sound";
  EXPECT_EQ(r->deinterlaced, "");

  TranscodePlan picture = sound;
  ThumbnailPlan t;
  t.index = 2;
  t.destination = out / "thumb.jpg";
  picture.thumbnails.push_back(t);
  r = Transcode(picture, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(InterlacingPrePasses(), before + 1);
  EXPECT_EQ(r->deinterlaced, "frame") << "found woven and deinterlaced for the thumbnail";

  picture.deinterlace = presets::Deinterlace::kOff;
  r = Transcode(picture, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(InterlacingPrePasses(), before + 1) << "\"off\" never looks";
  EXPECT_EQ(r->deinterlaced, "");
}

TEST(InterlaceDetection, ProgressiveSourceIsUntouched) {
  TempDir out;
  TranscodePlan plan;
  plan.input = testing::Clip(640, 360, 2, 25);
  FileOutputPlan mp4;
  mp4.path = out / "out.mp4";
  mp4.preset = *presets::FindPreset("h264-720p");
  plan.files.push_back(mp4);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->deinterlaced, "") << "no bwdif in the source graph";
  EXPECT_EQ(testing::ReadMedia(mp4.path).Find("video")->packets, 50);
}

}  // namespace
}  // namespace reel::engine
