// The transcoding pipeline: one decode of the source feeding every output.
//
//   demux ─┬─ video decode ─ normalise graph ─┬─ queue ─ rung graph ─ encoder ─┬─ muxer(s)
//          │  (decode thread)  rotation,      ├─ queue ─ rung graph ─ encoder ─┤
//          │                   geometry, CFR  └─ ...    (one thread per        │
//          │                                             video rendition)      │
//          └─ audio decode ─ audio graph ─ encoder (decode thread) ────────────┘
//
// Stages and why they sit where they do:
// - The decode thread demuxes, decodes and runs the *normalise* graph once per frame: display
//   rotation (transpose/flip), a passthrough scale that absorbs mid-stream size changes, and
//   `fps`, which turns variable frame rates into constant ones with monotonic timestamps (fixed
//   GOPs and aligned keyframes across rungs need a fixed frame grid). Its output frames are
//   reference-counted and handed, without copying, to every video rendition.
// - Each video rendition (a ladder rung or a file output) runs on its own thread: its own small
//   graph (scale to the rendition size, 8-bit 4:2:0, square pixels), then its encoder. Keeping
//   the scaling off the decode thread is what lets a ladder use every core; a single graph with
//   `split` would run every scale on the thread that pushes frames into it.
// - Audio is cheap: it is filtered (resample, downmix, fixed frame size) and encoded on the
//   decode thread. One encoder per distinct audio setting, so one AAC encode serves every HLS
//   variant and every MP4 that asks for the same settings.
// - Muxers are shared by the threads that feed them (an MP4 gets video from a rendition thread
//   and audio from the decode thread), so each has a mutex; av_interleaved_write_frame orders
//   their packets.
//
// Draining: at the end of input the decoders are flushed, the normalise graph is closed, and each
// rendition queue is closed; a rendition thread drains its queue, flushes its graph and encoder,
// and exits. Trailers are written after every thread has joined. Back-pressure comes from the
// bounded queues, so the decode thread never runs more than a few frames ahead of the slowest
// encoder. Cancellation and errors set one stop flag that every loop checks.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "engine/av_util.h"
#include "engine/dash.h"
#include "engine/engine.h"
#include "engine/filter.h"
#include "engine/geometry.h"
#include "engine/hls.h"
#include "engine/images.h"
#include "engine/layout.h"
#include "engine/mux.h"
#include "engine/staging.h"
#include "engine/taps.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using presets::AudioSettings;
using presets::VideoSettings;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// ---------------------------------------------------------------------------------------------
// Shared run state: the stop flag and the first error.

class RunState {
 public:
  explicit RunState(const std::atomic<bool>* cancel) : cancel_(cancel) {}

  bool ShouldStop() const {
    return failed_.load(std::memory_order_relaxed) || (cancel_ && cancel_->load());
  }
  void Fail(Status status) {
    std::lock_guard lock(mu_);
    if (error_.ok()) error_ = std::move(status);
    failed_ = true;
  }
  Status Outcome() const {
    std::lock_guard lock(mu_);
    if (!error_.ok()) return error_;
    if (cancel_ && cancel_->load()) return Canceled("transcode canceled");
    return Status::Ok();
  }

 private:
  const std::atomic<bool>* cancel_;
  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;
  Status error_;
};

// ---------------------------------------------------------------------------------------------
// A bounded queue of frames between the decode thread and one rendition thread.

class FrameQueue {
 public:
  FrameQueue(size_t capacity, const RunState* run) : capacity_(capacity), run_(run) {}

  // Blocks while full. Returns false if the run is stopping or the consumer is gone.
  bool Push(FramePtr frame) {
    std::unique_lock lock(mu_);
    while (queue_.size() >= capacity_ && !consumer_gone_) {
      if (run_->ShouldStop()) return false;
      not_full_.wait_for(lock, std::chrono::milliseconds(50));
    }
    if (consumer_gone_) return false;
    queue_.push_back(std::move(frame));
    not_empty_.notify_one();
    return true;
  }

  // Blocks while empty. Returns nullptr at the end of the stream or when the run is stopping.
  FramePtr Pop() {
    std::unique_lock lock(mu_);
    while (queue_.empty() && !closed_) {
      if (run_->ShouldStop()) return nullptr;
      not_empty_.wait_for(lock, std::chrono::milliseconds(50));
    }
    if (queue_.empty()) return nullptr;
    FramePtr f = std::move(queue_.front());
    queue_.pop_front();
    not_full_.notify_one();
    return f;
  }

  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }
  void ConsumerGone() {
    std::lock_guard lock(mu_);
    consumer_gone_ = true;
    queue_.clear();
    not_full_.notify_all();
  }

 private:
  const size_t capacity_;
  const RunState* run_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<FramePtr> queue_;
  bool closed_ = false;
  bool consumer_gone_ = false;
};

// ---------------------------------------------------------------------------------------------
// Encoder set-up from presets.

const char* VideoEncoderName(presets::VideoCodec c) {
  switch (c) {
    case presets::VideoCodec::kH264:
      return "libx264";
    case presets::VideoCodec::kHevc:
      return "libx265";
    case presets::VideoCodec::kVp9:
      return "libvpx-vp9";
    case presets::VideoCodec::kFfv1:
      return "ffv1";
  }
  return "";
}

Result<CodecContextPtr> OpenVideoEncoder(const VideoSettings& v, const VideoFormat& f,
                                         int threads) {
  const char* name = VideoEncoderName(v.codec);
  const AVCodec* codec = avcodec_find_encoder_by_name(name);
  if (!codec) return Internal(std::string("encoder ") + name + " is not available");
  CodecContextPtr enc(avcodec_alloc_context3(codec));
  enc->width = f.size.width;
  enc->height = f.size.height;
  enc->pix_fmt = f.pixel_format;
  enc->sample_aspect_ratio = {1, 1};
  enc->framerate = f.frame_rate;
  enc->time_base = av_inv_q(f.frame_rate);
  enc->color_primaries = f.primaries;
  enc->color_trc = f.transfer;
  enc->colorspace = f.colorspace;
  enc->color_range = f.range == AVCOL_RANGE_JPEG ? AVCOL_RANGE_MPEG : f.range;
  enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  enc->thread_count = threads;
  int gop = std::max(1, static_cast<int>(std::lround(av_q2d(f.frame_rate) * v.gop_seconds)));
  enc->gop_size = gop;
  if (v.fixed_gop) enc->keyint_min = gop;
  if (v.bitrate > 0) enc->bit_rate = v.bitrate;
  if (v.maxrate > 0) {
    enc->rc_max_rate = v.maxrate;
    enc->rc_buffer_size = static_cast<int>(std::min<int64_t>(v.bufsize, INT32_MAX));
  }

  AVDictionary* opts = nullptr;
  std::string crf = std::to_string(v.crf);
  switch (v.codec) {
    case presets::VideoCodec::kH264: {
      av_dict_set(&opts, "preset", v.speed.c_str(), 0);
      av_dict_set(&opts, "profile", "high", 0);
      if (v.bitrate == 0 && v.crf >= 0) av_dict_set(&opts, "crf", crf.c_str(), 0);
      // Fixed GOP: IDR frames exactly every `gop` frames, none from scene cuts, closed GOPs,
      // so segment boundaries line up across the rungs of a ladder.
      if (v.fixed_gop) av_dict_set(&opts, "x264-params", "scenecut=0:open-gop=0", 0);
      av_dict_set(&opts, "forced-idr", "1", 0);
      break;
    }
    case presets::VideoCodec::kHevc: {
      av_dict_set(&opts, "preset", v.speed.c_str(), 0);
      if (v.bitrate == 0 && v.crf >= 0) av_dict_set(&opts, "crf", crf.c_str(), 0);
      std::string params = "log-level=error";
      if (v.fixed_gop) params += ":scenecut=0:open-gop=0";
      av_dict_set(&opts, "x265-params", params.c_str(), 0);
      break;
    }
    case presets::VideoCodec::kVp9: {
      av_dict_set(&opts, "deadline", "good", 0);
      av_dict_set(&opts, "cpu-used", v.speed == "fast" ? "4" : "2", 0);
      av_dict_set(&opts, "row-mt", "1", 0);
      if (v.bitrate == 0 && v.crf >= 0) {
        av_dict_set(&opts, "crf", crf.c_str(), 0);
        // Constrained quality: crf with the peak rate as the ceiling.
        enc->bit_rate = v.maxrate;
      }
      break;
    }
    case presets::VideoCodec::kFfv1: {
      // Archival settings: version 3, per-slice CRCs, intra only.
      enc->gop_size = 1;
      enc->level = 3;
      av_dict_set(&opts, "slicecrc", "1", 0);
      av_dict_set(&opts, "slices", "4", 0);
      break;
    }
  }
  int err = avcodec_open2(enc.get(), codec, &opts);
  av_dict_free(&opts);
  if (err < 0) return AvStatus(err, std::string("cannot open encoder ") + name);
  return enc;
}

Result<CodecContextPtr> OpenAudioEncoder(const AudioSettings& a, int channels) {
  const char* name = a.codec == presets::AudioCodec::kAac    ? "aac"
                     : a.codec == presets::AudioCodec::kOpus ? "libopus"
                                                             : "flac";
  const AVCodec* codec = avcodec_find_encoder_by_name(name);
  if (!codec) return Internal(std::string("encoder ") + name + " is not available");
  CodecContextPtr enc(avcodec_alloc_context3(codec));
  enc->sample_rate = a.sample_rate;
  av_channel_layout_default(&enc->ch_layout, channels);
  enc->sample_fmt = codec->sample_fmts ? codec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
  if (a.codec != presets::AudioCodec::kFlac) enc->bit_rate = a.bitrate;
  enc->time_base = {1, a.sample_rate};
  enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  int err = avcodec_open2(enc.get(), codec, nullptr);
  if (err < 0) return AvStatus(err, std::string("cannot open encoder ") + name);
  return enc;
}

// Snaps a measured frame rate to the standard rate it is meant to be (a phone's VFR clip
// averaging 29.87 fps is 30 fps), and caps it.
AVRational ChooseFrameRate(const AVStream* st, double requested) {
  static const AVRational kStandard[] = {{24000, 1001}, {24, 1},       {25, 1},
                                         {30000, 1001}, {30, 1},       {48, 1},
                                         {50, 1},       {60000, 1001}, {60, 1}};
  auto snap = [](double rate) -> AVRational {
    AVRational best{0, 1};
    double best_error = 0.01;  // relative
    for (AVRational s : kStandard) {
      double error = std::fabs(av_q2d(s) - rate) / rate;
      if (error < best_error) {
        best = s;
        best_error = error;
      }
    }
    return best;
  };
  auto usable = [](AVRational r) {
    return r.num > 0 && r.den > 0 && av_q2d(r) >= 1 && av_q2d(r) <= 1000;
  };
  if (requested > 0) {
    AVRational s = snap(requested);
    return s.num > 0 ? s : av_d2q(requested, 100000);
  }
  // A variable-frame-rate source averages an odd rate (a phone clip: 29.87 fps; a clip with
  // dropped frames: 23.5 fps); its base rate (r_frame_rate) is the grid it was shot on.
  for (AVRational r : {st->avg_frame_rate, st->r_frame_rate}) {
    if (!usable(r) || av_q2d(r) > presets::kMaxFps) continue;
    AVRational s = snap(av_q2d(r));
    if (s.num > 0) return s;
  }
  AVRational r = usable(st->avg_frame_rate) ? st->avg_frame_rate : st->r_frame_rate;
  if (!usable(r)) return {30, 1};
  if (av_q2d(r) > presets::kMaxFps) return {60, 1};
  return av_d2q(av_q2d(r), 100000);
}

// ---------------------------------------------------------------------------------------------
// Renditions.

struct VideoRendition {
  std::string key;
  VideoSettings settings;
  VideoFormat format;
  CodecContextPtr encoder;
  FilterChain chain;
  std::vector<MuxTarget> targets;
  std::unique_ptr<FrameQueue> queue;
  std::thread thread;
  std::atomic<int64_t> frames{0};
  std::atomic<double> encoded_seconds{0};  // end of the last frame sent to the encoder
  std::atomic<bool> finished{false};
  // The chain ended before the source did (a preview's window is over): further frames are
  // dropped. Written by the rendition's thread, read by the progress report.
  std::atomic<bool> done{false};
  int64_t end_pts = 0;  // end of the last frame given to the chain, in its input time base
  Size picture;         // the picture inside the frame (smaller than it when letterboxed)
};

struct AudioRendition {
  std::string key;
  AudioSettings settings;
  int channels = 2;
  CodecContextPtr encoder;
  FilterChain chain;
  std::vector<MuxTarget> targets;
  double encoded_seconds = 0;
  bool done = false;   // as VideoRendition::done
  double gain_db = 0;  // loudness normalisation
};

std::string VideoKey(const VideoSettings& v, const VideoFormat& f, Size picture) {
  char buf[320];
  std::snprintf(buf, sizeof(buf), "%d|%dx%d|%dx%d|%d|%d/%d|%lld|%lld|%lld|%d|%.3f|%d|%s|%.3f|%.3f",
                int(v.codec), f.size.width, f.size.height, picture.width, picture.height,
                int(f.pixel_format), f.frame_rate.num, f.frame_rate.den, (long long)v.bitrate,
                (long long)v.maxrate, (long long)v.bufsize, v.crf, v.gop_seconds, int(v.fixed_gop),
                v.speed.c_str(), v.trim_start, v.trim_duration);
  return buf;
}

std::string AudioKey(const AudioSettings& a, int channels) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%d|%lld|%d|%d|%.3f|%.3f|%.2f", int(a.codec),
                (long long)a.bitrate, channels, a.sample_rate, a.trim_start, a.trim_duration,
                a.normalize_lufs);
  return buf;
}

// Keeps a window [start, start + duration) inside the source; says what it changed.
std::string ClampWindow(double source_duration, double* start, double* duration,
                        std::vector<std::string>* notes) {
  if (*duration <= 0) return "";
  if (*start >= source_duration) {
    char buf[128];
    std::snprintf(buf, sizeof(buf), "starts at %.2f s, after the end of the source (%.2f s)",
                  *start, source_duration);
    return buf;
  }
  if (*start + *duration > source_duration) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "clamped to %.2f s: the source ends %.2f s after the start",
                  source_duration - *start, source_duration - *start);
    notes->push_back(buf);
    *duration = source_duration - *start;
  }
  return "";
}

// What the run produced for one output, filled in as the outputs are planned.
struct HlsVariantPlan {
  std::string name;
  VideoRendition* video = nullptr;
  Muxer* muxer = nullptr;
};

struct HlsPlanState {
  const HlsOutputPlan* plan = nullptr;
  std::vector<std::string> notes;
  std::string temp_dir;
  std::vector<HlsVariantPlan> variants;
  AudioRendition* audio = nullptr;
  Muxer* audio_muxer = nullptr;
};

struct FilePlanState {
  const FileOutputPlan* plan = nullptr;
  std::vector<std::string> notes;
  std::string temp_path;
  VideoRendition* video = nullptr;
  AudioRendition* audio = nullptr;
};

// ---------------------------------------------------------------------------------------------

class Transcoder {
 public:
  Transcoder(const TranscodePlan& plan, const TranscodeOptions& options)
      : plan_(plan), options_(options), run_(options.cancel) {}
  ~Transcoder() {
    std::error_code ec;
    if (!subtitles_copy_.empty()) fs::remove(subtitles_copy_, ec);
  }

  Result<TranscodeResult> Run();

 private:
  Status OpenSource(size_t segment);
  Status ProbeSources();
  Status EndSegment();
  Status FeedAudio(AVFrame* frame);
  bool Concat() const { return plan_.inputs.size() > 1; }
  const std::string& SourcePath(size_t segment) const {
    return Concat() ? plan_.inputs[segment] : plan_.input;
  }
  Status PlanOutputs();
  Status OpenMuxers();
  VideoRendition* AddVideo(const VideoSettings& v);
  AudioRendition* AddAudio(const AudioSettings& a);
  Status StartThreads();
  Status Decode();
  Status DecodePacket(AVCodecContext* dec, AVPacket* pkt, bool video);
  Status HandleVideoFrame(AVFrame* frame);
  Status HandleAudioFrame(AVFrame* frame);
  Status PullNormalised();
  Status FlushAudio();
  void RenditionLoop(VideoRendition* r);
  Status EncodeVideo(VideoRendition* r, AVFrame* frame);
  void ReportProgress(bool final);
  Result<TranscodeResult> Collect();
  Status CollectHls(const HlsPlanState& h, OutputResult* out);
  Status PlanTaps();
  bool ThumbnailsOnly() const;
  Status ThumbnailsBySeeking();
  Status CopySubtitles();
  // The audio stream encoded: the source's, or the replacement track's.
  AVStream* AudioStream() const {
    return (audio_input_ ? audio_input_ : input_)->streams[audio_index_];
  }
  void MarkUnavailable(int index, const std::string& kind, const std::string& path,
                       const std::string& why);
  Status FlushTaps();

  const TranscodePlan& plan_;
  const TranscodeOptions& options_;
  RunState run_;
  Staging staging_;
  int threads_ = 1;

  InputFormatPtr input_;
  InputFormatPtr audio_input_;  // the replacement audio's file, if any
  std::string subtitles_copy_;  // the subtitles under a name safe to put in a filter graph
  int video_index_ = -1, audio_index_ = -1;
  CodecContextPtr video_dec_, audio_dec_;
  int64_t start_pts_video_ = 0, start_pts_audio_ = 0;  // source start, in stream time bases
  DisplaySize display_;
  VideoFormat base_format_;
  FilterChain normalise_;
  // Concatenation: the current source, where it starts on the joined timeline, and the graph
  // that brings its audio to the common format. One segment when there is one source.
  size_t segment_ = 0;
  double segment_offset_ = 0;
  std::vector<double> segment_durations_;
  Size concat_size_;
  AVRational concat_rate_{30, 1};
  FilterChain audio_convert_;
  bool normalise_open_ = false;  // the current source's video graph has not been closed yet
  int aux_audio_index_ = -1;
  bool has_audio_ = false;  // some source (or the replacement track) has audio
  bool concat_has_audio_ = false;
  // What the audio renditions and analysis read: the decoder's output, or with several sources
  // the common format every source is converted to.
  std::string RenditionAudioArgs() const {
    if (Concat() && !audio_input_) return kJoinedAudioArgs;
    AVRational tb = AudioStream()->time_base;
    return AudioSourceArgs(audio_dec_.get(), tb.num, tb.den);
  }
  double duration_ = 0;
  double demuxed_end_ = 0;  // end of the last packet read, relative to the source start
  int64_t video_frames_decoded_ = 0, audio_frames_decoded_ = 0;
  int64_t video_end_pts_ = 0;  // end of the last decoded frame, in the stream's time base
  int64_t decode_errors_ = 0;
  int audio_channels_ = 2;

  std::vector<std::unique_ptr<VideoRendition>> videos_;
  std::vector<std::unique_ptr<AudioRendition>> audios_;
  MuxStage mux_;
  std::vector<HlsPlanState> hls_;
  std::vector<FilePlanState> files_;

  struct VideoTapState {
    int index;
    std::string kind, path, extra;  // extra: the sprite's .vtt
    std::unique_ptr<VideoTap> tap;
  };
  struct AudioTapState {
    int index;
    std::string kind, path, image, staged;
    std::unique_ptr<AudioTap> tap;
  };
  std::vector<VideoTapState> video_taps_;
  std::vector<AudioTapState> audio_taps_;
  // Audio analysis (loudness, waveforms) runs on its own thread, fed like a rendition, so that
  // the decode thread stays free to feed the encoders.
  std::unique_ptr<FrameQueue> analysis_queue_;
  std::thread analysis_thread_;
  Status analysis_status_;
  void AnalysisLoop();
  std::vector<OutputResult> unavailable_;   // outputs this source cannot give
  std::optional<Loudness> measured_;        // first pass of loudness normalisation
  std::atomic<double> decoded_seconds_{0};  // how far the decode thread has come

  Clock::time_point started_ = Clock::now();
  Clock::time_point last_progress_{};
};

// Several sources: probe them all first, for the total duration and the main geometry.
Status Transcoder::ProbeSources() {
  double longest = -1;
  size_t main = 0;
  for (size_t i = 0; i < plan_.inputs.size(); ++i) {
    Result<MediaInfo> info = Probe(plan_.inputs[i]);
    if (!info.ok()) return info.status().WithContext("sources[" + std::to_string(i) + "]");
    segment_durations_.push_back(info->duration);
    bool video = info->BestVideo() != nullptr;
    if (!video)
      return InvalidArgument("sources[" + std::to_string(i) +
                             "]: has no video stream; every source joined needs a picture");
    concat_has_audio_ |= info->BestAudio() != nullptr;
    if (plan_.main_input == static_cast<int>(i) ||
        (plan_.main_input < 0 && video && info->duration > longest)) {
      longest = info->duration;
      main = i;
    }
  }
  Result<MediaInfo> info = Probe(plan_.inputs[main]);
  const StreamInfo* v = info->BestVideo();
  if (!v)
    return InvalidArgument("sources[" + std::to_string(main) + "]: the main source has no video");
  DisplaySize d = SourceDisplaySize(v->width, v->height, v->sar_num, v->sar_den, v->rotation);
  presets::VideoSettings none;
  concat_size_ = FitOutputSize(d, none);
  // The rate of the main source, snapped like a single source's.
  Result<InputFormatPtr> in = OpenInput(plan_.inputs[main]);
  if (!in.ok()) return in.status();
  concat_rate_ = ChooseFrameRate((*in)->streams[v->index], 0);
  return Status::Ok();
}

Status Transcoder::OpenSource(size_t segment) {
  segment_ = segment;
  Result<InputFormatPtr> in = OpenInput(SourcePath(segment));
  if (!in.ok()) {
    if (Concat()) return in.status().WithContext("sources[" + std::to_string(segment) + "]");
    return in.status();
  }
  input_ = std::move(in).value();
  AVFormatContext* fmt = input_.get();
  if (!Concat())
    duration_ = fmt->duration == AV_NOPTS_VALUE ? 0 : fmt->duration / double(AV_TIME_BASE);
  video_dec_.reset();
  if (!audio_input_) audio_dec_.reset();
  demuxed_end_ = 0;
  video_end_pts_ = 0;

  video_index_ = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (video_index_ >= 0 && (fmt->streams[video_index_]->disposition & AV_DISPOSITION_ATTACHED_PIC))
    video_index_ = -1;  // cover art is not video
  audio_index_ = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (video_index_ < 0) video_index_ = -1;
  if (audio_index_ < 0) audio_index_ = -1;
  if (video_index_ < 0 && audio_index_ < 0)
    return InvalidArgument(SourcePath(segment) + ": contains no audio or video stream");

  // A replacement audio track comes from its own file; the source's audio is then ignored.
  AVFormatContext* audio_fmt = fmt;
  if (audio_input_) {
    audio_fmt = audio_input_.get();
    audio_index_ = aux_audio_index_;
  } else if (!plan_.audio_input.empty()) {
    Result<InputFormatPtr> a = OpenInput(plan_.audio_input);
    if (!a.ok()) return a.status().WithContext("audio");
    audio_input_ = std::move(a).value();
    audio_fmt = audio_input_.get();
    audio_index_ = av_find_best_stream(audio_fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
    if (audio_index_ < 0)
      return InvalidArgument("audio: " + plan_.audio_input + " has no audio stream");
    aux_audio_index_ = audio_index_;
  }

  int64_t start = fmt->start_time == AV_NOPTS_VALUE ? 0 : fmt->start_time;
  auto open_decoder = [&](AVFormatContext* fmt, int index, CodecContextPtr* out) -> Status {
    AVStream* st = fmt->streams[index];
    const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec)
      return InvalidArgument(SourcePath(segment_) + ": no decoder for " +
                             avcodec_get_name(st->codecpar->codec_id) + " (stream " +
                             std::to_string(index) + ")");
    CodecContextPtr dec(avcodec_alloc_context3(codec));
    int err = avcodec_parameters_to_context(dec.get(), st->codecpar);
    if (err < 0) return AvStatus(err, "decoder parameters");
    dec->pkt_timebase = st->time_base;
    dec->thread_count = threads_;
    err = avcodec_open2(dec.get(), codec, nullptr);
    if (err < 0) return AvStatus(err, SourcePath(segment_) + ": cannot open decoder");
    *out = std::move(dec);
    return Status::Ok();
  };

  if (video_index_ >= 0) {
    AVStream* st = fmt->streams[video_index_];
    REEL_RETURN_IF_ERROR(open_decoder(fmt, video_index_, &video_dec_));
    start_pts_video_ = av_rescale_q(start, AV_TIME_BASE_Q, st->time_base);
    const AVCodecParameters* par = st->codecpar;
    if (par->width <= 0 || par->height <= 0)
      return InvalidArgument(SourcePath(segment) + ": video stream has no picture size");
    AVRational sar = av_guess_sample_aspect_ratio(fmt, st, nullptr);
    int rotation = StreamRotation(st);
    display_ = SourceDisplaySize(par->width, par->height, sar.num, sar.den, rotation);
    base_format_.primaries = par->color_primaries;
    base_format_.transfer = par->color_trc;
    base_format_.colorspace = par->color_space;
    base_format_.range = par->color_range;

    NormaliseGraphSpec spec;
    spec.coded_width = par->width;
    spec.coded_height = par->height;
    spec.rotation = rotation;
    spec.frame_rate = Concat() ? concat_rate_ : ChooseFrameRate(st, 0);
    if (Concat()) {
      display_ = {double(concat_size_.width), double(concat_size_.height)};
      spec.join = true;
      spec.join_size = concat_size_;
      spec.start_time = segment_offset_;
    }
    if (!plan_.subtitles.empty()) {
      if (subtitles_copy_.empty()) REEL_RETURN_IF_ERROR(CopySubtitles());
      spec.subtitles = subtitles_copy_;
    }
    int pix_fmt = par->format >= 0 ? par->format : AV_PIX_FMT_YUV420P;
    Result<FilterChain> fc =
        BuildChain(true, VideoSourceArgs(par->width, par->height, pix_fmt, st->time_base, sar),
                   NormaliseGraph(spec), threads_);
    if (!fc.ok() && !plan_.subtitles.empty())
      return InvalidArgument("subtitles: cannot burn in " + plan_.subtitles + " (" +
                             fc.status().message() + "); is it a valid ASS or SRT file?");
    if (!fc.ok()) return fc.status();
    normalise_ = std::move(fc).value();
    base_format_.frame_rate = spec.frame_rate;
  }
  if (audio_index_ >= 0) {
    AVStream* st = audio_fmt->streams[audio_index_];
    REEL_RETURN_IF_ERROR(open_decoder(audio_fmt, audio_index_, &audio_dec_));
    int64_t audio_start = audio_fmt->start_time == AV_NOPTS_VALUE ? 0 : audio_fmt->start_time;
    start_pts_audio_ =
        av_rescale_q(audio_input_ ? audio_start : start, AV_TIME_BASE_Q, st->time_base);
    audio_channels_ = std::clamp(st->codecpar->ch_layout.nb_channels, 1, 2);
    if (Concat() && !audio_input_) {
      // Sources may differ in rate and layout: each is brought to 48 kHz stereo first.
      audio_channels_ = 2;
      Result<FilterChain> fc =
          BuildChain(false, AudioSourceArgs(audio_dec_.get(), st->time_base.num, st->time_base.den),
                     JoinedAudioGraph(), 1);
      if (!fc.ok()) return fc.status();
      audio_convert_ = std::move(fc).value();
    }
  }
  if (video_dec_) normalise_open_ = true;
  return Status::Ok();
}

// Between two sources: drain the finished one into the renditions without ending them, and move
// the timeline on by its length.
Status Transcoder::EndSegment() {
  if (video_dec_) {
    REEL_RETURN_IF_ERROR(DecodePacket(video_dec_.get(), nullptr, true));
    REEL_RETURN_IF_ERROR(HandleVideoFrame(nullptr));
  }
  if (audio_dec_ && !audio_input_) {
    REEL_RETURN_IF_ERROR(DecodePacket(audio_dec_.get(), nullptr, false));
    REEL_RETURN_IF_ERROR(HandleAudioFrame(nullptr));
  }
  double declared = segment_durations_[segment_];
  if (declared > 1 && demuxed_end_ < declared * 0.97 - 0.5) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), ": file is truncated: media ends at %.2f s of %.2f s declared",
                  demuxed_end_, declared);
    return InvalidArgument(SourcePath(segment_) + buf);
  }
  segment_offset_ += demuxed_end_ > 0 ? demuxed_end_ : declared;
  return Status::Ok();
}

VideoRendition* Transcoder::AddVideo(const VideoSettings& v) {
  VideoFormat f = base_format_;
  Size picture = FitOutputSize(display_, v);
  // Letterboxed: a fixed frame, the picture centred in it.
  f.size = v.letterbox ? Size{v.width, v.height} : picture;
  if (v.fps > 0) f.frame_rate = ChooseFrameRate(input_->streams[video_index_], v.fps);
  if (v.keep_pixel_format)
    f.pixel_format = static_cast<AVPixelFormat>(av_buffersink_get_format(normalise_.sink));
  std::string key = VideoKey(v, f, picture);
  for (auto& r : videos_)
    if (r->key == key) return r.get();
  auto r = std::make_unique<VideoRendition>();
  r->key = key;
  r->settings = v;
  r->format = f;
  r->picture = picture;
  videos_.push_back(std::move(r));
  return videos_.back().get();
}

AudioRendition* Transcoder::AddAudio(const AudioSettings& a) {
  int channels = std::min(audio_channels_, a.max_channels);
  std::string key = AudioKey(a, channels);
  for (auto& r : audios_)
    if (r->key == key) return r.get();
  auto r = std::make_unique<AudioRendition>();
  r->key = key;
  r->settings = a;
  r->channels = channels;
  if (a.normalize_lufs != 0 && measured_) {
    // Linear normalisation (EBU R128 s1): one gain to reach the target, held down so that the
    // true peak stays at or below -1 dBTP.
    r->gain_db = std::min(a.normalize_lufs - measured_->integrated, -1.0 - measured_->true_peak);
  }
  audios_.push_back(std::move(r));
  return audios_.back().get();
}

void Transcoder::MarkUnavailable(int index, const std::string& kind, const std::string& path,
                                 const std::string& why) {
  OutputResult o;
  o.index = index;
  o.kind = kind;
  o.path = path;
  o.error = "outputs[" + std::to_string(index) + "] (" + kind + "): " + why;
  unavailable_.push_back(std::move(o));
}

Status Transcoder::PlanOutputs() {
  if (plan_.hls.empty() && plan_.files.empty() && plan_.thumbnails.empty() &&
      plan_.sprites.empty() && plan_.waveforms.empty() && plan_.loudness.empty())
    return InvalidArgument("no outputs requested");
  for (const HlsOutputPlan& h : plan_.hls) {
    HlsPlanState st;
    st.plan = &h;
    presets::Preset single = h.single.value_or(presets::Preset{});
    if (h.single) {
      std::string why =
          ClampWindow(duration_, &single.video.trim_start, &single.video.trim_duration, &st.notes);
      single.audio.trim_duration = single.video.trim_duration;
      if (!why.empty()) {
        MarkUnavailable(h.index, h.kind, h.directory, why);
        continue;
      }
    }
    Result<std::string> dir = staging_.StageDirectory(h.directory);
    if (!dir.ok()) return dir.status();
    st.temp_dir = *dir;
    if (video_index_ >= 0) {
      if (h.single) {
        st.variants.push_back({std::string(layout::kPreviewRendition), AddVideo(single.video)});
      } else {
        for (const presets::Rung& rung : SelectRungs(h.ladder, display_))
          st.variants.push_back({rung.name, AddVideo(presets::RungVideoSettings(h.ladder, rung))});
      }
    }
    if (has_audio_) st.audio = AddAudio(h.single ? single.audio : h.ladder.audio);
    hls_.push_back(std::move(st));
  }
  for (const FileOutputPlan& f : plan_.files) {
    FilePlanState st;
    st.plan = &f;
    presets::Preset preset = f.preset;
    std::string why =
        ClampWindow(duration_, &preset.video.trim_start, &preset.video.trim_duration, &st.notes);
    preset.audio.trim_duration = preset.video.trim_duration;
    if (!why.empty()) {
      MarkUnavailable(f.index, f.kind.empty() ? presets::ContainerName(f.preset.container) : f.kind,
                      f.path, why);
      continue;
    }
    Result<std::string> path = staging_.StageFile(f.path);
    if (!path.ok()) return path.status();
    st.temp_path = *path;
    if (video_index_ >= 0) st.video = AddVideo(preset.video);
    if (has_audio_) st.audio = AddAudio(preset.audio);
    files_.push_back(std::move(st));
  }
  REEL_RETURN_IF_ERROR(PlanTaps());

  // Encoder threads follow each rendition's share of the pixels, so the biggest rung, which
  // bounds the wall time, gets the most.
  double total_pixels = 0;
  for (auto& r : videos_) total_pixels += double(r->format.size.width) * r->format.size.height;
  for (auto& r : videos_) {
    double share = double(r->format.size.width) * r->format.size.height / total_pixels;
    int threads = std::clamp(static_cast<int>(std::ceil(threads_ * share)), 1, threads_);
    Result<CodecContextPtr> enc = OpenVideoEncoder(r->settings, r->format, threads);
    if (!enc.ok()) return enc.status();
    r->encoder = std::move(enc).value();
    Result<FilterChain> fc = BuildChain(
        true, VideoSourceArgs(normalise_.sink),
        VideoRenditionGraph(r->settings, r->format, r->picture, base_format_.frame_rate), 1);
    if (!fc.ok()) return fc.status();
    r->chain = std::move(fc).value();
    r->queue = std::make_unique<FrameQueue>(8, &run_);
  }
  for (auto& r : audios_) {
    Result<CodecContextPtr> enc = OpenAudioEncoder(r->settings, r->channels);
    if (!enc.ok()) return enc.status();
    r->encoder = std::move(enc).value();
    char out_layout[64] = {0};
    av_channel_layout_describe(&r->encoder->ch_layout, out_layout, sizeof(out_layout));
    Result<FilterChain> fc =
        BuildChain(false, RenditionAudioArgs(),
                   AudioRenditionGraph(r->settings, audio_input_ ? duration_ : 0, r->gain_db,
                                       r->encoder->sample_fmt, out_layout),
                   1);
    if (!fc.ok()) return fc.status();
    r->chain = std::move(fc).value();
    if (!(r->encoder->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE))
      av_buffersink_set_frame_size(r->chain.sink, r->encoder->frame_size);
  }
  return OpenMuxers();
}

// The subtitles filter takes a file name inside the filter graph text, where quotes, colons
// and commas are syntax. Rather than escape a user's path (two levels of libavfilter quoting),
// the file is copied to a temporary name made only of safe characters.
Status Transcoder::CopySubtitles() {
  std::string ext = fs::path(plan_.subtitles).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext != ".ass" && ext != ".ssa" && ext != ".srt" && ext != ".vtt")
    return InvalidArgument("subtitles: " + plan_.subtitles +
                           " is not an .ass, .ssa, .srt or .vtt file");
  std::error_code ec;
  if (!fs::is_regular_file(plan_.subtitles, ec))
    return NotFound("subtitles: " + plan_.subtitles + " does not exist");
  std::string temp = layout::SubtitlesCopyTemplate(fs::temp_directory_path().string(), ext);
  int fd = mkstemps(temp.data(), static_cast<int>(ext.size()));
  if (fd < 0) return Unavailable("cannot create a temporary file for the subtitles");
  close(fd);
  subtitles_copy_ = temp;
  fs::copy_file(plan_.subtitles, temp, fs::copy_options::overwrite_existing, ec);
  if (ec) return Unavailable("subtitles: cannot read " + plan_.subtitles + ": " + ec.message());
  // The copy is what the filter reads, so checking it checks what is burnt in.
  Status readable = CheckSubtitleFile(temp);
  if (!readable.ok()) return readable.WithContext("subtitles: " + plan_.subtitles);
  return Status::Ok();
}

Status Transcoder::PlanTaps() {
  auto no_video = [this](int index, const std::string& kind, const std::string& path) {
    MarkUnavailable(index, kind, path, "the source has no video stream");
  };
  for (const ThumbnailPlan& t : plan_.thumbnails) {
    if (video_index_ < 0) {
      no_video(t.index, "thumbnail", t.destination);
      continue;
    }
    double at = t.options.at.Seconds(duration_);
    if (t.options.count == 1 && duration_ > 0 && at > duration_) {
      char why[128];
      std::snprintf(why, sizeof(why), "%.2f s is past the end of the source (%.2f s)", at,
                    duration_);
      MarkUnavailable(t.index, "thumbnail", t.destination, why);
      continue;
    }
    Result<std::string> staged = t.options.count > 1 ? staging_.StageDirectory(t.destination)
                                                     : staging_.StageFile(t.destination);
    if (!staged.ok()) return staged.status();
    video_taps_.push_back(
        {t.index, "thumbnail", t.destination, "",
         MakeThumbnailTap(t.options, *staged, fs::path(t.destination).filename().string(),
                          duration_, display_)});
  }
  for (const SpritePlan& sp : plan_.sprites) {
    if (video_index_ < 0) {
      no_video(sp.index, "sprite", sp.destination);
      continue;
    }
    std::string vtt = layout::SpriteVttPath(sp.destination);
    Result<std::string> sheet = staging_.StageFile(sp.destination);
    if (!sheet.ok()) return sheet.status();
    Result<std::string> staged_vtt = staging_.StageFile(vtt);
    if (!staged_vtt.ok()) return staged_vtt.status();
    video_taps_.push_back(
        {sp.index, "sprite", sp.destination, vtt,
         MakeSpriteTap(sp.options, *sheet, *staged_vtt,
                       fs::path(sp.destination).filename().string(), duration_, display_)});
  }
  std::string audio_args;
  if (has_audio_) audio_args = RenditionAudioArgs();
  for (const WaveformPlan& w : plan_.waveforms) {
    if (!has_audio_) {
      MarkUnavailable(w.index, "waveform", w.destination, "the source has no audio stream");
      continue;
    }
    Result<std::string> json_path = staging_.StageFile(w.destination);
    if (!json_path.ok()) return json_path.status();
    std::string image;
    if (!w.options.image.empty()) {
      Result<std::string> staged = staging_.StageFile(w.options.image);
      if (!staged.ok()) return staged.status();
      image = *staged;
    }
    Result<std::unique_ptr<AudioTap>> tap =
        MakeWaveformTap(w.options, audio_args, *json_path, image);
    if (!tap.ok()) return tap.status();
    audio_taps_.push_back(
        {w.index, "waveform", w.destination, w.options.image, *json_path, std::move(*tap)});
  }
  for (const LoudnessPlan& l : plan_.loudness) {
    if (!has_audio_) {
      MarkUnavailable(l.index, "loudness", l.destination, "the source has no audio stream");
      continue;
    }
    std::string staged;
    if (!l.destination.empty()) {
      Result<std::string> st = staging_.StageFile(l.destination);
      if (!st.ok()) return st.status();
      staged = *st;
    }
    std::unique_ptr<AudioTap> tap;
    if (!measured_) {  // else the normalisation pass has measured it already
      Result<std::unique_ptr<LoudnessMeter>> meter = LoudnessMeter::Create(audio_args);
      if (!meter.ok()) return meter.status();
      tap = std::move(*meter);
    }
    audio_taps_.push_back({l.index, "loudness", l.destination, "", staged, std::move(tap)});
  }
  return Status::Ok();
}

// A job of thumbnails alone need not decode the whole source: for each time it seeks to the
// keyframe before it and decodes from there to the exact frame.
bool Transcoder::ThumbnailsOnly() const {
  return !Concat() && !plan_.thumbnails.empty() && plan_.hls.empty() && plan_.files.empty() &&
         plan_.sprites.empty() && plan_.waveforms.empty() && plan_.loudness.empty() &&
         plan_.subtitles.empty() && video_index_ >= 0;
}

Status Transcoder::ThumbnailsBySeeking() {
  AVFormatContext* fmt = input_.get();
  AVStream* st = fmt->streams[video_index_];
  for (unsigned i = 0; i < fmt->nb_streams; ++i)
    if (int(i) != video_index_) fmt->streams[i]->discard = AVDISCARD_ALL;
  // Rotation only: the frame rate grid and start padding of the normalise graph are for
  // continuous decoding.
  std::string turn = RotationFilters(StreamRotation(st));
  const AVCodecParameters* par = st->codecpar;
  AVRational sar = av_guess_sample_aspect_ratio(fmt, st, nullptr);
  Result<FilterChain> chain =
      BuildChain(true, VideoSourceArgs(par->width, par->height, par->format, st->time_base, sar),
                 turn.empty() ? "null" : turn, 1);
  if (!chain.ok()) return chain.status();
  double frame_seconds = 1 / av_q2d(base_format_.frame_rate);
  PacketPtr pkt = MakePacket();
  FramePtr frame = MakeFrame(), turned = MakeFrame();
  for (VideoTapState& t : video_taps_) {
    while (std::optional<double> target = t.tap->NextTarget()) {
      if (run_.ShouldStop()) return Status::Ok();
      int64_t ts = av_rescale_q(static_cast<int64_t>(*target * AV_TIME_BASE), AV_TIME_BASE_Q,
                                st->time_base) +
                   start_pts_video_;
      if (av_seek_frame(fmt, video_index_, ts, AVSEEK_FLAG_BACKWARD) < 0)
        av_seek_frame(fmt, video_index_, start_pts_video_, AVSEEK_FLAG_BACKWARD);
      avcodec_flush_buffers(video_dec_.get());
      bool eof = false;
      while (t.tap->NextTarget() == target && !eof) {
        int err = av_read_frame(fmt, pkt.get());
        eof = err < 0;
        if (!eof && pkt->stream_index != video_index_) {
          av_packet_unref(pkt.get());
          continue;
        }
        avcodec_send_packet(video_dec_.get(), eof ? nullptr : pkt.get());
        av_packet_unref(pkt.get());
        while (avcodec_receive_frame(video_dec_.get(), frame.get()) >= 0) {
          int64_t pts = frame->best_effort_timestamp;
          double start =
              pts == AV_NOPTS_VALUE ? 0 : (pts - start_pts_video_) * av_q2d(st->time_base);
          double end =
              start + (frame->pkt_duration > 0 ? frame->pkt_duration * av_q2d(st->time_base)
                                               : frame_seconds);
          if (av_buffersrc_add_frame(chain->source, frame.get()) < 0 ||
              av_buffersink_get_frame(chain->sink, turned.get()) < 0)
            return Internal("cannot turn a frame for a thumbnail");
          Status s = t.tap->OnFrame(turned.get(), start, end);
          av_frame_unref(turned.get());
          if (!s.ok()) return s;
        }
      }
      if (eof) break;  // past the last frame: Finish() uses the last one seen
    }
  }
  return FlushTaps();
}

Status Transcoder::FlushTaps() {
  for (VideoTapState& t : video_taps_) REEL_RETURN_IF_ERROR(t.tap->Finish());
  return Status::Ok();
}

void Transcoder::AnalysisLoop() {
  Status status;
  while (FramePtr frame = analysis_queue_->Pop()) {
    for (AudioTapState& t : audio_taps_)
      if (t.tap && status.ok()) status = t.tap->OnFrame(frame.get());
    if (!status.ok()) break;
  }
  if (status.ok() && !run_.ShouldStop())
    for (AudioTapState& t : audio_taps_)
      if (t.tap && status.ok()) status = t.tap->OnFrame(nullptr);
  if (!status.ok()) {
    run_.Fail(status);
    analysis_queue_->ConsumerGone();
  }
  analysis_status_ = status;
}

Status Transcoder::OpenMuxers() {
  for (HlsPlanState& h : hls_) {
    double seconds = h.plan->ladder.segment_seconds;
    for (HlsVariantPlan& v : h.variants) {
      Result<MuxTarget> t =
          mux_.OpenHls(h.temp_dir + "/" + v.name, seconds, v.video->encoder.get());
      if (!t.ok()) return t.status();
      v.video->targets.push_back(*t);
      v.muxer = t->muxer;
    }
    if (h.audio) {
      Result<MuxTarget> t = mux_.OpenHls(h.temp_dir + "/" + std::string(layout::kAudioRendition),
                                         seconds, h.audio->encoder.get());
      if (!t.ok()) return t.status();
      h.audio->targets.push_back(*t);
      h.audio_muxer = t->muxer;
    }
  }
  for (FilePlanState& f : files_) {
    MuxTarget video, audio;
    REEL_RETURN_IF_ERROR(mux_.OpenFile(f.temp_path, f.plan->preset.container,
                                       f.video ? f.video->encoder.get() : nullptr,
                                       f.audio ? f.audio->encoder.get() : nullptr, &video, &audio));
    if (f.video) f.video->targets.push_back(video);
    if (f.audio) f.audio->targets.push_back(audio);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Rendition threads.

Status Transcoder::EncodeVideo(VideoRendition* r, AVFrame* frame) {
  if (r->done) return Status::Ok();  // its window is over; the rest of the source is not for it
  PacketPtr pkt = MakePacket();
  int err;
  if (frame) {
    r->end_pts = frame->pts + 1;  // frames arrive on the normalised 1/fps grid
    err = av_buffersrc_add_frame(r->chain.source, frame);
  } else {
    err = av_buffersrc_close(r->chain.source, r->end_pts, 0);
  }
  if (err < 0) return AvStatus(err, "rendition filter");
  FramePtr out = MakeFrame();
  for (;;) {
    err = av_buffersink_get_frame(r->chain.sink, out.get());
    if (err == AVERROR(EAGAIN)) return Status::Ok();
    if (err == AVERROR_EOF) break;
    if (err < 0) return AvStatus(err, "rendition filter");
    out->pict_type = AV_PICTURE_TYPE_NONE;  // let the encoder place keyframes on its grid
    out->pts =
        av_rescale_q(out->pts, av_buffersink_get_time_base(r->chain.sink), r->encoder->time_base);
    err = avcodec_send_frame(r->encoder.get(), out.get());
    double end = (out->pts + 1) * av_q2d(r->encoder->time_base);
    av_frame_unref(out.get());
    if (err < 0) return AvStatus(err, std::string("encoder ") + r->encoder->codec->name);
    r->frames.fetch_add(1, std::memory_order_relaxed);
    r->encoded_seconds.store(end, std::memory_order_relaxed);
    REEL_RETURN_IF_ERROR(SendPackets(r->encoder.get(), pkt.get(), r->targets));
  }
  // The filter reached EOF (end of input, or of a trimmed window): flush the encoder.
  r->done = true;
  err = avcodec_send_frame(r->encoder.get(), nullptr);
  if (err < 0 && err != AVERROR_EOF) return AvStatus(err, "encoder flush");
  return SendPackets(r->encoder.get(), pkt.get(), r->targets);
}

void Transcoder::RenditionLoop(VideoRendition* r) {
  Status status;
  while (FramePtr frame = r->queue->Pop()) {
    status = EncodeVideo(r, frame.get());
    if (!status.ok()) break;
  }
  if (status.ok() && !run_.ShouldStop()) status = EncodeVideo(r, nullptr);
  if (!status.ok()) {
    run_.Fail(status);
    r->queue->ConsumerGone();
  }
  r->finished = true;
}

Status Transcoder::StartThreads() {
  bool analysis = false;
  for (const AudioTapState& t : audio_taps_) analysis |= t.tap != nullptr;
  if (analysis) {
    analysis_queue_ = std::make_unique<FrameQueue>(64, &run_);
    analysis_thread_ = std::thread([this] { AnalysisLoop(); });
  }
  for (auto& r : videos_) {
    VideoRendition* raw = r.get();
    r->thread = std::thread([this, raw] { RenditionLoop(raw); });
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// The decode thread.

Status Transcoder::PullNormalised() {
  for (;;) {
    FramePtr frame = MakeFrame();
    int err = av_buffersink_get_frame(normalise_.sink, frame.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) return AvStatus(err, "video filter");
    double tb = av_q2d(av_buffersink_get_time_base(normalise_.sink));
    double start = frame->pts * tb, end = start + 1 / av_q2d(base_format_.frame_rate);
    for (VideoTapState& t : video_taps_)
      REEL_RETURN_IF_ERROR(t.tap->OnFrame(frame.get(), start, end));
    for (auto& r : videos_) {
      FramePtr ref(av_frame_clone(frame.get()));
      if (!ref) return Internal("out of memory");
      if (!r->queue->Push(std::move(ref))) return Status::Ok();  // stopping
    }
  }
}

Status Transcoder::HandleVideoFrame(AVFrame* frame) {
  int err;
  if (frame) {
    frame->pts = frame->best_effort_timestamp;
    if (frame->pts != AV_NOPTS_VALUE) {
      // From the source's own clock to the output timeline (a later source starts later).
      frame->pts += -start_pts_video_ + av_rescale_q(std::llround(segment_offset_ * AV_TIME_BASE),
                                                     AV_TIME_BASE_Q,
                                                     input_->streams[video_index_]->time_base);
      int64_t duration = frame->pkt_duration;
      if (duration <= 0)
        duration = av_rescale_q(1, av_inv_q(base_format_.frame_rate),
                                input_->streams[video_index_]->time_base);
      video_end_pts_ = std::max(video_end_pts_, frame->pts + duration);
    }
    ++video_frames_decoded_;
    err = av_buffersrc_add_frame_flags(normalise_.source, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
  } else {
    // Close at the end of the last frame, not its start, so `fps` keeps the last frame.
    if (!normalise_open_) return Status::Ok();
    normalise_open_ = false;
    err = av_buffersrc_close(normalise_.source, video_end_pts_, 0);
  }
  if (err < 0) return AvStatus(err, "video filter");
  return PullNormalised();
}

// Decoded audio of the current source (nullptr: its end) on its way to the renditions.
Status Transcoder::HandleAudioFrame(AVFrame* frame) {
  if (frame) {
    frame->pts = frame->best_effort_timestamp;
    if (frame->pts != AV_NOPTS_VALUE)
      frame->pts += -start_pts_audio_ +
                    av_rescale_q(std::llround((audio_input_ ? 0 : segment_offset_) * AV_TIME_BASE),
                                 AV_TIME_BASE_Q, AudioStream()->time_base);
    ++audio_frames_decoded_;
  }
  if (!Concat() || audio_input_) return FeedAudio(frame);
  // Several sources: through this source's conversion to the common format. Its end is not the
  // end of the audio: the next source continues it.
  int err = av_buffersrc_add_frame_flags(audio_convert_.source, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
  if (err < 0) return AvStatus(err, "audio conversion");
  FramePtr out = MakeFrame();
  for (;;) {
    err = av_buffersink_get_frame(audio_convert_.sink, out.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) return AvStatus(err, "audio conversion");
    REEL_RETURN_IF_ERROR(FeedAudio(out.get()));
    av_frame_unref(out.get());
  }
}

// Audio in the renditions' input format (nullptr: the end of all audio).
Status Transcoder::FeedAudio(AVFrame* frame) {
  if (analysis_queue_ && frame) {
    FramePtr ref(av_frame_clone(frame));
    if (!ref) return Internal("out of memory");
    analysis_queue_->Push(std::move(ref));
  }
  PacketPtr pkt = MakePacket();
  FramePtr out = MakeFrame();
  for (auto& r : audios_) {
    if (r->done) continue;
    int err = av_buffersrc_add_frame_flags(r->chain.source, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
    if (err < 0) return AvStatus(err, "audio filter");
    for (;;) {
      err = av_buffersink_get_frame(r->chain.sink, out.get());
      if (err == AVERROR(EAGAIN)) break;
      if (err == AVERROR_EOF) {
        r->done = true;
        err = avcodec_send_frame(r->encoder.get(), nullptr);
        if (err < 0 && err != AVERROR_EOF) return AvStatus(err, "audio encoder flush");
        REEL_RETURN_IF_ERROR(SendPackets(r->encoder.get(), pkt.get(), r->targets));
        break;
      }
      if (err < 0) return AvStatus(err, "audio filter");
      r->encoded_seconds = (out->pts + out->nb_samples) / double(r->settings.sample_rate);
      err = avcodec_send_frame(r->encoder.get(), out.get());
      av_frame_unref(out.get());
      if (err < 0) return AvStatus(err, "audio encoder");
      REEL_RETURN_IF_ERROR(SendPackets(r->encoder.get(), pkt.get(), r->targets));
    }
  }
  return Status::Ok();
}

Status Transcoder::DecodePacket(AVCodecContext* dec, AVPacket* pkt, bool video) {
  int err = avcodec_send_packet(dec, pkt);
  if (err < 0 && err != AVERROR_EOF) {
    // A damaged packet costs a frame, not the job; a source that is all damage is caught below.
    ++decode_errors_;
    return Status::Ok();
  }
  FramePtr frame = MakeFrame();
  for (;;) {
    err = avcodec_receive_frame(dec, frame.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) {
      ++decode_errors_;
      return Status::Ok();
    }
    REEL_RETURN_IF_ERROR(video ? HandleVideoFrame(frame.get()) : HandleAudioFrame(frame.get()));
    av_frame_unref(frame.get());
    if (run_.ShouldStop()) return Status::Ok();
  }
}

Status Transcoder::Decode() {
  PacketPtr pkt = MakePacket();
  AVFormatContext* aux = audio_input_.get();  // the replacement audio, read alongside
  int read_error = 0;
  bool main_eof = false, aux_eof = aux == nullptr;
  double main_pos = 0, aux_pos = 0;
  for (;;) {
    AVFormatContext* main = input_.get();
    if (main_eof && segment_ + 1 < plan_.inputs.size() && !run_.ShouldStop()) {
      REEL_RETURN_IF_ERROR(EndSegment());  // on to the next source
      REEL_RETURN_IF_ERROR(OpenSource(segment_ + 1));
      main_eof = false;
      continue;
    }
    if (run_.ShouldStop() || (main_eof && aux_eof)) break;
    // Two files are read in step, by timestamp, so neither runs far ahead of the other.
    bool from_aux = !aux_eof && (main_eof || aux_pos <= main_pos);
    AVFormatContext* fmt = from_aux ? aux : main;
    int err = av_read_frame(fmt, pkt.get());
    if (err < 0) {
      if (!from_aux && err != AVERROR_EOF) read_error = err;
      (from_aux ? aux_eof : main_eof) = true;
      continue;
    }
    int index = pkt->stream_index;
    bool video = !from_aux && index == video_index_;
    bool audio = index == audio_index_ && from_aux == (aux != nullptr);
    if (video || audio) {
      AVStream* st = fmt->streams[index];
      int64_t start = fmt->start_time == AV_NOPTS_VALUE ? 0 : fmt->start_time;
      if (pkt->pts != AV_NOPTS_VALUE) {
        double end = (pkt->pts + std::max<int64_t>(pkt->duration, 0)) * av_q2d(st->time_base) -
                     start / double(AV_TIME_BASE);
        if (from_aux) {
          aux_pos = end;
          if (duration_ > 0 && aux_pos > duration_ + 1) aux_eof = true;  // the rest is cut anyway
        } else {
          main_pos = segment_offset_ + end;
          demuxed_end_ = std::max(demuxed_end_, end);
          decoded_seconds_.store(main_pos, std::memory_order_relaxed);
        }
      }
      Status s = DecodePacket(video ? video_dec_.get() : audio_dec_.get(), pkt.get(), video);
      if (!s.ok()) {
        av_packet_unref(pkt.get());
        return s;
      }
    }
    av_packet_unref(pkt.get());
    ReportProgress(false);
  }
  if (run_.ShouldStop()) return Status::Ok();

  // End of input: flush decoders, then the filters behind them.
  if (video_dec_) {
    REEL_RETURN_IF_ERROR(DecodePacket(video_dec_.get(), nullptr, true));
    if (video_frames_decoded_ == 0)
      return InvalidArgument(SourcePath(segment_) + ": no video frame could be decoded" +
                             (read_error ? " (" + AvErrorString(read_error) + ")" : ""));
    REEL_RETURN_IF_ERROR(HandleVideoFrame(nullptr));
  }
  if (audio_dec_) {
    REEL_RETURN_IF_ERROR(DecodePacket(audio_dec_.get(), nullptr, false));
    if (audio_frames_decoded_ == 0 && !video_dec_)
      return InvalidArgument(SourcePath(segment_) + ": no audio frame could be decoded");
    REEL_RETURN_IF_ERROR(HandleAudioFrame(nullptr));
    if (Concat() && !audio_input_) REEL_RETURN_IF_ERROR(FeedAudio(nullptr));
  } else if (has_audio_) {
    REEL_RETURN_IF_ERROR(FeedAudio(nullptr));  // the last source is silent; the audio still ends
  }
  REEL_RETURN_IF_ERROR(FlushTaps());
  // A file that ends well before the duration its header declares has been cut short
  // (an interrupted upload); encoding what is there would pass a fragment off as the video.
  double declared = Concat() ? segment_durations_[segment_] : duration_;
  if (declared > 1 && demuxed_end_ < declared * 0.97 - 0.5) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), ": file is truncated: media ends at %.2f s of %.2f s declared",
                  demuxed_end_, declared);
    return InvalidArgument(SourcePath(segment_) + buf);
  }
  return Status::Ok();
}

void Transcoder::ReportProgress(bool final) {
  if (!options_.on_progress) return;
  auto now = Clock::now();
  if (!final &&
      std::chrono::duration<double>(now - last_progress_).count() < options_.progress_interval)
    return;
  last_progress_ = now;
  Progress p;
  p.elapsed = SecondsSince(started_);
  // How far every output has come, in source time: the decode position, held back by each
  // rendition still encoding (a trimmed one counts from its window's start).
  double done = decoded_seconds_.load(std::memory_order_relaxed);
  int64_t frames = -1;
  for (auto& r : videos_) {
    int64_t f = r->frames.load(std::memory_order_relaxed);
    frames = frames < 0 ? f : std::min(frames, f);
    if (r->done) continue;
    done =
        std::min(done, r->settings.trim_start + r->encoded_seconds.load(std::memory_order_relaxed));
  }
  for (auto& r : audios_)
    if (!r->done) done = std::min(done, r->settings.trim_start + r->encoded_seconds);
  p.media_seconds = done;
  p.fraction = final ? 1.0 : (duration_ > 0 ? std::clamp(done / duration_, 0.0, 0.999) : 0);
  p.fps = frames > 0 && p.elapsed > 0 ? frames / p.elapsed : 0;
  p.speed = p.elapsed > 0 ? done / p.elapsed : 0;
  options_.on_progress(p);
}

// ---------------------------------------------------------------------------------------------
// Results.

Status Transcoder::CollectHls(const HlsPlanState& h, OutputResult* out) {
  hls::MediaPlaylist audio_pl;
  bool has_audio = h.audio_muxer != nullptr;
  std::string audio_uri = layout::MediaPlaylistUri(layout::kAudioRendition);
  if (has_audio) {
    Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(h.temp_dir + "/" + audio_uri);
    if (!pl.ok()) return pl.status();
    audio_pl = std::move(pl).value();
  }
  std::vector<hls::VariantEntry> entries;
  for (const HlsVariantPlan& v : h.variants) {
    std::string uri = layout::MediaPlaylistUri(v.name);
    Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(h.temp_dir + "/" + uri);
    if (!pl.ok()) return pl.status();
    AVCodecContext* enc = v.video->encoder.get();
    hls::VariantEntry e;
    e.uri = uri;
    e.width = enc->width;
    e.height = enc->height;
    e.frame_rate = av_q2d(enc->framerate);
    e.codecs = hls::H264CodecString(enc->extradata, enc->extradata_size);
    e.bandwidth = pl->PeakBitrate();
    e.average_bandwidth = pl->AverageBitrate();
    if (has_audio) {
      e.codecs += ",mp4a.40.2";
      e.bandwidth += audio_pl.PeakBitrate();
      e.average_bandwidth += audio_pl.AverageBitrate();
      e.uses_audio_group = true;
    }
    entries.push_back(e);
    VariantResult vr{v.name,
                     e.uri,
                     e.width,
                     e.height,
                     e.frame_rate,
                     e.bandwidth,
                     e.average_bandwidth,
                     e.codecs,
                     int(pl->segments.size())};
    out->variants.push_back(vr);
    out->duration = std::max(out->duration, pl->Duration());
    out->width = std::max(out->width, e.width);
    out->height = std::max(out->height, e.height);
  }
  hls::AudioEntry audio_entry{audio_uri, has_audio ? h.audio->channels : 0};
  if (has_audio && entries.empty()) {
    // Audio-only source: the audio playlist is the one variant.
    hls::VariantEntry e;
    e.uri = audio_entry.uri;
    e.bandwidth = audio_pl.PeakBitrate();
    e.average_bandwidth = audio_pl.AverageBitrate();
    e.codecs = "mp4a.40.2";
    entries.push_back(e);
    out->variants.push_back({std::string(layout::kAudioRendition), e.uri, 0, 0, 0, e.bandwidth,
                             e.average_bandwidth, e.codecs, int(audio_pl.segments.size())});
    out->duration = audio_pl.Duration();
  }
  bool audio_group = has_audio && !h.variants.empty();
  std::string master = hls::MasterPlaylist(entries, audio_group ? &audio_entry : nullptr);
  std::ofstream f(h.temp_dir + "/" + std::string(layout::kMasterPlaylist));
  f << master;
  f.close();
  if (!f) return Unavailable("cannot write master playlist in " + h.plan->directory);
  out->kind = h.plan->kind;
  out->path = h.plan->directory;
  out->notes = h.notes;
  if (h.plan->dash) {
    std::vector<dash::Representation> reps;
    for (size_t i = 0; i < h.variants.size(); ++i) {
      AVCodecContext* enc = h.variants[i].video->encoder.get();
      hls::MediaPlaylist pl =
          *hls::ReadMediaPlaylist(h.temp_dir + "/" + layout::MediaPlaylistUri(h.variants[i].name));
      dash::Representation r;
      r.id = h.variants[i].name;
      r.bandwidth = pl.PeakBitrate();
      r.width = enc->width;
      r.height = enc->height;
      r.frame_rate =
          enc->framerate.den == 1 ? std::to_string(enc->framerate.num) : Rational(enc->framerate);
      r.codecs = hls::H264CodecString(enc->extradata, enc->extradata_size);
      for (const hls::Segment& seg : pl.segments) r.segment_durations.push_back(seg.duration);
      reps.push_back(std::move(r));
    }
    if (has_audio) {
      dash::Representation r;
      r.id = layout::kAudioRendition;
      r.video = false;
      r.bandwidth = audio_pl.PeakBitrate();
      r.channels = h.audio->channels;
      r.sample_rate = h.audio->settings.sample_rate;
      r.codecs = "mp4a.40.2";
      for (const hls::Segment& seg : audio_pl.segments) r.segment_durations.push_back(seg.duration);
      reps.push_back(std::move(r));
    }
    std::ofstream mpd(h.temp_dir + "/" + std::string(layout::kDashManifest));
    mpd << dash::Manifest(reps, out->duration);
    mpd.close();
    if (!mpd) return Unavailable("cannot write the DASH manifest in " + h.plan->directory);
    out->manifest =
        (fs::path(h.plan->directory) / layout::kDashManifest).lexically_normal().string();
  }
  out->master = (fs::path(h.plan->directory) / layout::kMasterPlaylist).lexically_normal().string();
  if (has_audio) out->audio_codec = "aac";
  if (!h.variants.empty()) out->video_codec = "h264";
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(h.temp_dir, ec))
    if (entry.is_regular_file()) out->bytes += static_cast<int64_t>(entry.file_size());
  return Status::Ok();
}

Result<TranscodeResult> Transcoder::Collect() {
  TranscodeResult result;
  result.source_duration = duration_;
  for (const HlsPlanState& h : hls_) {
    OutputResult out;
    out.index = h.plan->index;
    REEL_RETURN_IF_ERROR(CollectHls(h, &out));
    result.outputs.push_back(std::move(out));
  }
  for (const FilePlanState& f : files_) {
    OutputResult out;
    out.index = f.plan->index;
    out.kind =
        f.plan->kind.empty() ? presets::ContainerName(f.plan->preset.container) : f.plan->kind;
    out.path = f.plan->path;
    out.notes = f.notes;
    if (f.video) {
      out.width = f.video->encoder->width;
      out.height = f.video->encoder->height;
      out.video_codec = presets::VideoCodecName(f.video->settings.codec);
      out.duration = f.video->encoded_seconds;
    }
    if (f.audio) {
      out.audio_codec = presets::AudioCodecName(f.audio->settings.codec);
      if (!f.video) out.duration = std::min(f.audio->encoded_seconds, duration_);
      if (f.audio->gain_db != 0)
        out.details["normalized"] = {{"target_lufs", f.audio->settings.normalize_lufs},
                                     {"measured_lufs", measured_->integrated},
                                     {"gain_db", std::round(f.audio->gain_db * 100) / 100}};
    }
    std::error_code ec;
    out.bytes = static_cast<int64_t>(fs::file_size(f.temp_path, ec));
    result.outputs.push_back(std::move(out));
  }
  for (const VideoTapState& t : video_taps_) {
    OutputResult out;
    out.index = t.index;
    out.kind = t.kind;
    out.path = t.path;
    out.details = t.tap->Describe();
    if (!t.extra.empty()) out.details["vtt"] = t.extra;
    out.width = out.details.value("width", 0);
    out.height = out.details.value("height", 0);
    if (out.details.contains("bytes")) out.bytes = out.details["bytes"];
    for (const auto& img : out.details.value("images", nlohmann::json::array()))
      out.bytes += img.value("bytes", int64_t{0});
    result.outputs.push_back(std::move(out));
  }
  for (const AudioTapState& t : audio_taps_) {
    OutputResult out;
    out.index = t.index;
    out.kind = t.kind;
    out.path = t.path;
    if (t.kind == "loudness") {
      Loudness l = t.tap ? static_cast<LoudnessMeter*>(t.tap.get())->Value() : *measured_;
      auto r1 = [](double v) { return std::round(v * 10) / 10; };
      out.details = {{"integrated_lufs", r1(l.integrated)},
                     {"range_lu", r1(l.range)},
                     {"true_peak_dbtp", r1(l.true_peak)}};
      if (!t.staged.empty()) {
        REEL_RETURN_IF_ERROR(WriteWholeFile(t.staged, out.details.dump(2) + "\n"));
        out.bytes = static_cast<int64_t>(out.details.dump(2).size() + 1);
      }
    } else {
      out.details = t.tap->Describe();
      if (!t.image.empty()) out.details["image"] = t.image;
      out.bytes = out.details.value("bytes", int64_t{0});
    }
    out.duration = duration_;
    result.outputs.push_back(std::move(out));
  }
  for (const OutputResult& u : unavailable_) result.outputs.push_back(u);
  std::stable_sort(result.outputs.begin(), result.outputs.end(),
                   [](const OutputResult& a, const OutputResult& b) { return a.index < b.index; });
  return result;
}

Result<TranscodeResult> Transcoder::Run() {
  threads_ =
      options_.threads > 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  if (Concat()) {
    REEL_RETURN_IF_ERROR(ProbeSources());
    for (double d : segment_durations_) duration_ += d;
  }
  REEL_RETURN_IF_ERROR(OpenSource(0));
  has_audio_ = audio_index_ >= 0 || concat_has_audio_;
  // Loudness normalisation needs the whole file's loudness before the first sample is encoded:
  // a first pass reads the audio alone (cheap next to video decoding).
  bool normalize = false;
  for (const HlsOutputPlan& h : plan_.hls)
    normalize |= (h.single ? h.single->audio : h.ladder.audio).normalize_lufs != 0;
  for (const FileOutputPlan& f : plan_.files) normalize |= f.preset.audio.normalize_lufs != 0;
  if (normalize && has_audio_) {
    if (Concat() && plan_.audio_input.empty())
      return InvalidArgument(
          "normalize: not available when joining several sources (normalise each source, or "
          "give the job one \"audio\" track)");
    Result<Loudness> l = MeasureLoudness(
        plan_.audio_input.empty() ? plan_.input : plan_.audio_input, options_.cancel);
    if (!l.ok()) return l.status().WithContext("loudness measurement");
    measured_ = *l;
  }
  REEL_RETURN_IF_ERROR(PlanOutputs());
  REEL_RETURN_IF_ERROR(StartThreads());

  Status decoded = ThumbnailsOnly() ? ThumbnailsBySeeking() : Decode();
  if (!decoded.ok()) run_.Fail(decoded);
  for (auto& r : videos_) r->queue->Close();
  if (analysis_queue_) analysis_queue_->Close();
  // Keep reporting while the encoders drain their queues and flush.
  auto all_finished = [this] {
    for (auto& r : videos_)
      if (!r->finished) return false;
    return true;
  };
  while (!all_finished()) {
    ReportProgress(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& r : videos_) r->thread.join();
  if (analysis_thread_.joinable()) analysis_thread_.join();
  REEL_RETURN_IF_ERROR(run_.Outcome());
  REEL_RETURN_IF_ERROR(mux_.FinishAll());
  Result<TranscodeResult> result = Collect();
  if (!result.ok()) return result;
  REEL_RETURN_IF_ERROR(run_.Outcome());  // a cancel that came during the trailers still counts
  REEL_RETURN_IF_ERROR(staging_.Commit());
  result->elapsed = SecondsSince(started_);
  ReportProgress(true);
  return result;
}

}  // namespace

Result<TranscodeResult> Transcode(const TranscodePlan& plan, const TranscodeOptions& options) {
  InitLibavLogging();
  Transcoder t(plan, options);
  return t.Run();
}

nlohmann::json ToJson(const TranscodeResult& r) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const OutputResult& o : r.outputs) {
    nlohmann::json j = {{"index", o.index}, {"kind", o.kind}, {"path", o.path}, {"bytes", o.bytes}};
    if (o.duration > 0) j["duration"] = o.duration;
    if (!o.master.empty()) j["master"] = o.master;
    if (!o.manifest.empty()) j["manifest"] = o.manifest;
    if (!o.details.is_null()) j.update(o.details);
    if (!o.notes.empty()) j["notes"] = o.notes;
    if (!o.error.empty()) j["error"] = o.error;
    if (o.width > 0) {
      j["width"] = o.width;
      j["height"] = o.height;
    }
    if (!o.video_codec.empty()) j["video_codec"] = o.video_codec;
    if (!o.audio_codec.empty()) j["audio_codec"] = o.audio_codec;
    if (!o.variants.empty()) {
      nlohmann::json vs = nlohmann::json::array();
      for (const VariantResult& v : o.variants) {
        nlohmann::json vj = {{"name", v.name},           {"playlist", v.playlist},
                             {"bandwidth", v.bandwidth}, {"average_bandwidth", v.average_bandwidth},
                             {"codecs", v.codecs},       {"segments", v.segments}};
        if (v.width > 0) {
          vj["width"] = v.width;
          vj["height"] = v.height;
          vj["frame_rate"] = v.frame_rate;
        }
        vs.push_back(std::move(vj));
      }
      j["variants"] = std::move(vs);
    }
    outputs.push_back(std::move(j));
  }
  return {{"source_duration", r.source_duration}, {"elapsed", r.elapsed}, {"outputs", outputs}};
}

}  // namespace reel::engine
