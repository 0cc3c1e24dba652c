#include "attempt/fan_out.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "attempt/publish.h"
#include "attempt/run_parts.h"
#include "attempt/task_staging.h"
#include "engine/stitch.h"

namespace reel::attempt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The indexes of the chunked outputs: packages, and MP4 files beside one (engine::ChunkedFile);
// the rest run in `main`.
std::set<int> ChunkedOutputs(const engine::TranscodePlan& plan) {
  std::set<int> out;
  engine::TranscodePlan chunked = engine::ChunkedPackagesPlan(plan, "");
  for (const engine::HlsOutputPlan& h : chunked.hls) out.insert(h.index);
  for (const engine::FileOutputPlan& f : chunked.files) out.insert(f.index);
  return out;
}

// The plan and outputs of `plan` that are (or are not) chunked.
AttemptPlan Part(const AttemptPlan& plan, bool chunked) {
  std::set<int> c = ChunkedOutputs(plan.engine);
  auto keep = [&](int index) { return c.count(index) == (chunked ? 1u : 0u); };
  AttemptPlan out;
  out.engine = plan.engine;
  engine::TranscodePlan& e = out.engine;
  std::erase_if(e.hls, [&](const auto& o) { return !keep(o.index); });
  std::erase_if(e.files, [&](const auto& o) { return !keep(o.index); });
  std::erase_if(e.thumbnails, [&](const auto& o) { return !keep(o.index); });
  std::erase_if(e.sprites, [&](const auto& o) { return !keep(o.index); });
  std::erase_if(e.waveforms, [&](const auto& o) { return !keep(o.index); });
  std::erase_if(e.loudness, [&](const auto& o) { return !keep(o.index); });
  for (const PlannedOutput& o : plan.outputs)
    if (keep(o.index)) out.outputs.push_back(o);
  return out;
}

bool HasAnything(const engine::TranscodePlan& p) {
  return !p.hls.empty() || !p.files.empty() || !p.thumbnails.empty() || !p.sprites.empty() ||
         !p.waveforms.empty() || !p.loudness.empty();
}

// The folder of one attempt of a chunk or the audio under the job's staging.
std::string AttemptFolder(const TaskRun& task) {
  return task.kind + "-" + std::to_string(task.ordinal) + ".a" + std::to_string(task.attempt);
}

std::string ChunkDirName(int index) {  // as engine/chunk.cc names a chunk's folder
  char name[32];
  std::snprintf(name, sizeof(name), "chunk-%05d", index);
  return name;
}

// The outputs of the task results in one list, in spec order.
json MergeOutputs(json outputs, const json& more) {
  if (!outputs.is_array()) outputs = json::array();
  if (more.is_array())
    for (const json& o : more) outputs.push_back(o);
  std::stable_sort(outputs.begin(), outputs.end(), [](const json& a, const json& b) {
    return a.value("index", 0) < b.value("index", 0);
  });
  return outputs;
}

AttemptOutcome Encoded(const std::string& folder) {
  return AttemptResult{json{{"staging", folder}}, Status::Ok()};
}

AttemptOutcome RunStitch(const job::JobSpec& spec, const AttemptPlan& plan, const TaskRun& task,
                         const Environment& env) {
  Result<engine::ChunkLayout> layout = ChunkLayoutFromJson(task.payload.value("layout", json()));
  if (!layout.ok()) return AttemptError{Stage::kPrepare, layout.status()};
  // The succeeded attempts' folders, seen through links under one folder as Stitch reads them.
  fs::path view = fs::path(env.scratch) / "stitch-staging";
  std::error_code ec;
  fs::remove_all(view, ec);
  fs::create_directories(view, ec);
  if (ec) return AttemptError{Stage::kPrepare, Unavailable("cannot create " + view.string())};
  json merged = json::object();
  // The folder a task's result names, if it is one (a plain name in the job's staging).
  auto staged = [](const TaskRun::Done& d) {
    std::string folder = d.result.is_object() ? d.result.value("staging", "") : "";
    bool plain = !folder.empty() && folder.find('/') == std::string::npos && folder[0] != '.';
    return plain ? folder : std::string();
  };
  std::vector<std::string> folders;
  for (const TaskRun::Done& d : task.results)
    if (!staged(d).empty()) folders.push_back(staged(d));
  if (Status s = FetchFolders(env, folders); !s.ok()) return AttemptError{Stage::kPrepare, s};
  for (const TaskRun::Done& d : task.results) {
    std::string folder = staged(d);
    if (d.kind == "main") merged = d.result;
    if (folder.empty()) continue;
    fs::path from = fs::path(LocalStaging(env)) / folder;
    if (d.kind == "chunk")
      fs::create_directory_symlink(from / ChunkDirName(d.ordinal), view / ChunkDirName(d.ordinal),
                                   ec);
    else if (d.kind == "audio" && fs::exists(from / "audio"))
      fs::create_directory_symlink(from / "audio", view / "audio", ec);
    if (ec) return AttemptError{Stage::kPrepare, Unavailable("cannot link " + from.string())};
  }
  AttemptPlan packages = Part(plan, true);
  // Into the engine's staging beside each destination, moved into place as a whole run's
  // outputs are: a stitch killed halfway leaves nothing a viewer or its next attempt would take
  // for the package.
  Result<engine::TranscodeResult> stitched =
      engine::Stitch(packages.engine, *layout, view.string(), EngineOptions(env));
  if (env.events.on_encoded) env.events.on_encoded();
  if (!stitched.ok()) return AttemptError{Stage::kEncode, stitched.status()};
  stitched->source_duration = task.payload.value("duration", 0.0);
  json out = engine::ToJson(*stitched);
  Status delivered = Deliver(spec, packages, *stitched, env, &out);
  if (!delivered.ok()) return AttemptError{Stage::kDeliver, delivered};
  // The job's result: the stitched packages' and the main task's outputs, as one run gives them.
  out["outputs"] = MergeOutputs(out["outputs"], merged.value("outputs", json::array()));
  for (const char* key : {"tone_mapped", "deinterlaced"})
    if (merged.contains(key)) out[key] = merged[key];
  if (!spec.metadata.empty()) out["metadata"] = spec.metadata;
  out["chunking"] = {{"chunked", true},
                     {"chunks", layout->chunks.size()},
                     {"chunk_seconds", task.payload.value("chunk_seconds", 0.0)}};
  // The staging stays: should this process die before its end is recorded, the stitch runs
  // again over it. The worker removes it once the job has ended.
  return AttemptResult{std::move(out), Status::Ok()};
}

}  // namespace

json ChunkRangeToJson(const engine::ChunkRange& c) {
  return {{"index", c.index},
          {"first_frame", c.first_frame},
          {"end_frame", c.end_frame},
          {"start", c.start},
          {"end", c.end},
          {"first_segment", c.first_segment},
          {"lead_frames", c.lead_frames},
          {"tail_frames", c.tail_frames}};
}

Result<engine::ChunkRange> ChunkRangeFromJson(const json& j) {
  engine::ChunkRange c;
  try {
    c.index = j.at("index").get<int>();
    c.first_frame = j.at("first_frame").get<int64_t>();
    c.end_frame = j.at("end_frame").get<int64_t>();
    c.start = j.at("start").get<double>();
    c.end = j.at("end").get<double>();
    c.first_segment = j.at("first_segment").get<int>();
    c.lead_frames = j.at("lead_frames").get<int64_t>();
    c.tail_frames = j.at("tail_frames").get<int64_t>();
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("unreadable chunk: ") + e.what());
  }
  return c;
}

json ChunkLayoutToJson(const engine::ChunkLayout& layout) {
  json chunks = json::array();
  for (const engine::ChunkRange& c : layout.chunks) chunks.push_back(ChunkRangeToJson(c));
  return {{"rate_num", layout.rate_num},
          {"rate_den", layout.rate_den},
          {"segment_seconds", layout.segment_seconds},
          {"chunks", std::move(chunks)}};
}

Result<engine::ChunkLayout> ChunkLayoutFromJson(const json& j) {
  engine::ChunkLayout layout;
  try {
    layout.rate_num = j.at("rate_num").get<int>();
    layout.rate_den = j.at("rate_den").get<int>();
    layout.segment_seconds = j.at("segment_seconds").get<double>();
    for (const json& c : j.at("chunks")) {
      Result<engine::ChunkRange> range = ChunkRangeFromJson(c);
      if (!range.ok()) return range.status();
      layout.chunks.push_back(*range);
    }
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("unreadable chunk layout: ") + e.what());
  }
  return layout;
}

Result<std::optional<FanOutMessage>> DecideFanOut(const job::JobSpec& spec, const AttemptPlan& plan,
                                                  const FanOutPolicy& policy,
                                                  const engine::TranscodeOptions& options) {
  using Chunking = job::JobSpec::Chunking;
  const std::optional<FanOutMessage> unchunked;
  if (!policy.allowed || spec.chunking == Chunking::kOff) return unchunked;
  if (ChunkedOutputs(plan.engine).empty()) return unchunked;  // nothing to split
  bool asked = spec.chunking == Chunking::kSeconds;
  double chunk_seconds =
      asked && spec.chunk_seconds > 0 ? spec.chunk_seconds : policy.chunk_seconds;
  // "auto" splits only what is worth it: a long source, and another slot to share it with.
  if (!asked && policy.live_slots <= 1) return unchunked;
  if (!plan.engine.inputs.empty() && plan.engine.inputs.size() > 1)
    return FailedPrecondition("chunked encoding: not available when joining several sources");
  Result<engine::MediaInfo> info = engine::Probe(plan.engine.input);
  if (!info.ok()) return unchunked;  // the unchunked run reports the source's fault itself
  double duration = info->duration;
  if (!asked && duration <= policy.min_seconds) return unchunked;
  // Too long: the unchunked run fails it, saying so, before fanning out hundreds of tasks.
  if (!engine::CheckSourceDuration(duration, options.max_source_duration).ok()) return unchunked;
  for (const engine::HlsOutputPlan& h : engine::ChunkedPackagesPlan(plan.engine, "").hls)
    for (const engine::HlsOutputPlan& o : plan.engine.hls)
      if (o.index == h.index && o.quality)
        return FailedPrecondition("chunked encoding: outputs[" + std::to_string(o.index) +
                                  "] measures quality, which needs the whole run");
  Result<engine::ChunkLayout> layout = engine::ChunkBoundaries(plan.engine, chunk_seconds);
  if (!layout.ok()) return layout.status();
  // Too many chunks: as many segments in fewer, longer chunks (asked for or not; the result's
  // chunk_seconds says what was used).
  for (int tries = 0; tries < 4 && static_cast<int>(layout->chunks.size()) > policy.max_chunks;
       ++tries) {
    double segments = std::max(1.0, std::round(chunk_seconds / layout->segment_seconds));
    double per_chunk = std::ceil(layout->chunks.size() * segments / std::max(1, policy.max_chunks));
    chunk_seconds = std::max(per_chunk, segments + 1) * layout->segment_seconds;
    layout = engine::ChunkBoundaries(plan.engine, chunk_seconds);
    if (!layout.ok()) return layout.status();
  }
  if (layout->chunks.size() < 2) return unchunked;  // one chunk: nothing to share
  if (static_cast<int>(layout->chunks.size()) + 3 > kMaxTasks)
    return FailedPrecondition("chunked encoding: more than " + std::to_string(kMaxTasks - 3) +
                              " chunks; ask for longer ones");

  // A per-title ladder is analysed here, once: every chunk encodes these bitrates.
  Result<json> per_title = engine::ChoosePerTitleOnce(plan.engine, options);
  if (!per_title.ok()) return per_title.status();

  // Weights are seconds of picture encoded (a chunk's lead and tail GOPs too); the audio, the
  // copies of the stitch and the derived outputs cost a fraction of that, measured roughly.
  // Tasks are leased in the order given (the stitch last, once the others are done). Longest
  // first: a long piece leased last runs alone at the end while other workers idle (a 2-hour
  // film's audio or `main`; a chunk with lead frames against the first, which has none).
  FanOutMessage m;
  bool audio = !plan.engine.audio_input.empty() || info->BestAudio() != nullptr;
  // Progressive outputs (publish.h): the publisher first, as the master waits for the audio
  // and the first chunks, which come next in this order.
  json progressive = json::array();
  for (int index : ChunkedOutputs(plan.engine))
    if (spec.outputs[index].progressive) progressive.push_back(index);
  if (!progressive.empty()) {
    if (static_cast<int>(layout->chunks.size()) + 4 > kMaxTasks)
      return FailedPrecondition("chunked encoding: more than " + std::to_string(kMaxTasks - 4) +
                                " chunks with a progressive output; ask for longer ones");
    m.tasks.push_back(
        {"publish",
         0,
         0.01,
         {{"layout", ChunkLayoutToJson(*layout)}, {"outputs", progressive}, {"audio", audio}}});
  }
  if (audio) m.tasks.push_back({"audio", 0, std::max(0.1, duration / 20), json::object()});
  AttemptPlan rest = Part(plan, false);
  if (HasAnything(rest.engine)) {
    double files = rest.engine.files.size() + rest.engine.hls.size();
    m.tasks.push_back({"main", 0, std::max(0.1, duration * files + duration / 10), json::object()});
  }
  const double fps = double(layout->rate_num) / layout->rate_den;
  for (const engine::ChunkRange& c : layout->chunks) {
    double end = c.end >= 0 ? c.end : duration;
    double weight = std::max(0.1, end - c.start + (c.lead_frames + c.tail_frames) / fps);
    json payload = {{"chunk", ChunkRangeToJson(c)}};
    if (!per_title->empty()) payload["per_title"] = *per_title;
    m.tasks.push_back({"chunk", c.index, weight, std::move(payload)});
  }
  // A progressive job keeps the order above instead: the audio and the chunks from the first,
  // as the master waits for them.
  if (progressive.empty())
    std::stable_sort(
        m.tasks.begin(), m.tasks.end(),
        [](const PlannedTask& a, const PlannedTask& b) { return a.weight > b.weight; });
  m.tasks.push_back({"stitch",
                     0,
                     std::max(0.1, duration / 50),
                     {{"layout", ChunkLayoutToJson(*layout)},
                      {"duration", duration},
                      {"chunk_seconds", chunk_seconds}}});
  // The source's clock was found steady above (ChunkBoundaries refuses one that jumps); an
  // MPEG-TS is read through to know that, and each task would read it through again.
  std::string fingerprint = engine::FileFingerprint(plan.engine.input);
  if (!fingerprint.empty())
    for (PlannedTask& t : m.tasks)
      if (t.kind != "publish") t.payload["steady_clock"] = {{"file", fingerprint}};
  return std::optional<FanOutMessage>(std::move(m));
}

namespace {

AttemptOutcome RunTaskIn(const job::JobSpec& spec, const TaskRun& task, const Environment& env,
                         ServerPaths* paths) {
  if (env.staging.empty())
    return AttemptError{Stage::kPrepare, InvalidArgument("a task needs the job's staging")};
  // The publisher reads the staging and the spec's destinations only: no source to fetch.
  if (task.kind == "publish") return RunPublish(spec, task, env);
  Result<AttemptPlan> plan =
      MakePlan(spec, StagedSourceResolver(ResolverFor(env, paths), task.payload, env, paths));
  if (!plan.ok()) return AttemptError{Stage::kPrepare, plan.status()};
  json steady = task.payload.is_object() ? task.payload.value("steady_clock", json()) : json();
  if (steady.is_object()) engine::VouchSteadyClock(plan->engine.input, steady.value("file", ""));
  engine::TranscodeOptions options = EngineOptions(env);
  std::string folder = AttemptFolder(task);
  std::string dir = (fs::path(LocalStaging(env)) / folder).string();
  std::error_code ec;

  if (task.kind == "chunk") {
    Result<engine::ChunkRange> range = ChunkRangeFromJson(task.payload.value("chunk", json()));
    if (!range.ok()) return AttemptError{Stage::kPrepare, range.status()};
    Status chosen =
        engine::UsePerTitleChoices(task.payload.value("per_title", json()), &plan->engine);
    if (!chosen.ok()) return AttemptError{Stage::kPrepare, chosen};
    fs::remove_all(dir, ec);  // this attempt's own folder: nobody else writes it
    Status s = engine::EncodeChunk(plan->engine, *range, dir, options);
    if (env.events.on_encoded) env.events.on_encoded();
    if (!s.ok()) return AttemptError{Stage::kEncode, s};
    if (Status up = PublishFolder(env, folder); !up.ok()) return AttemptError{Stage::kDeliver, up};
    return Encoded(folder);
  }
  if (task.kind == "audio") {
    fs::remove_all(dir, ec);
    Status s = engine::EncodeAudio(plan->engine, dir, options);
    if (env.events.on_encoded) env.events.on_encoded();
    if (!s.ok()) return AttemptError{Stage::kEncode, s};
    if (Status up = PublishFolder(env, folder); !up.ok()) return AttemptError{Stage::kDeliver, up};
    return Encoded(folder);
  }
  if (task.kind == "main") {
    AttemptPlan rest = Part(*plan, false);
    Result<engine::TranscodeResult> result = engine::Transcode(rest.engine, options);
    if (env.events.on_encoded) env.events.on_encoded();
    if (!result.ok()) return AttemptError{Stage::kEncode, result.status()};
    json out = engine::ToJson(*result);
    Status delivered = Deliver(spec, rest, *result, env, &out);
    if (!delivered.ok()) return AttemptError{Stage::kDeliver, delivered};
    std::string errors = OutputErrors(*result);
    return AttemptResult{std::move(out), errors.empty() ? Status::Ok() : InvalidArgument(errors)};
  }
  if (task.kind == "stitch") return RunStitch(spec, *plan, task, env);
  return AttemptError{Stage::kPrepare,
                      InvalidArgument("this reel does not run tasks of kind " + task.kind)};
}

}  // namespace

AttemptOutcome RunTask(const job::JobSpec& spec, const TaskRun& task, const Environment& env) {
  TransferHooks hooks(env);
  // As a whole run does (attempt.cc): the tenant sees URLs and names, not the server's paths.
  ServerPaths paths(env.remote ? env.scratch : "");
  if (!env.staging.empty()) paths.Add(env.staging, "staging", "staging");
  AttemptOutcome outcome = RunTaskIn(spec, task, env, &paths);
  if (auto* error = std::get_if<AttemptError>(&outcome)) error->status = paths.Hide(error->status);
  if (auto* done = std::get_if<AttemptResult>(&outcome)) {
    done->incomplete = paths.Hide(done->incomplete);
    json metadata = done->result.contains("metadata") ? done->result["metadata"] : json();
    paths.Hide(done->result);  // the tenant's metadata goes back as it came
    if (!metadata.is_null()) done->result["metadata"] = metadata;
  }
  return outcome;
}

}  // namespace reel::attempt
