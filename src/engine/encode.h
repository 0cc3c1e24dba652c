// The encode stage: encoders opened from presets, and the renditions that own them. A rendition
// is one distinct encoding (a ladder rung, an MP4's video, one AAC setting shared by every output
// asking for it): its own filter graph from the decoded frames to the encoder's format, its
// encoder, and the muxer streams the scheduler wired it to. Internal to the engine.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/av_util.h"
#include "engine/filter.h"
#include "engine/mux.h"
#include "engine/quality.h"
#include "engine/scheduler.h"
#include "presets/presets.h"

namespace reel::engine {

Result<CodecContextPtr> OpenVideoEncoder(const presets::VideoSettings& v, const VideoFormat& f,
                                         int threads);
Result<CodecContextPtr> OpenAudioEncoder(const presets::AudioSettings& a, int channels);

// A video rendition runs on its own thread: it pops normalised frames from its queue, scales
// them in its graph and encodes them. Keeping the scaling off the decode thread is what lets a
// ladder use every core; a single graph with `split` would run every scale on the thread that
// pushes frames into it.
class VideoRendition {
 public:
  VideoRendition(const presets::VideoSettings& settings, const VideoFormat& format, Size picture)
      : settings_(settings), format_(format), picture_(picture) {}
  VideoRendition(const VideoRendition&) = delete;
  VideoRendition& operator=(const VideoRendition&) = delete;
  ~VideoRendition();  // joins the thread if Join was not called

  // Opens the encoder with `threads` and the graph reading frames described by `source_args`
  // on the `base_rate` grid.
  Status Open(int threads, const std::string& source_args, AVRational base_rate, RunState* run);
  void AddTarget(MuxTarget target) { targets_.push_back(target); }
  // Every target takes only the packets with pts in [first, end) (MuxTarget).
  void KeepPackets(int64_t first, int64_t end) {
    for (MuxTarget& t : targets_) {
      t.first_pts = first;
      t.end_pts = end;
    }
  }
  // Makes the frames at pts `first` and `end` (encoder time base) IDR frames, whatever the GOP
  // (a chunk of a chunked MP4, chunk.h). A per-frame choice: the encoder's settings stay.
  void ForceKeyframes(int64_t first, int64_t end) { forced_keyframes_ = {first, end}; }
  // Measure PSNR/SSIM of every `every`-th frame (quality.h); before Open.
  void MeasureQuality(int every) { quality_every_ = every; }
  // The quality report once the rendition has finished; null if not measured.
  nlohmann::json quality() const { return quality_ ? quality_->Report() : nlohmann::json(); }

  void Start();
  // The decode thread's side: Push blocks while the queue is full, false once stopping.
  bool Push(FramePtr frame) { return queue_->Push(std::move(frame)); }
  void Close() { queue_->Close(); }
  bool finished() const { return finished_; }
  void Join();

  const presets::VideoSettings& settings() const { return settings_; }
  const VideoFormat& format() const { return format_; }
  Size picture() const { return picture_; }
  const AVCodecContext* encoder() const { return encoder_.get(); }
  int64_t frames() const { return frames_.load(std::memory_order_relaxed); }
  // End of the last frame sent to the encoder, seconds from its window's start.
  double encoded_seconds() const { return encoded_seconds_.load(std::memory_order_relaxed); }
  // Its window is over (a preview's) or the stream ended: it takes no more frames.
  bool done() const { return done_; }

 private:
  void Loop();
  Status Encode(AVFrame* frame);  // nullptr: the end

  presets::VideoSettings settings_;
  VideoFormat format_;
  Size picture_;  // the picture inside the frame (smaller than it when letterboxed)
  RunState* run_ = nullptr;
  CodecContextPtr encoder_;
  FilterChain chain_;
  std::vector<MuxTarget> targets_;
  std::pair<int64_t, int64_t> forced_keyframes_{INT64_MIN, INT64_MIN};
  int quality_every_ = 0;  // 0: not measured
  std::unique_ptr<QualityMeter> quality_;
  std::function<Status(const AVPacket*)> observe_;  // feeds quality_
  std::unique_ptr<FrameQueue> queue_;
  std::thread thread_;
  std::atomic<int64_t> frames_{0};
  std::atomic<double> encoded_seconds_{0};
  std::atomic<bool> finished_{false};
  // Written by the rendition's thread, read by the progress report.
  std::atomic<bool> done_{false};
  int64_t end_pts_ = 0;  // end of the last frame given to the chain, in its input time base
};

// An audio rendition is cheap: it is filtered (resample, downmix, fixed frame size) and encoded
// on the decode thread.
class AudioRendition {
 public:
  AudioRendition(const presets::AudioSettings& settings, int channels, double gain_db)
      : settings_(settings), channels_(channels), gain_db_(gain_db) {}

  // Opens the encoder and the graph reading audio described by `source_args`;
  // `replaced_track_duration`: see AudioRenditionGraph.
  Status Open(const std::string& source_args, double replaced_track_duration);
  void AddTarget(MuxTarget target) { targets_.push_back(target); }
  // Filters and encodes `frame` (kept by the caller); nullptr flushes.
  Status Feed(AVFrame* frame);

  const presets::AudioSettings& settings() const { return settings_; }
  int channels() const { return channels_; }
  double gain_db() const { return gain_db_; }  // loudness normalisation
  const AVCodecContext* encoder() const { return encoder_.get(); }
  double encoded_seconds() const { return encoded_seconds_; }
  // Where its last packet ends on the presentation timeline (priming trimmed): past the last
  // sample, since AAC's last frame is presented whole.
  double presented_seconds() const;
  bool done() const { return done_; }  // as VideoRendition::done

 private:
  presets::AudioSettings settings_;
  int channels_ = 2;
  double gain_db_ = 0;
  CodecContextPtr encoder_;
  FilterChain chain_;
  std::vector<MuxTarget> targets_;
  PacketPtr packet_ = MakePacket();
  FramePtr out_ = MakeFrame();
  double encoded_seconds_ = 0;
  int64_t packets_end_ = 0;  // in the encoder's time base
  bool done_ = false;
};

}  // namespace reel::engine
