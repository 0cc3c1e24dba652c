// Options of the output kinds beyond renditions (thumbnails, sprites, previews, waveforms) and
// of the source's picture (deinterlacing), shared by the job spec (which validates them) and the
// engine (which produces them).
#pragma once

#include <string>

namespace reel::presets {

// A time in the source: seconds, or a percentage of its duration.
struct TimePoint {
  double value = 10;
  bool percent = true;
  double Seconds(double duration) const { return percent ? duration * value / 100 : value; }
};

struct ThumbnailOptions {
  TimePoint at;   // ignored when count > 1: frames are evenly spaced instead
  int count = 1;  // > 1: the destination is a directory of thumb_0001.<ext> ...
  int width = 0;  // a box the picture fits in (aspect kept, never upscaled); 0: source size
  int height = 0;
  std::string format = "jpg";  // jpg, png, webp
};

struct SpriteOptions {
  double interval = 10;  // seconds between frames
  int columns = 10;
  int tile_width = 160;  // tile height follows the aspect ratio
};

struct PreviewOptions {
  double start = 0;
  double duration = 30;
  int width = 480;  // the frame; the picture is letterboxed into it
  int height = 270;
};

struct WaveformOptions {
  int pixels_per_second = 100;
  int bits = 8;       // 8 or 16
  std::string image;  // optional PNG rendering
  int image_width = 1800;
  int image_height = 280;
};

// One audio track an HLS/DASH package keeps ("audio_tracks"): `stream` counts the source's audio
// streams only (0: its first). `language` (BCP 47) and `name` override what the stream says;
// at most one track is the default.
struct AudioTrackChoice {
  int stream = 0;
  std::string language;
  std::string name;
  bool is_default = false;
};
// Packages keep at most this many audio tracks (every stream of the source when not chosen).
inline constexpr int kMaxAudioTracks = 8;

// Interlaced sources: "auto" deinterlaces a source whose stream says its fields are interlaced
// (its field order), "off" never, "frame" always at the frame rate, "field" always at the field
// rate (one picture per field: twice the frames).
enum class Deinterlace { kAuto, kOff, kFrame, kField };

}  // namespace reel::presets
