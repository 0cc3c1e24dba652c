// HEVC and AV1 beside H.264: codec strings from the parameter sets, a multi-codec HLS/DASH
// package read back stream by stream, and HEVC/AV1 in MP4 and WebM files.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>

#include "engine/codec_strings.h"
#include "engine/engine.h"
#include "presets/catalog.h"
#include "testing/media_fixtures.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
}

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using testing::Clip;
using testing::TempDir;

TEST(CodecStrings, HevcFromAnnexBWithEmulationPreventionAndFromHvcC) {
  // VPS, then an SPS whose profile_tier_level is Main (compatible with Main and Main 10),
  // progressive and frame-only constraints, level 3.1 (93); its zero runs carry 03 escapes.
  const uint8_t annexb[] = {
      0,    0,    0,    1,    0x40, 0x01, 0x0c, 0x01, 0xff,  // VPS (cut short)
      0,    0,    0,    1,    0x42, 0x01, 0x01, 0x01, 0x60, 0x00,
      0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
      0x00, 0x5d, 0xa0, 0,    0,    0,    1,    0x44, 0x01, 0xc1};  // PPS
  EXPECT_EQ(HevcCodecString(annexb, sizeof(annexb)), "hvc1.1.6.L93.90");
  const uint8_t hvcc[] = {1, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 0x78, 0xf0, 0, 0xfc};
  EXPECT_EQ(HevcCodecString(hvcc, sizeof(hvcc)), "hvc1.1.6.L120.B0");
  const uint8_t high_tier[] = {1, 0x22, 0x20, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x99, 0};
  EXPECT_EQ(HevcCodecString(high_tier, sizeof(high_tier)), "hvc1.2.4.H153.90");
  EXPECT_EQ(HevcCodecString(nullptr, 0), "hvc1");
}

TEST(CodecStrings, Av1FromAv1C) {
  const uint8_t main_8bit[] = {0x81, 0x08, 0x0c, 0x00};  // profile 0, level 4.0 (8), main tier
  EXPECT_EQ(Av1CodecString(main_8bit, sizeof(main_8bit)), "av01.0.08M.08");
  const uint8_t high_10bit[] = {0x81, 0x2d, 0xc0, 0x00};  // profile 1, level 13, high tier
  EXPECT_EQ(Av1CodecString(high_10bit, sizeof(high_10bit)), "av01.1.13H.10");
  EXPECT_EQ(Av1CodecString(nullptr, 0), "av01");
}

struct InitInfo {
  AVCodecID codec = AV_CODEC_ID_NONE;
  uint32_t tag = 0;
  int profile = 0, level = 0, width = 0, height = 0, bit_depth = 0;
  std::string codecs;  // computed from the record the muxer wrote (hvcC, av1C, avcC)
};

// The video stream of a rendition as libavformat reads it: profile and pixel format from its
// media playlist (the frames), the sample entry's tag and record from its init segment.
InitInfo ReadRendition(const std::string& dir) {
  InitInfo info;
  for (const char* file : {"index.m3u8", "init.mp4"}) {
    std::string path = dir + "/" + file;
    AVFormatContext* ctx = nullptr;
    if (avformat_open_input(&ctx, path.c_str(), nullptr, nullptr) < 0) {
      ADD_FAILURE() << "cannot open " << path;
      return info;
    }
    avformat_find_stream_info(ctx, nullptr);
    const AVCodecParameters* p = ctx->streams[0]->codecpar;
    if (std::string(file) == "index.m3u8") {
      info.profile = p->profile;
      info.width = p->width;
      info.height = p->height;
      const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(p->format));
      info.bit_depth = d ? d->comp[0].depth : 0;
    } else {
      info.codec = p->codec_id;
      info.tag = p->codec_tag;
      info.level = p->level;
      info.codecs =
          p->codec_id == AV_CODEC_ID_HEVC  ? HevcCodecString(p->extradata, p->extradata_size)
          : p->codec_id == AV_CODEC_ID_AV1 ? Av1CodecString(p->extradata, p->extradata_size)
                                           : "";
    }
    avformat_close_input(&ctx);
  }
  return info;
}

TEST(Codecs, MultiCodecPackageHasOneAlignedSetPerCodecAndCodecsFromTheBitstream) {
  constexpr int kFps = 24, kSeconds = 4;
  std::string src = Clip(320, 180, kSeconds, kFps);
  TempDir out;
  // Tiny and fast: x265 and SVT-AV1 are slow on small machines.
  Result<presets::Ladder> ladder = presets::ParseLadder(nlohmann::json::parse(R"([
      {"height": 180, "bitrate": "300k"},
      {"height": 144, "bitrate": "200k"},
      {"height": 180, "bitrate": "200k", "codec": "hevc", "speed": "ultrafast"},
      {"height": 180, "bitrate": "150k", "codec": "av1", "speed": 12},
      {"height": 144, "crf": 40, "maxrate": "150k", "codec": "av1", "speed": 12}])"),
                                                        "ladder");
  ASSERT_TRUE(ladder.ok()) << ladder.status().ToString();
  TranscodePlan plan;
  plan.input = src;
  HlsOutputPlan h;
  h.directory = out / "pkg";
  h.ladder = *ladder;
  h.ladder.segment_seconds = 2;
  h.dash = true;
  plan.hls.push_back(h);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const OutputResult& o = r->outputs[0];
  EXPECT_EQ(o.video_codec, "h264,hevc,av1");
  std::vector<std::string> names;
  for (const VariantResult& v : o.variants) names.push_back(v.name);
  EXPECT_EQ(names, (std::vector<std::string>{"180p", "144p", "180p-hevc", "180p-av1", "144p-av1"}));

  std::string master = testing::ReadFile(out / "pkg/master.m3u8");
  // One audio group, shared by every variant of every codec.
  std::regex media("#EXT-X-MEDIA:TYPE=AUDIO");
  EXPECT_EQ(std::distance(std::sregex_iterator(master.begin(), master.end(), media),
                          std::sregex_iterator()),
            1);
  std::map<AVCodecID, std::vector<double>> keyframes;  // of the set's first variant
  for (const VariantResult& v : o.variants) {
    SCOPED_TRACE(v.name);
    // (A source without captions: every variant says so.)
    EXPECT_NE(master.find("CODECS=\"" + v.codecs + "\",AUDIO=\"audio\",CLOSED-CAPTIONS=NONE\n" +
                          v.playlist),
              std::string::npos)
        << master;
    InitInfo init = ReadRendition(out / ("pkg/" + v.name));
    EXPECT_EQ(init.bit_depth, 8);
    EXPECT_EQ(init.width, v.width);
    EXPECT_EQ(init.height, v.height);
    std::string codec = v.codecs.substr(0, v.codecs.find(','));
    EXPECT_EQ(v.codecs.substr(v.codecs.find(',') + 1), "mp4a.40.2");
    if (v.name.find("hevc") != std::string::npos) {
      EXPECT_EQ(init.codec, AV_CODEC_ID_HEVC);
      EXPECT_EQ(init.tag, MKTAG('h', 'v', 'c', '1')) << "parameter sets in the sample entry";
      EXPECT_EQ(init.profile, FF_PROFILE_HEVC_MAIN);
      // The string from the encoder's Annex B headers equals the one from the hvcC the muxer
      // wrote, and names the level the demuxer reads.
      EXPECT_EQ(codec, init.codecs);
      EXPECT_EQ(codec.rfind("hvc1.1.6.L" + std::to_string(init.level) + ".", 0), 0u) << codec;
    } else if (v.name.find("av1") != std::string::npos) {
      EXPECT_EQ(init.codec, AV_CODEC_ID_AV1);
      EXPECT_EQ(init.profile, FF_PROFILE_AV1_MAIN);
      EXPECT_EQ(codec, init.codecs) << "sequence header OBU and av1C agree";
      char level[8];
      std::snprintf(level, sizeof(level), "%02dM", init.level);
      EXPECT_EQ(codec, std::string("av01.0.") + level + ".08");
    } else {
      EXPECT_EQ(init.codec, AV_CODEC_ID_H264);
      EXPECT_EQ(init.profile, FF_PROFILE_H264_HIGH);
      EXPECT_EQ(codec.rfind("avc1.64", 0), 0u) << codec;
    }
    testing::MediaSummary m = testing::ReadMedia(out / ("pkg/" + v.playlist));
    const testing::StreamSummary* video = m.Find("video");
    ASSERT_NE(video, nullptr);
    EXPECT_EQ(video->packets, kFps * kSeconds) << "every source frame, once";
    // Keyframes on the same 2 s grid in every rendition of a codec: players switch cleanly.
    auto [it, first] = keyframes.emplace(init.codec, video->keyframes);
    if (!first) {
      EXPECT_EQ(video->keyframes, it->second);
    }
    EXPECT_EQ(video->keyframes.size(), 2u);
  }
  // DASH: one video adaptation set per codec, then the audio.
  std::string mpd = testing::ReadFile(out / "pkg/manifest.mpd");
  std::regex set(
      R"x(<AdaptationSet id="\d+" contentType="(\w+)"[^>]*>\s*<Representation id="([^"]+)")x");
  std::vector<std::string> sets;
  for (auto it = std::sregex_iterator(mpd.begin(), mpd.end(), set); it != std::sregex_iterator();
       ++it)
    sets.push_back((*it)[1].str() + ":" + (*it)[2].str());
  EXPECT_EQ(sets, (std::vector<std::string>{"video:180p", "video:180p-hevc", "video:180p-av1",
                                            "audio:audio"}))
      << mpd;
}

TEST(Codecs, Mp4AndWebmFilesTakeHevcAndAv1) {
  constexpr int kFps = 24, kSeconds = 2;
  // Tagged BT.709: the files keep the source's colour tags.
  std::string src = testing::Bt709Clip(320, 180, kSeconds, kFps);
  TempDir out;
  TranscodePlan plan;
  plan.input = src;
  struct Case {
    const char* preset;
    const char* codec;
    const char* file;
    AVCodecID id;
  };
  const Case cases[] = {{"h264-720p", "hevc", "hevc.mp4", AV_CODEC_ID_HEVC},
                        {"h264-720p", "av1", "av1.mp4", AV_CODEC_ID_AV1},
                        {"vp9-720p", "av1", "av1.webm", AV_CODEC_ID_AV1}};
  int index = 0;
  for (const Case& c : cases) {
    presets::Preset p = *presets::FindPreset(c.preset);
    presets::Overrides o;
    o.codec = presets::VideoCodecByName(c.codec);
    o.speed = *o.codec == presets::VideoCodec::kAv1 ? "12" : "ultrafast";
    o.height = 144;
    ASSERT_FALSE(presets::ApplyOverrides(o, &p).has_value());
    plan.files.push_back({index++, out / c.file, p, ""});
  }
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    testing::MediaSummary m = testing::ReadMedia(out / c.file);
    const testing::StreamSummary* video = m.Find("video");
    ASSERT_NE(video, nullptr);
    EXPECT_EQ(video->codec, avcodec_get_name(c.id));
    EXPECT_EQ(video->height, 144);
    EXPECT_EQ(video->width, 256);
    EXPECT_EQ(video->pixel_format, "yuv420p");
    EXPECT_EQ(video->profile, "Main");
    EXPECT_EQ(video->color_primaries, "bt709");
    EXPECT_EQ(video->color_transfer, "bt709");
    EXPECT_EQ(video->color_space, "bt709");
    EXPECT_EQ(video->color_range, "tv");
    EXPECT_EQ(video->packets, kFps * kSeconds);
    ASSERT_NE(m.Find("audio"), nullptr);
    EXPECT_EQ(m.Find("audio")->codec, std::string(c.file).ends_with(".webm") ? "opus" : "aac");
  }
  EXPECT_EQ(r->outputs[0].video_codec, "hevc");
  EXPECT_EQ(r->outputs[1].video_codec, "av1");
}

}  // namespace
}  // namespace reel::engine
