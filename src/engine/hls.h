// HLS packaging helpers: reading back media playlists the hls muxer wrote, and writing the
// master playlist from what was actually produced (measured bandwidths, real codec strings).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace reel::engine::hls {

struct Segment {
  double duration = 0;
  std::string uri;
  int64_t bytes = 0;  // filled by ReadMediaPlaylist from the file beside the playlist
};

struct MediaPlaylist {
  std::string init_uri;  // EXT-X-MAP
  int64_t init_bytes = 0;
  double target_duration = 0;
  bool ended = false;  // EXT-X-ENDLIST
  std::vector<Segment> segments;

  double Duration() const;
  int64_t PeakBitrate() const;     // max over segments of bytes*8/duration
  int64_t AverageBitrate() const;  // all segment bytes*8 / total duration
};

Result<MediaPlaylist> ReadMediaPlaylist(const std::string& path);

// RFC 6381 codec string of an H.264 stream from its extradata (Annex B or avcC): "avc1.640028".
std::string H264CodecString(const uint8_t* extradata, int size);

struct VariantEntry {
  std::string uri;
  int64_t bandwidth = 0;
  int64_t average_bandwidth = 0;
  int width = 0, height = 0;  // 0 for audio-only
  double frame_rate = 0;
  std::string codecs;
  bool uses_audio_group = false;
  std::string video_range;  // "SDR", "PQ", "HLG"; "" leaves VIDEO-RANGE out
};

struct AudioEntry {
  std::string uri;
  int channels = 2;
};

// Writes master playlist text: one EXT-X-MEDIA for `audio` (if any) and one EXT-X-STREAM-INF per
// variant.
std::string MasterPlaylist(const std::vector<VariantEntry>& variants, const AudioEntry* audio);

}  // namespace reel::engine::hls
