// An audio stream kept in the format its decoder opened with. The renditions' filter graphs are
// built for that format, and libavfilter's buffer source refuses frames that change it, as an
// MPEG-TS spliced from 44.1 kHz mono and 48 kHz stereo recordings does midway. Frames of another
// format are converted back with libswresample, keeping their time.
#pragma once

#include <memory>

#include "common/status.h"
#include "engine/av_util.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libswresample/swresample.h>
}

namespace reel::engine {

class AudioReshaper {
 public:
  AudioReshaper() = default;
  ~AudioReshaper();
  // Owns channel layouts and a resampler: not copied.
  AudioReshaper(const AudioReshaper&) = delete;
  AudioReshaper& operator=(const AudioReshaper&) = delete;

  // The format to keep: the decoder's as it opened.
  void Keep(const AVCodecContext* decoder);
  // `frame` itself when in the kept format (or nullptr, or nothing kept yet), else `*reshaped`,
  // converted to it.
  Result<AVFrame*> Apply(AVFrame* frame, FramePtr* reshaped);

 private:
  struct Format {
    int rate = 0, sample_format = -1;
    AVChannelLayout layout{};
    // As the renditions' buffer sources judge it: a layout of unspecified order (a WAV's) is
    // its number of channels.
    bool Same(const AVFrame* f) const;
    void Take(int rate, int sample_format, const AVChannelLayout& layout);
  };
  struct SwrFree {
    void operator()(SwrContext* s) const { swr_free(&s); }
  };
  Format kept_, converting_from_;
  std::unique_ptr<SwrContext, SwrFree> swr_;
};

}  // namespace reel::engine
