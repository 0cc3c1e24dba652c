// HDR kept through an encode (`"hdr": "keep"` on an HEVC or AV1 rung): the source's mastering
// display and content light levels, read from its stream or its first frames, and the encoder
// parameters that write them again. libavcodec 5.1's libx265 and libsvtav1 wrappers do not pass
// frame side data on, so reel builds x265's and SVT-AV1's own parameters from the numbers (never
// from a user's text). Internal to the engine.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "engine/engine.h"

extern "C" {
#include <libavutil/mastering_display_metadata.h>
}

struct AVCodecContext;

namespace reel::engine {

struct HdrMetadata {
  std::optional<AVMasteringDisplayMetadata> mastering;  // only when primaries and luminance set
  std::optional<AVContentLightMetadata> light;
};

// Whether some video output of the plan asks to keep HDR (a rung, a preview or a file).
bool PlanKeepsHdr(const TranscodePlan& plan);

// The metadata of video stream `stream` of `path`: the stream's side data (MP4 mdcv/clli,
// Matroska colour elements), else the side data of its first decoded frame (HEVC SEI, AV1
// metadata OBUs), as phones record it.
Result<HdrMetadata> ReadHdrMetadata(const std::string& path, int stream);

// x265's master-display / max-cll ("master-display=G(..)B(..)R(..)WP(..)L(..):max-cll=..,.."),
// "" when there is nothing to carry.
std::string X265HdrParams(const HdrMetadata& m);
// SVT-AV1's mastering-display / content-light, in its own notation; "" likewise.
std::string SvtAv1HdrParams(const HdrMetadata& m);

// The metadata as the encoder's coded side data (as the ffmpeg CLI does it in 5.1): Muxer::
// AddStream copies it to the stream, from which movenc writes the MP4 sample entry's mdcv and
// clli boxes and the Matroska muxer its MasteringMetadata and MaxCLL/MaxFALL elements. Players
// that read the container (not the bitstream's SEI) see the HDR this way.
Status AttachHdrSideData(const HdrMetadata& m, AVCodecContext* enc);

// The metadata an encoder carries as coded side data (AttachHdrSideData): none for SDR.
HdrMetadata HdrMetadataOf(const AVCodecContext* enc);

// Writes `m` into the video sample entry of the fMP4 init segment at `path` as the clli and mdcv
// boxes movenc writes into a whole MP4 from the stream's side data: FFmpeg 5.1's hls muxer does
// not pass side data on to the MP4 muxer inside it, so its init segments (the HLS and DASH
// packages') had only the colr box. A box already there is left alone. Whether it added any.
Result<bool> AddHdrBoxes(const std::string& path, const HdrMetadata& m);

// The bytes of box `type` ("colr", "mdcv", "clli"...) among the children of the video sample
// entry of the MP4 or init segment at `path`; "" when it has none.
Result<std::string> VideoSampleEntryBox(const std::string& path, const char* type);

}  // namespace reel::engine
