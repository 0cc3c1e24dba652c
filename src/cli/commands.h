// The subcommands of `reel`. Each returns the process exit code.
#pragma once

#include <optional>
#include <string>

namespace reel::cli {

struct ProbeArgs {
  std::string file;
};
int RunProbe(const ProbeArgs& args);

struct TranscodeArgs {
  std::string input;
  std::string output;
  std::string ladder;
  std::string preset;
  std::optional<std::string> bitrate;
  std::optional<int> crf;
  std::optional<int> width;
  std::optional<int> height;
  std::optional<double> fps;
  std::optional<std::string> audio_bitrate;
  std::string progress = "auto";
  int threads = 0;
};
int RunTranscode(const TranscodeArgs& args);

int RunPresets(bool json);

// Prints "reel: error: <message>" on stderr and returns 1.
int Fail(const std::string& message);

}  // namespace reel::cli
