#include "engine/stitch_parts.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/chunk.h"
#include "layout/layout.h"

namespace reel::engine::stitch_parts {

namespace fs = std::filesystem;

Result<std::string> ReadWhole(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Unavailable("cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

Status PlaceFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::remove(to, ec);
  if (fs::create_hard_link(from, to, ec); !ec) return Status::Ok();
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return Unavailable("cannot copy " + from + " to " + to + ": " + ec.message());
  return Status::Ok();
}

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
  return header + body;
}

Result<nlohmann::json> ReadJson(const std::string& path) {
  Result<std::string> text = ReadWhole(path);
  if (!text.ok()) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument(path + ": not JSON");
  return j;
}

Result<PackageDescription> ReadDescription(const std::string& task_dir, int index) {
  const std::string path = task_dir + "/" + std::string(kPackagesFile);
  Result<nlohmann::json> j = ReadJson(path);
  if (!j.ok()) return j.status();
  if (!j->contains(std::to_string(index)))
    return FailedPrecondition(path + ": output " + std::to_string(index) + " is not described");
  Result<PackageDescription> d = PackageDescriptionFromJson((*j)[std::to_string(index)]);
  if (!d.ok()) return d.status().WithContext(path);
  return d;
}

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
    const PackageAudio* found = nullptr;
    for (const PackageAudio& a : described->audio)
      if (a.name == name) found = &a;
    if (!found)
      return FailedPrecondition("audio: the audio task did not describe its rendition " + name);
    audio.push_back(*found);
  }
  return audio;
}

}  // namespace reel::engine::stitch_parts
