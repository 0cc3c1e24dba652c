// reel's media engine: probing and transcoding with the FFmpeg libraries, in process.
//
// The engine knows files on local disk only; fetching sources and delivering outputs is the
// job of other modules. It never takes encoder arguments from users: everything it encodes
// is described by presets::VideoSettings / presets::AudioSettings.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "presets/presets.h"

namespace reel::engine {

struct StreamInfo {
  int index = 0;
  std::string type;  // "video", "audio", "subtitle", "data"
  std::string codec;
  int64_t bitrate = 0;
  double start_time = 0;
  double duration = 0;
  // video
  int width = 0, height = 0;
  int sar_num = 1, sar_den = 1;
  int rotation = 0;  // display rotation in degrees clockwise: 0, 90, 180 or 270
  double frame_rate = 0;
  std::string pixel_format;
  int bit_depth = 0;
  std::string color_primaries, color_transfer, color_space, color_range;  // as ffprobe names them
  std::string hdr;          // "pq" (HDR10), "hlg", or "" (SDR or untagged)
  std::string field_order;  // "progressive", "tt", "bb", "tb", "bt", or "unknown"
  // What idet saw in the first frames, as the run's pre-pass decides (DetectFields fills it):
  // "interlaced" (first field "tt" or "bb") or "progressive", with idet's multiple-frame counts.
  struct Fields {
    std::string verdict;  // "" when not looked at
    std::string first;    // "tt" or "bb" when interlaced
    int frames = 0;
    int64_t tff = 0, bff = 0, progressive = 0, undetermined = 0;
  } idet;
  // audio
  int channels = 0;
  int sample_rate = 0;
  std::string channel_layout;
  std::string language;
};

struct MediaInfo {
  std::string container;  // e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  double duration = 0;    // seconds
  double start_time = 0;
  int64_t bitrate = 0;
  int64_t size = 0;
  // Times an MPEG-TS/PS or Ogg source's clock leaps or restarts (a recording joined byte for
  // byte); the engine reads it mended into one timeline, which `duration` measures.
  int clock_jumps = 0;
  std::vector<StreamInfo> streams;

  const StreamInfo* BestVideo() const;
  const StreamInfo* BestAudio() const;
};

Result<MediaInfo> Probe(const std::string& path);
// An MPEG-TS/PS or Ogg source is read through once per process to learn whether its clock jumps
// (Probe, a run). A task of a chunked job vouches instead for what its fan-out read: the file at
// `path`, if its FileFingerprint is `fingerprint`, keeps one clock and is not read through again
// here. The fingerprint is the file's size and a hash of its first and last 64 KiB ("" when it
// cannot be read): a copy fetched again that differs is not vouched for.
std::string FileFingerprint(const std::string& path);
void VouchSteadyClock(const std::string& path, const std::string& fingerprint);
// kInvalidArgument, saying both, when a source of `seconds` is longer than `limit` (> 0).
Status CheckSourceDuration(double seconds, double limit);
// Runs the idet pre-pass over the first frames of every video stream of `path` (`reel probe`
// shows it; a second decode of those frames, so not part of Probe).
Status DetectFields(const std::string& path, MediaInfo* info);
nlohmann::json ToJson(const MediaInfo& info);

// What to produce from one source. Every output is fed from one decode of the source. `index`
// is the output's position in the job spec; results come back in that order.
struct HlsOutputPlan {
  int index = 0;
  std::string directory;  // gets master.m3u8, one folder per rendition, audio/
  presets::Ladder ladder;
  bool dash = false;  // also a manifest.mpd over the same segments
  // A single rendition instead of the ladder (an HLS preview), named "preview".
  std::optional<presets::Preset> single;
  std::string kind = "hls";  // as reported: "hls", "dash", "preview"
  bool background = false;   // names a background: an audio-only source is drawn for it
  bool quality = false;      // PSNR/SSIM of every rendition (quality.h)
  // The source's audio streams kept as tracks (audio, audio_1...), in order; empty: every one
  // (presets::kMaxAudioTracks at most). A single source without a replacement "audio" only;
  // previews keep the first track.
  std::vector<presets::AudioTrackChoice> audio_tracks{};
  // A per-title ladder's choice made before the run (chunk.h's ChoosePerTitleOnce), encoded as
  // it is instead of analysing the source again; null: the run analyses.
  nlohmann::json per_title_choice{};
};

struct FileOutputPlan {
  int index = 0;
  std::string path;
  presets::Preset preset;
  std::string kind;      // as reported; empty: the container ("mp4", "webm", "mkv")
  bool quality = false;  // PSNR/SSIM of its video (quality.h)
};

struct ThumbnailPlan {
  int index = 0;
  std::string destination;  // a file, or a directory when count > 1
  presets::ThumbnailOptions options;
  bool background = false;  // as HlsOutputPlan
};

struct SpritePlan {
  int index = 0;
  std::string destination;  // the .jpg sheet; the .vtt goes beside it
  presets::SpriteOptions options;
  bool background = false;  // as HlsOutputPlan
};

struct WaveformPlan {
  int index = 0;
  std::string destination;  // .json
  presets::WaveformOptions options;
};

struct LoudnessPlan {
  int index = 0;
  std::string destination;  // optional .json
};

// A subtitle file that becomes a subtitle rendition of every HLS/DASH package of the run.
struct SubtitleInput {
  std::string path;      // SRT, ASS/SSA or WebVTT
  std::string field;     // what messages name: "subtitle_tracks[0]"
  std::string language;  // BCP 47, or ""
  std::string name;      // what players show
};

struct TranscodePlan {
  std::string input;
  // Several sources played one after another (title, main, end screen). When set, `input` is
  // ignored. Every source is scaled and padded to the geometry of `inputs[main_input]`
  // (-1: the longest source), with square pixels, at its frame rate; audio is joined at 48 kHz
  // stereo, and a source without audio contributes silence.
  std::vector<std::string> inputs;
  int main_input = -1;
  std::string audio_input;  // optional: a file whose audio replaces the source's
  std::string subtitles;    // optional: an ASS/SRT file burnt into the picture
  // What an audio-only source is drawn on where an output needs a picture: "#rrggbb" ("":
  // black), "waveform" or "spectrum". File outputs (mp4, webm, preview, mezzanine) always need
  // one; packages when they name a background or subtitles are given; thumbnails and sprites
  // when they name a background.
  std::string background;
  // Subtitle renditions of the HLS/DASH packages (not previews): these files, then the source's
  // own text subtitle streams (a single source only).
  std::vector<SubtitleInput> subtitle_tracks;
  // Interlaced sources (see presets::Deinterlace); an HDR (PQ/HLG) source is tone-mapped to SDR
  // BT.709 for every output that has a picture, except HEVC/AV1 video that keeps it
  // (VideoSettings::keep_hdr: 10-bit, its transfer and mastering metadata; see hdr.h).
  presets::Deinterlace deinterlace = presets::Deinterlace::kAuto;
  std::vector<HlsOutputPlan> hls;
  std::vector<FileOutputPlan> files;
  std::vector<ThumbnailPlan> thumbnails;
  std::vector<SpritePlan> sprites;
  std::vector<WaveformPlan> waveforms;
  std::vector<LoudnessPlan> loudness;
};

struct Progress {
  double fraction = 0;       // 0..1 of the source duration encoded by every output
  double media_seconds = 0;  // source time encoded by the slowest output
  double fps = 0;            // frames per second of the slowest video encoder
  double speed = 0;          // media seconds per wall second
  double elapsed = 0;
  // Work before the encode that the fraction does not count: "analysis" (the per-title pre-pass,
  // per_title.h), with `phase_fraction` of it done; "" while encoding. A long pre-pass reports
  // so that a supervisor watching for stalls sees it move.
  std::string phase;
  double phase_fraction = 0;
};

struct TranscodeOptions {
  std::function<void(const Progress&)> on_progress;  // called from the engine's thread
  double progress_interval = 0.25;                   // seconds between calls
  const std::atomic<bool>* cancel = nullptr;         // set to stop; the run returns kCanceled
  int threads = 0;                                   // CPU budget; 0 = all cores
  // A source whose media lasts longer (seconds) fails the run with kInvalidArgument before
  // anything is encoded: a few kilobytes can declare a day of one picture. 0: no limit.
  double max_source_duration = 0;
  // Called with each output's destination right before it is moved into place, so the caller's
  // containment rules judge the path as it resolves then (a link may have been swapped in while
  // the run encoded); an error fails the run and nothing more is moved.
  std::function<Status(const std::string& destination)> check_destination;
};

struct VariantResult {
  std::string name;      // "720p" or "audio"
  std::string playlist;  // path relative to the HLS directory
  int width = 0, height = 0;
  double frame_rate = 0;
  int64_t bandwidth = 0;          // peak segment bitrate incl. audio, as in the master
  int64_t average_bandwidth = 0;  // incl. audio
  std::string codecs;
  int segments = 0;
  // "quality": true: {"frames", "every", "psnr_y", "psnr", "ssim"}, each figure's mean, min and
  // mean of the worst 1 % of frames (quality.h).
  nlohmann::json quality;
};

struct OutputResult {
  int index = 0;
  std::string kind;      // "hls", "dash", "mp4", "webm", "mkv", "preview", "mezzanine", ...
  std::string path;      // file, or the HLS directory
  std::string master;    // HLS only: path of master.m3u8
  std::string manifest;  // DASH: path of manifest.mpd
  double duration = 0;
  int64_t bytes = 0;
  int width = 0, height = 0;
  std::string video_codec, audio_codec;
  std::vector<VariantResult> variants;  // HLS only
  nlohmann::json
      details;  // kind-specific figures (loudness, thumbnails, sprite, waveform, quality)
  std::vector<std::string> notes;  // e.g. a preview clamped to the source
  // A package: what its renditions are (codecs, colour, audio tracks, captions), for the stitch
  // of a chunked encoding (chunk.h). Not reported.
  nlohmann::json description;
  // Set when this output could not be made (its input lacks what it needs); the other outputs
  // of the run are still produced.
  std::string error;
};

struct TranscodeResult {
  double source_duration = 0;
  // What was done to the source's picture: its HDR transfer ("pq", "hlg"; "" for SDR), which
  // was tone-mapped to SDR BT.709, and its deinterlacing ("frame", "field"; "" for none).
  std::string source_hdr;
  std::string deinterlaced;
  double elapsed = 0;
  std::vector<OutputResult> outputs;
  // A stitch (stitch.h): the seconds of each of its steps, reported as "stitch"; null otherwise.
  nlohmann::json steps;
};

nlohmann::json ToJson(const TranscodeResult& result);

// Runs the plan. Outputs are written under temporary names next to their destinations and moved
// into place only when all of them are complete; on any failure or cancellation nothing is left
// behind and an existing destination is untouched.
Result<TranscodeResult> Transcode(const TranscodePlan& plan, const TranscodeOptions& options);

}  // namespace reel::engine
