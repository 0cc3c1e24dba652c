#include "engine/geometry.h"

#include <algorithm>
#include <cmath>

namespace reel::engine {
namespace {

int RoundEven(double v) { return std::max(2, static_cast<int>(std::lround(v / 2)) * 2); }

}  // namespace

DisplaySize SourceDisplaySize(int width, int height, int sar_num, int sar_den, int rotation) {
  double sar = (sar_num > 0 && sar_den > 0) ? double(sar_num) / sar_den : 1.0;
  DisplaySize d{width * sar, double(height)};
  if (rotation == 90 || rotation == 270) std::swap(d.width, d.height);
  return d;
}

Size FitOutputSize(const DisplaySize& source, const presets::VideoSettings& video) {
  double scale = 1.0;  // never above 1: no upscaling
  double short_side = std::min(source.width, source.height);
  if (video.lines > 0) scale = std::min(scale, video.lines / short_side);
  if (video.width > 0) scale = std::min(scale, video.width / source.width);
  if (video.height > 0) scale = std::min(scale, video.height / source.height);
  // Round to even, but never past the source's own size (321 lines become 320, not 322).
  auto even = [](double v, double limit) {
    int r = RoundEven(v);
    return r > limit ? std::max(2, static_cast<int>(limit / 2) * 2) : r;
  };
  return {even(source.width * scale, source.width), even(source.height * scale, source.height)};
}

std::vector<presets::Rung> SelectRungs(const presets::Ladder& ladder, const DisplaySize& source) {
  // Tolerate a source a few lines short of a rung (1280x718 is "720p"), since rounding sizes
  // to even can shave a line or two; FitOutputSize still never upscales.
  int short_side = static_cast<int>(std::lround(std::min(source.width, source.height)));
  std::vector<presets::Rung> kept;
  for (const presets::Rung& r : ladder.rungs)
    if (r.lines <= short_side + 4) kept.push_back(r);
  if (!kept.empty() || ladder.rungs.empty()) return kept;
  presets::Rung lowest = ladder.rungs.back();
  double area_ratio = double(short_side) * short_side / (double(lowest.lines) * lowest.lines);
  presets::Rung own;
  own.lines = short_side;
  own.name = std::to_string(RoundEven(short_side)) + "p";
  own.bitrate = std::max<int64_t>(150000, static_cast<int64_t>(lowest.bitrate * area_ratio));
  return {own};
}

}  // namespace reel::engine
