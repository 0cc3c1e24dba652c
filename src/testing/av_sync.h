// Audio/video sync measurement for tests: a generated source with a white flash and a 1 kHz beep
// at every even second, and a reader that decodes an output (plain MP4, or an HLS/DASH package
// of fMP4 init + segments) the way a player presents it, honouring the init segment's edit
// lists, then reports where each flash and beep lands. Also a small ISO-BMFF box reader so
// tests can assert on the edit lists and `trun` boxes directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace reel::testing {

struct SyncSourceOptions {
  int fps_num = 30, fps_den = 1;  // 25/1, 30000/1001, 30/1
  double seconds = 12;
  int width = 320, height = 180;
  double audio_delay = 0;  // seconds the audio is shifted later (-itsoffset), for self-checks
};

// Generates (once per machine, see Fixture) a Matroska file, H.264 (intra-only, so frame times are
// exact) + PCM 48 kHz stereo, black with a white frame at the first frame at or after every even
// second, and a one-frame 1 kHz beep starting exactly at that frame's time.
std::string SyncSource(const SyncSourceOptions& options);

// One edit-list entry (movie timescale for the duration, media timescale for media_time).
struct EditEntry {
  int64_t segment_duration = 0;
  int64_t media_time = 0;  // -1: an empty edit
};

struct TrackBoxes {
  uint32_t track_id = 0;
  std::string handler;     // "vide", "soun"
  uint32_t timescale = 0;  // mdhd
  std::vector<EditEntry> edits;
  // From the first moof that carries this track (fragmented files only).
  bool has_trun = false;
  int trun_version = 0;
  bool trun_has_cts = false;
  int64_t first_cts_offset = 0;  // of the trun's first sample
  int64_t first_tfdt = 0;
  // Composition time (tfdt + durations + offset) of every sample of every moof, decode order.
  std::vector<int64_t> sample_times;
  int64_t default_duration = 0;  // trex
  int64_t next_dts = 0;          // where the next fragment continues without a tfdt
};

struct BoxInfo {
  uint32_t movie_timescale = 0;  // mvhd
  bool fragmented = false;       // moov has mvex
  std::vector<TrackBoxes> tracks;
  const TrackBoxes* Find(const std::string& handler) const;
};

// Reads moov and, if `bytes` continues into segments, every moof (first trun details above).
BoxInfo ReadBoxes(const std::string& bytes);

struct SyncReport {
  bool ok = false;
  std::string error;
  std::vector<double> flashes, beeps;  // presentation seconds
  std::vector<double> offsets;         // beep minus flash, seconds, per flash with a beep near
  double mean_offset = 0, min_offset = 0, max_offset = 0;  // seconds
  double first_video = 0, first_audio = 0;  // presentation time of the first frame / sample
  double video_end = 0;                     // last frame's time + its duration
  int64_t audio_samples = 0;                // presented (after edit-list trimming)
  int sample_rate = 0;
  BoxInfo video_boxes, audio_boxes;  // of the file (or init + segments) each track came from
  std::string Describe() const;      // one line, milliseconds
};

// How the tracks' times are read.
enum class SyncReader {
  // As ISO BMFF defines them and MSE players present them: tfdt, trun durations and (signed)
  // composition offsets, then the init segment's edit list.
  kPlayer,
  // As libavformat presents them (so ffmpeg, ffprobe, mpv): its own reading of the same bytes,
  // edit lists as it applies them. It shifts a track with negative composition offsets later by
  // the largest of them, so a package must not rely on those.
  kLibav,
};

// Measures `path`: an .m3u8 (master: its first variant and its audio rendition; or a media
// playlist), an .mpd (its first video and first audio Representation), or a media file.
SyncReport MeasureSync(const std::string& path, SyncReader reader = SyncReader::kPlayer);

}  // namespace reel::testing
