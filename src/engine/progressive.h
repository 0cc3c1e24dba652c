// Progressive publishing, the engine half (README "Early playback"): the part of a chunked HLS
// package that its first chunks make, written as the stitch (stitch.h) would write it, with
// media playlists that are `#EXT-X-PLAYLIST-TYPE:EVENT` and have no ENDLIST yet, so that a
// player can start while the later chunks are still being encoded.
//
// Every segment is made exactly as the stitch makes it (copied from the chunk's staging, then
// cut into one fragment per keyframe with the fragments numbered over the whole rendition): the
// split of a prefix numbers its fragments as the split of the whole does, so a segment published
// early is byte-equal to the one the stitch delivers at the end, which then only adds segments,
// turns the playlists into VOD with ENDLIST and writes the final master (with its I-frame
// playlists, subtitles and bandwidths over the whole).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "engine/chunk.h"

namespace reel::engine {

// What WritePackagePrefix wrote, as paths relative to its folder.
struct PackagePrefix {
  // chunk_files[c]: the media segments of chunk c in every video rendition (chunk 0 also the
  // init segments).
  std::vector<std::vector<std::string>> chunk_files;
  std::vector<std::string> audio_files;      // every audio rendition's init and segments
  std::vector<std::string> video_playlists;  // <rendition>/index.m3u8, EVENT
  std::vector<std::string> audio_playlists;  // <audio rendition>/index.m3u8, EVENT
  std::string master;                        // "master.m3u8" when written, else ""
  int segments = 0;                          // listed by each video playlist
};

// What a folder that WritePackagePrefix wrote holds, kept by its caller between calls so that the
// next call grows it in place: only the new chunks' segments are copied and cut, their fragments
// numbered on from where the last call stopped. A long job's publisher then does work in
// proportion to what is new at each turn, not to everything published so far.
struct PrefixBuilt {
  int chunks = 0;      // the chunks whose segments are in the folder, cut
  bool audio = false;  // the audio renditions are in it
  std::map<std::string, uint32_t> next_fragment;  // by video rendition: its next fragment's number
  nlohmann::json ToJson() const;
  static PrefixBuilt FromJson(const nlohmann::json& j);  // nothing built, when unreadable
};

// Writes into `dir` output `index`'s package made of the first `chunks` chunks of `layout` (at
// least 1), read from `staging_dir` as Stitch reads it; with `audio` (the audio task is done, or
// there is none) also its audio renditions whole and the master playlist, which names the
// variants and the audio group (no I-frame playlists, no subtitles: the stitch's final master
// adds them). With `built` (what `dir` holds from an earlier call over the same chunks' staged
// files; updated), only what it lacks is copied; without, `dir` is written anew. The files listed
// are the whole prefix's either way.
Result<PackagePrefix> WritePackagePrefix(int index, const ChunkLayout& layout, int chunks,
                                         bool audio, const std::string& staging_dir,
                                         const std::string& dir, PrefixBuilt* built = nullptr);

// A media playlist's text as an EVENT playlist: its type EVENT, no ENDLIST.
std::string AsEventPlaylist(const std::string& playlist);

}  // namespace reel::engine
