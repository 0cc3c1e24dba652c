#include "engine/tap_stage.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/images.h"
#include "engine/package.h"
#include "engine/staging.h"
#include "layout/layout.h"

namespace reel::engine {

namespace fs = std::filesystem;

namespace {

// An audio-only source gives a picture only when the output names what to draw it on.
std::string NoPicture(int index) {
  return "the source has no video stream; give outputs[" + std::to_string(index) +
         "].background (a colour, \"waveform\" or \"spectrum\") to draw its audio";
}

}  // namespace

TapStage::~TapStage() { Join(); }

Status TapStage::Plan(const TranscodePlan& plan, const SourceFacts& source, Staging* staging,
                      std::vector<OutputResult>* unavailable) {
  auto mark = [&](int index, const std::string& kind, const std::string& path,
                  const std::string& why) {
    unavailable->push_back(UnavailableOutput(index, kind, path, why));
  };
  double duration = source.duration;
  for (const ThumbnailPlan& t : plan.thumbnails) {
    if (!source.has_video || (source.drawn && !t.background)) {
      mark(t.index, "thumbnail", t.destination, NoPicture(t.index));
      continue;
    }
    double at = t.options.at.Seconds(duration);
    if (t.options.count == 1 && duration > 0 && at > duration) {
      char why[128];
      std::snprintf(why, sizeof(why), "%.2f s is past the end of the source (%.2f s)", at,
                    duration);
      mark(t.index, "thumbnail", t.destination, why);
      continue;
    }
    Result<std::string> staged = t.options.count > 1 ? staging->StageDirectory(t.destination)
                                                     : staging->StageFile(t.destination);
    if (!staged.ok()) return staged.status();
    video_taps_.push_back(
        {t.index, "thumbnail", t.destination, "",
         MakeThumbnailTap(t.options, *staged, fs::path(t.destination).filename().string(), duration,
                          source.display)});
  }
  for (const SpritePlan& sp : plan.sprites) {
    if (!source.has_video || (source.drawn && !sp.background)) {
      mark(sp.index, "sprite", sp.destination, NoPicture(sp.index));
      continue;
    }
    std::string vtt = layout::SpriteVttPath(sp.destination);
    Result<std::string> sheet = staging->StageFile(sp.destination);
    if (!sheet.ok()) return sheet.status();
    Result<std::string> staged_vtt = staging->StageFile(vtt);
    if (!staged_vtt.ok()) return staged_vtt.status();
    video_taps_.push_back(
        {sp.index, "sprite", sp.destination, vtt,
         MakeSpriteTap(sp.options, *sheet, *staged_vtt,
                       fs::path(sp.destination).filename().string(), duration, source.display)});
  }
  for (const WaveformPlan& w : plan.waveforms) {
    if (!source.has_audio) {
      mark(w.index, "waveform", w.destination, "the source has no audio stream");
      continue;
    }
    Result<std::string> json_path = staging->StageFile(w.destination);
    if (!json_path.ok()) return json_path.status();
    std::string image;
    if (!w.options.image.empty()) {
      Result<std::string> staged = staging->StageFile(w.options.image);
      if (!staged.ok()) return staged.status();
      image = *staged;
    }
    Result<std::unique_ptr<AudioTap>> tap =
        MakeWaveformTap(w.options, source.audio_args, *json_path, image);
    if (!tap.ok()) return tap.status();
    audio_taps_.push_back(
        {w.index, "waveform", w.destination, w.options.image, *json_path, std::move(*tap)});
  }
  for (const LoudnessPlan& l : plan.loudness) {
    if (!source.has_audio) {
      mark(l.index, "loudness", l.destination, "the source has no audio stream");
      continue;
    }
    std::string staged;
    if (!l.destination.empty()) {
      Result<std::string> st = staging->StageFile(l.destination);
      if (!st.ok()) return st.status();
      staged = *st;
    }
    std::unique_ptr<AudioTap> tap;
    if (!source.loudness_measured) {
      Result<std::unique_ptr<LoudnessMeter>> meter = LoudnessMeter::Create(source.audio_args);
      if (!meter.ok()) return meter.status();
      tap = std::move(*meter);
    }
    audio_taps_.push_back({l.index, "loudness", l.destination, "", staged, std::move(tap)});
  }
  return Status::Ok();
}

std::vector<VideoTap*> TapStage::video_taps() const {
  std::vector<VideoTap*> taps;
  for (const VideoTapState& t : video_taps_) taps.push_back(t.tap.get());
  return taps;
}

void TapStage::Start() {
  bool analysis = false;
  for (const AudioTapState& t : audio_taps_) analysis |= t.tap != nullptr;
  if (!analysis) return;
  analysis_queue_ = std::make_unique<FrameQueue>(64, run_);
  analysis_thread_ = std::thread([this] { AnalysisLoop(); });
}

Status TapStage::OnVideo(const AVFrame* frame, double start, double end) {
  for (VideoTapState& t : video_taps_) REEL_RETURN_IF_ERROR(t.tap->OnFrame(frame, start, end));
  return Status::Ok();
}

Status TapStage::OnAudio(const AVFrame* frame) {
  if (!analysis_queue_) return Status::Ok();
  FramePtr ref(av_frame_clone(frame));
  if (!ref) return Internal("out of memory");
  analysis_queue_->Push(std::move(ref));  // false only when stopping
  return Status::Ok();
}

Status TapStage::FinishVideo() {
  for (VideoTapState& t : video_taps_) REEL_RETURN_IF_ERROR(t.tap->Finish());
  return Status::Ok();
}

void TapStage::CloseAudio() {
  if (analysis_queue_) analysis_queue_->Close();
}

void TapStage::Join() {
  if (analysis_thread_.joinable()) analysis_thread_.join();
}

void TapStage::AnalysisLoop() {
  Status status;
  while (FramePtr frame = analysis_queue_->Pop()) {
    for (AudioTapState& t : audio_taps_)
      if (t.tap && status.ok()) status = t.tap->OnFrame(frame.get());
    if (!status.ok()) break;
  }
  if (status.ok() && !run_->ShouldStop())
    for (AudioTapState& t : audio_taps_)
      if (t.tap && status.ok()) status = t.tap->OnFrame(nullptr);
  if (!status.ok()) {
    run_->Fail(status);
    analysis_queue_->ConsumerGone();
  }
}

Status TapStage::Describe(double duration, const std::optional<Loudness>& measured,
                          std::vector<OutputResult>* results) const {
  for (const VideoTapState& t : video_taps_) {
    OutputResult out;
    out.index = t.index;
    out.kind = t.kind;
    out.path = t.path;
    out.details = t.tap->Describe();
    if (!t.extra.empty()) out.details["vtt"] = t.extra;
    out.width = out.details.value("width", 0);
    out.height = out.details.value("height", 0);
    if (out.details.contains("bytes")) out.bytes = out.details["bytes"];
    for (const auto& img : out.details.value("images", nlohmann::json::array()))
      out.bytes += img.value("bytes", int64_t{0});
    results->push_back(std::move(out));
  }
  for (const AudioTapState& t : audio_taps_) {
    OutputResult out;
    out.index = t.index;
    out.kind = t.kind;
    out.path = t.path;
    if (t.kind == "loudness") {
      Loudness l = t.tap ? static_cast<LoudnessMeter*>(t.tap.get())->Value() : *measured;
      auto r1 = [](double v) { return std::round(v * 10) / 10; };
      out.details = {{"integrated_lufs", r1(l.integrated)},
                     {"range_lu", r1(l.range)},
                     {"true_peak_dbtp", r1(l.true_peak)}};
      if (!t.staged.empty()) {
        REEL_RETURN_IF_ERROR(WriteStagedFile(t.staged, out.details.dump(2) + "\n"));
        out.bytes = static_cast<int64_t>(out.details.dump(2).size() + 1);
      }
    } else {
      out.details = t.tap->Describe();
      if (!t.image.empty()) out.details["image"] = t.image;
      out.bytes = out.details.value("bytes", int64_t{0});
    }
    out.duration = duration;
    results->push_back(std::move(out));
  }
  return Status::Ok();
}

}  // namespace reel::engine
