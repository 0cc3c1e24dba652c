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

struct StreamSummary {
  int index = 0;
  std::string type;
  std::string codec;
  int width = 0, height = 0;
  int sar_num = 0, sar_den = 1;
  int rotation = 0;
  std::string pixel_format;
  int channels = 0;
  int sample_rate = 0;
  int64_t packets = 0;
  double first_pts = 0;           // seconds
  double end = 0;                 // seconds: last pts + duration
  std::vector<double> keyframes;  // pts (seconds) of key packets
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
