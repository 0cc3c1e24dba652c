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

TEST(PerTitle, TheLowerHalfOfEachCodecsRungsIsProbedFirst) {
  std::vector<presets::Rung> rungs = presets::FindLadder("default")->rungs;  // 1080..360
  EXPECT_EQ(FirstPassRungs(rungs), (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(FirstPassRungs({rungs[2], rungs[3]}), (std::vector<bool>{false, true}));
  EXPECT_EQ(FirstPassRungs({rungs[3]}), (std::vector<bool>{true})) << "a lone rung is probed";
  std::vector<presets::Rung> mixed = {rungs[0], rungs[1], rungs[2]};
  mixed[1].crf = 23;  // constant quality: neither probed nor counted
  mixed[1].bitrate = 0;
  EXPECT_EQ(FirstPassRungs(mixed), (std::vector<bool>{false, false, true}));
}

// 240p (426x240) probed, 360p (640x360) above it, both at 25 fps.
constexpr double kPixels240 = 426.0 * 240 * 25, kPixels360 = 640.0 * 360 * 25;

RungChoice Choice(const std::string& name, int64_t nominal, int64_t chosen, double predicted = 0) {
  RungChoice c;
  c.name = name;
  c.nominal = nominal;
  c.chosen = chosen;
  c.predicted_psnr_y = predicted;
  return c;
}

TEST(PerTitle, ARungAboveOneThatNeedsTheLaddersRateNeedsItsOwnWithNoMoreBitsPerPixel) {
  RungCurve below{{9'000'000, 36}, 5, kPixels240};  // 36 dB at 9 Mb/s: hard
  RungChoice below_choice = Choice("240p", 900'000, 900'000, 31.4);
  RungChoice above = Choice("360p", 1'500'000, 1'500'000);
  ASSERT_TRUE(EstimateFromBelow(below, below_choice, kPixels360, 40, &above));
  EXPECT_TRUE(above.estimated);
  EXPECT_EQ(above.chosen, 1'500'000);
  EXPECT_LT(above.predicted_psnr_y, 31.4) << "fewer bits per pixel, a larger picture";
  EXPECT_EQ(above.why.rfind("estimated from 240p", 0), 0u) << above.why;

  // More bits per pixel than the rung below had: it may reach the target; probe it.
  RungChoice generous = Choice("360p", 2'500'000, 2'500'000);
  EXPECT_FALSE(EstimateFromBelow(below, below_choice, kPixels360, 40, &generous));
  EXPECT_FALSE(generous.estimated);
  EXPECT_EQ(generous.chosen, 2'500'000);
}

TEST(PerTitle, ARungAboveOneAtItsFloorIsEstimatedAtItsFloorOnlyWhenPlainlyEasy) {
  // 52 dB at 300 kb/s: the target is reached far under 240p's floor (150k).
  RungCurve easy{{300'000, 52}, 4, kPixels240};
  ProbePoint at_floor = ChooseBitrate(easy.point, easy.slope, 40, 900'000);
  ASSERT_EQ(at_floor.bitrate, BitrateFloor(900'000));
  RungChoice below_choice = Choice("240p", 900'000, int64_t(at_floor.bitrate), at_floor.psnr_y);
  RungChoice above = Choice("360p", 1'500'000, 1'500'000);
  ASSERT_TRUE(EstimateFromBelow(easy, below_choice, kPixels360, 40, &above));
  EXPECT_TRUE(above.estimated);
  EXPECT_EQ(above.chosen, BitrateFloor(1'500'000));
  EXPECT_GE(above.predicted_psnr_y, 40.5);
  EXPECT_LT(above.predicted_psnr_y, 52) << "lowered for the larger picture";
  EXPECT_NE(above.why.find("at its floor"), std::string::npos) << above.why;

  // At its floor too, but with less to spare (46 dB at 300k): the larger picture is probed.
  RungCurve closer{{300'000, 46}, 4, kPixels240};
  ProbePoint closer_floor = ChooseBitrate(closer.point, closer.slope, 40, 900'000);
  ASSERT_EQ(closer_floor.bitrate, BitrateFloor(900'000));
  RungChoice closer_below =
      Choice("240p", 900'000, int64_t(closer_floor.bitrate), closer_floor.psnr_y);
  RungChoice probed = Choice("360p", 1'500'000, 1'500'000);
  EXPECT_FALSE(EstimateFromBelow(closer, closer_below, kPixels360, 40, &probed));
  EXPECT_FALSE(probed.estimated);

  // Between its floor and its ladder's rate: nothing plain about it.
  RungChoice lowered = Choice("240p", 900'000, 400'000, 40.5);
  EXPECT_FALSE(EstimateFromBelow(easy, lowered, kPixels360, 40, &probed));
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
  EXPECT_EQ(ladder["window_seconds"], 0.4) << "6 % of 8 s, but at least 0.4 s";
  EXPECT_GT(ladder["analysis_seconds"].get<double>(), 0);
  EXPECT_GE(ladder["sampled_frames"].get<int>(), 3 * 10) << "three windows of 0.4 s at 25 fps";
  EXPECT_EQ(ladder["held_frames"], 0) << "a moving picture is probed frame by frame";
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
  const json& rungs = o["ladder"]["rungs"];
  ASSERT_EQ(rungs.size(), 2u);
  for (const json& r : rungs) {
    EXPECT_EQ(r["dropped"], false);
    EXPECT_EQ(r["bitrate"], r["nominal_bitrate"]) << r["name"];
    EXPECT_LT(r["predicted_psnr_y"].get<double>(), 40);
  }
  // 240p was probed; 360p, with fewer bits per pixel, was not: it needs its rate as 240p does.
  EXPECT_EQ(rungs[1]["why"], "the target needs the ladder's bitrate");
  EXPECT_FALSE(rungs[1].contains("estimated"));
  EXPECT_EQ(rungs[0]["estimated"], true);
  EXPECT_EQ(rungs[0]["why"].get<std::string>().rfind("estimated from 240p", 0), 0u);
}

// A slide deck (a picture held for 4 s): 240p reaches the target far under its floor, so 360p is
// estimated at its floor rather than probed, and the encode at that rate reaches the target.
TEST(PerTitle, AStaticSourcesLargerRungIsEstimatedAtItsFloorAndReachesTheTarget) {
  std::string source =
      testing::Fixture("per_title_slides.mp4",
                       {"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=0.25,fps=25", "-t", "8",
                        "-c:v", "libx264", "-crf", "10", "-g", "50", "-pix_fmt", "yuv420p"});
  TempDir out;
  json o = RunPerTitle(source, out / "hls");
  SCOPED_TRACE(o.dump());
  ASSERT_TRUE(o.contains("ladder"));
  // Of each window's frames, the ones that repeat the frame before them byte for byte are
  // counted as the copies an encoder makes of them, not probed: most of a held picture.
  const int sampled = o["ladder"]["sampled_frames"], held = o["ladder"]["held_frames"];
  EXPECT_GE(sampled, 3 * 10);
  EXPECT_GT(held, sampled / 2);
  const json& rungs = o["ladder"]["rungs"];
  ASSERT_EQ(rungs.size(), 2u);
  EXPECT_FALSE(rungs[1].contains("estimated")) << "240p was probed";
  EXPECT_EQ(rungs[1]["bitrate"], BitrateFloor(900'000));
  EXPECT_EQ(rungs[0]["estimated"], true);
  EXPECT_EQ(rungs[0]["bitrate"], BitrateFloor(1'500'000));
  EXPECT_NE(rungs[0]["why"].get<std::string>().find("at its floor"), std::string::npos);
  for (const json& r : rungs) {
    EXPECT_EQ(r["quality_source"], "measured");
    EXPECT_GE(r["psnr_y"].get<double>(), 40) << r["name"];
  }
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
