#include "engine/images.h"

#include <cstring>

#include "engine/av_util.h"

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

namespace reel::engine {
namespace {

struct SwsDeleter {
  void operator()(SwsContext* c) const { sws_freeContext(c); }
};

// Converts `src` into a new frame of the given size and format.
Result<FramePtr> Convert(const AVFrame* src, int w, int h, AVPixelFormat fmt) {
  std::unique_ptr<SwsContext, SwsDeleter> sws(
      sws_getContext(src->width, src->height, static_cast<AVPixelFormat>(src->format), w, h, fmt,
                     SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!sws) return Internal("cannot convert the picture for an image");
  FramePtr out = MakeFrame();
  out->width = w;
  out->height = h;
  out->format = fmt;
  int err = av_frame_get_buffer(out.get(), 0);
  if (err < 0) return AvStatus(err, "image buffer");
  sws_scale(sws.get(), src->data, src->linesize, 0, src->height, out->data, out->linesize);
  return out;
}

Result<std::string> EncodeFrame(AVFrame* frame, const std::string& format) {
  const char* name = format == "png" ? "png" : format == "webp" ? "libwebp" : "mjpeg";
  const AVCodec* codec = avcodec_find_encoder_by_name(name);
  if (!codec) return Internal(std::string("image encoder ") + name + " is not available");
  CodecContextPtr enc(avcodec_alloc_context3(codec));
  enc->width = frame->width;
  enc->height = frame->height;
  enc->pix_fmt = static_cast<AVPixelFormat>(frame->format);
  enc->time_base = {1, 25};
  enc->color_range = format == "jpg" ? AVCOL_RANGE_JPEG : AVCOL_RANGE_UNSPECIFIED;
  AVDictionary* opts = nullptr;
  if (format == "jpg") {
    enc->flags |= AV_CODEC_FLAG_QSCALE;
    enc->global_quality = FF_QP2LAMBDA * 3;  // high quality (qscale 3 of 2..31)
    frame->quality = enc->global_quality;
  }
  if (format == "webp") av_dict_set(&opts, "quality", "82", 0);
  int err = avcodec_open2(enc.get(), codec, &opts);
  av_dict_free(&opts);
  if (err < 0) return AvStatus(err, std::string("cannot open ") + name);
  frame->pts = 0;
  err = avcodec_send_frame(enc.get(), frame);
  if (err < 0) return AvStatus(err, "image encode");
  avcodec_send_frame(enc.get(), nullptr);
  PacketPtr pkt = MakePacket();
  std::string bytes;
  while (avcodec_receive_packet(enc.get(), pkt.get()) >= 0) {
    bytes.append(reinterpret_cast<const char*>(pkt->data), pkt->size);
    av_packet_unref(pkt.get());
  }
  if (bytes.empty()) return Internal("image encoder produced nothing");
  return bytes;
}

AVPixelFormat FormatFor(const std::string& format) {
  if (format == "png") return AV_PIX_FMT_RGB24;
  if (format == "webp") return AV_PIX_FMT_YUV420P;
  return AV_PIX_FMT_YUVJ420P;
}

}  // namespace

Result<std::string> EncodeImage(const AVFrame* frame, int width, int height,
                                const std::string& format) {
  Result<FramePtr> converted = Convert(frame, width, height, FormatFor(format));
  if (!converted.ok()) return converted.status();
  return EncodeFrame(converted->get(), format);
}

Canvas::Canvas(int w, int h, uint32_t fill) : width(w), height(h), rgba(size_t(w) * h * 4) {
  for (size_t i = 0; i < rgba.size(); i += 4) {
    rgba[i] = fill >> 24;
    rgba[i + 1] = (fill >> 16) & 255;
    rgba[i + 2] = (fill >> 8) & 255;
    rgba[i + 3] = fill & 255;
  }
}

void Canvas::Set(int x, int y, uint32_t v) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  uint8_t* p = &rgba[(size_t(y) * width + x) * 4];
  p[0] = v >> 24;
  p[1] = (v >> 16) & 255;
  p[2] = (v >> 8) & 255;
  p[3] = v & 255;
}

Status Canvas::Blit(const AVFrame* frame, int x, int y, int w, int h) {
  Result<FramePtr> tile = Convert(frame, w, h, AV_PIX_FMT_RGBA);
  if (!tile.ok()) return tile.status();
  for (int row = 0; row < h && y + row < height; ++row) {
    int cols = std::min(w, width - x);
    if (cols <= 0) break;
    std::memcpy(&rgba[(size_t(y + row) * width + x) * 4],
                (*tile)->data[0] + row * (*tile)->linesize[0], size_t(cols) * 4);
  }
  return Status::Ok();
}

Result<std::string> EncodeCanvas(const Canvas& canvas, const std::string& format) {
  FramePtr frame = MakeFrame();
  frame->width = canvas.width;
  frame->height = canvas.height;
  frame->format = AV_PIX_FMT_RGBA;
  int err = av_frame_get_buffer(frame.get(), 0);
  if (err < 0) return AvStatus(err, "canvas");
  for (int row = 0; row < canvas.height; ++row)
    std::memcpy(frame->data[0] + row * frame->linesize[0],
                &canvas.rgba[size_t(row) * canvas.width * 4], size_t(canvas.width) * 4);
  if (format == "png") return EncodeFrame(frame.get(), "png");  // PNG keeps the alpha
  return EncodeImage(frame.get(), canvas.width, canvas.height, format);
}

}  // namespace reel::engine
