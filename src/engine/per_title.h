// Per-title ladders: a short pre-pass before the main encode that measures how hard the source
// is to encode and lowers each rung's bitrate to what reaches a target quality. A few sampled
// windows of the source are decoded again (the main encode still decodes the source once) and
// every rung is probe-encoded at two constant-quality settings, at the rung's size through the
// same scaler as the encode; Y-PSNR of each probe against the scaled source (quality.h) gives two
// points of the rung's rate-quality curve, log-linear in the bitrate, from which the bitrate of
// the target PSNR is read. Internal to the engine; the choice reaches the result as its "ladder"
// section.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/filter.h"
#include "engine/geometry.h"
#include "presets/presets.h"

namespace reel::engine {

// What a rung was given.
struct RungChoice {
  std::string name;
  int64_t nominal = 0;          // the ladder's bitrate (its cap, for a constant-quality rung)
  int64_t chosen = 0;           // what it is encoded at
  double predicted_psnr_y = 0;  // at `chosen`, from the probes; 0: not analysed
  bool dropped = false;
  std::string why;  // why it kept its nominal rate or was dropped; "" when lowered
};

struct PerTitleChoice {
  double target_psnr = 40;
  double analysis_seconds = 0;      // wall time of the pre-pass
  double analysis_cpu_seconds = 0;  // CPU time of the process during it (nothing else runs)
  int windows = 0;
  double window_seconds = 0;
  std::vector<RungChoice> rungs;  // in the ladder's order, dropped ones included
  std::string note;               // set when the source could not be analysed
};

// The source as the run sees it.
struct PerTitleSource {
  std::string path;
  SourcePicture picture;  // deinterlace and tone mapping, as the encode does them
  VideoFormat format;     // the normalised frames: rate, colour after the picture filters
  DisplaySize display;
  double duration = 0;
};

// The bitrates of the analysed rate-quality curve for one rung, from its two probes. Pure, so the
// rules (ceiling, floor) are tested alone.
struct ProbePoint {
  double bitrate = 0;  // bits/s
  double psnr_y = 0;   // mean dB
};
// The slope of the line through two points, dB per e-fold of bitrate, within what a real curve
// gives (a flat, inverted or degenerate pair: the least).
double Slope(ProbePoint a, ProbePoint b);
// The lowest rate in [floor, nominal] predicted to reach `target` (with a margin for the
// encode's rate control) on the line through `a` at `slope`, and the PSNR predicted there.
ProbePoint ChooseBitrate(ProbePoint a, double slope, double target, int64_t nominal);
// The same on the line through two points, read from the higher rate's.
ProbePoint ChooseBitrate(ProbePoint a, ProbePoint b, double target, int64_t nominal);
// The floor a rung's bitrate is never lowered past: 1/6 of its nominal rate, at least 50 kb/s.
int64_t BitrateFloor(int64_t nominal);

// Told how much of a pre-pass is done (0 to 1), on the thread that runs it, as frames are fed.
using AnalysisProgress = std::function<void(double fraction)>;

// Runs the pre-pass for `rungs` (SelectRungs' choice for this source) of `ladder`.
Result<PerTitleChoice> AnalysePerTitle(const PerTitleSource& source, const presets::Ladder& ladder,
                                       const std::vector<presets::Rung>& rungs, int threads,
                                       const std::atomic<bool>* cancel,
                                       const AnalysisProgress& progress = {});

// The run's progress (`options.on_progress`, at most every progress_interval) while pre-pass `k`
// of the run's `n` goes: phase "analysis", its phase_fraction over all n, the fraction at 0 as
// nothing is encoded yet; `started` is when the run began (its elapsed). Null without a listener.
AnalysisProgress ReportAnalysis(const TranscodeOptions& options, int k, int n,
                                std::chrono::steady_clock::time_point started);

class Source;
// The choice for `rungs` of package `h`'s per-title ladder on the run's `source` (opened): the
// one made before the run when `h` carries it (h.per_title_choice: a chunk of a chunked job
// encodes what was chosen once for every chunk), else analysed; the ladder's bitrates, with a
// note, where the pre-pass cannot read the picture (joined sources, a picture drawn from audio,
// a source kept in HDR).
Result<PerTitleChoice> ChoosePerTitle(const TranscodePlan& plan, const HlsOutputPlan& h,
                                      const Source& source, const std::vector<presets::Rung>& rungs,
                                      int threads, const std::atomic<bool>* cancel,
                                      const AnalysisProgress& progress = {});

// The choice as JSON (a package's description, a chunked job's task payload) and back.
nlohmann::json PerTitleChoiceToJson(const PerTitleChoice& c);
Result<PerTitleChoice> PerTitleChoiceFromJson(const nlohmann::json& j);

// Marks the rungs that add nothing over the one below them (same codec, not itself dropped):
// their chosen bitrate is not above that rung's.
void DropRedundantRungs(const std::vector<presets::Rung>& rungs, PerTitleChoice* choice);

// `rungs` with the chosen bitrates, the dropped ones left out.
std::vector<presets::Rung> ApplyChoice(const std::vector<presets::Rung>& rungs,
                                       const PerTitleChoice& choice);

// The result's "ladder" section: per rung the nominal and chosen bitrates, the quality (the
// in-run report of the variant when measured, else the prediction) and whether it was dropped.
nlohmann::json PerTitleReport(const PerTitleChoice& choice,
                              const std::vector<VariantResult>& variants);

}  // namespace reel::engine
