// Taps: outputs that are not encoded streams but read the decoded media on the decode thread
// (thumbnails, sprite sheets, waveforms, loudness). They see the same frames as the renditions,
// so a job that asks for a ladder and a thumbnail still decodes the source once.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "engine/geometry.h"
#include "presets/outputs.h"

struct AVFrame;
struct AVCodecContext;

namespace reel::engine {

// Consumes the normalised video frames (rotated, constant rate, from time 0).
class VideoTap {
 public:
  virtual ~VideoTap() = default;
  // `start` and `end` are the frame's interval in seconds.
  virtual Status OnFrame(const AVFrame* frame, double start, double end) = 0;
  virtual Status Finish() = 0;
  virtual nlohmann::json Describe() const = 0;  // what was written (files, sizes)
  // The next time (seconds) this tap still needs a frame for, if any: a thumbnail-only job
  // seeks there instead of decoding everything before it.
  virtual std::optional<double> NextTarget() const { return std::nullopt; }
};

// Chooses, for each target time, the frame shown at that time.
class FramePicker {
 public:
  explicit FramePicker(std::vector<double> targets) : targets_(std::move(targets)) {}
  // Calls pick(i, frame) for every target i inside [start, end) or before it.
  template <typename F>
  Status Offer(const AVFrame* frame, double end, F pick) {
    while (next_ < targets_.size() && targets_[next_] < end)
      REEL_RETURN_IF_ERROR(pick(next_++, frame));
    return Status::Ok();
  }
  bool Done() const { return next_ >= targets_.size(); }
  size_t next() const { return next_; }
  const std::vector<double>& targets() const { return targets_; }

 private:
  std::vector<double> targets_;
  size_t next_ = 0;
};

// `staged` is where images are written: a file (count 1) or a directory (count > 1); the result
// names a single image by `file_name`, the name it has once in place.
std::unique_ptr<VideoTap> MakeThumbnailTap(const presets::ThumbnailOptions& options,
                                           const std::string& staged, const std::string& file_name,
                                           double duration, const DisplaySize& display);
// `staged_vtt` is where the WebVTT track goes; it refers to the sheet by `sheet_name`.
std::unique_ptr<VideoTap> MakeSpriteTap(const presets::SpriteOptions& options,
                                        const std::string& staged_sheet,
                                        const std::string& staged_vtt,
                                        const std::string& sheet_name, double duration,
                                        const DisplaySize& display);

// Consumes decoded audio frames through its own filter graph.
class AudioTap {
 public:
  virtual ~AudioTap() = default;
  virtual Status OnFrame(AVFrame* frame) = 0;  // nullptr: end of stream
  virtual nlohmann::json Describe() const = 0;
};

struct Loudness {
  double integrated = 0;  // LUFS
  double range = 0;       // LU
  double true_peak = 0;   // dBTP
};

class LoudnessMeter : public AudioTap {
 public:
  static Result<std::unique_ptr<LoudnessMeter>> Create(const std::string& source_args);
  virtual Loudness Value() const = 0;
};

// `source_args` describe the decoder's output for an abuffer source (see AudioSourceArgs).
Result<std::unique_ptr<AudioTap>> MakeWaveformTap(const presets::WaveformOptions& options,
                                                  const std::string& source_args,
                                                  const std::string& staged_json,
                                                  const std::string& staged_image);

std::string AudioSourceArgs(const AVCodecContext* decoder, int tb_num, int tb_den);

// Measures a file's loudness on its own (the first pass of loudness normalisation).
Result<Loudness> MeasureLoudness(const std::string& input, const std::atomic<bool>* cancel);

}  // namespace reel::engine
