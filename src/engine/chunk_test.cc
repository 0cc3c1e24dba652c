// Chunked encoding against an unchunked run of the same source and plan: every chunk encoded in
// turn, then the audio, then the stitch, and the two packages compared segment by segment,
// frame by frame and box by box.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>

#include "engine/chunk.h"
#include "engine/engine.h"
#include "engine/hdr.h"
#include "engine/hls.h"
#include "engine/stitch.h"
#include "presets/catalog.h"
#include "testing/media_fixtures.h"
#include "testing/package_check.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using testing::Fixture;
using testing::MediaSummary;
using testing::ReadFile;
using testing::ReadMedia;
using testing::TempDir;

constexpr double kSegment = 2;  // short segments keep the sources short

TranscodePlan PackagePlan(const std::string& input, const std::string& dir) {
  TranscodePlan plan;
  plan.input = input;
  HlsOutputPlan h;
  h.directory = dir;
  h.ladder = *presets::FindLadder("mobile");
  h.ladder.segment_seconds = kSegment;
  h.dash = true;
  plan.hls.push_back(h);
  return plan;
}

hls::MediaPlaylist MustRead(const std::string& path) {
  Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(path);
  EXPECT_TRUE(pl.ok()) << path << ": " << pl.status().ToString();
  return pl.ok() ? *pl : hls::MediaPlaylist{};
}

uint64_t Be(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | uint8_t(s[at + i]);
  return v;
}

// The first movie fragment's sequence number (mfhd), its decode time (tfdt) and the segment
// index's earliest presentation time (sidx), as the segment has them.
std::vector<uint64_t> FragmentNumbers(const std::string& segment) {
  size_t mfhd = segment.find("mfhd"), tfdt = segment.find("tfdt"), sidx = segment.find("sidx");
  std::vector<uint64_t> v;
  if (mfhd != std::string::npos) v.push_back(Be(segment, mfhd + 8, 4));
  if (tfdt != std::string::npos)
    v.push_back(segment[tfdt + 4] == 1 ? Be(segment, tfdt + 8, 8) : Be(segment, tfdt + 8, 4));
  if (sidx != std::string::npos)
    v.push_back(segment[sidx + 4] == 1 ? Be(segment, sidx + 16, 8) : Be(segment, sidx + 16, 4));
  return v;
}

// A rendition as one fragmented MP4: its init segment and every media segment in order.
std::string JoinRendition(const std::string& dir, const std::string& out) {
  hls::MediaPlaylist pl = MustRead(dir + "/index.m3u8");
  std::string all = ReadFile(dir + "/" + pl.init_uri);
  for (const hls::Segment& s : pl.segments) all += ReadFile(dir + "/" + s.uri);
  testing::WriteFile(out, all);
  return out;
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

// Playlist or MPD text with its bit rates blanked: a chunk's encode is not bit-exact with the
// whole run's (its rate control starts on the GOPs before it), everything else must be equal.
// Byte ranges too: an I-frame's offset in its segment follows the sizes of the frames before it.
std::string WithoutBitrates(const std::string& text) {
  static const std::regex hls("BANDWIDTH=[0-9]+"), mpd("bandwidth=\"[0-9]+\""),
      range("BYTERANGE:[0-9]+@[0-9]+");
  return std::regex_replace(
      std::regex_replace(std::regex_replace(text, hls, "BANDWIDTH=_"), mpd, "bandwidth=\"_\""),
      range, "BYTERANGE:_@_");
}

struct Expect {
  bool audio = true;
  bool cfr = true;   // the source's frames are the grid's: compare counts and PSNR to it
  bool psnr = true;  // compare the first rendition's PSNR around the joins
  // Run the package checker (it knows the codec strings of H.264 and AAC only).
  bool check_package = true;
  // Changes the plan of both runs (the ladder, subtitle tracks...).
  std::function<void(TranscodePlan*)> adjust = nullptr;
};

// Each run single-threaded, so that it is repeatable: with frame threads x264's rate control under
// a VBV cap reads how far the frames encoding beside it have got, and two runs of one plan differ
// (by up to 0.2 dB around a frame, as much as the joins are allowed), so the comparison would
// measure the host's timing besides the chunking.
TranscodeOptions Repeatable() {
  TranscodeOptions o;
  o.threads = 1;
  return o;
}

// Runs the plan whole and chunked and compares the two packages; the two results in `results`.
// The packages are made in `dir` when given (and stay there after), else in a folder of its own.
void CompareChunkedWithWhole(const std::string& source, double chunk_seconds, Expect expect,
                             std::pair<TranscodeResult, TranscodeResult>* results = nullptr,
                             const TempDir* dir = nullptr) {
  TempDir own;
  const TempDir& tmp = dir ? *dir : own;
  std::string whole_dir = tmp / "whole", chunked_dir = tmp / "chunked", staging = tmp / "staging";
  TranscodePlan whole_plan = PackagePlan(source, whole_dir);
  if (expect.adjust) expect.adjust(&whole_plan);
  Result<TranscodeResult> whole = Transcode(whole_plan, Repeatable());
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();

  TranscodePlan plan = PackagePlan(source, chunked_dir);
  if (expect.adjust) expect.adjust(&plan);
  Result<ChunkLayout> layout = ChunkBoundaries(plan, chunk_seconds);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  ASSERT_GE(layout->chunks.size(), 2u);
  // A per-title ladder is chosen once for every chunk, as the attempt that fans out does.
  Result<nlohmann::json> per_title = ChoosePerTitleOnce(plan);
  ASSERT_TRUE(per_title.ok()) << per_title.status().ToString();
  ASSERT_TRUE(UsePerTitleChoices(*per_title, &plan).ok());
  for (const ChunkRange& c : layout->chunks) {
    Status s = EncodeChunk(plan, c, staging, Repeatable());
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  Status audio = EncodeAudio(plan, staging, Repeatable());
  ASSERT_TRUE(audio.ok()) << audio.ToString();
  Result<TranscodeResult> stitched = Stitch(plan, *layout, staging);
  ASSERT_TRUE(stitched.ok()) << stitched.status().ToString();
  if (results) *results = {*whole, *stitched};

  // The glue is the unchunked run's: master, I-frame playlists and MPD equal but for the
  // measured bit rates and sizes, subtitle renditions byte for byte, the result's facts of the
  // source.
  EXPECT_EQ(WithoutBitrates(ReadFile(chunked_dir + "/master.m3u8")),
            WithoutBitrates(ReadFile(whole_dir + "/master.m3u8")));
  EXPECT_EQ(WithoutBitrates(ReadFile(chunked_dir + "/manifest.mpd")),
            WithoutBitrates(ReadFile(whole_dir + "/manifest.mpd")));
  for (const auto& e : fs::recursive_directory_iterator(whole_dir)) {
    std::string relative = fs::relative(e.path(), whole_dir).string();
    if (relative.rfind("sub_", 0) == 0 && e.is_regular_file()) {
      EXPECT_EQ(ReadFile(chunked_dir + "/" + relative), ReadFile(e.path().string())) << relative;
    }
    if (relative.find("iframes.m3u8") != std::string::npos) {
      EXPECT_EQ(WithoutBitrates(ReadFile(chunked_dir + "/" + relative)),
                WithoutBitrates(ReadFile(e.path().string())))
          << relative;
    }
  }
  nlohmann::json wj = ToJson(*whole), sj = ToJson(*stitched);
  EXPECT_EQ(sj["source_duration"], wj["source_duration"]);
  EXPECT_EQ(sj.value("tone_mapped", nlohmann::json()), wj.value("tone_mapped", nlohmann::json()));
  for (const char* key : {"kind", "video_codec", "audio_codec", "duration", "width", "height"})
    EXPECT_EQ(sj["outputs"][0].value(key, nlohmann::json()),
              wj["outputs"][0].value(key, nlohmann::json()))
        << key;
  EXPECT_EQ(sj["outputs"][0].value("subtitles", nlohmann::json()),
            wj["outputs"][0].value("subtitles", nlohmann::json()));
  // Where the stitch's time went, for the benchmark's projection.
  for (const char* step : {"copy_seconds", "check_seconds", "split_seconds", "subtitles_seconds",
                           "write_seconds", "seconds"})
    EXPECT_TRUE(sj["stitch"].contains(step)) << step;

  if (expect.check_package) {
    testing::PackageReport report = testing::CheckPackage(chunked_dir);
    EXPECT_TRUE(report.ok()) << report.Describe();
  }
  ASSERT_EQ(whole->outputs.size(), 1u);
  ASSERT_EQ(stitched->outputs.size(), 1u);
  const OutputResult& w = whole->outputs[0];
  const OutputResult& c = stitched->outputs[0];
  ASSERT_EQ(c.variants.size(), w.variants.size());
  EXPECT_EQ(fs::exists(chunked_dir + "/audio/index.m3u8"), expect.audio);
  EXPECT_EQ(ReadFile(chunked_dir + "/audio/index.m3u8"), ReadFile(whole_dir + "/audio/index.m3u8"))
      << "the audio is the unchunked run's";

  MediaSummary src = ReadMedia(source);
  const testing::StreamSummary* src_video = src.Find("video");
  ASSERT_NE(src_video, nullptr);
  for (size_t v = 0; v < w.variants.size(); ++v) {
    const std::string name = w.variants[v].name;
    SCOPED_TRACE(name);
    EXPECT_EQ(c.variants[v].name, name);
    EXPECT_EQ(c.variants[v].codecs, w.variants[v].codecs);
    // AVERAGE-BANDWIDTH is over all segments, as the unchunked writer measures it.
    EXPECT_NEAR(double(c.variants[v].average_bandwidth), double(w.variants[v].average_bandwidth),
                0.1 * w.variants[v].average_bandwidth);
    hls::MediaPlaylist wp = MustRead(whole_dir + "/" + name + "/index.m3u8");
    hls::MediaPlaylist cp = MustRead(chunked_dir + "/" + name + "/index.m3u8");
    ASSERT_EQ(cp.segments.size(), wp.segments.size());
    for (size_t i = 0; i < wp.segments.size(); ++i) {
      EXPECT_EQ(cp.segments[i].uri, wp.segments[i].uri);
      EXPECT_NEAR(cp.segments[i].duration, wp.segments[i].duration, 1e-6) << "segment " << i;
      // The global timeline: fragment sequence numbers and decode times as the whole run's.
      std::string ws = ReadFile(whole_dir + "/" + name + "/" + wp.segments[i].uri);
      std::string cs = ReadFile(chunked_dir + "/" + name + "/" + cp.segments[i].uri);
      EXPECT_EQ(FragmentNumbers(cs), FragmentNumbers(ws)) << "segment " << i;
      // The chunk numbered its fragments where they sit in the package, so the stitch neither
      // rewrote nor copied the segment: the package's file is the chunk's, hard-linked.
      size_t k = 0;
      while (k + 1 < layout->chunks.size() && layout->chunks[k + 1].first_segment <= int(i)) ++k;
      std::error_code ec;
      EXPECT_TRUE(fs::equivalent(ChunkStagingDir(staging, layout->chunks[k].index) + "/out-" +
                                     std::to_string(plan.hls[0].index) + "/" + name + "/" +
                                     cp.segments[i].uri,
                                 chunked_dir + "/" + name + "/" + cp.segments[i].uri, ec))
          << "segment " << i << " " << ec.message();
      // Each segment, decoded on its own after the shared init segment, starts with a keyframe.
      std::string alone = tmp / ("alone_" + name + std::to_string(i) + ".mp4");
      testing::WriteFile(alone, ReadFile(chunked_dir + "/" + name + "/init.mp4") + cs);
      testing::MediaSummary seg = ReadMedia(alone);
      ASSERT_NE(seg.Find("video"), nullptr);
      ASSERT_FALSE(seg.Find("video")->keyframes.empty()) << "segment " << i;
      EXPECT_NEAR(seg.Find("video")->keyframes.front(), seg.Find("video")->first_pts, 1e-6)
          << "segment " << i << " does not start with a keyframe";
    }
    // Every frame once, on the grid: as many frames as the whole run, each 1/fps after the last.
    std::string wj = JoinRendition(whole_dir + "/" + name, tmp / ("whole_" + name + ".mp4"));
    std::string cj = JoinRendition(chunked_dir + "/" + name, tmp / ("chunked_" + name + ".mp4"));
    MediaSummary wm = ReadMedia(wj), cm = ReadMedia(cj);
    const testing::StreamSummary* wv = wm.Find("video");
    const testing::StreamSummary* cv = cm.Find("video");
    ASSERT_TRUE(wv && cv);
    EXPECT_EQ(cv->packets, wv->packets);
    if (expect.cfr) {
      EXPECT_EQ(cv->packets, src_video->packets) << "the source's frame count";
    }
    EXPECT_NEAR(cv->first_pts, wv->first_pts, 1e-6);
    EXPECT_NEAR(cv->end, wv->end, 1e-6);
    EXPECT_TRUE(cv->monotonic_dts);
    double frame = (cv->end - cv->first_pts) / double(cv->packets);
    EXPECT_NEAR(frame, 1 / w.variants[v].frame_rate, 1e-4) << "a frame dropped or repeated";
    if (!expect.cfr || !expect.psnr || v > 0) continue;
    // Quality at the joins: the frames around each is as good as in the unchunked encode.
    std::vector<double> wq =
        FramePsnr(wj, source, w.variants[v].width, w.variants[v].height, tmp / "whole.psnr");
    std::vector<double> cq =
        FramePsnr(cj, source, w.variants[v].width, w.variants[v].height, tmp / "chunked.psnr");
    ASSERT_EQ(cq.size(), wq.size());
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
        std::printf("MEASURE join %lld: whole %.3f chunked %.3f diff %+.3f\n", (long long)join,
                    ws / n, cs / n, cs / n - ws / n);
      // Not worse than the unchunked encode by more than 0.2 dB; a chunk may come out a little
      // better (its rate control is warmed on two GOPs, not on everything before), but never
      // far off, which a frame out of place would be.
      EXPECT_GE(cs / n, ws / n - 0.2) << "PSNR around the join at frame " << join;
      EXPECT_LE(cs / n, ws / n + 0.5) << "PSNR around the join at frame " << join;
    }
  }
}

TEST(Chunked, Cfr30WithAudioAndAShortLastChunk) {
  // 13 s: chunks of 4 s leave a last chunk of 1 s.
  CompareChunkedWithWhole(testing::Clip(426, 240, 13, 30, true), 4, {});
}

TEST(Chunked, SegmentsOfSeveralKeyframesAreNumberedByTheirChunk) {
  // 1 s GOPs in 2 s segments: two fragments a segment once split. Each chunk numbers its own
  // from its place in the package, and the stitch links its segments without rewriting them.
  CompareChunkedWithWhole(
      testing::Clip(426, 240, 9, 30, false), 4,
      {.audio = false, .adjust = [](TranscodePlan* p) { p->hls[0].ladder.video.gop_seconds = 1; }});
}

TEST(Chunked, NtscRateWithoutAudio) {
  std::string source =
      Fixture("chunk_2997.mp4", {"-f", "lavfi", "-i", "testsrc2=size=426x240:rate=30000/1001:d=9",
                                 "-c:v", "libx264", "-pix_fmt", "yuv420p"});
  CompareChunkedWithWhole(source, 4, {.audio = false});
}

TEST(Chunked, SoundThatOutlastsThePictureHoldsItsLastFrameAsTheWholeRun) {
  // 7 s of picture under 11 s of sound: a whole run holds the last picture to the sound's end,
  // and so must the chunks, the last of which starts after the picture has ended.
  std::string source = Fixture("chunk_long_sound.mp4",
                               {"-f", "lavfi", "-i", "testsrc2=size=426x240:rate=30:d=7", "-f",
                                "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=11",
                                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"});
  std::pair<TranscodeResult, TranscodeResult> results;
  CompareChunkedWithWhole(source, 4, {.cfr = false, .psnr = false}, &results);
  if (HasFatalFailure()) return;
  EXPECT_NEAR(results.first.outputs.at(0).duration, 11, 0.05) << "the whole run holds the picture";
}

TEST(Chunked, VariableFrameRate) {
  // Every third frame of 30 fps dropped: frame intervals of 1/30 and 2/30 s.
  std::string source =
      Fixture("chunk_vfr.mp4",
              {"-f", "lavfi", "-i", "testsrc2=size=426x240:rate=30:d=9", "-f", "lavfi", "-i",
               "sine=frequency=440:duration=9", "-vf", "select='mod(n\\,3)'", "-vsync", "vfr",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"});
  CompareChunkedWithWhole(source, 4, {.audio = true, .cfr = false});
}

TEST(Chunked, KeyframesFarApartInTheSource) {
  // One keyframe every 10 s: a chunk starts decoding up to 10 s before its range.
  std::string source = Fixture("chunk_gop10.mp4", {"-f",
                                                   "lavfi",
                                                   "-i",
                                                   "testsrc2=size=426x240:rate=30:d=13",
                                                   "-f",
                                                   "lavfi",
                                                   "-i",
                                                   "sine=frequency=440:duration=13",
                                                   "-c:v",
                                                   "libx264",
                                                   "-g",
                                                   "300",
                                                   "-keyint_min",
                                                   "300",
                                                   "-sc_threshold",
                                                   "0",
                                                   "-pix_fmt",
                                                   "yuv420p",
                                                   "-c:a",
                                                   "aac",
                                                   "-shortest"});
  CompareChunkedWithWhole(source, 4, {});
}

TEST(Chunked, SubtitleRenditionsAsTheUnchunkedRun) {
  TempDir tmp;
  std::string srt = tmp / "fr.srt";
  testing::WriteFile(srt,
                     "1\n00:00:00,500 --> 00:00:02,500\nBonjour\n\n"
                     "2\n00:00:03,900 --> 00:00:04,300\nUne r\xc3\xa9plique sur la jointure\n\n"
                     "3\n00:00:07,000 --> 00:00:08,000\nFin\n");
  std::string source = testing::Clip(426, 240, 9, 30, true);
  std::pair<TranscodeResult, TranscodeResult> results;
  CompareChunkedWithWhole(source, 4,
                          {.psnr = false,
                           .adjust =
                               [&](TranscodePlan* plan) {
                                 plan->subtitle_tracks.push_back({srt, "subtitle_tracks[0]", "fr",
                                                                  "Fran\xc3\xa7"
                                                                  "ais"});
                               }},
                          &results);
  EXPECT_EQ(ToJson(results.second)["outputs"][0]["subtitles"].size(), 1u)
      << "the stitched package has the subtitle rendition";
}

TEST(Chunked, KeptHdrRungDescribesItselfAsTheUnchunkedOne) {
  // 4 s of PQ colour bars: two chunks of one 2 s segment.
  std::string source =
      Fixture("chunk_pq.mp4",
              {"-f", "lavfi", "-i", "smptehdbars=size=320x180:rate=25:duration=4", "-vf",
               "zscale=tin=709:t=smpte2084:pin=709:p=2020:min=709:m=2020_ncl:rin=tv:r=tv:npl=100,"
               "format=yuv420p10le",
               "-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
               "log-level=error:master-display=G(13250,34500)B(7500,3000)R(34000,16000)"
               "WP(15635,16450)L(10000000,1):max-cll=1000,400",
               "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc"});
  Result<presets::Ladder> ladder = presets::ParseLadder(nlohmann::json::parse(R"([
      {"height": 180, "bitrate": "300k"},
      {"height": 180, "bitrate": "300k", "codec": "hevc", "speed": "ultrafast", "hdr": "keep"}])"),
                                                        "ladder");
  ASSERT_TRUE(ladder.ok()) << ladder.status().ToString();
  TempDir tmp;
  std::pair<TranscodeResult, TranscodeResult> results;
  CompareChunkedWithWhole(source, 2,
                          {.audio = false,
                           .psnr = false,
                           .check_package = false,
                           .adjust =
                               [&](TranscodePlan* plan) {
                                 plan->hls[0].ladder = *ladder;
                                 plan->hls[0].ladder.segment_seconds = kSegment;
                               }},
                          &results, &tmp);
  // What the comparison of the masters and MPDs above covers, said outright.
  const OutputResult& c = results.second.outputs.at(0);
  ASSERT_EQ(c.variants.size(), 2u);
  std::string master = ReadFile(fs::path(c.master).string());
  EXPECT_NE(master.find("VIDEO-RANGE=PQ"), std::string::npos) << master;
  EXPECT_NE(master.find("VIDEO-RANGE=SDR"), std::string::npos) << master;
  EXPECT_NE(ReadFile(c.manifest).find("urn:mpeg:mpegB:cicp:TransferCharacteristics\" value=\"16"),
            std::string::npos);
  EXPECT_EQ(ToJson(results.second)["tone_mapped"]["from"], "pq");
  // The stitched init segment (chunk 0's) carries the kept HDR as the unchunked run's does: its
  // colour, mastering display and content light boxes.
  Result<HdrMetadata> boxed = ReadHdrMetadata(tmp / "chunked/180p-hevc/init.mp4", 0);
  ASSERT_TRUE(boxed.ok()) << boxed.status().ToString();
  ASSERT_TRUE(boxed->mastering.has_value());
  EXPECT_NEAR(av_q2d(boxed->mastering->max_luminance), 1000, 1);
  ASSERT_TRUE(boxed->light.has_value());
  EXPECT_EQ(boxed->light->MaxCLL, 1000u);
  EXPECT_EQ(boxed->light->MaxFALL, 400u);
  for (const char* type : {"colr", "mdcv", "clli"}) {
    Result<std::string> whole = VideoSampleEntryBox(tmp / "whole/180p-hevc/init.mp4", type);
    Result<std::string> stitched = VideoSampleEntryBox(tmp / "chunked/180p-hevc/init.mp4", type);
    ASSERT_TRUE(whole.ok() && stitched.ok()) << type;
    EXPECT_FALSE(stitched->empty()) << type;
    EXPECT_EQ(*stitched, *whole) << type;
  }
}

TEST(Chunked, PerTitleLadderReportedAsTheUnchunkedRun) {
  std::pair<TranscodeResult, TranscodeResult> results;
  CompareChunkedWithWhole(
      testing::Clip(426, 240, 8, 30, false), 4,
      {.audio = false,
       .psnr = false,
       .adjust = [](TranscodePlan* plan) { plan->hls[0].ladder.per_title = true; }},
      &results);
  nlohmann::json w = ToJson(results.first)["outputs"][0]["ladder"];
  nlohmann::json c = ToJson(results.second)["outputs"][0]["ladder"];
  ASSERT_TRUE(w.is_object());
  ASSERT_TRUE(c.is_object()) << "the stitched result has the ladder section";
  ASSERT_EQ(c["rungs"].size(), w["rungs"].size());
  for (size_t i = 0; i < w["rungs"].size(); ++i)
    for (const char* key : {"name", "nominal_bitrate", "bitrate", "dropped"})
      EXPECT_EQ(c["rungs"][i][key], w["rungs"][i][key]) << key << " of rung " << i;
}

// The audio task writes one folder per kept track (layout::AudioRendition) and describes each:
// the stitch lists them all in track order with what the task said of them.
TEST(Chunked, StitchListsEveryAudioTrackInOrder) {
  TempDir tmp;
  std::string staging = tmp / "staging";
  TranscodePlan plan = PackagePlan(testing::Clip(426, 240, 5, 30, true), tmp / "out");
  Result<ChunkLayout> layout = ChunkBoundaries(plan, 2);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  for (const ChunkRange& c : layout->chunks) ASSERT_TRUE(EncodeChunk(plan, c, staging).ok());
  ASSERT_TRUE(EncodeAudio(plan, staging).ok());
  // Two more tracks, as the audio task would leave them: folders made after (and in reverse
  // of) their order, so the order comes from the track numbers.
  std::string audio = staging + "/audio/out-0";
  fs::copy(audio + "/audio", audio + "/audio_2");
  fs::copy(audio + "/audio", audio + "/audio_1");
  std::string described = staging + "/audio/packages.json";
  nlohmann::json packages = nlohmann::json::parse(ReadFile(described));
  nlohmann::json& description = packages["0"];
  ASSERT_EQ(description["audio"].size(), 1u);
  // One track alone is the default; here the third is, as its audio task would have said.
  description["audio"][0]["default"] = false;
  nlohmann::json second = description["audio"][0], third = description["audio"][0];
  second["name"] = "audio_1";
  second["language"] = "fr";
  second["label"] =
      "Fran\xc3\xa7"
      "ais";
  third["name"] = "audio_2";
  third["language"] = "de";
  third["label"] = "Deutsch";
  third["default"] = true;
  description["audio"].push_back(third);
  testing::WriteFile(described, packages.dump());
  Result<TranscodeResult> r = Stitch(plan, *layout, staging);
  ASSERT_FALSE(r.ok()) << "a folder the audio task did not describe";
  EXPECT_NE(r.status().message().find("audio_1"), std::string::npos) << r.status().ToString();

  description["audio"].push_back(second);
  testing::WriteFile(described, packages.dump());
  r = Stitch(plan, *layout, staging);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string master = ReadFile(tmp / "out/master.m3u8");
  size_t first = master.find("URI=\"audio/index.m3u8\""),
         fr = master.find(
             "NAME=\"Fran\xc3\xa7"
             "ais\",LANGUAGE=\"fr\",DEFAULT=NO"),
         de = master.find("NAME=\"Deutsch\",LANGUAGE=\"de\",DEFAULT=YES");
  ASSERT_NE(first, std::string::npos) << master;
  ASSERT_NE(fr, std::string::npos) << master;
  ASSERT_NE(de, std::string::npos) << master;
  EXPECT_LT(first, fr);
  EXPECT_LT(fr, de);
  EXPECT_NE(master.find("URI=\"audio_2/index.m3u8\""), std::string::npos);
  std::string mpd = ReadFile(tmp / "out/manifest.mpd");
  EXPECT_NE(mpd.find("lang=\"fr\""), std::string::npos) << mpd;
  EXPECT_NE(mpd.find("lang=\"de\""), std::string::npos) << mpd;
  testing::PackageReport report = testing::CheckPackage(tmp / "out");
  EXPECT_TRUE(report.ok()) << report.Describe();
}

TEST(Chunked, BoundariesAreWholeSegmentsAndCoverTheSource) {
  TempDir tmp;
  TranscodePlan plan = PackagePlan(testing::Clip(426, 240, 13, 30, true), tmp / "out");
  Result<ChunkLayout> layout = ChunkBoundaries(plan, 4.5);  // rounds to 2 segments of 2 s
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  ASSERT_EQ(layout->chunks.size(), 4u);
  for (size_t i = 0; i < layout->chunks.size(); ++i) {
    const ChunkRange& c = layout->chunks[i];
    EXPECT_EQ(c.first_frame, int64_t(i) * 120);
    EXPECT_EQ(c.first_segment, int(i) * 2);
    EXPECT_EQ(c.end_frame, i + 1 < layout->chunks.size() ? int64_t(i + 1) * 120 : -1);
  }
  plan.inputs = {plan.input, plan.input};
  EXPECT_FALSE(ChunkBoundaries(plan, 4).ok()) << "joined sources are not chunked";
}

// A chunk seeks by the file's timestamps, which after a leap of the clock do not say where a
// frame is on the mended timeline: such a source is refused, saying why, and runs whole.
TEST(Chunked, ASourceWhoseClockJumpsIsNotChunked) {
  TempDir tmp;
  TranscodePlan plan = PackagePlan(testing::ClockJumpTsSource(3600), tmp / "out");
  Result<ChunkLayout> layout = ChunkBoundaries(plan, 4);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(layout.status().message().find("clock jumps (1 times, the first at 12.0 s)"),
            std::string::npos)
      << layout.status().ToString();
}

TEST(Chunked, StitchIsIdempotentAndRefusesATamperedChunk) {
  TempDir tmp;
  std::string source = testing::Clip(426, 240, 9, 30, true), staging = tmp / "staging";
  TranscodePlan plan = PackagePlan(source, tmp / "out");
  Result<ChunkLayout> layout = ChunkBoundaries(plan, 4);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  for (const ChunkRange& c : layout->chunks) ASSERT_TRUE(EncodeChunk(plan, c, staging).ok());
  ASSERT_TRUE(EncodeAudio(plan, staging).ok());
  ASSERT_TRUE(Stitch(plan, *layout, staging).ok());
  std::map<std::string, std::string> first;
  for (const auto& e : fs::recursive_directory_iterator(tmp / "out"))
    if (e.is_regular_file()) first[e.path().string()] = ReadFile(e.path().string());
  ASSERT_TRUE(Stitch(plan, *layout, staging).ok());
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(tmp / "out"))
    if (e.is_regular_file()) {
      ++files;
      EXPECT_EQ(ReadFile(e.path().string()), first[e.path().string()]) << e.path();
    }
  EXPECT_EQ(files, first.size());

  // Chunk 1 encoded with another x264 speed: other parameter sets (no CABAC).
  TranscodePlan tampered = plan;
  tampered.hls[0].ladder.video.speed = "ultrafast";
  Status retampered = EncodeChunk(tampered, layout->chunks[1], staging);
  ASSERT_TRUE(retampered.ok()) << retampered.ToString();
  Result<TranscodeResult> r = Stitch(plan, *layout, staging);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("chunk 1"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("parameter sets"), std::string::npos);
}

}  // namespace
}  // namespace reel::engine
