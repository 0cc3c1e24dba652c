#include "engine/hls.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace reel::engine::hls {
namespace fs = std::filesystem;

namespace {

// ISO BMFF boxes, read from a whole segment in memory (segments are a few MB at most).
struct Box {
  std::string type;
  size_t offset = 0, size = 0, header = 8;
};

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

// The boxes between `begin` and `end`; stops at the first that does not fit.
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

const Box* Find(const std::vector<Box>& boxes, const char* type) {
  for (const Box& b : boxes)
    if (b.type == type) return &b;
  return nullptr;
}

Result<std::string> ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Status WriteWhole(const fs::path& path, const std::string& data) {
  fs::path temp = path.string() + ".part";
  std::ofstream out(temp, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) return Unavailable("cannot write " + temp.string());
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) return Unavailable("cannot replace " + path.string() + ": " + ec.message());
  return Status::Ok();
}

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

Result<std::vector<IFrame>> ReadIFrames(const std::string& playlist_path) {
  Result<MediaPlaylist> pl = ReadMediaPlaylist(playlist_path);
  if (!pl.ok()) return pl.status();
  fs::path dir = fs::path(playlist_path).parent_path();
  std::vector<IFrame> frames;
  for (const Segment& seg : pl->segments) {
    Result<std::string> d = ReadWhole(dir / seg.uri);
    if (!d.ok()) return d.status();
    Status bad = InvalidArgument(seg.uri + ": not a movie fragment that starts with a keyframe");
    std::vector<Box> top = Boxes(*d, 0, d->size());
    const Box* moof = Find(top, "moof");
    if (!moof) return bad;
    std::vector<Box> in_moof = Boxes(*d, moof->offset + moof->header, moof->offset + moof->size);
    const Box* traf = Find(in_moof, "traf");
    if (!traf) return bad;
    std::vector<Box> in_traf = Boxes(*d, traf->offset + traf->header, traf->offset + traf->size);
    const Box* tfhd = Find(in_traf, "tfhd");
    const Box* trun = Find(in_traf, "trun");
    if (!tfhd || !trun) return bad;

    size_t at = tfhd->offset + tfhd->header;
    uint32_t tf_flags = Be32(*d, at) & 0xffffff;
    at += 8;                       // flags, track_ID
    uint64_t base = moof->offset;  // default-base-is-moof, or the first traf's moof
    if (tf_flags & 0x1) base = Be64(*d, at), at += 8;
    if (tf_flags & 0x2) at += 4;
    if (tf_flags & 0x8) at += 4;
    uint32_t default_size = 0, default_flags = 0;
    if (tf_flags & 0x10) default_size = Be32(*d, at), at += 4;
    if (tf_flags & 0x20) default_flags = Be32(*d, at);

    at = trun->offset + trun->header;
    uint32_t tr_flags = Be32(*d, at) & 0xffffff;
    uint32_t count = Be32(*d, at + 4);
    at += 8;
    int64_t data_offset = 0;
    if (tr_flags & 0x1) data_offset = int32_t(Be32(*d, at)), at += 4;
    uint32_t flags = default_flags;
    if (tr_flags & 0x4) flags = Be32(*d, at), at += 4;
    if (tr_flags & 0x100) at += 4;  // the first sample's duration
    uint32_t size = default_size;
    if (tr_flags & 0x200) size = Be32(*d, at), at += 4;
    if (!(tr_flags & 0x4) && (tr_flags & 0x400)) flags = Be32(*d, at);
    bool sync = !(flags & 0x10000);  // sample_is_non_sync_sample
    int64_t end = int64_t(base) + data_offset + size;
    if (count == 0 || size == 0 || !sync || end > int64_t(d->size()) ||
        end <= int64_t(moof->offset + moof->size))
      return bad;
    frames.push_back({seg.uri, seg.duration, int64_t(moof->offset), end - int64_t(moof->offset)});
  }
  return frames;
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
  std::ostringstream out;
  out << "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n";
  if (audio) {
    out << "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"default\",";
    if (!audio->language.empty()) out << "LANGUAGE=\"" << audio->language << "\",";
    out << "DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"" << audio->channels << "\",URI=\"" << audio->uri
        << "\"\n";
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
