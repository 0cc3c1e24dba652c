// Named encoding presets and adaptive-bitrate ladders, and the bounded parameters a user may
// override. Users never pass encoder arguments; everything an encoder is told comes from here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "presets/outputs.h"

namespace reel::presets {

enum class VideoCodec { kH264, kHevc, kVp9, kFfv1, kAv1 };
enum class AudioCodec { kAac, kOpus, kFlac };
enum class Container { kMp4, kWebm, kMatroska };

const char* VideoCodecName(VideoCodec c);  // "h264", "hevc", "vp9", "ffv1", "av1"
// The codec a user names ("h264", "hevc", "av1", "vp9"); nullopt for any other name.
std::optional<VideoCodec> VideoCodecByName(std::string_view name);
const char* AudioCodecName(AudioCodec c);  // "aac", "opus", "flac"
const char* ContainerName(Container c);    // "mp4", "webm", "mkv"

struct VideoSettings {
  VideoCodec codec = VideoCodec::kH264;
  // Output size. `lines` is the short side (720 for "720p", whatever the orientation); `width`
  // and `height` are a box the picture must fit in. Aspect ratio is always kept and the source
  // is never upscaled. 0 means "no constraint".
  int lines = 0;
  int width = 0;
  int height = 0;
  int64_t bitrate = 0;  // average bits/s; 0 means constant quality (crf)
  int64_t maxrate = 0;  // VBV peak; 0 means none
  int64_t bufsize = 0;
  int crf = -1;    // -1: encoder default for the mode
  double fps = 0;  // 0: the source's rate, capped at kMaxFps
  double gop_seconds = 2;
  // Keyframes exactly every gop and nowhere else, so that renditions of a ladder switch cleanly.
  bool fixed_gop = false;
  // x264/x265 preset name ("ultrafast".."veryslow"), mapped to cpu-used for VP9; for AV1 the
  // SVT-AV1 preset as a number ("4".."12"). DefaultSpeed gives each codec's.
  std::string speed = "veryfast";
  std::string profile;  // empty: the codec's usual one (H.264 high, HEVC main, AV1 main)
  // A window of the source (previews): start and length in seconds; 0 length: all of it.
  double trim_start = 0;
  double trim_duration = 0;
  // Fit the picture inside width x height and pad the rest black (a fixed-size preview).
  bool letterbox = false;
  // Keep the source's pixel format (lossless mezzanine) instead of 8-bit 4:2:0.
  bool keep_pixel_format = false;
  // HEVC and AV1 only (SetPictureDepth). keep_hdr: an HDR (PQ/HLG) source is encoded as it is,
  // 10-bit BT.2020 with its transfer and mastering metadata, instead of tone-mapped to SDR.
  // bit_depth 10: 10-bit 4:2:0 for any source (HEVC Main 10, AV1 Main at 10 bits).
  bool keep_hdr = false;
  int bit_depth = 8;
};

struct AudioSettings {
  AudioCodec codec = AudioCodec::kAac;
  int64_t bitrate = 128000;
  int max_channels = 2;  // 5.1 is downmixed to stereo; mono stays mono
  int sample_rate = 48000;
  double trim_start = 0;  // as VideoSettings
  double trim_duration = 0;
  // Loudness normalisation target in LUFS (two passes: measure, then a gain); 0: off.
  double normalize_lufs = 0;
};

inline constexpr double kMaxFps = 60;

struct Preset {
  std::string name;
  std::string description;
  Container container = Container::kMp4;
  VideoSettings video;
  AudioSettings audio;
};

// One rung of a ladder: a size class and how it is encoded. A rung is data (built in, from a
// presets file or inline in a job), and `bitrate` is the only figure a later step (per-title
// analysis) needs to rewrite: every rate the encoder gets is derived from it in RungVideoSettings.
struct Rung {
  std::string name;  // "720p"; SelectRungs suffixes rungs of codecs other than H.264 ("720p-av1")
  int lines = 0;     // the short side of the rung's 16:9 box (720: 1280x720)
  int64_t bitrate = 0;  // average bits/s; with `crf`, 0 (the cap is `maxrate`)
  VideoCodec codec = VideoCodec::kH264;
  int crf = -1;           // constant quality instead of a bitrate; then `maxrate` is required
  int64_t maxrate = 0;    // 0: 110 % of `bitrate`
  double fps = 0;         // a frame-rate cap; 0: the source's (at most kMaxFps)
  std::string profile;    // empty: the codec's usual one
  std::string speed;      // empty: the ladder's speed for this codec
  bool keep_hdr = false;  // "hdr": "keep" (VideoSettings::keep_hdr)
  int bit_depth = 8;      // 8 or 10 (VideoSettings::bit_depth)
  // The box this rung's picture is fitted into, turned like the source (SelectRungs sets it);
  // 0: the picture's short side is `lines`.
  int box_width = 0;
  int box_height = 0;
};

struct Ladder {
  std::string name;
  std::vector<Rung> rungs;  // highest first
  VideoSettings video;      // shared settings; each rung sets lines and bitrate
  AudioSettings audio;
  double segment_seconds = 6;
  // Per-title: before the encode, sampled windows of the source are probe-encoded and each
  // rung's bitrate is lowered to what reaches `target_psnr` (mean Y-PSNR, dB) (engine/per_title).
  bool per_title = false;
  double target_psnr = 40;
};
inline constexpr double kMinTargetPsnr = 30, kMaxTargetPsnr = 50;

const std::vector<Preset>& AllPresets();
// High-quality intermediates at the source's size and rate: H.264 High at CRF 12 in MP4, or
// lossless FFV1 + FLAC in Matroska.
Preset MezzaninePreset(bool lossless);
// The preview rendition: H.264 letterboxed into the options' frame, AAC 128k, trimmed.
Preset PreviewPreset(const struct PreviewOptions& options);
const Preset* FindPreset(std::string_view name);
// Built-in presets and ladders, then those of the presets file (InstallUserCatalog).
const std::vector<Ladder>& AllLadders();
const Ladder* FindLadder(std::string_view name);
// Replaces the user-defined presets and ladders (from `--presets FILE`). Called once at start,
// before any thread reads the catalogue; a user entry may not reuse a built-in name.
Status InstallUserCatalog(std::vector<Preset> presets, std::vector<Ladder> ladders);

// The speed a codec encodes at when none is named: x264/x265 "veryfast", SVT-AV1 preset "10".
std::string DefaultSpeed(VideoCodec codec);
// Whether `speed` is one the codec takes: x264/x265 ultrafast..veryslow, SVT-AV1 4..12, VP9 the
// x264 names.
bool ValidSpeed(VideoCodec codec, std::string_view speed);
// Whether `profile` is one reel encodes for the codec (H.264 baseline/main/high, HEVC main,
// AV1 main).
bool ValidProfile(VideoCodec codec, std::string_view profile);

// The settings one rung is encoded with: the ladder's shared settings plus the rung's size and
// bitrate, with a VBV cap so no segment overshoots the declared bandwidth by much.
VideoSettings RungVideoSettings(const Ladder& ladder, const Rung& rung);

// Parameters a user may set on top of a preset. Each is bounded (see ApplyOverrides).
struct Overrides {
  std::optional<int64_t> bitrate;
  std::optional<int> crf;
  std::optional<int> width;
  std::optional<int> height;
  std::optional<double> fps;
  std::optional<int64_t> audio_bitrate;
  std::optional<VideoCodec> codec;  // the container must hold it (see ApplyOverrides)
  std::optional<std::string> speed;
  std::optional<std::string> profile;
  std::optional<std::string> hdr;  // "keep" or "tonemap"
  std::optional<int> bit_depth;
  bool empty() const {
    return !bitrate && !crf && !width && !height && !fps && !audio_bitrate && !codec && !speed &&
           !profile && !hdr && !bit_depth;
  }
};

// An error about one named parameter, so that callers can point at it ("outputs[1].crf").
struct FieldError {
  std::string field;
  std::string message;
};

// Checks `hdr` ("keep" or "tonemap") and `bit_depth` (8 or 10) for `codec` and sets them:
// both need HEVC or AV1 (H.264 rungs are always 8-bit SDR: High 10 plays almost nowhere), and
// keeping HDR means 10 bits. The error names "hdr" or "bit_depth".
std::optional<FieldError> SetPictureDepth(VideoCodec codec, const std::optional<std::string>& hdr,
                                          std::optional<int> bit_depth, bool* keep_hdr, int* depth);

// Returns the preset with the overrides applied, or the first parameter that is out of bounds.
std::optional<FieldError> ApplyOverrides(const Overrides& overrides, Preset* preset);

// "2500k", "5M", "800000" or "1.5M" into bits/s.
Result<int64_t> ParseBitrate(std::string_view text);

}  // namespace reel::presets
