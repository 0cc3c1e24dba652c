// Chunked encoding, the engine half (issue 14): one job's HLS/DASH video (and the video of its
// MP4 files, ChunkedFile) cut into time ranges that any worker can encode on its own, the audio
// encoded once, and a stitch that makes the same package and files as an unchunked run. Local files
// only; the store/service half leases the tasks that call these functions and moves their staging
// between hosts.
//
// Staging, one folder per job: chunk-<i>/out-<n>/<rendition>/ (its init segment, playlist and
// globally numbered media segments), chunk-<i>/result.json and chunk-<i>/packages.json (what the
// chunk's run saw of each package's renditions: codecs, colour, captions) for chunk i of output
// n; audio/out-<n>/<audio rendition>/ (one folder per kept track, layout::AudioRendition),
// audio/packages.json (each track's language, name, default) and audio/result.json for the
// audio. A chunked MP4 file n has chunk-<i>/out-<n>.mp4 (the chunk's frames, video only) and
// audio/out-<n>.mp4 (its whole audio, when the source has some). Stitch (stitch.h) reads them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"

namespace reel::engine {

// One chunk: the frames [first_frame, end_frame) of the source's constant-rate grid (frame n at
// n/fps from the first frame of the whole source), i.e. the seconds [start, end).
struct ChunkRange {
  int index = 0;
  int64_t first_frame = 0;
  int64_t end_frame = -1;  // -1: to the end of the source (the last chunk)
  double start = 0;
  double end = -1;        // -1: to the end
  int first_segment = 0;  // number of its first media segment in the whole package
  // Frames encoded before and after the range and thrown away, so that the encoder's rate
  // control enters and leaves the range as in a whole run (a cold start costs the first
  // frames several dB). lead_frames is whole GOPs, so the keyframes stay where they were.
  int64_t lead_frames = 0, tail_frames = 0;
};

struct ChunkLayout {
  int rate_num = 30, rate_den = 1;  // the frame grid
  double segment_seconds = 6;
  std::vector<ChunkRange> chunks;
};

// Cuts the plan's source into chunks of about `chunk_seconds`, each a whole number of the
// packages' segments: a chunk starts where an unchunked run starts a segment (the first
// keyframe at or after a multiple of the segment duration), so every chunk yields the same
// segments. The last chunk takes what is left (it may be shorter). Fails, naming why, for what
// cannot be chunked: joined sources, packages with different segment durations or keyframe
// intervals, renditions without fixed GOPs, no package with video.
Result<ChunkLayout> ChunkBoundaries(const TranscodePlan& plan, double chunk_seconds);

// Encodes chunk `chunk` of every video rendition of the plan's packages (HLS and DASH; not
// previews or file outputs) into `staging_dir`/chunk-<i>/. Each chunk's encoders are opened
// exactly as an unchunked run opens them; the first frame is an IDR. A re-run replaces it.
Status EncodeChunk(const TranscodePlan& plan, const ChunkRange& chunk,
                   const std::string& staging_dir, const TranscodeOptions& options = {});

// Encodes the whole audio of the plan's packages once (priming trimmed, the short tail folded,
// as an unchunked run does) into `staging_dir`/audio/. Nothing to do without audio.
Status EncodeAudio(const TranscodePlan& plan, const std::string& staging_dir,
                   const TranscodeOptions& options = {});

// In a chunk's or the audio's staging folder: each package's description (package_writer.h) by
// output index.
inline constexpr std::string_view kPackagesFile = "packages.json";

// The staging folders of chunk `index` ("<staging>/chunk-00003") and of the audio task.
std::string ChunkStagingDir(const std::string& staging_dir, int index);
std::string AudioStagingDir(const std::string& staging_dir);

// Whether the chunks encode file output `f`'s video (and the audio task its audio), the stitch
// remuxing them into one fast-start MP4: an "mp4" output in H.264 of the whole source at its
// frame rate, without a quality report. Its keyframes need not fall on the chunks' boundaries: each
// chunk forces an IDR on its first frame and on the frame after its range (an x264 option the
// encoders never see, so every chunk's encoder is configured as the unchunked one). Other files
// (WebM, Matroska, HEVC/AV1/VP9, previews, mezzanines, own frame rates) run unchunked.
bool ChunkedFile(const FileOutputPlan& f);

// The staged part of chunked file `index` in a chunk's or the audio's staging folder:
// "<dir>/out-<index>.mp4".
std::string StagedFilePart(const std::string& task_dir, int index);

// Per-title ladders of chunked packages are analysed once, before the chunks: each chunk's own
// pre-pass would cost the analysis once per chunk, and a choice that differed between chunks
// (another host's CPU, another thread count) would break the stitch. The choices of the plan's
// chunked per-title packages, by output index ({"0": choice}; empty when none is per-title),
// and the chunk's plan made to encode them (HlsOutputPlan::per_title_choice).
Result<nlohmann::json> ChoosePerTitleOnce(const TranscodePlan& plan,
                                          const TranscodeOptions& options = {});
Status UsePerTitleChoices(const nlohmann::json& choices, TranscodePlan* plan);

// The plan of what chunks and the audio task encode: the plan's packages (not previews) staged
// under `directory`/out-<n>, and, when there is one, its ChunkedFile outputs staged as
// StagedFilePart(directory, n); nothing else. Also what Stitch reads back.
TranscodePlan ChunkedPackagesPlan(const TranscodePlan& plan, const std::string& directory);

}  // namespace reel::engine
