// The stitch of a chunked encoding (chunk.h): from the chunks' and the audio's staging, the
// packages an unchunked run writes. Checks that every chunk's parameter sets equal the first
// chunk's (the shared init segment must decode every chunk), then writes each rendition's init
// segment, media segments and playlist, the master, the I-frame playlists and the DASH MPD with
// the same writers as an unchunked run, and remuxes each chunked MP4 file (stitch_file.h).
// Re-running it over the same staging writes the same files.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/chunk.h"
#include "engine/engine.h"

namespace reel::engine {

// Writes every chunked package and MP4 file of `plan` (see ChunkedPackagesPlan) into its
// directory or path from `staging_dir`, which holds the `chunks` chunks of `layout` and the
// audio. Describes them as Transcode does.
Result<TranscodeResult> Stitch(const TranscodePlan& plan, const ChunkLayout& layout,
                               const std::string& staging_dir);

}  // namespace reel::engine
