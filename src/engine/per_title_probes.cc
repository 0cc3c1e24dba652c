#include "engine/per_title_probes.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "engine/demux_decode.h"
#include "engine/encode.h"
#include "engine/quality.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

namespace reel::engine {

using presets::Rung;
using presets::VideoCodec;

RungPicture PictureOf(const PerTitleSource& source, const presets::Ladder& ladder,
                      const Rung& rung) {
  RungPicture p;
  p.settings = presets::RungVideoSettings(ladder, rung);
  p.picture = FitOutputSize(source.display, p.settings);
  p.format = source.format;
  p.format.size = p.picture;
  p.format.pixel_format = AV_PIX_FMT_YUV420P;
  if (p.settings.fps > 0 && p.settings.fps < av_q2d(source.format.frame_rate))
    p.format.frame_rate = av_d2q(p.settings.fps, 1001);
  return p;
}
double PixelsPerSecond(const RungPicture& p) {
  return double(p.picture.width) * p.picture.height * av_q2d(p.format.frame_rate);
}

namespace {

// Every probe frame is compared, luma only: the slope compares both probes over the same
// frames of one short window, and a luma PSNR costs little beside the decode back.
constexpr int kMeasureEvery = 1;
// The probe encoders' threads, whatever the host's cores: x264's output (and so the choice)
// depends on its thread count, and a choice must not depend on which worker made it.
constexpr int kProbeThreads = 2;

// The two constant-quality settings of the probes, far enough apart to give a slope and around
// where a 30..50 dB target lies, and the encoder speed: the fastest that still codes like the
// ladder's speed (x264's superfast keeps CABAC and the deblocking filter, ultrafast does not).
int ProbeCrf(VideoCodec codec, int which) {
  if (codec == VideoCodec::kAv1) return which == 0 ? 28 : 44;
  return which == 0 ? 20 : 32;
}
std::string ProbeSpeed(VideoCodec codec) { return codec == VideoCodec::kAv1 ? "12" : "superfast"; }

struct Probe {
  CodecContextPtr encoder;
  std::unique_ptr<QualityMeter> meter;
  bool slope_window_only = false;  // the second probe codes one window (RungProbes)
  int64_t bytes = 0, frames = 0;
  int64_t slope_bytes = 0, slope_frames = 0;  // of those, in the slope window
  // Frames counted without being coded, by the pts of the coded frame they repeat (Hold).
  std::map<int64_t, int64_t> held;
};

// A rung's two probes. The first (the higher rate) codes every window: its point is where the
// rung's line is read from. The second codes the middle window alone, and gives the line's
// slope against the first's figures over that same window: a slope moves far less between
// windows than a level does, and the second probe then costs a third of the first.
struct RungProbes : RungPicture {
  size_t index = 0;  // into the rungs
  FilterChain chain;
  Probe probes[2];
  int64_t slope_first_pts = -1, slope_last_pts = -1;  // the slope window's frames, probe pts
};

Status Drain(const RungProbes& r, Probe* p, AVPacket* pkt) {
  for (;;) {
    int err = avcodec_receive_packet(p->encoder.get(), pkt);
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) return AvStatus(err, "per-title probe encoder");
    p->bytes += pkt->size;
    // A packet comes out after its frame went in: the window's last pts seen so far bounds it.
    if (r.slope_first_pts >= 0 && pkt->pts >= r.slope_first_pts && pkt->pts <= r.slope_last_pts)
      p->slope_bytes += pkt->size;
    Status s = p->meter->Packet(pkt);
    av_packet_unref(pkt);
    if (!s.ok()) return s;
  }
}

// Pulls what the rung's graph gives and encodes it with its probes; `slope_window`: the frames
// are the slope window's.
Status PullAndEncode(RungProbes* r, bool slope_window, AVFrame* out, AVPacket* pkt) {
  for (;;) {
    int err = av_buffersink_get_frame(r->chain.sink, out);
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) return AvStatus(err, "per-title probe filter");
    out->pict_type = AV_PICTURE_TYPE_NONE;
    // Both probes share the time base of the rung's rate.
    out->pts = av_rescale_q(out->pts, av_buffersink_get_time_base(r->chain.sink),
                            r->probes[0].encoder->time_base);
    if (slope_window) {
      if (r->slope_first_pts < 0) r->slope_first_pts = out->pts;
      r->slope_last_pts = out->pts;
    }
    for (Probe& p : r->probes) {
      if (p.slope_window_only && !slope_window) continue;
      Status s = p.meter->Reference(out);
      if (s.ok()) {
        err = avcodec_send_frame(p.encoder.get(), out);
        s = err < 0 ? AvStatus(err, "per-title probe encoder") : Drain(*r, &p, pkt);
      }
      if (!s.ok()) {
        av_frame_unref(out);
        return s;
      }
      ++p.frames;
      if (slope_window) ++p.slope_frames;
    }
    av_frame_unref(out);
  }
}

// The mean Y-PSNR of the frames a probe measured with pts in [first, last], each counted with
// the held frames that repeat it (a held frame would have been coded as a copy of it).
double MeanPsnr(const Probe& p, int64_t first, int64_t last) {
  double sum = 0;
  int64_t n = 0;
  for (const auto& [pts, psnr] : p.meter->LumaByPts()) {
    if (pts < first || pts > last) continue;
    auto held = p.held.find(pts);
    int64_t weight = 1 + (held == p.held.end() ? 0 : held->second);
    sum += psnr * double(weight);
    n += weight;
  }
  return n > 0 ? sum / double(n) : 0;
}

// Whether two decoded frames hold the same picture, byte for byte: a slide deck's or a screen
// recording's held picture decodes to identical frames (its blocks are skipped), and comparing
// costs far less than scaling, coding and measuring it again for every rung. Different
// pictures mostly differ in their first rows, so the comparison stops early.
bool SamePicture(const AVFrame* a, const AVFrame* b) {
  if (a->width != b->width || a->height != b->height || a->format != b->format) return false;
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(AVPixelFormat(a->format));
  if (!desc || (desc->flags & (AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM))) return false;
  for (int plane = 0; plane < av_pix_fmt_count_planes(AVPixelFormat(a->format)); ++plane) {
    int bytes = av_image_get_linesize(AVPixelFormat(a->format), a->width, plane);
    bool chroma = plane == 1 || plane == 2;
    int rows = chroma ? AV_CEIL_RSHIFT(a->height, desc->log2_chroma_h) : a->height;
    if (bytes <= 0 || !a->data[plane] || !b->data[plane]) return false;
    for (int y = 0; y < rows; ++y)
      if (std::memcmp(a->data[plane] + ptrdiff_t(y) * a->linesize[plane],
                      b->data[plane] + ptrdiff_t(y) * b->linesize[plane], size_t(bytes)) != 0)
        return false;
  }
  return true;
}

// The probes of the rungs in `probed`, fed with the decoded frames of the windows.
class Analysis {
 public:
  Analysis(const PerTitleSource& source, const presets::Ladder& ladder,
           const std::vector<Rung>& rungs, const std::vector<bool>& probed, int threads,
           const std::function<void()>& on_frame)
      : source_(source),
        ladder_(ladder),
        rungs_(rungs),
        probed_(probed),
        threads_(threads),
        on_frame_(on_frame) {}

  Status Open() {
    Result<InputFormatPtr> in = OpenInput(source_.path);
    if (!in.ok()) return in.status();
    input_ = std::move(in).value();
    AVFormatContext* fmt = input_.get();
    stream_ = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (stream_ < 0) return InvalidArgument("per-title: the source has no picture to analyse");
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
      if (int(i) != stream_) fmt->streams[i]->discard = AVDISCARD_ALL;
    AVStream* st = fmt->streams[stream_];
    const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec) return InvalidArgument("per-title: no decoder for the source's picture");
    decoder_.reset(avcodec_alloc_context3(codec));
    int err = avcodec_parameters_to_context(decoder_.get(), st->codecpar);
    if (err < 0) return AvStatus(err, "per-title decoder parameters");
    decoder_->pkt_timebase = st->time_base;
    decoder_->thread_count = threads_;
    err = avcodec_open2(decoder_.get(), codec, nullptr);
    if (err < 0) return AvStatus(err, "per-title: cannot open the decoder");
    start_ = st->start_time == AV_NOPTS_VALUE ? 0 : st->start_time;
    return Status::Ok();
  }

  // Decodes `length` seconds of the source from about `start` into the probes. The window starts
  // at the key frame the seek lands on when that is not inside the previous window: the frames
  // between it and `start` would be decoded anyway, and on a source with 2 s GOPs decoding them
  // only to skip them cost about as much as a sixth of the pre-pass.
  Status Window(double start, double length, bool slope_window, const std::atomic<bool>* cancel) {
    slope_window_ = slope_window;
    AVFormatContext* fmt = input_.get();
    AVStream* st = fmt->streams[stream_];
    int64_t ts = start_ + av_rescale_q(static_cast<int64_t>(start * AV_TIME_BASE), AV_TIME_BASE_Q,
                                       st->time_base);
    if (av_seek_frame(fmt, stream_, ts, AVSEEK_FLAG_BACKWARD) < 0)
      av_seek_frame(fmt, stream_, start_, AVSEEK_FLAG_BACKWARD);
    avcodec_flush_buffers(decoder_.get());
    last_fed_.reset();  // a window's first frame is always coded: the windows are cuts
    PacketPtr pkt = MakePacket();
    FramePtr frame = MakeFrame();
    bool first = true;
    for (bool eof = false; !eof;) {
      if (cancel && cancel->load()) return Canceled("canceled");
      int err = av_read_frame(fmt, pkt.get());
      eof = err < 0;
      if (!eof && pkt->stream_index != stream_) {
        av_packet_unref(pkt.get());
        continue;
      }
      err = avcodec_send_packet(decoder_.get(), eof ? nullptr : pkt.get());
      av_packet_unref(pkt.get());
      if (err < 0 && err != AVERROR_INVALIDDATA) return AvStatus(err, "per-title decoding");
      while (avcodec_receive_frame(decoder_.get(), frame.get()) >= 0) {
        int64_t pts = frame->best_effort_timestamp;
        double t = pts == AV_NOPTS_VALUE ? start : (pts - start_) * av_q2d(st->time_base);
        if (first && t < start && t >= window_end_) start = t;
        first = false;
        bool past = t >= start + length;
        Status s = t + 1e-6 >= start && !past ? Take(frame.get()) : Status::Ok();
        av_frame_unref(frame.get());
        if (!s.ok()) return s;
        if (past) {
          window_end_ = start + length;
          return Status::Ok();
        }
      }
    }
    window_end_ = start + length;
    return Status::Ok();
  }

  // Flushes every graph and probe.
  Status Finish() {
    FramePtr out = MakeFrame();
    PacketPtr pkt = MakePacket();
    for (RungProbes& r : probes_) {
      int err = av_buffersrc_close(r.chain.source, next_pts_, 0);
      if (err < 0) return AvStatus(err, "per-title probe filter");
      REEL_RETURN_IF_ERROR(PullAndEncode(&r, slope_window_, out.get(), pkt.get()));
      for (Probe& p : r.probes) {
        err = avcodec_send_frame(p.encoder.get(), nullptr);
        if (err < 0 && err != AVERROR_EOF) return AvStatus(err, "per-title probe flush");
        REEL_RETURN_IF_ERROR(Drain(r, &p, pkt.get()));
        REEL_RETURN_IF_ERROR(p.meter->Finish());
      }
    }
    return Status::Ok();
  }

  bool fed() const { return opened_; }
  int64_t frames() const { return frames_; }
  int64_t held() const { return held_; }

  // Per rung: the first probe's point over every window (bitrate over the frames it coded, mean
  // Y-PSNR), and the slope between both probes over the slope window.
  std::vector<ProbePass::Line> Lines() const {
    std::vector<ProbePass::Line> out;
    for (const RungProbes& r : probes_) {
      const double fps = av_q2d(r.format.frame_rate);
      auto rate = [&](int64_t bytes, int64_t frames) {
        return frames > 0 ? bytes * 8 * fps / frames : 0.0;
      };
      const Probe &all = r.probes[0], &one = r.probes[1];
      ProbePoint level{rate(all.bytes, all.frames), MeanPsnr(all, INT64_MIN, INT64_MAX)};
      ProbePoint same{rate(all.slope_bytes, all.slope_frames),
                      MeanPsnr(all, r.slope_first_pts, r.slope_last_pts)};
      ProbePoint low{rate(one.bytes, one.frames), MeanPsnr(one, INT64_MIN, INT64_MAX)};
      out.push_back({r.index, {level, Slope(same, low), PixelsPerSecond(r)}});
    }
    return out;
  }

 private:
  // The graphs and encoders are opened on the first frame, whose format the decoder decides.
  Status OpenProbes(const AVFrame* first) {
    AVStream* st = input_->streams[stream_];
    AVRational rate = source_.format.frame_rate;
    std::string args = VideoSourceArgs(first->width, first->height, first->format, av_inv_q(rate),
                                       av_guess_sample_aspect_ratio(input_.get(), st, nullptr)) +
                       ":frame_rate=" + Rational(rate);
    std::string before = SourcePictureFilters(source_.picture);
    std::string turn = RotationFilters(StreamRotation(st));
    if (!before.empty() && !turn.empty()) before += ",";
    before += turn;
    if (!before.empty()) before += ",";
    for (size_t i = 0; i < rungs_.size(); ++i) {
      // A constant-quality rung has nothing to choose.
      if (rungs_[i].crf >= 0 || i >= probed_.size() || !probed_[i]) continue;
      RungProbes r;
      static_cast<RungPicture&>(r) = PictureOf(source_, ladder_, rungs_[i]);
      r.index = i;
      Result<FilterChain> chain = BuildChain(
          true, args, before + VideoRenditionGraph(r.settings, r.format, r.picture, rate), 1);
      if (!chain.ok()) return chain.status();
      r.chain = std::move(chain).value();
      for (int k = 0; k < 2; ++k) {
        presets::VideoSettings v = r.settings;
        v.bitrate = v.maxrate = v.bufsize = 0;
        v.crf = ProbeCrf(v.codec, k);
        v.speed = ProbeSpeed(v.codec);
        v.fixed_gop = false;
        Result<CodecContextPtr> enc = OpenVideoEncoder(v, r.format, kProbeThreads);
        if (!enc.ok()) return enc.status();
        r.probes[k].encoder = std::move(enc).value();
        Result<std::unique_ptr<QualityMeter>> m =
            QualityMeter::Create(r.probes[k].encoder.get(), kMeasureEvery, true);
        if (!m.ok()) return m.status();
        r.probes[k].meter = std::move(m).value();
        r.probes[k].slope_window_only = k == 1;
      }
      probes_.push_back(std::move(r));
    }
    // A held frame stands for one frame of every probe only when every probe codes the source's
    // frames one for one: no rung changes the rate and no deinterlacer mixes or doubles frames.
    hold_ok_ = DeinterlaceFilter(source_.picture).empty();
    for (const RungProbes& r : probes_) hold_ok_ &= av_cmp_q(r.format.frame_rate, rate) == 0;
    return Status::Ok();
  }

  // A frame of a window: fed to the probes, or counted as held when it repeats the frame fed
  // before it in the same window.
  Status Take(AVFrame* frame) {
    ++frames_;
    if (on_frame_) on_frame_();
    if (hold_ok_ && last_fed_ && SamePicture(last_fed_.get(), frame)) {
      ++held_;
      Hold();
      return Status::Ok();
    }
    REEL_RETURN_IF_ERROR(Feed(frame));
    if (!last_fed_) last_fed_ = MakeFrame();
    av_frame_unref(last_fed_.get());
    int err = av_frame_ref(last_fed_.get(), frame);
    if (err < 0) return AvStatus(err, "per-title frame");
    return Status::Ok();
  }

  // Counts a held frame for every probe coding this window: as the encoder would code it (a
  // skipped copy of the frame it repeats, next to no bytes), with that frame's PSNR.
  void Hold() {
    const int64_t repeated = next_pts_ - 1;  // on the probes' grid: hold_ok_ keeps one rate
    for (RungProbes& r : probes_)
      for (Probe& p : r.probes) {
        if (p.slope_window_only && !slope_window_) continue;
        ++p.frames;
        ++p.held[repeated];
        if (slope_window_) ++p.slope_frames;
      }
  }

  Status Feed(AVFrame* frame) {
    if (!opened_) {
      REEL_RETURN_IF_ERROR(OpenProbes(frame));
      opened_ = true;
    }
    // The windows follow one another on one frame grid, as if they were one clip with cuts.
    frame->pts = next_pts_++;
    FramePtr out = MakeFrame();
    PacketPtr pkt = MakePacket();
    for (RungProbes& r : probes_) {
      int err = av_buffersrc_add_frame_flags(r.chain.source, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
      if (err < 0) return AvStatus(err, "per-title probe filter");
      REEL_RETURN_IF_ERROR(PullAndEncode(&r, slope_window_, out.get(), pkt.get()));
    }
    return Status::Ok();
  }

  const PerTitleSource& source_;
  const presets::Ladder& ladder_;
  const std::vector<Rung>& rungs_;
  const std::vector<bool>& probed_;
  const int threads_;
  const std::function<void()>& on_frame_;
  InputFormatPtr input_;
  int stream_ = -1;
  int64_t start_ = 0;
  double window_end_ = -1;  // where the previous window ended, seconds
  CodecContextPtr decoder_;
  bool opened_ = false;
  bool slope_window_ = false;      // the window being fed is the slope window
  bool hold_ok_ = false;           // held frames may be counted rather than coded (OpenProbes)
  FramePtr last_fed_;              // the frame fed last in this window
  int64_t frames_ = 0, held_ = 0;  // frames of the windows, and of those held
  int64_t next_pts_ = 0;
  std::vector<RungProbes> probes_;
};

}  // namespace

Result<ProbePass> RunProbePass(const PerTitleSource& source, const presets::Ladder& ladder,
                               const std::vector<Rung>& rungs, const std::vector<bool>& probed,
                               int windows, double length, int threads,
                               const std::atomic<bool>* cancel,
                               const std::function<void()>& on_frame) {
  Analysis a(source, ladder, rungs, probed, threads, on_frame);
  REEL_RETURN_IF_ERROR(a.Open());
  for (int w = 0; w < windows; ++w) {
    double centre = source.duration * (w + 0.5) / windows;
    REEL_RETURN_IF_ERROR(
        a.Window(std::max(0.0, centre - length / 2), length, w == windows / 2, cancel));
  }
  REEL_RETURN_IF_ERROR(a.Finish());
  return ProbePass{a.Lines(), a.fed(), a.frames(), a.held()};
}

}  // namespace reel::engine
