// The quality report: PSNR and SSIM of an encoded rendition against the very frames it was
// encoded from (the source after the rendition's own scale, pad and pixel format), measured in
// the same run. The encoder's packets are decoded back in process and each decoded picture is
// compared with the frame the encoder was given, so the source is never decoded a second time.
// The figures follow FFmpeg's psnr and ssim filters (per-plane MSE weighted by plane size; SSIM
// over overlapping 8x8 windows of 4x4 block sums), so they agree with `ffmpeg -lavfi psnr/ssim`.
// Internal to the engine; the results reach engine.h as JSON.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/av_util.h"

namespace reel::engine {

struct FrameScores {
  double psnr_y = 0;    // dB, luma
  double psnr_avg = 0;  // dB, of the MSE of all planes weighted by their size
  double ssim = 0;      // 0..1, all planes weighted by their size
};

// Scores `distorted` against `reference`: same size, same 8- or 10-bit planar YUV format (else an
// error), PSNR against the depth's peak (255, 1023). Identical planes give kMaxPsnr.
inline constexpr double kMaxPsnr = 100;
Result<FrameScores> CompareFrames(const AVFrame* reference, const AVFrame* distorted);
// Only FrameScores::psnr_y of the same comparison.
Result<double> CompareLuma(const AVFrame* reference, const AVFrame* distorted);

// Mean, minimum and the mean of the worst 1 % of frames (at least one frame) of one figure.
struct ScoreSummary {
  double mean = 0, min = 0, worst_1pct = 0;
};
ScoreSummary Summarise(std::vector<double> values);

// Measures one rendition. Every call comes from the rendition's thread.
class QualityMeter {
 public:
  // A decoder for what `encoder` (opened) produces; every `every`-th frame is measured.
  // `luma_psnr_only`: Y-PSNR alone (the per-title probes' figure), without the chroma planes
  // and SSIM, which cost most of a comparison.
  static Result<std::unique_ptr<QualityMeter>> Create(const AVCodecContext* encoder, int every,
                                                      bool luma_psnr_only = false);

  // A frame as given to the encoder (pts in the encoder's time base); kept until its picture
  // comes back from the decoder if it is one of those measured.
  Status Reference(const AVFrame* frame);
  // A packet the encoder produced, before it goes to the muxers.
  Status Packet(const AVPacket* packet);
  // The encoder is flushed: decodes what is left.
  Status Finish();

  // {"frames": measured, "every": N, "psnr_y": {mean, min, worst_1pct}, "psnr": {...},
  //  "ssim": {...}}
  nlohmann::json Report() const;
  // Each measured frame's pts (in the encoder's time base) and Y-PSNR, in presentation order.
  std::vector<std::pair<int64_t, double>> LumaByPts() const;

 private:
  QualityMeter() = default;
  Status Drain();

  CodecContextPtr decoder_;
  int every_ = 1;
  bool luma_psnr_only_ = false;
  int64_t offered_ = 0;
  std::map<int64_t, FramePtr> pending_;  // by pts
  FramePtr decoded_ = MakeFrame();
  std::vector<double> psnr_y_, psnr_avg_, ssim_;
  std::vector<int64_t> measured_pts_;  // beside psnr_y_
};

}  // namespace reel::engine
