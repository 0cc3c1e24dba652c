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
  std::string language;  // audio: a BCP 47 tag ("en", "eng"), or ""
  // Audio: each audio representation is a track with an adaptation set of its own; with
  // several, the default one's Role is "main" (the first when none is), the others "alternate".
  bool default_track = false;
  // Video kept HDR: its colour as ITU-T H.273 code points (primaries 9, transfer 16 for PQ or 18
  // for HLG, matrix 9), said on its adaptation set; 0: SDR, not said.
  int colour_primaries = 0, transfer = 0, matrix = 0;
  std::vector<double> segment_durations;  // seconds, in order (seg_00000.m4s, ...)
};

// Static (on-demand) MPD, isoff-live profile, SegmentTemplate + SegmentTimeline in milliseconds.
std::string Manifest(const std::vector<Representation>& representations, double duration);

// A subtitle track as one WebVTT file (dash.js and Shaka play a sidecar text/vtt
// Representation with a BaseURL).
struct TextTrack {
  std::string id;        // "sub_0"
  std::string url;       // relative to the manifest: "sub_0/subtitles.vtt"
  std::string language;  // BCP 47, or ""
  std::string name;
};

// Adds one text AdaptationSet per track to the (single) Period of manifest text.
std::string WithTextTracks(const std::string& manifest, const std::vector<TextTrack>& tracks);

}  // namespace reel::engine::dash
