#include "engine/bmff.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/staging.h"

namespace reel::engine::bmff {

uint32_t Be32(const std::string& d, size_t at) {
  if (at + 4 > d.size()) return 0;
  return (uint32_t(uint8_t(d[at])) << 24) | (uint32_t(uint8_t(d[at + 1])) << 16) |
         (uint32_t(uint8_t(d[at + 2])) << 8) | uint32_t(uint8_t(d[at + 3]));
}

uint64_t Be64(const std::string& d, size_t at) {
  return (uint64_t(Be32(d, at)) << 32) | Be32(d, at + 4);
}

void PutBe32(std::string& d, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) d[at + i] = char((v >> (24 - 8 * i)) & 0xff);
}

std::vector<Box> Boxes(const std::string& d, size_t begin, size_t end) {
  std::vector<Box> out;
  size_t at = begin;
  while (at + 8 <= end) {
    Box b{d.substr(at + 4, 4), at, Be32(d, at), 8};
    if (b.size == 1) {
      b.size = static_cast<size_t>(Be64(d, at + 8));
      b.header = 16;
    } else if (b.size == 0) {
      b.size = end - at;
    }
    if (b.size < b.header || at + b.size > end) break;
    out.push_back(b);
    at += b.size;
  }
  return out;
}

std::vector<Box> Children(const std::string& d, const Box& parent, size_t skip) {
  if (parent.header + skip > parent.size) return {};
  return Boxes(d, parent.offset + parent.header + skip, parent.offset + parent.size);
}

const Box* Find(const std::vector<Box>& boxes, const char* type) {
  for (const Box& b : boxes)
    if (b.type == type) return &b;
  return nullptr;
}

Result<std::string> ReadWhole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Status WriteWhole(const std::filesystem::path& path, const std::string& data) {
  std::filesystem::path temp = path.string() + ".part";
  REEL_RETURN_IF_ERROR(WriteStagedFile(temp.string(), data));
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) return Unavailable("cannot replace " + path.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace reel::engine::bmff
