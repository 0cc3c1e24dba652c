// Sound where two recordings meet, in a file whose clock may jump (clock.h: MPEG-TS/PS, Ogg).
// The next recording's sound can overlap the last one's (its encoder priming against the
// other's padding, or a step back too small to be a jump) or leave a hole, by tens of
// milliseconds, and the renditions' aresample mends only holes of 0.1 s or more. So each audio
// stream of such a file has its last quarter second held back: an overlap of more than a frame
// is cut from the end of what is held (the next recording's own timestamps place its sound
// against its picture, as its pictures win their slots), and a hole of more than a frame and up
// to a second is filled with silence, to the sample. Other frames pass unchanged, a quarter
// second later. Internal to the engine.
#pragma once

#include <deque>
#include <functional>

#include "common/status.h"
#include "engine/av_util.h"

namespace reel::engine {

class SoundJoins {
 public:
  using Pass = std::function<Status(AVFrame*)>;

  // Takes `frame`, decoded and timed in `tb` (its stream's time base); hands `pass`, in order,
  // the frames now a quarter second behind it.
  Status Hold(AVFrame* frame, AVRational tb, const Pass& pass);
  // The stream's end: every frame still held, to `pass`.
  Status Release(const Pass& pass);

 private:
  std::deque<FramePtr> held_;
};

}  // namespace reel::engine
