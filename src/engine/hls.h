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

// The hls muxer cuts an audio track on a grid shifted back by the encoder's priming, so a source
// whose length is a multiple of the segment length leaves a last audio segment of a frame or so
// that ends after the video. When the playlist's last segment is at most `max_seconds` long, its
// fragments are appended to the segment before (its sidx grown to match), the file removed and
// the playlist rewritten. Whether a segment was folded.
Result<bool> FoldShortLastSegment(const std::string& playlist_path, double max_seconds);

// The hls muxer writes one movie fragment per segment, and an I-frame playlist can only point at a
// keyframe that starts a fragment (its range begins with the moof that describes it). Cuts every
// video segment of the playlist into one fragment per keyframe (the samples, their bytes and
// times unchanged; each segment's sidx still covers it whole) and numbers the fragments in order.
// How many fragments were added. The first is numbered `first_sequence` (a chunk's segments start
// where the chunk sits in the package); segments split and numbered so already are only read
// through their moofs, not rewritten.
Result<int> SplitFragmentsAtKeyframes(const std::string& playlist_path,
                                      uint32_t first_sequence = 1);
// The same for a playlist that grows (engine/progressive.h): only its segments from
// `first_segment` on are cut, their fragments numbered from `*next_fragment`, which is left at the
// number the fragment after them gets. The segments before were cut by an earlier call.
Result<int> SplitFragmentsFrom(const std::string& playlist_path, size_t first_segment,
                               uint32_t* next_fragment);

// One I-frame of an I-frame playlist: a keyframe of a segment, as a byte range of that segment (the
// moof of the fragment it starts, then the mdat up to the end of the keyframe's sample).
struct IFrame {
  std::string uri;
  double duration = 0;  // until the next I-frame
  int64_t offset = 0, length = 0;
};

// The I-frames of an fMP4 media playlist: every keyframe, each starting a fragment of its segment
// (a 6 s segment of a ladder with 2 s GOPs holds three; scene cuts add more).
Result<std::vector<IFrame>> ReadIFrames(const std::string& playlist_path);

// The text of an I-frame playlist (EXT-X-I-FRAMES-ONLY) over `frames`, with `init_uri` as its map.
std::string IFramePlaylist(const std::vector<IFrame>& frames, const std::string& init_uri);

// Peak bit rate of an I-frame playlist: max over frames of length*8/duration.
int64_t IFramePeakBitrate(const std::vector<IFrame>& frames);

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

// An EXT-X-I-FRAME-STREAM-INF line of the master.
struct IFrameEntry {
  std::string uri;
  int64_t bandwidth = 0;
  int width = 0, height = 0;
  std::string codecs;       // the video's only
  std::string video_range;  // as its variant's: "" leaves VIDEO-RANGE out
};

// One audio rendition of the master playlist's group "audio" (one per kept audio track).
struct AudioEntry {
  std::string uri;
  int channels = 2;
  std::string language;  // BCP 47 from the source's stream, or "" (no LANGUAGE attribute)
  // NAME, unique in the group, no quote or control character; "": "default" when it is the only
  // rendition, else its language, else "Audio N".
  std::string name{};
  bool is_default = false;  // DEFAULT=YES; when none is, the first rendition is
};

// Writes master playlist text: one EXT-X-MEDIA per audio rendition (exactly one DEFAULT=YES;
// AUTOSELECT=YES on it and on those with a language, per Apple's rules), one EXT-X-STREAM-INF
// per variant and one EXT-X-I-FRAME-STREAM-INF per I-frame playlist.
std::string MasterPlaylist(const std::vector<VariantEntry>& variants,
                           const std::vector<AudioEntry>& audio,
                           const std::vector<IFrameEntry>& iframes = {});
// The same with one audio rendition, or none (nullptr).
std::string MasterPlaylist(const std::vector<VariantEntry>& variants, const AudioEntry* audio,
                           const std::vector<IFrameEntry>& iframes = {});

// A subtitle rendition of the master playlist's group "subs".
struct SubtitleEntry {
  std::string uri;
  std::string language;  // BCP 47, or ""
  std::string name;      // no quote, no control character
};

// Whether the variants carry CEA-608/708 captions: kUnstated for audio-only packages.
enum class Captions { kUnstated, kNone, kInStream };

// Adds the subtitle group and the captions to master playlist text: the EXT-X-MEDIA lines before
// the first EXT-X-STREAM-INF, and SUBTITLES="subs" and CLOSED-CAPTIONS on every
// EXT-X-STREAM-INF. Per Apple's rules no subtitle is DEFAULT; those with a language AUTOSELECT.
std::string WithTextRenditions(const std::string& master,
                               const std::vector<SubtitleEntry>& subtitles, Captions captions);

}  // namespace reel::engine::hls
