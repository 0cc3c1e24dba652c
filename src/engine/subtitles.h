// Subtitle renditions: text subtitles read from attached files (SRT, ASS/SSA, WebVTT) and from
// the source's own text streams (mov_text, SubRip, ASS, WebVTT), converted to WebVTT cues, and
// written into a package as an HLS SUBTITLES rendition (segmented WebVTT aligned to the video's
// segments, with X-TIMESTAMP-MAP) plus a whole-file WebVTT for the DASH manifest. Burnt-in
// subtitles are the normalise graph's (demux_decode.cc), not these. Internal to the engine.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/dash.h"
#include "engine/engine.h"
#include "engine/hls.h"

namespace reel::engine {

struct SubtitleCue {
  double start = 0, end = 0;  // seconds on the package's timeline (0 = the source's start)
  std::string text;           // WebVTT cue payload: no blank line, no "-->"
};

struct SubtitleTrack {
  std::string language;  // BCP 47 ("fr", "eng"), or "" when unknown
  std::string name;      // what players show
  std::vector<SubtitleCue> cues;
};

// Bounds on what a file or a source may carry: every cue is kept in memory and written out once
// per segment it overlaps.
inline constexpr size_t kMaxSubtitleCues = 20000;
inline constexpr size_t kMaxCueBytes = 2048;
inline constexpr size_t kMaxSourceSubtitleStreams = 8;

// A language tag as read from a stream, as BCP 47 (Bcp47Language): "eng" -> "en", "pt-BR" kept;
// "" when it does not look like one (also for "und").
std::string StreamLanguage(std::string_view tag);

// Reads an attached file (it must be SRT, ASS/SSA or WebVTT and nothing else).
Result<SubtitleTrack> ReadSubtitleFile(const SubtitleInput& input);

// Reads the text subtitle streams of a media file, at most kMaxSourceSubtitleStreams, in stream
// order; bitmap subtitles (PGS, DVB) are skipped. Named from the stream's title or language.
// Cue times count from `origin` (seconds on the file's timeline), where the media's time 0 is.
Result<std::vector<SubtitleTrack>> ReadSubtitleStreams(const std::string& path, double origin,
                                                       const std::atomic<bool>* cancel);

// A cue's WebVTT payload as SubRip text (Matroska's S_TEXT/UTF8): the same <i>, <b> and <u>,
// the character references (&amp; &lt; &gt; &nbsp; &lrm; &rlm;) turned back into characters.
std::string SubRipText(std::string_view webvtt);

// One WebVTT file of every cue, with X-TIMESTAMP-MAP only when `timestamp_map`.
std::string WebVttText(const std::vector<SubtitleCue>& cues, double from, double to,
                       bool timestamp_map);

// Writes `folder`/index.m3u8 and one seg_NNNNN.vtt per entry of `segment_durations` (the
// video's), each holding the cues that overlap it, and `folder`/subtitles.vtt (every cue, for
// DASH). `folder` must exist.
Status WriteSubtitleRendition(const SubtitleTrack& track,
                              const std::vector<double>& segment_durations,
                              const std::string& folder);

// Every track of a package as folders sub_0, sub_1... in `package_dir`, and what the master
// playlist and the manifest declare of them.
struct TextRenditions {
  std::vector<hls::SubtitleEntry> hls;
  std::vector<dash::TextTrack> dash;
};
Result<TextRenditions> WriteSubtitleRenditions(const std::vector<SubtitleTrack>& tracks,
                                               const std::vector<double>& segment_durations,
                                               const std::string& package_dir);

}  // namespace reel::engine
