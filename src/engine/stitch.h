// The stitch of a chunked encoding (chunk.h): from the chunks' and the audio's staging, the
// packages an unchunked run writes. Checks that every chunk's parameter sets equal the first
// chunk's (the shared init segment must decode every chunk), then writes each rendition's init
// segment, media segments and playlist, the master, the I-frame playlists and the DASH MPD with
// the same writers as an unchunked run, and remuxes each chunked MP4 file (stitch_file.h).
// Re-running it over the same staging writes the same files. Each package and file is made
// beside its destination and moved into place only when every one is whole (engine/staging.h,
// as a run's outputs are): a stitch killed halfway leaves no part of a package where viewers or
// the job's next attempt would take it for the whole.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/chunk.h"
#include "engine/engine.h"

namespace reel::engine {

// Writes every chunked package and MP4 file of `plan` (see ChunkedPackagesPlan) into its
// directory or path from `staging_dir`, which holds the `chunks` chunks of `layout` and the
// audio. Describes them as Transcode does. Of `options`, it uses check_destination (before the
// outputs are moved into place) and on_progress (after each rendition is copied).
Result<TranscodeResult> Stitch(const TranscodePlan& plan, const ChunkLayout& layout,
                               const std::string& staging_dir,
                               const TranscodeOptions& options = {});

}  // namespace reel::engine
