// Test helpers: generated media, temp directories, running the reel binary, and reading media
// back with libavformat so that a failing check names the stream and the timestamp.
#pragma once

#include <string>
#include <vector>

namespace reel::testing {

// A directory removed (with its contents) when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string output;  // stdout and stderr, interleaved
  std::string stdout_text;
};

// Runs argv (no shell) to completion, stdin from /dev/null.
CommandResult RunCommand(const std::vector<std::string>& argv);

// A command running in the background, for tests that signal it.
class BackgroundCommand {
 public:
  explicit BackgroundCommand(const std::vector<std::string>& argv);
  ~BackgroundCommand();  // kills it if still running
  int pid() const { return pid_; }
  void Signal(int signo);
  CommandResult Wait();
  std::string OutputSoFar() const;  // stdout then stderr, as written until now
  bool Running();

 private:
  TempDir scratch_;
  int pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Path of the reel binary under test (CTest passes it in REEL_BINARY).
std::string ReelBinary();

// Generates a media file once per machine (cached by name and arguments) with Debian's ffmpeg
// CLI: `ffmpeg -y <args> <file>`. Typical args use lavfi sources (testsrc2, sine).
std::string Fixture(const std::string& file_name, const std::vector<std::string>& ffmpeg_args);

// The standard sources of the suite.
std::string Clip(int width, int height, double seconds, int fps = 30, bool audio = true);
// The same with audio, tagged BT.709 limited range (as most cameras' files are), for tests of
// the colour tags the outputs carry on.
std::string Bt709Clip(int width, int height, double seconds, int fps);

// Sources whose timestamps do not start at zero (the hardening issue's item 21), each made from
// the A/V sync source (av_sync.h: 12 s at 25 fps, a flash and a beep every even second), so a
// test can measure that the output still starts at 0 and keeps the source's sync.
// An MP4 made with `-output_ts_offset 10` (video copied, audio in AAC): its media starts at
// 10 s through an edit list, and the container declares 22 s for 12 s of media.
std::string EditListOffsetSource();
// An MPEG-TS (H.264 + AAC) whose 33-bit PTS starts about 4 s before 2^33/90 kHz and so wraps
// during the file; libavformat unwraps it into a negative start time.
std::string WrappingTsSource();
// Two MPEG-TS recordings of the sync source joined byte for byte (`cat a.ts b.ts`), the second's
// clock starting at `second_starts_at` seconds and the first's at 0 (when negative: the first's at
// -second_starts_at and the second's at 0). 3600: 24 s of media whose clock leaps an hour at 12 s.
// `audio_tracks` copies of the sound, each its own stream.
struct TsJoin {
  int second_start_pid = 0;  // the second's PIDs from here (0: the same as the first's)
  // Each recording's sound codec, track by track (absent: AAC).
  std::vector<std::string> first_audio, second_audio;
};
std::string ClockJumpTsSource(double second_starts_at, int audio_tracks = 1,
                              const TsJoin& join = {});
// A copy of the Ogg file `ogg` whose first stream's middle page (or first timed page) carries a
// granule near INT64's limit, as a crafted or damaged file may.
std::string CorruptGranuleOgg(const std::string& ogg, bool first_page = false);
// The sync source in Ogg (Theora + FLAC), so corrupted: one page's pictures read 2^57 frames on.
std::string CorruptGranuleOggSource(bool first_page = false);
// An MP4 cut from a GOP-coded copy (25 fps, a keyframe every 2 s) with `-ss 3.32 -c copy`: the
// cut lands between keyframes (on a frame), so an edit list skips the start of its first GOP.
std::string CutStartSource();
// The sync source with its video starting `video_delay` seconds after its audio (or its audio
// `-video_delay` after its video): a gap at the start of one stream.
std::string StaggeredSource(double video_delay);
// Audio only: AAC, a 440 Hz tone, `seconds` long (a karaoke track).
std::string AudioOnlySource(double seconds);

struct StreamSummary {
  int index = 0;
  std::string type;
  std::string codec;
  int width = 0, height = 0;
  int sar_num = 0, sar_den = 1;
  int rotation = 0;
  std::string pixel_format;
  std::string profile;  // libavcodec's name ("High", "Main 10"), "" when none
  // The colour tags the container states (libavutil's names: "bt709", "smpte2084", "tv"...).
  std::string color_primaries, color_transfer, color_space, color_range;
  int channels = 0;
  int sample_rate = 0;
  int64_t packets = 0;
  double first_pts = 0;           // seconds
  double end = 0;                 // seconds: last pts + duration
  std::vector<double> keyframes;  // pts (seconds) of key packets
  // dts (seconds) of key packets. libavformat shifts an fMP4 track's pts by the most negative
  // composition offset it has read so far, so a segment read alone shows its pts moved by what
  // its first fragment holds; decode times are the fragments' own.
  std::vector<double> keyframe_dts;
  bool monotonic_dts = true;
};

struct MediaSummary {
  std::string container;
  double duration = 0;
  std::vector<StreamSummary> streams;
  const StreamSummary* Find(const std::string& type) const;
};

// Demuxes every packet of the file; fails the current test (and returns empty) if it can't.
MediaSummary ReadMedia(const std::string& path);

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);

}  // namespace reel::testing
