// Sources whose timestamps do not start at zero (the hardening issue's item 21): an edit list
// that starts the media at 10 s, an MPEG-TS whose PTS wraps, an edit list that cuts the start,
// and streams that start apart. Each is made from the A/V sync source (a flash and a beep every
// even second), so the outputs are measured the way a player presents them: starting at 0, with
// the source's sync kept within a millisecond, every frame there.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/chunk.h"
#include "engine/engine.h"
#include "testing/av_sync.h"
#include "testing/media_fixtures.h"

namespace reel::engine {
namespace {

using testing::MeasureSync;
using testing::SyncReport;
using testing::TempDir;

constexpr double kSync = 0.001;  // seconds, as the A/V sync issue asks
constexpr double kFrame = 0.04;  // one frame at the sources' 25 fps

// Encodes `source` to an MP4 and an HLS package in one run and measures both.
struct Encoded {
  TranscodeResult result;
  SyncReport mp4, hls;
  testing::MediaSummary mp4_media;
};

// The default ladder to out/hls and a 360p MP4 to out/out.mp4.
TranscodePlan BothOutputs(const std::string& source, const TempDir& out) {
  TranscodePlan plan;
  plan.input = source;
  HlsOutputPlan h;
  h.directory = out / "hls";
  h.ladder = *presets::FindLadder("default");
  plan.hls.push_back(h);
  FileOutputPlan f;
  f.index = 1;
  f.path = out / "out.mp4";
  f.preset = *presets::FindPreset("h264-360p");
  plan.files.push_back(f);
  return plan;
}

Encoded EncodeBoth(const std::string& source, const TempDir& out) {
  Encoded e;
  Result<TranscodeResult> r = Transcode(BothOutputs(source, out), {});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return e;
  e.result = *r;
  e.mp4 = MeasureSync(out / "out.mp4");
  e.hls = MeasureSync(out / "hls/master.m3u8");
  e.mp4_media = testing::ReadMedia(out / "out.mp4");
  return e;
}

// Both tracks start at 0 and every flash has its beep `offset` seconds after it (0: in sync),
// from the `first`th flash on.
void ExpectStartsAtZeroInSync(const SyncReport& r, size_t events, double offset = 0,
                              size_t first = 0) {
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.offsets.size(), events) << r.Describe();
  for (size_t i = first; i < r.offsets.size(); ++i)
    EXPECT_NEAR(r.offsets[i], offset, kSync) << "flash " << i << ": " << r.Describe();
  EXPECT_NEAR(r.first_video, 0, kSync) << r.Describe();
  EXPECT_NEAR(r.first_audio, 0, kSync) << r.Describe();
}

// The picture lasts `seconds` (frame for frame) and so does the sound (give or take the last
// AAC frame's padding).
void ExpectLength(const SyncReport& r, double seconds, double audio_seconds = -1) {
  if (audio_seconds < 0) audio_seconds = seconds;
  EXPECT_NEAR(r.video_end, seconds, kFrame / 2) << r.Describe();
  EXPECT_LE(std::fabs(r.audio_samples - audio_seconds * 48000), 1024 + 48000 * kFrame)
      << r.Describe();
}

// Encodes `source` to both outputs, measured as `seconds` of source (within `tolerance`): each
// starts at 0 with its `flashes` in sync, lasts `seconds`, and holds `frames` pictures.
void ExpectWholeAndInSync(const std::string& source, double seconds, double tolerance,
                          size_t flashes, int frames) {
  TempDir out;
  Encoded e = EncodeBoth(source, out);
  EXPECT_NEAR(e.result.source_duration, seconds, tolerance);
  for (const SyncReport* r : {&e.mp4, &e.hls}) {
    ExpectStartsAtZeroInSync(*r, flashes);
    ExpectLength(*r, seconds);
  }
  ASSERT_NE(e.mp4_media.Find("video"), nullptr);
  EXPECT_EQ(e.mp4_media.Find("video")->packets, frames);
}

TEST(Timestamps, AnEditListThatStartsTheMediaAtTenSeconds) {
  std::string source = testing::EditListOffsetSource();
  Result<MediaInfo> info = Probe(source);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_NEAR(info->start_time, 10, 0.05);
  // The container declares 22 s; the media is 12 s, which is what truncation is judged on.
  EXPECT_NEAR(info->duration, 12, 0.05);
  ExpectWholeAndInSync(source, 12, 0.05, 6, 300);
}

TEST(Timestamps, AnMpegTsWhosePtsWrapsDuringTheFile) {
  std::string source = testing::WrappingTsSource();
  // The raw PTS of the first packet is within seconds of 2^33 ticks: the wrap is in the file.
  testing::CommandResult raw = testing::RunCommand(
      {"ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#1", "-show_entries",
       "packet=pts", "-of", "csv=p=0", "-correct_ts_overflow", "0", source});
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  long long first_pts = std::atoll(raw.stdout_text.c_str());
  EXPECT_GT(first_pts, (1LL << 33) - 8 * 90000) << raw.stdout_text;
  Result<MediaInfo> info = Probe(source);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_LT(info->start_time, 0);  // libavformat unwraps it below zero
  EXPECT_NEAR(info->duration, 12, 0.1);
  EXPECT_EQ(info->clock_jumps, 0);  // a wrap is not a jump
  ExpectWholeAndInSync(source, 12, 0.1, 6, 300);
}

// Two recordings joined byte for byte, the second's clock an hour after the first's, or an hour
// before it. As libavformat hands it on, the first declared an hour (and was encoded as an hour
// of a frozen picture) and the second a day (read as a wrap; failed as truncated). Mended as
// ffmpeg mends it, each is one 24 s timeline with its sync kept across the join.
TEST(Timestamps, AnMpegTsWhoseClockJumpsIsReadAsOneTimeline) {
  for (int leap : {3600, -3600}) {
    SCOPED_TRACE("leap " + std::to_string(leap) + " s");
    std::string source = testing::ClockJumpTsSource(leap);
    Result<MediaInfo> info = Probe(source);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->clock_jumps, 1);
    EXPECT_NEAR(info->duration, 24, 0.1);
    EXPECT_EQ(ToJson(*info).value("clock_jumps", 0), 1);
    for (const StreamInfo& s : info->streams) EXPECT_NEAR(s.duration, 24, 0.1) << s.type;
    ExpectWholeAndInSync(source, 24, 0.1, 12, 600);
  }
}

// Two recordings joined byte for byte whose programs use different PIDs: the picture and the
// sound go on in new streams after the join. libavformat adds them as streams of their own, and
// a reader that keeps the streams it chose on opening (ffmpeg's command line does) silently lost
// the second recording: a 12 s output of a 24 s file, nothing failed. They are followed as
// players follow the program, the first recording's last pictures (which libavformat hands on
// only at the file's end) put back before the second's: the file reads exactly as the same join
// with the same PIDs does, with the clock going on or leaping an hour, and two sound tracks each
// followed by their own. Such a file is read whole, not in chunks.
TEST(Timestamps, RecordingsJoinedWithDifferentPidsAreReadAsOne) {
  for (double second_at : {12.0, 3600.0}) {
    for (int tracks : {1, 2}) {
      SCOPED_TRACE("second at " + std::to_string(second_at) + " s, " + std::to_string(tracks) +
                   " sound tracks");
      std::string source = testing::ClockJumpTsSource(
          second_at, tracks, {.second_start_pid = 0x200, .first_audio = {}, .second_audio = {}});
      std::string same_pids = testing::ClockJumpTsSource(second_at, tracks);
      Result<MediaInfo> info = Probe(source), same_info = Probe(same_pids);
      ASSERT_TRUE(info.ok()) << info.status().ToString();
      ASSERT_TRUE(same_info.ok()) << same_info.status().ToString();
      // Both read through when the clock leaps; else the same join's steady clock is taken from
      // the header (libavformat's estimate), this one's from its packets.
      double within = second_at == 3600 ? 1e-6 : 0.05;
      EXPECT_NEAR(info->duration, 24, 0.1);
      EXPECT_NEAR(info->duration, same_info->duration, within);
      EXPECT_EQ(info->clock_jumps, same_info->clock_jumps);
      ASSERT_EQ(info->streams.size(), 1u + tracks) << "a stream that goes on is listed once";
      for (size_t i = 0; i < info->streams.size(); ++i)
        EXPECT_NEAR(info->streams[i].duration, same_info->streams[i].duration, within) << i;
      TempDir out, same_out;
      Encoded e = EncodeBoth(source, out), same = EncodeBoth(same_pids, same_out);
      for (auto [r, expected] : {std::pair{&e.mp4, &same.mp4}, std::pair{&e.hls, &same.hls}}) {
        ASSERT_TRUE(r->ok) << r->error;
        ASSERT_EQ(r->offsets.size(), 12u) << r->Describe();
        ASSERT_EQ(r->offsets.size(), expected->offsets.size());
        for (size_t i = 0; i < r->offsets.size(); ++i)
          EXPECT_NEAR(r->offsets[i], expected->offsets[i], 1e-4) << "flash " << i;
        EXPECT_NEAR(r->video_end, expected->video_end, 1e-6) << r->Describe();
        EXPECT_EQ(r->audio_samples, expected->audio_samples) << r->Describe();
      }
      ASSERT_NE(e.mp4_media.Find("video"), nullptr);
      EXPECT_EQ(e.mp4_media.Find("video")->packets, same.mp4_media.Find("video")->packets);
      if (second_at == 3600) ExpectWholeAndInSync(source, 24, 0.1, 12, 600);
      Result<ChunkLayout> layout = ChunkBoundaries(BothOutputs(source, out), 6);
      ASSERT_FALSE(layout.ok());
      if (second_at == 12) {
        EXPECT_NE(layout.status().message().find("changes streams"), std::string::npos)
            << layout.status().ToString();
      }
    }
  }
}

// A broadcast's two sound tracks in two codecs (MP2 and AC-3, as DVB carries them), the second
// recording listing them the other way round: each new stream continues the one in its codec,
// whatever order they come in.
TEST(Timestamps, EachSoundTrackGoesOnInItsOwnCodecAcrossTheJoin) {
  std::string source = testing::ClockJumpTsSource(
      3600, 2,
      {.second_start_pid = 0x200, .first_audio = {"mp2", "ac3"}, .second_audio = {"ac3", "mp2"}});
  Result<MediaInfo> info = Probe(source);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->streams.size(), 3u);
  EXPECT_EQ(info->streams[1].codec, "mp2");
  EXPECT_EQ(info->streams[2].codec, "ac3");
  for (const StreamInfo& st : info->streams) EXPECT_NEAR(st.duration, 24, 0.1) << st.codec;
  ExpectWholeAndInSync(source, 24, 0.1, 12, 600);
}

// In one recording, a sound track that stops and another in the same codec that starts 10 s
// later are two tracks, not one going on: only a join (the new stream's first packet read within
// about 2 s of packets of the old one's last) is followed. The late track used to fail the job
// (its format unknown: only 10 s were read to learn the streams).
TEST(Timestamps, ASoundThatStopsAndAnotherThatStartsLaterStayTwoTracks) {
  std::string source = testing::Fixture(
      "sounds-apart.ts", {"-f",         "lavfi",
                          "-i",         "testsrc2=size=320x180:rate=25:duration=20",
                          "-f",         "lavfi",
                          "-i",         "sine=frequency=440:sample_rate=48000:duration=4",
                          "-itsoffset", "14",
                          "-f",         "lavfi",
                          "-i",         "sine=frequency=880:sample_rate=48000:duration=6",
                          "-map",       "0:v",
                          "-map",       "1:a",
                          "-map",       "2:a",
                          "-c:v",       "libx264",
                          "-g",         "25",
                          "-pix_fmt",   "yuv420p",
                          "-c:a",       "aac"});
  Result<MediaInfo> info = Probe(source);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->streams.size(), 3u);
  EXPECT_EQ(info->clock_jumps, 0);
  // libavformat's estimates of each track's length (the file's clock is steady, so not read
  // through): each its own, not the two together.
  EXPECT_NEAR(info->streams[1].duration, 4, 0.3);
  EXPECT_NEAR(info->streams[2].duration, 6, 0.3);
  TempDir out;
  Result<TranscodeResult> r = Transcode(BothOutputs(source, out), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(r->source_duration, 20, 0.1);
  // Both are offered: the late one's format is learnt (the first 60 s are read for it).
  std::string master = testing::ReadFile(out / "hls/master.m3u8");
  int tracks = 0;
  for (size_t at = 0; (at = master.find("TYPE=AUDIO", at)) != std::string::npos; ++at) ++tracks;
  EXPECT_EQ(tracks, 2) << master;
}

// A new stream in another codec cannot continue the old one (its decoder is another): the job
// fails saying so, where the rest of the sound would have been lost without a word.
TEST(Timestamps, ASoundThatGoesOnInAnotherCodecFailsSayingSo) {
  std::string source = testing::ClockJumpTsSource(
      12, 1, {.second_start_pid = 0x200, .first_audio = {}, .second_audio = {"mp2"}});
  TempDir out;
  Result<TranscodeResult> r = Transcode(BothOutputs(source, out), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("(PID 0x201, mp2) takes the place of stream 1 (PID 0x101, "
                                      "aac) in its program, in another codec"),
            std::string::npos)
      << r.status().ToString();
}

// The same join with the second recording's clock starting 20 ms before the first's ends: too
// small a step back to be a jump (as ffmpeg judges it), so the clock is left as it is and the
// second's pictures follow on the frame grid. Its sound overlaps the first's end by 73 ms (with
// its priming and the first's padding), under the 0.1 s that aresample mends: it used to be
// appended whole, 73 ms after the pictures it belongs to, and is now cut in, to the sample.
TEST(Timestamps, AnMpegTsWhoseClockStepsBackALittleKeepsItsSync) {
  std::string source = testing::ClockJumpTsSource(11.98);
  Result<MediaInfo> info = Probe(source);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->clock_jumps, 0);
  EXPECT_NEAR(info->duration, 23.98, 0.1);
  TempDir out;
  Encoded e = EncodeBoth(source, out);
  for (const SyncReport* r : {&e.mp4, &e.hls}) {
    ASSERT_TRUE(r->ok) << r->error;
    ASSERT_EQ(r->offsets.size(), 12u) << r->Describe();
    // The second recording's pictures are 1.3 ms off the grid's slots (it starts at 11.9587 s).
    for (size_t i = 0; i < r->offsets.size(); ++i)
      EXPECT_NEAR(r->offsets[i], 0, i < 6 ? kSync : kSync + 0.0014)
          << "flash " << i << ": " << r->Describe();
    ExpectLength(*r, 23.96, 23.98);
  }
}

// One stream's gap is not a new clock: an MPEG-TS whose sound stops from 4 s to 18 s while the
// picture goes on. Judged per stream, the sound's return looked like a 14 s leap that pulled
// the picture along, and back, at every packet: its last 2 s were heard at 4 s and the file
// ended its sound at 6 s. The gap is kept (filled with silence) and the sound comes back at 18 s.
TEST(Timestamps, AnMpegTsWhoseSoundStopsForAWhileKeepsTheGap) {
  std::string source = testing::Fixture(
      "sound-gap.ts",
      {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=20", "-f", "lavfi", "-i",
       "sine=frequency=440:duration=6,asetpts='if(gte(T,4),PTS+14/TB,PTS)'", "-c:v", "libx264",
       "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-f", "mpegts"});
  Result<MediaInfo> info = Probe(source);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->clock_jumps, 0);
  EXPECT_NEAR(info->duration, 20, 0.1);
  TempDir out;
  Encoded e = EncodeBoth(source, out);
  const testing::StreamSummary* video = e.mp4_media.Find("video");
  const testing::StreamSummary* audio = e.mp4_media.Find("audio");
  ASSERT_NE(video, nullptr);
  ASSERT_NE(audio, nullptr);
  EXPECT_EQ(video->packets, 500);
  EXPECT_NEAR(audio->end, 20, 0.05);
}

// An Ogg one of whose video pages carries a granule near INT64's limit, as a crafted or damaged
// file may: that page's pictures read 2^57 frames on. ffmpeg's command line mends it as a jump
// and back. reel did its sums in 64 bits, which wrapped, and refused the file as lasting 1.6
// billion hours; reckoned in 128 bits, the page's pictures come where they were due. On the
// first page, libavformat cannot say where the file starts, and the clock starts at 0.
TEST(Timestamps, AnOggPageWhoseClockIsNearInt64sLimitIsMended) {
  for (bool first_page : {false, true}) {
    SCOPED_TRACE(first_page ? "the first page" : "a page halfway");
    std::string source = testing::CorruptGranuleOggSource(first_page);
    Result<MediaInfo> info = Probe(source);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_GE(info->clock_jumps, 1);
    EXPECT_NEAR(info->duration, 12, 0.1);
    ExpectWholeAndInSync(source, 12, 0.1, 6, 300);
  }
}

// A task of a chunked job is told its source's clock is steady (its fan-out read the file
// through) and does not read it through again. The vouch holds for that file only (its size and
// the hash of its ends); this one's clock does jump, which shows it was not read.
TEST(Timestamps, AFileVouchedSteadyIsNotReadThroughAgain) {
  std::string jumping = testing::ClockJumpTsSource(3600);
  std::string fingerprint = FileFingerprint(jumping);
  ASSERT_FALSE(fingerprint.empty());
  TempDir dir;
  std::string same = dir / "vouched.ts", other = dir / "other.ts";
  std::filesystem::copy_file(jumping, same);
  std::string bytes = testing::ReadFile(jumping);
  bytes[bytes.size() - 100] ^= 1;  // the same size, one bit apart
  testing::WriteFile(other, bytes);
  for (const std::string& copy : {other, same}) {
    VouchSteadyClock(copy, fingerprint);
    Result<MediaInfo> info = Probe(copy);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->clock_jumps, copy == same ? 0 : 1) << copy;
  }
  // A file read through already keeps what was found.
  VouchSteadyClock(other, FileFingerprint(other));
  EXPECT_EQ(Probe(other)->clock_jumps, 1);
}

TEST(Timestamps, AnEditListThatCutsTheStart) {
  std::string source = testing::CutStartSource();
  // 12 s cut at 3.32 s between keyframes (every 2 s): 8.68 s shown, from a GOP that began at 2 s.
  Result<MediaInfo> info = Probe(source);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_NEAR(info->duration, 8.68, 0.05);
  // The cut itself presents its flashes (4, 6, 8 and 10 s of the uncut source) where its edit
  // lists put them; the outputs must present them the same way.
  SyncReport cut = MeasureSync(source);
  ASSERT_TRUE(cut.ok) << cut.error;
  std::printf("source: %s\n", cut.Describe().c_str());
  ASSERT_EQ(cut.flashes.size(), 4u) << cut.Describe();
  TempDir out;
  Encoded e = EncodeBoth(source, out);
  for (const SyncReport* r : {&e.mp4, &e.hls}) {
    ExpectStartsAtZeroInSync(*r, 4, cut.mean_offset);
    ExpectLength(*r, 8.68);
    ASSERT_EQ(r->flashes.size(), 4u) << r->Describe();
    for (size_t i = 0; i < 4; ++i)
      EXPECT_NEAR(r->flashes[i] - cut.flashes[i], r->first_video - cut.first_video, kSync)
          << r->Describe();
  }
}

TEST(Timestamps, StreamsThatStartApart) {
  // Video 0.3 s after the audio, then audio 0.3 s after the video: the output starts both at 0
  // (the late one's first frame held, or silence) and keeps the gap. When the picture is late
  // its first frame, a flash, is held from 0, so the first flash is seen early: from the second
  // on, each is where the source has it.
  for (double video_delay : {0.3, -0.3}) {
    SCOPED_TRACE("video delay " + std::to_string(video_delay));
    std::string source = testing::StaggeredSource(video_delay);
    TempDir out;
    Encoded e = EncodeBoth(source, out);
    for (const SyncReport* r : {&e.mp4, &e.hls}) {
      ExpectStartsAtZeroInSync(*r, 6, -video_delay, video_delay > 0 ? 1 : 0);
      // The late picture starts on the frame grid: its held first frame may add part of one.
      // The late sound ends after the picture, whose last frame is held to its end (on the grid).
      ExpectLength(*r, 12 + std::fabs(video_delay) + kFrame / 2, 12 + std::max(-video_delay, 0.0));
    }
  }
}

TEST(Timestamps, SoundThatOutlastsThePictureHoldsItsLastFrame) {
  // A 4 s clip over 12 s of sound. The picture stopped at 4 s while the sound went on: the result
  // and the DASH manifest said 4 s (players stopped there), the HLS audio said 12.
  testing::SyncSourceOptions o;
  o.fps_num = 25;
  std::string sync = testing::SyncSource(o);
  std::string source = testing::Fixture(
      "picture-ends-first.mkv",
      {"-t", "4", "-i", sync, "-i", sync, "-map", "0:v", "-map", "1:a", "-c", "copy"});
  TempDir out;
  TranscodePlan plan;
  plan.input = source;
  HlsOutputPlan h;
  h.directory = out / "hls";
  h.ladder = *presets::FindLadder("default");
  h.dash = true;
  plan.hls.push_back(h);
  FileOutputPlan f;
  f.index = 1;
  f.path = out / "out.mp4";
  f.preset = *presets::FindPreset("h264-360p");
  plan.files.push_back(f);
  Result<TranscodeResult> r = Transcode(plan, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(r->source_duration, 12, 0.05);
  for (const OutputResult& output : r->outputs) EXPECT_NEAR(output.duration, 12, kFrame);
  for (const char* path : {"out.mp4", "hls/master.m3u8", "hls/manifest.mpd"}) {
    SyncReport report = MeasureSync(out / path);
    ASSERT_TRUE(report.ok) << path << ": " << report.error;
    ExpectLength(report, 12);
    // The two flashes the picture has keep their beeps.
    ASSERT_GE(report.offsets.size(), 2u) << path << ": " << report.Describe();
    for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(report.offsets[i], 0, kSync) << report.Describe();
  }
  std::string mpd = testing::ReadFile(out / "hls/manifest.mpd");
  EXPECT_NE(mpd.find("mediaPresentationDuration=\"PT12"), std::string::npos) << mpd;
  ASSERT_NE(testing::ReadMedia(out / "out.mp4").Find("video"), nullptr);
  EXPECT_EQ(testing::ReadMedia(out / "out.mp4").Find("video")->packets, 300);
}

// A 6 s piece of the sync source as an MPEG-TS whose clock starts at `offset` seconds.
std::string SyncTsPiece(double offset) {
  testing::SyncSourceOptions o;
  o.fps_num = 25;
  o.seconds = 6;
  char name[64], at[32];
  std::snprintf(name, sizeof(name), "sync-6s-at-%g.ts", offset);
  std::snprintf(at, sizeof(at), "%g", offset);
  return testing::Fixture(name, {"-i", testing::SyncSource(o), "-c:v", "copy", "-c:a", "aac",
                                 "-b:a", "192k", "-output_ts_offset", at});
}

TEST(Timestamps, AMatroskaWhoseTimestampsStartAtTenSeconds) {
  // Matroska declares where its last frame ends (13 s here), not how long the media lasts: read
  // as a length, the 3 s of media were refused as a truncated file.
  std::string source = testing::Fixture(
      "offset-10.mkv", {"-i", SyncTsPiece(0), "-c", "copy", "-output_ts_offset", "10"});
  Result<MediaInfo> info = Probe(source);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_NEAR(info->start_time, 10, 0.05);
  EXPECT_NEAR(info->duration, 6, 0.05);
  TempDir out;
  Encoded e = EncodeBoth(source, out);
  for (const SyncReport* r : {&e.mp4, &e.hls}) {
    ExpectStartsAtZeroInSync(*r, 3);
    ExpectLength(*r, 6);
  }
}

}  // namespace
}  // namespace reel::engine
