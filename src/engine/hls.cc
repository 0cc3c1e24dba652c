#include "engine/hls.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "engine/bmff.h"

namespace reel::engine::hls {
namespace fs = std::filesystem;

namespace {

using bmff::Be32;
using bmff::Be64;
using bmff::Box;
using bmff::Boxes;
using bmff::Find;
using bmff::PutBe32;
using bmff::ReadWhole;
using bmff::WriteWhole;

// Where a sidx's first reference is (its referenced_size, then subsegment_duration), or 0.
size_t SidxFirstReference(const std::string& d, const Box& sidx) {
  size_t at = sidx.offset + sidx.header;
  int version = uint8_t(d[at]);
  at += 4 + 4 + 4 + (version == 0 ? 8 : 16) + 2;  // flags, reference_ID, timescale, times
  if (at + 2 + 12 > sidx.offset + sidx.size || (Be32(d, at - 2) & 0xffff) != 1) return 0;
  return at + 2;
}

std::string Extinf(double seconds) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "#EXTINF:%.6f,", seconds);
  return buf;
}

}  // namespace

double MediaPlaylist::Duration() const {
  double d = 0;
  for (const Segment& s : segments) d += s.duration;
  return d;
}

int64_t MediaPlaylist::PeakBitrate() const {
  double peak = 0;
  for (const Segment& s : segments)
    if (s.duration > 0) peak = std::max(peak, s.bytes * 8.0 / s.duration);
  return static_cast<int64_t>(std::ceil(peak));
}

int64_t MediaPlaylist::AverageBitrate() const {
  double duration = Duration();
  if (duration <= 0) return 0;
  int64_t bytes = 0;
  for (const Segment& s : segments) bytes += s.bytes;
  return static_cast<int64_t>(std::ceil(bytes * 8.0 / duration));
}

Result<MediaPlaylist> ReadMediaPlaylist(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot open playlist " + path);
  fs::path dir = fs::path(path).parent_path();
  MediaPlaylist pl;
  std::string line;
  double pending_duration = -1;
  bool first = true;
  auto size_of = [&](const std::string& uri) -> int64_t {
    std::error_code ec;
    auto n = fs::file_size(dir / uri, ec);
    return ec ? -1 : static_cast<int64_t>(n);
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (first) {
      if (line != "#EXTM3U") return InvalidArgument(path + ": not an HLS playlist");
      first = false;
      continue;
    }
    if (line.rfind("#EXTINF:", 0) == 0) {
      pending_duration = std::atof(line.c_str() + 8);
    } else if (line.rfind("#EXT-X-TARGETDURATION:", 0) == 0) {
      pl.target_duration = std::atof(line.c_str() + 22);
    } else if (line.rfind("#EXT-X-MAP:URI=\"", 0) == 0) {
      std::string rest = line.substr(16);
      pl.init_uri = rest.substr(0, rest.find('"'));
      pl.init_bytes = size_of(pl.init_uri);
    } else if (line == "#EXT-X-ENDLIST") {
      pl.ended = true;
    } else if (!line.empty() && line[0] != '#') {
      if (pending_duration < 0) return InvalidArgument(path + ": segment without #EXTINF");
      Segment s{pending_duration, line, size_of(line)};
      if (s.bytes < 0) return NotFound(path + ": segment " + line + " is missing");
      pl.segments.push_back(std::move(s));
      pending_duration = -1;
    }
  }
  if (first) return InvalidArgument(path + ": empty playlist");
  return pl;
}

Result<bool> FoldShortLastSegment(const std::string& playlist_path, double max_seconds) {
  Result<std::string> text = ReadWhole(playlist_path);
  if (!text.ok()) return text.status();
  std::vector<std::string> lines;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  // (EXTINF line, URI line) of each segment.
  std::vector<std::pair<size_t, size_t>> segments;
  for (size_t i = 0; i + 1 < lines.size(); ++i)
    if (lines[i].rfind("#EXTINF:", 0) == 0 && !lines[i + 1].empty() && lines[i + 1][0] != '#')
      segments.push_back({i, i + 1});
  if (segments.size() < 2) return false;
  auto [last_inf, last_uri] = segments.back();
  auto [prev_inf, prev_uri] = segments[segments.size() - 2];
  double last = std::atof(lines[last_inf].c_str() + 8);
  double prev = std::atof(lines[prev_inf].c_str() + 8);
  if (last > max_seconds) return false;

  fs::path dir = fs::path(playlist_path).parent_path();
  Result<std::string> a = ReadWhole(dir / lines[prev_uri]);
  if (!a.ok()) return a.status();
  Result<std::string> b = ReadWhole(dir / lines[last_uri]);
  if (!b.ok()) return b.status();
  std::vector<Box> a_boxes = Boxes(*a, 0, a->size()), b_boxes = Boxes(*b, 0, b->size());
  const Box* moof = Find(b_boxes, "moof");
  if (!moof) return InvalidArgument(lines[last_uri] + ": no movie fragment");
  // Only the fragments move: the segment's styp and sidx describe the file they head.
  std::string tail = b->substr(moof->offset);
  const Box* a_sidx = Find(a_boxes, "sidx");
  const Box* b_sidx = Find(b_boxes, "sidx");
  size_t a_ref = a_sidx ? SidxFirstReference(*a, *a_sidx) : 0;
  size_t b_ref = b_sidx ? SidxFirstReference(*b, *b_sidx) : 0;
  if (a_ref) {
    // One subsegment may hold several fragments: the reference now spans both.
    PutBe32(*a, a_ref,
            (Be32(*a, a_ref) & 0x80000000u) |
                ((Be32(*a, a_ref) & 0x7fffffffu) + uint32_t(tail.size())));
    if (b_ref) PutBe32(*a, a_ref + 4, Be32(*a, a_ref + 4) + Be32(*b, b_ref + 4));
  }
  REEL_RETURN_IF_ERROR(WriteWhole(dir / lines[prev_uri], *a + tail));
  std::error_code ec;
  fs::remove(dir / lines[last_uri], ec);

  lines[prev_inf] = Extinf(prev + last);
  lines.erase(lines.begin() + last_inf, lines.begin() + last_uri + 1);
  std::string out;
  for (std::string& line : lines) {
    if (line.rfind("#EXT-X-TARGETDURATION:", 0) == 0) {
      long target = std::max(std::atol(line.c_str() + 22), std::lround(prev + last));
      line = "#EXT-X-TARGETDURATION:" + std::to_string(target);
    }
    out += line + "\n";
  }
  REEL_RETURN_IF_ERROR(WriteWhole(playlist_path, out));
  return true;
}

namespace {

std::string BoxBytes(const std::string& d, const Box& b) { return d.substr(b.offset, b.size); }

// A segment's top-level moofs, each at its offset in the file.
struct Moof {
  uint64_t offset = 0;
  std::string bytes;
};

// Reads the moofs alone, seeking over the media data between them: a few kilobytes of a
// segment of megabytes. Empty when the file is laid out otherwise (64-bit or open-ended box
// sizes, a box past the end): then read it whole (MoofsOf).
std::optional<std::vector<Moof>> ReadMoofs(const fs::path& path, uint64_t* file_size) {
  std::error_code ec;
  *file_size = fs::file_size(path, ec);
  std::ifstream f(path, std::ios::binary);
  if (ec || !f) return std::nullopt;
  std::vector<Moof> moofs;
  for (uint64_t at = 0; at < *file_size;) {
    char head[8];
    if (*file_size - at < 8 || !f.read(head, 8)) return std::nullopt;
    const std::string h(head, 8);
    const uint64_t size = Be32(h, 0);
    if (size < 8 || size > *file_size - at) return std::nullopt;
    if (h.compare(4, 4, "moof") == 0) {
      Moof m{at, h};
      m.bytes.resize(size);
      if (!f.read(m.bytes.data() + 8, std::streamsize(size - 8))) return std::nullopt;
      moofs.push_back(std::move(m));
    } else if (!f.seekg(std::streamoff(size - 8), std::ios::cur)) {
      return std::nullopt;
    }
    at += size;
  }
  return moofs;
}

// The moofs of a segment, read through ReadMoofs or else whole.
Result<std::vector<Moof>> MoofsOf(const fs::path& path, uint64_t* file_size) {
  if (std::optional<std::vector<Moof>> moofs = ReadMoofs(path, file_size)) return *moofs;
  Result<std::string> d = ReadWhole(path);
  if (!d.ok()) return d.status();
  *file_size = d->size();
  std::vector<Moof> moofs;
  for (const Box& b : Boxes(*d, 0, d->size())) {
    if (b.type != "moof") continue;
    if (b.header != 8) return InvalidArgument(path.string() + ": a moof with a 64-bit size");
    moofs.push_back({b.offset, BoxBytes(*d, b)});
  }
  return moofs;
}

// One movie fragment of a video segment: its moof, where its first sample's data ends, whether
// that sample is a sync sample, and how long its samples last (in the track's timescale, or in
// samples when the fragment states no durations: a constant frame rate then counts the same).
struct Fragment {
  int64_t moof = 0;
  int64_t first_end = 0;
  bool starts_with_sync = false;
  uint64_t duration = 0;
};

std::optional<Fragment> ReadFragment(const Moof& m, uint64_t file_size) {
  const std::string& d = m.bytes;  // offsets below are into the moof, `base` into the file
  const Box moof{"moof", 0, d.size(), 8};
  std::vector<Box> in_moof = Boxes(d, moof.offset + moof.header, moof.offset + moof.size);
  const Box* traf = Find(in_moof, "traf");
  if (!traf) return std::nullopt;
  std::vector<Box> in_traf = Boxes(d, traf->offset + traf->header, traf->offset + traf->size);
  const Box* tfhd = Find(in_traf, "tfhd");
  const Box* trun = Find(in_traf, "trun");
  if (!tfhd || !trun) return std::nullopt;

  size_t at = tfhd->offset + tfhd->header;
  uint32_t tf_flags = Be32(d, at) & 0xffffff;
  at += 8;                   // flags, track_ID
  uint64_t base = m.offset;  // default-base-is-moof, or the first traf's moof
  if (tf_flags & 0x1) base = Be64(d, at), at += 8;
  if (tf_flags & 0x2) at += 4;
  uint32_t default_duration = 0, default_size = 0, default_flags = 0;
  if (tf_flags & 0x8) default_duration = Be32(d, at), at += 4;
  if (tf_flags & 0x10) default_size = Be32(d, at), at += 4;
  if (tf_flags & 0x20) default_flags = Be32(d, at);

  at = trun->offset + trun->header;
  const size_t trun_end = trun->offset + trun->size;
  uint32_t tr_flags = Be32(d, at) & 0xffffff;
  uint32_t count = Be32(d, at + 4);
  at += 8;
  int64_t data_offset = 0;
  if (tr_flags & 0x1) data_offset = int32_t(Be32(d, at)), at += 4;
  std::optional<uint32_t> first_flags;
  if (tr_flags & 0x4) first_flags = Be32(d, at), at += 4;
  Fragment f;
  f.moof = int64_t(m.offset);
  for (uint32_t i = 0; i < count; ++i) {
    if (at > trun_end) return std::nullopt;
    uint32_t duration = default_duration, size = default_size, flags = default_flags;
    if (tr_flags & 0x100) duration = Be32(d, at), at += 4;
    if (tr_flags & 0x200) size = Be32(d, at), at += 4;
    if (tr_flags & 0x400) flags = Be32(d, at), at += 4;
    if (tr_flags & 0x800) at += 4;  // composition offset
    f.duration += duration > 0 ? duration : 1;
    if (i > 0) continue;
    if (first_flags) flags = *first_flags;
    f.starts_with_sync = size > 0 && !(flags & 0x10000);  // sample_is_non_sync_sample
    f.first_end = int64_t(base) + data_offset + size;
  }
  if (count == 0 || f.first_end > int64_t(file_size) || f.first_end <= int64_t(m.offset + d.size()))
    return std::nullopt;
  return f;
}

}  // namespace

Result<std::vector<IFrame>> ReadIFrames(const std::string& playlist_path) {
  Result<MediaPlaylist> pl = ReadMediaPlaylist(playlist_path);
  if (!pl.ok()) return pl.status();
  fs::path dir = fs::path(playlist_path).parent_path();
  std::vector<IFrame> frames;
  for (const Segment& seg : pl->segments) {
    uint64_t file_size = 0;
    Result<std::vector<Moof>> moofs = MoofsOf(dir / seg.uri, &file_size);
    if (!moofs.ok()) return moofs.status();
    Status bad = InvalidArgument(seg.uri + ": not movie fragments that start with a keyframe");
    // A segment holds a fragment per keyframe (see MuxStage::OpenHls): each is an I-frame,
    // lasting until the next one.
    std::vector<Fragment> fragments;
    uint64_t total = 0;
    for (const Moof& m : *moofs) {
      std::optional<Fragment> f = ReadFragment(m, file_size);
      if (!f) return bad;
      total += f->duration;
      fragments.push_back(*f);
    }
    if (fragments.empty() || (frames.empty() && !fragments[0].starts_with_sync)) return bad;
    // The segment's EXTINF is what players trust; the fragments share it as their samples do.
    for (const Fragment& f : fragments) {
      double seconds = seg.duration * double(f.duration) / double(total);
      if (f.starts_with_sync)
        frames.push_back({seg.uri, seconds, f.moof, f.first_end - f.moof});
      else
        frames.back().duration += seconds;
    }
  }
  return frames;
}

namespace {

std::string MakeBox(const char* type, const std::string& payload) {
  std::string b(8, '\0');
  PutBe32(b, 0, uint32_t(payload.size() + 8));
  b.replace(4, 4, type, 4);
  return b + payload;
}

// The samples of a moof of one traf (tfhd, tfdt, trun) whose data follows it: what SplitFragment
// cuts by. Offsets are into the string the moof was read from.
struct MoofSamples {
  Box tfhd, tfdt;
  uint32_t tr_head = 0, count = 0;
  int64_t data_offset = 0;
  std::optional<uint32_t> first_flags;
  size_t entries = 0, entry = 0;  // where the trun's sample entries start, and each one's size
  std::vector<uint32_t> durations, sizes, flags;
  std::vector<uint32_t> starts;  // the sync samples (and the first): where fragments would begin
};

// Empty when the moof is laid out otherwise (then it is left as it is).
std::optional<MoofSamples> ReadMoofSamples(const std::string& d, const Box& moof) {
  std::vector<Box> in_moof = Boxes(d, moof.offset + moof.header, moof.offset + moof.size);
  if (in_moof.size() != 2 || in_moof[0].type != "mfhd" || in_moof[1].type != "traf")
    return std::nullopt;
  const Box& traf = in_moof[1];
  std::vector<Box> in_traf = Boxes(d, traf.offset + traf.header, traf.offset + traf.size);
  if (in_traf.size() != 3 || in_traf[0].type != "tfhd" || in_traf[1].type != "tfdt" ||
      in_traf[2].type != "trun")
    return std::nullopt;
  MoofSamples m;
  m.tfhd = in_traf[0];
  m.tfdt = in_traf[1];
  const Box& trun = in_traf[2];
  size_t at = m.tfhd.offset + m.tfhd.header;
  uint32_t tf_flags = Be32(d, at) & 0xffffff;
  if (tf_flags & 0x1) return std::nullopt;  // an explicit base offset: not placed from the moof
  at += 8;
  if (tf_flags & 0x2) at += 4;
  uint32_t default_duration = 0, default_flags = 0;
  if (tf_flags & 0x8) default_duration = Be32(d, at), at += 4;
  if (tf_flags & 0x10) at += 4;
  if (tf_flags & 0x20) default_flags = Be32(d, at);

  at = trun.offset + trun.header;
  m.tr_head = Be32(d, at);
  const uint32_t tr_flags = m.tr_head & 0xffffff;
  m.count = Be32(d, at + 4);
  if (!(tr_flags & 0x1) || !(tr_flags & 0x200)) return std::nullopt;  // sizes, offset needed
  at += 8;
  m.data_offset = int32_t(Be32(d, at));
  at += 4;
  if (tr_flags & 0x4) m.first_flags = Be32(d, at), at += 4;
  m.entry = 4 * size_t(((tr_flags >> 8) & 1) + ((tr_flags >> 9) & 1) + ((tr_flags >> 10) & 1) +
                       ((tr_flags >> 11) & 1));
  m.entries = at;
  if (m.entries + m.entry * m.count > trun.offset + trun.size) return std::nullopt;
  for (uint32_t i = 0; i < m.count; ++i, at += m.entry) {
    size_t e = at;
    uint32_t duration = default_duration, f = default_flags;
    if (tr_flags & 0x100) duration = Be32(d, e), e += 4;
    m.sizes.push_back(Be32(d, e)), e += 4;
    if (tr_flags & 0x400) f = Be32(d, e);
    if (i == 0 && m.first_flags) f = *m.first_flags;
    m.durations.push_back(duration);
    m.flags.push_back(f);
  }
  m.starts = {0};
  for (uint32_t i = 1; i < m.count; ++i)
    if (!(m.flags[i] & 0x10000)) m.starts.push_back(i);
  return m;
}

// A moof (of one traf: tfhd, tfdt, trun) and the mdat after it, cut into one fragment per sync
// sample; "" when it has one already or is laid out otherwise (then it is left as it is).
// `sequence` numbers the fragments written.
std::string SplitFragment(const std::string& d, const Box& moof, const Box& mdat,
                          uint32_t* sequence) {
  std::optional<MoofSamples> m = ReadMoofSamples(d, moof);
  if (!m) return "";
  const Box &tfhd = m->tfhd, &tfdt = m->tfdt;
  const uint32_t tr_head = m->tr_head, count = m->count;
  const std::optional<uint32_t>& first_flags = m->first_flags;
  const std::vector<uint32_t>&durations = m->durations, &sizes = m->sizes, &flags = m->flags;
  const std::vector<uint32_t>& starts = m->starts;
  const size_t entries = m->entries, entry = m->entry;
  uint64_t data = 0;
  for (uint32_t s : sizes) data += s;
  // The samples fill the mdat, in order, from its start.
  if (starts.size() < 2 || int64_t(moof.offset) + m->data_offset != int64_t(mdat.offset + 8) ||
      mdat.header != 8 || data != mdat.size - 8)
    return "";

  int tfdt_version = uint8_t(d[tfdt.offset + tfdt.header]);
  uint64_t decode_time = tfdt_version == 1 ? Be64(d, tfdt.offset + tfdt.header + 4)
                                           : Be32(d, tfdt.offset + tfdt.header + 4);
  std::string out;
  size_t sample_data = mdat.offset + 8;
  for (size_t k = 0; k < starts.size(); ++k) {
    uint32_t a = starts[k], b = k + 1 < starts.size() ? starts[k + 1] : count;
    std::string mfhd(4, '\0'), seq(4, '\0'), time(8, '\0'), head(8, '\0');
    PutBe32(seq, 0, (*sequence)++);
    PutBe32(time, 0, uint32_t(decode_time >> 32));
    PutBe32(time, 4, uint32_t(decode_time));
    std::string new_tfdt = MakeBox("tfdt", std::string(1, char(1)) + std::string(3, '\0') + time);
    PutBe32(head, 0, tr_head);
    PutBe32(head, 4, b - a);
    std::string rest(4, '\0');  // data offset, filled in below
    if (first_flags) {
      std::string f(4, '\0');
      PutBe32(f, 0, a == 0 ? *first_flags : flags[a]);
      rest += f;
    }
    std::string new_trun =
        MakeBox("trun", head + rest + d.substr(entries + entry * a, entry * (b - a)));
    std::string new_moof =
        MakeBox("moof", MakeBox("mfhd", mfhd + seq) +
                            MakeBox("traf", BoxBytes(d, tfhd) + new_tfdt + new_trun));
    // The data offset sits after the moof, mfhd, traf, tfhd and tfdt and the trun's head.
    size_t offset_at = 8 + 16 + 8 + tfhd.size + new_tfdt.size() + 8 + 8;
    uint64_t bytes = 0;
    for (uint32_t i = a; i < b; ++i) bytes += sizes[i], decode_time += durations[i];
    PutBe32(new_moof, offset_at, uint32_t(new_moof.size() + 8));
    out += new_moof + MakeBox("mdat", d.substr(sample_data, bytes));
    sample_data += bytes;
  }
  return out;
}

}  // namespace

namespace {

// Whether the segment at `path` is split and numbered already: every moof one fragment per
// keyframe (no sync sample after its first) and numbered from `*sequence` on, which it then
// passes. Reads the moofs only, skipping the media data: a stitch of chunks that split their own
// segments (numbered from their place in the package) reads a few kilobytes per segment instead
// of rewriting the package. Anything unexpected answers false: the caller reads it whole.
bool AlreadySplit(const fs::path& path, uint32_t* sequence) {
  uint64_t file_size = 0;
  std::optional<std::vector<Moof>> moofs = ReadMoofs(path, &file_size);
  if (!moofs) return false;
  uint32_t next = *sequence;
  for (const Moof& m : *moofs) {
    if (m.bytes.size() < 24 || m.bytes.compare(12, 4, "mfhd") != 0 || Be32(m.bytes, 20) != next)
      return false;
    std::optional<MoofSamples> samples = ReadMoofSamples(m.bytes, Box{"moof", 0, m.bytes.size()});
    if (samples && samples->starts.size() > 1) return false;  // a keyframe inside: to be cut
    ++next;
  }
  *sequence = next;
  return true;
}

}  // namespace

Result<int> SplitFragmentsAtKeyframes(const std::string& playlist_path, uint32_t first_sequence) {
  uint32_t sequence = first_sequence;  // fragments are numbered in order over the rendition
  return SplitFragmentsFrom(playlist_path, 0, &sequence);
}

Result<int> SplitFragmentsFrom(const std::string& playlist_path, size_t first_segment,
                               uint32_t* next_fragment) {
  Result<MediaPlaylist> pl = ReadMediaPlaylist(playlist_path);
  if (!pl.ok()) return pl.status();
  fs::path dir = fs::path(playlist_path).parent_path();
  uint32_t& sequence = *next_fragment;
  int added = 0;
  for (size_t at = first_segment; at < pl->segments.size(); ++at) {
    const Segment& seg = pl->segments[at];
    if (AlreadySplit(dir / seg.uri, &sequence)) continue;
    Result<std::string> d = ReadWhole(dir / seg.uri);
    if (!d.ok()) return d.status();
    std::vector<Box> top = Boxes(*d, 0, d->size());
    std::string out;
    size_t sidx_at = std::string::npos;  // in `out`: the sidx whose fragment comes next
    for (size_t i = 0; i < top.size(); ++i) {
      const Box& b = top[i];
      if (b.type == "sidx") sidx_at = out.size();
      uint32_t first = sequence;
      std::string split;
      if (b.type == "moof" && i + 1 < top.size() && top[i + 1].type == "mdat")
        split = SplitFragment(*d, b, top[i + 1], &sequence);
      if (split.empty()) {
        std::string copy = BoxBytes(*d, b);
        // A moof left whole keeps its place in the numbering (its mfhd comes first).
        if (b.type == "moof" && copy.size() >= 24 && copy.compare(12, 4, "mfhd") == 0)
          PutBe32(copy, 20, sequence++);
        if (b.type == "moof") sidx_at = std::string::npos;
        out += copy;
        continue;
      }
      added += int(sequence - first) - 1;
      // The sidx's one reference now spans the fragments the first became.
      int64_t delta = int64_t(split.size()) - int64_t(b.size + top[i + 1].size);
      if (sidx_at != std::string::npos) {
        Box sidx{"sidx", sidx_at, Be32(out, sidx_at), 8};
        if (size_t ref = SidxFirstReference(out, sidx))
          PutBe32(out, ref, uint32_t(int64_t(Be32(out, ref)) + delta));
        sidx_at = std::string::npos;
      }
      out += split;
      ++i;  // the mdat went with its moof
    }
    // Nothing after the last box that fits is dropped: such a file is left as it is.
    size_t read = top.empty() ? 0 : top.back().offset + top.back().size;
    if (read == d->size() && out != *d) REEL_RETURN_IF_ERROR(WriteWhole(dir / seg.uri, out));
  }
  return added;
}

std::string IFramePlaylist(const std::vector<IFrame>& frames, const std::string& init_uri) {
  long target = 1;
  for (const IFrame& f : frames) target = std::max(target, std::lround(f.duration));
  std::ostringstream out;
  out << "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:" << target
      << "\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-I-FRAMES-ONLY\n"
      << "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"" << init_uri << "\"\n";
  for (const IFrame& f : frames)
    out << Extinf(f.duration) << "\n#EXT-X-BYTERANGE:" << f.length << "@" << f.offset << "\n"
        << f.uri << "\n";
  out << "#EXT-X-ENDLIST\n";
  return out.str();
}

int64_t IFramePeakBitrate(const std::vector<IFrame>& frames) {
  double peak = 0;
  for (const IFrame& f : frames)
    if (f.duration > 0) peak = std::max(peak, f.length * 8.0 / f.duration);
  return static_cast<int64_t>(std::ceil(peak));
}

std::string H264CodecString(const uint8_t* data, int size) {
  const uint8_t* sps = nullptr;
  if (size >= 4 && data[0] == 1) {
    sps = data + 1;  // avcC: profile, compatibility, level follow the version byte
  } else {
    for (int i = 0; i + 4 < size; ++i) {
      bool start = data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1;
      if (start && (data[i + 3] & 0x1f) == 7 && i + 6 < size) {
        sps = data + i + 4;
        break;
      }
    }
  }
  if (!sps) return "avc1";
  char buf[16];
  std::snprintf(buf, sizeof(buf), "avc1.%02X%02X%02X", sps[0], sps[1], sps[2]);
  return buf;
}

std::string MasterPlaylist(const std::vector<VariantEntry>& variants, const AudioEntry* audio,
                           const std::vector<IFrameEntry>& iframes) {
  return MasterPlaylist(
      variants, audio ? std::vector<AudioEntry>{*audio} : std::vector<AudioEntry>{}, iframes);
}

std::string MasterPlaylist(const std::vector<VariantEntry>& variants,
                           const std::vector<AudioEntry>& audio,
                           const std::vector<IFrameEntry>& iframes) {
  std::ostringstream out;
  out << "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n";
  // A player plays the DEFAULT rendition unless the viewer's language picks an AUTOSELECT one:
  // exactly one is DEFAULT, and Apple requires AUTOSELECT on it.
  size_t chosen = 0;
  for (size_t i = 0; i < audio.size(); ++i)
    if (audio[i].is_default) {
      chosen = i;
      break;
    }
  for (size_t i = 0; i < audio.size(); ++i) {
    const AudioEntry& a = audio[i];
    std::string name = !a.name.empty()       ? a.name
                       : audio.size() == 1   ? "default"
                       : !a.language.empty() ? a.language
                                             : "Audio " + std::to_string(i + 1);
    bool is_default = i == chosen;
    out << "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"" << name << "\",";
    if (!a.language.empty()) out << "LANGUAGE=\"" << a.language << "\",";
    out << "DEFAULT=" << (is_default ? "YES" : "NO")
        << ",AUTOSELECT=" << (is_default || !a.language.empty() ? "YES" : "NO") << ",CHANNELS=\""
        << a.channels << "\",URI=\"" << a.uri << "\"\n";
  }
  for (const VariantEntry& v : variants) {
    out << "#EXT-X-STREAM-INF:BANDWIDTH=" << v.bandwidth
        << ",AVERAGE-BANDWIDTH=" << v.average_bandwidth;
    if (v.width > 0) out << ",RESOLUTION=" << v.width << "x" << v.height;
    if (v.frame_rate > 0) {
      char rate[32];
      std::snprintf(rate, sizeof(rate), "%.3f", v.frame_rate);
      out << ",FRAME-RATE=" << rate;
    }
    out << ",CODECS=\"" << v.codecs << "\"";
    if (!v.video_range.empty()) out << ",VIDEO-RANGE=" << v.video_range;
    if (v.uses_audio_group) out << ",AUDIO=\"audio\"";
    out << "\n" << v.uri << "\n";
  }
  for (const IFrameEntry& i : iframes)
    out << "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=" << i.bandwidth << ",RESOLUTION=" << i.width << "x"
        << i.height << ",CODECS=\"" << i.codecs << "\""
        << (i.video_range.empty() ? "" : ",VIDEO-RANGE=" + i.video_range) << ",URI=\"" << i.uri
        << "\"\n";
  return out.str();
}

std::string WithTextRenditions(const std::string& master,
                               const std::vector<SubtitleEntry>& subtitles, Captions captions) {
  std::string media;
  for (const SubtitleEntry& s : subtitles) {
    media += "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"" + s.name + "\",";
    if (!s.language.empty()) media += "LANGUAGE=\"" + s.language + "\",";
    media += "DEFAULT=NO,AUTOSELECT=" + std::string(s.language.empty() ? "NO" : "YES") +
             ",FORCED=NO,URI=\"" + s.uri + "\"\n";
  }
  if (captions == Captions::kInStream)
    media +=
        "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"CC1\",DEFAULT=NO,"
        "AUTOSELECT=YES,INSTREAM-ID=\"CC1\"\n";
  std::string attributes;
  if (!subtitles.empty()) attributes += ",SUBTITLES=\"subs\"";
  std::istringstream in(master);
  std::string out, line;
  bool placed = false;
  while (std::getline(in, line)) {
    if (line.rfind("#EXT-X-STREAM-INF:", 0) == 0) {
      if (!placed) out += media;
      placed = true;
      line += attributes;
      // Only x264 writes the source's captions back (a53cc); HEVC and AV1 variants carry none.
      bool h264 = line.find("CODECS=\"avc1.") != std::string::npos;
      if (captions == Captions::kInStream)
        line += h264 ? ",CLOSED-CAPTIONS=\"cc\"" : ",CLOSED-CAPTIONS=NONE";
      if (captions == Captions::kNone) line += ",CLOSED-CAPTIONS=NONE";
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace reel::engine::hls
