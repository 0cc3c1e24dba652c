// Chunk boundaries and the chunk and audio tasks (chunk.h): each is an ordinary run of the
// scheduler limited by a RunWindow, so a chunk's encoders, filters and muxers are those of the
// unchunked run.
#include "engine/chunk.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/demux_decode.h"
#include "engine/geometry.h"
#include "engine/per_title.h"
#include "engine/scheduler.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;

bool Chunked(const HlsOutputPlan& h) { return !h.single; }

// How much a chunk encodes around its range (ChunkRange::lead_frames): measured on the tests'
// sources (PSNR of the 10 frames around each join against the unchunked encode), a cold start
// cost about 3 dB; one 2 s GOP before lost 0.16-0.48 dB whatever the tail; two 2 s GOPs before
// and half a GOP after (about x264's lookahead) stay within 0.05 dB, as two and a whole GOP did.
// What warms the rate control is time, not GOPs: with 1 s GOPs, two before lost 0.26 dB. So the
// lead is whole GOPs of at least 4 s, the tail at least 1 s.
constexpr int64_t kLeadGops = 2;
constexpr double kLeadSeconds = 4;
constexpr double kTailGops = 0.5;
constexpr double kTailSeconds = 1;

Status WriteJson(const std::string& path, const nlohmann::json& j) {
  std::ofstream f(path);
  f << j.dump(2) << "\n";
  f.close();
  if (!f) return Unavailable("cannot write " + path);
  return Status::Ok();
}

// The run's result, and what it saw of each package (OutputResult::description), for the stitch.
Status WriteResult(const std::string& dir, const TranscodeResult& result) {
  nlohmann::json packages = nlohmann::json::object();
  for (const OutputResult& o : result.outputs)
    if (!o.description.is_null()) packages[std::to_string(o.index)] = o.description;
  REEL_RETURN_IF_ERROR(WriteJson(dir + "/" + std::string(kPackagesFile), packages));
  return WriteJson(dir + "/result.json", ToJson(result));
}

Status RunTask(const TranscodePlan& plan, const std::string& dir, const RunWindow& window,
               const TranscodeOptions& options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create " + dir + ": " + ec.message());
  TranscodePlan task = ChunkedPackagesPlan(plan, dir);
  if (task.hls.empty()) return InvalidArgument("chunked encoding: the job has no HLS/DASH package");
  Result<TranscodeResult> r = TranscodeWindow(task, options, window);
  if (!r.ok()) return r.status();
  return WriteResult(dir, *r);
}

}  // namespace

std::string ChunkStagingDir(const std::string& staging_dir, int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "chunk-%05d", index);
  return staging_dir + "/" + name;
}

std::string AudioStagingDir(const std::string& staging_dir) { return staging_dir + "/audio"; }

TranscodePlan ChunkedPackagesPlan(const TranscodePlan& plan, const std::string& directory) {
  TranscodePlan out;
  out.input = plan.input;
  out.audio_input = plan.audio_input;
  out.subtitles = plan.subtitles;
  out.background = plan.background;
  out.deinterlace = plan.deinterlace;
  for (const HlsOutputPlan& h : plan.hls) {
    if (!Chunked(h)) continue;
    HlsOutputPlan c = h;
    c.directory = directory + "/out-" + std::to_string(h.index);
    c.quality = false;  // measured per chunk it would describe a chunk, not the package
    out.hls.push_back(std::move(c));
  }
  // Files ride along only with a package: the package's segments fix the chunk boundaries.
  if (out.hls.empty()) return out;
  for (const FileOutputPlan& f : plan.files) {
    if (!ChunkedFile(f)) continue;
    FileOutputPlan c = f;
    c.path = StagedFilePart(directory, f.index);
    out.files.push_back(std::move(c));
  }
  return out;
}

bool ChunkedFile(const FileOutputPlan& f) {
  const presets::VideoSettings& v = f.preset.video;
  // kind "": an "mp4" output (previews and mezzanines have kinds of their own).
  return f.kind.empty() && f.preset.container == presets::Container::kMp4 &&
         v.codec == presets::VideoCodec::kH264 && v.fps == 0 && v.trim_start == 0 &&
         v.trim_duration == 0 && f.preset.audio.trim_start == 0 &&
         f.preset.audio.trim_duration == 0 && !f.quality;
}

std::string StagedFilePart(const std::string& task_dir, int index) {
  return task_dir + "/out-" + std::to_string(index) + ".mp4";
}

Result<ChunkLayout> ChunkBoundaries(const TranscodePlan& plan, double chunk_seconds) {
  if (plan.inputs.size() > 1)
    return FailedPrecondition("chunked encoding: not available when joining several sources");
  if (!(chunk_seconds > 0)) return InvalidArgument("chunk_seconds: must be positive");
  ChunkLayout layout;
  double gop_seconds = -1;
  bool any = false;
  for (const HlsOutputPlan& h : plan.hls) {
    if (!Chunked(h)) continue;
    if (any && h.ladder.segment_seconds != layout.segment_seconds)
      return FailedPrecondition("chunked encoding: packages with different segment durations");
    layout.segment_seconds = h.ladder.segment_seconds;
    any = true;
    for (const presets::Rung& rung : h.ladder.rungs) {
      presets::VideoSettings v = presets::RungVideoSettings(h.ladder, rung);
      if (!v.fixed_gop)
        return FailedPrecondition("chunked encoding: rung " + rung.name + " has no fixed GOP");
      if (gop_seconds >= 0 && v.gop_seconds != gop_seconds)
        return FailedPrecondition("chunked encoding: rungs with different keyframe intervals");
      gop_seconds = v.gop_seconds;
    }
  }
  if (!any || gop_seconds <= 0)
    return FailedPrecondition("chunked encoding: the job has no HLS/DASH package with video");

  // The grid is the one the run's normalise stage fixes: open the source as a run would.
  RunState run(nullptr);
  Source source(plan, &run, 1);
  REEL_RETURN_IF_ERROR(source.Open());
  if (!source.has_video() || source.drawn())
    return FailedPrecondition("chunked encoding: the source has no video");
  // A chunk seeks by the file's own timestamps, which after a leap say nothing of where a frame
  // is on the mended timeline; read from the start, as a whole run reads it, it is exact.
  if (source.clock_jumps() > 0) {
    char buf[160];
    std::snprintf(buf, sizeof(buf),
                  "chunked encoding: the source's clock jumps (%d times, the first at %.1f s), so "
                  "it is read whole, from its start",
                  source.clock_jumps(), source.first_clock_jump());
    return FailedPrecondition(buf);
  }
  if (source.stream_successions() > 0)
    return FailedPrecondition(
        "chunked encoding: the source's program changes streams (recordings joined byte for "
        "byte), so it is read whole, from its start");
  AVRational rate = source.format().frame_rate;
  layout.rate_num = rate.num;
  layout.rate_den = rate.den;
  const int64_t gop = std::max<int64_t>(1, std::lround(av_q2d(rate) * gop_seconds));
  const int64_t frames = std::llround(source.duration() * av_q2d(rate));
  // The hls muxer starts segment n at the first keyframe whose time is at or after n segment
  // durations (hls_time, in microseconds): keyframe k is frame k*gop, at k*gop*den/num s.
  const int64_t segment_us = std::llround(layout.segment_seconds * 1e6);
  auto segment_start = [&](int64_t n) {
    int64_t per_key = gop * rate.den * 1000000;  // keyframe period, in µs × num
    int64_t k = (n * segment_us * rate.num + per_key - 1) / per_key;
    return k * gop;
  };
  const int64_t per_chunk =
      std::max<int64_t>(1, std::llround(chunk_seconds / layout.segment_seconds));
  const int64_t lead_gops = std::max<int64_t>(
      kLeadGops, int64_t(std::ceil(kLeadSeconds * av_q2d(rate) / double(gop) - 1e-9)));
  const int64_t tail_frames =
      std::max(std::llround(double(gop) * kTailGops), std::llround(kTailSeconds * av_q2d(rate)));
  for (int64_t c = 0;; ++c) {
    int64_t first = segment_start(c * per_chunk);
    if (c > 0 && first >= frames) break;
    int64_t next = segment_start((c + 1) * per_chunk);
    ChunkRange r;
    r.index = int(c);
    r.first_frame = first;
    r.first_segment = int(c * per_chunk);
    r.start = double(first) * rate.den / rate.num;
    r.lead_frames = std::min(first, gop * lead_gops);
    if (next < frames) {
      r.end_frame = next;
      r.end = double(next) * rate.den / rate.num;
      r.tail_frames = tail_frames;
    }
    layout.chunks.push_back(r);
    if (r.end_frame < 0) break;
  }
  return layout;
}

Status EncodeChunk(const TranscodePlan& plan, const ChunkRange& chunk,
                   const std::string& staging_dir, const TranscodeOptions& options) {
  RunWindow w;
  w.kind = RunWindow::Kind::kVideoRange;
  w.first_frame = chunk.first_frame;
  w.end_frame = chunk.end_frame;
  w.first_segment = chunk.first_segment;
  w.lead_frames = chunk.lead_frames;
  w.tail_frames = chunk.tail_frames;
  Status s = RunTask(plan, ChunkStagingDir(staging_dir, chunk.index), w, options);
  return s.ok() ? s : s.WithContext("chunk " + std::to_string(chunk.index));
}

Status EncodeAudio(const TranscodePlan& plan, const std::string& staging_dir,
                   const TranscodeOptions& options) {
  if (plan.audio_input.empty()) {
    Result<MediaInfo> info = Probe(plan.input);
    if (!info.ok()) return info.status();
    if (!info->BestAudio()) return Status::Ok();  // a silent source: the packages have no audio
  }
  RunWindow w;
  w.kind = RunWindow::Kind::kAudioOnly;
  Status s = RunTask(plan, AudioStagingDir(staging_dir), w, options);
  return s.ok() ? s : s.WithContext("audio");
}

Result<nlohmann::json> ChoosePerTitleOnce(const TranscodePlan& plan,
                                          const TranscodeOptions& options) {
  nlohmann::json choices = nlohmann::json::object();
  bool any = false;
  for (const HlsOutputPlan& h : plan.hls) any |= Chunked(h) && h.ladder.per_title;
  if (!any) return choices;
  const int threads = options.threads > 0 ? options.threads : UsableCores();
  const auto started = std::chrono::steady_clock::now();
  // The source as a run opens it: the same picture filters, rate and rungs as a chunk's run.
  RunState run(options.cancel);
  Source source(plan, &run, threads);
  REEL_RETURN_IF_ERROR(source.Open());
  auto analysed = [&](const HlsOutputPlan& h) {
    return Chunked(h) && h.ladder.per_title && source.PictureFor(h.background);
  };
  const int analyses = int(std::count_if(plan.hls.begin(), plan.hls.end(), analysed));
  int k = 0;
  for (const HlsOutputPlan& h : plan.hls) {
    if (!analysed(h)) continue;
    std::vector<presets::Rung> rungs =
        SelectRungs(h.ladder, source.display(), av_q2d(source.format().frame_rate));
    // The attempt that fans out encodes nothing: its progress is the pre-pass's, so that a
    // long one is not taken for a stall.
    Result<PerTitleChoice> c = ChoosePerTitle(plan, h, source, rungs, threads, options.cancel,
                                              ReportAnalysis(options, k++, analyses, started));
    if (!c.ok()) return c.status().WithContext("per-title analysis");
    choices[std::to_string(h.index)] = PerTitleChoiceToJson(*c);
  }
  return choices;
}

Status UsePerTitleChoices(const nlohmann::json& choices, TranscodePlan* plan) {
  if (choices.is_null()) return Status::Ok();
  if (!choices.is_object()) return InvalidArgument("unreadable per-title choices");
  for (HlsOutputPlan& h : plan->hls) {
    auto it = choices.find(std::to_string(h.index));
    if (it == choices.end()) continue;
    if (!h.ladder.per_title)
      return FailedPrecondition("a per-title choice for output " + std::to_string(h.index) +
                                ", whose ladder is not per-title");
    h.per_title_choice = *it;
  }
  return Status::Ok();
}

}  // namespace reel::engine
