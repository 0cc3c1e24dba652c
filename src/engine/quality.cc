#include "engine/quality.h"

#include <algorithm>
#include <cmath>
#include <cstring>

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace reel::engine {
namespace {

struct Plane {
  const uint8_t* data;
  int stride;  // bytes
};

// A row of samples: 8-bit, or 10-bit in 16-bit words (yuv420p10le).
template <typename T>
const T* Row(Plane p, int y) {
  return reinterpret_cast<const T*>(p.data + ptrdiff_t(y) * p.stride);
}

template <typename T>
double Mse(Plane a, Plane b, int width, int height) {
  uint64_t sum = 0;
  for (int y = 0; y < height; ++y) {
    const T* pa = Row<T>(a, y);
    const T* pb = Row<T>(b, y);
    uint64_t row = 0;
    for (int x = 0; x < width; ++x) {
      int d = int(pa[x]) - int(pb[x]);
      row += uint64_t(d * d);
    }
    sum += row;
  }
  return double(sum) / (double(width) * height);
}

// `peak`: the largest sample value (255, 1023).
double Psnr(double mse, double peak) {
  if (mse <= 0) return kMaxPsnr;
  return std::min(kMaxPsnr, 10 * std::log10(peak * peak / mse));
}

// The sums of one 4x4 block of both pictures (at 10 bits at most 2 * 16 * 1023², within 32 bits).
struct BlockSums {
  int32_t a = 0, b = 0, squares = 0, product = 0;
};

// The block sums of one row of 4x4 blocks, left to right.
template <typename T>
void RowSums(Plane a, Plane b, int blocks, std::vector<BlockSums>* out) {
  out->assign(blocks, BlockSums{});
  for (int y = 0; y < 4; ++y) {
    const T* pa = Row<T>(a, y);
    const T* pb = Row<T>(b, y);
    for (int i = 0; i < blocks; ++i) {
      BlockSums& s = (*out)[i];
      for (int x = 4 * i; x < 4 * i + 4; ++x) {
        int va = pa[x], vb = pb[x];
        s.a += va;
        s.b += vb;
        s.squares += va * va + vb * vb;
        s.product += va * vb;
      }
    }
  }
}

// SSIM of one 8x8 window (64 pixels) from its sums, with the constants of the SSIM paper
// (K1 = 0.01, K2 = 0.03) scaled to sums and to the samples' peak as x264 and FFmpeg do.
double WindowSsim(int64_t a, int64_t b, int64_t squares, int64_t product, double peak) {
  const double c1 = std::floor(.01 * .01 * peak * peak * 64 + .5);
  const double c2 = std::floor(.03 * .03 * peak * peak * 64 * 63 + .5);
  double variances = double(squares * 64 - a * a - b * b);
  double covariance = double(product * 64 - a * b);
  return (2.0 * a * b + c1) * (2 * covariance + c2) /
         ((double(a * a + b * b) + c1) * (variances + c2));
}

// Mean SSIM over every 8x8 window on the 4-pixel grid.
template <typename T>
double PlaneSsim(Plane a, Plane b, int width, int height, double peak) {
  int columns = width / 4, rows = height / 4;
  if (columns < 2 || rows < 2) return 1;
  std::vector<BlockSums> above, below;
  RowSums<T>(a, b, columns, &above);
  double total = 0;
  for (int r = 1; r < rows; ++r) {
    RowSums<T>({a.data + ptrdiff_t(4 * r) * a.stride, a.stride},
               {b.data + ptrdiff_t(4 * r) * b.stride, b.stride}, columns, &below);
    for (int i = 0; i + 1 < columns; ++i) {
      const BlockSums &p = above[i], &q = above[i + 1], &s = below[i], &t = below[i + 1];
      total += WindowSsim(int64_t(p.a) + q.a + s.a + t.a, int64_t(p.b) + q.b + s.b + t.b,
                          int64_t(p.squares) + q.squares + s.squares + t.squares,
                          int64_t(p.product) + q.product + s.product + t.product, peak);
    }
    std::swap(above, below);
  }
  return total / (double(rows - 1) * (columns - 1));
}

// The format of two pictures to compare, when they can be.
Result<const AVPixFmtDescriptor*> Comparable(const AVFrame* reference, const AVFrame* distorted) {
  if (reference->width != distorted->width || reference->height != distorted->height ||
      reference->format != distorted->format)
    return Internal("quality: the decoded picture differs in size or format from the encoded one");
  auto format = static_cast<AVPixelFormat>(reference->format);
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(format);
  if (!d || (d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BITSTREAM)) ||
      !(d->flags & AV_PIX_FMT_FLAG_PLANAR) || (d->flags & AV_PIX_FMT_FLAG_BE) ||
      (d->comp[0].depth != 8 && d->comp[0].depth != 10) || d->nb_components < 3)
    return InvalidArgument(std::string("quality: measured on 8- or 10-bit planar YUV only, not ") +
                           (d ? d->name : "this pixel format"));
  return d;
}

}  // namespace

Result<double> CompareLuma(const AVFrame* reference, const AVFrame* distorted) {
  Result<const AVPixFmtDescriptor*> d = Comparable(reference, distorted);
  if (!d.ok()) return d.status();
  Plane a{reference->data[0], reference->linesize[0]};
  Plane b{distorted->data[0], distorted->linesize[0]};
  int w = reference->width, h = reference->height;
  if ((*d)->comp[0].depth > 8) return Psnr(Mse<uint16_t>(a, b, w, h), 1023);
  return Psnr(Mse<uint8_t>(a, b, w, h), 255);
}

Result<FrameScores> CompareFrames(const AVFrame* reference, const AVFrame* distorted) {
  Result<const AVPixFmtDescriptor*> format = Comparable(reference, distorted);
  if (!format.ok()) return format.status();
  const AVPixFmtDescriptor* d = *format;
  bool wide = d->comp[0].depth > 8;
  double peak = (1 << d->comp[0].depth) - 1;
  double weighted_mse = 0, weighted_ssim = 0, pixels = 0;
  FrameScores scores;
  for (int p = 0; p < 3; ++p) {
    int w = p == 0 ? reference->width : AV_CEIL_RSHIFT(reference->width, d->log2_chroma_w);
    int h = p == 0 ? reference->height : AV_CEIL_RSHIFT(reference->height, d->log2_chroma_h);
    Plane a{reference->data[p], reference->linesize[p]};
    Plane b{distorted->data[p], distorted->linesize[p]};
    double mse = wide ? Mse<uint16_t>(a, b, w, h) : Mse<uint8_t>(a, b, w, h);
    double ssim =
        wide ? PlaneSsim<uint16_t>(a, b, w, h, peak) : PlaneSsim<uint8_t>(a, b, w, h, peak);
    if (p == 0) scores.psnr_y = Psnr(mse, peak);
    weighted_mse += mse * w * h;
    weighted_ssim += ssim * w * h;
    pixels += double(w) * h;
  }
  scores.psnr_avg = Psnr(weighted_mse / pixels, peak);
  scores.ssim = weighted_ssim / pixels;
  return scores;
}

ScoreSummary Summarise(std::vector<double> values) {
  ScoreSummary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  size_t worst = std::max<size_t>(1, (values.size() + 99) / 100);
  double sum = 0, worst_sum = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    sum += values[i];
    if (i < worst) worst_sum += values[i];
  }
  s.mean = sum / values.size();
  s.min = values.front();
  s.worst_1pct = worst_sum / worst;
  return s;
}

Result<std::unique_ptr<QualityMeter>> QualityMeter::Create(const AVCodecContext* encoder, int every,
                                                           bool luma_psnr_only) {
  const AVCodec* codec = avcodec_find_decoder(encoder->codec_id);
  if (!codec)
    return Internal(std::string("quality: no decoder for ") + avcodec_get_name(encoder->codec_id));
  std::unique_ptr<QualityMeter> m(new QualityMeter());
  m->every_ = std::max(1, every);
  m->luma_psnr_only_ = luma_psnr_only;
  m->decoder_.reset(avcodec_alloc_context3(codec));
  AVCodecContext* dec = m->decoder_.get();
  dec->width = encoder->width;
  dec->height = encoder->height;
  dec->pix_fmt = encoder->pix_fmt;
  dec->pkt_timebase = encoder->time_base;
  dec->thread_count = 1;  // on the rendition's thread, which the scheduler already counted
  if (encoder->extradata_size > 0) {
    dec->extradata = static_cast<uint8_t*>(
        av_mallocz(size_t(encoder->extradata_size) + AV_INPUT_BUFFER_PADDING_SIZE));
    if (!dec->extradata) return Internal("out of memory");
    std::memcpy(dec->extradata, encoder->extradata, size_t(encoder->extradata_size));
    dec->extradata_size = encoder->extradata_size;
  }
  int err = avcodec_open2(dec, codec, nullptr);
  if (err < 0) return AvStatus(err, "quality: cannot open the decoder");
  return m;
}

Status QualityMeter::Reference(const AVFrame* frame) {
  if (offered_++ % every_ != 0) return Status::Ok();
  FramePtr copy(av_frame_clone(frame));  // a reference: the encoder does not write its input
  if (!copy) return Internal("out of memory");
  pending_[frame->pts] = std::move(copy);
  return Status::Ok();
}

Status QualityMeter::Packet(const AVPacket* packet) {
  // A picture that is not compared need not be decoded unless others refer to it: the decode
  // back is most of the report's cost.
  decoder_->skip_frame = pending_.count(packet->pts) ? AVDISCARD_DEFAULT : AVDISCARD_NONREF;
  int err = avcodec_send_packet(decoder_.get(), packet);
  if (err < 0) return AvStatus(err, "quality: decoding the encoded picture");
  return Drain();
}

Status QualityMeter::Finish() {
  int err = avcodec_send_packet(decoder_.get(), nullptr);
  if (err < 0 && err != AVERROR_EOF) return AvStatus(err, "quality: decoder flush");
  REEL_RETURN_IF_ERROR(Drain());
  pending_.clear();
  return Status::Ok();
}

Status QualityMeter::Drain() {
  for (;;) {
    int err = avcodec_receive_frame(decoder_.get(), decoded_.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) return AvStatus(err, "quality: decoding the encoded picture");
    int64_t pts = decoded_->best_effort_timestamp;
    // Pictures come back in presentation order: a reference before this one will not come.
    pending_.erase(pending_.begin(), pending_.lower_bound(pts));
    auto it = pending_.find(pts);
    if (it != pending_.end() && luma_psnr_only_) {
      Result<double> y = CompareLuma(it->second.get(), decoded_.get());
      pending_.erase(it);
      if (!y.ok()) {
        av_frame_unref(decoded_.get());
        return y.status();
      }
      psnr_y_.push_back(*y);
      measured_pts_.push_back(pts);
    } else if (it != pending_.end()) {
      Result<FrameScores> s = CompareFrames(it->second.get(), decoded_.get());
      pending_.erase(it);
      if (!s.ok()) {
        av_frame_unref(decoded_.get());
        return s.status();
      }
      psnr_y_.push_back(s->psnr_y);
      measured_pts_.push_back(pts);
      psnr_avg_.push_back(s->psnr_avg);
      ssim_.push_back(s->ssim);
    }
    av_frame_unref(decoded_.get());
  }
}

std::vector<std::pair<int64_t, double>> QualityMeter::LumaByPts() const {
  std::vector<std::pair<int64_t, double>> out;
  for (size_t i = 0; i < psnr_y_.size() && i < measured_pts_.size(); ++i)
    out.emplace_back(measured_pts_[i], psnr_y_[i]);
  return out;
}

nlohmann::json QualityMeter::Report() const {
  auto summary = [](const std::vector<double>& v) {
    ScoreSummary s = Summarise(v);
    auto round = [](double x) { return std::round(x * 1e4) / 1e4; };
    return nlohmann::json{
        {"mean", round(s.mean)}, {"min", round(s.min)}, {"worst_1pct", round(s.worst_1pct)}};
  };
  return {{"frames", psnr_y_.size()},
          {"every", every_},
          {"psnr_y", summary(psnr_y_)},
          {"psnr", summary(psnr_avg_)},
          {"ssim", summary(ssim_)}};
}

}  // namespace reel::engine
