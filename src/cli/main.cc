// reel: the one binary. This file only parses flags and wires the libraries together.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"reel: a video transcoding service (engine, CLI)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "reel 0.1.0");

  reel::cli::ProbeArgs probe;
  auto* probe_cmd = app.add_subcommand("probe", "Print what a media file contains, as JSON");
  probe_cmd->add_option("file", probe.file, "Media file")->required();

  reel::cli::TranscodeArgs tr;
  auto* tr_cmd = app.add_subcommand(
      "transcode",
      "Transcode a media file to an HLS ladder or a preset file, or run a job spec (job.json)");
  tr_cmd->add_option("input", tr.input, "Source media file, or a job spec .json file")->required();
  tr_cmd->add_option("-o,--output", tr.output,
                     "Output: a directory for HLS, a .mp4/.webm file for a preset");
  tr_cmd->add_option("--ladder", tr.ladder, "ABR ladder name for HLS output (default: default)");
  tr_cmd->add_option("--preset", tr.preset, "Preset name for a file output (see `reel presets`)");
  tr_cmd->add_option("--bitrate", tr.bitrate, "Override: video bitrate, e.g. 2500k");
  tr_cmd->add_option("--crf", tr.crf, "Override: constant quality (0-51; 0-63 for VP9)");
  tr_cmd->add_option("--width", tr.width, "Override: maximum width (aspect kept)");
  tr_cmd->add_option("--height", tr.height, "Override: maximum height (aspect kept)");
  tr_cmd->add_option("--fps", tr.fps, "Override: frame rate (1-60)");
  tr_cmd->add_option("--audio-bitrate", tr.audio_bitrate, "Override: audio bitrate, e.g. 96k");
  tr_cmd->add_option("--progress", tr.progress, "Progress display: auto, bar, json, none")
      ->check(CLI::IsMember({"auto", "bar", "json", "none"}));
  tr_cmd->add_option("--threads", tr.threads, "CPU threads to use (default: all cores)")
      ->check(CLI::Range(1, 256));

  bool presets_json = false;
  auto* presets_cmd = app.add_subcommand("presets", "List the named presets and ladders");
  presets_cmd->add_flag("--json", presets_json, "Print as JSON");

  CLI11_PARSE(app, argc, argv);

  if (*probe_cmd) return reel::cli::RunProbe(probe);
  if (*tr_cmd) return reel::cli::RunTranscode(tr);
  if (*presets_cmd) return reel::cli::RunPresets(presets_json);
  return 1;
}
