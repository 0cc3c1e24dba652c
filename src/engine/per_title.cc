#include "engine/per_title.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

#include <sys/resource.h>

#include "engine/demux_decode.h"
#include "engine/per_title_probes.h"
#include "engine/quality.h"

namespace reel::engine {
namespace {

using presets::Rung;

// Three windows spread over the source, together 6 % of it (each 0.4 to 2 s): enough to see its
// content change (a slide deck's slides, a film's scenes) and little enough that the pre-pass
// stays a small part of the encode. Three 1.5 s windows of a 12 s 1080p source cost 59 % of
// the encode (bench/per_title.sh) with two probes on every window; with the second on the
// middle window only and luma-only comparisons, three 0.5 s windows of a 20 s source cost
// 12.7 % of the encode's CPU time on easy content, 13.8 % once the larger rungs were probed in
// a pass of their own; the 0.4 s minimum keeps a 20 s source at its 6 %.
constexpr int kWindows = 3;
constexpr double kSampledFraction = 0.06;
constexpr double kMinWindowSeconds = 0.4, kMaxWindowSeconds = 2;
// The main encode's one-pass rate control, under a VBV cap, lands a little below the quality of
// a constant-quality encode of the same size; the target is aimed this far above.
constexpr double kMarginDb = 0.5;
// A rung's curve may bend, but not by this much: outside, the probes are noise (a still picture
// coded in a few bytes at both settings).
constexpr double kMinSlope = 1.0, kMaxSlope = 12.0;  // dB per e-fold of bitrate
// Bits per pixel do not carry over between picture sizes as they are: a larger picture keeps
// detail (edges, text, grain) that the smaller one's scale averaged away. A rung estimated from
// a smaller one is taken to lose this much per e-fold of pixels on the smaller one's line
// (6.5 dB for 1080p read from 480p), so that only a plainly easy picture is estimated at its
// floor; the rest is probed.
constexpr double kDetailDbPerEfold = 4.0;

// User and system time of the whole process: the probe encoders' threads are its threads.
double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) { return double(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

}  // namespace

int64_t BitrateFloor(int64_t nominal) { return std::max<int64_t>(nominal / 6, 50'000); }

double Slope(ProbePoint a, ProbePoint b) {
  if (a.bitrate < b.bitrate) std::swap(a, b);  // a: the higher rate
  double slope = a.bitrate > 0 && b.bitrate > 0 && a.bitrate > b.bitrate
                     ? (a.psnr_y - b.psnr_y) / std::log(a.bitrate / b.bitrate)
                     : kMinSlope;
  return std::clamp(std::isfinite(slope) ? slope : kMinSlope, kMinSlope, kMaxSlope);
}

ProbePoint ChooseBitrate(ProbePoint a, ProbePoint b, double target, int64_t nominal) {
  if (a.bitrate < b.bitrate) std::swap(a, b);  // read from the higher rate
  return ChooseBitrate(a, Slope(a, b), target, nominal);
}

ProbePoint ChooseBitrate(ProbePoint a, double slope, double target, int64_t nominal) {
  double floor = double(BitrateFloor(nominal)), ceiling = double(std::max(nominal, int64_t(1)));
  double wanted =
      a.bitrate > 0 ? a.bitrate * std::exp((target + kMarginDb - a.psnr_y) / slope) : ceiling;
  double chosen = std::clamp(std::round(wanted / 1000) * 1000, std::min(floor, ceiling), ceiling);
  double predicted = a.bitrate > 0 ? a.psnr_y + slope * std::log(chosen / a.bitrate) : 0;
  return {chosen, std::min(predicted, kMaxPsnr)};
}

std::vector<bool> FirstPassRungs(const std::vector<Rung>& rungs) {
  std::vector<bool> first(rungs.size(), false);
  for (size_t i = 0; i < rungs.size(); ++i) {
    if (rungs[i].crf >= 0) continue;
    // Rungs of this codec from here down (this one included), and above it.
    int from_here = 0, above = 0;
    for (size_t j = 0; j < rungs.size(); ++j)
      if (rungs[j].codec == rungs[i].codec && rungs[j].crf < 0) ++(j < i ? above : from_here);
    // The lower half, rounded up: of 4 rungs 480p and 360p, of 2 the lower one.
    first[i] = from_here <= (above + from_here + 1) / 2;
  }
  return first;
}

bool EstimateFromBelow(const RungCurve& below, const RungChoice& below_choice,
                       double pixels_per_second, double target, RungChoice* above) {
  if (below.pixels_per_second <= 0 || below.point.bitrate <= 0 ||
      pixels_per_second < below.pixels_per_second || above->nominal <= 0)
    return false;
  const double point_bpp = below.point.bitrate / below.pixels_per_second;
  const double detail = kDetailDbPerEfold * std::log(pixels_per_second / below.pixels_per_second);
  // `below`'s line read at the bits per pixel `bitrate` gives `above`, less the detail.
  auto psnr_at = [&](double bitrate) {
    double psnr = below.point.psnr_y +
                  below.slope * std::log(bitrate / pixels_per_second / point_bpp) - detail;
    return std::round(std::min(psnr, kMaxPsnr) * 100) / 100;
  };
  if (below_choice.chosen >= below_choice.nominal &&
      above->nominal / pixels_per_second <= below_choice.nominal / below.pixels_per_second) {
    above->chosen = above->nominal;
    above->predicted_psnr_y = psnr_at(double(above->nominal));
    above->why = "estimated from " + below_choice.name +
                 ", which needs the ladder's bitrate: with no more bits per pixel, so does this "
                 "rung";
    above->estimated = true;
    return true;
  }
  const int64_t floor = BitrateFloor(above->nominal);
  if (below_choice.chosen <= BitrateFloor(below_choice.nominal) && floor < above->nominal &&
      psnr_at(double(floor)) >= target + kMarginDb) {
    above->chosen = floor;
    above->predicted_psnr_y = psnr_at(double(floor));
    char detail_db[16];
    std::snprintf(detail_db, sizeof detail_db, "%.1f", detail);
    above->why = "estimated from " + below_choice.name +
                 ", which reaches the target at its floor: read at this rung's floor in bits per "
                 "pixel, less " +
                 detail_db + " dB for the larger picture's detail, its line still does";
    above->estimated = true;
    return true;
  }
  return false;
}

Result<PerTitleChoice> AnalysePerTitle(const PerTitleSource& source, const presets::Ladder& ladder,
                                       const std::vector<Rung>& rungs, int threads,
                                       const std::atomic<bool>* cancel,
                                       const AnalysisProgress& progress) {
  auto started = std::chrono::steady_clock::now();
  const double cpu_before = ProcessCpuSeconds();
  PerTitleChoice choice;
  choice.target_psnr = ladder.target_psnr;
  for (const Rung& r : rungs) {
    RungChoice c;
    c.name = r.name;
    c.nominal = c.chosen = r.crf >= 0 ? r.maxrate : r.bitrate;
    if (r.crf >= 0) c.why = "constant quality (crf): not analysed";
    choice.rungs.push_back(c);
  }
  // Short sources get one window of at most the shortest length; the windows never overlap.
  int windows = source.duration >= kWindows * kMinWindowSeconds * 4 ? kWindows : 1;
  double length = std::clamp(source.duration * kSampledFraction / windows, kMinWindowSeconds,
                             kMaxWindowSeconds);
  length = std::min(length, source.duration / windows);
  choice.windows = windows;
  choice.window_seconds = length;
  std::vector<std::optional<RungCurve>> curves(rungs.size());
  auto choose = [&](const ProbePass& pass) {
    for (const ProbePass::Line& line : pass.lines) {
      RungChoice& c = choice.rungs[line.index];
      ProbePoint p =
          ChooseBitrate(line.curve.point, line.curve.slope, ladder.target_psnr, c.nominal);
      c.chosen = static_cast<int64_t>(p.bitrate);
      c.predicted_psnr_y = std::round(p.psnr_y * 100) / 100;
      if (c.chosen >= c.nominal) c.why = "the target needs the ladder's bitrate";
      curves[line.index] = line.curve;
    }
  };
  // Progress counts the windows' frames over two passes; with no second one it ends at once.
  const double frames = std::max(1.0, windows * length * av_q2d(source.format.frame_rate));
  int64_t fed = 0;
  auto on_frame = [&] {
    if (progress) progress(std::min(0.99, ++fed / (2 * frames)));
  };
  // The lower rungs first: their probes cost little, and they often decide the larger ones.
  const std::vector<bool> first = FirstPassRungs(rungs);
  Result<ProbePass> pass =
      RunProbePass(source, ladder, rungs, first, windows, length, threads, cancel, on_frame);
  if (!pass.ok()) return pass.status();
  choose(*pass);
  choice.sampled_frames = pass->frames;
  choice.held_frames = pass->held;
  std::vector<bool> second(rungs.size(), false);
  bool any_second = false;
  for (size_t i = 0; pass->fed && i < rungs.size(); ++i) {
    if (rungs[i].crf >= 0 || first[i]) continue;
    size_t below = i + 1;  // the largest probed rung under it
    while (below < rungs.size() && (rungs[below].codec != rungs[i].codec || !curves[below]))
      ++below;
    double pixels = PixelsPerSecond(PictureOf(source, ladder, rungs[i]));
    if (below < rungs.size() && EstimateFromBelow(*curves[below], choice.rungs[below], pixels,
                                                  ladder.target_psnr, &choice.rungs[i]))
      continue;
    second[i] = any_second = true;
  }
  if (any_second) {
    fed = std::max<int64_t>(fed, int64_t(frames));  // the second half
    Result<ProbePass> larger =
        RunProbePass(source, ladder, rungs, second, windows, length, threads, cancel, on_frame);
    if (!larger.ok()) return larger.status();
    choose(*larger);
  }
  if (!pass->fed)
    choice.note = "no picture was decoded in the sampled windows; the ladder's bitrates were used";
  DropRedundantRungs(rungs, &choice);
  if (progress) progress(1.0);
  choice.analysis_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  choice.analysis_cpu_seconds = ProcessCpuSeconds() - cpu_before;
  return choice;
}

void DropRedundantRungs(const std::vector<Rung>& rungs, PerTitleChoice* choice) {
  // From the bottom of each codec's set up: a rung that would not get more bits than the kept
  // rung below it adds nothing a player would switch up to.
  for (size_t i = choice->rungs.size(); i-- > 0;) {
    if (rungs[i].crf >= 0) continue;
    for (size_t below = i + 1; below < rungs.size(); ++below) {
      if (rungs[below].codec != rungs[i].codec || choice->rungs[below].dropped) continue;
      if (choice->rungs[i].chosen <= choice->rungs[below].chosen) {
        choice->rungs[i].dropped = true;
        choice->rungs[i].why =
            "its bitrate would not exceed the rung below's (" + choice->rungs[below].name + ")";
      }
      break;
    }
  }
}

std::vector<Rung> ApplyChoice(const std::vector<Rung>& rungs, const PerTitleChoice& choice) {
  std::vector<Rung> out;
  for (size_t i = 0; i < rungs.size() && i < choice.rungs.size(); ++i) {
    if (choice.rungs[i].dropped) continue;
    Rung r = rungs[i];
    if (r.crf < 0) {
      r.bitrate = choice.rungs[i].chosen;
      // A cap the ladder gave stays where it was unless the new rate passes it.
      if (r.maxrate > 0 && r.maxrate < r.bitrate) r.maxrate = 0;
    }
    out.push_back(std::move(r));
  }
  return out;
}

nlohmann::json PerTitleReport(const PerTitleChoice& choice,
                              const std::vector<VariantResult>& variants) {
  nlohmann::json rungs = nlohmann::json::array();
  for (const RungChoice& c : choice.rungs) {
    nlohmann::json j = {{"name", c.name},
                        {"nominal_bitrate", c.nominal},
                        {"bitrate", c.chosen},
                        {"dropped", c.dropped}};
    if (c.predicted_psnr_y > 0) j["predicted_psnr_y"] = c.predicted_psnr_y;
    if (c.estimated) j["estimated"] = true;
    if (!c.why.empty()) j["why"] = c.why;
    const VariantResult* v = nullptr;
    for (const VariantResult& r : variants)
      if (r.name == c.name) v = &r;
    if (v && v->quality.is_object() && v->quality.contains("psnr_y")) {
      j["psnr_y"] = v->quality["psnr_y"]["mean"];
      j["ssim"] = v->quality["ssim"]["mean"];
      j["quality_source"] = "measured";
    } else if (!c.dropped && c.predicted_psnr_y > 0) {
      j["psnr_y"] = c.predicted_psnr_y;
      j["quality_source"] = c.estimated ? "estimated" : "predicted";
    }
    rungs.push_back(std::move(j));
  }
  nlohmann::json out = {
      {"per_title", true},
      {"target_psnr", choice.target_psnr},
      {"analysis_seconds", std::round(choice.analysis_seconds * 1000) / 1000},
      {"analysis_cpu_seconds", std::round(choice.analysis_cpu_seconds * 1000) / 1000},
      {"windows", choice.windows},
      {"window_seconds", choice.window_seconds},
      {"sampled_frames", choice.sampled_frames},
      {"held_frames", choice.held_frames},
      {"rungs", rungs}};
  if (!choice.note.empty()) out["note"] = choice.note;
  return out;
}

AnalysisProgress ReportAnalysis(const TranscodeOptions& options, int k, int n,
                                std::chrono::steady_clock::time_point started) {
  if (!options.on_progress || n <= 0) return {};
  using Clock = std::chrono::steady_clock;
  auto last = std::make_shared<Clock::time_point>();
  return [on_progress = options.on_progress, interval = options.progress_interval, k, n, started,
          last](double fraction) {
    Clock::time_point now = Clock::now();
    if (fraction < 1 && std::chrono::duration<double>(now - *last).count() < interval) return;
    *last = now;
    Progress p;
    p.elapsed = std::chrono::duration<double>(now - started).count();
    p.phase = "analysis";
    p.phase_fraction = std::clamp((k + fraction) / n, 0.0, 1.0);
    on_progress(p);
  };
}

Result<PerTitleChoice> ChoosePerTitle(const TranscodePlan& plan, const HlsOutputPlan& h,
                                      const Source& source, const std::vector<Rung>& rungs,
                                      int threads, const std::atomic<bool>* cancel,
                                      const AnalysisProgress& progress) {
  if (!h.per_title_choice.is_null()) {
    Result<PerTitleChoice> given = PerTitleChoiceFromJson(h.per_title_choice);
    if (!given.ok()) return given.status().WithContext("the per-title choice given to the run");
    bool same = given->rungs.size() == rungs.size();
    for (size_t i = 0; same && i < rungs.size(); ++i) same = given->rungs[i].name == rungs[i].name;
    if (!same)
      return FailedPrecondition(
          "the per-title choice given to the run is for other rungs than this source's");
    return given;
  }
  // The probes encode 8-bit SDR from the source graph's picture: a kept-HDR source's picture is
  // still PQ/HLG there, so its figures would price every rung from the wrong signal. Joined
  // sources and pictures drawn from audio are not one source's own picture.
  const bool hdr_kept = source.picture().keep_hdr;
  if (plan.inputs.size() > 1 || source.drawn() || hdr_kept) {
    PerTitleChoice c;
    c.target_psnr = h.ladder.target_psnr;
    for (const Rung& r : rungs)
      c.rungs.push_back({r.name, r.bitrate, r.bitrate, 0, false, "not analysed"});
    c.note = hdr_kept ? "per-title does not analyse a source kept in HDR yet; the ladder's "
                        "bitrates were used"
                      : "per-title analyses a single source's own picture; the ladder's bitrates "
                        "were used";
    return c;
  }
  PerTitleSource s{plan.input, source.picture(), source.format(), source.display(),
                   source.duration()};
  return AnalysePerTitle(s, h.ladder, rungs, threads, cancel, progress);
}

nlohmann::json PerTitleChoiceToJson(const PerTitleChoice& c) {
  nlohmann::json rungs = nlohmann::json::array();
  for (const RungChoice& r : c.rungs)
    rungs.push_back({{"name", r.name},
                     {"nominal", r.nominal},
                     {"chosen", r.chosen},
                     {"predicted_psnr_y", r.predicted_psnr_y},
                     {"dropped", r.dropped},
                     {"why", r.why},
                     {"estimated", r.estimated}});
  return {{"target_psnr", c.target_psnr},
          {"analysis_seconds", c.analysis_seconds},
          {"analysis_cpu_seconds", c.analysis_cpu_seconds},
          {"windows", c.windows},
          {"window_seconds", c.window_seconds},
          {"sampled_frames", c.sampled_frames},
          {"held_frames", c.held_frames},
          {"rungs", rungs},
          {"note", c.note}};
}

Result<PerTitleChoice> PerTitleChoiceFromJson(const nlohmann::json& j) {
  PerTitleChoice c;
  try {
    c.target_psnr = j.at("target_psnr").get<double>();
    c.analysis_seconds = j.value("analysis_seconds", 0.0);
    c.analysis_cpu_seconds = j.value("analysis_cpu_seconds", 0.0);
    c.windows = j.value("windows", 0);
    c.window_seconds = j.value("window_seconds", 0.0);
    c.sampled_frames = j.value("sampled_frames", int64_t(0));
    c.held_frames = j.value("held_frames", int64_t(0));
    c.note = j.value("note", "");
    for (const nlohmann::json& r : j.at("rungs")) {
      RungChoice rc{r.at("name").get<std::string>(), r.at("nominal").get<int64_t>(),
                    r.at("chosen").get<int64_t>(),   r.value("predicted_psnr_y", 0.0),
                    r.value("dropped", false),       r.value("why", ""),
                    r.value("estimated", false)};
      // Whoever wrote it, a rung is never given more than its ladder's rate.
      if (rc.chosen < 0 || rc.chosen > rc.nominal)
        return InvalidArgument("per-title choice: rung " + rc.name + " has no usable bitrate");
      c.rungs.push_back(std::move(rc));
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("unreadable per-title choice: ") + e.what());
  }
  return c;
}

}  // namespace reel::engine
