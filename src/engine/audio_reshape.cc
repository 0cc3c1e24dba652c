#include "engine/audio_reshape.h"

namespace reel::engine {

AudioReshaper::~AudioReshaper() {
  av_channel_layout_uninit(&kept_.layout);
  av_channel_layout_uninit(&converting_from_.layout);
}

bool AudioReshaper::Format::Same(const AVFrame* f) const {
  if (f->sample_rate != rate || f->format != sample_format) return false;
  if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || layout.order == AV_CHANNEL_ORDER_UNSPEC)
    return f->ch_layout.nb_channels == layout.nb_channels;
  return av_channel_layout_compare(&f->ch_layout, &layout) == 0;
}

void AudioReshaper::Format::Take(int r, int fmt, const AVChannelLayout& l) {
  rate = r;
  sample_format = fmt;
  av_channel_layout_uninit(&layout);
  av_channel_layout_copy(&layout, &l);
}

void AudioReshaper::Keep(const AVCodecContext* decoder) {
  kept_.Take(decoder->sample_rate, decoder->sample_fmt, decoder->ch_layout);
  swr_.reset();
}

Result<AVFrame*> AudioReshaper::Apply(AVFrame* frame, FramePtr* reshaped) {
  if (!frame || kept_.rate <= 0 || kept_.Same(frame)) return frame;
  if (!swr_ || !converting_from_.Same(frame)) {
    SwrContext* swr = nullptr;
    int err = swr_alloc_set_opts2(&swr, &kept_.layout, AVSampleFormat(kept_.sample_format),
                                  kept_.rate, &frame->ch_layout, AVSampleFormat(frame->format),
                                  frame->sample_rate, 0, nullptr);
    swr_.reset(swr);
    if (err >= 0) err = swr_init(swr);
    if (err < 0) return AvStatus(err, "audio whose format changes mid-stream");
    converting_from_.Take(frame->sample_rate, frame->format, frame->ch_layout);
  }
  *reshaped = MakeFrame();
  AVFrame* out = reshaped->get();
  out->sample_rate = kept_.rate;
  out->format = kept_.sample_format;
  av_channel_layout_copy(&out->ch_layout, &kept_.layout);
  int err = swr_convert_frame(swr_.get(), out, frame);
  if (err < 0) return AvStatus(err, "audio whose format changes mid-stream");
  // On the stream's clock still: the resampler's few samples of delay are within what the
  // renditions' aresample absorbs.
  out->pts = frame->pts;
  return out;
}

}  // namespace reel::engine
