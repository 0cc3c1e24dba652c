#include "engine/encode.h"

#include <algorithm>
#include <cmath>

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

namespace reel::engine {
namespace {

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
    case presets::VideoCodec::kAv1:
      return "libsvtav1";
  }
  return "";
}

}  // namespace

Result<CodecContextPtr> OpenVideoEncoder(const presets::VideoSettings& v, const VideoFormat& f,
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
      // CRF 0 is lossless, which x264 encodes only in the High 4:4:4 Predictive profile.
      av_dict_set(&opts, "profile",
                  v.bitrate == 0 && v.crf == 0 ? "high444"
                  : v.profile.empty()          ? "high"
                                               : v.profile.c_str(),
                  0);
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
      // "main" at 10 bits is Main 10: x265 refuses a profile that does not hold the depth.
      bool ten = av_pix_fmt_desc_get(f.pixel_format)->comp[0].depth > 8;
      av_dict_set(&opts, "profile",
                  ten                 ? "main10"
                  : v.profile.empty() ? "main"
                                      : v.profile.c_str(),
                  0);
      std::string params = "log-level=error";
      // Kept HDR: the mastering display and light levels as SEI (built from numbers, hdr.h).
      if (std::string hdr = X265HdrParams(f.hdr); !hdr.empty()) params += ":" + hdr;
      // Fixed GOP as for H.264: IDR frames on the grid only, so an HEVC set switches cleanly.
      if (v.fixed_gop)
        params += ":scenecut=0:open-gop=0:min-keyint=" + std::to_string(gop) +
                  ":keyint=" + std::to_string(gop);
      av_dict_set(&opts, "x265-params", params.c_str(), 0);
      break;
    }
    case presets::VideoCodec::kAv1: {
      // SVT-AV1: the speed is its preset number; gop_size sets the key-frame period, and a
      // closed GOP makes each a key frame a segment can start on. It places no key frames on
      // scene changes unless told to.
      av_dict_set(&opts, "preset", v.speed.c_str(), 0);
      enc->flags |= AV_CODEC_FLAG_CLOSED_GOP;
      enc->profile = FF_PROFILE_AV1_MAIN;
      if (v.bitrate == 0 && v.crf > 0) av_dict_set(&opts, "crf", crf.c_str(), 0);
      if (std::string hdr = SvtAv1HdrParams(f.hdr); !hdr.empty())
        av_dict_set(&opts, "svtav1-params", hdr.c_str(), 0);
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
  // Kept HDR: in the container too, not only in the bitstream (hdr.h).
  if (v.codec == presets::VideoCodec::kHevc || v.codec == presets::VideoCodec::kAv1)
    REEL_RETURN_IF_ERROR(AttachHdrSideData(f.hdr, enc.get()));
  return enc;
}

Result<CodecContextPtr> OpenAudioEncoder(const presets::AudioSettings& a, int channels) {
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

// ---------------------------------------------------------------------------------------------
// Video renditions.

VideoRendition::~VideoRendition() {
  if (thread_.joinable()) thread_.join();
}

Status VideoRendition::Open(int threads, const std::string& source_args, AVRational base_rate,
                            RunState* run) {
  run_ = run;
  Result<CodecContextPtr> enc = OpenVideoEncoder(settings_, format_, threads);
  if (!enc.ok()) return enc.status();
  encoder_ = std::move(enc).value();
  if (quality_every_ > 0) {
    Result<std::unique_ptr<QualityMeter>> m = QualityMeter::Create(encoder_.get(), quality_every_);
    if (!m.ok()) return m.status();
    quality_ = std::move(m).value();
    observe_ = [this](const AVPacket* p) { return quality_->Packet(p); };
  }
  Result<FilterChain> fc = BuildChain(
      true, source_args, VideoRenditionGraph(settings_, format_, picture_, base_rate), 1);
  if (!fc.ok()) return fc.status();
  chain_ = std::move(fc).value();
  queue_ = std::make_unique<FrameQueue>(8, run);
  return Status::Ok();
}

void VideoRendition::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void VideoRendition::Join() {
  if (thread_.joinable()) thread_.join();
}

void VideoRendition::Loop() {
  Status status;
  while (FramePtr frame = queue_->Pop()) {
    status = Encode(frame.get());
    if (!status.ok()) break;
  }
  if (status.ok() && !run_->ShouldStop()) status = Encode(nullptr);
  if (!status.ok()) {
    run_->Fail(status);
    queue_->ConsumerGone();
  }
  finished_ = true;
}

Status VideoRendition::Encode(AVFrame* frame) {
  if (done_) return Status::Ok();  // its window is over; the rest of the source is not for it
  PacketPtr pkt = MakePacket();
  int err;
  if (frame) {
    end_pts_ = frame->pts + 1;  // frames arrive on the normalised 1/fps grid
    err = av_buffersrc_add_frame(chain_.source, frame);
  } else {
    err = av_buffersrc_close(chain_.source, end_pts_, 0);
  }
  if (err < 0) return AvStatus(err, "rendition filter");
  FramePtr out = MakeFrame();
  for (;;) {
    err = av_buffersink_get_frame(chain_.sink, out.get());
    if (err == AVERROR(EAGAIN)) return Status::Ok();
    if (err == AVERROR_EOF) break;
    if (err < 0) return AvStatus(err, "rendition filter");
    out->pts =
        av_rescale_q(out->pts, av_buffersink_get_time_base(chain_.sink), encoder_->time_base);
    // The encoder places keyframes on its grid, but for those a chunk forces.
    bool forced = out->pts == forced_keyframes_.first || out->pts == forced_keyframes_.second;
    out->pict_type = forced ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    if (quality_) REEL_RETURN_IF_ERROR(quality_->Reference(out.get()));
    err = avcodec_send_frame(encoder_.get(), out.get());
    double end = (out->pts + 1) * av_q2d(encoder_->time_base);
    av_frame_unref(out.get());
    if (err < 0) return AvStatus(err, std::string("encoder ") + encoder_->codec->name);
    frames_.fetch_add(1, std::memory_order_relaxed);
    encoded_seconds_.store(end, std::memory_order_relaxed);
    REEL_RETURN_IF_ERROR(SendPackets(encoder_.get(), pkt.get(), targets_, observe_));
  }
  // The filter reached EOF (end of input, or of a trimmed window): flush the encoder.
  done_ = true;
  err = avcodec_send_frame(encoder_.get(), nullptr);
  if (err < 0 && err != AVERROR_EOF) return AvStatus(err, "encoder flush");
  REEL_RETURN_IF_ERROR(SendPackets(encoder_.get(), pkt.get(), targets_, observe_));
  return quality_ ? quality_->Finish() : Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Audio renditions.

Status AudioRendition::Open(const std::string& source_args, double replaced_track_duration) {
  Result<CodecContextPtr> enc = OpenAudioEncoder(settings_, channels_);
  if (!enc.ok()) return enc.status();
  encoder_ = std::move(enc).value();
  char out_layout[64] = {0};
  av_channel_layout_describe(&encoder_->ch_layout, out_layout, sizeof(out_layout));
  Result<FilterChain> fc =
      BuildChain(false, source_args,
                 AudioRenditionGraph(settings_, replaced_track_duration, gain_db_,
                                     encoder_->sample_fmt, out_layout),
                 1);
  if (!fc.ok()) return fc.status();
  chain_ = std::move(fc).value();
  if (!(encoder_->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE))
    av_buffersink_set_frame_size(chain_.sink, encoder_->frame_size);
  return Status::Ok();
}

double AudioRendition::presented_seconds() const {
  return packets_end_ * av_q2d(encoder_->time_base);
}

Status AudioRendition::Feed(AVFrame* frame) {
  if (done_) return Status::Ok();
  // The muxer writes the last frame whole (its trun duration is the frame size, not the few
  // samples the encoder says it carries), so players present it whole.
  auto track_end = [this](const AVPacket* pkt) {
    int64_t frame = av_rescale_q(encoder_->frame_size, AVRational{1, encoder_->sample_rate},
                                 encoder_->time_base);
    if (pkt->pts != AV_NOPTS_VALUE)
      packets_end_ = std::max(packets_end_, pkt->pts + std::max(pkt->duration, frame));
    return Status::Ok();
  };
  int err = av_buffersrc_add_frame_flags(chain_.source, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
  if (err < 0) return AvStatus(err, "audio filter");
  for (;;) {
    err = av_buffersink_get_frame(chain_.sink, out_.get());
    if (err == AVERROR(EAGAIN)) return Status::Ok();
    if (err == AVERROR_EOF) {
      done_ = true;
      err = avcodec_send_frame(encoder_.get(), nullptr);
      if (err < 0 && err != AVERROR_EOF) return AvStatus(err, "audio encoder flush");
      return SendPackets(encoder_.get(), packet_.get(), targets_, track_end);
    }
    if (err < 0) return AvStatus(err, "audio filter");
    encoded_seconds_ = (out_->pts + out_->nb_samples) / double(settings_.sample_rate);
    err = avcodec_send_frame(encoder_.get(), out_.get());
    av_frame_unref(out_.get());
    if (err < 0) return AvStatus(err, "audio encoder");
    REEL_RETURN_IF_ERROR(SendPackets(encoder_.get(), packet_.get(), targets_, track_end));
  }
}

}  // namespace reel::engine
