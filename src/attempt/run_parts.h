// The parts of an attempt that a whole run (attempt.cc) and a task of a fanned-out job
// (fan_out.cc) share: the transfer hooks, the URL resolver, the engine's options and the
// delivery of the outputs. Internal to the attempt module.
#pragma once

#include <nlohmann/json.hpp>

#include "attempt/attempt.h"
#include "attempt/plan.h"

namespace reel::attempt {

// The process-wide transfer hooks (net/http.h), set for one run and cleared after it.
class TransferHooks {
 public:
  explicit TransferHooks(const Environment& env);
  ~TransferHooks();
  TransferHooks(const TransferHooks&) = delete;
  TransferHooks& operator=(const TransferHooks&) = delete;

 private:
  bool active_;
};

// Sources fetched into the scratch and remote destinations staged there (remote mode), local
// paths used in place.
Resolver ResolverFor(const Environment& env);

engine::TranscodeOptions EngineOptions(const Environment& env);

// Delivers the remote files of `plan`'s outputs that the engine wrote, and points `out`'s
// outputs at them.
Status Deliver(const job::JobSpec& spec, const AttemptPlan& plan,
               const engine::TranscodeResult& engine_result, const Environment& env,
               nlohmann::json* out);

// The engine's per-output errors as one message (empty when none).
std::string OutputErrors(const engine::TranscodeResult& result);

}  // namespace reel::attempt
