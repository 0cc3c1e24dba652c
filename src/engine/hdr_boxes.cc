// Kept HDR in the packages' init segments (hdr.h): the ISO/IEC 23001-17 mdcv and clli boxes of
// the video sample entry, as movenc writes them in a whole MP4.
#include <algorithm>
#include <cstring>
#include <optional>

#include "engine/bmff.h"
#include "engine/hdr.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/mathematics.h>
}

namespace reel::engine {
namespace {

using bmff::Box;

// A VisualSampleEntry's own fields (reserved, sizes, resolution, compressor name, depth) come
// before its child boxes.
constexpr size_t kVisualSampleEntryFields = 78;

// moov, trak, mdia, minf, stbl, stsd and the sample entry of the first video track, outermost
// first; nullopt when the file has no video track.
std::optional<std::vector<Box>> VideoSampleEntryPath(const std::string& d) {
  std::vector<Box> top = bmff::Boxes(d, 0, d.size());
  const Box* moov = bmff::Find(top, "moov");
  if (!moov) return std::nullopt;
  for (const Box& trak : bmff::Children(d, *moov)) {
    if (trak.type != "trak") continue;
    std::vector<Box> in_trak = bmff::Children(d, trak);
    const Box* mdia = bmff::Find(in_trak, "mdia");
    if (!mdia) continue;
    std::vector<Box> in_mdia = bmff::Children(d, *mdia);
    const Box* hdlr = bmff::Find(in_mdia, "hdlr");
    // handler_type follows the version, the flags and pre_defined.
    if (!hdlr || hdlr->size < hdlr->header + 12 ||
        d.compare(hdlr->offset + hdlr->header + 8, 4, "vide") != 0)
      continue;
    const Box* minf = bmff::Find(in_mdia, "minf");
    if (!minf) continue;
    std::vector<Box> in_minf = bmff::Children(d, *minf);
    const Box* stbl = bmff::Find(in_minf, "stbl");
    if (!stbl) continue;
    std::vector<Box> in_stbl = bmff::Children(d, *stbl);
    const Box* stsd = bmff::Find(in_stbl, "stsd");
    if (!stsd) continue;
    std::vector<Box> entries = bmff::Children(d, *stsd, 8);  // after version, flags and count
    if (entries.empty() || entries[0].size < entries[0].header + kVisualSampleEntryFields) continue;
    return std::vector<Box>{*moov, trak, *mdia, *minf, *stbl, *stsd, entries[0]};
  }
  return std::nullopt;
}

void PutBe16(std::string& d, size_t at, int64_t v) {
  v = std::clamp<int64_t>(v, 0, 0xffff);
  d[at] = char(v >> 8);
  d[at + 1] = char(v & 0xff);
}

// `q` in units of 1/`per_unit` (movenc's rounding).
int64_t Scaled(AVRational q, int per_unit) {
  return q.den ? av_rescale(q.num, per_unit, q.den) : 0;
}

std::string Header(uint32_t size, const char* type) {
  std::string b(size, '\0');
  bmff::PutBe32(b, 0, size);
  std::memcpy(b.data() + 4, type, 4);
  return b;
}

// Chromaticities in 0.00002, luminances in 0.0001 cd/m², the primaries in G, B, R order as in
// HEVC's SEI (FFmpeg keeps them R, G, B).
std::string MdcvBox(const AVMasteringDisplayMetadata& md) {
  std::string b = Header(32, "mdcv");
  size_t at = 8;
  for (int c : {1, 2, 0}) {
    PutBe16(b, at, Scaled(md.display_primaries[c][0], 50000));
    PutBe16(b, at + 2, Scaled(md.display_primaries[c][1], 50000));
    at += 4;
  }
  PutBe16(b, at, Scaled(md.white_point[0], 50000));
  PutBe16(b, at + 2, Scaled(md.white_point[1], 50000));
  auto luminance = [](AVRational q) {
    return uint32_t(std::clamp<int64_t>(Scaled(q, 10000), 0, 0xffffffffLL));
  };
  bmff::PutBe32(b, at + 4, luminance(md.max_luminance));
  bmff::PutBe32(b, at + 8, luminance(md.min_luminance));
  return b;
}

std::string ClliBox(const AVContentLightMetadata& light) {
  std::string b = Header(12, "clli");
  PutBe16(b, 8, light.MaxCLL);
  PutBe16(b, 10, light.MaxFALL);
  return b;
}

}  // namespace

HdrMetadata HdrMetadataOf(const AVCodecContext* enc) {
  HdrMetadata m;
  for (int i = 0; i < enc->nb_coded_side_data; ++i) {
    const AVPacketSideData& sd = enc->coded_side_data[i];
    if (sd.type == AV_PKT_DATA_MASTERING_DISPLAY_METADATA &&
        sd.size >= sizeof(AVMasteringDisplayMetadata))
      m.mastering = *reinterpret_cast<const AVMasteringDisplayMetadata*>(sd.data);
    if (sd.type == AV_PKT_DATA_CONTENT_LIGHT_LEVEL && sd.size >= sizeof(AVContentLightMetadata))
      m.light = *reinterpret_cast<const AVContentLightMetadata*>(sd.data);
  }
  return m;
}

Result<bool> AddHdrBoxes(const std::string& path, const HdrMetadata& m) {
  if (!m.mastering && !m.light) return false;
  Result<std::string> d = bmff::ReadWhole(path);
  if (!d.ok()) return d.status();
  std::optional<std::vector<Box>> boxes = VideoSampleEntryPath(*d);
  if (!boxes) return InvalidArgument(path + ": no video sample entry");
  const Box& entry = boxes->back();
  std::vector<Box> inside = bmff::Children(*d, entry, kVisualSampleEntryFields);
  // clli then mdcv, after the colour, where movenc puts them.
  std::string added;
  if (m.light && !bmff::Find(inside, "clli")) added += ClliBox(*m.light);
  if (m.mastering && !bmff::Find(inside, "mdcv")) added += MdcvBox(*m.mastering);
  if (added.empty()) return false;
  const Box* colr = bmff::Find(inside, "colr");
  const size_t at = colr ? colr->offset + colr->size : entry.offset + entry.size;
  // Every box that holds the sample entry grows by as much (none is after `at`).
  for (const Box& b : *boxes) {
    if (b.header == 16) {
      uint64_t size = b.size + added.size();
      bmff::PutBe32(*d, b.offset + 8, uint32_t(size >> 32));
      bmff::PutBe32(*d, b.offset + 12, uint32_t(size & 0xffffffffu));
    } else if (bmff::Be32(*d, b.offset) != 0) {  // 0: up to the end of the file, still true
      if (b.size + added.size() > 0xffffffffu) return InvalidArgument(path + ": box too large");
      bmff::PutBe32(*d, b.offset, uint32_t(b.size + added.size()));
    }
  }
  d->insert(at, added);
  REEL_RETURN_IF_ERROR(bmff::WriteWhole(path, *d));
  return true;
}

Result<std::string> VideoSampleEntryBox(const std::string& path, const char* type) {
  Result<std::string> d = bmff::ReadWhole(path);
  if (!d.ok()) return d.status();
  std::optional<std::vector<Box>> boxes = VideoSampleEntryPath(*d);
  if (!boxes) return InvalidArgument(path + ": no video sample entry");
  std::vector<Box> inside = bmff::Children(*d, boxes->back(), kVisualSampleEntryFields);
  const Box* b = bmff::Find(inside, type);
  return b ? d->substr(b->offset, b->size) : std::string();
}

}  // namespace reel::engine
