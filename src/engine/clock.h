// Sources whose clock jumps. MPEG-TS (and MPEG-PS, Ogg, live FLV) timestamps may restart or leap
// inside one file: recordings cut and joined byte for byte (`cat a.ts b.ts`), a capture across a
// broadcast splice. libavformat hands such timestamps on as they are, so 24 s of media whose
// clock leaps an hour declares an hour, and would be encoded as an hour of one frozen picture; a
// clock that goes back reads as a wrap and declares a day. reel mends them as ffmpeg's command
// line does (fftools' ts_discontinuity_detect): a packet more than 10 s away from where its
// stream was due (and from the last packet read), or more than 0.1 s behind its stream's last
// one (and the last packet read), moves the clock of it and of every later packet so that it
// comes where it was due. Internal to the engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/av_util.h"
#include "engine/succession.h"

namespace reel::engine {

class ClockMender {
 public:
  // Mends nothing for a format whose timestamps are read as they are (AVFMT_TS_DISCONT unset).
  explicit ClockMender(const AVFormatContext* fmt);

  // Moves `pkt`, just read from the format, onto the mended clock. Only the audio and video
  // streams' packets are judged; every packet is moved.
  void Mend(AVPacket* pkt);

  // Whether the format's clock may jump, and so is mended.
  bool mends() const { return enabled_; }
  int jumps() const { return jumps_; }
  // Where the first mended jump is, on the mended clock (AV_TIME_BASE units); unset without one.
  int64_t first_jump() const { return first_jump_; }

 private:
  // Timestamps read from a file can be anything, up to INT64's limits, and a clock that leaps
  // there and back must neither wrap nor lose its way: the mender reckons in 128 bits, bounded.
  __extension__ using Wide = __int128;
  struct StreamClock {
    bool seen = false;
    Wide due = 0;   // decode time the stream's next packet is expected at (µs)
    Wide last = 0;  // decode time of its last packet (µs)
  };

  const AVFormatContext* fmt_;
  bool enabled_;
  Wide offset_ = 0;  // µs added to every timestamp read
  bool any_ = false;
  Wide last_ = 0;  // the last judged packet's decode time, any stream (µs)
  std::vector<StreamClock> streams_;
  int jumps_ = 0;
  int64_t first_jump_ = AV_NOPTS_VALUE;
};

// The clock of one source file, as the engine reads it (with ClockMender).
struct SourceClock {
  double duration = 0;      // seconds of media: ContentDuration when the clock never jumps
  int jumps = 0;            // discontinuities mended
  double first_jump = -1;   // where the first is, in seconds from the start (-1: none)
  Successions successions;  // what each stream continues (succession.h), as the scan met them
  // Without jumps or successions, empty; else each stream's length on the mended clock, by stream
  // index, a stream continued by others counting theirs (0 for a stream that is not audio or
  // video, or continues another).
  std::vector<double> stream_durations;
};

// The clock of `fmt`, opened from `path`, its streams followed as a run follows them
// (StreamSuccession). A format whose clock may jump has every packet read once, in an opening of
// its own (about half a gigabyte a second from the page cache); the answer is kept for the process,
// per file (path, size and modification time). Other formats read nothing: ContentDuration(fmt), no
// jumps.
Result<SourceClock> ReadSourceClock(const AVFormatContext* fmt, const std::string& path);

}  // namespace reel::engine
