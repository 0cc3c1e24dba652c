// The names of every file and folder the engine writes, made and parsed in this one place.
//
// An HLS/DASH package is laid out as
//   master.m3u8, manifest.mpd                      at the top
//   <rendition>/index.m3u8, init.mp4, seg_NNNNN.m4s one folder per rendition ("720p", "audio")
// a thumbnail series as thumb_NNNN.<format> in its folder, a sprite sheet's WebVTT track beside
// the sheet, and every output is first written under a staging name beside its destination
// (".<name>.reel-XXXXXX<ext>"). Other modules (the worker's clean-up of a killed child, the API's
// listing of output files) must read these names through here rather than re-derive them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace reel::layout {

// ---- HLS/DASH packages ----------------------------------------------------------------------

inline constexpr std::string_view kMasterPlaylist = "master.m3u8";
inline constexpr std::string_view kDashManifest = "manifest.mpd";
inline constexpr std::string_view kMediaPlaylist = "index.m3u8";  // in each rendition folder
inline constexpr std::string_view kInitSegment = "init.mp4";      // in each rendition folder
inline constexpr std::string_view kAudioRendition = "audio";      // the shared audio's folder
inline constexpr std::string_view kPreviewRendition = "preview";  // a single-rendition package
// In each video rendition's folder: its I-frame playlist (byte ranges into its segments).
inline constexpr std::string_view kIFramePlaylist = "iframes.m3u8";
// A subtitle rendition's folder holds index.m3u8, seg_NNNNN.vtt and, for DASH, one whole file.
inline constexpr std::string_view kSubtitleFile = "subtitles.vtt";

// seg_00012.m4s: the media segment numbered `number` (from 0).
std::string SegmentName(int number);
// seg_00012.vtt: segment `number` of a subtitle rendition.
std::string SubtitleSegmentName(int number);
// "sub_0": the folder of subtitle rendition `number` (from 0).
std::string SubtitleRendition(int number);
// The folder of audio track `track` (from 0, in the order kept): "audio" for the first, so a
// package with one track keeps its paths, then "audio_1", "audio_2"...
std::string AudioRendition(int track);
// The track whose folder `rendition` is, or nullopt when it is not an audio folder.
std::optional<int> AudioTrackOf(std::string_view rendition);
// The pattern the hls muxer numbers segments with, "seg_%05d.m4s".
std::string SegmentPattern();
// The DASH SegmentTemplate attributes of a rendition folder: "720p/init.mp4" and
// "720p/seg_$Number%05d$.m4s".
std::string DashInitTemplate(std::string_view rendition);
std::string DashMediaTemplate(std::string_view rendition);
// "720p/index.m3u8": a media playlist's URI relative to the package (and in master.m3u8).
std::string MediaPlaylistUri(std::string_view rendition);
// A file of `rendition` relative to the package: "720p/init.mp4".
std::string RenditionFile(std::string_view rendition, std::string_view file);

// What a path relative to a package (or to a thumbnail folder) names.
struct PackageFile {
  enum class Kind {
    kMasterPlaylist,  // master.m3u8
    kDashManifest,    // manifest.mpd
    kMediaPlaylist,   // <rendition>/index.m3u8
    kIFramePlaylist,  // <rendition>/iframes.m3u8
    kInitSegment,     // <rendition>/init.mp4
    kSegment,         // <rendition>/seg_<number>.m4s
    kThumbnail,       // thumb_<number>.<format>
    // A subtitle rendition's <rendition>/seg_<number>.vtt, and its whole <rendition>/subtitles.vtt
    kSubtitleSegment,
    kSubtitleFile,
  };
  Kind kind;
  std::string rendition;  // the folder, for the files inside one
  int number = -1;        // segments and thumbnails
  std::string format;     // thumbnails: jpg, png or webp
};

// Parses "master.m3u8", "720p/seg_00003.m4s", "thumb_0002.jpg"...; nullopt for anything the
// engine does not write. Rendition folder names are one path element, not "." or "..".
std::optional<PackageFile> ParsePackagePath(std::string_view relative);
// The name of one entry: a file at the top of a package (master, manifest, thumbnail) or, with
// `in_rendition`, a file inside a rendition folder (playlist, init segment, segment).
std::optional<PackageFile> ParsePackageEntry(std::string_view name, bool in_rendition);
// The inverse of ParsePackagePath.
std::string MakePackagePath(const PackageFile& file);

// ---- Images -----------------------------------------------------------------------------------

// thumb_0003.jpg: image `number` (from 1) of a thumbnail series, in the series' folder.
std::string ThumbnailName(int number, std::string_view format);
// The WebVTT track of a sprite sheet: the sheet's path with the extension .vtt.
std::string SpriteVttPath(std::string_view sheet_path);

// ---- Staging ----------------------------------------------------------------------------------

// The mkstemp/mkdtemp template for staging `destination` (a path): ".<name>.reel-XXXXXX<suffix>"
// beside it; `suffix` is the file's extension ("" for a directory).
std::string StagingTemplate(std::string_view destination, std::string_view suffix);
// The prefix every staging name of `destination_name` (a file name) starts with, ".<name>.reel-":
// what is left behind by a killed run.
std::string StagingPrefix(std::string_view destination_name);
// Whether `name` (a file name) is a staging name of the destination named `destination_name`.
bool IsStagingName(std::string_view name, std::string_view destination_name);
// Where an existing directory destination is moved aside while it is replaced.
std::string ReplacedPath(std::string_view destination, long pid);
// The mkstemps template of the temporary copy of a subtitles file, in `temp_dir`.
std::string SubtitlesCopyTemplate(std::string_view temp_dir, std::string_view extension);

}  // namespace reel::layout
