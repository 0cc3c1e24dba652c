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

namespace {

// A frame of `samples` samples in `like`'s format, starting at `pts`.
FramePtr AudioFrameLike(const AVFrame* like, int samples, int64_t pts) {
  FramePtr f = MakeFrame();
  f->format = like->format;
  f->sample_rate = like->sample_rate;
  f->nb_samples = samples;
  f->pts = pts;
  if (av_channel_layout_copy(&f->ch_layout, &like->ch_layout) < 0 ||
      av_frame_get_buffer(f.get(), 0) < 0)
    return nullptr;
  return f;
}

}  // namespace

// Where two recordings meet in a file whose clock may jump (clock.h: MPEG-TS/PS, Ogg), the sound
// of the next can overlap the last one's (its encoder priming against the other's padding, or a
// step back too small to be a jump) or leave a hole, by tens of milliseconds; the renditions'
// aresample mends only holes of 0.1 s or more. So in such a file the last quarter second of
// sound is held back: an overlap of more than a frame is cut from the end of what is held (the
// next recording's own timestamps place its sound against its picture, as its pictures win
// their slots), and a hole of more than a frame and up to a second is filled with silence, to
// the sample. Other frames pass unchanged, a quarter second later.
Status Source::HoldAudio(AVFrame* frame) {
  FramePtr next = MakeFrame();
  if (av_frame_ref(next.get(), frame) < 0)
    return Status(StatusCode::kInternal, "audio: cannot reference a frame");
  // Times in the stream's time base; each frame counts its samples at its own rate (a joined
  // recording may change it).
  const AVRational tb = AudioStream()->time_base;
  auto ticks = [&](int64_t samples, const AVFrame* f) {
    return av_rescale_q(samples, {1, f->sample_rate}, tb);
  };
  auto samples = [&](int64_t t, const AVFrame* f) {
    return av_rescale_q(t, tb, {1, f->sample_rate});
  };
  // Less than a frame apart is the clock's noise, not a join: the TS demuxer stamps the frames
  // inside one PES packet by the length its stream declared, which a joined recording with
  // another sample rate no longer has, and the next stamped packet steps back by the sum.
  const int64_t noise =
      std::max(av_rescale_q(20, {1, 1000}, tb), ticks(next->nb_samples, next.get()));
  if (!held_audio_.empty()) {
    const AVFrame* back = held_audio_.back().get();
    const int64_t held_end = back->pts + ticks(back->nb_samples, back);
    const int64_t off = next->pts - held_end;
    if (off < -noise) {
      int64_t overlap = -off;
      while (overlap > 0 && !held_audio_.empty()) {
        AVFrame* last = held_audio_.back().get();
        int64_t cut = std::min<int64_t>(samples(overlap, last), last->nb_samples);
        overlap = cut == last->nb_samples ? overlap - ticks(last->nb_samples, last) : 0;
        last->nb_samples -= static_cast<int>(cut);  // its buffer stays; fewer samples are heard
        if (last->nb_samples == 0) held_audio_.pop_back();
      }
      // More than is held: the rest from the next frame's start.
      int64_t rest = overlap > 0 ? samples(overlap, next.get()) : 0;
      if (rest >= next->nb_samples) return Status::Ok();
      if (rest > 0) {
        int keep = next->nb_samples - static_cast<int>(rest);
        FramePtr tail = AudioFrameLike(next.get(), keep, next->pts + ticks(rest, next.get()));
        if (!tail) return Status(StatusCode::kInternal, "audio: cannot allocate a frame");
        av_samples_copy(tail->extended_data, next->extended_data, 0, static_cast<int>(rest), keep,
                        next->ch_layout.nb_channels, static_cast<AVSampleFormat>(next->format));
        next = std::move(tail);
      }
    } else if (off > noise && samples(off, next.get()) <= next->sample_rate) {  // a hole
      FramePtr silence =
          AudioFrameLike(next.get(), static_cast<int>(samples(off, next.get())), held_end);
      if (!silence) return Status(StatusCode::kInternal, "audio: cannot allocate a frame");
      av_samples_set_silence(silence->extended_data, 0, silence->nb_samples,
                             next->ch_layout.nb_channels,
                             static_cast<AVSampleFormat>(next->format));
      held_audio_.push_back(std::move(silence));
    }
  }
  held_audio_.push_back(std::move(next));
  // A quarter second held back covers the overlaps met at joins (up to about 0.1 s).
  const int64_t window = av_rescale_q(1, {1, 4}, tb);
  while (held_audio_.size() > 1) {
    const AVFrame* second = held_audio_[1].get();
    const AVFrame* back = held_audio_.back().get();
    if (back->pts + ticks(back->nb_samples, back) - second->pts < window) break;
    FramePtr first = std::move(held_audio_.front());
    held_audio_.pop_front();
    REEL_RETURN_IF_ERROR(PassOnAudio(first.get()));
  }
  return Status::Ok();
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
    if (clock_->mends() && !Joined() && !audio_input_ && frame->pts != AV_NOPTS_VALUE)
      return HoldAudio(frame);
  } else {
    while (!held_audio_.empty()) {
      FramePtr first = std::move(held_audio_.front());
      held_audio_.pop_front();
      REEL_RETURN_IF_ERROR(PassOnAudio(first.get()));
    }
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

// The source's audio streams, each counted among the audio streams only: the index in input_ of
// audio stream `stream`, or -1.
static int AudioStreamIndex(const AVFormatContext* fmt, int stream) {
  for (unsigned i = 0; i < fmt->nb_streams; ++i)
    if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO && stream-- == 0)
      return static_cast<int>(i);
  return -1;
}

int Source::audio_stream_count() const {
  int n = 0;
  while (AudioStreamIndex(input_.get(), n) >= 0) ++n;
  return n;
}

int Source::default_audio_stream() const {
  for (int n = 0, index; (index = AudioStreamIndex(input_.get(), n)) >= 0; ++n)
    if (input_->streams[index]->disposition & AV_DISPOSITION_DEFAULT) return n;
  return 0;
}

Result<int> Source::KeepAudioStream(int stream) {
  int index = AudioStreamIndex(input_.get(), stream);
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

// A frame of a further track (nullptr: its end): on the output timeline, straight to the sink.
Status Source::HandleExtraAudio(int track, AVFrame* frame) {
  if (frame) {
    frame->pts = frame->best_effort_timestamp;
    if (frame->pts != AV_NOPTS_VALUE) frame->pts -= extra_audio_[track - 1].start_pts;
  }
  FramePtr reshaped;
  Result<AVFrame*> kept = extra_audio_[track - 1].reshape->Apply(frame, &reshaped);
  if (!kept.ok()) return kept.status();
  return sink_->Audio(track, *kept);
}

}  // namespace reel::engine
