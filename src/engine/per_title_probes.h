// The per-title pre-pass's probes (per_title.h): the sampled windows of the source decoded once
// more and coded, for each rung asked for, at the rung's size through the same filters and
// scaler as the encode, at two constant-quality settings, each probe decoded back and compared
// on luma with what it was given. Internal to the engine.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/per_title.h"

namespace reel::engine {

// A rung's picture as the encode makes it: its size and frame rate after the rung's cap.
struct RungPicture {
  presets::VideoSettings settings;
  VideoFormat format;
  Size picture;
};
RungPicture PictureOf(const PerTitleSource& source, const presets::Ladder& ladder,
                      const presets::Rung& rung);
double PixelsPerSecond(const RungPicture& p);

// What one pass over the windows measured.
struct ProbePass {
  struct Line {
    size_t index = 0;  // into the rungs
    RungCurve curve;
  };
  std::vector<Line> lines;  // one per rung probed
  bool fed = false;         // a picture was decoded in the windows
  int64_t frames = 0;       // frames of the windows
  int64_t held = 0;         // of those, counted as repeats of the frame before (a held picture)
};

// Decodes `windows` windows of `length` seconds spread over the source (the middle one the slope
// window) into the probes of the rungs marked in `probed`. `on_frame` is called after each frame
// of a window (fed or held), for progress.
Result<ProbePass> RunProbePass(const PerTitleSource& source, const presets::Ladder& ladder,
                               const std::vector<presets::Rung>& rungs,
                               const std::vector<bool>& probed, int windows, double length,
                               int threads, const std::atomic<bool>* cancel,
                               const std::function<void()>& on_frame = {});

}  // namespace reel::engine
