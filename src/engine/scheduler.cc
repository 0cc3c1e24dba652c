// The scheduler: wires the stages of a run together and drives them (see scheduler.h).
#include "engine/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include <sched.h>

#include "engine/demux_decode.h"
#include "engine/encode.h"
#include "engine/engine.h"
#include "engine/filter.h"
#include "engine/mux.h"
#include "engine/package.h"
#include "engine/staging.h"
#include "engine/tap_stage.h"
#include "layout/layout.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
}

namespace reel::engine {

void RunState::Fail(Status status) {
  std::lock_guard lock(mu_);
  if (error_.ok()) error_ = std::move(status);
  failed_ = true;
}

Status RunState::Outcome() const {
  std::lock_guard lock(mu_);
  if (!error_.ok()) return error_;
  if (cancel_ && cancel_->load()) return Canceled("transcode canceled");
  return Status::Ok();
}

bool FrameQueue::Push(FramePtr frame) {
  std::unique_lock lock(mu_);
  while (queue_.size() >= capacity_ && !consumer_gone_) {
    if (run_->ShouldStop()) return false;
    not_full_.wait_for(lock, std::chrono::milliseconds(50));
  }
  if (consumer_gone_) return false;
  queue_.push_back(std::move(frame));
  not_empty_.notify_one();
  return true;
}

FramePtr FrameQueue::Pop() {
  std::unique_lock lock(mu_);
  while (queue_.empty() && !closed_) {
    if (run_->ShouldStop()) return nullptr;
    not_empty_.wait_for(lock, std::chrono::milliseconds(50));
  }
  if (queue_.empty()) return nullptr;
  FramePtr f = std::move(queue_.front());
  queue_.pop_front();
  not_full_.notify_one();
  return f;
}

void FrameQueue::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  not_empty_.notify_all();
}

void FrameQueue::ConsumerGone() {
  std::lock_guard lock(mu_);
  consumer_gone_ = true;
  queue_.clear();
  not_full_.notify_all();
}

namespace {

using Clock = std::chrono::steady_clock;
using presets::AudioSettings;
using presets::VideoSettings;

// The quality report compares every 10th frame (the others are decoded back only when other
// pictures refer to them): comparing them all added 57 % of CPU time to a 1080p default-ladder
// job, every 5th 27 %, over the 25 % the report may cost (bench/quality_cost.sh).
constexpr int kQualityEvery = 10;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Renditions with equal keys are one encoding shared by every output that asks for it.
std::string VideoKey(const VideoSettings& v, const VideoFormat& f, Size picture) {
  char buf[320];
  std::snprintf(
      buf, sizeof(buf), "%d|%dx%d|%dx%d|%d|%d|%d/%d|%lld|%lld|%lld|%d|%.3f|%d|%s|%s|%.3f|%.3f",
      int(v.codec), f.size.width, f.size.height, picture.width, picture.height, int(f.pixel_format),
      int(f.transfer), f.frame_rate.num, f.frame_rate.den, (long long)v.bitrate,
      (long long)v.maxrate, (long long)v.bufsize, v.crf, v.gop_seconds, int(v.fixed_gop),
      v.speed.c_str(), v.profile.c_str(), v.trim_start, v.trim_duration);
  return buf;
}

std::string AudioKey(const AudioSettings& a, int channels) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%d|%lld|%d|%d|%.3f|%.3f|%.2f", int(a.codec),
                (long long)a.bitrate, channels, a.sample_rate, a.trim_start, a.trim_duration,
                a.normalize_lufs);
  return buf;
}

// Keeps a window [start, start + duration) inside the source; says what it changed.
std::string ClampWindow(double source_duration, double* start, double* duration,
                        std::vector<std::string>* notes) {
  if (*duration <= 0) return "";
  if (*start >= source_duration) {
    char buf[128];
    std::snprintf(buf, sizeof(buf), "starts at %.2f s, after the end of the source (%.2f s)",
                  *start, source_duration);
    return buf;
  }
  if (*start + *duration > source_duration) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "clamped to %.2f s: the source ends %.2f s after the start",
                  source_duration - *start, source_duration - *start);
    notes->push_back(buf);
    *duration = source_duration - *start;
  }
  return "";
}

class Scheduler : public DecodedSink {
 public:
  Scheduler(const TranscodePlan& plan, const TranscodeOptions& options, int threads,
            const RunWindow* window = nullptr)
      : plan_(plan),
        options_(options),
        threads_(threads),
        window_(window),
        run_(options.cancel),
        source_(plan, &run_, threads),
        taps_(&run_) {}

  // The run, its errors naming staged folders by their paths (Staging::Named).
  Result<TranscodeResult> Run() {
    Result<TranscodeResult> result = RunStages();
    if (!result.ok()) return staging_.Named(result.status());
    return result;
  }

  // DecodedSink, on the decode thread.
  Status Video(AVFrame* frame, double start, double end) override;
  Status Audio(int track, AVFrame* frame) override;
  Status InputEnd() override { return taps_.FinishVideo(); }
  void Tick() override { ReportProgress(false); }

 private:
  Result<TranscodeResult> RunStages();

  struct Rendition {
    std::string key;
    std::unique_ptr<VideoRendition> video;
    std::unique_ptr<AudioRendition> audio;
    bool hdr = false;  // reads the kept-HDR frames, not the tone-mapped branch
    int track = 0;     // audio: the Source's track it encodes
  };
  Status PushVideo(AVFrame* frame, bool hdr);
  Status MeasureLoudnessIfNeeded();
  Status ReadSubtitles();
  Status PlanOutputs();
  VideoRendition* AddVideo(const VideoSettings& v);
  AudioRendition* AddAudio(const AudioSettings& a, int track = 0);
  Result<std::vector<HlsPackage::AudioTrack>> PlanAudioTracks(const HlsOutputPlan& h,
                                                              const AudioSettings& a,
                                                              std::vector<std::string>* notes);
  Status OpenRenditions();
  Status OpenMuxers();
  bool ThumbnailsOnly() const;
  void StopAndJoin();
  void ReportProgress(bool final);
  Result<TranscodeResult> Collect();

  const TranscodePlan& plan_;
  const TranscodeOptions& options_;
  const int threads_;
  const RunWindow* window_;  // chunked encoding: part of the work (RunWindow); null: all of it
  RunState run_;
  // Declared before the stages that write into it: its destructor removes what was not
  // committed, after they are gone.
  Staging staging_;
  Source source_;
  TapStage taps_;
  MuxStage mux_;
  std::vector<Rendition> videos_, audios_;
  std::vector<HlsPackage> packages_;
  std::vector<FileOutput> files_;
  std::vector<OutputResult> unavailable_;  // outputs this source cannot give
  std::optional<Loudness> measured_;       // first pass of loudness normalisation
  std::vector<SubtitleTrack> subtitles_;   // the packages' subtitle renditions
  // A kept-HDR source that some rendition or tap wants in SDR: the tone-mapped branch, run once
  // on the decode thread for all of them.
  FilterChain tonemap_;
  bool tonemapping_ = false;
  FramePtr mapped_ = MakeFrame();

  Clock::time_point started_ = Clock::now();
  Clock::time_point last_progress_{};
};

VideoRendition* Scheduler::AddVideo(const VideoSettings& v) {
  VideoFormat f = source_.format();
  Size picture = FitOutputSize(source_.display(), v);
  // Letterboxed: a fixed frame, the picture centred in it.
  f.size = v.letterbox ? Size{v.width, v.height} : picture;
  if (v.fps > 0) f.frame_rate = source_.FrameRate(v.fps);
  if (v.keep_pixel_format)
    f.pixel_format = static_cast<AVPixelFormat>(av_buffersink_get_format(source_.normalised()));
  // The source's frames are HDR when some output keeps it; the others read them tone-mapped.
  bool hdr = source_.picture().keep_hdr && v.keep_hdr;
  if (source_.picture().keep_hdr && !hdr) ColourAfterToneMap(&f);
  if (!hdr) f.hdr = {};
  if (v.bit_depth == 10) f.pixel_format = AV_PIX_FMT_YUV420P10LE;
  std::string key = VideoKey(v, f, picture);
  for (Rendition& r : videos_)
    if (r.key == key) return r.video.get();
  videos_.push_back({key, std::make_unique<VideoRendition>(v, f, picture), nullptr, hdr});
  return videos_.back().video.get();
}

AudioRendition* Scheduler::AddAudio(const AudioSettings& a, int track) {
  int channels = std::min(source_.audio_channels(track), a.max_channels);
  std::string key = AudioKey(a, channels) + "|" + std::to_string(track);
  for (Rendition& r : audios_)
    if (r.key == key) return r.audio.get();
  double gain_db = 0;
  if (a.normalize_lufs != 0 && measured_) {
    // Linear normalisation (EBU R128 s1): one gain to reach the target, held down so that the
    // true peak stays at or below -1 dBTP.
    gain_db = std::min(a.normalize_lufs - measured_->integrated, -1.0 - measured_->true_peak);
  }
  audios_.push_back({key, nullptr, std::make_unique<AudioRendition>(a, channels, gain_db)});
  audios_.back().track = track;
  return audios_.back().audio.get();
}

// Names the tracks players list when there are several (one keeps hls::AudioEntry's "default"):
// the job's, else the stream's title, else its language, else "Audio N"; each unique in the
// group and fit for a quoted playlist attribute.
void NameAudioTracks(std::vector<HlsPackage::AudioTrack>* tracks,
                     const std::vector<std::string>& titles) {
  if (tracks->size() < 2) return;
  std::set<std::string> taken;
  for (const HlsPackage::AudioTrack& t : *tracks) taken.insert(t.name);
  for (size_t i = 0; i < tracks->size(); ++i) {
    HlsPackage::AudioTrack& t = (*tracks)[i];
    if (!t.name.empty()) continue;
    std::string name = titles[i];
    bool fit = !name.empty() && name.size() <= 64 &&
               std::none_of(name.begin(), name.end(),
                            [](char c) { return c == '"' || (unsigned char)(c) < 0x20; });
    if (!fit) name = !t.language.empty() ? t.language : "Audio " + std::to_string(i + 1);
    std::string unique = name;
    for (int n = 2; taken.count(unique); ++n) unique = name + " " + std::to_string(n);
    t.name = unique;
    taken.insert(unique);
  }
}

// A package's audio tracks: those it chose, else every audio stream of the source (at most
// kMaxAudioTracks), the default the one the container marks so. Previews, joined sources and a
// replacement track have one: the main audio.
Result<std::vector<HlsPackage::AudioTrack>> Scheduler::PlanAudioTracks(
    const HlsOutputPlan& h, const AudioSettings& a, std::vector<std::string>* notes) {
  std::string field = "outputs[" + std::to_string(h.index) + "].audio_tracks";
  if (!source_.has_audio()) {
    if (h.audio_tracks.empty()) return std::vector<HlsPackage::AudioTrack>{};
    return InvalidArgument(field + ": the source has no audio stream");
  }
  if (h.single || !source_.several_audio_tracks()) {
    if (!h.audio_tracks.empty())
      return InvalidArgument(field + ": chooses among one source's own audio streams");
    return std::vector<HlsPackage::AudioTrack>{
        {AddAudio(a), StreamLanguage(source_.audio_language()), "", true}};
  }
  std::vector<presets::AudioTrackChoice> chosen = h.audio_tracks;
  if (chosen.empty()) {
    int count = std::min(source_.audio_stream_count(), presets::kMaxAudioTracks);
    int main = source_.default_audio_stream();
    for (int i = 0; i < count; ++i) chosen.push_back({i, "", "", i == main});
  }
  std::vector<HlsPackage::AudioTrack> tracks;
  std::vector<std::string> titles;  // the streams' own names
  for (size_t i = 0; i < chosen.size(); ++i) {
    const presets::AudioTrackChoice& c = chosen[i];
    Result<int> track = source_.KeepAudioStream(c.stream);
    if (!track.ok() && h.audio_tracks.empty()) {
      // Kept by default, not chosen: a stream without a decoder is left out, as before tracks.
      notes->push_back("audio stream " + std::to_string(c.stream) +
                       " left out: " + track.status().message());
      continue;
    }
    if (!track.ok())
      return track.status().WithContext(field + "[" + std::to_string(i) + "].stream");
    // Loudness is measured on the main audio only: other tracks keep their level.
    AudioSettings settings = a;
    if (*track != 0 && settings.normalize_lufs != 0) {
      settings.normalize_lufs = 0;
      std::string note = "normalize: applied to the source's main audio stream only";
      if (std::find(notes->begin(), notes->end(), note) == notes->end()) notes->push_back(note);
    }
    std::string language =
        c.language.empty() ? StreamLanguage(source_.AudioTag("language", *track)) : c.language;
    tracks.push_back({AddAudio(settings, *track), language, c.name, c.is_default});
    titles.push_back(source_.AudioTag("title", *track));
  }
  NameAudioTracks(&tracks, titles);
  return tracks;
}

Status Scheduler::PlanOutputs() {
  if (plan_.hls.empty() && plan_.files.empty() && plan_.thumbnails.empty() &&
      plan_.sprites.empty() && plan_.waveforms.empty() && plan_.loudness.empty())
    return InvalidArgument("no outputs requested");
  double duration = source_.duration();
  // The per-title pre-passes this run makes (a choice given to it is not analysed again).
  int analysed = 0, analyses = 0;
  for (const HlsOutputPlan& h : plan_.hls)
    analyses += !h.single && h.ladder.per_title && h.per_title_choice.is_null();
  for (const HlsOutputPlan& h : plan_.hls) {
    HlsPackage p;
    p.plan = &h;
    p.hdr_source = source_.has_video() && *HdrTransfer(source_.picture().transfer) != 0;
    presets::Preset single = h.single.value_or(presets::Preset{});
    if (h.single) {
      std::string why =
          ClampWindow(duration, &single.video.trim_start, &single.video.trim_duration, &p.notes);
      single.audio.trim_duration = single.video.trim_duration;
      if (!why.empty()) {
        unavailable_.push_back(UnavailableOutput(h.index, h.kind, h.directory, why));
        continue;
      }
    }
    Result<std::string> dir = staging_.StageDirectory(h.directory);
    if (!dir.ok()) return dir.status();
    p.temp_dir = *dir;
    bool window_video = !window_ || window_->kind == RunWindow::Kind::kVideoRange;
    bool window_audio = !window_ || window_->kind == RunWindow::Kind::kAudioOnly;
    if (window_ && window_video) {
      p.first_segment = window_->first_segment;
      p.first_frame = window_->first_frame;
    }
    if (window_video && source_.PictureFor(h.background || h.single)) {  // a preview is a picture
      if (h.single) {
        p.variants.push_back({std::string(layout::kPreviewRendition), AddVideo(single.video)});
      } else {
        double fps = av_q2d(source_.format().frame_rate);
        std::vector<presets::Rung> rungs = SelectRungs(h.ladder, source_.display(), fps);
        if (h.ladder.per_title) {
          // Before the encode, which reports the run's progress: the pre-pass reports its own.
          Result<PerTitleChoice> c =
              ChoosePerTitle(plan_, h, source_, rungs, threads_, options_.cancel,
                             ReportAnalysis(options_, analysed++, analyses, started_));
          if (!c.ok()) return c.status().WithContext("per-title analysis");
          rungs = ApplyChoice(rungs, *c);
          p.per_title = std::move(c).value();
        }
        for (const presets::Rung& rung : rungs) {
          p.variants.push_back({rung.name, AddVideo(presets::RungVideoSettings(h.ladder, rung))});
          if (h.quality) p.variants.back().video->MeasureQuality(kQualityEvery);
        }
      }
    }
    if (window_audio) {
      Result<std::vector<HlsPackage::AudioTrack>> tracks =
          PlanAudioTracks(h, h.single ? single.audio : h.ladder.audio, &p.notes);
      if (!tracks.ok()) return tracks.status();
      p.audio = std::move(tracks).value();
    }
    if (!h.single) p.subtitles = &subtitles_;
    packages_.push_back(std::move(p));
  }
  for (const FileOutputPlan& f : plan_.files) {
    FileOutput out;
    out.plan = &f;
    presets::Preset preset = f.preset;
    std::string why =
        ClampWindow(duration, &preset.video.trim_start, &preset.video.trim_duration, &out.notes);
    preset.audio.trim_duration = preset.video.trim_duration;
    if (!why.empty()) {
      unavailable_.push_back(UnavailableOutput(
          f.index, f.kind.empty() ? presets::ContainerName(f.preset.container) : f.kind, f.path,
          why));
      continue;
    }
    Result<std::string> path = staging_.StageFile(f.path);
    if (!path.ok()) return path.status();
    out.temp_path = *path;
    // A chunk writes a chunked MP4's video, the audio task its audio (chunk.h).
    bool window_video = !window_ || window_->kind == RunWindow::Kind::kVideoRange;
    bool window_audio = !window_ || window_->kind == RunWindow::Kind::kAudioOnly;
    if (window_video && source_.PictureFor(true)) out.video = AddVideo(preset.video);
    if (out.video && f.quality) out.video->MeasureQuality(kQualityEvery);
    if (window_audio && source_.has_audio()) out.audio = AddAudio(preset.audio);
    files_.push_back(std::move(out));
  }
  TapStage::SourceFacts facts;
  facts.has_video = source_.has_video();
  facts.drawn = source_.drawn();
  facts.has_audio = source_.has_audio();
  facts.duration = duration;
  facts.display = source_.display();
  if (source_.has_audio()) facts.audio_args = source_.AudioArgs();
  facts.loudness_measured = measured_.has_value();
  REEL_RETURN_IF_ERROR(taps_.Plan(plan_, facts, &staging_, &unavailable_));
  REEL_RETURN_IF_ERROR(OpenRenditions());
  return OpenMuxers();
}

Status Scheduler::OpenRenditions() {
  // Encoder threads follow each rendition's share of the pixels, so the biggest rung, which
  // bounds the wall time, gets the most.
  double total_pixels = 0;
  for (Rendition& r : videos_) {
    Size s = r.video->format().size;
    total_pixels += double(s.width) * s.height;
  }
  std::string video_args = source_.has_video() ? VideoSourceArgs(source_.normalised()) : "";
  std::string sdr_args = video_args;
  bool sdr_wanted = !taps_.video_taps().empty();
  for (Rendition& r : videos_) sdr_wanted |= !r.hdr;
  if (source_.picture().keep_hdr && sdr_wanted) {
    Result<FilterChain> fc =
        BuildChain(true, video_args, ToneMapFilters(source_.picture()), threads_);
    if (!fc.ok()) return fc.status();
    tonemap_ = std::move(fc).value();
    tonemapping_ = true;
    sdr_args = VideoSourceArgs(tonemap_.sink);
  }
  for (Rendition& r : videos_) {
    // A rendition's own `fps` would fill the time before a chunk's first frame.
    if (window_ && av_cmp_q(r.video->format().frame_rate, source_.format().frame_rate) != 0)
      return FailedPrecondition(
          "chunked encoding: a rendition at a frame rate other than the source's");
    Size s = r.video->format().size;
    double share = double(s.width) * s.height / total_pixels;
    int threads = std::clamp(static_cast<int>(std::ceil(threads_ * share)), 1, threads_);
    REEL_RETURN_IF_ERROR(
        r.video->Open(threads, r.hdr ? video_args : sdr_args, source_.format().frame_rate, &run_));
  }
  if (audios_.empty()) return Status::Ok();
  double replaced = source_.audio_replaced() ? source_.duration() : 0;
  for (Rendition& r : audios_)
    REEL_RETURN_IF_ERROR(r.audio->Open(source_.AudioArgs(r.track), replaced));
  return Status::Ok();
}

// Packages first, then files: the order the muxers finish in.
Status Scheduler::OpenMuxers() {
  for (const HlsPackage& p : packages_) REEL_RETURN_IF_ERROR(MuxPackage(p, &mux_));
  for (const FileOutput& f : files_) {
    MuxTarget video, audio;
    // A trimmed file's cues move with its window (the clamped one the encoder got).
    const presets::VideoSettings& v = f.video ? f.video->settings() : f.plan->preset.video;
    double length = v.trim_duration > 0 ? v.trim_duration : source_.duration() - v.trim_start;
    FileSubtitles text{&subtitles_, v.trim_start, std::max(0.0, length)};
    REEL_RETURN_IF_ERROR(
        mux_.OpenFile(f.temp_path, f.plan->preset.container, f.video ? f.video->encoder() : nullptr,
                      f.audio ? f.audio->encoder() : nullptr, &video, &audio, text));
    if (f.video) f.video->AddTarget(video);
    if (f.audio) f.audio->AddTarget(audio);
  }
  if (window_ && window_->kind == RunWindow::Kind::kVideoRange) {
    // The encoder time base is the frame grid (renditions run at the source's rate here).
    const int64_t end = window_->end_frame < 0 ? INT64_MAX : window_->end_frame;
    for (Rendition& r : videos_) r.video->KeepPackets(window_->first_frame, end);
    // A file's keyframes follow its own GOP and the scene cuts, not the chunks: an IDR at both
    // ends makes the range decodable alone (a package's rungs have them there already).
    for (const FileOutput& f : files_)
      if (f.video) f.video->ForceKeyframes(window_->first_frame, end);
  }
  return Status::Ok();
}

Status Scheduler::Video(AVFrame* frame, double start, double end) {
  if (window_) {
    // Only the chunk's frames, counted on the global grid.
    int64_t n = std::llround(start * av_q2d(source_.format().frame_rate));
    if (n < window_->first_frame - window_->lead_frames ||
        (window_->end_frame >= 0 && n >= window_->end_frame + window_->tail_frames))
      return Status::Ok();
  }
  if (tonemapping_) {
    // The HDR frame to the renditions that keep it; its tone-mapped copy (one frame for one:
    // nothing stays buffered in the branch) to the taps and the others.
    REEL_RETURN_IF_ERROR(PushVideo(frame, true));
    int err = av_buffersrc_add_frame_flags(tonemap_.source, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
    if (err < 0) return AvStatus(err, "tone mapping");
    for (;;) {
      err = av_buffersink_get_frame(tonemap_.sink, mapped_.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
      if (err < 0) return AvStatus(err, "tone mapping");
      Status status = taps_.OnVideo(mapped_.get(), start, end);
      if (status.ok()) status = PushVideo(mapped_.get(), false);
      av_frame_unref(mapped_.get());
      REEL_RETURN_IF_ERROR(status);
    }
  }
  REEL_RETURN_IF_ERROR(taps_.OnVideo(frame, start, end));
  return PushVideo(frame, source_.picture().keep_hdr);
}

Status Scheduler::PushVideo(AVFrame* frame, bool hdr) {
  for (Rendition& r : videos_) {
    if (r.hdr != hdr) continue;
    FramePtr ref(av_frame_clone(frame));
    if (!ref) return Internal("out of memory");
    if (!r.video->Push(std::move(ref))) return Status::Ok();  // stopping
  }
  return Status::Ok();
}

Status Scheduler::Audio(int track, AVFrame* frame) {
  if (frame && track == 0) REEL_RETURN_IF_ERROR(taps_.OnAudio(frame));  // taps hear the main audio
  for (Rendition& r : audios_)
    if (r.track == track) REEL_RETURN_IF_ERROR(r.audio->Feed(frame));
  return Status::Ok();
}

// A job of thumbnails alone need not decode the whole source: for each time it seeks to the
// keyframe before it and decodes from there to the exact frame.
bool Scheduler::ThumbnailsOnly() const {
  return !window_ && plan_.inputs.size() <= 1 && !plan_.thumbnails.empty() && plan_.hls.empty() &&
         plan_.files.empty() && plan_.sprites.empty() && plan_.waveforms.empty() &&
         plan_.loudness.empty() && plan_.subtitles.empty() && source_.has_video() &&
         !source_.drawn() && source_.SeekingSuitsSource();
}

// Closes every queue and waits for the threads, reporting progress while the encoders drain
// their queues and flush.
void Scheduler::StopAndJoin() {
  for (Rendition& r : videos_) r.video->Close();
  taps_.CloseAudio();
  auto all_finished = [this] {
    for (Rendition& r : videos_)
      if (!r.video->finished()) return false;
    return true;
  };
  while (!all_finished()) {
    ReportProgress(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (Rendition& r : videos_) r.video->Join();
  taps_.Join();
}

void Scheduler::ReportProgress(bool final) {
  if (!options_.on_progress) return;
  auto now = Clock::now();
  if (!final &&
      std::chrono::duration<double>(now - last_progress_).count() < options_.progress_interval)
    return;
  last_progress_ = now;
  Progress p;
  p.elapsed = SecondsSince(started_);
  // How far every output has come, in source time: the decode position, held back by each
  // rendition still encoding (a trimmed one counts from its window's start).
  double done = source_.decoded_seconds();
  int64_t frames = -1;
  for (Rendition& r : videos_) {
    int64_t f = r.video->frames();
    frames = frames < 0 ? f : std::min(frames, f);
    if (r.video->done()) continue;
    done = std::min(done, r.video->settings().trim_start + r.video->encoded_seconds());
  }
  for (Rendition& r : audios_)
    if (!r.audio->done())
      done = std::min(done, r.audio->settings().trim_start + r.audio->encoded_seconds());
  double duration = source_.duration();
  p.media_seconds = done;
  p.fraction = final ? 1.0 : (duration > 0 ? std::clamp(done / duration, 0.0, 0.999) : 0);
  p.fps = frames > 0 && p.elapsed > 0 ? frames / p.elapsed : 0;
  p.speed = p.elapsed > 0 ? done / p.elapsed : 0;
  options_.on_progress(p);
}

Result<TranscodeResult> Scheduler::Collect() {
  TranscodeResult result;
  result.source_duration = source_.duration();
  if (source_.has_video() && !source_.drawn()) {
    result.source_hdr = HdrTransfer(source_.picture().transfer);
    if (!DeinterlaceFilter(source_.picture()).empty())
      result.deinterlaced = DeinterlaceDoublesRate(source_.picture()) ? "field" : "frame";
  }
  for (HlsPackage& p : packages_) {
    p.closed_captions = source_.closed_captions();
    OutputResult out;
    out.index = p.plan->index;
    REEL_RETURN_IF_ERROR(AssemblePackage(p, &out));
    result.outputs.push_back(std::move(out));
  }
  for (const FileOutput& f : files_)
    result.outputs.push_back(DescribeFile(f, source_.duration(), measured_));
  REEL_RETURN_IF_ERROR(taps_.Describe(source_.duration(), measured_, &result.outputs));
  for (const OutputResult& u : unavailable_) result.outputs.push_back(u);
  std::stable_sort(result.outputs.begin(), result.outputs.end(),
                   [](const OutputResult& a, const OutputResult& b) { return a.index < b.index; });
  return result;
}

// Loudness normalisation needs the whole file's loudness before the first sample is encoded:
// a first pass reads the audio alone (cheap next to video decoding).
Status Scheduler::MeasureLoudnessIfNeeded() {
  bool normalize = false;
  for (const HlsOutputPlan& h : plan_.hls)
    normalize |= (h.single ? h.single->audio : h.ladder.audio).normalize_lufs != 0;
  for (const FileOutputPlan& f : plan_.files) normalize |= f.preset.audio.normalize_lufs != 0;
  if (!normalize || !source_.has_audio()) return Status::Ok();
  if (plan_.inputs.size() > 1 && plan_.audio_input.empty())
    return InvalidArgument(
        "normalize: not available when joining several sources (normalise each source, or "
        "give the job one \"audio\" track)");
  Result<Loudness> l =
      MeasureLoudness(plan_.audio_input.empty() ? plan_.input : plan_.audio_input, options_.cancel);
  if (!l.ok()) return l.status().WithContext("loudness measurement");
  measured_ = *l;
  return Status::Ok();
}

// Subtitle renditions are read whole before the run (they are small): the attached files, then
// the source's text streams, which a pass of their own reads without decoding any picture.
// Packages carry them as renditions, Matroska files as text tracks.
Status Scheduler::ReadSubtitles() {
  bool carried = false;
  for (const HlsOutputPlan& h : plan_.hls) carried |= !h.single;
  for (const FileOutputPlan& f : plan_.files)
    carried |= f.preset.container == presets::Container::kMatroska;
  if (!carried) return Status::Ok();
  for (const SubtitleInput& in : plan_.subtitle_tracks) {
    Result<SubtitleTrack> t = ReadSubtitleFile(in);
    if (!t.ok()) return t.status();
    subtitles_.push_back(std::move(t).value());
  }
  if (plan_.inputs.size() > 1) return Status::Ok();
  Result<std::vector<SubtitleTrack>> own =
      ReadSubtitleStreams(plan_.input, source_.timeline_zero(), options_.cancel);
  if (!own.ok()) return own.status();
  for (SubtitleTrack& t : *own) subtitles_.push_back(std::move(t));
  return Status::Ok();
}

Result<TranscodeResult> Scheduler::RunStages() {
  // 1. Plan.
  REEL_RETURN_IF_ERROR(source_.Open());
  REEL_RETURN_IF_ERROR(CheckSourceDuration(source_.duration(), options_.max_source_duration));
  source_.LimitLength(options_.max_source_duration);
  if (window_) {
    // Two frames of margin before the first frame: `fps` (round=near) sees what it weighs.
    double rate = av_q2d(source_.format().frame_rate);
    bool audio = window_->kind == RunWindow::Kind::kAudioOnly;
    source_.SetWindow(
        audio ? 0 : (window_->first_frame - window_->lead_frames - 2) / rate,
        audio || window_->end_frame < 0 ? -1 : (window_->end_frame + window_->tail_frames) / rate,
        audio);
    if (audio) REEL_RETURN_IF_ERROR(MeasureLoudnessIfNeeded());
  } else {
    REEL_RETURN_IF_ERROR(MeasureLoudnessIfNeeded());
    REEL_RETURN_IF_ERROR(ReadSubtitles());
  }
  REEL_RETURN_IF_ERROR(PlanOutputs());
  // 2. Start.
  taps_.Start();
  for (Rendition& r : videos_) r.video->Start();
  // 3. Feed, and 4. drain.
  Status decoded =
      ThumbnailsOnly() ? source_.RunSeeking(taps_.video_taps(), this) : source_.Run(this);
  if (!decoded.ok()) run_.Fail(decoded);
  StopAndJoin();
  REEL_RETURN_IF_ERROR(run_.Outcome());
  REEL_RETURN_IF_ERROR(mux_.FinishAll());
  Result<TranscodeResult> result = Collect();
  if (!result.ok()) return result;
  REEL_RETURN_IF_ERROR(run_.Outcome());  // a cancel that came during the trailers still counts
  REEL_RETURN_IF_ERROR(staging_.Commit(options_.check_destination));
  result->elapsed = SecondsSince(started_);
  ReportProgress(true);
  return result;
}

}  // namespace

int UsableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Result<TranscodeResult> Transcode(const TranscodePlan& plan, const TranscodeOptions& options) {
  InitLibavLogging();
  int threads = options.threads > 0 ? options.threads : UsableCores();
  Scheduler s(plan, options, threads);
  return s.Run();
}

Result<TranscodeResult> TranscodeWindow(const TranscodePlan& plan, const TranscodeOptions& options,
                                        const RunWindow& window) {
  InitLibavLogging();
  int threads = options.threads > 0 ? options.threads : UsableCores();
  Scheduler s(plan, options, threads, &window);
  return s.Run();
}

}  // namespace reel::engine
