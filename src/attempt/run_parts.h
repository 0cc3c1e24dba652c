// The parts of an attempt that a whole run (attempt.cc) and a task of a fanned-out job
// (fan_out.cc) share: the transfer hooks, the URL resolver, the engine's options and the
// delivery of the outputs. Internal to the attempt module.
#pragma once

#include <string>
#include <utility>
#include <vector>

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

// What a tenant is shown of the files an attempt keeps on the server: a fetched source or a
// staged output by the URL the job gave for it, anything else in the scratch by its name inside
// it. Errors reach the job's error, its attempt log and its webhooks; where the server keeps its
// data directory is not the tenant's business (and helps aim an attack on it).
class ServerPaths {
 public:
  explicit ServerPaths(std::string scratch);
  void Add(const std::string& local, const std::string& url, const std::string& field);
  std::string Hide(std::string text) const;
  Status Hide(const Status& s) const;
  void Hide(nlohmann::json& j) const;

 private:
  std::string scratch_;
  std::vector<std::pair<std::string, std::string>> names_;  // local path, what is shown
};

// Sources fetched into the scratch and remote destinations staged there (remote mode), local
// paths used in place; each remote one recorded in `paths` (if given) to hide its local path.
Resolver ResolverFor(const Environment& env, ServerPaths* paths = nullptr);

engine::TranscodeOptions EngineOptions(const Environment& env);

// Delivers the remote files of `plan`'s outputs that the engine wrote, and points `out`'s
// outputs at them.
Status Deliver(const job::JobSpec& spec, const AttemptPlan& plan,
               const engine::TranscodeResult& engine_result, const Environment& env,
               nlohmann::json* out);

// The engine's per-output errors as one message (empty when none).
std::string OutputErrors(const engine::TranscodeResult& result);

}  // namespace reel::attempt
