// HDR kept in HEVC and AV1 ("hdr": "keep"), 10-bit encodes, and every rendition read back with
// libavformat: codec, profile, size, bit depth, colour tags, frame count, the CODECS string
// against the muxed hvcC/av1C, and the mastering display and light levels decoded from the
// output's own bitstream. The HDR sources are made by the ffmpeg CLI with x265's SEI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <regex>
#include <string>
#include <tuple>

#include "engine/codec_strings.h"
#include "engine/engine.h"
#include "engine/hdr.h"
#include "presets/catalog.h"
#include "testing/media_fixtures.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
}

namespace reel::engine {
namespace {

using testing::Fixture;
using testing::TempDir;

constexpr int kFrames = 25;  // 1 s at 25 fps

// Colour bars in BT.2020 with the PQ or HLG transfer, 10-bit HEVC with the mastering display
// (P3 primaries, D65, 1000 / 0.0001 cd/m²) and content light levels (1000, 400) as SEI.
std::string HdrSource(const std::string& transfer) {
  std::string trc = transfer == "pq" ? "smpte2084" : "arib-std-b67";
  return Fixture("hdr-meta-" + transfer + ".mp4",
                 {"-f", "lavfi", "-i", "smptehdbars=size=320x180:rate=25:duration=1", "-vf",
                  "zscale=tin=709:t=" + trc +
                      ":pin=709:p=2020:min=709:m=2020_ncl:rin=tv:r=tv:npl=100,format=yuv420p10le",
                  "-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                  "log-level=error:master-display=G(13250,34500)B(7500,3000)R(34000,16000)"
                  "WP(15635,16450)L(10000000,1):max-cll=1000,400",
                  "-color_primaries", "bt2020", "-color_trc", trc, "-colorspace", "bt2020nc"});
}

// An SDR source coded at 10 bits (BT.709).
std::string TenBitSdrSource() {
  return Fixture(
      "sdr-10bit.mp4",
      {"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=1", "-pix_fmt", "yuv420p10le",
       "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
       "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"});
}

// What a file (or an HLS media playlist) holds, read back as a player would.
struct ReadBack {
  AVCodecID codec = AV_CODEC_ID_NONE;
  int profile = FF_PROFILE_UNKNOWN;
  int width = 0, height = 0, bit_depth = 0;
  AVColorPrimaries primaries = AVCOL_PRI_UNSPECIFIED;
  AVColorTransferCharacteristic transfer = AVCOL_TRC_UNSPECIFIED;
  AVColorSpace space = AVCOL_SPC_UNSPECIFIED;
  int frames = 0;                                       // decoded
  std::string codecs;                                   // from the stream's hvcC / av1C
  std::optional<AVMasteringDisplayMetadata> mastering;  // of the first decoded frame
  std::optional<AVContentLightMetadata> light;
  // The container's own (MP4 mdcv/clli boxes, Matroska colour elements): the stream's side data.
  std::optional<AVMasteringDisplayMetadata> boxed_mastering;
  std::optional<AVContentLightMetadata> boxed_light;
};

ReadBack Read(const std::string& path) {
  ReadBack r;
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) {
    ADD_FAILURE() << "cannot open " << path;
    return r;
  }
  avformat_find_stream_info(fmt, nullptr);
  int v = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (v < 0) {
    ADD_FAILURE() << path << " has no video";
    avformat_close_input(&fmt);
    return r;
  }
  if (const uint8_t* sd =
          av_stream_get_side_data(fmt->streams[v], AV_PKT_DATA_MASTERING_DISPLAY_METADATA, nullptr))
    r.boxed_mastering = *reinterpret_cast<const AVMasteringDisplayMetadata*>(sd);
  if (const uint8_t* sd =
          av_stream_get_side_data(fmt->streams[v], AV_PKT_DATA_CONTENT_LIGHT_LEVEL, nullptr))
    r.boxed_light = *reinterpret_cast<const AVContentLightMetadata*>(sd);
  const AVCodecParameters* p = fmt->streams[v]->codecpar;
  r.codec = p->codec_id;
  r.profile = p->profile;
  r.width = p->width;
  r.height = p->height;
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(p->format));
  r.bit_depth = d ? d->comp[0].depth : 0;
  r.codecs = p->codec_id == AV_CODEC_ID_HEVC  ? HevcCodecString(p->extradata, p->extradata_size)
             : p->codec_id == AV_CODEC_ID_AV1 ? Av1CodecString(p->extradata, p->extradata_size)
                                              : "";
  const AVCodec* codec = avcodec_find_decoder(p->codec_id);
  AVCodecContext* dec = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(dec, p);
  EXPECT_GE(avcodec_open2(dec, codec, nullptr), 0);
  AVPacket* pkt = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  auto drain = [&] {
    while (avcodec_receive_frame(dec, frame) >= 0) {
      if (r.frames++ == 0) {
        // The colour the bitstream itself says (the container's tags may differ from it).
        r.primaries = frame->color_primaries;
        r.transfer = frame->color_trc;
        r.space = frame->colorspace;
        if (auto* sd = av_frame_get_side_data(frame, AV_FRAME_DATA_MASTERING_DISPLAY_METADATA))
          r.mastering = *reinterpret_cast<const AVMasteringDisplayMetadata*>(sd->data);
        if (auto* sd = av_frame_get_side_data(frame, AV_FRAME_DATA_CONTENT_LIGHT_LEVEL))
          r.light = *reinterpret_cast<const AVContentLightMetadata*>(sd->data);
      }
      av_frame_unref(frame);
    }
  };
  while (av_read_frame(fmt, pkt) >= 0) {
    if (pkt->stream_index == v && avcodec_send_packet(dec, pkt) >= 0) drain();
    av_packet_unref(pkt);
  }
  avcodec_send_packet(dec, nullptr);
  drain();
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&fmt);
  return r;
}

// The first picture of `path` as 8-bit 4:2:0 samples (the ffmpeg CLI decodes it).
std::string FirstPicture(const std::string& path, const TempDir& scratch) {
  std::string raw = scratch / "picture.yuv";
  testing::CommandResult r =
      testing::RunCommand({"ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", path,
                           "-frames:v", "1", "-pix_fmt", "yuv420p", "-f", "rawvideo", raw});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return testing::ReadFile(raw);
}

// The codecs string of an HLS rendition from its init segment's sample entry.
std::string InitCodecs(const std::string& init) { return Read(init).codecs; }

void ExpectSourceMetadata(const std::optional<AVMasteringDisplayMetadata>& mastering,
                          const std::optional<AVContentLightMetadata>& light) {
  ASSERT_TRUE(mastering.has_value()) << "no mastering display metadata";
  EXPECT_NEAR(av_q2d(mastering->max_luminance), 1000, 1);
  EXPECT_NEAR(av_q2d(mastering->min_luminance), 0.0001, 0.0001);
  EXPECT_NEAR(av_q2d(mastering->display_primaries[0][0]), 0.68, 0.001);  // red x
  EXPECT_NEAR(av_q2d(mastering->display_primaries[1][1]), 0.69, 0.001);  // green y
  EXPECT_NEAR(av_q2d(mastering->white_point[0]), 0.3127, 0.001);
  ASSERT_TRUE(light.has_value()) << "no content light levels";
  EXPECT_EQ(light->MaxCLL, 1000u);
  EXPECT_EQ(light->MaxFALL, 400u);
}
void ExpectSourceMetadata(const ReadBack& r) { ExpectSourceMetadata(r.mastering, r.light); }

// The colour an MP4 or init segment's sample entry states (its colr box), as libavformat reads
// it: (primaries, transfer, matrix, range).
std::tuple<int, int, int, int> ContainerColour(const std::string& path) {
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) {
    ADD_FAILURE() << "cannot open " << path;
    return {};
  }
  int v = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  std::tuple<int, int, int, int> colour;
  if (v >= 0) {
    const AVCodecParameters* p = fmt->streams[v]->codecpar;
    colour = {p->color_primaries, p->color_trc, p->color_space, p->color_range};
  } else {
    ADD_FAILURE() << path << " has no video";
  }
  avformat_close_input(&fmt);
  return colour;
}

std::string SampleEntryBox(const std::string& path, const char* type) {
  Result<std::string> box = VideoSampleEntryBox(path, type);
  EXPECT_TRUE(box.ok()) << path << ": " << box.status().ToString();
  return box.ok() ? *box : "";
}

// A kept rendition's init segment says what its bitstream says: the colour (colr), the
// mastering display (mdcv) and the content light levels (clli), these two byte for byte as
// movenc writes them into the whole MP4 `reference`; a tone-mapped one says BT.709 and no HDR.
void ExpectInitSegmentColour(const std::string& init, bool keeps, int transfer,
                             const std::string& reference) {
  SCOPED_TRACE(init);
  EXPECT_EQ(ContainerColour(init),
            keeps ? std::tuple(int(AVCOL_PRI_BT2020), transfer, int(AVCOL_SPC_BT2020_NCL),
                               int(AVCOL_RANGE_MPEG))
                  : std::tuple(int(AVCOL_PRI_BT709), int(AVCOL_TRC_BT709), int(AVCOL_SPC_BT709),
                               int(AVCOL_RANGE_MPEG)));
  if (!keeps) {
    EXPECT_EQ(SampleEntryBox(init, "mdcv"), "");
    EXPECT_EQ(SampleEntryBox(init, "clli"), "");
    return;
  }
  Result<HdrMetadata> boxed = ReadHdrMetadata(init, 0);  // an init segment has no frame
  ASSERT_TRUE(boxed.ok()) << boxed.status().ToString();
  ExpectSourceMetadata(boxed->mastering, boxed->light);
  for (const char* type : {"mdcv", "clli"}) {
    std::string box = SampleEntryBox(init, type);
    EXPECT_FALSE(box.empty()) << type;
    EXPECT_EQ(box, SampleEntryBox(reference, type)) << type;
  }
}

TEST(HdrParams, BuiltFromTheNumbersInEachEncodersNotation) {
  HdrMetadata m;
  AVMasteringDisplayMetadata d{};
  d.display_primaries[0][0] = {34000, 50000};  // R
  d.display_primaries[0][1] = {16000, 50000};
  d.display_primaries[1][0] = {13250, 50000};  // G
  d.display_primaries[1][1] = {34500, 50000};
  d.display_primaries[2][0] = {7500, 50000};  // B
  d.display_primaries[2][1] = {3000, 50000};
  d.white_point[0] = {15635, 50000};
  d.white_point[1] = {16450, 50000};
  d.max_luminance = {10000000, 10000};
  d.min_luminance = {1, 10000};
  d.has_primaries = d.has_luminance = 1;
  m.mastering = d;
  m.light = AVContentLightMetadata{1000, 400};
  EXPECT_EQ(X265HdrParams(m),
            "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
            "L(10000000,1):max-cll=1000,400");
  EXPECT_EQ(SvtAv1HdrParams(m),
            "mastering-display=G(0.26500,0.69000)B(0.15000,0.06000)R(0.68000,0.32000)"
            "WP(0.31270,0.32900)L(1000.0000,0.0001):content-light=1000,400");
  EXPECT_EQ(X265HdrParams({}), "");
  m.mastering.reset();
  EXPECT_EQ(X265HdrParams(m), "max-cll=1000,400");
}

TEST(HdrParams, ReadFromTheSourcesFirstFrame) {
  Result<HdrMetadata> m = ReadHdrMetadata(HdrSource("pq"), 0);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ReadBack r;
  r.mastering = m->mastering;
  r.light = m->light;
  ExpectSourceMetadata(r);
  Result<HdrMetadata> none = ReadHdrMetadata(TenBitSdrSource(), 0);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->mastering || none->light);
}

class KeptHdr : public ::testing::TestWithParam<std::string> {};

// One run, one decode: HEVC and AV1 rungs keep the HDR, the H.264 rung and an MP4 are
// tone-mapped, and a kept-HDR HEVC MP4 and the quality report ride along.
TEST_P(KeptHdr, HevcAndAv1KeepItBesideToneMappedH264InOnePackage) {
  const std::string transfer = GetParam();
  const AVColorTransferCharacteristic trc =
      transfer == "pq" ? AVCOL_TRC_SMPTE2084 : AVCOL_TRC_ARIB_STD_B67;
  const std::string range = transfer == "pq" ? "PQ" : "HLG";
  TempDir out;
  Result<presets::Ladder> ladder = presets::ParseLadder(nlohmann::json::parse(R"([
      {"height": 180, "bitrate": "300k"},
      {"height": 180, "bitrate": "300k", "codec": "hevc", "speed": "ultrafast", "hdr": "keep"},
      {"height": 180, "bitrate": "300k", "codec": "av1", "speed": 12, "hdr": "keep"}])"),
                                                        "ladder");
  ASSERT_TRUE(ladder.ok()) << ladder.status().ToString();
  TranscodePlan plan;
  plan.input = HdrSource(transfer);
  HlsOutputPlan h;
  h.directory = out / "pkg";
  h.ladder = *ladder;
  h.ladder.segment_seconds = 1;
  h.dash = true;
  h.quality = true;
  plan.hls.push_back(h);
  FileOutputPlan kept;
  kept.index = 1;
  kept.path = out / "kept.mp4";
  kept.preset = *presets::FindPreset("h264-720p");
  presets::Overrides o;
  o.codec = presets::VideoCodec::kHevc;
  o.hdr = "keep";
  o.speed = "ultrafast";
  ASSERT_FALSE(presets::ApplyOverrides(o, &kept.preset).has_value());
  plan.files.push_back(kept);
  FileOutputPlan kept_mkv = kept;
  kept_mkv.index = 3;
  kept_mkv.path = out / "kept.mkv";
  kept_mkv.preset.container = presets::Container::kMatroska;
  FileOutputPlan sdr;
  sdr.index = 2;
  sdr.path = out / "sdr.mp4";
  sdr.preset = *presets::FindPreset("h264-720p");
  plan.files.push_back(sdr);
  plan.files.push_back(kept_mkv);

  Result<TranscodeResult> result = Transcode(plan, {});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const OutputResult& pkg = result->outputs[0];
  ASSERT_EQ(pkg.variants.size(), 3u);
  std::string master = testing::ReadFile(out / "pkg/master.m3u8");
  for (const VariantResult& v : pkg.variants) {
    SCOPED_TRACE(v.name);
    bool keeps = v.name != "180p";
    ReadBack r = Read(out / ("pkg/" + v.playlist));
    EXPECT_EQ(r.frames, kFrames);
    EXPECT_EQ(r.width, 320);
    EXPECT_EQ(r.height, 180);
    EXPECT_EQ(r.bit_depth, keeps ? 10 : 8);
    EXPECT_EQ(r.primaries, keeps ? AVCOL_PRI_BT2020 : AVCOL_PRI_BT709);
    EXPECT_EQ(r.transfer, keeps ? trc : AVCOL_TRC_BT709);
    EXPECT_EQ(r.space, keeps ? AVCOL_SPC_BT2020_NCL : AVCOL_SPC_BT709);
    std::string codec = v.codecs.substr(0, v.codecs.find(','));
    if (keeps) {
      ExpectSourceMetadata(r);
      // The master's CODECS is what the muxed sample entry says.
      EXPECT_EQ(codec, InitCodecs(out / ("pkg/" + v.name + "/init.mp4")));
    } else {
      EXPECT_FALSE(r.mastering.has_value());
    }
    // The HLS and DASH renditions share this init segment.
    ExpectInitSegmentColour(out / ("pkg/" + v.name + "/init.mp4"), keeps, trc, out / "kept.mp4");
    if (v.name == "180p-hevc") {
      EXPECT_EQ(r.codec, AV_CODEC_ID_HEVC);
      EXPECT_EQ(r.profile, FF_PROFILE_HEVC_MAIN_10);
      EXPECT_TRUE(std::regex_match(codec, std::regex(R"(hvc1\.2\.4\.L\d+\.[0-9A-F.]+)"))) << codec;
    } else if (v.name == "180p-av1") {
      EXPECT_EQ(r.codec, AV_CODEC_ID_AV1);
      EXPECT_EQ(r.profile, FF_PROFILE_AV1_MAIN);
      EXPECT_TRUE(std::regex_match(codec, std::regex(R"(av01\.0\.\d\dM\.10)"))) << codec;
    } else {
      EXPECT_EQ(r.codec, AV_CODEC_ID_H264);
    }
    // Its line in the master: its CODECS, then its VIDEO-RANGE; its playlist on the next line.
    size_t at = master.find("CODECS=\"" + v.codecs + "\",VIDEO-RANGE=" + (keeps ? range : "SDR"));
    ASSERT_NE(at, std::string::npos) << master;
    size_t next = master.find('\n', at) + 1;
    EXPECT_EQ(master.substr(next, master.find('\n', next) - next), v.playlist) << master;
    // The quality report measures 10-bit renditions too.
    ASSERT_TRUE(v.quality.contains("psnr_y")) << v.quality.dump();
    EXPECT_GT(v.quality["psnr_y"]["mean"].get<double>(), 30);
  }
  // DASH: a set per codec, the kept ones with their colour as CICP code points.
  std::string mpd = testing::ReadFile(out / "pkg/manifest.mpd");
  std::string tc =
      "urn:mpeg:mpegB:cicp:TransferCharacteristics\" value=\"" + std::to_string(int(trc)) + "\"";
  std::regex kept_set(
      "<AdaptationSet[^>]*>\\s*<SupplementalProperty schemeIdUri=\"urn:mpeg:"
      "mpegB:cicp:ColourPrimaries\" value=\"9\"/>\\s*<SupplementalProperty "
      "schemeIdUri=\"" +
      tc +
      "/>\\s*<SupplementalProperty schemeIdUri=\"urn:mpeg:mpegB:cicp:"
      "MatrixCoefficients\" value=\"9\"/>\\s*<Representation id=\"([^\"]+)\"");
  std::vector<std::string> sets;
  for (auto it = std::sregex_iterator(mpd.begin(), mpd.end(), kept_set);
       it != std::sregex_iterator(); ++it)
    sets.push_back((*it)[1]);
  EXPECT_EQ(sets, (std::vector<std::string>{"180p-hevc", "180p-av1"})) << mpd;

  ReadBack file = Read(out / "kept.mp4");
  EXPECT_EQ(file.codec, AV_CODEC_ID_HEVC);
  EXPECT_EQ(file.profile, FF_PROFILE_HEVC_MAIN_10);
  EXPECT_EQ(file.bit_depth, 10);
  EXPECT_EQ(file.transfer, trc);
  EXPECT_EQ(file.frames, kFrames);
  ExpectSourceMetadata(file);
  {
    SCOPED_TRACE("kept.mp4's mdcv and clli boxes");
    ExpectSourceMetadata(file.boxed_mastering, file.boxed_light);
  }
  ReadBack mkv = Read(out / "kept.mkv");
  EXPECT_EQ(mkv.codec, AV_CODEC_ID_HEVC);
  EXPECT_EQ(mkv.frames, kFrames);
  {
    SCOPED_TRACE("kept.mkv's MasteringMetadata and MaxCLL/MaxFALL");
    ExpectSourceMetadata(mkv.boxed_mastering, mkv.boxed_light);
  }
  ReadBack tone_mapped = Read(out / "sdr.mp4");
  EXPECT_FALSE(tone_mapped.boxed_mastering.has_value());
  EXPECT_FALSE(tone_mapped.boxed_light.has_value());
  EXPECT_EQ(tone_mapped.bit_depth, 8);
  EXPECT_EQ(tone_mapped.transfer, AVCOL_TRC_BT709);
  EXPECT_EQ(tone_mapped.frames, kFrames);

  // The tone-mapped branch gives the picture a run without "keep" gives (tone-mapped in the
  // source's graph; its colours are checked against the CLI in picture_test.cc).
  TranscodePlan alone;
  alone.input = plan.input;
  sdr.index = 0;
  sdr.path = out / "sdr-alone.mp4";
  alone.files.push_back(sdr);
  ASSERT_TRUE(Transcode(alone, {}).ok());
  std::string a = FirstPicture(out / "sdr.mp4", out), b = FirstPicture(out / "sdr-alone.mp4", out);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  double difference = 0;
  for (size_t i = 0; i < a.size(); ++i)
    difference += std::abs(int(uint8_t(a[i])) - int(uint8_t(b[i])));
  EXPECT_LT(difference / double(a.size()), 1.0) << "mean absolute difference per sample";
}

INSTANTIATE_TEST_SUITE_P(PqAndHlg, KeptHdr, ::testing::Values("pq", "hlg"));

// Without "keep", HEVC and AV1 rungs of an HDR source are tone-mapped like H.264: 8-bit SDR.
TEST(KeptHdr, OnlyWhereAsked) {
  TempDir out;
  TranscodePlan plan;
  plan.input = HdrSource("pq");
  FileOutputPlan f;
  f.path = out / "hevc.mp4";
  f.preset = *presets::FindPreset("h264-720p");
  presets::Overrides o;
  o.codec = presets::VideoCodec::kHevc;
  o.speed = "ultrafast";
  ASSERT_FALSE(presets::ApplyOverrides(o, &f.preset).has_value());
  plan.files.push_back(f);
  Result<TranscodeResult> result = Transcode(plan, {});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ReadBack r = Read(out / "hevc.mp4");
  EXPECT_EQ(r.profile, FF_PROFILE_HEVC_MAIN);
  EXPECT_EQ(r.bit_depth, 8);
  EXPECT_EQ(r.transfer, AVCOL_TRC_BT709);
  EXPECT_FALSE(r.mastering.has_value());
  EXPECT_EQ(r.frames, kFrames);
}

// A 10-bit SDR source: 8-bit unless "bit_depth": 10 says otherwise.
TEST(TenBit, SdrSourceIsEightBitUnlessAsked) {
  TempDir out;
  TranscodePlan plan;
  plan.input = TenBitSdrSource();
  Result<presets::Ladder> ladder = presets::ParseLadder(nlohmann::json::parse(R"([
      {"height": 180, "bitrate": "300k", "codec": "av1", "speed": 12, "bit_depth": 10},
      {"height": 144, "bitrate": "200k", "codec": "av1", "speed": 12}])"),
                                                        "ladder");
  ASSERT_TRUE(ladder.ok()) << ladder.status().ToString();
  HlsOutputPlan h;
  h.directory = out / "pkg";
  h.ladder = *ladder;
  h.ladder.segment_seconds = 1;
  plan.hls.push_back(h);
  for (int depth : {8, 10}) {
    FileOutputPlan f;
    f.index = int(plan.files.size()) + 1;
    f.path = out / ("hevc" + std::to_string(depth) + ".mp4");
    f.preset = *presets::FindPreset("h264-720p");
    presets::Overrides o;
    o.codec = presets::VideoCodec::kHevc;
    o.speed = "ultrafast";
    if (depth == 10) o.bit_depth = 10;
    ASSERT_FALSE(presets::ApplyOverrides(o, &f.preset).has_value());
    plan.files.push_back(f);
  }
  Result<TranscodeResult> result = Transcode(plan, {});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  for (int depth : {8, 10}) {
    SCOPED_TRACE(depth);
    ReadBack r = Read(out / ("hevc" + std::to_string(depth) + ".mp4"));
    EXPECT_EQ(r.bit_depth, depth);
    EXPECT_EQ(r.profile, depth == 10 ? FF_PROFILE_HEVC_MAIN_10 : FF_PROFILE_HEVC_MAIN);
    EXPECT_EQ(r.transfer, AVCOL_TRC_BT709);
    EXPECT_EQ(r.frames, kFrames);
  }
  const OutputResult& pkg = result->outputs[0];
  ASSERT_EQ(pkg.variants.size(), 2u);
  for (const VariantResult& v : pkg.variants) {
    SCOPED_TRACE(v.name);
    int depth = v.name == "180p-av1" ? 10 : 8;
    ReadBack r = Read(out / ("pkg/" + v.playlist));
    EXPECT_EQ(r.bit_depth, depth);
    EXPECT_EQ(r.frames, kFrames);
    std::string codec = v.codecs.substr(0, v.codecs.find(','));
    EXPECT_EQ(codec, InitCodecs(out / ("pkg/" + v.name + "/init.mp4")));
    EXPECT_TRUE(std::regex_match(
        codec, std::regex(R"(av01\.0\.\d\dM\.)" + std::string(depth == 10 ? "10" : "08"))))
        << codec;
  }
}

// Per-title probes encode 8-bit SDR from the source graph's picture, which stays PQ/HLG when a
// rung keeps HDR: such a run keeps the ladder's bitrates and says why, rather than pricing
// rungs from the wrong signal.
TEST(KeptHdr, PerTitleKeepsTheLaddersBitratesAndSaysWhy) {
  TempDir out;
  Result<presets::Ladder> ladder = presets::ParseLadder(nlohmann::json::parse(R"({"rungs": [
      {"height": 180, "bitrate": "300k", "codec": "hevc", "speed": "ultrafast", "hdr": "keep"}],
      "per_title": true})"),
                                                        "ladder");
  ASSERT_TRUE(ladder.ok()) << ladder.status().ToString();
  TranscodePlan plan;
  plan.input = HdrSource("pq");
  HlsOutputPlan h;
  h.directory = out / "pkg";
  h.ladder = *ladder;
  h.ladder.segment_seconds = 1;
  plan.hls.push_back(h);
  Result<TranscodeResult> result = Transcode(plan, {});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  nlohmann::json o = ToJson(*result)["outputs"][0];
  SCOPED_TRACE(o.dump());
  ASSERT_TRUE(o.contains("ladder"));
  EXPECT_NE(o["ladder"]["note"].get<std::string>().find("HDR"), std::string::npos);
  for (const nlohmann::json& r : o["ladder"]["rungs"])
    EXPECT_EQ(r["bitrate"], r["nominal_bitrate"]);
}

}  // namespace
}  // namespace reel::engine
