// The tap stage: the outputs that read decoded media rather than encode it (thumbnails, sprite
// sheets, waveforms, loudness; taps.h). Video taps see each normalised frame on the decode
// thread; audio taps run on an analysis thread of their own, fed through a queue, so that the
// decode thread stays free to feed the encoders. Internal to the engine.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/scheduler.h"
#include "engine/staging.h"
#include "engine/taps.h"

namespace reel::engine {

class TapStage {
 public:
  // What the taps need to know of the source.
  struct SourceFacts {
    bool has_video = false;
    bool drawn = false;  // the picture is drawn from the audio: only for taps that ask for it
    bool has_audio = false;
    double duration = 0;
    DisplaySize display;
    std::string audio_args;  // abuffer arguments of the audio as the Source hands it on
    bool loudness_measured = false;
  };

  explicit TapStage(RunState* run) : run_(run) {}
  ~TapStage();  // joins the analysis thread if Join was not called

  // Stages each tap's files; taps this source cannot feed go to `unavailable`.
  Status Plan(const TranscodePlan& plan, const SourceFacts& source, Staging* staging,
              std::vector<OutputResult>* unavailable);
  std::vector<VideoTap*> video_taps() const;

  void Start();  // the analysis thread, if an audio tap is there
  Status OnVideo(const AVFrame* frame, double start, double end);
  Status OnAudio(const AVFrame* frame);
  Status FinishVideo();  // the last frame has been seen: write the images
  void CloseAudio();     // no more audio: the analysis thread drains and ends
  void Join();

  // After Join: one result per tap, in plan order (loudness reports are written here).
  Status Describe(double duration, const std::optional<Loudness>& measured,
                  std::vector<OutputResult>* out) const;

 private:
  void AnalysisLoop();

  struct VideoTapState {
    int index;
    std::string kind, path, extra;  // extra: the sprite's .vtt
    std::unique_ptr<VideoTap> tap;
  };
  struct AudioTapState {
    int index;
    std::string kind, path, image, staged;
    std::unique_ptr<AudioTap> tap;  // none for loudness measured by the normalisation pass
  };
  RunState* run_;
  std::vector<VideoTapState> video_taps_;
  std::vector<AudioTapState> audio_taps_;
  std::unique_ptr<FrameQueue> analysis_queue_;
  std::thread analysis_thread_;
};

}  // namespace reel::engine
