// The package stage: an HLS (and DASH) package is one folder per rendition, each written by its
// own muxer, plus master.m3u8 (and manifest.mpd) written at the end from what the muxers actually
// produced (measured bandwidths, real codec strings). Also the results of every output of a run.
// The files are made in the package's staging folder; Staging moves it into place. Internal to
// the engine; layout.h names the files.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/encode.h"
#include "engine/engine.h"
#include "engine/mux.h"
#include "engine/per_title.h"
#include "engine/subtitles.h"
#include "engine/taps.h"

namespace reel::engine {

// An HLS output as planned: which renditions make it, and where it is staged.
struct HlsPackage {
  struct Variant {
    std::string name;  // its folder: "720p", or "preview"
    VideoRendition* video = nullptr;
  };
  const HlsOutputPlan* plan = nullptr;
  std::vector<std::string> notes;
  std::string temp_dir;
  std::vector<Variant> variants;
  // The audio group's tracks, in the folders layout::AudioRendition(0, 1...); none for a silent
  // source.
  struct AudioTrack {
    AudioRendition* rendition = nullptr;
    std::string language;  // BCP 47, or ""
    std::string name;      // "": as hls::AudioEntry names it
    bool is_default = false;
  };
  std::vector<AudioTrack> audio;
  // Subtitle renditions (none for previews), and whether the source's video carries CEA-608/708
  // captions, which the H.264 encoder passes through (libx264's a53cc).
  const std::vector<SubtitleTrack>* subtitles = nullptr;
  std::optional<bool> closed_captions;  // unknown: not declared
  // A chunk of a chunked encoding: the package's number of its first media segment (its
  // segments continue the whole package's timeline); -1 otherwise.
  int first_segment = -1;
  // And its first frame on the source's grid: each rendition's fragments (one per keyframe, its
  // GOP fixed) are numbered from where that frame sits in the package, so the stitch need not
  // renumber them.
  int64_t first_frame = -1;
  // The source is HDR: the master says each variant's VIDEO-RANGE (SDR once tone-mapped).
  bool hdr_source = false;
  // A per-title ladder: what the pre-pass chose, reported as the output's "ladder" section.
  std::optional<PerTitleChoice> per_title;
};

// Opens one muxer per folder of the package (variants, then audio) and wires each rendition to
// its stream.
Status MuxPackage(const HlsPackage& package, MuxStage* mux);

// After the muxers have finished: reads the media playlists back, writes master.m3u8 (and
// manifest.mpd), and describes the package.
Status AssemblePackage(const HlsPackage& package, OutputResult* out);

// A file output as planned.
struct FileOutput {
  const FileOutputPlan* plan = nullptr;
  std::vector<std::string> notes;
  std::string temp_path;
  VideoRendition* video = nullptr;
  AudioRendition* audio = nullptr;
};

OutputResult DescribeFile(const FileOutput& file, double source_duration,
                          const std::optional<Loudness>& measured);

// An output this source cannot give (it lacks what the output needs); the run goes on.
OutputResult UnavailableOutput(int index, const std::string& kind, const std::string& path,
                               const std::string& why);

}  // namespace reel::engine
