#include "engine/codec_strings.h"

#include <cstdio>
#include <vector>

#include "engine/hls.h"

namespace reel::engine {
namespace {

// Reads bits most significant first; past the end it reads zeros and says so.
class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint32_t Bits(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      size_t byte = pos_ / 8;
      int bit = byte < size_ ? (data_[byte] >> (7 - pos_ % 8)) & 1 : 0;
      overrun_ |= byte >= size_;
      v = (v << 1) | static_cast<uint32_t>(bit);
      ++pos_;
    }
    return v;
  }
  // AV1 uvlc(): leading zeros, then that many bits.
  uint32_t Uvlc() {
    int zeros = 0;
    while (!Bits(1) && zeros < 32 && !overrun_) ++zeros;
    return zeros >= 32 ? UINT32_MAX : Bits(zeros) + ((1u << zeros) - 1);
  }
  bool overrun() const { return overrun_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  bool overrun_ = false;
};

// An HEVC NAL unit's payload without its emulation-prevention bytes (00 00 03).
std::vector<uint8_t> Unescape(const uint8_t* p, size_t n) {
  std::vector<uint8_t> out;
  int zeros = 0;
  for (size_t i = 0; i < n; ++i) {
    if (zeros >= 2 && p[i] == 3) {
      zeros = 0;
      continue;
    }
    zeros = p[i] == 0 ? zeros + 1 : 0;
    out.push_back(p[i]);
  }
  return out;
}

// profile_tier_level's general part (12 bytes from the profile byte) as a codec string.
std::string HevcFromPtl(const uint8_t* ptl) {
  int space = ptl[0] >> 6, tier = (ptl[0] >> 5) & 1, idc = ptl[0] & 0x1f;
  uint32_t compat =
      (uint32_t(ptl[1]) << 24) | (uint32_t(ptl[2]) << 16) | (uint32_t(ptl[3]) << 8) | ptl[4];
  uint32_t reversed = 0;  // the flags are written in reverse bit order
  for (int i = 0; i < 32; ++i) reversed |= ((compat >> i) & 1u) << (31 - i);
  char buf[96];
  int n = std::snprintf(buf, sizeof(buf), "hvc1.%s%d.%X.%c%d",
                        space == 0   ? ""
                        : space == 1 ? "A"
                        : space == 2 ? "B"
                                     : "C",
                        idc, reversed, tier ? 'H' : 'L', ptl[11]);
  int last = 5;  // constraint bytes, trailing zero bytes left out
  while (last >= 0 && ptl[5 + last] == 0) --last;
  for (int i = 0; i <= last && n < int(sizeof(buf)) - 4; ++i)
    n += std::snprintf(buf + n, sizeof(buf) - n, ".%X", ptl[5 + i]);
  return buf;
}

}  // namespace

std::string HevcCodecString(const uint8_t* data, int size) {
  if (!data || size < 13) return "hvc1";
  if (data[0] == 1) return HevcFromPtl(data + 1);  // hvcC: the profile byte follows the version
  for (int i = 0; i + 5 < size; ++i) {
    bool start = data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1;
    if (!start || ((data[i + 3] >> 1) & 0x3f) != 33) continue;  // 33: SPS
    int end = i + 3;
    while (end + 2 < size && !(data[end] == 0 && data[end + 1] == 0 && data[end + 2] <= 1)) ++end;
    if (end + 2 >= size) end = size;
    // After the 2-byte NAL header: vps id, sub-layers and nesting in one byte, then the PTL.
    std::vector<uint8_t> sps = Unescape(data + i + 5, static_cast<size_t>(end - i - 5));
    if (sps.size() < 13) return "hvc1";
    return HevcFromPtl(sps.data() + 1);
  }
  return "hvc1";
}

std::string Av1CodecString(const uint8_t* data, int size) {
  if (!data || size < 4) return "av01";
  int profile = 0, level = 0, tier = 0, depth = 8;
  if (data[0] == 0x81) {  // av1C: marker and version, then the fields this string needs
    profile = data[1] >> 5;
    level = data[1] & 0x1f;
    tier = data[2] >> 7;
    bool high = (data[2] >> 6) & 1, twelve = (data[2] >> 5) & 1;
    depth = twelve ? 12 : high ? 10 : 8;
  } else {
    // OBUs: find the sequence header (type 1) and read it up to color_config's depth.
    const uint8_t* seq = nullptr;
    size_t seq_size = 0;
    for (int i = 0; i < size && !seq;) {
      int type = (data[i] >> 3) & 0xf;
      bool extension = (data[i] >> 2) & 1, has_size = (data[i] >> 1) & 1;
      int at = i + 1 + (extension ? 1 : 0);
      uint64_t length = 0;
      if (has_size) {
        for (int b = 0; b < 8 && at < size; ++b, ++at) {
          length |= uint64_t(data[at] & 0x7f) << (7 * b);
          if (!(data[at] & 0x80)) {
            ++at;
            break;
          }
        }
      } else {
        length = static_cast<uint64_t>(size - at);
      }
      if (at > size || length > uint64_t(size - at)) return "av01";
      if (type == 1) {
        seq = data + at;
        seq_size = length;
      }
      i = at + static_cast<int>(length);
    }
    if (!seq) return "av01";
    BitReader r(seq, seq_size);
    profile = static_cast<int>(r.Bits(3));
    r.Bits(1);  // still_picture
    bool reduced = r.Bits(1);
    bool decoder_model = false;
    int delay_bits = 0;
    if (reduced) {
      level = static_cast<int>(r.Bits(5));
    } else {
      if (r.Bits(1)) {  // timing_info_present_flag
        r.Bits(32);
        r.Bits(32);
        if (r.Bits(1)) r.Uvlc();  // equal_picture_interval
        decoder_model = r.Bits(1);
        if (decoder_model) {
          delay_bits = static_cast<int>(r.Bits(5)) + 1;
          r.Bits(32);
          r.Bits(10);  // removal time and presentation time lengths
        }
      }
      bool display_delay = r.Bits(1);
      int points = static_cast<int>(r.Bits(5)) + 1;
      for (int op = 0; op < points; ++op) {
        r.Bits(12);  // operating_point_idc
        int idx = static_cast<int>(r.Bits(5));
        int op_tier = idx > 7 ? static_cast<int>(r.Bits(1)) : 0;
        if (op == 0) level = idx, tier = op_tier;
        if (decoder_model && r.Bits(1)) {
          r.Bits(delay_bits);
          r.Bits(delay_bits);
          r.Bits(1);
        }
        if (display_delay && r.Bits(1)) r.Bits(4);
      }
    }
    int width_bits = static_cast<int>(r.Bits(4)) + 1, height_bits = static_cast<int>(r.Bits(4)) + 1;
    r.Bits(width_bits);
    r.Bits(height_bits);
    if (!reduced && r.Bits(1)) r.Bits(7);  // frame ids: delta and additional lengths
    r.Bits(3);                             // 128x128 superblocks, filter intra, intra edge
    if (!reduced) {
      r.Bits(4);  // interintra, masked compound, warped motion, dual filter
      bool order_hint = r.Bits(1);
      if (order_hint) r.Bits(2);  // jnt_comp, ref_frame_mvs
      int screen_content = r.Bits(1) ? 2 : static_cast<int>(r.Bits(1));
      if (screen_content > 0 && !r.Bits(1)) r.Bits(1);  // integer mv
      if (order_hint) r.Bits(3);
    }
    r.Bits(3);  // superres, cdef, restoration
    bool high = r.Bits(1);
    depth = profile == 2 && high ? (r.Bits(1) ? 12 : 10) : high ? 10 : 8;
    if (r.overrun()) return "av01";
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "av01.%d.%02d%c.%02d", profile, level, tier ? 'H' : 'M', depth);
  return buf;
}

std::string CodecString(const AVCodecContext* enc) {
  switch (enc->codec_id) {
    case AV_CODEC_ID_H264:
      return hls::H264CodecString(enc->extradata, enc->extradata_size);
    case AV_CODEC_ID_HEVC:
      return HevcCodecString(enc->extradata, enc->extradata_size);
    case AV_CODEC_ID_AV1:
      return Av1CodecString(enc->extradata, enc->extradata_size);
    case AV_CODEC_ID_AAC:
      return "mp4a.40.2";
    case AV_CODEC_ID_OPUS:
      return "opus";
    default:
      return avcodec_get_name(enc->codec_id);
  }
}

}  // namespace reel::engine
