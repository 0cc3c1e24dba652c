// Still images: a video frame scaled and encoded as JPEG, PNG or WebP, and RGBA canvases (sprite
// sheets, waveform pictures) encoded the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

struct AVFrame;

namespace reel::engine {

// Encodes `frame` (any pixel format) scaled to width x height. `format`: jpg, png or webp.
Result<std::string> EncodeImage(const AVFrame* frame, int width, int height,
                                const std::string& format);

// An RGBA picture drawn by reel itself.
struct Canvas {
  int width = 0, height = 0;
  std::vector<uint8_t> rgba;  // width*height*4
  Canvas(int w, int h, uint32_t fill_rgba);
  void Set(int x, int y, uint32_t rgba_value);
  // Copies `frame` scaled to w x h at (x, y).
  Status Blit(const AVFrame* frame, int x, int y, int w, int h);
};

Result<std::string> EncodeCanvas(const Canvas& canvas, const std::string& format);

}  // namespace reel::engine
