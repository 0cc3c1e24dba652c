// The quality report: the figures of single pictures, their summaries, and a whole run's report
// against what ffmpeg's psnr and ssim filters say about the same pair of videos.
#include "engine/quality.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <regex>
#include <sstream>

#include "engine/engine.h"
#include "engine/hls.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

using testing::TempDir;

FramePtr Picture(int width, int height, int seed) {
  FramePtr f = MakeFrame();
  f->width = width;
  f->height = height;
  f->format = AV_PIX_FMT_YUV420P;
  EXPECT_GE(av_frame_get_buffer(f.get(), 0), 0);
  for (int p = 0; p < 3; ++p) {
    int w = p ? width / 2 : width, h = p ? height / 2 : height;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        f->data[p][y * f->linesize[p] + x] = uint8_t(40 + (x * 7 + y * 13 + seed * p) % 170);
  }
  return f;
}

TEST(Quality, IdenticalPicturesScoreTheMaximum) {
  FramePtr a = Picture(64, 48, 1), b = Picture(64, 48, 1);
  Result<FrameScores> s = CompareFrames(a.get(), b.get());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->psnr_y, kMaxPsnr);
  EXPECT_EQ(s->psnr_avg, kMaxPsnr);
  EXPECT_DOUBLE_EQ(s->ssim, 1.0);
}

TEST(Quality, PsnrFollowsTheMeanSquaredError) {
  FramePtr a = Picture(64, 48, 1), b = Picture(64, 48, 1);
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) b->data[0][y * b->linesize[0] + x] += 2;  // luma MSE 4
  Result<FrameScores> s = CompareFrames(a.get(), b.get());
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->psnr_y, 10 * std::log10(255.0 * 255.0 / 4), 1e-9);
  // Chroma is exact: the mean MSE over all samples is 4 * (64*48) / (1.5 * 64*48).
  EXPECT_NEAR(s->psnr_avg, 10 * std::log10(255.0 * 255.0 / (4 / 1.5)), 1e-9);
  EXPECT_LT(s->ssim, 1.0);
  EXPECT_GT(s->ssim, 0.9) << "a small offset keeps the structure";

  FramePtr c = Picture(64, 48, 2);
  Result<FrameScores> worse = CompareFrames(a.get(), c.get());
  ASSERT_TRUE(worse.ok());
  EXPECT_LT(worse->ssim, s->ssim);

  FramePtr other_size = Picture(32, 48, 1);
  EXPECT_FALSE(CompareFrames(a.get(), other_size.get()).ok());
}

TEST(Quality, SummaryHasMeanMinimumAndWorstOnePercent) {
  std::vector<double> v;
  for (int i = 200; i >= 1; --i) v.push_back(i);
  ScoreSummary s = Summarise(v);
  EXPECT_DOUBLE_EQ(s.mean, 100.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.worst_1pct, 1.5) << "the 2 worst of 200";
  s = Summarise({7, 3, 5});
  EXPECT_DOUBLE_EQ(s.worst_1pct, 3) << "at least one frame";
}

// Per-frame values of one key in an ffmpeg stats file ("psnr_y:41.20 ..." or "All:0.98 ...").
std::vector<double> StatsColumn(const std::string& file, const std::string& key) {
  std::vector<double> values;
  std::istringstream in(testing::ReadFile(file));
  std::string line;
  while (std::getline(in, line)) {
    size_t at = line.find(" " + key + ":");
    if (at == std::string::npos) continue;
    values.push_back(std::stod(line.substr(at + key.size() + 2)));
  }
  return values;
}

struct CliFigures {
  std::vector<double> psnr_y, psnr_avg, ssim;
};

// What ffmpeg's psnr and ssim filters say of `encoded` against `source` scaled to its size
// with the same scaler as the encode.
CliFigures FfmpegFigures(const std::string& encoded, const std::string& source, int width,
                         int height, const TempDir& scratch) {
  std::string psnr = scratch / "psnr.log", ssim = scratch / "ssim.log";
  std::string graph = "[1:v]scale=" + std::to_string(width) + ":" + std::to_string(height) +
                      ":flags=bicubic,format=yuv420p,split[r1][r2];[0:v]split[e1][e2];"
                      "[e1][r1]psnr=stats_file=" +
                      psnr + "[p];[e2][r2]ssim=stats_file=" + ssim + "[s]";
  testing::CommandResult r = testing::RunCommand({"ffmpeg", "-nostdin", "-loglevel",
                                                  "error",  "-i",       encoded,
                                                  "-i",     source,     "-filter_complex",
                                                  graph,    "-map",     "[p]",
                                                  "-f",     "null",     "-",
                                                  "-map",   "[s]",      "-f",
                                                  "null",   "-"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return {StatsColumn(psnr, "psnr_y"), StatsColumn(psnr, "psnr_avg"), StatsColumn(ssim, "All")};
}

// The frames the report measured: the first, then every `every`-th.
std::vector<double> Sampled(const std::vector<double>& all, size_t every) {
  std::vector<double> v;
  for (size_t i = 0; i < all.size(); i += every) v.push_back(all[i]);
  return v;
}

void ExpectAgrees(const nlohmann::json& report, const CliFigures& cli, const std::string& what) {
  SCOPED_TRACE(what + ": " + report.dump());
  ASSERT_FALSE(cli.psnr_y.empty());
  size_t every = report["every"];
  ASSERT_GE(every, 1u);
  EXPECT_EQ(report["frames"], (cli.psnr_y.size() + every - 1) / every) << "every Nth frame";
  ScoreSummary y = Summarise(Sampled(cli.psnr_y, every)),
               avg = Summarise(Sampled(cli.psnr_avg, every)),
               ssim = Summarise(Sampled(cli.ssim, every));
  // The CLI prints PSNR with two decimals.
  EXPECT_NEAR(report["psnr_y"]["mean"].get<double>(), y.mean, 0.02);
  EXPECT_NEAR(report["psnr_y"]["min"].get<double>(), y.min, 0.01);
  EXPECT_NEAR(report["psnr_y"]["worst_1pct"].get<double>(), y.worst_1pct, 0.01);
  EXPECT_NEAR(report["psnr"]["mean"].get<double>(), avg.mean, 0.02);
  EXPECT_NEAR(report["psnr"]["min"].get<double>(), avg.min, 0.01);
  EXPECT_NEAR(report["ssim"]["mean"].get<double>(), ssim.mean, 0.0005);
  EXPECT_NEAR(report["ssim"]["min"].get<double>(), ssim.min, 0.0005);
  EXPECT_GT(y.mean, 30) << "a real encode, not a broken one";
}

TEST(Quality, ReportAgreesWithFfmpegPsnrAndSsimForEveryRendition) {
  std::string source = testing::Clip(1280, 720, 2, 30, false);
  TempDir out;
  TranscodePlan plan;
  plan.input = source;
  HlsOutputPlan hls;
  hls.directory = out / "hls";
  hls.ladder = *presets::FindLadder("default");
  hls.quality = true;
  plan.hls.push_back(hls);
  FileOutputPlan mp4;
  mp4.index = 1;
  mp4.path = out / "small.mp4";
  mp4.preset = *presets::FindPreset("h264-480p");
  mp4.preset.video.crf = 35;  // a worse encode than the ladder's rung of the same size
  mp4.preset.video.bitrate = 0;
  mp4.quality = true;
  plan.files.push_back(mp4);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  nlohmann::json j = ToJson(*r);

  TempDir scratch;
  const nlohmann::json& variants = j["outputs"][0]["variants"];
  ASSERT_GE(variants.size(), 3u);
  for (const nlohmann::json& v : variants) {
    // The rendition as one file: its init segment and every media segment.
    std::string dir = hls.directory + "/" + v["name"].get<std::string>();
    Result<hls::MediaPlaylist> pl =
        hls::ReadMediaPlaylist(hls.directory + "/" + v["playlist"].get<std::string>());
    ASSERT_TRUE(pl.ok()) << pl.status().ToString();
    std::string joined = testing::ReadFile(dir + "/" + pl->init_uri);
    for (const hls::Segment& s : pl->segments) joined += testing::ReadFile(dir + "/" + s.uri);
    std::string file = scratch / (v["name"].get<std::string>() + ".mp4");
    testing::WriteFile(file, joined);
    ExpectAgrees(v["quality"], FfmpegFigures(file, source, v["width"], v["height"], scratch),
                 v["name"]);
  }
  const nlohmann::json& file = j["outputs"][1];
  ExpectAgrees(file["quality"],
               FfmpegFigures(mp4.path, source, file["width"], file["height"], scratch), "mp4");
  EXPECT_LT(file["quality"]["psnr_y"]["mean"].get<double>(),
            variants[variants.size() - 2]["quality"]["psnr_y"]["mean"].get<double>())
      << "crf 35 is worse than the ladder's 480p";
}

TEST(Quality, OnlyAskedForOutputsCarryAReport) {
  TempDir out;
  TranscodePlan plan;
  plan.input = testing::Clip(320, 240, 1);
  HlsOutputPlan hls;
  hls.directory = out / "hls";
  hls.ladder = *presets::FindLadder("default");
  plan.hls.push_back(hls);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const nlohmann::json& v : ToJson(*r)["outputs"][0]["variants"])
    EXPECT_FALSE(v.contains("quality")) << v.dump();
}

}  // namespace
}  // namespace reel::engine
