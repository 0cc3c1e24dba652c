// Chunked encoding as tasks (README "Chunked encoding"): whether a job's attempt fans out, and
// the tasks it fans out into.
//
//   chunk  one time range of every chunked package's video and chunked MP4's video
//          (engine::EncodeChunk, engine::ChunkedFile); payload {"chunk": <ChunkRange>,
//          "per_title": {"<output index>": <choice>}}, the per-title choices made once by the
//          deciding attempt (engine::ChoosePerTitleOnce), when any
//   audio  the packages' and chunked MP4s' whole audio, encoded once (engine::EncodeAudio);
//          only with audio
//   main   every output that is not chunked (other files, previews, thumbnails, sprites,
//          waveforms, loudness), encoded and delivered as an unchunked run would: they run
//          beside the chunks rather than after the stitch, and a package-only job has none
//   stitch the packages and MP4s from the staged chunks and audio (engine::Stitch), delivered,
//          and the job's result merged from every task's; payload {"layout": <ChunkLayout>}
//   publish with a "publish": "progressive" HLS output, the job's one publisher (publish.h):
//          payload {"layout": <ChunkLayout>, "outputs": [indexes], "audio": bool}
//
// A chunk or the audio writes under its own attempt's folder of the job's staging
// ("chunk-3.a2"), which its result names; the stitch reads the folders the succeeded tasks'
// results name, so two attempts of one chunk never write the same files. The staging outlives the
// stitch (a stitch re-run reads it again); the worker that records the job's end removes it.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "attempt/attempt.h"
#include "attempt/plan.h"
#include "common/status.h"
#include "engine/chunk.h"

namespace reel::attempt {

// The tasks `spec` fans out into, decided after its source was fetched and `plan` made; nullopt
// to run it unchunked (chunking "off", "auto" on a short source or a lone worker slot, no
// package to chunk). An error is why a job that asked, or would have been chunked, cannot be
// (ChunkBoundaries' refusal, a package measuring quality): it runs unchunked and says so.
// `options` (threads, cancel) are the run's, for the per-title analysis made here once.
Result<std::optional<FanOutMessage>> DecideFanOut(const job::JobSpec& spec, const AttemptPlan& plan,
                                                  const FanOutPolicy& policy,
                                                  const engine::TranscodeOptions& options = {});

nlohmann::json ChunkRangeToJson(const engine::ChunkRange& c);
Result<engine::ChunkRange> ChunkRangeFromJson(const nlohmann::json& j);
nlohmann::json ChunkLayoutToJson(const engine::ChunkLayout& layout);
Result<engine::ChunkLayout> ChunkLayoutFromJson(const nlohmann::json& j);

}  // namespace reel::attempt
