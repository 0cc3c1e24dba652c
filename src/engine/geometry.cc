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
  scale = std::min(scale, kMaxOutputSide / std::max(source.width, source.height));
  // Round to even, but never past the source's own size (321 lines become 320, not 322); an
  // anamorphic display width (853.33) may round to the pixel above it (854).
  auto even = [](double v, double limit) {
    limit = std::ceil(limit - 1e-6);
    int r = RoundEven(v);
    return r > limit ? std::max(2, static_cast<int>(limit / 2) * 2) : r;
  };
  double width = source.width * scale, height = source.height * scale;
  Size size{even(width, source.width), even(height, source.height)};
  double aspect = source.width / source.height;
  auto bend = [aspect](int w, int h) {  // how far (w, h) is off the aspect ratio, in pixels
    return std::min(std::abs(w - h * aspect), std::abs(h - w / aspect));
  };
  if (bend(size.width, size.height) <= 0.5) return size;
  // Step the long side's partner down: each even height with the even width nearest its exact
  // width, the first pair within half a pixel wins (a few steps at most for real ratios).
  bool wide = aspect >= 1;
  for (int step = 0; step < 16; ++step) {
    int fixed = (wide ? size.height : size.width) - 2 * step;
    if (fixed < 2) break;
    int other = RoundEven(wide ? fixed * aspect : fixed / aspect);
    int limit = wide ? size.width : size.height;
    other = std::min(other, limit);
    Size candidate = wide ? Size{other, fixed} : Size{fixed, other};
    if (bend(candidate.width, candidate.height) <= 0.5) return candidate;
  }
  return size;
}

namespace {

// A rung's box, turned like the source: 720p is 1280x720, or 720x1280 for a portrait source.
Size RungBox(const presets::Rung& rung, const DisplaySize& source) {
  int long_side = RoundEven(rung.lines * 16.0 / 9.0);
  if (source.height > source.width) return {rung.lines, long_side};
  return {long_side, rung.lines};
}

// Whether the source fills the box in either direction; a few pixels short still counts (1280x718
// is 720p), since rounding sizes to even can shave a line or two.
bool Reaches(const DisplaySize& source, Size box) {
  constexpr double kSlack = 4;
  return source.width + kSlack >= box.width || source.height + kSlack >= box.height;
}

// Constant quality under the set's top cap, for a rung of a set whose first rung is crf.
void TakeConstantQuality(const presets::Rung& model, presets::Rung* r) {
  r->crf = model.crf;
  r->maxrate = model.maxrate;
  r->bitrate = 0;
}

// SelectRungs for a ladder whose rungs share one codec.
std::vector<presets::Rung> SelectCodecRungs(const presets::Ladder& ladder,
                                            const DisplaySize& source, double fps) {
  std::vector<presets::Rung> kept;
  const presets::Rung* above = nullptr;  // the smallest rung the source does not reach
  for (const presets::Rung& r : ladder.rungs) {
    Size box = RungBox(r, source);
    if (!Reaches(source, box)) {
      above = &r;
      continue;
    }
    presets::Rung fitted = r;
    fitted.box_width = box.width;
    fitted.box_height = box.height;
    kept.push_back(fitted);
  }
  if (ladder.rungs.empty()) return kept;
  int short_side = static_cast<int>(std::lround(std::min(source.width, source.height)));
  presets::VideoSettings whole;  // the source's own size, even
  Size own_size = FitOutputSize(source, whole);
  // The rung a source gets at its own size takes its set's encoder settings (its first rung's).
  const presets::Rung& model = ladder.rungs.front();
  presets::Rung own;
  own.codec = model.codec;
  own.speed = model.speed;
  own.profile = model.profile;
  own.fps = model.fps;
  own.keep_hdr = model.keep_hdr;
  own.bit_depth = model.bit_depth;
  own.lines = std::min(own_size.width, own_size.height);
  own.name = std::to_string(own.lines) + "p";
  own.box_width = own_size.width;
  own.box_height = own_size.height;
  if (kept.empty()) {
    const presets::Rung& lowest = ladder.rungs.back();
    double area_ratio = double(short_side) * short_side / (double(lowest.lines) * lowest.lines);
    own.bitrate = std::max<int64_t>(150000, static_cast<int64_t>(lowest.bitrate * area_ratio));
    if (model.crf >= 0) TakeConstantQuality(model, &own);
    return {own};
  }
  // Between two rungs: the top kept rung shows clearly less than the source has (a source a few
  // pixels over a rung is that rung; a rung of its own would add nothing to switch to).
  Size top = FitOutputSize(source, presets::RungVideoSettings(ladder, kept.front()));
  if (!above || double(own_size.width) * own_size.height < 1.1 * top.width * top.height)
    return kept;
  auto pixels = [&](const presets::Rung& r) {
    Size box = RungBox(r, source);
    return double(box.width) * box.height;
  };
  const presets::Rung& below = kept.front();
  double t = (double(own_size.width) * own_size.height - pixels(below)) /
             std::max(1.0, pixels(*above) - pixels(below));
  double bitrate = below.bitrate + std::clamp(t, 0.0, 1.0) * (above->bitrate - below.bitrate);
  // The ladder's bitrates are for about 30 fps; motion costs bits less than linearly.
  if (fps > 0) bitrate *= std::sqrt(std::clamp(fps, 10.0, 60.0) / 30.0);
  int64_t floor = below.bitrate + below.bitrate / 20;  // more picture is never fewer bits
  own.bitrate = std::clamp(static_cast<int64_t>(bitrate), floor, std::max(floor, above->bitrate));
  if (model.crf >= 0) TakeConstantQuality(model, &own);
  kept.insert(kept.begin(), own);
  return kept;
}

}  // namespace

std::vector<presets::Rung> SelectRungs(const presets::Ladder& ladder, const DisplaySize& source,
                                       double fps) {
  // Each codec's rungs are a set of their own (a player switches within the codec it decodes),
  // selected as one ladder; the sets follow each other in the order their codecs first appear.
  std::vector<presets::VideoCodec> codecs;
  for (const presets::Rung& r : ladder.rungs)
    if (std::find(codecs.begin(), codecs.end(), r.codec) == codecs.end()) codecs.push_back(r.codec);
  std::vector<presets::Rung> all;
  for (presets::VideoCodec codec : codecs) {
    presets::Ladder one = ladder;
    one.rungs.clear();
    for (const presets::Rung& r : ladder.rungs)
      if (r.codec == codec) one.rungs.push_back(r);
    // The ladder's own rungs keep their settings (SelectCodecRungs gives the set's to the rung
    // at the source's own size): a rung without an fps cap or with a bitrate is not given the
    // first rung's cap or crf.
    for (presets::Rung& r : SelectCodecRungs(one, source, fps)) {
      if (codec != presets::VideoCodec::kH264)
        r.name += std::string("-") + presets::VideoCodecName(codec);
      all.push_back(std::move(r));
    }
  }
  return all;
}

}  // namespace reel::engine
