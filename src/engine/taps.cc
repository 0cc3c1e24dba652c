#include "engine/taps.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/av_util.h"
#include "engine/clock.h"
#include "engine/filter.h"
#include "engine/images.h"
#include "engine/staging.h"
#include "layout/layout.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
}

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

int64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

std::string VttTime(double t) {
  int ms = static_cast<int>(std::lround(t * 1000));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03d", ms / 3600000, ms / 60000 % 60,
                ms / 1000 % 60, ms % 1000);
  return buf;
}

// ---------------------------------------------------------------------------------------------

class ThumbnailTap : public VideoTap {
 public:
  ThumbnailTap(const presets::ThumbnailOptions& o, std::string staged, std::string file_name,
               double duration, Size size)
      : options_(o),
        staged_(std::move(staged)),
        file_name_(std::move(file_name)),
        size_(size),
        picker_(Targets(o, duration)) {}

  Status OnFrame(const AVFrame* frame, double, double end) override {
    last_.reset(av_frame_clone(frame));
    return picker_.Offer(frame, end, [this](size_t i, const AVFrame* f) { return Write(i, f); });
  }

  Status Finish() override {
    // Targets in the last frame's interval or rounded past it get the last frame.
    if (!picker_.Done() && last_)
      return picker_.Offer(last_.get(), 1e18,
                           [this](size_t i, const AVFrame* f) { return Write(i, f); });
    return Status::Ok();
  }

  std::optional<double> NextTarget() const override {
    if (picker_.Done()) return std::nullopt;
    return picker_.targets()[picker_.next()];
  }

  json Describe() const override {
    json files = json::array();
    for (size_t i = 0; i < written_.size(); ++i)
      files.push_back({{"path", written_[i].first},
                       {"at", picker_.targets()[i]},
                       {"bytes", written_[i].second}});
    return {{"width", size_.width},
            {"height", size_.height},
            {"format", options_.format},
            {"images", files}};
  }

 private:
  static std::vector<double> Targets(const presets::ThumbnailOptions& o, double duration) {
    if (o.count <= 1) return {std::min(o.at.Seconds(duration), std::max(0.0, duration - 1e-3))};
    std::vector<double> t;
    for (int i = 0; i < o.count; ++i) t.push_back((i + 0.5) * duration / o.count);
    return t;
  }

  Status Write(size_t i, const AVFrame* frame) {
    Result<std::string> bytes = EncodeImage(frame, size_.width, size_.height, options_.format);
    if (!bytes.ok()) return bytes.status();
    std::string path = staged_;
    // Appended, not "/" + name: GCC 12 misreports that (-Wrestrict).
    if (options_.count > 1)
      path.append("/").append(layout::ThumbnailName(static_cast<int>(i) + 1, options_.format));
    REEL_RETURN_IF_ERROR(WriteStagedFile(path, *bytes));
    // A numbered image keeps its name; a single one is staged under a temporary name.
    std::string name = options_.count > 1 ? fs::path(path).filename().string() : file_name_;
    written_.push_back({name, static_cast<int64_t>(bytes->size())});
    return Status::Ok();
  }

  presets::ThumbnailOptions options_;
  std::string staged_;
  std::string file_name_;
  Size size_;
  FramePicker picker_;
  FramePtr last_;
  std::vector<std::pair<std::string, int64_t>> written_;
};

class SpriteTap : public VideoTap {
 public:
  SpriteTap(const presets::SpriteOptions& o, std::string sheet, std::string vtt,
            std::string sheet_name, double duration, Size tile)
      : options_(o),
        sheet_(std::move(sheet)),
        vtt_(std::move(vtt)),
        sheet_name_(std::move(sheet_name)),
        duration_(duration),
        tile_(tile),
        picker_(Targets(o, duration, tile)),
        columns_(std::min<int>(o.columns, static_cast<int>(picker_.targets().size()))),
        rows_((static_cast<int>(picker_.targets().size()) + columns_ - 1) / columns_),
        canvas_(columns_ * tile.width, rows_ * tile.height, 0x000000FF) {}

  Status OnFrame(const AVFrame* frame, double, double end) override {
    last_.reset(av_frame_clone(frame));
    return picker_.Offer(frame, end, [this](size_t i, const AVFrame* f) { return Place(i, f); });
  }

  Status Finish() override {
    if (!picker_.Done() && last_)
      REEL_RETURN_IF_ERROR(picker_.Offer(
          last_.get(), 1e18, [this](size_t i, const AVFrame* f) { return Place(i, f); }));
    Result<std::string> jpg = EncodeCanvas(canvas_, "jpg");
    if (!jpg.ok()) return jpg.status();
    REEL_RETURN_IF_ERROR(WriteStagedFile(sheet_, *jpg));
    // WebVTT thumbnails: one cue per tile, the image fragment it shows (#xywh=).
    std::string vtt = "WEBVTT\n\n";
    const std::vector<double>& t = picker_.targets();
    for (size_t i = 0; i < t.size(); ++i) {
      double end = i + 1 < t.size() ? t[i + 1] : duration_;
      int x = static_cast<int>(i % columns_) * tile_.width;
      int y = static_cast<int>(i / columns_) * tile_.height;
      vtt += VttTime(t[i]) + " --> " + VttTime(end) + "\n" + sheet_name_ +
             "#xywh=" + std::to_string(x) + "," + std::to_string(y) + "," +
             std::to_string(tile_.width) + "," + std::to_string(tile_.height) + "\n\n";
    }
    return WriteStagedFile(vtt_, vtt);
  }

  json Describe() const override {
    return {{"tiles", picker_.targets().size()},
            {"columns", columns_},
            {"rows", rows_},
            {"tile_width", tile_.width},
            {"tile_height", tile_.height},
            {"width", canvas_.width},
            {"height", canvas_.height},
            {"interval", picker_.targets().size() > 1 ? picker_.targets()[1] - picker_.targets()[0]
                                                      : options_.interval},
            {"bytes", FileSize(sheet_)},
            {"vtt_bytes", FileSize(vtt_)}};
  }

 private:
  // The sheet is one image held in memory: at most kMaxTiles tiles, kMaxPixels pixels, and 65,535
  // pixels high (JPEG's limit). A long source (or one whose header claims a huge duration) gets a
  // longer interval instead of a sheet that cannot be made.
  static constexpr size_t kMaxTiles = 10000;
  static constexpr double kMaxPixels = 100e6;

  static std::vector<double> Targets(const presets::SpriteOptions& o, double duration, Size tile) {
    // The canvas is whole rows of `columns` tiles (a single row when fewer fit).
    double tile_pixels = std::max(1.0, double(tile.width) * tile.height);
    double by_pixels = std::floor(kMaxPixels / tile_pixels);
    if (by_pixels >= o.columns) by_pixels = std::floor(by_pixels / o.columns) * o.columns;
    double fit =
        std::max(1.0, std::min({double(kMaxTiles), by_pixels,
                                std::floor(65535.0 / std::max(1, tile.height)) * o.columns}));
    double length = std::max(duration, 1e-3);
    double interval = std::max(o.interval, length / fit);
    std::vector<double> t;
    for (double x = 0; x < length && t.size() < static_cast<size_t>(fit); x += interval)
      t.push_back(x);
    return t;
  }

  Status Place(size_t i, const AVFrame* frame) {
    int x = static_cast<int>(i % columns_) * tile_.width;
    int y = static_cast<int>(i / columns_) * tile_.height;
    return canvas_.Blit(frame, x, y, tile_.width, tile_.height);
  }

  presets::SpriteOptions options_;
  std::string sheet_, vtt_, sheet_name_;
  double duration_;
  Size tile_;
  FramePicker picker_;
  int columns_, rows_;
  Canvas canvas_;
  FramePtr last_;
};

// ---------------------------------------------------------------------------------------------

// An audio tap's own filter graph, fed with decoded frames.
class GraphTap : public AudioTap {
 public:
  json Describe() const override { return nullptr; }
  Status Init(const std::string& source_args, const std::string& chain) {
    Result<FilterChain> fc = BuildChain(false, source_args, chain, 1);
    if (!fc.ok()) return fc.status();
    chain_ = std::move(fc).value();
    return Status::Ok();
  }

  Status OnFrame(AVFrame* frame) override {
    int err = av_buffersrc_add_frame_flags(chain_.source, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
    if (err < 0) return AvStatus(err, "audio analysis");
    FramePtr out = MakeFrame();
    for (;;) {
      err = av_buffersink_get_frame(chain_.sink, out.get());
      if (err == AVERROR(EAGAIN)) return Status::Ok();
      if (err == AVERROR_EOF) return Finish();
      if (err < 0) return AvStatus(err, "audio analysis");
      Consume(out.get());
      av_frame_unref(out.get());
    }
  }

 protected:
  virtual void Consume(const AVFrame* frame) = 0;
  virtual Status Finish() { return Status::Ok(); }
  FilterChain chain_;
};

class LoudnessMeterImpl : public LoudnessMeter {
 public:
  Status Init(const std::string& args) {
    REEL_RETURN_IF_ERROR(graph_.Init(args, this));
    return peak_.Init(args);
  }

  Status OnFrame(AVFrame* frame) override {
    REEL_RETURN_IF_ERROR(graph_.OnFrame(frame));
    return peak_.OnFrame(frame);
  }
  Loudness Value() const override {
    Loudness l = value_;
    double peak = peak_.max();
    l.true_peak = peak > 0 ? 20 * std::log10(peak) : -144;
    return l;
  }
  json Describe() const override {
    Loudness l = Value();
    auto r1 = [](double v) { return std::round(v * 10) / 10; };
    return {{"integrated_lufs", r1(l.integrated)},
            {"range_lu", r1(l.range)},
            {"true_peak_dbtp", r1(l.true_peak)}};
  }

 private:
  // EBU R128 by libavfilter's ebur128 (the same code as `ffmpeg -af ebur128=peak=true`): its
  // per-frame metadata carries the running integrated loudness and range; the last frame's are
  // the file's. True peak is the largest over channels and frames.
  class Graph : public GraphTap {
   public:
    Status Init(const std::string& args, LoudnessMeterImpl* owner) {
      owner_ = owner;
      // True peak is measured by TruePeak below, so ebur128 need not oversample as well.
      return GraphTap::Init(args, "aformat=sample_fmts=dbl,ebur128=metadata=1");
    }

   protected:
    void Consume(const AVFrame* frame) override {
      const AVDictionaryEntry* e = nullptr;
      while ((e = av_dict_get(frame->metadata, "lavfi.r128.", e, AV_DICT_IGNORE_SUFFIX))) {
        std::string key = e->key;
        double v = std::atof(e->value);
        if (key == "lavfi.r128.I") owner_->value_.integrated = v;
        if (key == "lavfi.r128.LRA") owner_->value_.range = v;
      }
    }

   private:
    LoudnessMeterImpl* owner_ = nullptr;
  };

  // True peak as ebur128 measures it (upsampled to 192 kHz by libswresample, then the largest
  // absolute sample), computed here rather than read from the filter's metadata, which rounds
  // the linear peak to 3 decimals (0.1 dB and worse on quiet files).
  class TruePeak : public GraphTap {
   public:
    Status Init(const std::string& args) {
      return GraphTap::Init(args, "aresample=192000,aformat=sample_fmts=dblp");
    }
    double max() const { return max_; }

   protected:
    void Consume(const AVFrame* frame) override {
      for (int ch = 0; ch < frame->ch_layout.nb_channels; ++ch) {
        const double* x = reinterpret_cast<const double*>(frame->extended_data[ch]);
        for (int i = 0; i < frame->nb_samples; ++i) max_ = std::max(max_, std::fabs(x[i]));
      }
    }

   private:
    double max_ = 0;
  };

  Graph graph_;
  TruePeak peak_;
  Loudness value_;
};

class WaveformTap : public GraphTap {
 public:
  WaveformTap(const presets::WaveformOptions& o, std::string json_path, std::string image_path)
      : options_(o), json_path_(std::move(json_path)), image_path_(std::move(image_path)) {}

  Status Start(const std::string& args, int sample_rate) {
    sample_rate_ = sample_rate;
    samples_per_pixel_ = std::max(
        1, static_cast<int>(std::lround(double(sample_rate) / options_.pixels_per_second)));
    // Mixed down to one channel, as audiowaveform does by default.
    return Init(args, "aformat=sample_fmts=s16:channel_layouts=mono");
  }

  json Describe() const override {
    return {{"version", 2},
            {"channels", 1},
            {"sample_rate", sample_rate_},
            {"samples_per_pixel", samples_per_pixel_},
            {"bits", options_.bits},
            {"length", mins_.size()},
            {"bytes", FileSize(json_path_)},
            {"image_bytes", image_path_.empty() ? 0 : FileSize(image_path_)}};
  }

 protected:
  void Consume(const AVFrame* frame) override {
    const int16_t* s = reinterpret_cast<const int16_t*>(frame->data[0]);
    for (int i = 0; i < frame->nb_samples; ++i) {
      lo_ = std::min<int>(lo_, s[i]);
      hi_ = std::max<int>(hi_, s[i]);
      if (++count_ == samples_per_pixel_) Flush();
    }
  }

  Status Finish() override {
    if (count_ > 0) Flush();
    // audiowaveform's JSON format, version 2: min/max pairs per pixel, per channel.
    json data = json::array();
    for (size_t i = 0; i < mins_.size(); ++i) {
      data.push_back(Scale(mins_[i]));
      data.push_back(Scale(maxs_[i]));
    }
    json out = {{"version", 2},
                {"channels", 1},
                {"sample_rate", sample_rate_},
                {"samples_per_pixel", samples_per_pixel_},
                {"bits", options_.bits},
                {"length", mins_.size()},
                {"data", data}};
    REEL_RETURN_IF_ERROR(WriteStagedFile(json_path_, out.dump()));
    if (!image_path_.empty()) REEL_RETURN_IF_ERROR(DrawImage());
    return Status::Ok();
  }

 private:
  int Scale(int v) const { return options_.bits == 8 ? v >> 8 : v; }

  void Flush() {
    mins_.push_back(static_cast<int16_t>(lo_));
    maxs_.push_back(static_cast<int16_t>(hi_));
    lo_ = 32767;
    hi_ = -32768;
    count_ = 0;
  }

  Status DrawImage() {
    Canvas c(options_.image_width, options_.image_height, 0xFFFFFF00);  // transparent
    const int h = c.height, mid = h / 2;
    size_t n = mins_.size();
    for (int x = 0; x < c.width && n > 0; ++x) {
      size_t a = size_t(x) * n / c.width, b = std::max(a + 1, size_t(x + 1) * n / c.width);
      int lo = 32767, hi = -32768;
      for (size_t i = a; i < b && i < n; ++i) {
        lo = std::min<int>(lo, mins_[i]);
        hi = std::max<int>(hi, maxs_[i]);
      }
      int y0 = mid - hi * mid / 32768, y1 = mid - lo * mid / 32768;
      for (int y = std::max(0, y0); y <= std::min(h - 1, y1); ++y) c.Set(x, y, 0x2563EBFF);
    }
    Result<std::string> png = EncodeCanvas(c, "png");
    if (!png.ok()) return png.status();
    return WriteStagedFile(image_path_, *png);
  }

  presets::WaveformOptions options_;
  std::string json_path_, image_path_;
  int sample_rate_ = 0;
  int samples_per_pixel_ = 1;
  int lo_ = 32767, hi_ = -32768, count_ = 0;
  std::vector<int16_t> mins_, maxs_;
};

}  // namespace

std::unique_ptr<VideoTap> MakeThumbnailTap(const presets::ThumbnailOptions& options,
                                           const std::string& staged, const std::string& file_name,
                                           double duration, const DisplaySize& display) {
  presets::VideoSettings box;
  box.width = options.width;
  box.height = options.height;
  return std::make_unique<ThumbnailTap>(options, staged, file_name, duration,
                                        FitOutputSize(display, box));
}

std::unique_ptr<VideoTap> MakeSpriteTap(const presets::SpriteOptions& options,
                                        const std::string& staged_sheet,
                                        const std::string& staged_vtt,
                                        const std::string& sheet_name, double duration,
                                        const DisplaySize& display) {
  presets::VideoSettings box;
  box.width = options.tile_width;
  return std::make_unique<SpriteTap>(options, staged_sheet, staged_vtt, sheet_name, duration,
                                     FitOutputSize(display, box));
}

Result<std::unique_ptr<LoudnessMeter>> LoudnessMeter::Create(const std::string& source_args) {
  auto meter = std::make_unique<LoudnessMeterImpl>();
  REEL_RETURN_IF_ERROR(meter->Init(source_args));
  return std::unique_ptr<LoudnessMeter>(std::move(meter));
}

Result<std::unique_ptr<AudioTap>> MakeWaveformTap(const presets::WaveformOptions& options,
                                                  const std::string& source_args,
                                                  const std::string& staged_json,
                                                  const std::string& staged_image) {
  auto tap = std::make_unique<WaveformTap>(options, staged_json, staged_image);
  // The sample rate is in the source args ("...:sample_rate=N:...").
  size_t p = source_args.find("sample_rate=");
  int rate = p == std::string::npos ? 48000 : std::atoi(source_args.c_str() + p + 12);
  REEL_RETURN_IF_ERROR(tap->Start(source_args, rate));
  return std::unique_ptr<AudioTap>(std::move(tap));
}

std::string AudioSourceArgs(const AVCodecContext* dec, int tb_num, int tb_den) {
  char layout[128] = {0};
  if (dec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
    AVChannelLayout def;
    av_channel_layout_default(&def, dec->ch_layout.nb_channels);
    av_channel_layout_describe(&def, layout, sizeof(layout));
  } else {
    av_channel_layout_describe(&dec->ch_layout, layout, sizeof(layout));
  }
  return "time_base=" + std::to_string(tb_num) + "/" + std::to_string(tb_den) +
         ":sample_rate=" + std::to_string(dec->sample_rate) +
         ":sample_fmt=" + av_get_sample_fmt_name(dec->sample_fmt) + ":channel_layout=" + layout;
}

Result<Loudness> MeasureLoudness(const std::string& input, const std::atomic<bool>* cancel) {
  Result<InputFormatPtr> in = OpenInput(input);
  if (!in.ok()) return in.status();
  AVFormatContext* fmt = in->get();
  // The sound a run reads, across a change of the program's streams (succession.h).
  Result<SourceClock> clock = ReadSourceClock(fmt, input);
  if (!clock.ok()) return clock.status();
  const Successions& succession = clock->successions;
  StreamFollower follower(fmt, succession);
  int index = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (index < 0) return InvalidArgument("the source has no audio to measure");
  index = succession.Displaced(index) >= 0 ? succession.Displaced(index) : succession.Head(index);
  for (unsigned i = 0; i < fmt->nb_streams; ++i)
    if (succession.Head(int(i)) != index && !succession.MustRead(fmt->streams[i]))
      fmt->streams[i]->discard = AVDISCARD_ALL;
  AVStream* st = fmt->streams[index];
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec) return InvalidArgument("no decoder for the audio");
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  avcodec_parameters_to_context(dec.get(), st->codecpar);
  dec->pkt_timebase = st->time_base;
  int err = avcodec_open2(dec.get(), codec, nullptr);
  if (err < 0) return AvStatus(err, "audio decoder");
  Result<std::unique_ptr<LoudnessMeter>> meter =
      LoudnessMeter::Create(AudioSourceArgs(dec.get(), st->time_base.num, st->time_base.den));
  if (!meter.ok()) return meter.status();
  PacketPtr pkt = MakePacket();
  FramePtr frame = MakeFrame();
  auto drain = [&]() -> Status {
    while (avcodec_receive_frame(dec.get(), frame.get()) >= 0) {
      REEL_RETURN_IF_ERROR((*meter)->OnFrame(frame.get()));
      av_frame_unref(frame.get());
    }
    return Status::Ok();
  };
  while (follower.Read(pkt.get()) >= 0) {
    if (cancel && cancel->load()) return Canceled("canceled");
    if (pkt->stream_index == index && avcodec_send_packet(dec.get(), pkt.get()) >= 0)
      REEL_RETURN_IF_ERROR(drain());
    av_packet_unref(pkt.get());
  }
  avcodec_send_packet(dec.get(), nullptr);
  REEL_RETURN_IF_ERROR(drain());
  REEL_RETURN_IF_ERROR((*meter)->OnFrame(nullptr));
  return (*meter)->Value();
}

}  // namespace reel::engine
