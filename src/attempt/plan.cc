#include "attempt/plan.h"

#include <tuple>

#include "layout/layout.h"

namespace reel::attempt {

Result<AttemptPlan> MakePlan(const job::JobSpec& spec, const Resolver& resolve) {
  AttemptPlan out;
  engine::TranscodePlan& plan = out.engine;
  if (spec.sources.empty()) {
    Result<std::string> input = resolve(spec.source, "source", Role::kSource);
    if (!input.ok()) return input.status();
    plan.input = *input;
  }
  for (size_t i = 0; i < spec.sources.size(); ++i) {
    Result<std::string> p =
        resolve(spec.sources[i], "sources[" + std::to_string(i) + "]", Role::kSource);
    if (!p.ok()) return p.status();
    plan.inputs.push_back(*p);
  }
  plan.main_input = spec.main_source;
  plan.deinterlace = spec.deinterlace;
  for (auto [value, field, target] : {std::tuple{&spec.audio, "audio", &plan.audio_input},
                                      std::tuple{&spec.subtitles, "subtitles", &plan.subtitles}}) {
    if (value->empty()) continue;
    Result<std::string> p = resolve(*value, field, Role::kSource);
    if (!p.ok()) return p.status();
    *target = *p;
  }
  for (size_t i = 0; i < spec.subtitle_tracks.size(); ++i) {
    const job::SubtitleTrackSpec& t = spec.subtitle_tracks[i];
    std::string field = "subtitle_tracks[" + std::to_string(i) + "]";
    Result<std::string> p = resolve(t.url, field + ".url", Role::kSource);
    if (!p.ok()) return p.status();
    plan.subtitle_tracks.push_back({*p, field, t.language, t.name});
  }
  for (size_t i = 0; i < spec.outputs.size(); ++i) {
    const job::OutputSpec& o = spec.outputs[i];
    int index = static_cast<int>(i);
    PlannedOutput planned{index, o.kind, {}};
    std::string where = "outputs[" + std::to_string(i) + "]";
    bool directory = o.kind == "hls" || o.kind == "dash" ||
                     (o.kind == "preview" && o.preview_hls) ||
                     (o.kind == "thumbnail" && o.thumbnail.count > 1);
    std::string dest;
    if (!o.destination.empty()) {
      std::string field = where + ".destination";
      Result<std::string> d =
          resolve(o.destination, field, directory ? Role::kDirectory : Role::kFile);
      if (!d.ok()) return d.status();
      dest = *d;
      planned.files.push_back({field, o.destination, dest, true});
    }
    bool background = !o.background.empty();
    if (background) plan.background = o.background;  // the spec has checked they agree
    if (o.kind == "hls" || o.kind == "dash") {
      plan.hls.push_back(
          {index, dest, o.ladder, o.dash, std::nullopt, o.kind, background, o.quality});
      plan.hls.back().audio_tracks = o.audio_tracks;
    } else if (o.kind == "preview" && o.preview_hls) {
      plan.hls.push_back(
          {index, dest, presets::Ladder{}, false, o.preset, "preview", background, false});
    } else if (o.kind == "mp4" || o.kind == "webm" || o.kind == "mkv" || o.kind == "preview" ||
               o.kind == "mezzanine") {
      bool container = o.kind == "mp4" || o.kind == "webm" || o.kind == "mkv";
      plan.files.push_back({index, dest, o.preset, container ? "" : o.kind, o.quality});
    } else if (o.kind == "thumbnail") {
      plan.thumbnails.push_back({index, dest, o.thumbnail, background});
    } else if (o.kind == "sprite") {
      plan.sprites.push_back({index, dest, o.sprite, background});
      // The engine writes the sheet's WebVTT track beside it; it goes beside it too.
      if (!planned.files.empty())
        planned.files.push_back({planned.files[0].field, layout::SpriteVttPath(o.destination),
                                 layout::SpriteVttPath(dest), false});
    } else if (o.kind == "waveform") {
      engine::WaveformPlan w{index, dest, o.waveform};
      if (!w.options.image.empty()) {
        std::string field = where + ".image";
        std::string url = w.options.image;
        Result<std::string> img = resolve(url, field, Role::kFile);
        if (!img.ok()) return img.status();
        w.options.image = *img;
        planned.files.push_back({field, url, *img, false});
      }
      plan.waveforms.push_back(std::move(w));
    } else if (o.kind == "loudness") {
      plan.loudness.push_back({index, dest});
    }
    out.outputs.push_back(std::move(planned));
  }
  return out;
}

}  // namespace reel::attempt
