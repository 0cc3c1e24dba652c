// Chunked MP4 files (chunk.h's ChunkedFile) against an unchunked run of the same source and
// plan: the chunks encode the MP4's video beside the package's, the audio task its audio, and
// the stitch remuxes them into one fast-start MP4 that must be the unchunked file's equal: every
// frame once on the grid, a keyframe at every join, the same audio, the same quality at the
// joins, moov before mdat.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "engine/av_util.h"
#include "engine/chunk.h"
#include "engine/engine.h"
#include "engine/stitch.h"
#include "presets/catalog.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::ReadMedia;
using testing::TempDir;

constexpr double kSegment = 2;

// A DASH package (output 0) and an MP4 file (output 1) of `input`.
TranscodePlan Mp4Plan(const std::string& input, const std::string& dir) {
  TranscodePlan plan;
  plan.input = input;
  HlsOutputPlan h;
  h.directory = dir + "/pkg";
  h.ladder = *presets::FindLadder("mobile");
  h.ladder.segment_seconds = kSegment;
  h.dash = true;
  plan.hls.push_back(h);
  FileOutputPlan f;
  f.index = 1;
  f.path = dir + "/film.mp4";
  f.preset = *presets::FindPreset("h264-360p");
  plan.files.push_back(f);
  return plan;
}

struct Packets {
  std::vector<int64_t> pts, dts, sizes;  // in decode order, in `time_base`
  std::vector<int64_t> keyframes;        // pts
  AVRational time_base{1, 1};
};

// Every packet of the first stream of `type`, as a player's demuxer gives them (edit list
// applied).
Packets ReadPackets(const std::string& path, AVMediaType type) {
  Packets out;
  Result<InputFormatPtr> in = OpenInput(path, true);
  EXPECT_TRUE(in.ok()) << in.status().ToString();
  if (!in.ok()) return out;
  int index = av_find_best_stream(in->get(), type, -1, -1, nullptr, 0);
  if (index < 0) return out;
  out.time_base = (*in)->streams[index]->time_base;
  PacketPtr pkt = MakePacket();
  while (av_read_frame(in->get(), pkt.get()) >= 0) {
    if (pkt->stream_index == index) {
      out.pts.push_back(pkt->pts);
      out.dts.push_back(pkt->dts);
      out.sizes.push_back(pkt->size);
      if (pkt->flags & AV_PKT_FLAG_KEY) out.keyframes.push_back(pkt->pts);
    }
    av_packet_unref(pkt.get());
  }
  return out;
}

// The top-level boxes of an MP4, in file order.
std::vector<std::string> TopLevelBoxes(const std::string& path) {
  std::string data = ReadFile(path);
  std::vector<std::string> boxes;
  for (size_t at = 0; at + 8 <= data.size();) {
    uint64_t size = 0;
    for (int i = 0; i < 4; ++i) size = (size << 8) | uint8_t(data[at + i]);
    std::string type = data.substr(at + 4, 4);
    if (size == 1 && at + 16 <= data.size()) {
      size = 0;
      for (int i = 8; i < 16; ++i) size = (size << 8) | uint8_t(data[at + i]);
    }
    boxes.push_back(type);
    if (size < 8) break;
    at += size;
  }
  return boxes;
}

// Per-frame luma PSNR of `encoded` against `source` scaled to its size (the ffmpeg CLI's psnr).
std::vector<double> FramePsnr(const std::string& encoded, const std::string& source, int width,
                              int height, const std::string& stats) {
  std::string graph = "[1:v]scale=" + std::to_string(width) + ":" + std::to_string(height) +
                      ":flags=bicubic,format=yuv420p[ref];[0:v]format=yuv420p[enc];[enc][ref]"
                      "psnr=stats_file=" +
                      stats;
  testing::CommandResult r = testing::RunCommand(
      {"ffmpeg", "-v", "error", "-i", encoded, "-i", source, "-lavfi", graph, "-f", "null", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<double> psnr;
  std::istringstream in(ReadFile(stats));
  for (std::string line; std::getline(in, line);) {
    size_t at = line.find("psnr_y:");
    if (at != std::string::npos) psnr.push_back(std::atof(line.c_str() + at + 7));
  }
  return psnr;
}

// Each run single-threaded, so that it is repeatable: with frame threads x264's rate control under
// a VBV cap reads how far the frames encoding beside it have got, and two runs of one plan differ
// (by up to 0.2 dB around a frame, as much as the joins are allowed), so the comparison would
// measure the host's timing besides the chunking.
TranscodeOptions Repeatable() {
  TranscodeOptions o;
  o.threads = 1;
  return o;
}

// Encodes `source` whole and chunked (chunks of `chunk_seconds`) and compares the two MP4s.
// `source_frames`: the file has the source's frames (false when the picture is held past them).
void CompareChunkedMp4WithWhole(const std::string& source, double chunk_seconds, bool audio,
                                bool source_frames = true) {
  TempDir tmp;
  TranscodePlan whole_plan = Mp4Plan(source, tmp / "whole");
  Result<TranscodeResult> whole = Transcode(whole_plan, Repeatable());
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();

  TranscodePlan plan = Mp4Plan(source, tmp / "chunked");
  ASSERT_EQ(ChunkedPackagesPlan(plan, "x").files.size(), 1u) << "the MP4 is chunked";
  std::string staging = tmp / "staging";
  Result<ChunkLayout> layout = ChunkBoundaries(plan, chunk_seconds);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  ASSERT_GE(layout->chunks.size(), 3u);
  for (const ChunkRange& c : layout->chunks) {
    Status s = EncodeChunk(plan, c, staging, Repeatable());
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(fs::exists(StagedFilePart(ChunkStagingDir(staging, c.index), 1)));
  }
  Status encoded_audio = EncodeAudio(plan, staging, Repeatable());
  ASSERT_TRUE(encoded_audio.ok()) << encoded_audio.ToString();
  EXPECT_EQ(fs::exists(StagedFilePart(AudioStagingDir(staging), 1)), audio);
  Result<TranscodeResult> stitched = Stitch(plan, *layout, staging);
  ASSERT_TRUE(stitched.ok()) << stitched.status().ToString();
  EXPECT_TRUE(ToJson(*stitched)["stitch"].contains("remux_seconds"));
  if (std::getenv("REEL_CHUNK_PSNR"))
    std::printf("MEASURE stitch %s, unchunked run %.3f s\n",
                ToJson(*stitched)["stitch"].dump().c_str(), whole->elapsed);

  // The result entry is the unchunked run's.
  ASSERT_EQ(stitched->outputs.size(), 2u);
  const OutputResult& w = whole->outputs.at(1);
  const OutputResult& c = stitched->outputs.at(1);
  EXPECT_EQ(c.index, 1);
  EXPECT_EQ(c.kind, "mp4");
  EXPECT_EQ(c.path, tmp / "chunked/film.mp4");
  EXPECT_EQ(c.video_codec, w.video_codec);
  EXPECT_EQ(c.audio_codec, w.audio_codec);
  EXPECT_EQ(c.width, w.width);
  EXPECT_EQ(c.height, w.height);
  EXPECT_NEAR(c.duration, w.duration, 1e-6);
  EXPECT_NEAR(double(c.bytes), double(w.bytes), 0.05 * w.bytes);  // measured: within 0.1 %
  EXPECT_EQ(c.bytes, int64_t(fs::file_size(c.path)));
  if (std::getenv("REEL_CHUNK_PSNR"))
    std::printf("MEASURE mp4 bytes: whole %lld chunked %lld (%+.1f %%)\n", (long long)w.bytes,
                (long long)c.bytes, 100.0 * (c.bytes - w.bytes) / w.bytes);

  const std::string whole_mp4 = tmp / "whole/film.mp4", chunked_mp4 = tmp / "chunked/film.mp4";
  std::vector<std::string> boxes = TopLevelBoxes(chunked_mp4);
  auto moov = std::find(boxes.begin(), boxes.end(), "moov");
  auto mdat = std::find(boxes.begin(), boxes.end(), "mdat");
  ASSERT_NE(moov, boxes.end());
  ASSERT_NE(mdat, boxes.end());
  EXPECT_LT(moov, mdat) << "fast start: moov before mdat";
  EXPECT_EQ(std::count(boxes.begin(), boxes.end(), "moof"), 0) << "progressive, not fragmented";

  // Every frame once, on the grid, from the unchunked file's first; a keyframe at every join.
  testing::MediaSummary src = ReadMedia(source), wm = ReadMedia(whole_mp4),
                        cm = ReadMedia(chunked_mp4);
  const testing::StreamSummary *sv = src.Find("video"), *wv = wm.Find("video"),
                               *cv = cm.Find("video");
  ASSERT_TRUE(sv && wv && cv);
  if (source_frames) {
    EXPECT_EQ(cv->packets, sv->packets) << "the source's frame count";
  }
  EXPECT_EQ(cv->packets, wv->packets);
  EXPECT_NEAR(cv->first_pts, wv->first_pts, 1e-6);
  EXPECT_NEAR(cv->end, wv->end, 1e-6) << "duration within a frame";
  EXPECT_TRUE(cv->monotonic_dts);
  const double rate = double(layout->rate_num) / layout->rate_den;
  Packets packets = ReadPackets(chunked_mp4, AVMEDIA_TYPE_VIDEO);
  std::vector<int64_t> pts = packets.pts;
  std::sort(pts.begin(), pts.end());
  ASSERT_FALSE(pts.empty());
  for (size_t i = 1; i < pts.size(); ++i) {
    double step = (pts[i] - pts[i - 1]) * av_q2d(packets.time_base);
    ASSERT_NEAR(step, 1 / rate, 1e-6) << "frame " << i << ": pts not continuous";
  }
  for (const ChunkRange& chunk : layout->chunks) {
    int64_t at =
        av_rescale_q(chunk.first_frame, {layout->rate_den, layout->rate_num}, packets.time_base) +
        pts.front();
    EXPECT_TRUE(std::count(packets.keyframes.begin(), packets.keyframes.end(), at))
        << "no keyframe at the join at frame " << chunk.first_frame;
  }
  // The first frames' timing (B-frame delay, edit list) as the unchunked file has it.
  Packets whole_video = ReadPackets(whole_mp4, AVMEDIA_TYPE_VIDEO);
  ASSERT_GE(whole_video.pts.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(packets.pts[i], whole_video.pts[i]) << "packet " << i;
    EXPECT_EQ(packets.dts[i], whole_video.dts[i]) << "packet " << i;
  }

  // The audio is the unchunked file's, packet for packet, priming edit included.
  Packets wa = ReadPackets(whole_mp4, AVMEDIA_TYPE_AUDIO),
          ca = ReadPackets(chunked_mp4, AVMEDIA_TYPE_AUDIO);
  EXPECT_EQ(!ca.pts.empty(), audio);
  EXPECT_EQ(ca.pts, wa.pts);
  EXPECT_EQ(ca.dts, wa.dts);
  EXPECT_EQ(ca.sizes, wa.sizes);

  // Quality at the joins: the frames around each as good as in the unchunked file.
  std::vector<double> wq = FramePsnr(whole_mp4, source, w.width, w.height, tmp / "whole.psnr");
  std::vector<double> cq = FramePsnr(chunked_mp4, source, w.width, w.height, tmp / "chunked.psnr");
  ASSERT_EQ(cq.size(), wq.size()) << "every frame decodes";
  for (size_t k = 1; k < layout->chunks.size(); ++k) {
    int64_t join = layout->chunks[k].first_frame;
    double ws = 0, cs = 0;
    int n = 0;
    for (int64_t f = std::max<int64_t>(0, join - 5);
         f < std::min<int64_t>(join + 5, int64_t(wq.size())); ++f, ++n) {
      ws += wq[f];
      cs += cq[f];
    }
    ASSERT_GT(n, 0);
    if (std::getenv("REEL_CHUNK_PSNR"))
      std::printf("MEASURE mp4 join %lld: whole %.3f chunked %.3f diff %+.3f\n", (long long)join,
                  ws / n, cs / n, cs / n - ws / n);
    // Not worse than the unchunked file by more than 0.2 dB. The IDR a chunk forces on its first
    // frame is coded finer than the P or B frame the unchunked file has there, and the frames
    // after it gain (up to +0.27 dB measured at 29.97 fps), but never far off, which a frame out
    // of place would be.
    EXPECT_GE(cs / n, ws / n - 0.2) << "PSNR around the join at frame " << join;
    EXPECT_LE(cs / n, ws / n + 0.5) << "PSNR around the join at frame " << join;
  }
}

TEST(ChunkedMp4, Cfr30WithAudioAndAShortLastChunk) {
  // 13 s: chunks of 4 s leave a last chunk of 1 s.
  CompareChunkedMp4WithWhole(testing::Clip(426, 240, 13, 30, true), 4, true);
}

TEST(ChunkedMp4, NtscRateWithoutAudio) {
  std::string source = testing::Fixture(
      "chunk_2997.mp4", {"-f", "lavfi", "-i", "testsrc2=size=426x240:rate=30000/1001:d=9", "-c:v",
                         "libx264", "-pix_fmt", "yuv420p"});
  CompareChunkedMp4WithWhole(source, 2, false);
}

TEST(ChunkedMp4, SoundThatOutlastsThePictureHoldsItsLastFrameAsTheWholeFile) {
  // 7 s of picture under 11 s of sound (chunk_test.cc's source): the chunks after the picture's
  // end hold its last frame, as the unchunked file does.
  std::string source = testing::Fixture(
      "chunk_long_sound.mp4", {"-f", "lavfi", "-i", "testsrc2=size=426x240:rate=30:d=7", "-f",
                               "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=11",
                               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"});
  CompareChunkedMp4WithWhole(source, 2, true, false);
}

TEST(ChunkedMp4, StitchRefusesAChunkEncodedOtherwise) {
  TempDir tmp;
  std::string staging = tmp / "staging";
  TranscodePlan plan = Mp4Plan(testing::Clip(426, 240, 5, 30, false), tmp / "out");
  Result<ChunkLayout> layout = ChunkBoundaries(plan, 2);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  for (const ChunkRange& c : layout->chunks) ASSERT_TRUE(EncodeChunk(plan, c, staging).ok());
  ASSERT_TRUE(Stitch(plan, *layout, staging).ok());
  // Chunk 1's MP4 encoded at another x264 speed: other parameter sets (no CABAC).
  TranscodePlan tampered = plan;
  tampered.files[0].preset.video.speed = "ultrafast";
  ASSERT_TRUE(EncodeChunk(tampered, layout->chunks[1], staging).ok());
  Result<TranscodeResult> r = Stitch(plan, *layout, staging);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("chunk 1, outputs[1]"), std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("parameter sets"), std::string::npos);
}

TEST(ChunkedMp4, OnlyH264Mp4sOfTheWholeSourceBesideAPackage) {
  TranscodePlan plan = Mp4Plan("in.mp4", "/out");
  EXPECT_TRUE(ChunkedFile(plan.files[0]));
  FileOutputPlan webm = plan.files[0];
  webm.preset = *presets::FindPreset("vp9-720p");
  EXPECT_FALSE(ChunkedFile(webm));
  FileOutputPlan hevc = plan.files[0];
  hevc.preset = *presets::FindPreset("hevc-1080p");
  EXPECT_FALSE(ChunkedFile(hevc));
  FileOutputPlan trimmed = plan.files[0];
  trimmed.preset.video.trim_duration = 3;
  EXPECT_FALSE(ChunkedFile(trimmed));
  FileOutputPlan own_rate = plan.files[0];
  own_rate.preset.video.fps = 24;
  EXPECT_FALSE(ChunkedFile(own_rate));
  FileOutputPlan mezzanine = plan.files[0];
  mezzanine.kind = "mezzanine";
  mezzanine.preset = presets::MezzaninePreset(false);
  EXPECT_FALSE(ChunkedFile(mezzanine));
  FileOutputPlan measured = plan.files[0];
  measured.quality = true;
  EXPECT_FALSE(ChunkedFile(measured));
  TranscodePlan alone = plan;
  alone.hls.clear();
  EXPECT_TRUE(ChunkedPackagesPlan(alone, "x").files.empty()) << "no package: nothing cuts it";
  TranscodePlan staged = ChunkedPackagesPlan(plan, "/staging/chunk-00002");
  ASSERT_EQ(staged.files.size(), 1u);
  EXPECT_EQ(staged.files[0].path, "/staging/chunk-00002/out-1.mp4");
}

}  // namespace
}  // namespace reel::engine
