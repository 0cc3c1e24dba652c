#include "engine/hdr.h"

#include <cmath>
#include <cstdio>

#include "engine/av_util.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

namespace reel::engine {
namespace {

// A frame or stream may carry the structure with nothing set (has_* false): that is no metadata.
void Take(const AVMasteringDisplayMetadata* md, const AVContentLightMetadata* cll,
          HdrMetadata* out) {
  if (md && md->has_primaries && md->has_luminance && !out->mastering) out->mastering = *md;
  if (cll && (cll->MaxCLL > 0 || cll->MaxFALL > 0) && !out->light) out->light = *cll;
}

// A rational scaled to integer units, bounded to what the encoders' fields hold.
long long Units(AVRational r, double per_unit, long long most) {
  if (r.den == 0) return 0;
  double v = std::round(av_q2d(r) / per_unit);
  if (!(v >= 0)) return 0;
  return v > double(most) ? most : static_cast<long long>(v);
}

// Appends a copy of `data` to the encoder's coded side data (freed with the context).
Status AddCodedSideData(AVCodecContext* enc, AVPacketSideDataType type, const void* data,
                        size_t size) {
  auto* copy = static_cast<uint8_t*>(av_memdup(data, size));
  if (!copy) return Internal("out of memory");
  auto* grown = static_cast<AVPacketSideData*>(av_realloc_array(
      enc->coded_side_data, enc->nb_coded_side_data + 1, sizeof(AVPacketSideData)));
  if (!grown) {
    av_free(copy);
    return Internal("out of memory");
  }
  enc->coded_side_data = grown;
  AVPacketSideData& sd = grown[enc->nb_coded_side_data++];
  sd.data = copy;
  sd.size = size;
  sd.type = type;
  return Status::Ok();
}

}  // namespace

Status AttachHdrSideData(const HdrMetadata& m, AVCodecContext* enc) {
  if (m.mastering)
    REEL_RETURN_IF_ERROR(AddCodedSideData(enc, AV_PKT_DATA_MASTERING_DISPLAY_METADATA,
                                          &*m.mastering, sizeof(AVMasteringDisplayMetadata)));
  if (m.light)
    REEL_RETURN_IF_ERROR(AddCodedSideData(enc, AV_PKT_DATA_CONTENT_LIGHT_LEVEL, &*m.light,
                                          sizeof(AVContentLightMetadata)));
  return Status::Ok();
}

bool PlanKeepsHdr(const TranscodePlan& plan) {
  for (const FileOutputPlan& f : plan.files)
    if (f.preset.video.keep_hdr) return true;
  for (const HlsOutputPlan& h : plan.hls) {
    if (h.single && h.single->video.keep_hdr) return true;
    if (h.single) continue;
    for (const presets::Rung& r : h.ladder.rungs)
      if (r.keep_hdr) return true;
  }
  return false;
}

Result<HdrMetadata> ReadHdrMetadata(const std::string& path, int stream) {
  Result<InputFormatPtr> in = OpenInput(path);
  if (!in.ok()) return in.status();
  AVFormatContext* fmt = in->get();
  if (stream < 0 || stream >= int(fmt->nb_streams)) return Internal("no such video stream");
  AVStream* st = fmt->streams[stream];
  HdrMetadata m;
  Take(reinterpret_cast<const AVMasteringDisplayMetadata*>(
           av_stream_get_side_data(st, AV_PKT_DATA_MASTERING_DISPLAY_METADATA, nullptr)),
       reinterpret_cast<const AVContentLightMetadata*>(
           av_stream_get_side_data(st, AV_PKT_DATA_CONTENT_LIGHT_LEVEL, nullptr)),
       &m);
  if (m.mastering && m.light) return m;

  // The bitstream's own: decode until the first frame (a few packets at most).
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec) return m;
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  if (avcodec_parameters_to_context(dec.get(), st->codecpar) < 0) return m;
  dec->thread_count = 1;
  if (avcodec_open2(dec.get(), codec, nullptr) < 0) return m;
  PacketPtr pkt = MakePacket();
  FramePtr frame = MakeFrame();
  bool got = false;
  for (int packets = 0; !got && packets < 64 && av_read_frame(fmt, pkt.get()) >= 0;) {
    if (pkt->stream_index == stream) {
      ++packets;
      if (avcodec_send_packet(dec.get(), pkt.get()) >= 0)
        got = avcodec_receive_frame(dec.get(), frame.get()) >= 0;
    }
    av_packet_unref(pkt.get());
  }
  if (!got && avcodec_send_packet(dec.get(), nullptr) >= 0)
    got = avcodec_receive_frame(dec.get(), frame.get()) >= 0;
  if (!got) return m;
  const AVFrameSideData* md =
      av_frame_get_side_data(frame.get(), AV_FRAME_DATA_MASTERING_DISPLAY_METADATA);
  const AVFrameSideData* cll =
      av_frame_get_side_data(frame.get(), AV_FRAME_DATA_CONTENT_LIGHT_LEVEL);
  Take(md ? reinterpret_cast<const AVMasteringDisplayMetadata*>(md->data) : nullptr,
       cll ? reinterpret_cast<const AVContentLightMetadata*>(cll->data) : nullptr, &m);
  return m;
}

std::string X265HdrParams(const HdrMetadata& m) {
  std::string out;
  if (m.mastering) {
    // HEVC's SEI units: chromaticity in 0.00002, luminance in 0.0001 cd/m². FFmpeg keeps the
    // primaries in R, G, B order; x265 takes G, B, R.
    const AVMasteringDisplayMetadata& d = *m.mastering;
    auto xy = [&](int i, int c) { return Units(d.display_primaries[i][c], 0.00002, 50000); };
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "master-display=G(%lld,%lld)B(%lld,%lld)R(%lld,%lld)WP(%lld,%lld)L(%lld,%lld)",
                  xy(1, 0), xy(1, 1), xy(2, 0), xy(2, 1), xy(0, 0), xy(0, 1),
                  Units(d.white_point[0], 0.00002, 50000), Units(d.white_point[1], 0.00002, 50000),
                  Units(d.max_luminance, 0.0001, 4294967295LL),
                  Units(d.min_luminance, 0.0001, 4294967295LL));
    out = buf;
  }
  if (m.light) {
    if (!out.empty()) out += ":";
    out += "max-cll=" + std::to_string(m.light->MaxCLL) + "," + std::to_string(m.light->MaxFALL);
  }
  return out;
}

std::string SvtAv1HdrParams(const HdrMetadata& m) {
  std::string out;
  if (m.mastering) {
    // SVT-AV1 reads decimal chromaticities and cd/m², G, B, R, white point, then max, min.
    const AVMasteringDisplayMetadata& d = *m.mastering;
    auto q = [](AVRational r) { return r.den ? av_q2d(r) : 0.0; };
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "mastering-display=G(%.5f,%.5f)B(%.5f,%.5f)R(%.5f,%.5f)WP(%.5f,%.5f)L(%.4f,%.4f)",
                  q(d.display_primaries[1][0]), q(d.display_primaries[1][1]),
                  q(d.display_primaries[2][0]), q(d.display_primaries[2][1]),
                  q(d.display_primaries[0][0]), q(d.display_primaries[0][1]), q(d.white_point[0]),
                  q(d.white_point[1]), q(d.max_luminance), q(d.min_luminance));
    out = buf;
  }
  if (m.light) {
    if (!out.empty()) out += ":";
    out +=
        "content-light=" + std::to_string(m.light->MaxCLL) + "," + std::to_string(m.light->MaxFALL);
  }
  return out;
}

}  // namespace reel::engine
