#include "engine/hls.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace reel::engine::hls {
namespace fs = std::filesystem;

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

std::string MasterPlaylist(const std::vector<VariantEntry>& variants, const AudioEntry* audio) {
  std::ostringstream out;
  out << "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n";
  if (audio) {
    out << "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"default\",DEFAULT=YES,"
           "AUTOSELECT=YES,CHANNELS=\""
        << audio->channels << "\",URI=\"" << audio->uri << "\"\n";
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
  return out.str();
}

}  // namespace reel::engine::hls
