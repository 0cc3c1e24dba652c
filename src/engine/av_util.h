// RAII owners for libav* objects and the conversion of AVERROR codes into Status.
#pragma once

#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
}

#include "common/status.h"

namespace reel::engine {

struct InputFormatDeleter {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FilterGraphDeleter {
  void operator()(AVFilterGraph* g) const { avfilter_graph_free(&g); }
};

using InputFormatPtr = std::unique_ptr<AVFormatContext, InputFormatDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FilterGraphPtr = std::unique_ptr<AVFilterGraph, FilterGraphDeleter>;

inline FramePtr MakeFrame() { return FramePtr(av_frame_alloc()); }
inline PacketPtr MakePacket() { return PacketPtr(av_packet_alloc()); }

std::string AvErrorString(int averror);

// Turns a negative libav return code into a Status: "what: libav message (code)".
Status AvStatus(int averror, const std::string& what);

// Opens a media file for reading with stream info, mapping the common failures (missing file,
// empty file, not media) to clear messages. Only self-contained formats are read, never
// playlists or lists naming other files, unless `own_output` (tests reading reel's own HLS
// packages and images back).
Result<InputFormatPtr> OpenInput(const std::string& path, bool own_output = false);

// Whether `path` reads as a subtitle file (SRT, ASS/SSA, WebVTT) and nothing else: the subtitles
// filter opens it with libavformat without limits, and a "subtitle" that is a playlist would
// read other files.
Status CheckSubtitleFile(const std::string& path);

// Display rotation of a video stream in degrees clockwise (0, 90, 180, 270).
int StreamRotation(const AVStream* stream);

// libav's warnings as log lines once common/log.h is configured, else silent (REEL_AV_LOG: level).
void InitLibavLogging();

}  // namespace reel::engine
