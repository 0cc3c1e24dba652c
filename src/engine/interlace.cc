// The idet pre-pass over a source's first frames (see interlace.h).
#include "engine/interlace.h"

#include <atomic>
#include <cstdlib>

#include "engine/av_util.h"
#include "engine/engine.h"
#include "engine/filter.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
}

namespace reel::engine {
namespace {

std::atomic<int64_t> pre_passes{0};

int64_t Count(const AVFrame* f, const char* key) {
  const AVDictionaryEntry* e = av_dict_get(f->metadata, key, nullptr, 0);
  return e && e->value ? static_cast<int64_t>(std::strtod(e->value, nullptr)) : 0;
}

}  // namespace

int64_t InterlacingPrePasses() { return pre_passes.load(); }

bool PlanReadsPicture(const TranscodePlan& plan) {
  return !plan.hls.empty() || !plan.files.empty() || !plan.thumbnails.empty() ||
         !plan.sprites.empty();
}

Result<FieldsSeen> DetectInterlacing(const std::string& path, int stream_index, int max_frames,
                                     int threads) {
  ++pre_passes;
  Result<InputFormatPtr> in = OpenInput(path);
  if (!in.ok()) return in.status();
  AVFormatContext* fmt = in->get();
  if (stream_index < 0 || stream_index >= int(fmt->nb_streams))
    return InvalidArgument(path + ": no video stream " + std::to_string(stream_index));
  AVStream* st = fmt->streams[stream_index];
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec) return InvalidArgument(path + ": no decoder for the video stream");
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  int err = avcodec_parameters_to_context(dec.get(), st->codecpar);
  if (err < 0) return AvStatus(err, "decoder parameters");
  dec->pkt_timebase = st->time_base;
  dec->thread_count = threads;
  err = avcodec_open2(dec.get(), codec, nullptr);
  if (err < 0) return AvStatus(err, path + ": cannot open decoder");

  FieldsSeen seen;
  FilterChain chain;  // made at the first frame, whose format the decoder only then knows
  FramePtr frame = MakeFrame(), detected = MakeFrame();
  PacketPtr pkt = MakePacket();
  auto drain = [&]() -> Status {
    while (true) {
      int e = av_buffersink_get_frame(chain.sink, detected.get());
      if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return Status::Ok();
      if (e < 0) return AvStatus(e, "idet");
      // The counts are cumulative: the last frame's are the totals.
      seen.tff = Count(detected.get(), "lavfi.idet.multiple.tff");
      seen.bff = Count(detected.get(), "lavfi.idet.multiple.bff");
      seen.progressive = Count(detected.get(), "lavfi.idet.multiple.progressive");
      seen.undetermined = Count(detected.get(), "lavfi.idet.multiple.undetermined");
      av_frame_unref(detected.get());
    }
  };
  auto take = [&](AVFrame* f) -> Status {
    if (!chain.graph) {
      // 8-bit 4:2:0 whatever the source: idet reads luma only, and this keeps every decoder's
      // output acceptable to it. The interlacing threshold is stricter than idet's default
      // (1.04): at the default, fast-moving progressive graphics (testsrc2 at 25 fps) read as 82 %
      // top-field-first; at 1.5 they read as progressive while woven fields still read as woven.
      Result<FilterChain> c = BuildChain(
          true,
          VideoSourceArgs(f->width, f->height, f->format, st->time_base, f->sample_aspect_ratio),
          "format=yuv420p,idet=intl_thres=1.5", 1);
      if (!c.ok()) return c.status();
      chain = std::move(c).value();
    }
    ++seen.frames;
    int e = av_buffersrc_add_frame(chain.source, f);
    if (e < 0) return AvStatus(e, "idet");
    return drain();
  };
  auto receive = [&]() -> Status {
    while (seen.frames < max_frames) {
      int e = avcodec_receive_frame(dec.get(), frame.get());
      if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return Status::Ok();
      if (e < 0) return AvStatus(e, path + ": decoding");
      Status s = take(frame.get());
      av_frame_unref(frame.get());
      if (!s.ok()) return s;
    }
    return Status::Ok();
  };
  while (seen.frames < max_frames && av_read_frame(fmt, pkt.get()) >= 0) {
    if (pkt->stream_index == stream_index) {
      // A damaged packet is the main run's to report; the detector reads past it.
      avcodec_send_packet(dec.get(), pkt.get());
      av_packet_unref(pkt.get());
      REEL_RETURN_IF_ERROR(receive());
    } else {
      av_packet_unref(pkt.get());
    }
  }
  if (seen.frames < max_frames) {
    avcodec_send_packet(dec.get(), nullptr);
    REEL_RETURN_IF_ERROR(receive());
  }
  if (chain.graph) {
    // idet holds a frame back: flush it.
    int e = av_buffersrc_add_frame(chain.source, nullptr);
    if (e < 0) return AvStatus(e, "idet");
    REEL_RETURN_IF_ERROR(drain());
  }
  int64_t woven = seen.tff + seen.bff;
  // Mostly woven fields, and enough of them that a few combed frames of a cut are not enough.
  if (woven > 2 * seen.progressive && woven * 4 >= seen.frames)
    seen.order = seen.tff >= seen.bff ? AV_FIELD_TT : AV_FIELD_BB;
  return seen;
}

}  // namespace reel::engine
