#include "engine/clock.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <tuple>

#include "engine/demux_decode.h"

namespace reel::engine {
namespace {

// ffmpeg's -dts_delta_threshold: a leap larger than this is a new clock, not a gap in the media.
constexpr int64_t kLeap = 10 * AV_TIME_BASE;
// A step back larger than this is a new clock too (no stream's decode times go backward).
constexpr int64_t kStepBack = AV_TIME_BASE / 10;

bool Judged(const AVStream* st) {
  AVMediaType type = st->codecpar->codec_type;
  return (type == AVMEDIA_TYPE_VIDEO || type == AVMEDIA_TYPE_AUDIO) &&
         !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
}

}  // namespace

ClockMender::ClockMender(const AVFormatContext* fmt)
    : fmt_(fmt), enabled_(fmt && fmt->iformat && (fmt->iformat->flags & AVFMT_TS_DISCONT)) {}

void ClockMender::Mend(AVPacket* pkt) {
  if (!enabled_ || pkt->stream_index < 0 ||
      static_cast<unsigned>(pkt->stream_index) >= fmt_->nb_streams)
    return;
  const AVStream* st = fmt_->streams[pkt->stream_index];
  const AVRational tb = st->time_base;
  const int64_t raw_dts = pkt->dts, raw_pts = pkt->pts;
  // The offset is kept in µs and converted per stream, so every packet of a stream moves by the
  // same number of its own ticks.
  auto place = [&]() {
    int64_t shift = av_rescale_q(offset_, AV_TIME_BASE_Q, tb);
    if (raw_dts != AV_NOPTS_VALUE) pkt->dts = raw_dts + shift;
    if (raw_pts != AV_NOPTS_VALUE) pkt->pts = raw_pts + shift;
  };
  place();
  if (!Judged(st)) return;
  int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
  if (ts == AV_NOPTS_VALUE) return;
  int64_t now = av_rescale_q(ts, tb, AV_TIME_BASE_Q);
  if (streams_.size() <= static_cast<size_t>(pkt->stream_index))
    streams_.resize(pkt->stream_index + 1);
  StreamClock& clock = streams_[pkt->stream_index];
  int64_t leap = 0;
  if (clock.due != AV_NOPTS_VALUE) {
    // A new clock moves every stream at once, so the packet must be as far from the last one
    // read (of any stream) as from its own stream: one stream's gap (sound missing for 15 s of
    // a broadcast) is a gap, kept and filled, not a leap that would pull the others with it.
    int64_t off = now - clock.due;
    bool away = last_ == AV_NOPTS_VALUE || std::llabs(now - last_) > kLeap;
    bool behind = now + kStepBack < clock.last && now + kStepBack < last_;
    if ((std::llabs(off) > kLeap && away) || behind) leap = off;
  } else if (last_ != AV_NOPTS_VALUE) {
    // A stream's first packet: judged against the others'.
    int64_t off = now - last_;
    if (std::llabs(off) > kLeap) leap = off;
  }
  if (leap != 0) {
    offset_ -= leap;
    place();
    now -= leap;
    if (jumps_++ == 0) first_jump_ = now;
  }
  last_ = clock.last = now;
  clock.due = now + (pkt->duration > 0 ? av_rescale_q(pkt->duration, tb, AV_TIME_BASE_Q) : 0);
}

namespace {

// Reads every packet of `path` through a ClockMender.
Result<SourceClock> ScanClock(const AVFormatContext* declared, const std::string& path) {
  Result<InputFormatPtr> in = OpenInput(path);
  if (!in.ok()) return in.status();
  AVFormatContext* fmt = in->get();
  for (unsigned i = 0; i < fmt->nb_streams; ++i)
    if (!Judged(fmt->streams[i])) fmt->streams[i]->discard = AVDISCARD_ALL;
  ClockMender mender(fmt);
  struct Span {
    int64_t first = AV_NOPTS_VALUE, end = AV_NOPTS_VALUE;  // µs, on the mended clock
  };
  std::vector<Span> spans;
  PacketPtr pkt = MakePacket();
  while (av_read_frame(fmt, pkt.get()) >= 0) {
    mender.Mend(pkt.get());
    int index = pkt->stream_index;
    const AVStream* st = fmt->streams[index];
    if (Judged(st) && pkt->pts != AV_NOPTS_VALUE) {
      if (spans.size() <= static_cast<size_t>(index)) spans.resize(index + 1);
      int64_t start = av_rescale_q(pkt->pts, st->time_base, AV_TIME_BASE_Q);
      int64_t end = av_rescale_q(pkt->pts + std::max<int64_t>(pkt->duration, 0), st->time_base,
                                 AV_TIME_BASE_Q);
      Span& s = spans[index];
      s.first = s.first == AV_NOPTS_VALUE ? start : std::min(s.first, start);
      s.end = s.end == AV_NOPTS_VALUE ? end : std::max(s.end, end);
    }
    av_packet_unref(pkt.get());
  }
  SourceClock clock;
  clock.jumps = mender.jumps();
  if (clock.jumps == 0) {
    clock.duration = ContentDuration(declared);
    return clock;
  }
  // Measured as the engine reads it: from the file's start time to the end of its last packet.
  int64_t origin = declared->start_time;
  int64_t end = AV_NOPTS_VALUE;
  clock.stream_durations.assign(fmt->nb_streams, 0);
  for (size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].first == AV_NOPTS_VALUE) continue;
    if (origin == AV_NOPTS_VALUE) origin = spans[i].first;
    end = end == AV_NOPTS_VALUE ? spans[i].end : std::max(end, spans[i].end);
    if (i < clock.stream_durations.size())
      clock.stream_durations[i] = (spans[i].end - spans[i].first) / double(AV_TIME_BASE);
  }
  if (origin == AV_NOPTS_VALUE) origin = 0;
  clock.duration = end == AV_NOPTS_VALUE ? 0 : std::max<int64_t>(0, end - origin) / 1e6;
  clock.first_jump = std::max<int64_t>(0, mender.first_jump() - origin) / 1e6;
  return clock;
}

// What was read, per file: a job's process opens its source several times (probe, plan, run).
struct Scanned {
  std::string path;
  int64_t size = 0, mtime_ns = 0, inode = 0;
  SourceClock clock;
};
std::mutex g_scanned_mu;
std::deque<Scanned> g_scanned;  // the newest first; a few files at most
constexpr size_t kScannedKept = 8;

}  // namespace

Result<SourceClock> ReadSourceClock(const AVFormatContext* fmt, const std::string& path) {
  if (!(fmt->iformat && (fmt->iformat->flags & AVFMT_TS_DISCONT))) {
    SourceClock clock;
    clock.duration = ContentDuration(fmt);
    return clock;
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return ScanClock(fmt, path);
  auto key = std::make_tuple(path, int64_t(st.st_size),
                             int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                             int64_t(st.st_ino));
  auto same = [&](const Scanned& s) {
    return std::tie(s.path, s.size, s.mtime_ns, s.inode) == key;
  };
  {
    std::lock_guard<std::mutex> lock(g_scanned_mu);
    auto it = std::find_if(g_scanned.begin(), g_scanned.end(), same);
    if (it != g_scanned.end()) return it->clock;
  }
  Result<SourceClock> clock = ScanClock(fmt, path);
  if (!clock.ok()) return clock;
  std::lock_guard<std::mutex> lock(g_scanned_mu);
  g_scanned.push_front({path, std::get<1>(key), std::get<2>(key), std::get<3>(key), *clock});
  if (g_scanned.size() > kScannedKept) g_scanned.pop_back();
  return clock;
}

}  // namespace reel::engine
