// The demux and decode stage: the Source reads the input (or several inputs joined one after
// another, and a replacement audio track read alongside), decodes it, and runs each source's
// normalise graph: display rotation, a passthrough scale that absorbs mid-stream size changes,
// and `fps`, which turns variable frame rates into constant ones with monotonic timestamps
// (fixed GOPs and aligned keyframes across rungs need a fixed frame grid), and burnt-in
// subtitles. What comes out goes to the scheduler's DecodedSink. Internal to the engine.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/audio_reshape.h"
#include "engine/av_util.h"
#include "engine/clock.h"
#include "engine/engine.h"
#include "engine/filter.h"
#include "engine/geometry.h"
#include "engine/scheduler.h"
#include "engine/sound_joins.h"
#include "engine/taps.h"

namespace reel::engine {

// How long the media of `fmt` lasts, from its earliest start to the end of its longest stream.
// A container's declared duration can count what is not media: an MP4 whose edit list starts
// its media at 10 s declares 13 s for 3 s of media.
double ContentDuration(const AVFormatContext* fmt);

class Source {
 public:
  Source(const TranscodePlan& plan, const RunState* run, int threads)
      : plan_(plan), run_(run), threads_(threads) {}
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  ~Source();  // removes the subtitles copy

  // Opens the (first) source and its decoders, and builds its normalise graph. With several
  // sources, probes them all first for the total duration and the main one's geometry.
  Status Open();

  // What the outputs are planned from.
  // A picture: the source's own, or one drawn from its audio (drawn()) because an output needs
  // a picture the source does not have (see TranscodePlan::background).
  bool has_video() const { return video_index_ >= 0 || drawn_; }
  bool drawn() const { return drawn_; }
  // Whether an output gets the picture: `asks` is whether it asks for a drawn one.
  bool PictureFor(bool asks) const {
    return video_index_ >= 0 || (drawn_ && (asks || !plan_.subtitles.empty()));
  }
  bool has_audio() const { return has_audio_; }  // some source, or the replacement track
  bool audio_replaced() const { return audio_input_ != nullptr; }
  double duration() const { return duration_; }  // seconds, all sources
  // Where the (last opened) source's time 0 is on its own timeline, in seconds: its first
  // picture or sound (TimelineZero). Cues read from the file are measured from here.
  double timeline_zero() const { return timeline_zero_; }
  // Of audio track `track`: 0 is the main audio (the best stream, the replacement, the joined
  // sources'), 1... those KeepAudioStream added. Channels 1 or 2.
  int audio_channels(int track = 0) const {
    return track == 0 ? audio_channels_ : extra_audio_[track - 1].channels;
  }
  const DisplaySize& display() const { return display_; }
  // A tag of audio track `track`: "language" ("eng"), "title"; "" when absent (joined sources:
  // none).
  std::string AudioTag(const char* key, int track = 0) const {
    if (audio_index_ < 0 || (Joined() && !audio_input_)) return "";
    const AVStream* st =
        track == 0 ? AudioStream() : input_->streams[extra_audio_[track - 1].index];
    const AVDictionaryEntry* e = av_dict_get(st->metadata, key, nullptr, 0);
    return e && e->value ? e->value : "";
  }
  std::string audio_language() const { return AudioTag("language"); }
  // Several audio tracks, from a single source without a replacement track: its audio streams
  // are counted among audio streams only ("stream 1" is its second audio stream).
  bool several_audio_tracks() const { return !Joined() && !audio_input_ && audio_index_ >= 0; }
  int audio_stream_count() const;
  // The audio stream the container marks default (the first such), else 0.
  int default_audio_stream() const;
  // Decodes audio stream `stream` (counted as above) as well; the track it is handed on as
  // (DecodedSink::Audio), 0 when it is the main audio. Before Run; several_audio_tracks() only.
  Result<int> KeepAudioStream(int stream);
  // Whether the video decoder met CEA-608/708 captions (A53 side data); asked after the run.
  // Joined sources: unknown (each source has its own decoder).
  std::optional<bool> closed_captions() const {
    if (Joined() || !video_dec_) return std::nullopt;
    return (video_dec_->properties & FF_CODEC_PROPERTY_CLOSED_CAPTIONS) != 0;
  }
  // The normalised frames: size, colour, constant rate.
  const VideoFormat& format() const { return format_; }
  const AVFilterContext* normalised() const { return normalise_.sink; }
  // The first source's picture as coded: its HDR transfer ("pq", "hlg", "": tone-mapped to SDR
  // when set, unless kept: then the normalised frames are HDR and the scheduler tone-maps a
  // branch for the outputs that want SDR) and whether it is deinterlaced (DeinterlaceFilter).
  const SourcePicture& picture() const { return picture_; }
  // A thumbnail-only job may seek instead of decoding everything; not when bwdif, which needs
  // the frames around each one, deinterlaces the source.
  // Nor when its clock jumps (clock.h): a seek lands by the file's own timestamps, which then
  // say nothing of where a frame is on the mended timeline.
  bool SeekingSuitsSource() const {
    return DeinterlaceFilter(picture_).empty() && clock_jumps_ == 0 && successions_.count() == 0;
  }
  // How often the (last opened) source's clock jumps (clock.h); mended as it is read.
  int clock_jumps() const { return clock_jumps_; }
  double first_clock_jump() const { return first_clock_jump_; }  // seconds from its start
  // How many of its streams continue another (succession.h): read from the start, as one, like
  // a clock that jumps.
  int stream_successions() const { return successions_.count(); }
  // The rate a rendition asking for `fps` frames per second gets (snapped to a standard rate).
  AVRational FrameRate(double fps) const;
  // abuffer arguments of the audio handed on: the decoder's output, or with several sources the
  // common format every source is converted to.
  std::string AudioArgs(int track = 0) const;

  // Chunked encoding (RunWindow): Run starts at the keyframe at or before `from_seconds` and
  // stops reading once the packets pass `until_seconds` (< 0: the end), both on the output
  // timeline; `skip_video` decodes the audio alone. Before Run; a single source only.
  void SetWindow(double from_seconds, double until_seconds, bool skip_video) {
    window_ = true;
    window_from_ = from_seconds;
    window_until_ = until_seconds;
    skip_video_ = skip_video;
  }

  // Fails Run (CheckSourceDuration) once the packets read pass `seconds` of media, whatever the
  // header declared. 0: no limit. Before Run.
  void LimitLength(double seconds) { longest_ = seconds; }

  // Decodes everything into `sink`, then ends it (see scheduler.h). Returns early, Ok, when the
  // run is stopping.
  Status Run(DecodedSink* sink);
  // For a job of thumbnails alone: seeks to each time `taps` still need, decoding only from the
  // keyframe before it, and hands each tap its frames itself (rotated only).
  Status RunSeeking(const std::vector<VideoTap*>& taps, DecodedSink* sink);
  // How far decoding has come, in seconds of the joined timeline (read by progress reports).
  double decoded_seconds() const { return decoded_seconds_.load(std::memory_order_relaxed); }

 private:
  bool Joined() const { return plan_.inputs.size() > 1; }
  const std::string& SourcePath(size_t segment) const {
    return Joined() ? plan_.inputs[segment] : plan_.input;
  }
  // The audio stream decoded: the source's, or the replacement track's.
  AVStream* AudioStream() const {
    return (audio_input_ ? audio_input_ : input_)->streams[audio_index_];
  }
  Status ProbeSources();
  Status OpenSource(size_t segment);
  Status OpenDecoder(AVFormatContext* fmt, int index, CodecContextPtr* out);
  Status CopySubtitles();
  Status EndSegment();
  Status DecodePacket(AVCodecContext* dec, AVPacket* pkt, bool video, int track = 0);
  Status HandleVideoFrame(AVFrame* frame);
  Status HandleAudioFrame(AVFrame* frame);
  Status PassOnAudio(AVFrame* frame);  // on to the renditions, as the decoder's format
  Status HandleExtraAudio(int track, AVFrame* frame);
  int ExtraTrackOf(int index) const;       // the track stream `index` is decoded as, or -1
  int AudioStreamIndex(int stream) const;  // input_'s index of audio stream `stream`, or -1
  Status CheckFollowed(int index) const;
  Status PullNormalised();
  Status CheckComplete(double declared) const;
  bool PictureAsked() const;
  Status OpenDrawnPicture();
  Status DrawFrom(AVFrame* audio);

  const TranscodePlan& plan_;
  const RunState* run_;
  const int threads_;
  DecodedSink* sink_ = nullptr;

  InputFormatPtr input_;
  InputFormatPtr audio_input_;  // the replacement audio's file, if any
  // Each file's clock mended as it is read (clock.h): the source's, the replacement audio's.
  std::optional<ClockMender> clock_, audio_clock_;
  Successions successions_;  // the source's streams followed across its programs' changes
  std::optional<StreamFollower> follower_;
  int clock_jumps_ = 0;
  double first_clock_jump_ = -1;
  std::string subtitles_copy_;  // the subtitles under a name safe to put in a filter graph
  int video_index_ = -1, audio_index_ = -1;
  int aux_audio_index_ = -1;
  CodecContextPtr video_dec_, audio_dec_;
  int64_t start_pts_video_ = 0, start_pts_audio_ = 0;  // source start, in stream time bases
  int64_t start_us_ = 0;                               // the same, in AV_TIME_BASE units
  // Audio tracks 1... (KeepAudioStream): further streams of the single source.
  struct ExtraAudio {
    int index = -1;  // in input_
    CodecContextPtr dec;
    int64_t start_pts = 0;
    int64_t end_pts = AV_NOPTS_VALUE;  // of its last frame, on the main audio's timeline
    int channels = 2;
    std::unique_ptr<AudioReshaper> reshape = std::make_unique<AudioReshaper>();
    SoundJoins joins;
  };
  std::vector<ExtraAudio> extra_audio_;
  double timeline_zero_ = 0;
  DisplaySize display_;
  VideoFormat format_;
  SourcePicture picture_;
  FilterChain normalise_;
  bool normalise_open_ = false;  // the current source's video graph has not been closed yet
  // Joined sources: the current one, where it starts on the joined timeline, and the graph that
  // brings its audio to the common format. One segment when there is one source.
  size_t segment_ = 0;
  double segment_offset_ = 0;
  std::vector<double> segment_durations_;
  Size join_size_;
  AVRational join_rate_{30, 1};
  FilterChain audio_convert_;
  bool has_audio_ = false;
  bool join_has_audio_ = false;
  double duration_ = 0;
  double demuxed_end_ = 0;  // end of the last packet read, relative to the source start
  int read_error_ = 0;      // why the source's reading stopped, when not at its end
  int64_t video_frames_decoded_ = 0, audio_frames_decoded_ = 0;
  int64_t video_end_pts_ = 0;  // end of the last decoded frame, in the stream's time base
  bool drawn_ = false;         // normalise_ draws the picture from the audio
  int64_t audio_end_pts_ = 0;  // end of the last decoded audio frame, in the stream's time base
  int64_t audio_next_pts_ = AV_NOPTS_VALUE;  // where the frame after the last one decoded starts
  SoundJoins audio_joins_;                   // a source whose clock may jump: sound_joins.h
  AudioReshaper reshape_audio_;  // the main audio's format kept (joined: the current source's)
  int64_t decode_errors_ = 0;
  int audio_channels_ = 2;
  std::atomic<double> decoded_seconds_{0};
  bool window_ = false, skip_video_ = false;  // SetWindow
  double window_from_ = 0, window_until_ = -1;
  double longest_ = 0;  // LimitLength
};

}  // namespace reel::engine
