#include "testing/package_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "testing/media_fixtures.h"

namespace reel::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Segment {
  double duration = 0;
  std::string uri;
  int64_t offset = 0, length = -1;  // EXT-X-BYTERANGE, or the whole file
};

struct Playlist {
  std::string path;
  int version = 0;
  double target = 0;
  bool vod = false, ended = false, iframes_only = false;
  std::string map_uri;
  std::vector<Segment> segments;
  double Duration() const {
    double d = 0;
    for (const Segment& s : segments) d += s.duration;
    return d;
  }
};

// KEY=VALUE,KEY="a,b" as a map (quotes removed).
std::map<std::string, std::string> Attributes(const std::string& list) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < list.size()) {
    size_t eq = list.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = list.substr(i, eq - i), value;
    size_t j = eq + 1;
    if (j < list.size() && list[j] == '"') {
      size_t close = list.find('"', j + 1);
      value = list.substr(j + 1, close - j - 1);
      j = close == std::string::npos ? list.size() : close + 1;
    } else {
      size_t comma = list.find(',', j);
      value = list.substr(j, comma == std::string::npos ? std::string::npos : comma - j);
      j = comma == std::string::npos ? list.size() : comma;
    }
    out[key] = value;
    i = j < list.size() && list[j] == ',' ? j + 1 : j;
  }
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

bool Starts(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

Playlist ReadPlaylist(const fs::path& path, std::vector<std::string>* problems) {
  Playlist p;
  p.path = path.string();
  std::string name = path.string();
  if (!fs::exists(path)) {
    problems->push_back(name + ": missing");
    return p;
  }
  std::vector<std::string> lines = Lines(ReadFile(path));
  if (lines.empty() || lines[0] != "#EXTM3U") problems->push_back(name + ": no #EXTM3U");
  Segment pending;
  bool has_extinf = false;
  for (const std::string& line : lines) {
    if (Starts(line, "#EXT-X-VERSION:")) p.version = std::atoi(line.c_str() + 15);
    if (Starts(line, "#EXT-X-TARGETDURATION:")) p.target = std::atof(line.c_str() + 22);
    if (line == "#EXT-X-PLAYLIST-TYPE:VOD") p.vod = true;
    if (line == "#EXT-X-ENDLIST") p.ended = true;
    if (line == "#EXT-X-I-FRAMES-ONLY") p.iframes_only = true;
    if (Starts(line, "#EXT-X-MAP:")) p.map_uri = Attributes(line.substr(11))["URI"];
    if (Starts(line, "#EXTINF:")) {
      pending.duration = std::atof(line.c_str() + 8);
      has_extinf = true;
    }
    if (Starts(line, "#EXT-X-BYTERANGE:")) {
      std::string range = line.substr(17);
      pending.length = std::atoll(range.c_str());
      size_t at = range.find('@');
      pending.offset = at == std::string::npos ? 0 : std::atoll(range.c_str() + at + 1);
    }
    if (!line.empty() && line[0] != '#') {
      if (!has_extinf) problems->push_back(name + ": " + line + " has no #EXTINF");
      pending.uri = line;
      p.segments.push_back(pending);
      pending = Segment();
      has_extinf = false;
    }
  }
  if (p.version < 6) problems->push_back(name + ": EXT-X-VERSION below 6");
  if (p.map_uri.empty()) problems->push_back(name + ": no EXT-X-MAP");
  if (!p.vod) problems->push_back(name + ": not EXT-X-PLAYLIST-TYPE:VOD");
  if (!p.ended) problems->push_back(name + ": no EXT-X-ENDLIST");
  if (p.segments.empty()) problems->push_back(name + ": no segments");
  for (const Segment& s : p.segments)
    if (std::lround(s.duration) > p.target)
      problems->push_back(name + ": EXTINF " + std::to_string(s.duration) + " of " + s.uri +
                          " exceeds TARGETDURATION " + std::to_string(p.target));
  return p;
}

std::string Bytes(const fs::path& file, int64_t offset = 0, int64_t length = -1) {
  std::ifstream in(file, std::ios::binary);
  in.seekg(offset);
  if (length < 0) {
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string out(static_cast<size_t>(length), '\0');
  in.read(out.data(), length);
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

struct Packet {
  double pts = 0, duration = 0;
  bool key = false;
  // libavformat shifts an fMP4 track's pts by the most negative composition offset read so far,
  // so a segment read alone shows pts moved by what its first fragment holds; dts is unshifted.
  double dts = 0;
};

struct Probe {
  std::string type;
  int width = 0, height = 0;
  double frame_rate = 0;
  int sample_rate = 0;
  std::vector<Packet> packets;  // decode order
  int frames = 0, key_frames = 0;
  double End() const {
    double end = 0;
    for (const Packet& p : packets) end = std::max(end, p.pts + p.duration);
    return end;
  }
  double Start() const {
    double start = 1e18;
    for (const Packet& p : packets) start = std::min(start, p.pts);
    return packets.empty() ? 0 : start;
  }
};

double Rate(const std::string& r) {
  int num = 0, den = 0;
  if (std::sscanf(r.c_str(), "%d/%d", &num, &den) == 2 && den > 0) return double(num) / den;
  return 0;
}

double Number(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) return 0;
  return std::atof(j[key].get<std::string>().c_str());
}

// ffprobe's view of init + `media` (a segment, or a byte range of one); with `decode`, also
// the decoded frames.
Probe ProbeMedia(const std::string& init, const std::string& media, bool decode = false) {
  TempDir dir;
  std::string file = dir / "media.mp4";
  WriteFile(file, init + media);
  std::vector<std::string> argv = {"ffprobe", "-v", "error", "-of", "json", "-show_entries"};
  argv.push_back(
      decode ? "frame=key_frame,pict_type:stream=codec_type"
             : "packet=pts_time,dts_time,duration_time,flags:stream=codec_type,width,height,"
               "avg_frame_rate,sample_rate");
  if (decode)
    argv.push_back("-show_frames");
  else
    argv.push_back("-show_packets");
  argv.push_back(file);
  CommandResult c = RunCommand(argv);
  json j = json::parse(c.stdout_text, nullptr, false);
  Probe p;
  if (c.exit_code != 0 || j.is_discarded() || !j.contains("streams") || j["streams"].empty())
    return p;
  const json& s = j["streams"][0];
  p.type = s.value("codec_type", "");
  p.width = s.value("width", 0);
  p.height = s.value("height", 0);
  p.frame_rate = Rate(s.value("avg_frame_rate", ""));
  p.sample_rate = std::atoi(s.value("sample_rate", "0").c_str());
  for (const json& k : j.value("packets", json::array()))
    p.packets.push_back({Number(k, "pts_time"), Number(k, "duration_time"),
                         k.value("flags", "").find('K') != std::string::npos,
                         Number(k, "dts_time")});
  for (const json& f : j.value("frames", json::array())) {
    ++p.frames;
    if (f.value("key_frame", 0) == 1 && f.value("pict_type", "") == "I") ++p.key_frames;
  }
  return p;
}

// The first box of `type` anywhere in `data` (boxes of an init segment are few and unique).
size_t FindBox(const std::string& data, const char* type) {
  size_t at = data.find(type);
  return at == std::string::npos || at < 4 ? std::string::npos : at - 4;
}

// RFC 6381 codec string from an init segment's sample entry: avc1.PPCCLL from avcC,
// mp4a.40.N from the esds's AudioSpecificConfig, else the sample entry's four letters.
std::string CodecFromInit(const std::string& init) {
  size_t avcc = FindBox(init, "avcC");
  if (avcc != std::string::npos && avcc + 12 <= init.size()) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "avc1.%02X%02X%02X", uint8_t(init[avcc + 9]),
                  uint8_t(init[avcc + 10]), uint8_t(init[avcc + 11]));
    return buf;
  }
  size_t esds = FindBox(init, "esds");
  if (esds != std::string::npos) {
    // Descriptors: ES (3) > DecoderConfig (4) > DecoderSpecificInfo (5), each tag + length.
    for (size_t i = esds + 12; i + 2 < init.size() && i < esds + 128; ++i) {
      if (uint8_t(init[i]) != 0x05) continue;
      size_t j = i + 1;
      while (j < init.size() && (uint8_t(init[j]) & 0x80)) ++j;
      if (j + 1 < init.size()) return "mp4a.40." + std::to_string(uint8_t(init[j + 1]) >> 3);
    }
  }
  for (const char* entry : {"hvc1", "hev1", "av01", "vp09", "Opus", "ac-3", "ec-3"})
    if (FindBox(init, entry) != std::string::npos) return entry;
  return "?";
}

// One rendition (a media playlist and its files), measured.
struct Rendition {
  Playlist playlist;
  std::string codec;
  std::vector<Probe> segments;
  double peak = 0, mean = 0;  // bits per second
  double End() const { return segments.empty() ? 0 : segments.back().End(); }
  // How long it presents: ffprobe shows a video track that starts with negative composition
  // offsets shifted later by them, and an audio track's trimmed priming before 0.
  double Duration() const {
    return segments.empty() ? 0 : End() - std::max(0.0, segments.front().Start());
  }
};

Rendition Measure(const fs::path& playlist_path, std::vector<std::string>* problems) {
  Rendition r;
  r.playlist = ReadPlaylist(playlist_path, problems);
  fs::path dir = playlist_path.parent_path();
  std::string init = r.playlist.map_uri.empty() ? "" : Bytes(dir / r.playlist.map_uri);
  r.codec = CodecFromInit(init);
  double bits = 0;
  for (const Segment& s : r.playlist.segments) {
    std::string media = Bytes(dir / s.uri, s.offset, s.length);
    if (s.duration > 0) r.peak = std::max(r.peak, media.size() * 8.0 / s.duration);
    bits += media.size() * 8.0;
    if (!r.playlist.iframes_only) r.segments.push_back(ProbeMedia(init, media));
  }
  if (r.playlist.Duration() > 0) r.mean = bits / r.playlist.Duration();
  return r;
}

std::string Name(const fs::path& dir, const std::string& uri) {
  return (dir.filename() / uri).string();
}

// Every keyframe of `variant` is an I-frame, in order, each lasting until the next (Apple: EXTINF
// is the time to the next I-frame), the last until the variant's end.
void CheckIFrameTimes(const std::string& name, const Playlist& p, const Rendition& variant,
                      std::vector<std::string>* problems) {
  std::vector<double> keys;
  for (const Probe& s : variant.segments)
    for (const Packet& k : s.packets)
      if (k.key) keys.push_back(k.dts);
  std::sort(keys.begin(), keys.end());
  if (keys.size() != p.segments.size()) {
    problems->push_back(name + ": " + std::to_string(p.segments.size()) +
                        " I-frames, the variant " + "has " + std::to_string(keys.size()) +
                        " keyframes");
    return;
  }
  double at = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (std::abs(keys[i] - keys[0] - at) > 0.002)
      problems->push_back(name + ": I-frame " + std::to_string(i) + " at " + std::to_string(at) +
                          " s, its keyframe at " + std::to_string(keys[i] - keys[0]) + " s");
    at += p.segments[i].duration;
  }
  if (std::abs(at - variant.playlist.Duration()) > 0.001)
    problems->push_back(name + ": I-frames last " + std::to_string(at) + " s, the variant " +
                        std::to_string(variant.playlist.Duration()) + " s");
}

void CheckIFrames(const fs::path& dir, const std::map<std::string, std::string>& a,
                  const std::map<std::string, Rendition>& renditions,
                  std::vector<std::string>* problems) {
  std::string uri = a.count("URI") ? a.at("URI") : "";
  std::string name = Name(dir, uri);
  std::vector<std::string> local;
  Playlist p = ReadPlaylist(dir / uri, &local);
  problems->insert(problems->end(), local.begin(), local.end());
  if (!p.iframes_only) problems->push_back(name + ": no EXT-X-I-FRAMES-ONLY");
  fs::path folder = (dir / uri).parent_path();
  std::string init = Bytes(folder / p.map_uri);
  double peak = 0;
  for (const Segment& s : p.segments) {
    if (s.length <= 0) problems->push_back(name + ": " + s.uri + " without EXT-X-BYTERANGE");
    std::string range = Bytes(folder / s.uri, s.offset, s.length);
    if (s.duration > 0) peak = std::max(peak, range.size() * 8.0 / s.duration);
    Probe f = ProbeMedia(init, range, true);
    if (f.frames != 1 || f.key_frames != 1)
      problems->push_back(name + ": the range " + std::to_string(s.length) + "@" +
                          std::to_string(s.offset) + " of " + s.uri + " decodes as " +
                          std::to_string(f.frames) + " frames, " + std::to_string(f.key_frames) +
                          " of them I-frames (want exactly one keyframe)");
  }
  std::string folder_name = fs::path(uri).parent_path().string();
  if (renditions.count(folder_name))
    CheckIFrameTimes(name, p, renditions.at(folder_name), problems);
  else
    problems->push_back(name + ": no variant in " + folder_name);
  if (std::atof(a.count("BANDWIDTH") ? a.at("BANDWIDTH").c_str() : "0") < peak)
    problems->push_back(name + ": I-frame BANDWIDTH below the measured peak " +
                        std::to_string(std::lround(peak)));
  if (!a.count("RESOLUTION") || !a.count("CODECS"))
    problems->push_back(name + ": EXT-X-I-FRAME-STREAM-INF without RESOLUTION or CODECS");
  else if (a.at("CODECS") != CodecFromInit(init))
    problems->push_back(name + ": I-frame CODECS " + a.at("CODECS") + ", the stream is " +
                        CodecFromInit(init));
}

double IsoSeconds(const std::string& d) {  // PT1H2M3.5S
  std::smatch m;
  static const std::regex iso(R"(PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)");
  if (!std::regex_match(d, m, iso)) return -1;
  return (m[1].matched ? std::stod(m[1]) * 3600 : 0) + (m[2].matched ? std::stod(m[2]) * 60 : 0) +
         (m[3].matched ? std::stod(m[3]) : 0);
}

void CheckMpd(const fs::path& file, double media_duration,
              const std::map<std::string, Rendition>& renditions,
              std::vector<std::string>* problems) {
  std::string mpd = ReadFile(file);
  std::smatch m;
  if (!std::regex_search(mpd, m, std::regex(R"(mediaPresentationDuration="([^"]+)\")"))) {
    problems->push_back("manifest.mpd: no mediaPresentationDuration");
    return;
  }
  double duration = IsoSeconds(m[1]);
  if (std::abs(duration - media_duration) > 0.0015)
    problems->push_back("manifest.mpd: mediaPresentationDuration " + m[1].str() +
                        " but the media lasts " + std::to_string(media_duration) + " s");
  static const std::regex rep(
      R"x(<Representation id="([^"]+)" bandwidth="(\d+)"[\s\S]*?timescale="(\d+)"[\s\S]*?</SegmentTimeline>)x");
  static const std::regex s_el(R"x(<S t="\d+" d="(\d+)"(?: r="(\d+)")?/>)x");
  for (auto it = std::sregex_iterator(mpd.begin(), mpd.end(), rep); it != std::sregex_iterator();
       ++it) {
    std::string id = (*it)[1], body = (*it)[0];
    double timescale = std::stod((*it)[3]), total = 0;
    for (auto s = std::sregex_iterator(body.begin(), body.end(), s_el); s != std::sregex_iterator();
         ++s)
      total += std::stod((*s)[1]) * (1 + ((*s)[2].matched ? std::stoi((*s)[2]) : 0));
    auto r = renditions.find(id);
    if (r == renditions.end()) {
      problems->push_back("manifest.mpd: representation " + id + " is no rendition of the package");
      continue;
    }
    const Playlist& pl = r->second.playlist;
    if (std::abs(total / timescale - pl.Duration()) > 0.001 * pl.segments.size())
      problems->push_back("manifest.mpd: " + id + "'s timeline lasts " +
                          std::to_string(total / timescale) + " s, its segments " +
                          std::to_string(pl.Duration()));
    if (std::stod((*it)[2]) < r->second.peak)
      problems->push_back("manifest.mpd: " + id + " bandwidth " + (*it)[2].str() +
                          " below its measured peak " +
                          std::to_string(std::lround(r->second.peak)));
  }
}

}  // namespace

std::string PackageReport::Describe() const {
  std::string out;
  for (const std::string& p : problems) out += p + "\n";
  return out;
}

PackageReport CheckPackage(const std::string& directory) {
  PackageReport report;
  std::vector<std::string>* problems = &report.problems;
  fs::path dir(directory);
  std::vector<std::string> lines = Lines(ReadFile(dir / "master.m3u8"));
  if (lines.empty() || lines[0] != "#EXTM3U") problems->push_back("master.m3u8: no #EXTM3U");
  if (std::find(lines.begin(), lines.end(), "#EXT-X-INDEPENDENT-SEGMENTS") == lines.end())
    problems->push_back("master.m3u8: no EXT-X-INDEPENDENT-SEGMENTS");
  int version = 0;
  // GROUP-ID -> its renditions' attributes, one per audio track.
  std::map<std::string, std::vector<std::map<std::string, std::string>>> audio_groups;
  std::vector<std::pair<std::map<std::string, std::string>, std::string>> variants;
  std::vector<std::map<std::string, std::string>> iframes;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (Starts(lines[i], "#EXT-X-VERSION:")) version = std::atoi(lines[i].c_str() + 15);
    if (Starts(lines[i], "#EXT-X-MEDIA:")) {
      auto a = Attributes(lines[i].substr(13));
      if (a["TYPE"] == "AUDIO") audio_groups[a["GROUP-ID"]].push_back(a);
    }
    if (Starts(lines[i], "#EXT-X-STREAM-INF:") && i + 1 < lines.size())
      variants.push_back({Attributes(lines[i].substr(18)), lines[i + 1]});
    if (Starts(lines[i], "#EXT-X-I-FRAME-STREAM-INF:"))
      iframes.push_back(Attributes(lines[i].substr(26)));
  }
  if (version < 6) problems->push_back("master.m3u8: EXT-X-VERSION below 6");
  // Apple's rules for a group's renditions: one DEFAULT (which a player falls back on), which
  // must also AUTOSELECT, and names unique in the group (players list tracks by NAME).
  for (auto& [group, members] : audio_groups) {
    size_t defaults = 0;
    std::set<std::string> names;
    for (auto& m : members) {
      if (m["DEFAULT"] == "YES") ++defaults;
      if (m["DEFAULT"] == "YES" && m["AUTOSELECT"] != "YES")
        problems->push_back("master.m3u8: audio " + m["NAME"] + " is DEFAULT but not AUTOSELECT");
      if (!names.insert(m["NAME"]).second)
        problems->push_back("master.m3u8: audio NAME " + m["NAME"] + " twice in group " + group);
    }
    if (defaults != 1)
      problems->push_back("master.m3u8: DEFAULT=YES on " + std::to_string(defaults) +
                          " audio renditions of group " + group);
  }
  if (variants.empty()) problems->push_back("master.m3u8: no variants");

  std::map<std::string, Rendition> renditions;  // by folder
  auto measure = [&](const std::string& uri) -> const Rendition& {
    std::string folder = fs::path(uri).parent_path().string();
    if (!renditions.count(folder)) {
      renditions[folder] = Measure(dir / uri, problems);
      ++report.playlists;
    }
    return renditions[folder];
  };

  const Rendition* first_video = nullptr;
  for (auto& [a, uri] : variants) {
    const Rendition& v = measure(uri);
    // The group's renditions: the variant is played with any of them, so its BANDWIDTH counts
    // the largest, and CODECS must hold for each.
    std::vector<std::pair<std::string, const Rendition*>> audios;
    if (a.count("AUDIO")) {
      if (!audio_groups.count(a["AUDIO"]))
        problems->push_back(uri + ": AUDIO group " + a["AUDIO"] + " is not in the master");
      else
        for (auto& m : audio_groups[a["AUDIO"]]) audios.push_back({m["URI"], &measure(m["URI"])});
    }
    const Rendition* audio = audios.empty() ? nullptr : audios[0].second;
    bool video = !v.segments.empty() && v.segments[0].type == "video";
    std::string codecs = v.codec + (audio ? "," + audio->codec : "");
    if (a["CODECS"] != codecs)
      problems->push_back(uri + ": CODECS \"" + a["CODECS"] + "\", the streams are " + codecs);
    double peak = v.peak, mean = v.mean, audio_peak = 0, audio_mean = 0;
    for (auto& [audio_uri, r] : audios) {
      if (r->codec != audio->codec)
        problems->push_back(audio_uri + ": codec " + r->codec + ", the group's first is " +
                            audio->codec);
      audio_peak = std::max(audio_peak, r->peak);
      audio_mean = std::max(audio_mean, r->mean);
    }
    peak += audio_peak;
    mean += audio_mean;
    if (std::atof(a["BANDWIDTH"].c_str()) < std::floor(peak))
      problems->push_back(uri + ": BANDWIDTH " + a["BANDWIDTH"] + " below the measured peak " +
                          std::to_string(std::lround(peak)));
    if (std::abs(std::atof(a["AVERAGE-BANDWIDTH"].c_str()) - mean) > 0.02 * mean)
      problems->push_back(uri + ": AVERAGE-BANDWIDTH " + a["AVERAGE-BANDWIDTH"] +
                          " is more than 2 % from the measured mean " +
                          std::to_string(std::lround(mean)));
    if (!video) continue;
    const Probe& p = v.segments[0];
    std::string resolution = std::to_string(p.width) + "x" + std::to_string(p.height);
    if (a["RESOLUTION"] != resolution)
      problems->push_back(uri + ": RESOLUTION " + a["RESOLUTION"] + ", the stream is " +
                          resolution);
    if (!a.count("FRAME-RATE") ||
        std::abs(std::atof(a["FRAME-RATE"].c_str()) - p.frame_rate) > 0.001)
      problems->push_back(uri + ": FRAME-RATE " + a["FRAME-RATE"] + ", the stream has " +
                          std::to_string(p.frame_rate));
    for (size_t i = 0; i < v.segments.size(); ++i) {
      const std::string& seg = v.playlist.segments[i].uri;
      if (v.segments[i].packets.empty() || !v.segments[i].packets[0].key)
        problems->push_back(Name(dir / uri, seg) + " does not start with a keyframe");
      if (first_video && first_video != &v && !v.segments[i].packets.empty() &&
          (i >= first_video->segments.size() || first_video->segments[i].packets.empty() ||
           std::abs(first_video->segments[i].packets[0].dts - v.segments[i].packets[0].dts) >
               0.001))
        problems->push_back(Name(dir / uri, seg) + " starts at " +
                            std::to_string(v.segments[i].packets[0].dts) +
                            " (decode time), not with the first variant");
    }
    if (!first_video) first_video = &v;
    for (auto& [audio_uri, r] : audios) {
      if (r->segments.empty()) continue;
      double frame = r->segments[0].sample_rate > 0 ? 1024.0 / r->segments[0].sample_rate : 0.0214;
      if (r->segments.size() != v.segments.size() ||
          std::abs(r->Duration() - v.Duration()) > 2 * frame)
        problems->push_back(audio_uri + ": " + std::to_string(r->segments.size()) +
                            " segments end at " + std::to_string(r->Duration()) + ", " + uri +
                            "'s " + std::to_string(v.segments.size()) + " at " +
                            std::to_string(v.Duration()));
    }
  }
  if (first_video) {
    report.media_duration = first_video->Duration();
  } else if (!renditions.empty()) {
    report.media_duration = renditions.begin()->second.Duration();
  }
  size_t video_variants = 0;
  for (auto& [folder, r] : renditions)
    if (!r.segments.empty() && r.segments[0].type == "video") ++video_variants;
  if (iframes.size() != video_variants)
    problems->push_back("master.m3u8: " + std::to_string(iframes.size()) +
                        " I-frame playlists for " + std::to_string(video_variants) +
                        " video variants");
  for (const auto& a : iframes) {
    CheckIFrames(dir, a, renditions, problems);
    ++report.playlists;
  }
  // The MPD's presentation lasts as long as its longest track (AAC's last frame may outrun the
  // picture).
  double presentation = report.media_duration;
  for (auto& [folder, r] : renditions)
    if (!r.segments.empty() && r.segments[0].type == "audio")
      presentation = std::max(presentation, r.End());
  if (fs::exists(dir / "manifest.mpd"))
    CheckMpd(dir / "manifest.mpd", presentation, renditions, problems);
  return report;
}

PackageReport PlayWithGStreamer(const std::string& path) {
  PackageReport report;
  std::string uri = "file://" + fs::absolute(path).lexically_normal().string();
  CommandResult c = RunCommand({"timeout", "120", "gst-launch-1.0", "playbin", "uri=" + uri,
                                "video-sink=fakesink", "audio-sink=fakesink"});
  if (c.exit_code != 0)
    report.problems.push_back("gst-launch-1.0 exited with " + std::to_string(c.exit_code));
  if (c.output.find("Got EOS") == std::string::npos)
    report.problems.push_back("GStreamer did not play " + path + " to the end");
  for (const std::string& line : Lines(c.output))
    if (Starts(line, "WARNING") || Starts(line, "ERROR"))
      report.problems.push_back("GStreamer: " + line);
  return report;
}

}  // namespace reel::testing
