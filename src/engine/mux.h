// The mux stage: every container the engine writes (MP4, WebM, Matroska, and the fMP4 media
// playlists of HLS packages), each a muxer shared by the encoders that feed it. Encoders reach a
// muxer through the MuxTarget the scheduler gave them. Internal to the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/av_util.h"
#include "presets/presets.h"

namespace reel::engine {

// One output container. Several threads write to it (an MP4 gets video from a rendition thread
// and audio from the decode thread), so each write holds its mutex; av_interleaved_write_frame
// puts the packets in order.
class Muxer {
 public:
  explicit Muxer(std::string path) : path_(std::move(path)) {}
  Muxer(const Muxer&) = delete;
  Muxer& operator=(const Muxer&) = delete;
  ~Muxer();

  Status Create(const char* format);
  // A stream carrying what `enc` encodes; its index.
  Result<int> AddStream(const AVCodecContext* enc);
  // A text subtitle stream (S_TEXT/UTF8 in Matroska) with its ISO 639-2 language and title.
  Result<int> AddSubtitleStream(const std::string& language, const std::string& title);
  // A cue of that stream, in milliseconds on the file's timeline. Cues wait until the picture
  // or sound written reaches their start, so they interleave with them (written all at once,
  // a sparse stream far ahead of the others would break Matroska's clusters).
  void QueueCue(int stream_index, int64_t start_ms, int64_t end_ms, std::string text);
  Status WriteHeader(AVDictionary** options);  // frees *options
  Status Write(AVPacket* pkt, int stream_index, AVRational encoder_time_base);
  // Writes the trailer and closes the file, once; nothing if the header was never written.
  Status Finish();

 private:
  struct Cue {
    int stream_index = 0;
    int64_t end_ms = 0;
    std::string text;
  };
  // The queued cues that start at or before `until_ms` (all of them: INT64_MAX).
  Status WriteCues(int64_t until_ms);

  std::multimap<int64_t, Cue> cues_;  // by start
  std::mutex mu_;
  AVFormatContext* ctx_ = nullptr;
  std::string path_;
  bool header_written_ = false;
  bool trailer_written_ = false;
};

// Where an encoder's packets go: one stream of one muxer.
struct MuxTarget {
  Muxer* muxer = nullptr;
  int stream_index = 0;
  // The packets it takes, by pts in the encoder's time base: a chunk of a chunked encoding
  // encodes frames around its range so that the rate control runs as in a whole run, and
  // writes only its range.
  int64_t first_pts = INT64_MIN, end_pts = INT64_MAX;
};

// Sends every packet `enc` has ready to each of `targets`; `observe` (if any) sees each packet
// first (the quality report decodes it).
Status SendPackets(AVCodecContext* enc, AVPacket* pkt, const std::vector<MuxTarget>& targets,
                   const std::function<Status(const AVPacket*)>& observe = nullptr);

struct SubtitleTrack;  // subtitles.h
// The text tracks a Matroska file carries: every cue of `tracks` that overlaps [from, from +
// length) of the source's timeline (length 0: to its end), moved to the file's.
struct FileSubtitles {
  const std::vector<SubtitleTrack>* tracks = nullptr;
  double from = 0, length = 0;
};

// Owns the muxers of a run, in the order they were opened (the order trailers are written).
class MuxStage {
 public:
  // The fMP4 media playlist of one rendition in `dir` (layout.h names its files). For a chunk of
  // a chunked encoding, `first_segment` >= 0 is the package's number of its first segment.
  Result<MuxTarget> OpenHls(const std::string& dir, double segment_seconds,
                            const AVCodecContext* enc, int first_segment = -1);
  // A file in `container`, with a video stream (if `video`) then an audio stream (if `audio`),
  // then, in Matroska, a text stream per track of `subtitles`.
  Status OpenFile(const std::string& path, presets::Container container,
                  const AVCodecContext* video, const AVCodecContext* audio, MuxTarget* video_target,
                  MuxTarget* audio_target, const FileSubtitles& subtitles = {});
  // Trailers, in order; stops at the first failure.
  Status FinishAll();

 private:
  Result<Muxer*> Add(const std::string& path, const char* format);
  std::vector<std::unique_ptr<Muxer>> muxers_;
};

}  // namespace reel::engine
