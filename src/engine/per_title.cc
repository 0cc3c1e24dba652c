#include "engine/per_title.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <memory>

#include <sys/resource.h>

#include "engine/demux_decode.h"
#include "engine/encode.h"
#include "engine/quality.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
}

namespace reel::engine {
namespace {

using presets::Rung;
using presets::VideoCodec;

// Three windows spread over the source, together 6 % of it (each 0.5 to 2 s): enough to see its
// content change (a slide deck's slides, a film's scenes) and little enough that the pre-pass
// stays a small part of the encode. Three 1.5 s windows of a 12 s 1080p source cost 59 % of
// the encode (bench/per_title.sh) with two probes on every window; with the second on the
// middle window only and luma-only comparisons, three 0.5 s windows of a 20 s source cost
// 12.7 % of the encode's CPU time on easy content.
constexpr int kWindows = 3;
constexpr double kSampledFraction = 0.06;
constexpr double kMinWindowSeconds = 0.5, kMaxWindowSeconds = 2;
// Every probe frame is compared, luma only: the slope compares both probes over the same
// frames of one short window, and a luma PSNR costs little beside the decode back.
constexpr int kMeasureEvery = 1;
// The probe encoders' threads, whatever the host's cores: x264's output (and so the choice)
// depends on its thread count, and a choice must not depend on which worker made it.
constexpr int kProbeThreads = 2;
// The main encode's one-pass rate control, under a VBV cap, lands a little below the quality of
// a constant-quality encode of the same size; the target is aimed this far above.
constexpr double kMarginDb = 0.5;
// A rung's curve may bend, but not by this much: outside, the probes are noise (a still picture
// coded in a few bytes at both settings).
constexpr double kMinSlope = 1.0, kMaxSlope = 12.0;  // dB per e-fold of bitrate

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
};

// A rung's two probes. The first (the higher rate) codes every window: its point is where the
// rung's line is read from. The second codes the middle window alone, and gives the line's
// slope against the first's figures over that same window: a slope moves far less between
// windows than a level does, and the second probe then costs a third of the first.
struct RungProbes {
  size_t index = 0;  // into the rungs
  presets::VideoSettings settings;
  VideoFormat format;
  Size picture;
  FilterChain chain;
  Probe probes[2];
  int64_t slope_first_pts = -1, slope_last_pts = -1;  // the slope window's frames, probe pts
};

// User and system time of the whole process: the probe encoders' threads are its threads.
double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) { return double(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

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

// The mean Y-PSNR of the frames a probe measured with pts in [first, last].
double MeanPsnr(const QualityMeter& m, int64_t first, int64_t last) {
  double sum = 0;
  int n = 0;
  for (const auto& [pts, psnr] : m.LumaByPts())
    if (pts >= first && pts <= last) sum += psnr, ++n;
  return n > 0 ? sum / n : 0;
}

// The probes of every rung, fed with the decoded frames of the windows.
class Analysis {
 public:
  // `on_frame` is called after each frame fed.
  Analysis(const PerTitleSource& source, const presets::Ladder& ladder,
           const std::vector<Rung>& rungs, int threads, std::function<void()> on_frame)
      : source_(source),
        ladder_(ladder),
        rungs_(rungs),
        threads_(threads),
        on_frame_(std::move(on_frame)) {}

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
        Status s = t + 1e-6 >= start && !past ? Feed(frame.get()) : Status::Ok();
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

  // Per rung: the first probe's point over every window (bitrate over the frames it coded, mean
  // Y-PSNR), and the slope between both probes over the slope window.
  struct RungLine {
    size_t index = 0;
    ProbePoint point;
    double slope = 0;
  };
  std::vector<RungLine> Lines() const {
    std::vector<RungLine> out;
    for (const RungProbes& r : probes_) {
      const double fps = av_q2d(r.format.frame_rate);
      auto rate = [&](int64_t bytes, int64_t frames) {
        return frames > 0 ? bytes * 8 * fps / frames : 0.0;
      };
      const Probe &all = r.probes[0], &one = r.probes[1];
      ProbePoint level{rate(all.bytes, all.frames), MeanPsnr(*all.meter, INT64_MIN, INT64_MAX)};
      ProbePoint same{rate(all.slope_bytes, all.slope_frames),
                      MeanPsnr(*all.meter, r.slope_first_pts, r.slope_last_pts)};
      ProbePoint low{rate(one.bytes, one.frames), MeanPsnr(*one.meter, INT64_MIN, INT64_MAX)};
      out.push_back({r.index, level, Slope(same, low)});
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
      if (rungs_[i].crf >= 0) continue;  // constant quality already: nothing to choose
      RungProbes r;
      r.index = i;
      r.settings = presets::RungVideoSettings(ladder_, rungs_[i]);
      r.picture = FitOutputSize(source_.display, r.settings);
      r.format = source_.format;
      r.format.size = r.picture;
      r.format.pixel_format = AV_PIX_FMT_YUV420P;
      if (r.settings.fps > 0 && r.settings.fps < av_q2d(rate))
        r.format.frame_rate = av_d2q(r.settings.fps, 1001);
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
    return Status::Ok();
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
    if (on_frame_) on_frame_();
    return Status::Ok();
  }

  const PerTitleSource& source_;
  const presets::Ladder& ladder_;
  const std::vector<Rung>& rungs_;
  const int threads_;
  const std::function<void()> on_frame_;
  InputFormatPtr input_;
  int stream_ = -1;
  int64_t start_ = 0;
  double window_end_ = -1;  // where the previous window ended, seconds
  CodecContextPtr decoder_;
  bool opened_ = false;
  bool slope_window_ = false;  // the window being fed is the slope window
  int64_t next_pts_ = 0;
  std::vector<RungProbes> probes_;
};

}  // namespace

int64_t BitrateFloor(int64_t nominal) { return std::max<int64_t>(nominal / 6, 50'000); }

double Slope(ProbePoint a, ProbePoint b) {
  if (a.bitrate < b.bitrate) std::swap(a, b);  // a: the higher rate
  double slope = a.bitrate > 0 && b.bitrate > 0 && a.bitrate > b.bitrate
                     ? (a.psnr_y - b.psnr_y) / std::log(a.bitrate / b.bitrate)
                     : kMinSlope;
  return std::clamp(std::isfinite(slope) ? slope : kMinSlope, kMinSlope, kMaxSlope);
}

ProbePoint ChooseBitrate(ProbePoint a, ProbePoint b, double target, int64_t nominal) {
  if (a.bitrate < b.bitrate) std::swap(a, b);  // read from the higher rate
  return ChooseBitrate(a, Slope(a, b), target, nominal);
}

ProbePoint ChooseBitrate(ProbePoint a, double slope, double target, int64_t nominal) {
  double floor = double(BitrateFloor(nominal)), ceiling = double(std::max(nominal, int64_t(1)));
  double wanted =
      a.bitrate > 0 ? a.bitrate * std::exp((target + kMarginDb - a.psnr_y) / slope) : ceiling;
  double chosen = std::clamp(std::round(wanted / 1000) * 1000, std::min(floor, ceiling), ceiling);
  double predicted = a.bitrate > 0 ? a.psnr_y + slope * std::log(chosen / a.bitrate) : 0;
  return {chosen, std::min(predicted, kMaxPsnr)};
}

Result<PerTitleChoice> AnalysePerTitle(const PerTitleSource& source, const presets::Ladder& ladder,
                                       const std::vector<Rung>& rungs, int threads,
                                       const std::atomic<bool>* cancel,
                                       const AnalysisProgress& progress) {
  auto started = std::chrono::steady_clock::now();
  const double cpu_before = ProcessCpuSeconds();
  PerTitleChoice choice;
  choice.target_psnr = ladder.target_psnr;
  for (const Rung& r : rungs) {
    RungChoice c;
    c.name = r.name;
    c.nominal = c.chosen = r.crf >= 0 ? r.maxrate : r.bitrate;
    if (r.crf >= 0) c.why = "constant quality (crf): not analysed";
    choice.rungs.push_back(c);
  }
  // Short sources get one window of at most the shortest length; the windows never overlap.
  int windows = source.duration >= kWindows * kMinWindowSeconds * 4 ? kWindows : 1;
  double length = std::clamp(source.duration * kSampledFraction / windows, kMinWindowSeconds,
                             kMaxWindowSeconds);
  length = std::min(length, source.duration / windows);
  choice.windows = windows;
  choice.window_seconds = length;
  // The frames the windows hold; a window may begin at an earlier key frame, so a few more
  // are fed, and the last hundredth is the flush.
  const double frames = std::max(1.0, windows * length * av_q2d(source.format.frame_rate));
  int64_t fed = 0;
  auto on_frame = [&] {
    if (progress) progress(std::min(0.99, ++fed / frames));
  };
  Analysis a(source, ladder, rungs, threads, on_frame);
  REEL_RETURN_IF_ERROR(a.Open());
  for (int w = 0; w < windows; ++w) {
    double centre = source.duration * (w + 0.5) / windows;
    REEL_RETURN_IF_ERROR(
        a.Window(std::max(0.0, centre - length / 2), length, w == windows / 2, cancel));
  }
  REEL_RETURN_IF_ERROR(a.Finish());
  if (!a.fed())
    choice.note = "no picture was decoded in the sampled windows; the ladder's bitrates were used";
  for (const auto& line : a.Lines()) {
    RungChoice& c = choice.rungs[line.index];
    ProbePoint p = ChooseBitrate(line.point, line.slope, ladder.target_psnr, c.nominal);
    c.chosen = static_cast<int64_t>(p.bitrate);
    c.predicted_psnr_y = std::round(p.psnr_y * 100) / 100;
    if (c.chosen >= c.nominal) c.why = "the target needs the ladder's bitrate";
  }
  DropRedundantRungs(rungs, &choice);
  if (progress) progress(1.0);
  choice.analysis_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  choice.analysis_cpu_seconds = ProcessCpuSeconds() - cpu_before;
  return choice;
}

void DropRedundantRungs(const std::vector<Rung>& rungs, PerTitleChoice* choice) {
  // From the bottom of each codec's set up: a rung that would not get more bits than the kept
  // rung below it adds nothing a player would switch up to.
  for (size_t i = choice->rungs.size(); i-- > 0;) {
    if (rungs[i].crf >= 0) continue;
    for (size_t below = i + 1; below < rungs.size(); ++below) {
      if (rungs[below].codec != rungs[i].codec || choice->rungs[below].dropped) continue;
      if (choice->rungs[i].chosen <= choice->rungs[below].chosen) {
        choice->rungs[i].dropped = true;
        choice->rungs[i].why =
            "its bitrate would not exceed the rung below's (" + choice->rungs[below].name + ")";
      }
      break;
    }
  }
}

std::vector<Rung> ApplyChoice(const std::vector<Rung>& rungs, const PerTitleChoice& choice) {
  std::vector<Rung> out;
  for (size_t i = 0; i < rungs.size() && i < choice.rungs.size(); ++i) {
    if (choice.rungs[i].dropped) continue;
    Rung r = rungs[i];
    if (r.crf < 0) {
      r.bitrate = choice.rungs[i].chosen;
      // A cap the ladder gave stays where it was unless the new rate passes it.
      if (r.maxrate > 0 && r.maxrate < r.bitrate) r.maxrate = 0;
    }
    out.push_back(std::move(r));
  }
  return out;
}

nlohmann::json PerTitleReport(const PerTitleChoice& choice,
                              const std::vector<VariantResult>& variants) {
  nlohmann::json rungs = nlohmann::json::array();
  for (const RungChoice& c : choice.rungs) {
    nlohmann::json j = {{"name", c.name},
                        {"nominal_bitrate", c.nominal},
                        {"bitrate", c.chosen},
                        {"dropped", c.dropped}};
    if (c.predicted_psnr_y > 0) j["predicted_psnr_y"] = c.predicted_psnr_y;
    if (!c.why.empty()) j["why"] = c.why;
    const VariantResult* v = nullptr;
    for (const VariantResult& r : variants)
      if (r.name == c.name) v = &r;
    if (v && v->quality.is_object() && v->quality.contains("psnr_y")) {
      j["psnr_y"] = v->quality["psnr_y"]["mean"];
      j["ssim"] = v->quality["ssim"]["mean"];
      j["quality_source"] = "measured";
    } else if (!c.dropped && c.predicted_psnr_y > 0) {
      j["psnr_y"] = c.predicted_psnr_y;
      j["quality_source"] = "predicted";
    }
    rungs.push_back(std::move(j));
  }
  nlohmann::json out = {
      {"per_title", true},
      {"target_psnr", choice.target_psnr},
      {"analysis_seconds", std::round(choice.analysis_seconds * 1000) / 1000},
      {"analysis_cpu_seconds", std::round(choice.analysis_cpu_seconds * 1000) / 1000},
      {"windows", choice.windows},
      {"window_seconds", choice.window_seconds},
      {"rungs", rungs}};
  if (!choice.note.empty()) out["note"] = choice.note;
  return out;
}

AnalysisProgress ReportAnalysis(const TranscodeOptions& options, int k, int n,
                                std::chrono::steady_clock::time_point started) {
  if (!options.on_progress || n <= 0) return {};
  using Clock = std::chrono::steady_clock;
  auto last = std::make_shared<Clock::time_point>();
  return [on_progress = options.on_progress, interval = options.progress_interval, k, n, started,
          last](double fraction) {
    Clock::time_point now = Clock::now();
    if (fraction < 1 && std::chrono::duration<double>(now - *last).count() < interval) return;
    *last = now;
    Progress p;
    p.elapsed = std::chrono::duration<double>(now - started).count();
    p.phase = "analysis";
    p.phase_fraction = std::clamp((k + fraction) / n, 0.0, 1.0);
    on_progress(p);
  };
}

Result<PerTitleChoice> ChoosePerTitle(const TranscodePlan& plan, const HlsOutputPlan& h,
                                      const Source& source, const std::vector<Rung>& rungs,
                                      int threads, const std::atomic<bool>* cancel,
                                      const AnalysisProgress& progress) {
  if (!h.per_title_choice.is_null()) {
    Result<PerTitleChoice> given = PerTitleChoiceFromJson(h.per_title_choice);
    if (!given.ok()) return given.status().WithContext("the per-title choice given to the run");
    bool same = given->rungs.size() == rungs.size();
    for (size_t i = 0; same && i < rungs.size(); ++i) same = given->rungs[i].name == rungs[i].name;
    if (!same)
      return FailedPrecondition(
          "the per-title choice given to the run is for other rungs than this source's");
    return given;
  }
  // The probes encode 8-bit SDR from the source graph's picture: a kept-HDR source's picture is
  // still PQ/HLG there, so its figures would price every rung from the wrong signal. Joined
  // sources and pictures drawn from audio are not one source's own picture. A source whose clock
  // jumps (clock.h) would have its windows sought by timestamps that do not say where they are,
  // and one whose streams change (succession.h) by a stream that ends at the first join.
  const bool hdr_kept = source.picture().keep_hdr;
  const bool jumps = source.clock_jumps() > 0 || source.stream_successions() > 0;
  if (plan.inputs.size() > 1 || source.drawn() || hdr_kept || jumps) {
    PerTitleChoice c;
    c.target_psnr = h.ladder.target_psnr;
    for (const Rung& r : rungs)
      c.rungs.push_back({r.name, r.bitrate, r.bitrate, 0, false, "not analysed"});
    c.note = hdr_kept ? "per-title does not analyse a source kept in HDR yet; the ladder's "
                        "bitrates were used"
             : jumps  ? "per-title samples a source by its timestamps, and this one's clock "
                        "jumps; the ladder's bitrates were used"
                      : "per-title analyses a single source's own picture; the ladder's bitrates "
                        "were used";
    return c;
  }
  PerTitleSource s{plan.input, source.picture(), source.format(), source.display(),
                   source.duration()};
  return AnalysePerTitle(s, h.ladder, rungs, threads, cancel, progress);
}

nlohmann::json PerTitleChoiceToJson(const PerTitleChoice& c) {
  nlohmann::json rungs = nlohmann::json::array();
  for (const RungChoice& r : c.rungs)
    rungs.push_back({{"name", r.name},
                     {"nominal", r.nominal},
                     {"chosen", r.chosen},
                     {"predicted_psnr_y", r.predicted_psnr_y},
                     {"dropped", r.dropped},
                     {"why", r.why}});
  return {{"target_psnr", c.target_psnr},
          {"analysis_seconds", c.analysis_seconds},
          {"analysis_cpu_seconds", c.analysis_cpu_seconds},
          {"windows", c.windows},
          {"window_seconds", c.window_seconds},
          {"rungs", rungs},
          {"note", c.note}};
}

Result<PerTitleChoice> PerTitleChoiceFromJson(const nlohmann::json& j) {
  PerTitleChoice c;
  try {
    c.target_psnr = j.at("target_psnr").get<double>();
    c.analysis_seconds = j.value("analysis_seconds", 0.0);
    c.analysis_cpu_seconds = j.value("analysis_cpu_seconds", 0.0);
    c.windows = j.value("windows", 0);
    c.window_seconds = j.value("window_seconds", 0.0);
    c.note = j.value("note", "");
    for (const nlohmann::json& r : j.at("rungs")) {
      RungChoice rc{r.at("name").get<std::string>(), r.at("nominal").get<int64_t>(),
                    r.at("chosen").get<int64_t>(),   r.value("predicted_psnr_y", 0.0),
                    r.value("dropped", false),       r.value("why", "")};
      // Whoever wrote it, a rung is never given more than its ladder's rate.
      if (rc.chosen < 0 || rc.chosen > rc.nominal)
        return InvalidArgument("per-title choice: rung " + rc.name + " has no usable bitrate");
      c.rungs.push_back(std::move(rc));
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("unreadable per-title choice: ") + e.what());
  }
  return c;
}

}  // namespace reel::engine
