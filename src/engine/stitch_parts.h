// What the stitch (stitch.h) and the progressive publisher (progressive.h) both read from a
// chunked job's staging, so that a published prefix is made exactly as the final package is.
// Engine-internal.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "engine/package_writer.h"

namespace reel::engine::stitch_parts {

Result<std::string> ReadWhole(const std::string& path);
// `from` at `to` (replacing it): a hard link when both are on one file system, else a copy. A
// link costs no I/O, and sharing the inode is safe because nothing rewrites a package's file in
// place: every rewrite (the fragment split, the HDR boxes) writes a new file and renames it over.
Status PlaceFile(const std::string& from, const std::string& to);
Result<nlohmann::json> ReadJson(const std::string& path);

// The codec configuration box of an init segment's sample entry (avcC, hvcC, av1C or vpcC):
// the parameter sets every segment of the rendition is decoded with.
Result<std::string> CodecConfiguration(const std::string& init_path);

// The chunks' media playlists of one rendition joined: the first chunk's header (as the muxer
// wrote it), every chunk's segments in order, the largest target duration; no ENDLIST.
Result<std::string> JoinPlaylists(const std::vector<std::string>& playlists);

// What the run whose staging is `task_dir` saw of output `index` (chunk.h's kPackagesFile).
Result<PackageDescription> ReadDescription(const std::string& task_dir, int index);

// The audio task's renditions of output `index` (in `audio_dir`), in the order of their tracks,
// described as the audio task described them (language, name, default).
Result<std::vector<PackageAudio>> StagedAudio(const std::string& staging_dir,
                                              const std::string& audio_dir, int index);

}  // namespace reel::engine::stitch_parts
