// Per-title ladders: the choice of a rung's bitrate from its probes (ceiling, floor, target), the
// rungs dropped for adding nothing, and whole runs on an easy and a hard generated source, the
// easy one's rungs measured by the in-run quality report.
#include "engine/per_title.h"

#include <gtest/gtest.h>

#include <cmath>

#include "engine/engine.h"
#include "presets/catalog.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

using nlohmann::json;
using testing::TempDir;

TEST(PerTitle, BitrateStaysBetweenTheFloorAndTheLaddersRate) {
  const int64_t nominal = 3'000'000;
  // Easy: 46 dB at 1 Mb/s and 42 dB at 400 kb/s. 40.5 dB lies below the lower probe, on the same
  // line: 400k * exp(-1.5 / slope).
  ProbePoint easy = ChooseBitrate({1'000'000, 46}, {400'000, 42}, 40, 1'200'000);
  double slope = 4 / std::log(2.5);
  EXPECT_NEAR(easy.bitrate, 400'000 * std::exp(-1.5 / slope), 1000);
  EXPECT_NEAR(easy.psnr_y, 40.5, 0.02) << "aimed a margin above the target";
  // Very easy: the line reaches the target far below the floor, which holds.
  ProbePoint trivial = ChooseBitrate({200'000, 55}, {100'000, 52}, 40, nominal);
  EXPECT_EQ(trivial.bitrate, BitrateFloor(nominal));
  EXPECT_EQ(BitrateFloor(nominal), 500'000);
  EXPECT_EQ(BitrateFloor(120'000), 50'000) << "a fixed minimum under small rungs";
  EXPECT_GT(trivial.psnr_y, 50);
  // Hard: 36 dB at 8 Mb/s; the target would need more than the ladder gives.
  ProbePoint hard = ChooseBitrate({8'000'000, 36}, {3'000'000, 31}, 40, nominal);
  EXPECT_EQ(hard.bitrate, nominal);
  EXPECT_LT(hard.psnr_y, 36);
  // Order of the probes does not matter; a flat or inverted pair is read with the least slope.
  EXPECT_EQ(ChooseBitrate({400'000, 42}, {1'000'000, 46}, 40, 1'200'000).bitrate, easy.bitrate);
  ProbePoint flat = ChooseBitrate({1'000'000, 45}, {500'000, 45}, 40, nominal);
  EXPECT_EQ(flat.bitrate, BitrateFloor(nominal)) << "1 dB per e-fold: 45 dB reaches 40.5 by 1/90";
  // A higher target costs more bits.
  EXPECT_GT(ChooseBitrate({1'000'000, 46}, {400'000, 42}, 44, 1'200'000).bitrate, easy.bitrate);
}

TEST(PerTitle, RungsThatWouldNotGetMoreBitsThanTheOneBelowAreDropped) {
  presets::Ladder ladder = *presets::FindLadder("default");
  std::vector<presets::Rung> rungs = ladder.rungs;  // 1080, 720, 480, 360
  PerTitleChoice c;
  for (const presets::Rung& r : rungs) {
    RungChoice rc;
    rc.name = r.name;
    rc.nominal = rc.chosen = r.bitrate;
    c.rungs.push_back(rc);
  }
  c.rungs[0].chosen = 900'000;
  c.rungs[1].chosen = 900'000;  // no more than 480p's: dropped
  c.rungs[2].chosen = 900'000;  // no more than 360p's: dropped
  c.rungs[3].chosen = 900'000;
  DropRedundantRungs(rungs, &c);
  EXPECT_FALSE(c.rungs[3].dropped) << "the lowest rung always stays";
  EXPECT_TRUE(c.rungs[2].dropped);
  EXPECT_TRUE(c.rungs[1].dropped);
  EXPECT_TRUE(c.rungs[0].dropped) << "compared with the kept rung below (360p)";
  c.rungs[0].chosen = 1'200'000;
  for (RungChoice& r : c.rungs) r.dropped = false;
  DropRedundantRungs(rungs, &c);
  EXPECT_FALSE(c.rungs[0].dropped);
  EXPECT_NE(c.rungs[1].why.find("360p"), std::string::npos)
      << "480p was dropped: " << c.rungs[1].why;
  std::vector<presets::Rung> applied = ApplyChoice(rungs, c);
  ASSERT_EQ(applied.size(), 2u);
  EXPECT_EQ(applied[0].name, "1080p");
  EXPECT_EQ(applied[0].bitrate, 1'200'000);
  EXPECT_EQ(applied[1].name, "360p");
  EXPECT_EQ(applied[1].bitrate, 900'000);

  json report = PerTitleReport(c, {});
  ASSERT_EQ(report["rungs"].size(), 4u) << "dropped rungs are reported too";
  EXPECT_EQ(report["rungs"][1]["dropped"], true);
  EXPECT_EQ(report["rungs"][1]["nominal_bitrate"], 3'000'000);
  EXPECT_FALSE(report["rungs"][1].contains("psnr_y")) << "a dropped rung was not encoded";
}

// Two rungs under a 640x360 source, at rates a plain testsrc2 picture does not need.
presets::Ladder SmallLadder() {
  Result<presets::Ladder> l = presets::ParseLadder(json::parse(R"({"rungs": [
      {"height": 360, "bitrate": "1500k"}, {"height": 240, "bitrate": "900k"}],
      "per_title": true, "target_psnr": 40})"),
                                                   "ladder");
  EXPECT_TRUE(l.ok()) << l.status().ToString();
  return l.ok() ? *l : presets::Ladder{};
}

json RunPerTitle(const std::string& source, const std::string& dir) {
  TranscodePlan plan;
  plan.input = source;
  HlsOutputPlan hls;
  hls.directory = dir;
  hls.ladder = SmallLadder();
  hls.quality = true;
  plan.hls.push_back(hls);
  Result<TranscodeResult> r = Transcode(plan, {});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? ToJson(*r)["outputs"][0] : json();
}

TEST(PerTitle, EasySourceGetsLessThanNominalAndItsRungsReachTheTarget) {
  std::string source = testing::Fixture(
      "per_title_easy.mp4", {"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=8",
                             "-c:v", "libx264", "-crf", "10", "-g", "50", "-pix_fmt", "yuv420p"});
  TempDir out;
  json o = RunPerTitle(source, out / "hls");
  SCOPED_TRACE(o.dump());
  ASSERT_TRUE(o.contains("ladder"));
  const json& ladder = o["ladder"];
  EXPECT_EQ(ladder["per_title"], true);
  EXPECT_EQ(ladder["target_psnr"], 40.0);
  EXPECT_EQ(ladder["windows"], 3);
  EXPECT_EQ(ladder["window_seconds"], 0.5) << "6 % of 8 s, but at least 0.5 s";
  EXPECT_GT(ladder["analysis_seconds"].get<double>(), 0);
  ASSERT_EQ(ladder["rungs"].size(), 2u);
  for (const json& r : ladder["rungs"]) {
    EXPECT_EQ(r["dropped"], false);
    EXPECT_LT(r["bitrate"].get<int64_t>(), r["nominal_bitrate"].get<int64_t>());
    EXPECT_GE(r["bitrate"].get<int64_t>(), r["nominal_bitrate"].get<int64_t>() / 6);
    EXPECT_EQ(r["quality_source"], "measured");
    EXPECT_GE(r["psnr_y"].get<double>(), 40) << r["name"] << " reaches the target";
    EXPECT_GT(r["predicted_psnr_y"].get<double>(), 0);
  }
  // The encode followed the choice: what the playlists measured is near the chosen rate, far
  // below the ladder's.
  ASSERT_EQ(o["variants"].size(), 2u);  // the source has no audio
  for (size_t i = 0; i < 2; ++i) {
    const json& v = o["variants"][i];
    EXPECT_EQ(v["name"], ladder["rungs"][i]["name"]);
    EXPECT_LT(v["average_bandwidth"].get<int64_t>(),
              ladder["rungs"][i]["nominal_bitrate"].get<int64_t>() * 3 / 4)
        << v["name"];
  }
}

TEST(PerTitle, HardSourceKeepsTheLaddersBitrates) {
  // Mandelbrot zooming under strong temporal noise: no rate the ladder allows reaches 40 dB.
  // (Drawn small and scaled: mandelbrot is slow to draw.)
  std::string source = testing::Fixture(
      "per_title_hard_6s.mp4",
      {"-f", "lavfi", "-i", "mandelbrot=size=320x180:rate=25,scale=640:360,noise=alls=40:allf=t+u",
       "-t", "6", "-c:v", "libx264", "-crf", "10", "-g", "50", "-pix_fmt", "yuv420p"});
  TempDir out;
  json o = RunPerTitle(source, out / "hls");
  SCOPED_TRACE(o.dump());
  ASSERT_TRUE(o.contains("ladder"));
  for (const json& r : o["ladder"]["rungs"]) {
    EXPECT_EQ(r["dropped"], false);
    EXPECT_EQ(r["bitrate"], r["nominal_bitrate"]) << r["name"];
    EXPECT_LT(r["predicted_psnr_y"].get<double>(), 40);
    EXPECT_EQ(r["why"], "the target needs the ladder's bitrate");
  }
}

// A still picture under fixed grain (the same noise every frame): its P frames cost nothing, so
// its I frames are the whole bill, and a probe that sees too few of them, or prices them from
// frames it did not encode, predicts the target at a rate where the encode lands 10 dB short
// (a change that did so was backed out). Every rung reaches the target or spends the ladder's
// rate.
TEST(PerTitle, StillNoisyPictureReachesTheTargetOrSpendsTheLaddersRate) {
  std::string source = testing::Fixture(
      "per_title_still_noise.mp4",
      {"-f", "lavfi", "-i", "mandelbrot=size=640x360:rate=1/8,fps=25,noise=alls=60", "-t", "8",
       "-c:v", "libx264", "-crf", "8", "-g", "50", "-pix_fmt", "yuv420p"});
  TempDir out;
  json o = RunPerTitle(source, out / "hls");
  SCOPED_TRACE(o.dump());
  ASSERT_TRUE(o.contains("ladder"));
  for (const json& r : o["ladder"]["rungs"]) {
    if (r["dropped"] == true) continue;
    ASSERT_EQ(r["quality_source"], "measured") << r["name"];
    if (r["bitrate"] == r["nominal_bitrate"]) continue;
    EXPECT_GE(r["psnr_y"].get<double>(), 40) << r["name"] << " was lowered below the target";
  }
}

// Its windows would be sought by timestamps that, after a leap of the clock, do not say where
// they are: a source whose clock jumps keeps the ladder's bitrates, saying why.
TEST(PerTitle, ASourceWhoseClockJumpsKeepsTheLaddersBitrates) {
  TempDir out;
  json o = RunPerTitle(testing::ClockJumpTsSource(3600), out / "hls");
  SCOPED_TRACE(o.dump());
  ASSERT_TRUE(o.contains("ladder"));
  EXPECT_NE(o["ladder"]["note"].get<std::string>().find("clock jumps"), std::string::npos);
  for (const json& r : o["ladder"]["rungs"]) EXPECT_EQ(r["bitrate"], r["nominal_bitrate"]);
}

TEST(PerTitle, OnlyPerTitleLaddersHaveTheSection) {
  TempDir out;
  TranscodePlan plan;
  plan.input = testing::Clip(320, 240, 1);
  HlsOutputPlan hls;
  hls.directory = out / "hls";
  hls.ladder = *presets::FindLadder("default");
  plan.hls.push_back(hls);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(ToJson(*r)["outputs"][0].contains("ladder"));
}

// A choice made before the run (a chunked job's, chosen once for every chunk) is encoded as it
// is: no analysis, its bitrates and dropped rungs, its report. One for other rungs is refused.
TEST(PerTitle, AChoiceGivenToTheRunIsEncodedWithoutAnalysingAgain) {
  std::string source = testing::Clip(640, 360, 3, 25, false);
  PerTitleChoice given;
  given.analysis_seconds = 1234.5;
  given.rungs = {{"360p", 1'500'000, 400'000, 41.5, false, ""},
                 {"240p", 900'000, 150'000, 42, true, "set by the test"}};
  Result<PerTitleChoice> back = PerTitleChoiceFromJson(PerTitleChoiceToJson(given));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(PerTitleChoiceToJson(*back), PerTitleChoiceToJson(given));
  json over = PerTitleChoiceToJson(given);
  over["rungs"][0]["chosen"] = 2'000'000;
  EXPECT_FALSE(PerTitleChoiceFromJson(over).ok()) << "never above the ladder's rate";

  TempDir out;
  TranscodePlan plan;
  plan.input = source;
  HlsOutputPlan hls;
  hls.directory = out / "hls";
  hls.ladder = SmallLadder();
  hls.per_title_choice = PerTitleChoiceToJson(given);
  plan.hls.push_back(hls);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  json o = ToJson(*r)["outputs"][0];
  SCOPED_TRACE(o.dump());
  EXPECT_EQ(o["ladder"]["analysis_seconds"], 1234.5) << "the given choice, not a new analysis";
  EXPECT_EQ(o["ladder"]["rungs"][1]["dropped"], true);
  ASSERT_EQ(o["variants"].size(), 1u);
  EXPECT_EQ(o["variants"][0]["name"], "360p");
  EXPECT_LT(o["variants"][0]["average_bandwidth"].get<int64_t>(), 800'000) << "about 400k";

  given.rungs[1].name = "180p";
  plan.hls[0].per_title_choice = PerTitleChoiceToJson(given);
  plan.hls[0].directory = out / "other";
  Result<TranscodeResult> other = Transcode(plan, {});
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("other rungs"), std::string::npos)
      << other.status().ToString();
}

}  // namespace
}  // namespace reel::engine
