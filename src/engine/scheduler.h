// The scheduler's pieces: the run state every stage checks, the bounded frame queues between
// threads, and (in scheduler.cc) the one place that knows how the stages are wired together.
// Internal to the engine; engine.h is the public contract.
//
// The stages, in the manner of FFmpeg 7's fftools split (ffmpeg_sched.h): each owns its state
// and is driven by the scheduler; a stage reaches another only through what the scheduler
// handed it (an encoder writes to the MuxTargets it was given; a package reads its renditions'
// encoders once they are done).
//
//   Source (demux_decode.cc) ─┬─ normalised video ─┬─ video taps (tap_stage.cc), same thread
//     demux, decode, the      │                    ├─ FrameQueue ─ VideoRendition (encode.cc),
//     per-source normalise    │                    │   own thread: rung graph, encoder → mux.cc
//     graph (filter.cc)       │                    └─ ... one per distinct video setting
//                             └─ audio ────────────┬─ FrameQueue ─ audio taps' analysis thread
//                                                  └─ AudioRendition (encode.cc), same thread:
//                                                      resample graph, encoder → mux.cc
//   Package (package.cc): HLS folders and their muxers, then master.m3u8 / manifest.mpd from what
//   the muxers wrote; Staging (staging.cc) moves every output into place at the very end.
//
// How each stage is started, fed and drained:
// 1. Plan (decode thread, before any frame). The Source opens the first input and its decoders
//    and builds the normalise graph, which fixes the frame grid every rendition reads; loudness
//    normalisation first measures the whole audio in a pass of its own. The scheduler then
//    plans outputs: one VideoRendition / AudioRendition per distinct setting
//    (a rung shared by an HLS ladder and an MP4 is encoded once), stages every destination,
//    plans the taps, opens the encoders and their graphs, and opens the muxers (HLS packages
//    first, then files), giving each rendition the muxer streams it feeds (MuxTarget).
// 2. Start. One thread per VideoRendition, blocked on its empty FrameQueue; one analysis thread
//    if a waveform or loudness tap needs audio. Everything else runs on the calling thread.
// 3. Feed. Source::Run demuxes and decodes, and hands the scheduler (a DecodedSink) every
//    normalised video frame and every audio frame in the renditions' input format. The
//    scheduler gives a video frame to the video taps, then a reference to every rendition's
//    queue; an audio frame to the analysis queue (the main track's only), then through every
//    AudioRendition of its track in turn (a package keeps one rendition per audio track it keeps,
//    Source::KeepAudioStream).
//    The queues are bounded (8 video frames, 64 audio frames), so the decode thread never runs
//    more than a few frames ahead of the slowest encoder: that is the only back-pressure.
//    A job of thumbnails alone is fed by Source::RunSeeking instead: it seeks to each time a
//    thumbnail needs and gives the taps their frames directly.
// 4. Drain at the end of input. The Source flushes its decoders and closes the normalise graph
//    (its last frames go out as in 3), ends the audio (Audio(nullptr): each AudioRendition
//    flushes its graph and encoder), then calls InputEnd (video taps finish their images).
//    Between joined sources only the finished source's decoders and graphs are drained; the
//    renditions go on, the next source's frames continuing the same timeline.
//    The scheduler closes every queue; each rendition thread drains its queue, closes its graph
//    at the end of the last frame, flushes its encoder and exits; the analysis thread feeds its
//    taps end-of-stream. Progress keeps being reported until every rendition has finished.
//    After every thread has joined the muxers write their trailers (in the order opened), the
//    packages get their master playlists and manifests, and Staging commits.
// 5. Error or cancel. Any stage that fails calls RunState::Fail; a cancel comes through the
//    caller's flag. Every loop checks RunState::ShouldStop: the Source stops reading, queue
//    Push/Pop stop waiting (a failed consumer also empties its queue so the producer never
//    blocks on it), rendition threads skip their flush, the scheduler still closes and joins
//    everything, writes no trailer, and returns the first error (or kCanceled); Staging's
//    destructor removes whatever was written.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

#include "engine/av_util.h"
#include "engine/engine.h"

namespace reel::engine {

// The stop flag and the first error of a run, shared by every thread.
class RunState {
 public:
  explicit RunState(const std::atomic<bool>* cancel) : cancel_(cancel) {}

  bool ShouldStop() const {
    return failed_.load(std::memory_order_relaxed) || (cancel_ && cancel_->load());
  }
  void Fail(Status status);
  // The first error, else kCanceled if the caller canceled, else Ok.
  Status Outcome() const;

 private:
  const std::atomic<bool>* cancel_;
  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;
  Status error_;
};

// A bounded queue of frames between the decode thread and one consumer thread.
class FrameQueue {
 public:
  FrameQueue(size_t capacity, const RunState* run) : capacity_(capacity), run_(run) {}

  // Blocks while full. Returns false if the run is stopping or the consumer is gone.
  bool Push(FramePtr frame);
  // Blocks while empty. Returns nullptr at the end of the stream or when the run is stopping.
  FramePtr Pop();
  // The producer is done: Pop returns what is left, then nullptr.
  void Close();
  // The consumer failed: drops what is queued and makes every Push fail from now on.
  void ConsumerGone();

 private:
  const size_t capacity_;
  const RunState* run_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<FramePtr> queue_;
  bool closed_ = false;
  bool consumer_gone_ = false;
};

// A run limited to part of the work, for chunked encoding (chunk.h): the video of the frames
// [first_frame, end_frame) of the global constant-rate grid (end_frame < 0: to the end), with
// no audio, taps or subtitles; or the audio alone. Segments are numbered from first_segment.
struct RunWindow {
  enum class Kind { kVideoRange, kAudioOnly } kind = Kind::kVideoRange;
  int64_t first_frame = 0;
  int64_t end_frame = -1;
  int first_segment = 0;
  // Frames encoded before and after the range but not written, so that the encoder's rate
  // control meets the range as a whole run does. lead_frames is a multiple of the GOP.
  int64_t lead_frames = 0, tail_frames = 0;
};

// The cores this process may run on: a worker pinned with taskset or a cpuset (a container's CPU
// set) must not size its encoder threads by the whole machine, or they contend on its few cores.
int UsableCores();

// Transcode (engine.h) limited to `window`; the plan's outputs are staged and moved into place
// as Transcode does.
Result<TranscodeResult> TranscodeWindow(const TranscodePlan& plan, const TranscodeOptions& options,
                                        const RunWindow& window);

// What the Source hands on, on the decode thread. Implemented by the scheduler.
class DecodedSink {
 public:
  virtual ~DecodedSink() = default;
  // A normalised video frame: rotated, on the constant-rate grid, `start`..`end` in seconds.
  virtual Status Video(AVFrame* frame, double start, double end) = 0;
  // Audio of track `track` (Source::KeepAudioStream; 0: the main audio) in the renditions' input
  // format; nullptr is the end of that track.
  virtual Status Audio(int track, AVFrame* frame) = 0;
  // Every frame has been handed on (not called when the run stops early).
  virtual Status InputEnd() = 0;
  // Called after every packet read, for progress reports.
  virtual void Tick() = 0;
};

}  // namespace reel::engine
