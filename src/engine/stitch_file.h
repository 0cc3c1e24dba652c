// The stitch of a chunked MP4 file (chunk.h's ChunkedFile): the chunks' video packets and the
// audio task's packets remuxed, never re-encoded, into one progressive fast-start MP4 written as
// an unchunked run writes it. Internal to the engine; Stitch (stitch.h) calls it.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/chunk.h"
#include "engine/engine.h"
#include "engine/staging.h"

namespace reel::engine {

// Writes file output `f` (into `staging`, which the caller commits with the packages: the stitch
// moves nothing into place before every output is whole) from `staging_dir`, which holds
// the chunks of `layout` and, when `audio` (the source has some), the audio task's part. Fails,
// naming the chunk, when a chunk's parameter sets differ from chunk 0's or its frames are not
// exactly those of its range. Describes it as Transcode describes a file.
Result<OutputResult> StitchFile(const FileOutputPlan& f, const ChunkLayout& layout,
                                const std::string& staging_dir, bool audio, Staging* staging);

}  // namespace reel::engine
