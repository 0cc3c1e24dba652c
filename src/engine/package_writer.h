// What turns a package's rendition folders into a package: the I-frame playlists, the master
// playlist, the DASH manifest, the subtitle renditions and the output's description. One code
// for a package written by one run (package.cc, which describes its renditions from their
// encoders) and for one stitched from chunks (stitch.cc, which reads the description the chunks
// and the audio task wrote down), so the two cannot drift apart. Internal to the engine.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/hls.h"
#include "engine/per_title.h"
#include "engine/subtitles.h"

namespace reel::engine {

// A video rendition (its folder holds index.m3u8, init.mp4 and the segments).
struct PackageVideo {
  std::string name;  // its folder: "720p"
  int width = 0, height = 0;
  double frame_rate = 0;
  std::string frame_rate_text;  // as the MPD says it: "30" or "30000/1001"
  std::string codecs;           // RFC 6381, the video's only
  std::string codec_name;       // "h264", "hevc", "av1"
  std::string video_range;      // "SDR", "PQ", "HLG"; "": not said (an SDR source)
  // Kept HDR: its colour as H.273 code points, said on its DASH adaptation set; 0: not said.
  int colour_primaries = 0, transfer = 0, matrix = 0;
  nlohmann::json quality;  // measured in the run, or null
};

// An audio rendition of the package's one audio group (one per kept audio track).
struct PackageAudio {
  std::string name;  // its folder: layout::AudioRendition(track)
  std::string codecs = "mp4a.40.2";
  int channels = 2;
  int sample_rate = 48000;
  std::string language;  // BCP 47, or ""
  std::string label;     // NAME in the master, or "" (see hls::AudioEntry::name)
  bool is_default = false;
  double priming_seconds = 0;  // the encoder's priming, which the edit list trims
  double end_seconds = 0;      // where its last frame ends when presented; 0: not known
};

struct PackageDescription {
  std::string kind;  // "hls", "dash", "preview"
  bool dash = false;
  std::vector<PackageVideo> videos;
  std::vector<PackageAudio> audio;
  hls::Captions captions = hls::Captions::kUnstated;
  std::optional<PerTitleChoice> per_title;
  std::vector<std::string> notes;
};

// Writes `text` as the whole of the file at `path`.
Status WriteTextFile(const std::string& path, const std::string& text);

nlohmann::json ToJson(const PackageDescription& d);
Result<PackageDescription> PackageDescriptionFromJson(const nlohmann::json& j);

// Writes the glue of the package whose renditions are in `dir` (their media playlists final:
// audio tail folded, fragments split at keyframes), `subtitles` as its subtitle renditions, and
// describes it in `out` (paths as they will be once in `final_dir`).
Status WritePackageGlue(const PackageDescription& d, const std::vector<SubtitleTrack>& subtitles,
                        const std::string& dir, const std::string& final_dir, OutputResult* out);

}  // namespace reel::engine
