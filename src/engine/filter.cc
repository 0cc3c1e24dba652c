#include "engine/filter.h"

#include <cstdio>

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavutil/pixdesc.h>
}

namespace reel::engine {

namespace {

Result<FilterChain> Build(const char* src_name, const char* sink_name,
                          const std::string& source_args, const std::string& chain, int threads) {
  FilterChain fc;
  fc.graph.reset(avfilter_graph_alloc());
  fc.graph->nb_threads = threads;
  int err = avfilter_graph_create_filter(&fc.source, avfilter_get_by_name(src_name), "in",
                                         source_args.c_str(), nullptr, fc.graph.get());
  if (err < 0) return AvStatus(err, std::string("cannot create ") + src_name + " " + source_args);
  err = avfilter_graph_create_filter(&fc.sink, avfilter_get_by_name(sink_name), "out", nullptr,
                                     nullptr, fc.graph.get());
  if (err < 0) return AvStatus(err, "cannot create sink");

  AVFilterInOut* outputs = avfilter_inout_alloc();
  AVFilterInOut* inputs = avfilter_inout_alloc();
  outputs->name = av_strdup("in");
  outputs->filter_ctx = fc.source;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = fc.sink;
  err = avfilter_graph_parse_ptr(fc.graph.get(), chain.c_str(), &inputs, &outputs, nullptr);
  avfilter_inout_free(&inputs);
  avfilter_inout_free(&outputs);
  if (err < 0) return AvStatus(err, "cannot parse filter chain '" + chain + "'");
  err = avfilter_graph_config(fc.graph.get(), nullptr);
  if (err < 0) return AvStatus(err, "cannot configure filter chain '" + chain + "'");
  return fc;
}

}  // namespace

Result<FilterChain> BuildChain(bool video, const std::string& source_args, const std::string& chain,
                               int threads) {
  return video ? Build("buffer", "buffersink", source_args, chain, threads)
               : Build("abuffer", "abuffersink", source_args, chain, threads);
}

Result<FilterChain> BuildDrawnChain(const std::string& audio_args, const std::string& chain,
                                    int threads) {
  return Build("abuffer", "buffersink", audio_args, chain, threads);
}

std::string Rational(AVRational r) { return std::to_string(r.num) + "/" + std::to_string(r.den); }

std::string VideoSourceArgs(int width, int height, int pixel_format, AVRational time_base,
                            AVRational sample_aspect_ratio) {
  return "video_size=" + std::to_string(width) + "x" + std::to_string(height) +
         ":pix_fmt=" + std::to_string(pixel_format) + ":time_base=" + Rational(time_base) +
         ":pixel_aspect=" +
         Rational(sample_aspect_ratio.num > 0 ? sample_aspect_ratio : AVRational{1, 1});
}

std::string VideoSourceArgs(const AVFilterContext* sink) {
  return VideoSourceArgs(av_buffersink_get_w(sink), av_buffersink_get_h(sink),
                         av_buffersink_get_format(sink), av_buffersink_get_time_base(sink),
                         av_buffersink_get_sample_aspect_ratio(sink)) +
         ":frame_rate=" + Rational(av_buffersink_get_frame_rate(sink));
}

std::string RotationFilters(int rotation) {
  switch (rotation) {
    case 90:
      return "transpose=clock";
    case 180:
      return "hflip,vflip";
    case 270:
      return "transpose=cclock";
  }
  return "";
}

std::string NormaliseGraph(const NormaliseGraphSpec& s) {
  // Rotation, then a passthrough scale to the coded size (absorbs size changes mid-stream), then
  // a constant frame rate starting at 0.
  std::string chain = s.picture;
  std::string turn = RotationFilters(s.rotation);
  if (!chain.empty() && !turn.empty()) chain += ",";
  chain += turn;
  if (!chain.empty()) chain += ",";
  bool sideways = s.rotation == 90 || s.rotation == 270;
  int w = sideways ? s.coded_height : s.coded_width;
  int h = sideways ? s.coded_width : s.coded_height;
  if (s.join) {
    // Every source onto the main one's frame: square pixels, fitted (up or down) and padded,
    // on one frame grid that continues where the previous source ended.
    std::string W = std::to_string(s.join_size.width), H = std::to_string(s.join_size.height);
    char start_time[32];
    std::snprintf(start_time, sizeof(start_time), "%.6f", s.start_time);
    chain +=
        "scale=trunc(iw*sar/2)*2:ih,setsar=1,scale=" + W + ":" + H +
        ":force_original_aspect_ratio=decrease,pad=" + W + ":" + H +
        ":(ow-iw)/2:(oh-ih)/2:black,setsar=1,format=yuv420p,fps=fps=" + Rational(s.frame_rate) +
        ":start_time=" + start_time + ":round=near";
  } else {
    chain += "scale=" + std::to_string(w) + ":" + std::to_string(h) +
             ",fps=fps=" + Rational(s.frame_rate) + ":start_time=0:round=near";
  }
  // Burnt in once, at the source's size, before the renditions scale: every rung gets them.
  if (!s.subtitles.empty()) chain += ",subtitles=filename=" + s.subtitles;
  return chain;
}

const char* HdrTransfer(AVColorTransferCharacteristic transfer) {
  if (transfer == AVCOL_TRC_SMPTE2084) return "pq";
  if (transfer == AVCOL_TRC_ARIB_STD_B67) return "hlg";
  return "";
}

bool InterlacedFieldOrder(AVFieldOrder order) {
  return order == AV_FIELD_TT || order == AV_FIELD_BB || order == AV_FIELD_TB ||
         order == AV_FIELD_BT;
}

std::string DeinterlaceFilter(const SourcePicture& p) {
  using presets::Deinterlace;
  if (p.deinterlace == Deinterlace::kOff) return "";
  bool declared = InterlacedFieldOrder(p.field_order);
  bool detected = !declared && InterlacedFieldOrder(p.detected_order);
  if (p.deinterlace == Deinterlace::kAuto && !declared && !detected) return "";
  // parity=auto takes each frame's own field order (its top_field_first flag), which is right
  // even when a stream's declared order is wrong. A stream found interlaced by idet flags no
  // frame, so bwdif would assume top field first: the order idet saw is given instead.
  // deint=all because the stream, idet or the user said that it is interlaced, and some
  // decoders do not flag every frame.
  std::string parity = !detected ? "auto" : p.detected_order == AV_FIELD_BB ? "bff" : "tff";
  return std::string("bwdif=mode=") + (DeinterlaceDoublesRate(p) ? "send_field" : "send_frame") +
         ":parity=" + parity + ":deint=all";
}

bool DeinterlaceDoublesRate(const SourcePicture& p) {
  return p.deinterlace == presets::Deinterlace::kField;
}

std::string ToneMapFilters(const SourcePicture& p) {
  std::string hdr = HdrTransfer(p.transfer);
  if (hdr.empty()) return "";
  // The input's colour is said explicitly rather than read from each frame: some files tag the
  // stream but not the frames, and zscale would then guess BT.709. Untagged primaries and matrix
  // of a PQ/HLG stream are BT.2020's (nothing else is used with these transfers).
  std::string tin = hdr == "pq" ? "smpte2084" : "arib-std-b67";
  std::string pin = p.primaries == AVCOL_PRI_BT709 ? "709" : "2020";
  std::string min = p.colorspace == AVCOL_SPC_BT2020_CL ? "2020_cl"
                    : p.colorspace == AVCOL_SPC_BT709   ? "709"
                                                        : "2020_ncl";
  std::string rin = p.range == AVCOL_RANGE_JPEG ? "full" : "limited";
  // To linear light (100 nits nominal peak), to BT.709 primaries in float, Hable's curve
  // without desaturation, then BT.709 transfer and matrix, limited range, 8-bit 4:2:0.
  return "zscale=tin=" + tin + ":pin=" + pin + ":min=" + min + ":rin=" + rin +
         ":t=linear:npl=100,format=gbrpf32le,zscale=p=709,tonemap=tonemap=hable:desat=0,"
         "zscale=t=709:m=709:r=limited,format=yuv420p";
}

std::string SourcePictureFilters(const SourcePicture& p) {
  std::string deinterlace = DeinterlaceFilter(p), tonemap = p.keep_hdr ? "" : ToneMapFilters(p);
  if (!deinterlace.empty() && !tonemap.empty()) return deinterlace + "," + tonemap;
  return deinterlace + tonemap;
}

void ColourAfterPictureFilters(const SourcePicture& p, VideoFormat* f) {
  f->primaries = p.primaries;
  f->transfer = p.transfer;
  f->colorspace = p.colorspace;
  f->range = p.range;
  if (ToneMapFilters(p).empty()) return;
  if (!p.keep_hdr) return ColourAfterToneMap(f);
  if (f->primaries == AVCOL_PRI_UNSPECIFIED) f->primaries = AVCOL_PRI_BT2020;
  if (f->colorspace == AVCOL_SPC_UNSPECIFIED) f->colorspace = AVCOL_SPC_BT2020_NCL;
  if (f->range == AVCOL_RANGE_UNSPECIFIED) f->range = AVCOL_RANGE_MPEG;
}

void ColourAfterToneMap(VideoFormat* f) {
  f->primaries = AVCOL_PRI_BT709;
  f->transfer = AVCOL_TRC_BT709;
  f->colorspace = AVCOL_SPC_BT709;
  f->range = AVCOL_RANGE_MPEG;
}

const char kJoinedAudioArgs[] =
    "time_base=1/48000:sample_rate=48000:sample_fmt=fltp:channel_layout=stereo";

std::string JoinedAudioGraph() {
  return "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo";
}

std::string VideoRenditionGraph(const presets::VideoSettings& v, const VideoFormat& format,
                                Size picture, AVRational base_rate) {
  std::string chain;
  if (v.trim_duration > 0) {
    char trim[96];
    std::snprintf(trim, sizeof(trim), "trim=start=%.6f:duration=%.6f,setpts=PTS-STARTPTS,",
                  v.trim_start, v.trim_duration);
    chain += trim;
  }
  chain += "scale=" + std::to_string(picture.width) + ":" + std::to_string(picture.height) +
           ":flags=bicubic";
  if (v.letterbox)
    chain += ",pad=" + std::to_string(format.size.width) + ":" +
             std::to_string(format.size.height) + ":(ow-iw)/2:(oh-ih)/2:black";
  chain += std::string(",format=") + av_get_pix_fmt_name(format.pixel_format) + ",setsar=1";
  if (av_cmp_q(format.frame_rate, base_rate) != 0)
    chain += ",fps=fps=" + Rational(format.frame_rate) + ":start_time=0";
  return chain;
}

std::string AudioRenditionGraph(const presets::AudioSettings& a, double replaced_track_duration,
                                double gain_db, AVSampleFormat sample_format,
                                const std::string& channel_layout) {
  // async=1 stretches/pads around timestamp gaps; first_pts=0 pads a late start with silence
  // so audio stays in sync with video that starts at 0.
  std::string chain = "aresample=" + std::to_string(a.sample_rate) + ":async=1:first_pts=0";
  if (a.trim_duration > 0) {
    char trim[96];
    std::snprintf(trim, sizeof(trim), ",atrim=start=%.6f:duration=%.6f,asetpts=PTS-STARTPTS",
                  a.trim_start, a.trim_duration);
    chain += trim;
  } else if (replaced_track_duration > 0) {
    char trim[64];  // a replacement track ends with the picture
    std::snprintf(trim, sizeof(trim), ",atrim=duration=%.6f", replaced_track_duration);
    chain += trim;
  }
  if (gain_db != 0) {
    char gain[48];
    std::snprintf(gain, sizeof(gain), ",volume=%.2fdB", gain_db);
    chain += gain;
  }
  chain += std::string(",aformat=sample_fmts=") + av_get_sample_fmt_name(sample_format) +
           ":channel_layouts=" + channel_layout;
  return chain;
}

// An audio-only source's picture. Every background is drawn from the audio itself, so the
// frames come on the audio's clock as it is decoded (no free-running source to hold back):
// showwaves gives the frame grid, painted over for a plain colour.
std::string DrawnPictureGraph(const DrawnPictureSpec& s) {
  std::string size = std::to_string(s.size.width) + "x" + std::to_string(s.size.height);
  std::string rate = Rational(s.frame_rate);
  std::string chain;
  if (s.background == "waveform") {
    chain = "showwaves=s=" + size + ":mode=cline:rate=" + rate + ":colors=0x4fc3f7,format=yuv420p";
  } else if (s.background == "spectrum") {
    chain = "showspectrum=s=" + size + ":slide=scroll:color=intensity:scale=cbrt:fps=" + rate +
            ",format=yuv420p";
  } else {
    // "#rrggbb", checked by the job spec; drawbox takes it as 0xrrggbb.
    std::string colour = s.background.size() == 7 ? "0x" + s.background.substr(1) : "0x000000";
    chain = "showwaves=s=" + size + ":mode=point:rate=" + rate +
            ",format=yuv420p,drawbox=x=0:y=0:w=iw:h=ih:color=" + colour + ":t=fill";
  }
  chain += ",setsar=1,fps=fps=" + rate + ":start_time=0:round=near";
  if (!s.subtitles.empty()) chain += ",subtitles=filename=" + s.subtitles;
  return chain;
}

}  // namespace reel::engine
