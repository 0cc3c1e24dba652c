#include "engine/clock.h"

#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <tuple>

#include "common/crypto.h"
#include "engine/demux_decode.h"

namespace reel::engine {
namespace {

// ffmpeg's -dts_delta_threshold: a leap larger than this is a new clock, not a gap in the media.
constexpr int64_t kLeap = 10 * AV_TIME_BASE;
// A step back larger than this is a new clock too (no stream's decode times go backward).
constexpr int64_t kStepBack = AV_TIME_BASE / 10;

__extension__ using Wide = __int128;

// Times are held inside these bounds, so that no product below leaves 128 bits: a tick count
// times a time base's numerator in µs (< 2^51) stays under 2^126, as does a µs count times a
// denominator (< 2^31). Real media is nowhere near either (2^75 ticks; 2^95 µs).
constexpr Wide kFarTicks = Wide(1) << 75;
constexpr Wide kFarMicros = Wide(1) << 95;

Wide Bound(Wide v, Wide far) { return v < -far ? -far : v > far ? far : v; }
Wide Abs(Wide v) { return v < 0 ? -v : v; }

// a * mul / div, rounded to the nearest (halves away from zero), as av_rescale_q does.
Wide Scale(Wide a, int64_t mul, int64_t div) {
  Wide n = a * mul;
  return n >= 0 ? (n + div / 2) / div : -((-n + div / 2) / div);
}
Wide Micros(Wide ticks, AVRational tb) {
  return Bound(Scale(Bound(ticks, kFarTicks), int64_t(tb.num) * AV_TIME_BASE, tb.den), kFarMicros);
}
Wide Ticks(Wide micros, AVRational tb) {
  return Bound(Scale(Bound(micros, kFarMicros), tb.den, int64_t(tb.num) * AV_TIME_BASE), kFarTicks);
}

// A timestamp moved by `shift` ticks; none when it would leave int64.
int64_t Place(int64_t raw, Wide shift) {
  if (raw == AV_NOPTS_VALUE) return raw;
  Wide placed = Wide(raw) + shift;
  return placed > INT64_MIN && placed <= INT64_MAX ? int64_t(placed) : AV_NOPTS_VALUE;
}

int64_t ToInt64(Wide v) { return int64_t(Bound(v, INT64_MAX)); }

}  // namespace

ClockMender::ClockMender(const AVFormatContext* fmt)
    : fmt_(fmt), enabled_(fmt && fmt->iformat && (fmt->iformat->flags & AVFMT_TS_DISCONT)) {}

void ClockMender::Mend(AVPacket* pkt) {
  if (!enabled_ || pkt->stream_index < 0 ||
      static_cast<unsigned>(pkt->stream_index) >= fmt_->nb_streams)
    return;
  const AVStream* st = fmt_->streams[pkt->stream_index];
  const AVRational tb = st->time_base;
  if (tb.num <= 0 || tb.den <= 0) return;
  int64_t raw = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
  // The offset is kept in µs and converted per stream, so every packet of a stream moves by the
  // same number of its own ticks.
  if (PictureOrSound(st) && raw != AV_NOPTS_VALUE) {
    Wide now = Micros(Wide(raw) + Ticks(offset_, tb), tb);
    if (streams_.size() <= static_cast<size_t>(pkt->stream_index))
      streams_.resize(pkt->stream_index + 1);
    StreamClock& clock = streams_[pkt->stream_index];
    Wide leap = 0;
    if (clock.seen) {
      // A new clock moves every stream at once, so the packet must be as far from the last one
      // read (of any stream) as from its own stream: one stream's gap (sound missing for 15 s
      // of a broadcast) is a gap, kept and filled, not a leap that would pull the others along.
      Wide off = now - clock.due;
      bool away = Abs(now - last_) > kLeap;
      bool behind = now + kStepBack < clock.last && now + kStepBack < last_;
      if ((Abs(off) > kLeap && away) || behind) leap = off;
    } else if (any_) {
      // A stream's first packet: judged against the others'.
      Wide off = now - last_;
      if (Abs(off) > kLeap) leap = off;
    } else if (fmt_->start_time == AV_NOPTS_VALUE && Abs(now) > kLeap) {
      // The file's first, where libavformat could not say where the file starts (a first
      // timestamp too far to count in µs, from a damaged Ogg page): the engine then counts
      // from 0, and so does the mended clock.
      leap = now;
    }
    if (leap != 0) {
      offset_ = Bound(offset_ - leap, kFarMicros);
      now -= leap;
      if (jumps_ == 0) first_jump_ = ToInt64(now);
      if (jumps_ < INT_MAX) ++jumps_;
    }
    any_ = clock.seen = true;
    last_ = clock.last = now;
    clock.due = Bound(now + Micros(std::max<int64_t>(pkt->duration, 0), tb), kFarMicros);
  }
  Wide shift = Ticks(offset_, tb);
  pkt->dts = Place(pkt->dts, shift);
  pkt->pts = Place(pkt->pts, shift);
}

namespace {

// Where each stream's packets lie on the mended clock (µs).
struct Span {
  bool seen = false;
  Wide first = 0, end = 0;
};

// Reads every packet of `fmt` with `read` through a ClockMender, into `spans` by stream index.
template <typename Read>
void ReadSpans(AVFormatContext* fmt, Read read, ClockMender* mender, std::vector<Span>* spans) {
  PacketPtr pkt = MakePacket();
  while (read(pkt.get()) >= 0) {
    mender->Mend(pkt.get());
    int index = pkt->stream_index;
    const AVStream* st = fmt->streams[index];
    AVRational tb = st->time_base;
    if (PictureOrSound(st) && pkt->pts != AV_NOPTS_VALUE && tb.num > 0 && tb.den > 0) {
      if (spans->size() <= static_cast<size_t>(index)) spans->resize(index + 1);
      Wide start = Micros(pkt->pts, tb);
      Wide end = Micros(Wide(pkt->pts) + std::max<int64_t>(pkt->duration, 0), tb);
      Span& s = (*spans)[index];
      s.first = s.seen ? std::min(s.first, start) : start;
      s.end = s.seen ? std::max(s.end, end) : end;
      s.seen = true;
    }
    av_packet_unref(pkt.get());
  }
}

Result<InputFormatPtr> OpenJudged(const std::string& path) {
  Result<InputFormatPtr> in = OpenInput(path);
  if (!in.ok()) return in.status();
  AVFormatContext* fmt = in->get();
  for (unsigned i = 0; i < fmt->nb_streams; ++i)
    if (!PictureOrSound(fmt->streams[i])) fmt->streams[i]->discard = AVDISCARD_ALL;
  return in;
}

// Reads every packet of `path` through a ClockMender, its streams followed (succession.h). When
// some stream continues another, a second read follows the decisions of the first, remainders in
// their places, as a run reads.
Result<SourceClock> ScanClock(const AVFormatContext* declared, const std::string& path) {
  Result<InputFormatPtr> in = OpenJudged(path);
  if (!in.ok()) return in.status();
  AVFormatContext* fmt = in->get();
  std::vector<Span> spans;
  std::optional<ClockMender> mender(fmt);
  Successions successions;
  {
    SuccessionFinder finder(fmt);
    auto read = [&](AVPacket* pkt) {
      int err = av_read_frame(fmt, pkt);
      if (err >= 0) finder.Watch(pkt);
      return err;
    };
    ReadSpans(fmt, read, &*mender, &spans);
    successions = finder.Decide();
  }
  if (successions.count() > 0) {
    in = OpenJudged(path);
    if (!in.ok()) return in.status();
    fmt = in->get();
    spans.clear();
    mender.emplace(fmt);
    StreamFollower follower(fmt, successions);
    ReadSpans(
        fmt, [&](AVPacket* pkt) { return follower.Read(pkt); }, &*mender, &spans);
  }
  SourceClock clock;
  clock.jumps = mender->jumps();
  clock.successions = std::move(successions);
  if (clock.jumps == 0 && clock.successions.count() == 0) {
    clock.duration = ContentDuration(declared);
    return clock;
  }
  // Measured as the engine reads it: from the file's start time to the end of its last packet.
  // Without a start time, from the first packet of any stream (the run starts at its first
  // frames).
  bool has_origin = declared->start_time != AV_NOPTS_VALUE, has_end = false;
  Wide origin = has_origin ? declared->start_time : kFarMicros, end = 0;
  if (!has_origin)
    for (const Span& s : spans)
      if (s.seen) origin = std::min(origin, s.first);
  if (origin == kFarMicros) origin = 0;
  clock.stream_durations.assign(fmt->nb_streams, 0);
  for (size_t i = 0; i < spans.size(); ++i) {
    if (!spans[i].seen) continue;
    end = has_end ? std::max(end, spans[i].end) : spans[i].end;
    has_end = true;
    if (i < clock.stream_durations.size())
      clock.stream_durations[i] = double(spans[i].end - spans[i].first) / AV_TIME_BASE;
  }
  clock.duration = has_end ? double(std::max<Wide>(0, end - origin)) / AV_TIME_BASE : 0;
  if (clock.jumps > 0)
    clock.first_jump = double(std::max<Wide>(0, mender->first_jump() - origin)) / AV_TIME_BASE;
  return clock;
}

// What was read, per file: a job's process opens its source several times (probe, plan, run).
struct Scanned {
  std::string path;
  int64_t size = 0, mtime_ns = 0, inode = 0;
  std::optional<SourceClock> clock;  // none: vouched for as steady (VouchSteadyClock)
};
std::mutex g_scanned_mu;
std::deque<Scanned> g_scanned;  // the newest first; a few files at most
constexpr size_t kScannedKept = 8;

using ScanKey = std::tuple<std::string, int64_t, int64_t, int64_t>;  // path, size, mtime, inode

std::optional<ScanKey> KeyOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return ScanKey(path, int64_t(st.st_size),
                 int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, int64_t(st.st_ino));
}

void Remember(const ScanKey& key, std::optional<SourceClock> clock) {
  std::lock_guard<std::mutex> lock(g_scanned_mu);
  std::erase_if(g_scanned, [&](const Scanned& s) { return s.path == std::get<0>(key); });
  g_scanned.push_front(
      {std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key), std::move(clock)});
  if (g_scanned.size() > kScannedKept) g_scanned.pop_back();
}

}  // namespace

Result<SourceClock> ReadSourceClock(const AVFormatContext* fmt, const std::string& path) {
  SourceClock steady;
  steady.duration = ContentDuration(fmt);
  if (!(fmt->iformat && (fmt->iformat->flags & AVFMT_TS_DISCONT))) return steady;
  std::optional<ScanKey> key = KeyOf(path);
  if (!key) return ScanClock(fmt, path);
  {
    std::lock_guard<std::mutex> lock(g_scanned_mu);
    auto it = std::find_if(g_scanned.begin(), g_scanned.end(), [&](const Scanned& s) {
      return std::tie(s.path, s.size, s.mtime_ns, s.inode) == *key;
    });
    if (it != g_scanned.end()) return it->clock ? *it->clock : steady;
  }
  Result<SourceClock> clock = ScanClock(fmt, path);
  if (clock.ok()) Remember(*key, *clock);
  return clock;
}

std::string FileFingerprint(const std::string& path) {
  constexpr int64_t kEnd = 64 * 1024;
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  auto size = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (!in || ec) return "";
  std::string ends(static_cast<size_t>(std::min(size, 2 * kEnd)), '\0');
  int64_t head = std::min(size, kEnd);
  in.read(ends.data(), head);
  in.seekg(std::max(head, size - kEnd));
  in.read(ends.data() + head, static_cast<std::streamsize>(ends.size()) - head);
  if (!in) return "";
  return std::to_string(size) + ":" + Sha256Hex(ends);
}

void VouchSteadyClock(const std::string& path, const std::string& fingerprint) {
  std::optional<ScanKey> key = KeyOf(path);
  if (!key || fingerprint.empty() || FileFingerprint(path) != fingerprint) return;  // not it
  {
    std::lock_guard<std::mutex> lock(g_scanned_mu);
    for (const Scanned& s : g_scanned)  // read through already: that answer stands
      if (std::tie(s.path, s.size, s.mtime_ns, s.inode) == *key) return;
  }
  Remember(*key, std::nullopt);
}

}  // namespace reel::engine
