// Progressive publishing (README "Early playback"): the `publish` task of a chunked job with a
// `"publish": "progressive"` HLS output. Internal to the attempt module (fan_out.cc runs it).
//
// How it stays one publisher that only moves forward:
// - A job has one `publish` task row (store::TaskKind::kPublish), leased, renewed, fenced and
//   expired like any task. It starts idle (stored as "succeeded") and only the store queues it
//   again: in the transaction that records a chunk's or the audio's success, or the publisher's
//   own end, with the job's row locked, and only when it is idle and there is more to publish
//   than it has (SqlJobStore::WakePublisher). It is never queued while it runs, so two chunks
//   finishing at once on two hosts queue it once, and two turns never overlap; a publisher that
//   dies is expired and run again like any task.
// - A turn publishes the chunks done in order from the first (chunk k only once 0..k-1 are), as
//   its job was when it was leased. Succeeded chunks stay succeeded, so what a turn sees is never
//   less than what an earlier turn saw: the playlists never shrink or go backwards.
// - Each output is built as the stitch builds it (engine/progressive.h: the same bytes, the same
//   names) and delivered in order: the segments the last successful turn had not delivered (a
//   failed turn keeps its predecessor's result, so the next sends again what it may have half
//   sent: delivering again is harmless), then the media playlists as EVENT playlists without
//   ENDLIST, then, once chunk 0 and the audio are there, the master.
// - A turn's work is in proportion to what is new, not to what was published before: the host
//   keeps, in the worker's data directory (Environment::publish_cache, "<dir>/<job>/"), the
//   staged folders it fetched from S3 (an attempt's folder, named by its fencing token, never
//   changes once its task succeeded) and each output's prefix as built so far, with the folders
//   it was made of; a turn downloads only the folders the host lacks and builds only the chunks
//   its prefix lacks (engine::PrefixBuilt). A turn on another host, with none of it, fetches and
//   builds what it needs; a turn killed while building leaves no record of that prefix, which
//   the next builds anew. What was delivered is the task's result, in the store: the same on
//   every host. A remote destination gets them through storage::Deliver (segments before
//   playlists, the master last); a local one has each file written beside its place and
//   renamed onto it, so a reader never sees half a file.
// - Once every chunk is done the publisher stops: the stitch waits for it to be idle (as for
//   any other task), then delivers the whole package, making the playlists VOD with ENDLIST and
//   writing the final master (I-frame playlists, subtitles, bandwidths over every segment).
// - A turn's result, kept on its task row for the next turn and shown on the job
//   ("published_segments"): {"chunks": published chunks, "audio": whether the audio and the
//   master are published, "segments": video segments listed}.
#pragma once

#include "attempt/attempt.h"

namespace reel::attempt {

// One turn of the job's publisher. `task.payload` is {"layout": ChunkLayout, "outputs": [output
// indexes], "audio": whether an audio task was planned}; `task.results` the job's succeeded
// tasks and the publisher's last result (kind "publish").
AttemptOutcome RunPublish(const job::JobSpec& spec, const TaskRun& task, const Environment& env);

}  // namespace reel::attempt
