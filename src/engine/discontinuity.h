// Timestamp discontinuities of broadcast containers (MPEG-TS, MPEG-PS): a recording spliced from
// several, or an encoder restarted, makes the clock jump back or far ahead in the middle of the
// file. libavformat takes a jump back for a 33-bit wrap and unwraps it, so the file seems to last
// a day; read as it is, the frame grid would then hold one picture for that day. As ffmpeg's CLI
// does (its -dts_delta_threshold), a jump of a stream's decode time is taken out: the timeline
// goes on where it was. Internal to the engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/av_util.h"

namespace reel::engine {

class TimestampSplicer {
 public:
  // Active only for formats that declare discontinuities (AVFMT_TS_DISCONT).
  explicit TimestampSplicer(const AVFormatContext* fmt);

  // Moves `pkt`'s timestamps by the offset taken so far; a jump of its stream's decode time of
  // more than kJumpSeconds either way, or backwards by more than kBackSeconds, adds to it.
  void Splice(AVPacket* pkt);
  int jumps() const { return jumps_; }
  bool active() const { return active_; }

  static constexpr double kJumpSeconds = 10;
  static constexpr double kBackSeconds = 0.1;

 private:
  struct StreamClock {
    bool seen = false;
    int64_t last = 0;  // decode time of the stream's last packet, AV_TIME_BASE units
    int64_t next = 0;  // where its next packet is due
  };
  const AVFormatContext* fmt_;
  bool active_ = false;
  int64_t offset_ = 0;  // AV_TIME_BASE units, added to every packet
  int jumps_ = 0;
  std::vector<StreamClock> clocks_;
};

// How long the media of `path` lasts once its discontinuities are taken out (seconds), read
// from every packet's timestamps without decoding; < 0 when the format has none or the file
// cannot be read. A container's own figure spans the jumps.
double SplicedDuration(const std::string& path);

}  // namespace reel::engine
