#include "api/output_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>

#include "layout/layout.h"
#include "presets/outputs.h"
#include "storage/storage.h"

namespace reel::api {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A relative path of plain names: no "..", ".", empty parts, absolute paths or backslashes.
bool PlainRelative(const std::string& relative) {
  if (relative.empty() || relative.front() == '/' || relative.back() == '/' ||
      relative.find('\\') != std::string::npos || relative.find('\0') != std::string::npos)
    return false;
  for (const fs::path& part : fs::path(relative))
    if (part.empty() || part == "." || part == "..") return false;
  return true;
}

std::string BaseName(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p.substr(p.rfind('/') + 1);
}

// Whether `relative` is a file of one of the package's subtitle renditions (as its result lists
// them): the playlist, a WebVTT segment, the whole WebVTT file.
bool InSubtitles(const json& output, const std::string& relative) {
  using Kind = layout::PackageFile::Kind;
  std::optional<layout::PackageFile> file = layout::ParsePackagePath(relative);
  if (!file || file->rendition.empty() ||
      (file->kind != Kind::kMediaPlaylist && file->kind != Kind::kSubtitleSegment &&
       file->kind != Kind::kSubtitleFile))
    return false;
  for (const json& s : output.value("subtitles", json::array()))
    if (s.is_object() && s.value("playlist", "") == layout::MediaPlaylistUri(file->rendition))
      return true;
  return false;
}

// Whether `relative` is a file reel writes into this directory output.
bool InPackage(const json& output, const std::string& relative) {
  if (output.contains("images")) {
    for (const json& image : output["images"])
      if (image.value("path", "") == relative) return true;
    return false;
  }
  for (const char* key : {"master", "manifest"})
    if (output.contains(key) && BaseName(output.value(key, "")) == relative) return true;
  // Otherwise a rendition's playlist, init segment or segment, of a rendition the result names.
  if (InSubtitles(output, relative)) return true;
  std::optional<layout::PackageFile> file = layout::ParsePackagePath(relative);
  if (!file || file->rendition.empty()) return false;
  // The audio tracks' folders: audio, audio_1...
  if (std::optional<int> track = layout::AudioTrackOf(file->rendition))
    return *track < presets::kMaxAudioTracks;
  for (const json& v : output.value("variants", json::array()))
    if (v.value("playlist", "").rfind(file->rendition + "/", 0) == 0) return true;
  return false;
}

bool IsDirectoryOutput(const json& requested, const json& output) {
  std::string destination = requested.value("destination", "");
  return (!destination.empty() && destination.back() == '/') || output.contains("master") ||
         output.contains("manifest") || requested.value("count", 1) > 1;
}

bool Inside(const fs::path& path, const fs::path& dir) {
  auto [d, p] = std::mismatch(dir.begin(), dir.end(), path.begin(), path.end());
  return d == dir.end();
}

// `dir` as the job wrote it: still a real directory at that path (not a link swapped in since),
// inside one of the allowed roots.
Status CheckLocalDirectory(const fs::path& dir, const std::vector<std::string>& allow_paths,
                           const std::string& name) {
  std::error_code ec;
  fs::path normal = dir.lexically_normal();
  if (!normal.has_filename()) normal = normal.parent_path();
  fs::path resolved = fs::canonical(normal, ec);
  if (ec || resolved != normal || !fs::is_directory(resolved, ec))
    return NotFound(name + " is no longer where the job wrote it");
  for (const std::string& root : allow_paths) {
    fs::path r = fs::weakly_canonical(root, ec);
    if (!ec && Inside(resolved, r)) return Status::Ok();
  }
  return NotFound(name + " is outside the allowed paths");
}

}  // namespace

Result<OutputFile> FindOutputFile(const json& spec, const json& result, int index,
                                  const std::string& relative,
                                  const std::vector<std::string>& allow_paths) {
  std::string name = "output " + std::to_string(index);
  const json* output = nullptr;
  if (result.is_object() && result.contains("outputs"))
    for (const json& o : result["outputs"])
      if (o.value("index", -1) == index) output = &o;
  if (!output) return NotFound("the job has no finished " + name);
  if (output->contains("error")) return NotFound(name + " failed: " + output->value("error", ""));
  json requested = json::object();
  if (spec.contains("outputs") && spec["outputs"].is_array() &&
      static_cast<size_t>(index) < spec["outputs"].size())
    requested = spec["outputs"][index];
  Status no_such = NotFound("no file '" + relative + "' in " + name);
  if (!PlainRelative(relative)) return no_such;
  std::string type = storage::ContentType(relative);

  bool delivered = output->contains("delivered");
  std::string destination = requested.value("destination", "");
  if (delivered && storage::KindOf(destination) != storage::Kind::kS3)
    return NotFound(name + " was delivered to " + output->value("path", "its destination") +
                    "; read it there");

  if (IsDirectoryOutput(requested, *output)) {
    if (!InPackage(*output, relative)) return no_such;
    if (delivered) {
      if (destination.back() != '/') destination += '/';
      return OutputFile{"", "", destination + relative, type};
    }
    std::string base = output->value("path", "");
    REEL_RETURN_IF_ERROR(CheckLocalDirectory(base, allow_paths, name));
    return OutputFile{fs::path(base).lexically_normal().string(), relative, "", type};
  }

  // A file output: each name the result gives, to where that file was written.
  std::map<std::string, std::string> files;
  if (delivered) {
    files[BaseName(destination)] = destination;
    if (output->contains("vtt")) {
      std::string vtt = layout::SpriteVttPath(destination);
      files[BaseName(vtt)] = vtt;
    }
    if (requested.contains("image") && requested["image"].is_string())
      files[BaseName(requested["image"])] = requested["image"];
  } else {
    for (const char* key : {"path", "vtt", "image"})
      if (output->contains(key) && (*output)[key].is_string() && !(*output)[key].empty())
        files[BaseName((*output)[key])] = (*output)[key];
  }
  auto it = files.find(relative);
  if (it == files.end()) return no_such;
  if (storage::KindOf(it->second) == storage::Kind::kS3)
    return OutputFile{"", "", it->second, type};
  if (storage::KindOf(it->second) != storage::Kind::kLocal) return no_such;
  fs::path file(it->second);
  REEL_RETURN_IF_ERROR(CheckLocalDirectory(file.parent_path(), allow_paths, name));
  return OutputFile{file.parent_path().lexically_normal().string(), file.filename().string(), "",
                    type};
}

Result<int> OpenOutputFile(const OutputFile& file) {
  Status gone = NotFound("no file '" + file.relative + "'");
  int dir = open(file.directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) return gone;
  std::vector<std::string> parts;
  for (const fs::path& part : fs::path(file.relative)) parts.push_back(part.string());
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = openat(dir, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(dir);
    if (next < 0) return gone;
    dir = next;
  }
  // O_NONBLOCK: a FIFO put in its place must not hang the server in open().
  int fd = openat(dir, parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  close(dir);
  if (fd < 0) return gone;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return gone;
  }
  return fd;
}

namespace {

// "bytes=a-b", "bytes=a-", "bytes=-n": first (or -1) and last (or -1); false if malformed.
bool SplitRange(const std::string& header, int64_t* first, int64_t* last) {
  static const std::regex single(R"(\s*bytes\s*=\s*(\d{0,18})\s*-\s*(\d{0,18})\s*)");
  std::smatch m;
  if (!std::regex_match(header, m, single) || (m[1].length() == 0 && m[2].length() == 0))
    return false;
  *first = m[1].length() ? std::stoll(m[1]) : -1;
  *last = m[2].length() ? std::stoll(m[2]) : -1;
  return *first < 0 || *last < 0 || *first <= *last;
}

}  // namespace

bool IsSingleRange(const std::string& header) {
  int64_t first, last;
  return SplitRange(header, &first, &last);
}

ByteRange ParseRange(const std::string& header, int64_t size) {
  ByteRange r;
  int64_t first, last;
  if (header.empty() || !SplitRange(header, &first, &last)) return r;
  if (first < 0) {  // the last `last` bytes
    if (last == 0 || size == 0) {
      r.kind = ByteRange::Kind::kUnsatisfiable;
      return r;
    }
    r.first = std::max<int64_t>(0, size - last);
    r.last = size - 1;
  } else {
    if (first >= size) {
      r.kind = ByteRange::Kind::kUnsatisfiable;
      return r;
    }
    r.first = first;
    r.last = last < 0 ? size - 1 : std::min(last, size - 1);
  }
  r.kind = ByteRange::Kind::kPart;
  return r;
}

std::string ByteRange::ContentRange(int64_t size) const {
  if (kind != Kind::kPart) return "bytes */" + std::to_string(size);
  return "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size);
}

}  // namespace reel::api
