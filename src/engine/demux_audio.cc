// The audio side of the Source (demux_decode.h): the decoded audio's format, and each decoded
// audio frame on its way to the renditions (and to the drawn picture of an audio-only source).
// Kept apart from demux_decode.cc, which opens the sources and runs the decoding loop.
#include <algorithm>
#include <cmath>

#include "engine/demux_decode.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
}

namespace reel::engine {

std::string Source::AudioArgs() const {
  if (Joined() && !audio_input_) return kJoinedAudioArgs;
  AVRational tb = AudioStream()->time_base;
  return AudioSourceArgs(audio_dec_.get(), tb.num, tb.den);
}

// Feeds the drawn picture an audio frame (nullptr: the end of the audio) and hands on the
// pictures that come out.
Status Source::DrawFrom(AVFrame* audio) {
  int err;
  if (audio) {
    err = av_buffersrc_add_frame_flags(normalise_.source, audio, AV_BUFFERSRC_FLAG_KEEP_REF);
  } else {
    if (!normalise_open_) return Status::Ok();
    normalise_open_ = false;
    err = av_buffersrc_close(normalise_.source, audio_end_pts_, 0);
  }
  if (err < 0) return AvStatus(err, "drawn picture");
  return PullNormalised();
}

// Decoded audio of the current source (nullptr: its end) on its way to the renditions.
Status Source::HandleAudioFrame(AVFrame* frame) {
  if (frame) {
    frame->pts = frame->best_effort_timestamp;
    AVRational tb = AudioStream()->time_base;
    if (frame->pts != AV_NOPTS_VALUE) {
      frame->pts += -start_pts_audio_ +
                    av_rescale_q(std::llround((audio_input_ ? 0 : segment_offset_) * AV_TIME_BASE),
                                 AV_TIME_BASE_Q, tb);
      audio_end_pts_ =
          std::max(audio_end_pts_,
                   frame->pts + av_rescale_q(frame->nb_samples, {1, frame->sample_rate}, tb));
    }
    ++audio_frames_decoded_;
  }
  if (drawn_) REEL_RETURN_IF_ERROR(DrawFrom(frame));
  if (!Joined() || audio_input_) return sink_->Audio(frame);
  // Several sources: through this source's conversion to the common format. Its end is not the
  // end of the audio: the next source continues it.
  int err = av_buffersrc_add_frame_flags(audio_convert_.source, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
  if (err < 0) return AvStatus(err, "audio conversion");
  FramePtr out = MakeFrame();
  for (;;) {
    err = av_buffersink_get_frame(audio_convert_.sink, out.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) return AvStatus(err, "audio conversion");
    REEL_RETURN_IF_ERROR(sink_->Audio(out.get()));
    av_frame_unref(out.get());
  }
}

}  // namespace reel::engine
