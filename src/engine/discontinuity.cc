#include "engine/discontinuity.h"

#include <algorithm>

namespace reel::engine {

TimestampSplicer::TimestampSplicer(const AVFormatContext* fmt)
    : fmt_(fmt),
      active_(fmt && fmt->iformat && (fmt->iformat->flags & AVFMT_TS_DISCONT)),
      clocks_(fmt ? fmt->nb_streams : 0) {}

void TimestampSplicer::Splice(AVPacket* pkt) {
  if (!active_ || pkt->stream_index < 0 || pkt->stream_index >= int(clocks_.size())) return;
  AVRational tb = fmt_->streams[pkt->stream_index]->time_base;
  int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
  if (dts == AV_NOPTS_VALUE) return;
  StreamClock& clock = clocks_[pkt->stream_index];
  int64_t now = av_rescale_q(dts, tb, AV_TIME_BASE_Q) + offset_;
  if (clock.seen) {
    int64_t delta = now - clock.next;
    const int64_t jump = int64_t(kJumpSeconds * AV_TIME_BASE);
    if (delta > jump || delta < -jump || now + int64_t(kBackSeconds * AV_TIME_BASE) < clock.last) {
      offset_ -= delta;
      now -= delta;
      ++jumps_;
    }
  }
  if (offset_ != 0) {
    int64_t shift = av_rescale_q(offset_, AV_TIME_BASE_Q, tb);
    if (pkt->pts != AV_NOPTS_VALUE) pkt->pts += shift;
    if (pkt->dts != AV_NOPTS_VALUE) pkt->dts += shift;
  }
  clock.seen = true;
  clock.last = now;
  clock.next = now + (pkt->duration > 0 ? av_rescale_q(pkt->duration, tb, AV_TIME_BASE_Q) : 0);
}

double SplicedDuration(const std::string& path) {
  Result<InputFormatPtr> in = OpenInput(path);
  if (!in.ok()) return -1;
  AVFormatContext* fmt = in->get();
  TimestampSplicer splicer(fmt);
  if (!splicer.active()) return -1;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    AVMediaType type = fmt->streams[i]->codecpar->codec_type;
    if (type != AVMEDIA_TYPE_VIDEO && type != AVMEDIA_TYPE_AUDIO)
      fmt->streams[i]->discard = AVDISCARD_ALL;
  }
  PacketPtr pkt = MakePacket();
  bool any = false;
  double first = 0, end = 0;
  while (av_read_frame(fmt, pkt.get()) >= 0) {
    splicer.Splice(pkt.get());
    if (pkt->pts != AV_NOPTS_VALUE) {
      AVRational tb = fmt->streams[pkt->stream_index]->time_base;
      double start = pkt->pts * av_q2d(tb);
      double stop = (pkt->pts + std::max<int64_t>(pkt->duration, 0)) * av_q2d(tb);
      first = any ? std::min(first, start) : start;
      end = any ? std::max(end, stop) : stop;
      any = true;
    }
    av_packet_unref(pkt.get());
  }
  return any ? end - first : -1;
}

}  // namespace reel::engine
