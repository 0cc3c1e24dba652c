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
#include "engine/stitch_parts.h"
#include "layout/layout.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using stitch_parts::CodecConfiguration;
using stitch_parts::JoinPlaylists;
using stitch_parts::PlaceFile;
using stitch_parts::ReadDescription;
using stitch_parts::ReadWhole;
using stitch_parts::StagedAudio;

// The chunks' playlists of one rendition joined as the stitch joins them (the first one's
// header, every segment in order, the largest target duration), as an EVENT playlist.
Result<std::string> JoinPrefix(const std::vector<std::string>& playlists) {
  Result<std::string> joined = JoinPlaylists(playlists);
  if (!joined.ok()) return joined.status();
  return AsEventPlaylist(*joined);
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

nlohmann::json PrefixBuilt::ToJson() const {
  return {{"chunks", chunks}, {"audio", audio}, {"next_fragment", next_fragment}};
}

PrefixBuilt PrefixBuilt::FromJson(const nlohmann::json& j) {
  PrefixBuilt b;
  try {
    b.chunks = j.at("chunks").get<int>();
    b.audio = j.at("audio").get<bool>();
    b.next_fragment = j.at("next_fragment").get<std::map<std::string, uint32_t>>();
  } catch (const nlohmann::json::exception&) {
    return {};
  }
  return b;
}

Result<PackagePrefix> WritePackagePrefix(int index, const ChunkLayout& layout, int chunks,
                                         bool audio, const std::string& staging_dir,
                                         const std::string& dir, PrefixBuilt* built) {
  size_t n = std::min<size_t>(std::max(chunks, 0), layout.chunks.size());
  if (n == 0) return InvalidArgument("progressive: no chunk to publish");
  const std::string part = "/out-" + std::to_string(index);
  const ChunkRange& first = layout.chunks.front();
  Result<PackageDescription> described =
      ReadDescription(ChunkStagingDir(staging_dir, first.index), index);
  if (!described.ok()) return described.status().WithContext("chunk " + std::to_string(0));
  PackageDescription d = std::move(described).value();
  for (PackageVideo& v : d.videos) v.quality = nullptr;

  PrefixBuilt fresh;
  PrefixBuilt& had = built ? *built : fresh;
  // What `dir` holds is kept only when it is a prefix of this one, of the same renditions.
  bool keep = had.chunks > 0 && size_t(had.chunks) <= n;
  for (const PackageVideo& v : d.videos) keep &= had.next_fragment.count(v.name) > 0;
  std::error_code ec;
  if (!keep) {
    had = {};
    fs::remove_all(dir, ec);
  }
  fs::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create " + dir + ": " + ec.message());

  PackagePrefix prefix;
  prefix.chunk_files.resize(n);
  const size_t kept = size_t(had.chunks);         // chunks already in `dir`, their segments cut
  std::map<std::string, uint32_t> next_fragment;  // `had`'s, once every rendition has grown
  for (const PackageVideo& v : d.videos) {
    const std::string vdir = dir + "/" + v.name;
    fs::create_directories(vdir, ec);
    if (ec) return Unavailable("cannot create " + vdir + ": " + ec.message());
    std::vector<std::string> playlists;
    std::string config0;
    size_t kept_segments = 0;
    for (size_t i = 0; i < n; ++i) {
      const ChunkRange& c = layout.chunks[i];
      const std::string cdir = ChunkStagingDir(staging_dir, c.index) + part + "/" + v.name;
      const std::string init = cdir + "/" + std::string(layout::kInitSegment);
      // Chunk 0's parameter sets, against which each new chunk's are checked (the kept ones were).
      if (i == 0 || i >= kept) {
        Result<std::string> config = CodecConfiguration(init);
        if (!config.ok()) return config.status().WithContext("chunk " + std::to_string(c.index));
        if (i == 0)
          config0 = *config;
        else if (*config != config0)
          return FailedPrecondition("progressive: chunk " + std::to_string(c.index) +
                                    ", rendition " + v.name +
                                    ": its parameter sets differ from chunk 0's");
      }
      if (i == 0) {
        if (kept == 0)
          REEL_RETURN_IF_ERROR(PlaceFile(init, vdir + "/" + std::string(layout::kInitSegment)));
        prefix.chunk_files[0].push_back(layout::RenditionFile(v.name, layout::kInitSegment));
      }
      const std::string pl_path = cdir + "/" + std::string(layout::kMediaPlaylist);
      Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(pl_path);
      if (!pl.ok()) return pl.status().WithContext("chunk " + std::to_string(c.index));
      for (const hls::Segment& s : pl->segments) {
        if (i >= kept) REEL_RETURN_IF_ERROR(PlaceFile(cdir + "/" + s.uri, vdir + "/" + s.uri));
        prefix.chunk_files[i].push_back(layout::RenditionFile(v.name, s.uri));
      }
      if (i < kept) kept_segments += pl->segments.size();
      playlists.push_back(pl_path);
    }
    Result<std::string> joined = JoinPrefix(playlists);
    if (!joined.ok()) return joined.status();
    const std::string uri = layout::MediaPlaylistUri(v.name);
    REEL_RETURN_IF_ERROR(WriteTextFile(dir + "/" + uri, *joined));
    // As the stitch cuts them: the prefix's fragments get the numbers the whole's do. The kept
    // chunks' segments were cut by an earlier call, which left the number to go on from.
    uint32_t next = kept > 0 ? had.next_fragment[v.name] : 1;
    Result<int> split = hls::SplitFragmentsFrom(dir + "/" + uri, kept_segments, &next);
    if (!split.ok()) return split.status();
    next_fragment[v.name] = next;
    Result<hls::MediaPlaylist> written = hls::ReadMediaPlaylist(dir + "/" + uri);
    if (!written.ok()) return written.status();
    prefix.segments = int(written->segments.size());
    prefix.video_playlists.push_back(uri);
  }
  had.chunks = int(n);
  had.next_fragment = std::move(next_fragment);
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
      if (!had.audio)
        REEL_RETURN_IF_ERROR(PlaceFile(e.path().string(), dir + "/" + a.name + "/" + name));
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
  had.audio = true;
  return prefix;
}

}  // namespace reel::engine
