// The job spec: what a user asks reel to do, as JSON, parsed and validated in full before any
// work starts. Every error names the field it is about ("outputs[1].preset"), so the API can
// answer 400 with it and the CLI can print it.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "job/s3_headers.h"
#include "presets/outputs.h"
#include "presets/presets.h"

namespace reel::job {

using presets::FieldError;

struct OutputSpec {
  // "hls", "dash", "mp4", "webm", "mkv", "thumbnail", "sprite", "preview", "waveform",
  // "loudness", "mezzanine"
  std::string kind;
  std::string destination;      // optional for "loudness" only
  std::string method = "PUT";   // for http(s) destinations: PUT or POST
  int64_t presign_seconds = 0;  // for s3:// destinations: a presigned GET URL in the result
  S3ObjectHeaders s3;           // for s3:// destinations: ACL, storage class... of its objects
  // Resolved settings: for "hls"/"dash" the ladder; for "mp4", "webm", "mkv", "mezzanine" and an
  // MP4 "preview" the preset with overrides applied (and normalisation).
  presets::Ladder ladder;
  presets::Preset preset;
  bool dash = false;         // "hls" with "dash": true, or kind "dash": an MPD beside the playlists
  bool preview_hls = false;  // a preview packaged as HLS (destination ends with "/")
  presets::ThumbnailOptions thumbnail;
  presets::SpriteOptions sprite;
  presets::PreviewOptions preview;
  presets::WaveformOptions waveform;
  // Picture kinds (hls, dash, mp4, webm, mkv, preview, mezzanine, thumbnail, sprite): what an
  // audio-only source is drawn on, "#rrggbb", "waveform" or "spectrum"; "": not named (files
  // are then drawn on black; packages stay audio only, thumbnails and sprites fail).
  std::string background;
  // "quality": true on "hls", "dash", "mp4": PSNR and SSIM of every rendition in the result.
  bool quality = false;
  // "publish": "progressive" on "hls" (README "Early playback"): a chunked job publishes the
  // playlists as EVENT playlists that grow as chunks complete in order. "end" (the default):
  // the package is delivered once, whole.
  bool progressive = false;
  // "hls"/"dash": the source's audio streams kept as tracks, in order; empty: every one
  // (presets::kMaxAudioTracks at most), the default the stream marked so.
  std::vector<presets::AudioTrackChoice> audio_tracks;
};

// A subtitle file that becomes a subtitle rendition of every HLS/DASH output.
struct SubtitleTrackSpec {
  std::string url;
  std::string language;  // BCP 47 ("fr", "pt-BR"), or ""
  std::string name;      // what players show, or "" (the language)
};

inline constexpr size_t kMaxSubtitleTracks = 8;

struct JobSpec {
  std::string source;  // a URL or a local path
  // Or several, joined in order (title, main, end screen); `main_source` gives the geometry
  // (-1: the longest).
  std::vector<std::string> sources;
  int main_source = -1;
  std::string audio;      // optional: a file whose audio replaces the source's
  std::string subtitles;  // optional: ASS/SRT subtitles burnt into the picture
  std::vector<SubtitleTrackSpec> subtitle_tracks;  // optional: subtitle renditions of packages
  // "deinterlace": "auto" (by the stream's field order), "off", "frame" or "field".
  presets::Deinterlace deinterlace = presets::Deinterlace::kAuto;
  std::vector<OutputSpec> outputs;
  nlohmann::json metadata = nlohmann::json::object();  // echoed back, never interpreted
  // Per-job S3 credentials {"access_key", "secret_key", "endpoint"?, "region"?, "path_style"?}:
  // the job's unprefixed s3:// URLs use them. Stored sealed, never shown back.
  nlohmann::json s3_credentials;
  int priority = 0;               // -100..100; higher runs first
  std::vector<std::string> tags;  // only workers started with all of these (--tags) run it
  // "chunking": whether the job may fan out into tasks that several workers run (README
  // "Tasks"). kAuto: as the server decides (--chunk-min-seconds); kSeconds: `chunk_seconds`.
  enum class Chunking { kAuto, kOff, kSeconds };
  Chunking chunking = Chunking::kAuto;
  int chunk_seconds = 0;  // 10..600 with kSeconds; 0: the server's --chunk-seconds
};
inline constexpr int kMinChunkSeconds = 10, kMaxChunkSeconds = 600;

inline constexpr size_t kMaxOutputs = 32;

// Parses and validates. On failure the status is kInvalidArgument with the message
// "<field>: <problem>", and `error` (if given) gets the field and problem apart.
Result<JobSpec> ParseJobSpec(const nlohmann::json& spec, FieldError* error = nullptr);

// Parses a job document. JSON nested deeper than kMaxJsonDepth is refused before parsing:
// nlohmann's dump() recurses, and a body of 200,000 brackets would overflow the stack.
inline constexpr int kMaxJsonDepth = 64;
Result<nlohmann::json> ParseJobDocument(const std::string& text);

// Reads a bitrate given as a number of bits/s or a string like "2500k".
std::optional<int64_t> JsonBitrate(const nlohmann::json& value);

}  // namespace reel::job
