// The stitch (stitch.h). The chunks' segments are copied, never rewritten: each chunk's muxer
// already numbered them and put them on the global timeline; the stitch joins the playlists,
// checks the parameter sets and writes what describes the whole package.
#include "engine/stitch.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/dash.h"
#include "engine/hls.h"
#include "layout/layout.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;

Result<std::string> ReadWhole(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Unavailable("cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

Status WriteWhole(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) return Unavailable("cannot write " + path);
  return Status::Ok();
}

Status CopyFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return Unavailable("cannot copy " + from + " to " + to + ": " + ec.message());
  return Status::Ok();
}

std::string ChunkDir(const std::string& staging, int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "chunk-%05d", index);
  return staging + "/" + name;
}

// The codec configuration box of an init segment's sample entry (avcC, hvcC, av1C or vpcC):
// the parameter sets every segment of the rendition is decoded with.
Result<std::string> CodecConfiguration(const std::string& init_path) {
  Result<std::string> data = ReadWhole(init_path);
  if (!data.ok()) return data.status();
  for (const char* type : {"avcC", "hvcC", "av1C", "vpcC"}) {
    size_t at = data->find(type);
    if (at == std::string::npos || at < 4) continue;
    const auto* p = reinterpret_cast<const unsigned char*>(data->data() + at - 4);
    size_t size = (size_t(p[0]) << 24) | (size_t(p[1]) << 16) | (size_t(p[2]) << 8) | p[3];
    if (size < 8 || at - 4 + size > data->size()) continue;
    return data->substr(at - 4, size);
  }
  return InvalidArgument(init_path + ": no codec configuration in its sample entry");
}

// The value of ATTR=value (quoted or not) on a playlist line, or "".
std::string Attribute(const std::string& line, const std::string& attr) {
  size_t at = line.find(attr + "=");
  if (at == std::string::npos) return "";
  at += attr.size() + 1;
  if (at < line.size() && line[at] == '"') {
    size_t end = line.find('"', at + 1);
    return line.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
  }
  size_t end = line.find(',', at);
  return line.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// What a chunk's own master says of each variant (VIDEO-RANGE by playlist URI) and of the
// captions, read back rather than guessed: the chunk's run saw the source.
struct ChunkMaster {
  std::map<std::string, std::string> video_range;
  std::string captions;  // CLOSED-CAPTIONS value of its variants, or ""
  std::string audio_language;
  int audio_channels = 0;
};

ChunkMaster ReadChunkMaster(const std::string& path) {
  ChunkMaster m;
  Result<std::string> text = ReadWhole(path);
  if (!text.ok()) return m;
  std::istringstream in(*text);
  std::string line, previous;
  while (std::getline(in, line)) {
    if (previous.rfind("#EXT-X-STREAM-INF:", 0) == 0 && !line.empty() && line[0] != '#') {
      m.video_range[line] = Attribute(previous, "VIDEO-RANGE");
      m.captions = Attribute(previous, "CLOSED-CAPTIONS");
    }
    if (line.rfind("#EXT-X-MEDIA:", 0) == 0 && Attribute(line, "TYPE") == "AUDIO") {
      m.audio_language = Attribute(line, "LANGUAGE");
      m.audio_channels = std::atoi(Attribute(line, "CHANNELS").c_str());
    }
    previous = line;
  }
  return m;
}

// Joins the chunks' media playlists of one rendition: the first chunk's header (as the muxer
// wrote it), every chunk's segments in order, the largest target duration, ENDLIST.
Result<std::string> JoinPlaylists(const std::vector<std::string>& playlists) {
  std::string header, body;
  long target = 0;
  for (size_t i = 0; i < playlists.size(); ++i) {
    Result<std::string> text = ReadWhole(playlists[i]);
    if (!text.ok()) return text.status();
    std::istringstream in(*text);
    bool in_body = false;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("#EXT-X-TARGETDURATION:", 0) == 0) {
        target = std::max(target, std::atol(line.c_str() + 22));
        if (i == 0) header += "#EXT-X-TARGETDURATION:\n";  // filled in below
        continue;
      }
      if (line.rfind("#EXTINF:", 0) == 0) in_body = true;
      if (line == "#EXT-X-ENDLIST" || line.empty()) continue;
      if (in_body)
        body += line + "\n";
      else if (i == 0)
        header += line + "\n";
    }
  }
  size_t at = header.find("#EXT-X-TARGETDURATION:\n");
  if (at != std::string::npos) header.insert(at + 22, std::to_string(target));
  return header + body + "#EXT-X-ENDLIST\n";
}

struct Variant {
  std::string name;
  int width = 0, height = 0;
  double frame_rate = 0;
  std::string codecs;
};

Result<TranscodeResult> ReadResult(const std::string& path) {
  Result<std::string> text = ReadWhole(path);
  if (!text.ok()) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument(path + ": not JSON");
  TranscodeResult r;
  for (const nlohmann::json& o : j.value("outputs", nlohmann::json::array())) {
    OutputResult out;
    out.index = o.value("index", 0);
    out.kind = o.value("kind", "");
    out.video_codec = o.value("video_codec", "");
    for (const nlohmann::json& v : o.value("variants", nlohmann::json::array())) {
      VariantResult vr;
      vr.name = v.value("name", "");
      vr.width = v.value("width", 0);
      vr.height = v.value("height", 0);
      vr.frame_rate = v.value("frame_rate", 0.0);
      vr.codecs = v.value("codecs", "");
      out.variants.push_back(vr);
    }
    r.outputs.push_back(std::move(out));
  }
  return r;
}

std::string FrameRateText(const ChunkLayout& layout) {
  return layout.rate_den == 1
             ? std::to_string(layout.rate_num)
             : std::to_string(layout.rate_num) + "/" + std::to_string(layout.rate_den);
}

// Stitches package `h` (its plan as the caller gave it) into h.directory.
Status StitchPackage(const HlsOutputPlan& h, const ChunkLayout& layout,
                     const std::string& staging_dir, const TranscodeResult& first,
                     OutputResult* out) {
  const std::string part = "/out-" + std::to_string(h.index);
  const std::string dir = h.directory;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create " + dir + ": " + ec.message());
  const OutputResult* described = nullptr;
  for (const OutputResult& o : first.outputs)
    if (o.index == h.index) described = &o;
  if (!described)
    return InvalidArgument("chunk 0 did not encode output " + std::to_string(h.index));

  ChunkMaster master0 = ReadChunkMaster(ChunkDir(staging_dir, 0) + part + "/master.m3u8");
  bool any_captions = false, all_none = true;
  std::vector<hls::VariantEntry> entries;
  std::vector<hls::IFrameEntry> iframes;
  std::vector<dash::Representation> reps;
  // The audio, encoded once: copied as its task left it (priming trimmed, tail folded).
  const std::string audio_dir =
      staging_dir + "/audio" + part + "/" + std::string(layout::kAudioRendition);
  bool has_audio = fs::exists(audio_dir + "/" + std::string(layout::kMediaPlaylist));
  hls::MediaPlaylist audio_pl;
  ChunkMaster audio_master;
  if (has_audio) {
    fs::create_directories(dir + "/" + std::string(layout::kAudioRendition), ec);
    for (const auto& e : fs::directory_iterator(audio_dir, ec))
      if (e.is_regular_file())
        REEL_RETURN_IF_ERROR(CopyFile(
            e.path().string(),
            dir + "/" + std::string(layout::kAudioRendition) + "/" + e.path().filename().string()));
    Result<hls::MediaPlaylist> pl =
        hls::ReadMediaPlaylist(dir + "/" + layout::MediaPlaylistUri(layout::kAudioRendition));
    if (!pl.ok()) return pl.status();
    audio_pl = std::move(pl).value();
    audio_master = ReadChunkMaster(staging_dir + "/audio" + part + "/master.m3u8");
  }
  for (const VariantResult& v : described->variants) {
    const std::string vdir = dir + "/" + v.name;
    fs::create_directories(vdir, ec);
    if (ec) return Unavailable("cannot create " + vdir + ": " + ec.message());
    std::vector<std::string> playlists;
    std::string config0;
    for (const ChunkRange& c : layout.chunks) {
      const std::string cdir = ChunkDir(staging_dir, c.index) + part + "/" + v.name;
      const std::string init = cdir + "/" + std::string(layout::kInitSegment);
      Result<std::string> config = CodecConfiguration(init);
      if (!config.ok()) return config.status().WithContext("chunk " + std::to_string(c.index));
      if (c.index == layout.chunks.front().index) {
        config0 = *config;
        REEL_RETURN_IF_ERROR(CopyFile(init, vdir + "/" + std::string(layout::kInitSegment)));
      } else if (*config != config0) {
        return FailedPrecondition("stitch: chunk " + std::to_string(c.index) + ", rendition " +
                                  v.name +
                                  ": its parameter sets differ from chunk 0's (its encoder was "
                                  "configured differently); re-encode the chunk");
      }
      ChunkMaster m = ReadChunkMaster(ChunkDir(staging_dir, c.index) + part + "/master.m3u8");
      any_captions |= !m.captions.empty() && m.captions != "NONE";
      all_none &= m.captions == "NONE";
      const std::string pl_path = cdir + "/" + std::string(layout::kMediaPlaylist);
      Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(pl_path);
      if (!pl.ok()) return pl.status().WithContext("chunk " + std::to_string(c.index));
      for (const hls::Segment& s : pl->segments)
        REEL_RETURN_IF_ERROR(CopyFile(cdir + "/" + s.uri, vdir + "/" + s.uri));
      playlists.push_back(pl_path);
    }
    Result<std::string> joined = JoinPlaylists(playlists);
    if (!joined.ok()) return joined.status();
    const std::string uri = layout::MediaPlaylistUri(v.name);
    REEL_RETURN_IF_ERROR(WriteWhole(dir + "/" + uri, *joined));
    // One fragment per keyframe, numbered over the whole rendition, as an unchunked run has.
    Result<int> split = hls::SplitFragmentsAtKeyframes(dir + "/" + uri);
    if (!split.ok()) return split.status();
    Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(dir + "/" + uri);
    if (!pl.ok()) return pl.status();

    // The I-frame playlist, from the stitched segments.
    Result<std::vector<hls::IFrame>> frames = hls::ReadIFrames(dir + "/" + uri);
    if (!frames.ok()) return frames.status();
    std::string iframe_uri = layout::RenditionFile(v.name, layout::kIFramePlaylist);
    REEL_RETURN_IF_ERROR(WriteWhole(
        dir + "/" + iframe_uri, hls::IFramePlaylist(*frames, std::string(layout::kInitSegment))));
    std::string range = master0.video_range.count(uri) ? master0.video_range[uri] : "";
    iframes.push_back(
        {iframe_uri, hls::IFramePeakBitrate(*frames), v.width, v.height, v.codecs, range});

    hls::VariantEntry e;
    e.uri = uri;
    e.width = v.width;
    e.height = v.height;
    e.frame_rate = v.frame_rate;
    e.codecs = v.codecs;
    e.video_range = range;
    e.bandwidth = pl->PeakBitrate();
    e.average_bandwidth = pl->AverageBitrate();
    dash::Representation r;
    r.id = v.name;
    r.bandwidth = pl->PeakBitrate();
    r.width = v.width;
    r.height = v.height;
    r.frame_rate = FrameRateText(layout);
    r.codecs = v.codecs;
    for (const hls::Segment& s : pl->segments) r.segment_durations.push_back(s.duration);
    reps.push_back(std::move(r));
    if (has_audio) {
      e.codecs += ",mp4a.40.2";
      e.bandwidth += audio_pl.PeakBitrate();
      e.average_bandwidth += audio_pl.AverageBitrate();
      e.uses_audio_group = true;
    }
    entries.push_back(e);
    out->variants.push_back({v.name,
                             e.uri,
                             e.width,
                             e.height,
                             e.frame_rate,
                             e.bandwidth,
                             e.average_bandwidth,
                             e.codecs,
                             int(pl->segments.size()),
                             {}});
    out->duration = std::max(out->duration, pl->Duration());
    out->width = std::max(out->width, e.width);
    out->height = std::max(out->height, e.height);
  }
  hls::AudioEntry audio_entry{layout::MediaPlaylistUri(layout::kAudioRendition),
                              audio_master.audio_channels > 0 ? audio_master.audio_channels : 2,
                              audio_master.audio_language};
  std::string master = hls::MasterPlaylist(entries, has_audio ? &audio_entry : nullptr, iframes);
  hls::Captions captions = any_captions ? hls::Captions::kInStream
                           : all_none   ? hls::Captions::kNone
                                        : hls::Captions::kUnstated;
  master = hls::WithTextRenditions(master, {}, captions);
  REEL_RETURN_IF_ERROR(WriteWhole(dir + "/" + std::string(layout::kMasterPlaylist), master));
  if (h.dash) {
    if (has_audio) {
      dash::Representation r;
      r.id = layout::kAudioRendition;
      r.video = false;
      r.bandwidth = audio_pl.PeakBitrate();
      r.channels = audio_entry.channels;
      r.sample_rate = h.ladder.audio.sample_rate;
      r.codecs = "mp4a.40.2";
      r.language = audio_entry.language;
      for (const hls::Segment& s : audio_pl.segments) r.segment_durations.push_back(s.duration);
      reps.push_back(std::move(r));
    }
    REEL_RETURN_IF_ERROR(WriteWhole(dir + "/" + std::string(layout::kDashManifest),
                                    dash::Manifest(reps, out->duration)));
    out->manifest = (fs::path(dir) / layout::kDashManifest).string();
  }
  out->index = h.index;
  out->kind = h.kind;
  out->path = dir;
  out->master = (fs::path(dir) / layout::kMasterPlaylist).string();
  if (has_audio) out->audio_codec = "aac";
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file()) out->bytes += int64_t(e.file_size());
  return Status::Ok();
}

}  // namespace

Result<TranscodeResult> Stitch(const TranscodePlan& plan, const ChunkLayout& layout,
                               const std::string& staging_dir) {
  if (layout.chunks.empty()) return InvalidArgument("stitch: no chunks");
  Result<TranscodeResult> first =
      ReadResult(ChunkDir(staging_dir, layout.chunks.front().index) + "/result.json");
  if (!first.ok()) return first.status().WithContext("stitch");
  TranscodeResult result;
  for (const HlsOutputPlan& h : plan.hls) {
    if (h.single) continue;  // previews are not chunked
    OutputResult out;
    Status s = StitchPackage(h, layout, staging_dir, *first, &out);
    if (!s.ok()) return s;
    for (const OutputResult& o : first->outputs)
      if (o.index == h.index) out.video_codec = o.video_codec;
    result.outputs.push_back(std::move(out));
  }
  return result;
}

}  // namespace reel::engine
