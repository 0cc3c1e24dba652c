#include "engine/sound_joins.h"

#include <algorithm>

namespace reel::engine {

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

Status SoundJoins::Hold(AVFrame* frame, AVRational tb, const Pass& pass) {
  FramePtr next = MakeFrame();
  if (av_frame_ref(next.get(), frame) < 0)
    return Status(StatusCode::kInternal, "audio: cannot reference a frame");
  // Times in the stream's time base; each frame counts its samples at its own rate (a joined
  // recording may change it).
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
  if (!held_.empty()) {
    const AVFrame* back = held_.back().get();
    const int64_t held_end = back->pts + ticks(back->nb_samples, back);
    const int64_t off = next->pts - held_end;
    if (off < -noise) {
      int64_t overlap = -off;
      while (overlap > 0 && !held_.empty()) {
        AVFrame* last = held_.back().get();
        int64_t cut = std::min<int64_t>(samples(overlap, last), last->nb_samples);
        overlap = cut == last->nb_samples ? overlap - ticks(last->nb_samples, last) : 0;
        last->nb_samples -= static_cast<int>(cut);  // its buffer stays; fewer samples are heard
        if (last->nb_samples == 0) held_.pop_back();
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
      held_.push_back(std::move(silence));
    }
  }
  held_.push_back(std::move(next));
  // A quarter second held back covers the overlaps met at joins (up to about 0.1 s).
  const int64_t window = av_rescale_q(1, {1, 4}, tb);
  while (held_.size() > 1) {
    const AVFrame* second = held_[1].get();
    const AVFrame* back = held_.back().get();
    if (back->pts + ticks(back->nb_samples, back) - second->pts < window) break;
    FramePtr first = std::move(held_.front());
    held_.pop_front();
    REEL_RETURN_IF_ERROR(pass(first.get()));
  }
  return Status::Ok();
}

Status SoundJoins::Release(const Pass& pass) {
  while (!held_.empty()) {
    FramePtr first = std::move(held_.front());
    held_.pop_front();
    REEL_RETURN_IF_ERROR(pass(first.get()));
  }
  return Status::Ok();
}

}  // namespace reel::engine
