// A DASH manifest (MPD) over the CMAF segments of an HLS package, so that one set of segments
// serves both HLS and DASH players.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace reel::engine::dash {

struct Representation {
  std::string id;  // also the folder of its segments ("720p", "audio")
  bool video = true;
  int64_t bandwidth = 0;
  int width = 0, height = 0;
  std::string frame_rate;  // "30" or "30000/1001"
  int channels = 0;
  int sample_rate = 0;
  std::string codecs;
  std::vector<double> segment_durations;  // seconds, in order (seg_00000.m4s, ...)
};

// Static (on-demand) MPD, isoff-live profile, SegmentTemplate + SegmentTimeline in milliseconds.
std::string Manifest(const std::vector<Representation>& representations, double duration);

}  // namespace reel::engine::dash
