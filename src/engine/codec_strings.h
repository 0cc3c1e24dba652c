// RFC 6381 codec strings (the CODECS of an HLS master, the codecs of a DASH Representation),
// computed from the encoder's own parameter sets rather than assumed, so a player that reads
// "hvc1.1.6.L93.B0" or "av01.0.04M.08" is told exactly which profile, level and depth it gets.
#pragma once

#include <cstdint>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
}

namespace reel::engine {

// HEVC from its extradata (an hvcC record, or Annex B VPS/SPS/PPS): "hvc1.1.6.L93.B0"
// (ISO/IEC 14496-15 E.3). "hvc1" alone when no SPS is found.
std::string HevcCodecString(const uint8_t* extradata, int size);

// AV1 from its extradata (an av1C record, or the sequence header OBU): "av01.0.08M.08"
// (profile, level and tier, bit depth; the AV1-ISOBMFF binding's short form). "av01" alone when
// no sequence header is found.
std::string Av1CodecString(const uint8_t* extradata, int size);

// The codec string of what `enc` encodes (H.264, HEVC, AV1; AAC as mp4a.40.2).
std::string CodecString(const AVCodecContext* enc);

}  // namespace reel::engine
