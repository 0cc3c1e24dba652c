// ISO BMFF (MP4) boxes read from, and rewritten in, a whole file held in memory: the fMP4 init
// and media segments the hls muxer writes are a few MB at most. Shared by the rewrites of the
// segments after muxing (hls.cc: fragments cut at keyframes; hdr_boxes.cc: HDR boxes in init
// segments). Internal to the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace reel::engine::bmff {

struct Box {
  std::string type;
  size_t offset = 0, size = 0, header = 8;
};

uint32_t Be32(const std::string& d, size_t at);  // 0 past the end
uint64_t Be64(const std::string& d, size_t at);
void PutBe32(std::string& d, size_t at, uint32_t v);

// The boxes between `begin` and `end`; stops at the first that does not fit.
std::vector<Box> Boxes(const std::string& d, size_t begin, size_t end);
// The children of `parent` (after its header and `skip` bytes of its own fields).
std::vector<Box> Children(const std::string& d, const Box& parent, size_t skip = 0);
const Box* Find(const std::vector<Box>& boxes, const char* type);

Result<std::string> ReadWhole(const std::filesystem::path& path);
// Replaces the file at `path` with `data` (written beside it, then renamed over it).
Status WriteWhole(const std::filesystem::path& path, const std::string& data);

}  // namespace reel::engine::bmff
