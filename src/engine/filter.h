// The filter stage: libavfilter graphs as reel uses them (one source, a textual chain, one sink)
// and the text of every graph the pipeline runs: the per-source normalise graph (rotation,
// constant frame rate, burnt-in subtitles, the common frame of joined sources), each video
// rendition's scale, each audio rendition's resample, and the conversion of joined sources'
// audio to one format. Internal to the engine.
#pragma once

#include <string>

#include "engine/av_util.h"
#include "engine/geometry.h"
#include "engine/hdr.h"
#include "presets/outputs.h"
#include "presets/presets.h"

extern "C" {
#include <libavutil/pixfmt.h>
}

namespace reel::engine {

struct FilterChain {
  FilterGraphPtr graph;
  AVFilterContext* source = nullptr;
  AVFilterContext* sink = nullptr;
};

// `video` picks buffer/buffersink or abuffer/abuffersink; `source_args` configure the source.
Result<FilterChain> BuildChain(bool video, const std::string& source_args, const std::string& chain,
                               int threads);

// An abuffer source and a video buffersink: a picture drawn from audio (DrawnPictureGraph).
Result<FilterChain> BuildDrawnChain(const std::string& audio_args, const std::string& chain,
                                    int threads);

// "30000/1001"
std::string Rational(AVRational r);

// The frames of a video stream after the normalise graph, and what an encoder is opened for.
struct VideoFormat {
  Size size;
  AVPixelFormat pixel_format = AV_PIX_FMT_YUV420P;
  AVRational frame_rate{30, 1};
  AVColorPrimaries primaries = AVCOL_PRI_UNSPECIFIED;
  AVColorTransferCharacteristic transfer = AVCOL_TRC_UNSPECIFIED;
  AVColorSpace colorspace = AVCOL_SPC_UNSPECIFIED;
  AVColorRange range = AVCOL_RANGE_UNSPECIFIED;
  HdrMetadata hdr;  // what a kept-HDR encode writes again (hdr.h)
};

// buffer source arguments for decoded frames of a stream.
std::string VideoSourceArgs(int width, int height, int pixel_format, AVRational time_base,
                            AVRational sample_aspect_ratio);
// buffer source arguments for a graph that reads what `sink` (a configured buffersink) gives.
std::string VideoSourceArgs(const AVFilterContext* sink);

// The filters that turn a picture upright for its display rotation (0, 90, 180, 270), "" for 0.
std::string RotationFilters(int rotation);

// The normalise graph of one source (see scheduler.h).
struct NormaliseGraphSpec {
  int coded_width = 0, coded_height = 0;
  int rotation = 0;
  AVRational frame_rate{30, 1};
  // Joined sources: every one onto the main one's frame, its grid continuing at `start_time`.
  bool join = false;
  Size join_size;
  double start_time = 0;
  std::string subtitles;  // a file name safe inside a graph, or ""
  // Filters that run first, on the decoded picture as coded: SourcePictureFilters.
  std::string picture;
};
std::string NormaliseGraph(const NormaliseGraphSpec& spec);

// The picture drawn for an audio-only source where an output needs one: `background` is
// "#rrggbb", "waveform" or "spectrum", at `size` and `frame_rate`, subtitles burnt in.
struct DrawnPictureSpec {
  std::string background;
  Size size{1280, 720};
  AVRational frame_rate{25, 1};
  std::string subtitles;  // a file name safe inside a graph, or ""
};
std::string DrawnPictureGraph(const DrawnPictureSpec& spec);
// The source's picture before anything else reads it: deinterlaced (bwdif, on the fields as
// coded, so before rotation and scaling) and tone-mapped from HDR to SDR BT.709. "" when the
// source needs neither.
struct SourcePicture {
  AVColorPrimaries primaries = AVCOL_PRI_UNSPECIFIED;
  AVColorTransferCharacteristic transfer = AVCOL_TRC_UNSPECIFIED;
  AVColorSpace colorspace = AVCOL_SPC_UNSPECIFIED;
  AVColorRange range = AVCOL_RANGE_UNSPECIFIED;
  AVFieldOrder field_order = AV_FIELD_UNKNOWN;  // as the stream declares it
  // What idet saw in the first frames (interlace.h) when the stream declares no interlacing:
  // AV_FIELD_TT or AV_FIELD_BB for woven fields, AV_FIELD_PROGRESSIVE; unknown when not run.
  AVFieldOrder detected_order = AV_FIELD_UNKNOWN;
  presets::Deinterlace deinterlace = presets::Deinterlace::kAuto;
  // An output keeps HDR: the source graph leaves the picture HDR and the scheduler tone-maps a
  // branch of it for the others (ToneMapFilters still gives the filters).
  bool keep_hdr = false;
};
// "pq" (SMPTE ST 2084, HDR10), "hlg" (ARIB STD-B67) or "" (SDR or unknown).
const char* HdrTransfer(AVColorTransferCharacteristic transfer);
// Whether the stream's fields are interlaced, by its field order (tt, bb, tb, bt).
bool InterlacedFieldOrder(AVFieldOrder order);
// bwdif, or "" (neither declared nor detected interlaced and not forced, or "off").
std::string DeinterlaceFilter(const SourcePicture& p);
// Whether DeinterlaceFilter doubles the frame rate (one picture per field).
bool DeinterlaceDoublesRate(const SourcePicture& p);
// zscale + tonemap to 8-bit 4:2:0 BT.709, or "" for an SDR source.
std::string ToneMapFilters(const SourcePicture& p);
// Both, deinterlace first; no tone mapping when the picture is kept HDR.
std::string SourcePictureFilters(const SourcePicture& p);
// The colour of the pictures the filters give: BT.709 once tone-mapped, else the source's (a
// kept HDR picture's untagged primaries and matrix are BT.2020's, its range limited).
void ColourAfterPictureFilters(const SourcePicture& p, VideoFormat* format);
// The colour ToneMapFilters gives: BT.709, limited range.
void ColourAfterToneMap(VideoFormat* format);

// Joined sources' audio: brought to 48 kHz stereo, which the audio renditions then read.
std::string JoinedAudioGraph();
extern const char kJoinedAudioArgs[];

// A video rendition's graph, from the normalised frames (`base_rate`) to the encoder's format:
// its window, scale to `picture`, letterbox to `format.size`, pixel format, its own rate.
std::string VideoRenditionGraph(const presets::VideoSettings& v, const VideoFormat& format,
                                Size picture, AVRational base_rate);

// An audio rendition's graph: resample in sync with the video, its window (or the picture's
// length, `replaced_track_duration`, for a replacement track), gain, the encoder's format.
std::string AudioRenditionGraph(const presets::AudioSettings& a, double replaced_track_duration,
                                double gain_db, AVSampleFormat sample_format,
                                const std::string& channel_layout);

}  // namespace reel::engine
