// Output sizes: which ladder rungs a source gets and how big each rendition is.
// Pure functions, so the rules (never upscale, keep aspect ratio, even sizes) are tested alone.
#pragma once

#include <vector>

#include "presets/presets.h"

namespace reel::engine {

struct Size {
  int width = 0;
  int height = 0;
};

// The size a source is shown at: coded size stretched by the sample aspect ratio, and turned on
// its side when the display rotation is 90 or 270 degrees.
struct DisplaySize {
  double width = 0;
  double height = 0;
};
DisplaySize SourceDisplaySize(int width, int height, int sar_num, int sar_den, int rotation);

// The longest side an output gets: the widest the overrides allow, and within what every
// encoder opens (x264 refuses 24000x240, what a 75:1 sample aspect ratio on 320x240 displays).
inline constexpr int kMaxOutputSide = 7680;

// Output size for `video`'s constraints (short side `lines`, box `width`x`height`), keeping the
// display aspect ratio, never larger than the display size, rounded to even numbers (4:2:0).
// Where rounding both sides to even would bend the aspect ratio by more than half a pixel
// (a 2.4:1 picture 640 wide is 266.67 lines), the size steps down to the nearest even pair that
// keeps it (638x266). Neither side goes past kMaxOutputSide.
Size FitOutputSize(const DisplaySize& source, const presets::VideoSettings& video);

// The rungs a source gets. A rung is a box (16:9 for its `lines`, turned like the source: 1080p
// is 1920x1080, or 1080x1920 for a portrait source) and the picture is fitted into it, so a wide
// film (1920x800) or a 4:3 picture (1440x1080) is 1080p-class. A rung is kept when the source
// reaches its box in either direction (never upscaled). When the source falls between two rungs
// (720x405: under 480p, over 360p), it gets a top rung of its own size, with a bitrate
// interpolated by pixel count from its neighbours, weighed by frame rate (`fps`, 0: unknown) and
// capped by the rung above. A source below every rung gets one rung at its own size.
// A ladder of several codecs is one such set per codec, in the order the codecs first appear;
// rungs of codecs other than H.264 are named with the codec ("720p-hevc", "360p-av1").
std::vector<presets::Rung> SelectRungs(const presets::Ladder& ladder, const DisplaySize& source,
                                       double fps = 0);

}  // namespace reel::engine
