// The prefix of a stitched package (progressive.h). It reads the staging as stitch.cc does;
// the few readers it shares with it are repeated here rather than moved, to keep the stitch,
// which other work changes too, as it is.
#include "engine/progressive.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/hls.h"
#include "engine/package_writer.h"
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

Status CopyFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return Unavailable("cannot copy " + from + " to " + to + ": " + ec.message());
  return Status::Ok();
}

// The sample entry's codec configuration box of an init segment, as stitch.cc compares them:
// a chunk whose parameter sets differ from chunk 0's is never published.
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

// The chunks' playlists of one rendition joined as the stitch joins them (the first one's
// header, every segment in order, the largest target duration), as an EVENT playlist.
Result<std::string> JoinPrefix(const std::vector<std::string>& playlists) {
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
        if (i == 0) header += "#EXT-X-TARGETDURATION:\n";
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
  return AsEventPlaylist(header + body);
}

Result<PackageDescription> ReadDescription(const std::string& task_dir, int index) {
  const std::string path = task_dir + "/" + std::string(kPackagesFile);
  Result<std::string> text = ReadWhole(path);
  if (!text.ok()) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.contains(std::to_string(index)))
    return FailedPrecondition(path + ": output " + std::to_string(index) + " is not described");
  return PackageDescriptionFromJson(j[std::to_string(index)]);
}

// The audio task's renditions of output `index`, in track order, as the stitch reads them.
Result<std::vector<PackageAudio>> StagedAudio(const std::string& staging_dir,
                                              const std::string& audio_dir, int index) {
  std::vector<PackageAudio> audio;
  std::error_code ec;
  if (!fs::is_directory(audio_dir, ec)) return audio;  // a silent source
  std::map<int, std::string> folders;
  for (const auto& e : fs::directory_iterator(audio_dir, ec))
    if (e.is_directory())
      if (std::optional<int> track = layout::AudioTrackOf(e.path().filename().string()))
        folders[*track] = e.path().filename().string();
  if (folders.empty()) return audio;
  Result<PackageDescription> described = ReadDescription(AudioStagingDir(staging_dir), index);
  if (!described.ok()) return described.status().WithContext("audio");
  for (const auto& [track, name] : folders) {
    auto found = std::find_if(described->audio.begin(), described->audio.end(),
                              [&](const PackageAudio& a) { return a.name == name; });
    if (found == described->audio.end())
      return FailedPrecondition("audio: the audio task did not describe its rendition " + name);
    audio.push_back(*found);
  }
  return audio;
}

// The master as the glue writes it, without the I-frame playlists, which are not published
// before the stitch writes them over the whole rendition.
Status WithoutIFrames(const std::string& master_path) {
  Result<std::string> text = ReadWhole(master_path);
  if (!text.ok()) return text.status();
  std::istringstream in(*text);
  std::string out;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("#EXT-X-I-FRAME-STREAM-INF:", 0) != 0) out += line + "\n";
  return WriteTextFile(master_path, out);
}

}  // namespace

std::string AsEventPlaylist(const std::string& playlist) {
  std::istringstream in(playlist);
  std::string out;
  bool typed = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "#EXT-X-ENDLIST") continue;
    if (line.rfind("#EXT-X-PLAYLIST-TYPE:", 0) == 0) {
      line = "#EXT-X-PLAYLIST-TYPE:EVENT";
      typed = true;
    }
    out += line + "\n";
  }
  if (!typed && out.rfind("#EXTM3U\n", 0) == 0) out.insert(8, "#EXT-X-PLAYLIST-TYPE:EVENT\n");
  return out;
}

Result<PackagePrefix> WritePackagePrefix(int index, const ChunkLayout& layout, int chunks,
                                         bool audio, const std::string& staging_dir,
                                         const std::string& dir) {
  size_t n = std::min<size_t>(std::max(chunks, 0), layout.chunks.size());
  if (n == 0) return InvalidArgument("progressive: no chunk to publish");
  const std::string part = "/out-" + std::to_string(index);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create " + dir + ": " + ec.message());
  const ChunkRange& first = layout.chunks.front();
  Result<PackageDescription> described =
      ReadDescription(ChunkStagingDir(staging_dir, first.index), index);
  if (!described.ok()) return described.status().WithContext("chunk " + std::to_string(0));
  PackageDescription d = std::move(described).value();
  for (PackageVideo& v : d.videos) v.quality = nullptr;

  PackagePrefix prefix;
  prefix.chunk_files.resize(n);
  for (const PackageVideo& v : d.videos) {
    const std::string vdir = dir + "/" + v.name;
    fs::create_directories(vdir, ec);
    if (ec) return Unavailable("cannot create " + vdir + ": " + ec.message());
    std::vector<std::string> playlists;
    std::string config0;
    for (size_t i = 0; i < n; ++i) {
      const ChunkRange& c = layout.chunks[i];
      const std::string cdir = ChunkStagingDir(staging_dir, c.index) + part + "/" + v.name;
      const std::string init = cdir + "/" + std::string(layout::kInitSegment);
      Result<std::string> config = CodecConfiguration(init);
      if (!config.ok()) return config.status().WithContext("chunk " + std::to_string(c.index));
      if (i == 0) {
        config0 = *config;
        REEL_RETURN_IF_ERROR(CopyFile(init, vdir + "/" + std::string(layout::kInitSegment)));
        prefix.chunk_files[0].push_back(layout::RenditionFile(v.name, layout::kInitSegment));
      } else if (*config != config0) {
        return FailedPrecondition("progressive: chunk " + std::to_string(c.index) + ", rendition " +
                                  v.name + ": its parameter sets differ from chunk 0's");
      }
      const std::string pl_path = cdir + "/" + std::string(layout::kMediaPlaylist);
      Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(pl_path);
      if (!pl.ok()) return pl.status().WithContext("chunk " + std::to_string(c.index));
      for (const hls::Segment& s : pl->segments) {
        REEL_RETURN_IF_ERROR(CopyFile(cdir + "/" + s.uri, vdir + "/" + s.uri));
        prefix.chunk_files[i].push_back(layout::RenditionFile(v.name, s.uri));
      }
      playlists.push_back(pl_path);
    }
    Result<std::string> joined = JoinPrefix(playlists);
    if (!joined.ok()) return joined.status();
    const std::string uri = layout::MediaPlaylistUri(v.name);
    REEL_RETURN_IF_ERROR(WriteTextFile(dir + "/" + uri, *joined));
    // As the stitch cuts them: the prefix's fragments get the numbers the whole's do.
    Result<int> split = hls::SplitFragmentsAtKeyframes(dir + "/" + uri);
    if (!split.ok()) return split.status();
    Result<hls::MediaPlaylist> written = hls::ReadMediaPlaylist(dir + "/" + uri);
    if (!written.ok()) return written.status();
    prefix.segments = int(written->segments.size());
    prefix.video_playlists.push_back(uri);
  }
  if (!audio) return prefix;

  const std::string audio_dir = AudioStagingDir(staging_dir) + part;
  Result<std::vector<PackageAudio>> staged = StagedAudio(staging_dir, audio_dir, index);
  if (!staged.ok()) return staged.status();
  d.audio = std::move(staged).value();
  for (const PackageAudio& a : d.audio) {
    fs::create_directories(dir + "/" + a.name, ec);
    if (ec) return Unavailable("cannot create " + dir + "/" + a.name + ": " + ec.message());
    for (const auto& e : fs::directory_iterator(audio_dir + "/" + a.name, ec)) {
      std::string name = e.path().filename().string();
      if (!e.is_regular_file() || name == layout::kMediaPlaylist) continue;
      REEL_RETURN_IF_ERROR(CopyFile(e.path().string(), dir + "/" + a.name + "/" + name));
      prefix.audio_files.push_back(layout::RenditionFile(a.name, name));
    }
    std::sort(prefix.audio_files.begin(), prefix.audio_files.end());
    const std::string uri = layout::MediaPlaylistUri(a.name);
    Result<std::string> text =
        ReadWhole(audio_dir + "/" + a.name + "/" + std::string(layout::kMediaPlaylist));
    if (!text.ok()) return text.status();
    REEL_RETURN_IF_ERROR(WriteTextFile(dir + "/" + uri, AsEventPlaylist(*text)));
    prefix.audio_playlists.push_back(uri);
  }
  d.dash = false;  // the MPD is the stitch's
  OutputResult described_out;
  REEL_RETURN_IF_ERROR(WritePackageGlue(d, {}, dir, dir, &described_out));
  const std::string master = std::string(layout::kMasterPlaylist);
  REEL_RETURN_IF_ERROR(WithoutIFrames(dir + "/" + master));
  prefix.master = master;
  return prefix;
}

}  // namespace reel::engine
