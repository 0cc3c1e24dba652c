// From a validated job spec to the engine's plan. Every source and destination URL goes through a
// resolver, which turns it into a local path (the path itself, a download, a scratch target);
// every output keeps its identity (index, kind, the files it writes and where they must go), so
// that delivering them needs no guessing from field names.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "job/spec.h"

namespace reel::attempt {

// What a URL is turned into for the engine: a local path to read, or to write (a directory for
// packages).
enum class Role { kSource, kFile, kDirectory };
using Resolver =
    std::function<Result<std::string>(const std::string& url, const std::string& field, Role)>;

// One file (or directory tree) an output writes.
struct OutputFile {
  std::string field;  // what messages name: "outputs[1].destination"
  std::string url;    // where the spec asks for it
  std::string local;  // where the engine writes it
  // The output's own destination, which the result's "path" reports; false for what is written
  // beside or for it (a sprite's WebVTT track, a waveform's image).
  bool reported = true;
};

struct PlannedOutput {
  int index = 0;
  std::string kind;
  std::vector<OutputFile> files;
};

struct AttemptPlan {
  engine::TranscodePlan engine;
  std::vector<PlannedOutput> outputs;  // in spec order
};

// Resolves every source first, then the outputs in order; the first failure is returned with
// its field as context by the resolver.
Result<AttemptPlan> MakePlan(const job::JobSpec& spec, const Resolver& resolve);

}  // namespace reel::attempt
