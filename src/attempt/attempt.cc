#include "attempt/attempt.h"

#include <algorithm>
#include <utility>

#include "attempt/fan_out.h"
#include "attempt/plan.h"
#include "attempt/run_parts.h"
#include "attempt/task_staging.h"
#include "common/redact.h"
#include "net/http.h"
#include "storage/local_paths.h"

namespace reel::attempt {

using nlohmann::json;

TransferHooks::TransferHooks(const Environment& env) : active_(env.remote) {
  if (!active_) return;
  net::SetCancelFlag(env.cancel);
  if (env.events.on_transfer) net::SetTransferListener(env.events.on_transfer);
}

TransferHooks::~TransferHooks() {
  if (!active_) return;
  net::SetTransferListener(nullptr);
  net::SetCancelFlag(nullptr);
}

ServerPaths::ServerPaths(std::string scratch) : scratch_(std::move(scratch)) {
  while (scratch_.size() > 1 && scratch_.back() == '/') scratch_.pop_back();
}

void ServerPaths::Add(const std::string& local, const std::string& url, const std::string& field) {
  if (local.empty() || local == url) return;
  std::string shown = url.rfind("data:", 0) == 0 ? field : RedactUrl(url);
  names_.emplace_back(local, shown);
  // Longest first: a staged folder's path is a prefix of the files in it.
  std::sort(names_.begin(), names_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

namespace {
void ReplaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}
}  // namespace

std::string ServerPaths::Hide(std::string text) const {
  for (const auto& [local, shown] : names_) ReplaceAll(text, local, shown);
  if (scratch_.size() > 1) {
    ReplaceAll(text, scratch_ + "/", "");
    ReplaceAll(text, scratch_, ".");
  }
  return text;
}

Status ServerPaths::Hide(const Status& s) const {
  return s.ok() ? s : Status(s.code(), Hide(s.message()));
}

void ServerPaths::Hide(json& j) const {
  if (j.is_string()) {
    j = Hide(j.get<std::string>());
  } else if (j.is_structured()) {
    for (json& item : j) Hide(item);
  }
}

Status Deliver(const job::JobSpec& spec, const AttemptPlan& plan,
               const engine::TranscodeResult& engine_result, const Environment& env, json* out) {
  for (const PlannedOutput& output : plan.outputs) {
    bool failed_output = false;
    for (const engine::OutputResult& o : engine_result.outputs)
      failed_output |= o.index == output.index && !o.error.empty();
    if (failed_output) continue;  // nothing was written for it
    const job::OutputSpec& o = spec.outputs[output.index];
    // The output's own S3 headers (the spec allows them on s3:// destinations only).
    storage::Options options = env.storage;
    options.s3_headers = {o.s3.acl, o.s3.storage_class, o.s3.cache_control, o.s3.metadata};
    for (const OutputFile& file : output.files) {
      if (storage::KindOf(file.url) == storage::Kind::kLocal) continue;  // written in place
      Result<json> delivered =
          storage::Deliver(file.local, file.url, o.method, options, o.presign_seconds);
      if (!delivered.ok()) return delivered.status().WithContext(file.field);
      if (!file.reported) continue;
      for (json& r : (*out)["outputs"])
        if (r.value("index", -2) == output.index && r.value("path", "") != file.url) {
          storage::PointAtDelivered(r, file.local, *delivered);  // no scratch path stays
        }
    }
  }
  return Status::Ok();
}

std::string OutputErrors(const engine::TranscodeResult& result) {
  std::string errors;
  for (const engine::OutputResult& o : result.outputs)
    if (!o.error.empty()) errors += (errors.empty() ? "" : "; ") + o.error;
  return errors;
}

Resolver ResolverFor(const Environment& env, ServerPaths* paths) {
  return [&env, paths](const std::string& url, const std::string& field,
                       Role role) -> Result<std::string> {
    if (!env.remote) return LocalPath(url, field);
    Result<std::string> p =
        role == Role::kSource
            ? storage::FetchSource(url, env.scratch, env.storage)
            : storage::LocalTarget(url, role == Role::kDirectory, env.scratch, env.storage);
    if (!p.ok()) return p.status().WithContext(field);
    if (role == Role::kSource && storage::KindOf(url) == storage::Kind::kLocal) {
      // Checked by its path; read through a descriptor opened beneath it, link by link, so a
      // link swapped in after the check is refused rather than followed. Shown by its path.
      Result<std::string> pinned = storage::PinLocalFile(*p, env.scratch + "/pinned");
      if (!pinned.ok()) return pinned.status().WithContext(field);
      if (paths) paths->Add(*pinned, *p, field);
      return pinned;
    }
    if (paths && storage::KindOf(url) != storage::Kind::kLocal) paths->Add(*p, url, field);
    return p;
  };
}

engine::TranscodeOptions EngineOptions(const Environment& env) {
  engine::TranscodeOptions options;
  options.cancel = env.cancel;
  options.threads = env.threads;
  options.max_source_duration = env.max_source_duration;
  options.progress_interval = env.progress_interval;
  options.on_progress = env.events.on_progress;
  if (env.remote)  // a service job: local destinations are judged again as they resolve now
    options.check_destination = [&env](const std::string& destination) -> Status {
      for (const std::string& own : {env.scratch, env.staging})
        if (!own.empty() && destination.rfind(own + "/", 0) == 0)
          return Status::Ok();  // staged for delivery elsewhere, or a task's staged chunk
      return storage::CheckLocalWrite(destination, env.storage);
    };
  return options;
}

ProgressMessage ProgressLine(const engine::Progress& p) {
  return {p.fraction, p.media_seconds, p.fps, p.speed, p.elapsed, p.phase, p.phase_fraction};
}

Result<std::string> LocalPath(const std::string& url, const std::string& field) {
  if (url.rfind("file://", 0) == 0) return url.substr(7);
  if (url.find("://") != std::string::npos || url.rfind("data:", 0) == 0)
    return InvalidArgument(field +
                           ": `reel transcode` reads and writes local files; remote "
                           "sources and destinations work through `reel serve`");
  return url;
}

AttemptOutcome Run(const job::JobSpec& spec, const Environment& env) {
  TransferHooks hooks(env);
  ServerPaths paths(env.remote ? env.scratch : "");
  if (!env.staging.empty()) paths.Add(env.staging, "staging", "staging");
  FetchedSources fetched;  // staged for the tasks, should the job fan out
  Result<AttemptPlan> plan = MakePlan(spec, Recording(ResolverFor(env, &paths), &fetched));
  if (!plan.ok()) return AttemptError{Stage::kPrepare, paths.Hide(plan.status())};
  // Why a job that could have fanned out did not (said in the result); empty otherwise.
  std::string unchunked;
  if (env.fan_out.allowed) {
    Result<std::optional<FanOutMessage>> fan_out =
        DecideFanOut(spec, *plan, env.fan_out, EngineOptions(env));
    if (!fan_out.ok())
      unchunked = paths.Hide(fan_out.status().message());
    else if (fan_out->has_value()) {
      Status staged = StageSources(fetched, env, &**fan_out);
      if (!staged.ok()) return AttemptError{Stage::kPrepare, paths.Hide(staged)};
      return std::move(**fan_out);
    }
  }

  Result<engine::TranscodeResult> result = engine::Transcode(plan->engine, EngineOptions(env));
  if (env.events.on_encoded) env.events.on_encoded();
  if (!result.ok()) return AttemptError{Stage::kEncode, paths.Hide(result.status())};

  json out = engine::ToJson(*result);
  if (!unchunked.empty()) out["chunking"] = {{"chunked", false}, {"reason", unchunked}};
  Status delivered = Deliver(spec, *plan, *result, env, &out);
  if (!delivered.ok()) return AttemptError{Stage::kDeliver, paths.Hide(delivered)};
  paths.Hide(out);  // per-output errors; the tenant's metadata goes in as it came, after
  if (!spec.metadata.empty()) out["metadata"] = spec.metadata;

  std::string errors = OutputErrors(*result);
  return AttemptResult{std::move(out),
                       errors.empty() ? Status::Ok() : paths.Hide(InvalidArgument(errors))};
}

}  // namespace reel::attempt
