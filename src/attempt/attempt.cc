#include "attempt/attempt.h"

#include "attempt/fan_out.h"
#include "attempt/plan.h"
#include "attempt/run_parts.h"
#include "net/http.h"

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

Resolver ResolverFor(const Environment& env) {
  return
      [&env](const std::string& url, const std::string& field, Role role) -> Result<std::string> {
        if (!env.remote) return LocalPath(url, field);
        Result<std::string> p =
            role == Role::kSource
                ? storage::FetchSource(url, env.scratch, env.storage)
                : storage::LocalTarget(url, role == Role::kDirectory, env.scratch, env.storage);
        if (!p.ok()) return p.status().WithContext(field);
        return p;
      };
}

engine::TranscodeOptions EngineOptions(const Environment& env) {
  engine::TranscodeOptions options;
  options.cancel = env.cancel;
  options.threads = env.threads;
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
  return {p.fraction, p.media_seconds, p.fps, p.speed, p.elapsed};
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
  Result<AttemptPlan> plan = MakePlan(spec, ResolverFor(env));
  if (!plan.ok()) return AttemptError{Stage::kPrepare, plan.status()};
  // Why a job that could have fanned out did not (said in the result); empty otherwise.
  std::string unchunked;
  if (env.fan_out.allowed) {
    Result<std::optional<FanOutMessage>> fan_out = DecideFanOut(spec, *plan, env.fan_out);
    if (!fan_out.ok())
      unchunked = fan_out.status().message();
    else if (fan_out->has_value())
      return std::move(**fan_out);
  }

  Result<engine::TranscodeResult> result = engine::Transcode(plan->engine, EngineOptions(env));
  if (env.events.on_encoded) env.events.on_encoded();
  if (!result.ok()) return AttemptError{Stage::kEncode, result.status()};

  json out = engine::ToJson(*result);
  if (!spec.metadata.empty()) out["metadata"] = spec.metadata;
  if (!unchunked.empty()) out["chunking"] = {{"chunked", false}, {"reason", unchunked}};
  Status delivered = Deliver(spec, *plan, *result, env, &out);
  if (!delivered.ok()) return AttemptError{Stage::kDeliver, delivered};

  std::string errors = OutputErrors(*result);
  return AttemptResult{std::move(out), errors.empty() ? Status::Ok() : InvalidArgument(errors)};
}

}  // namespace reel::attempt
