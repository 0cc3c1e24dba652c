// The audio side of the Source (demux_decode.h): the decoded audio's format, and each decoded
// audio frame on its way to the renditions (and to the drawn picture of an audio-only source).
// Kept apart from demux_decode.cc, which opens the sources and runs the decoding loop.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "engine/demux_decode.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
}

namespace reel::engine {

std::string Source::AudioArgs(int track) const {
  if (track > 0) {
    const ExtraAudio& x = extra_audio_[track - 1];
    AVRational tb = input_->streams[x.index]->time_base;
    return AudioSourceArgs(x.dec.get(), tb.num, tb.den);
  }
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
    if (frame->pts != AV_NOPTS_VALUE)
      frame->pts += -start_pts_audio_ +
                    av_rescale_q(std::llround((audio_input_ ? 0 : segment_offset_) * AV_TIME_BASE),
                                 AV_TIME_BASE_Q, tb);
    else  // a packet libavformat could not time (succession.h): it follows the last frame
      frame->pts = audio_next_pts_;
    if (frame->pts != AV_NOPTS_VALUE) {
      audio_next_pts_ = frame->pts + av_rescale_q(frame->nb_samples, {1, frame->sample_rate}, tb);
      audio_end_pts_ = std::max(audio_end_pts_, audio_next_pts_);
    }
    ++audio_frames_decoded_;
  }
  if (clock_->mends() && !Joined() && !audio_input_) {
    auto pass = [this](AVFrame* f) { return PassOnAudio(f); };
    if (!frame) REEL_RETURN_IF_ERROR(audio_joins_.Release(pass));
    if (frame && frame->pts != AV_NOPTS_VALUE)
      return audio_joins_.Hold(frame, AudioStream()->time_base, pass);
  }
  return PassOnAudio(frame);
}

Status Source::PassOnAudio(AVFrame* frame) {
  // Everything after is built for the format the decoder opened with.
  FramePtr reshaped;
  Result<AVFrame*> kept = reshape_audio_.Apply(frame, &reshaped);
  if (!kept.ok()) return kept.status();
  if (drawn_) REEL_RETURN_IF_ERROR(DrawFrom(*kept));
  if (!Joined() || audio_input_) return sink_->Audio(0, *kept);
  // Several sources: through this source's conversion to the common format. Its end is not the
  // end of the audio: the next source continues it.
  int err = av_buffersrc_add_frame_flags(audio_convert_.source, *kept, AV_BUFFERSRC_FLAG_KEEP_REF);
  if (err < 0) return AvStatus(err, "audio conversion");
  FramePtr out = MakeFrame();
  for (;;) {
    err = av_buffersink_get_frame(audio_convert_.sink, out.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) return AvStatus(err, "audio conversion");
    REEL_RETURN_IF_ERROR(sink_->Audio(0, out.get()));
    av_frame_unref(out.get());
  }
}

// The source's audio streams, each counted among the audio streams only, a stream that
// continues another (succession.h) not counted again, nor one that took another's place in
// another codec (the run fails when it comes): the index in input_ of audio stream `stream`, or
// -1.
int Source::AudioStreamIndex(int stream) const {
  const AVFormatContext* fmt = input_.get();
  for (unsigned i = 0; i < fmt->nb_streams; ++i)
    if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO &&
        successions_.Head(int(i)) == int(i) && successions_.Displaced(int(i)) < 0 && stream-- == 0)
      return static_cast<int>(i);
  return -1;
}

// A packet of a stream that took the picture's or the sound's place in the source's program but
// cannot continue it (succession.h): the rest of the picture or sound would be lost unsaid.
Status Source::CheckFollowed(int index) const {
  for (int followed : {skip_video_ ? -1 : video_index_, audio_input_ ? -1 : audio_index_}) {
    if (followed < 0 || followed == index || successions_.Unfollowed(followed) != index) continue;
    const AVFormatContext* fmt = input_.get();
    return InvalidArgument(SourcePath(segment_) + ": " + DescribeStream(fmt, index) +
                           " takes the place of " + DescribeStream(fmt, followed) +
                           " in its program, in another codec; reel follows a program's new "
                           "streams only in the codec they began with");
  }
  return Status::Ok();
}

int Source::audio_stream_count() const {
  int n = 0;
  while (AudioStreamIndex(n) >= 0) ++n;
  return n;
}

int Source::default_audio_stream() const {
  for (int n = 0, index; (index = AudioStreamIndex(n)) >= 0; ++n)
    if (input_->streams[index]->disposition & AV_DISPOSITION_DEFAULT) return n;
  return 0;
}

Result<int> Source::KeepAudioStream(int stream) {
  int index = AudioStreamIndex(stream);
  if (index < 0) {
    int count = audio_stream_count();
    return InvalidArgument("the source has " + std::to_string(count) + " audio stream" +
                           (count == 1 ? "" : "s") + " (counted from 0), no stream " +
                           std::to_string(stream));
  }
  if (index == audio_index_) return 0;
  if (int track = ExtraTrackOf(index); track > 0) return track;
  ExtraAudio x;
  x.index = index;
  REEL_RETURN_IF_ERROR(OpenDecoder(input_.get(), index, &x.dec));
  if (x.dec->sample_rate <= 0 || x.dec->ch_layout.nb_channels <= 0)
    return InvalidArgument("audio stream " + std::to_string(stream) +
                           ": its format is not known, as it starts later than what is read to "
                           "learn the streams (the first 60 s or 20 MB of the file)");
  x.reshape->Keep(x.dec.get());
  AVStream* st = input_->streams[index];
  // On the main audio's timeline: the streams of one file share its clock.
  x.start_pts = av_rescale_q(start_us_, AV_TIME_BASE_Q, st->time_base);
  x.channels = std::clamp(st->codecpar->ch_layout.nb_channels, 1, 2);
  extra_audio_.push_back(std::move(x));
  return static_cast<int>(extra_audio_.size());
}

int Source::ExtraTrackOf(int index) const {
  for (size_t i = 0; i < extra_audio_.size(); ++i)
    if (extra_audio_[i].index == index) return static_cast<int>(i) + 1;
  return -1;
}

// A frame of a further track (nullptr: its end): on the output timeline, to the sink, its joins
// mended as the main track's are.
Status Source::HandleExtraAudio(int track, AVFrame* frame) {
  ExtraAudio& x = extra_audio_[track - 1];
  auto pass = [&](AVFrame* f) -> Status {
    FramePtr reshaped;
    Result<AVFrame*> kept = x.reshape->Apply(f, &reshaped);
    if (!kept.ok()) return kept.status();
    return sink_->Audio(track, *kept);
  };
  if (frame) {
    frame->pts = frame->best_effort_timestamp;
    AVRational tb = input_->streams[x.index]->time_base;
    if (frame->pts != AV_NOPTS_VALUE)
      frame->pts -= x.start_pts;
    else
      frame->pts = x.end_pts;  // untimed: it continues the last frame
    if (frame->pts != AV_NOPTS_VALUE)
      x.end_pts = frame->pts + av_rescale_q(frame->nb_samples, {1, frame->sample_rate}, tb);
  }
  if (clock_->mends()) {
    if (!frame) REEL_RETURN_IF_ERROR(x.joins.Release(pass));
    if (frame && frame->pts != AV_NOPTS_VALUE)
      return x.joins.Hold(frame, input_->streams[x.index]->time_base, pass);
  }
  return pass(frame);
}

}  // namespace reel::engine
