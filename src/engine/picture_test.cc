// The source's picture before the renditions read it: HDR (PQ, HLG) sources tone-mapped to SDR
// BT.709, interlaced sources deinterlaced. Checked on generated sources against what the same
// filters give in the ffmpeg CLI, and with ffmpeg's own detectors (idet) on the outputs.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <regex>
#include <tuple>

#include "engine/av_util.h"
#include "engine/engine.h"
#include "engine/filter.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

using testing::Fixture;
using testing::RunCommand;
using testing::TempDir;

constexpr int kWidth = 640, kHeight = 360;

// SMPTE HD colour bars, converted from BT.709 to BT.2020 with the given HDR transfer, 10-bit
// HEVC as phones record it, tagged.
std::string HdrBars(const std::string& transfer) {
  std::string trc = transfer == "pq" ? "smpte2084" : "arib-std-b67";
  return Fixture("bars-" + transfer + ".mp4",
                 {"-f",
                  "lavfi",
                  "-i",
                  "smptehdbars=size=640x360:rate=25:duration=1",
                  "-vf",
                  "zscale=tin=709:t=" + trc +
                      ":pin=709:p=2020:min=709:m=2020_ncl:rin=tv:r=tv:npl=100,format=yuv420p10le",
                  "-c:v",
                  "libx265",
                  "-x265-params",
                  "log-level=error",
                  "-preset",
                  "ultrafast",
                  "-crf",
                  "12",
                  "-color_primaries",
                  "bt2020",
                  "-color_trc",
                  trc,
                  "-colorspace",
                  "bt2020nc"});
}

// The first picture of `path` after `filters` (may be ""), as 8-bit 4:2:0 planes.
std::string FirstPictureYuv(const std::string& path, const std::string& filters,
                            const TempDir& scratch) {
  std::string out = scratch / "picture.yuv";
  std::vector<std::string> argv = {"ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", path};
  if (!filters.empty()) argv.insert(argv.end(), {"-vf", filters});
  argv.insert(argv.end(), {"-frames:v", "1", "-pix_fmt", "yuv420p", "-f", "rawvideo", out});
  testing::CommandResult r = RunCommand(argv);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::string data = testing::ReadFile(out);
  EXPECT_EQ(data.size(), size_t(kWidth * kHeight * 3 / 2)) << path;
  return data;
}

// Mean Y, U, V of a 16x16 patch at (x, y) of a 4:2:0 picture.
std::array<double, 3> PatchMean(const std::string& yuv, int x, int y) {
  std::array<double, 3> m{0, 0, 0};
  if (yuv.size() < size_t(kWidth * kHeight * 3 / 2)) return m;
  auto at = [&](size_t offset) { return double(static_cast<uint8_t>(yuv[offset])); };
  for (int j = 0; j < 16; ++j)
    for (int i = 0; i < 16; ++i) m[0] += at(size_t(y + j) * kWidth + x + i) / 256;
  size_t u = size_t(kWidth) * kHeight, v = u + u / 4;
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 8; ++i) {
      size_t o = size_t(y / 2 + j) * (kWidth / 2) + x / 2 + i;
      m[1] += at(u + o) / 64;
      m[2] += at(v + o) / 64;
    }
  return m;
}

// The largest difference of any component of any patch (the centres of the top bars).
double LargestPatchDifference(const std::string& a, const std::string& b) {
  double worst = 0;
  for (int x = 32; x < kWidth; x += 80) {
    std::array<double, 3> pa = PatchMean(a, x, 100), pb = PatchMean(b, x, 100);
    for (int c = 0; c < 3; ++c) worst = std::max(worst, std::fabs(pa[c] - pb[c]));
  }
  return worst;
}

struct ColourTags {
  AVColorPrimaries primaries = AVCOL_PRI_UNSPECIFIED;
  AVColorTransferCharacteristic transfer = AVCOL_TRC_UNSPECIFIED;
  AVColorSpace space = AVCOL_SPC_UNSPECIFIED;
  AVColorRange range = AVCOL_RANGE_UNSPECIFIED;
};

ColourTags TagsOf(const std::string& path) {
  Result<InputFormatPtr> in = OpenInput(path);
  EXPECT_TRUE(in.ok()) << in.status().ToString();
  if (!in.ok()) return {};
  int v = av_find_best_stream(in->get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (v < 0) return {};
  const AVCodecParameters* p = (*in)->streams[v]->codecpar;
  return {p->color_primaries, p->color_trc, p->color_space, p->color_range};
}

// The same tone mapping reel applies, run by the ffmpeg CLI.
std::string CliToneMap(const std::string& transfer) {
  SourcePicture p;
  p.transfer = transfer == "pq" ? AVCOL_TRC_SMPTE2084 : AVCOL_TRC_ARIB_STD_B67;
  p.primaries = AVCOL_PRI_BT2020;
  p.colorspace = AVCOL_SPC_BT2020_NCL;
  p.range = AVCOL_RANGE_MPEG;
  return ToneMapFilters(p);
}

class HdrSource : public ::testing::TestWithParam<std::string> {};

TEST_P(HdrSource, IsToneMappedToSdrInEveryPictureOutput) {
  const std::string transfer = GetParam();
  std::string source = HdrBars(transfer);
  TempDir out;
  TranscodePlan plan;
  plan.input = source;
  FileOutputPlan mp4;
  mp4.path = out / "sdr.mp4";
  mp4.preset = *presets::FindPreset("h264-720p");
  plan.files.push_back(mp4);
  HlsOutputPlan hls;
  hls.index = 1;
  hls.directory = out / "hls";
  hls.ladder = *presets::FindLadder("default");
  plan.hls.push_back(hls);
  ThumbnailPlan thumb;
  thumb.index = 2;
  thumb.destination = out / "thumb.png";
  thumb.options.at = {0, false};
  thumb.options.format = "png";
  plan.thumbnails.push_back(thumb);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source_hdr, transfer);
  EXPECT_EQ(ToJson(*r)["tone_mapped"]["from"], transfer);

  // The picture: what the ffmpeg CLI's zscale + tonemap give, within the encoder's loss.
  TempDir scratch;
  std::string expected = FirstPictureYuv(source, CliToneMap(transfer), scratch);
  std::string encoded = FirstPictureYuv(mp4.path, "", scratch);
  EXPECT_LT(LargestPatchDifference(encoded, expected), 4.0);
  // A plain conversion to 8 bits (what reel did before) fails that check by far.
  std::string plain = FirstPictureYuv(source, "", scratch);
  EXPECT_GT(LargestPatchDifference(plain, expected), 12.0);

  // The tags say BT.709 SDR, limited range.
  ColourTags tags = TagsOf(mp4.path);
  EXPECT_EQ(tags.primaries, AVCOL_PRI_BT709);
  EXPECT_EQ(tags.transfer, AVCOL_TRC_BT709);
  EXPECT_EQ(tags.space, AVCOL_SPC_BT709);
  EXPECT_EQ(tags.range, AVCOL_RANGE_MPEG);
  std::string master = testing::ReadFile(hls.directory + "/master.m3u8");
  std::regex inf("#EXT-X-(I-FRAME-)?STREAM-INF:[^\n]*");  // I-frame playlists say it too
  int variants = 0;
  for (auto it = std::sregex_iterator(master.begin(), master.end(), inf);
       it != std::sregex_iterator(); ++it, ++variants)
    EXPECT_NE(it->str().find(",VIDEO-RANGE=SDR"), std::string::npos) << it->str();
  EXPECT_GT(variants, 0);

  // The thumbnail too (an RGB image, so its conversion back may differ a little in matrix): far
  // nearer the tone-mapped picture than the plain one.
  std::string thumb_yuv = FirstPictureYuv(thumb.destination, "", scratch);
  EXPECT_LT(LargestPatchDifference(thumb_yuv, expected) * 3,
            LargestPatchDifference(thumb_yuv, plain));
}

INSTANTIATE_TEST_SUITE_P(PqAndHlg, HdrSource, ::testing::Values("pq", "hlg"));

TEST(HdrSource, ProbeNamesTheTransfer) {
  Result<MediaInfo> info = Probe(HdrBars("hlg"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const StreamInfo* v = info->BestVideo();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->hdr, "hlg");
  EXPECT_EQ(v->color_transfer, "arib-std-b67");
  EXPECT_EQ(v->color_primaries, "bt2020");
  EXPECT_EQ(v->bit_depth, 10);
  EXPECT_EQ(ToJson(*info)["streams"][0]["hdr"], "hlg");
  Result<MediaInfo> sdr = Probe(testing::Clip(320, 240, 1));
  ASSERT_TRUE(sdr.ok());
  EXPECT_EQ(sdr->BestVideo()->hdr, "");
  EXPECT_FALSE(ToJson(*sdr)["streams"][0].contains("hdr"));
}

// testsrc2 at 50 pictures a second woven into 25 interlaced frames, top field first, coded as
// interlaced H.264.
std::string InterlacedClip() {
  return Fixture("interlaced-tff.mkv",
                 {"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=50:duration=2", "-vf",
                  "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "libx264", "-preset",
                  "ultrafast", "-crf", "18", "-flags", "+ildct+ilme", "-top", "1"});
}

struct Idet {
  int64_t tff = 0, bff = 0, progressive = 0, undetermined = 0;
};

// ffmpeg's interlace detector over a file ("Multi frame detection" counts).
Idet DetectInterlacing(const std::string& path) {
  testing::CommandResult r = RunCommand(
      {"ffmpeg", "-nostdin", "-hide_banner", "-i", path, "-vf", "idet", "-an", "-f", "null", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  std::regex line(R"(Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+) )"
                  R"(Undetermined:\s*(\d+))");
  if (!std::regex_search(r.output, m, line)) {
    ADD_FAILURE() << r.output;
    return {};
  }
  return {std::stoll(m[1]), std::stoll(m[2]), std::stoll(m[3]), std::stoll(m[4])};
}

TEST(InterlacedSource, IsDetectedAndDeinterlacedAtFrameOrFieldRate) {
  std::string source = InterlacedClip();
  Result<MediaInfo> info = Probe(source);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->BestVideo()->field_order, "tt");
  EXPECT_EQ(ToJson(*info)["streams"][0]["interlaced"], true);
  // The detector sees the source's combing: the check below can fail.
  Idet in = DetectInterlacing(source);
  EXPECT_GT(in.tff, 10 * in.progressive) << in.tff << " tff, " << in.progressive << " progressive";

  for (auto [mode, name, rate] : {std::tuple{presets::Deinterlace::kAuto, "frame", 25.0},
                                  std::tuple{presets::Deinterlace::kField, "field", 50.0}}) {
    TempDir out;
    TranscodePlan plan;
    plan.input = source;
    plan.deinterlace = mode;
    FileOutputPlan mp4;
    mp4.path = out / "out.mp4";
    mp4.preset = *presets::FindPreset("h264-720p");
    plan.files.push_back(mp4);
    Result<TranscodeResult> r = Transcode(plan, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->deinterlaced, name);
    Result<MediaInfo> o = Probe(mp4.path);
    ASSERT_TRUE(o.ok());
    EXPECT_NEAR(o->BestVideo()->frame_rate, rate, 0.01) << name;
    EXPECT_NE(o->BestVideo()->field_order, "tt");
    Idet det = DetectInterlacing(mp4.path);
    EXPECT_GT(det.progressive, 5 * (det.tff + det.bff))
        << name << ": " << det.tff << " tff, " << det.bff << " bff, " << det.progressive
        << " progressive";
  }
}

TEST(InterlacedSource, OffKeepsTheFieldsAndAProgressiveSourceIsUntouched) {
  TempDir out;
  TranscodePlan plan;
  plan.input = InterlacedClip();
  plan.deinterlace = presets::Deinterlace::kOff;
  FileOutputPlan mp4;
  mp4.path = out / "out.mp4";
  mp4.preset = *presets::FindPreset("h264-720p");
  plan.files.push_back(mp4);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->deinterlaced, "");
  Idet det = DetectInterlacing(mp4.path);
  EXPECT_GT(det.tff + det.bff, det.progressive) << "the combing is still there";

  plan.input = testing::Clip(320, 240, 1);
  plan.deinterlace = presets::Deinterlace::kAuto;
  r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->deinterlaced, "");
  EXPECT_FALSE(ToJson(*r).contains("deinterlaced"));
}

TEST(SourcePictureFilters, BwdifOnlyWhereAsked) {
  SourcePicture p;
  p.field_order = AV_FIELD_PROGRESSIVE;
  EXPECT_EQ(SourcePictureFilters(p), "") << "progressive, auto";
  p.field_order = AV_FIELD_UNKNOWN;
  EXPECT_EQ(SourcePictureFilters(p), "") << "unknown, auto";
  NormaliseGraphSpec spec;
  spec.coded_width = 640;
  spec.coded_height = 360;
  spec.picture = SourcePictureFilters(p);
  EXPECT_EQ(NormaliseGraph(spec).find("bwdif"), std::string::npos) << NormaliseGraph(spec);
  for (AVFieldOrder order : {AV_FIELD_TT, AV_FIELD_BB, AV_FIELD_TB, AV_FIELD_BT}) {
    p.field_order = order;
    EXPECT_EQ(SourcePictureFilters(p), "bwdif=mode=send_frame:parity=auto:deint=all");
  }
  p.deinterlace = presets::Deinterlace::kOff;
  EXPECT_EQ(SourcePictureFilters(p), "");
  p.field_order = AV_FIELD_PROGRESSIVE;
  p.deinterlace = presets::Deinterlace::kField;
  EXPECT_EQ(SourcePictureFilters(p), "bwdif=mode=send_field:parity=auto:deint=all");
  EXPECT_TRUE(DeinterlaceDoublesRate(p));
  // Deinterlaced first (on the fields as coded), then tone-mapped, then turned.
  p.transfer = AVCOL_TRC_SMPTE2084;
  spec.picture = SourcePictureFilters(p);
  spec.rotation = 90;
  std::string graph = NormaliseGraph(spec);
  EXPECT_LT(graph.find("bwdif"), graph.find("tonemap")) << graph;
  EXPECT_LT(graph.find("tonemap"), graph.find("transpose")) << graph;
}

}  // namespace
}  // namespace reel::engine
