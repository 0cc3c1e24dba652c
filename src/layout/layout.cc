#include "layout/layout.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <filesystem>

namespace reel::layout {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSegmentPrefix = "seg_", kSegmentSuffix = ".m4s";
constexpr std::string_view kSubtitleSuffix = ".vtt";
constexpr std::string_view kThumbnailPrefix = "thumb_";
constexpr std::string_view kStagingMark = ".reel-";

// `text` is `prefix`, one or more digits, `suffix`: the number, else -1. A number too long for an
// int still matches (as INT_MAX): the engine never writes one, but it is still one of its names.
int NumberBetween(std::string_view text, std::string_view prefix, std::string_view suffix) {
  if (text.size() <= prefix.size() + suffix.size() || !text.starts_with(prefix) ||
      !text.ends_with(suffix))
    return -1;
  std::string_view digits = text.substr(prefix.size(), text.size() - prefix.size() - suffix.size());
  long long n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    n = std::min<long long>(n * 10 + (c - '0'), INT_MAX);
  }
  return static_cast<int>(n);
}

bool IsThumbnailFormat(std::string_view f) { return f == "jpg" || f == "png" || f == "webp"; }

}  // namespace

std::string SegmentName(int number) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "seg_%05d.m4s", number);
  return buf;
}

std::string SubtitleSegmentName(int number) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "seg_%05d.vtt", number);
  return buf;
}

std::string SubtitleRendition(int number) { return "sub_" + std::to_string(number); }

std::string AudioRendition(int track) {
  return track == 0 ? std::string(kAudioRendition)
                    : std::string(kAudioRendition) + "_" + std::to_string(track);
}

std::optional<int> AudioTrackOf(std::string_view rendition) {
  if (rendition == kAudioRendition) return 0;
  std::string prefix = std::string(kAudioRendition) + "_";
  if (rendition.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view digits = rendition.substr(prefix.size());
  // Exactly AudioRendition's spelling: no sign, no leading zero, no "audio_0" (that is "audio").
  if (digits.empty() || digits.size() > 3 || digits[0] == '0' ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoi(std::string(digits));
}

std::string SegmentPattern() { return "seg_%05d.m4s"; }

std::string DashInitTemplate(std::string_view rendition) {
  return RenditionFile(rendition, kInitSegment);
}

std::string DashMediaTemplate(std::string_view rendition) {
  return RenditionFile(rendition, "seg_$Number%05d$.m4s");
}

std::string MediaPlaylistUri(std::string_view rendition) {
  return RenditionFile(rendition, kMediaPlaylist);
}

std::string RenditionFile(std::string_view rendition, std::string_view file) {
  std::string s(rendition);
  s.append("/").append(file);
  return s;
}

std::optional<PackageFile> ParsePackageEntry(std::string_view name, bool in_rendition) {
  using Kind = PackageFile::Kind;
  if (in_rendition) {
    if (name == kMediaPlaylist) return PackageFile{Kind::kMediaPlaylist, "", -1, ""};
    if (name == kIFramePlaylist) return PackageFile{Kind::kIFramePlaylist, "", -1, ""};
    if (name == kInitSegment) return PackageFile{Kind::kInitSegment, "", -1, ""};
    int n = NumberBetween(name, kSegmentPrefix, kSegmentSuffix);
    if (n >= 0) return PackageFile{Kind::kSegment, "", n, ""};
    if (name == kSubtitleFile) return PackageFile{Kind::kSubtitleFile, "", -1, ""};
    n = NumberBetween(name, kSegmentPrefix, kSubtitleSuffix);
    if (n >= 0) return PackageFile{Kind::kSubtitleSegment, "", n, ""};
    return std::nullopt;
  }
  if (name == kMasterPlaylist) return PackageFile{Kind::kMasterPlaylist, "", -1, ""};
  if (name == kDashManifest) return PackageFile{Kind::kDashManifest, "", -1, ""};
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || !IsThumbnailFormat(name.substr(dot + 1)))
    return std::nullopt;
  int n = NumberBetween(name.substr(0, dot), kThumbnailPrefix, "");
  if (n < 0) return std::nullopt;
  return PackageFile{Kind::kThumbnail, "", n, std::string(name.substr(dot + 1))};
}

std::optional<PackageFile> ParsePackagePath(std::string_view relative) {
  size_t slash = relative.find('/');
  if (slash == std::string_view::npos) return ParsePackageEntry(relative, false);
  std::string_view folder = relative.substr(0, slash), rest = relative.substr(slash + 1);
  if (folder.empty() || folder == "." || folder == ".." || rest.find('/') != std::string_view::npos)
    return std::nullopt;
  std::optional<PackageFile> f = ParsePackageEntry(rest, true);
  if (f) f->rendition = std::string(folder);
  return f;
}

std::string MakePackagePath(const PackageFile& file) {
  using Kind = PackageFile::Kind;
  switch (file.kind) {
    case Kind::kMasterPlaylist:
      return std::string(kMasterPlaylist);
    case Kind::kDashManifest:
      return std::string(kDashManifest);
    case Kind::kMediaPlaylist:
      return MediaPlaylistUri(file.rendition);
    case Kind::kIFramePlaylist:
      return RenditionFile(file.rendition, kIFramePlaylist);
    case Kind::kInitSegment:
      return RenditionFile(file.rendition, kInitSegment);
    case Kind::kSegment:
      return RenditionFile(file.rendition, SegmentName(file.number));
    case Kind::kSubtitleSegment:
      return RenditionFile(file.rendition, SubtitleSegmentName(file.number));
    case Kind::kSubtitleFile:
      return RenditionFile(file.rendition, kSubtitleFile);
    case Kind::kThumbnail:
      return ThumbnailName(file.number, file.format);
  }
  return "";
}

std::string ThumbnailName(int number, std::string_view format) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "thumb_%04d.", number);
  return std::string(buf).append(format);
}

std::string SpriteVttPath(std::string_view sheet_path) {
  return fs::path(sheet_path).replace_extension(".vtt").string();
}

std::string StagingTemplate(std::string_view destination, std::string_view suffix) {
  fs::path dest(destination);
  fs::path parent = dest.parent_path();
  if (parent.empty()) parent = ".";
  std::string name = StagingPrefix(dest.filename().string());
  name.append("XXXXXX").append(suffix);
  return (parent / name).string();
}

std::string StagingPrefix(std::string_view destination_name) {
  std::string name = ".";  // built by appending: GCC 12 misreports "." + str (-Wrestrict)
  name.append(destination_name).append(kStagingMark);
  return name;
}

bool IsStagingName(std::string_view name, std::string_view destination_name) {
  return name.starts_with(StagingPrefix(destination_name));
}

std::string ReplacedPath(std::string_view destination, long pid) {
  std::string s(destination);
  s.append(kStagingMark).append("old-").append(std::to_string(pid));
  return s;
}

std::string SubtitlesCopyTemplate(std::string_view temp_dir, std::string_view extension) {
  return (fs::path(temp_dir) / "reel-subtitles-XXXXXX").string().append(extension);
}

}  // namespace reel::layout
