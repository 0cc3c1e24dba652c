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

// Output size for `video`'s constraints (short side `lines`, box `width`x`height`), keeping the
// display aspect ratio, never larger than the display size, rounded to even numbers (4:2:0).
Size FitOutputSize(const DisplaySize& source, const presets::VideoSettings& video);

// Rungs whose short side does not exceed the source's; if the source is smaller than every rung,
// one rung at the source's own size with the lowest rung's bitrate scaled by area.
std::vector<presets::Rung> SelectRungs(const presets::Ladder& ladder, const DisplaySize& source);

}  // namespace reel::engine
