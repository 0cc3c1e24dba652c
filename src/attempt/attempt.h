// One attempt of a job, in process: fetch the sources, plan, run the engine, deliver the outputs,
// and build the result JSON. `reel transcode` runs one on local files; `reel run-job` runs one as
// a worker's child and reports it with the line protocol (protocol.h). Nothing here writes to
// stdout or reads flags: callers turn what comes back into output and exit codes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "attempt/protocol.h"
#include "common/status.h"
#include "engine/engine.h"
#include "job/spec.h"
#include "storage/storage.h"

namespace reel::attempt {

// Receives what happens while the attempt runs. Called from the engine's and the transfers'
// threads; must not block.
struct EventSink {
  std::function<void(const engine::Progress&)> on_progress;
  std::function<void(int64_t bytes)> on_transfer;  // bytes moved so far (remote mode)
  std::function<void()> on_encoded;                // the engine has returned, however it ended
};

// The most chunks a job is cut into (README "Chunked encoding"): a 2-hour film in 60 s chunks is
// 120; a longer source gets longer chunks.
inline constexpr int kMaxChunks = 256;

// Whether and how a job may fan out into tasks (README "Chunked encoding"). Only a worker's child
// fans out: the tasks need a staging folder every worker reaches.
struct FanOutPolicy {
  bool allowed = false;
  double chunk_seconds = 60;  // for "auto" and {"seconds"} left to the server
  double min_seconds = 180;   // "auto" chunks sources longer than this...
  int live_slots = 1;         // ...when more than one worker slot is alive to share them
  // Longer chunks than asked rather than more than this many: each chunk costs a child, a lease
  // and the GOPs decoded before and after its range, which a thousand tiny chunks would pay
  // more for than they share.
  int max_chunks = kMaxChunks;
};

struct Environment {
  // false: local paths only ("file://", plain paths), used in place, nothing fetched or
  // delivered (`reel transcode`). true: every storage scheme, sources fetched into `scratch`,
  // remote destinations written there and delivered afterwards (a worker's child).
  bool remote = false;
  std::string scratch;
  storage::Options storage;        // allowed paths and hosts, S3 profiles (remote mode)
  int threads = 0;                 // CPU budget for the engine; 0: all cores
  double max_source_duration = 0;  // seconds: a longer source fails for good; 0: no limit
  const std::atomic<bool>* cancel = nullptr;
  double progress_interval = 0.25;  // seconds between progress events
  EventSink events;
  FanOutPolicy fan_out;
  // A task's job's staging folder, which every worker reaches: chunks and audio are written
  // there under their attempt's own folder, and the stitch reads them from it. Or an S3 prefix
  // ("s3://bucket/prefix/<job>/", staging_store.h), reached with the server's `staging_profiles`
  // (the job's own credentials never sign for it).
  std::string staging;
  std::map<std::string, storage::S3Profile> staging_profiles;
  // With an S3 staging, the host's copies of staged sources ("<dir>/<job>/sources/..."), shared
  // by the tasks that run here so that the host downloads each once; empty: none kept.
  std::string source_cache;
  // Where a job's progressive publisher keeps, on this host, what its turns fetched and built
  // ("<dir>/<job>/...", publish.h), so that a turn does only what is new; empty: each turn
  // builds everything again in its scratch.
  std::string publish_cache;
};

// Where an attempt failed: a canceled encode removed its partial outputs, a canceled transfer
// had none to remove.
enum class Stage { kPrepare, kEncode, kDeliver };

struct AttemptError {
  Stage stage = Stage::kPrepare;
  Status status;
  Retry retry() const { return Classify(status.code()); }
};

struct AttemptResult {
  nlohmann::json result;  // engine figures, delivered paths and the spec's metadata
  // Outputs the source cannot give (a waveform of a silent video) fail the attempt after the
  // others were written and delivered: then this is kInvalidArgument naming them.
  Status incomplete;
};

// The third ending: the job goes on as tasks (only when env.fan_out allows it).
using AttemptOutcome = std::variant<AttemptResult, AttemptError, FanOutMessage>;

// Runs `spec` (validated by job::ParseJobSpec). In remote mode this installs the process's
// transfer cancel flag and listener (net/http.h) for the length of the run. Having fetched the
// source and made the plan, it may decide to fan out instead (fan_out.h).
AttemptOutcome Run(const job::JobSpec& spec, const Environment& env);

// Runs one task of a job that fanned out (fan_out.h says what each kind does). Its result is the
// task's; a stitch's is the job's, merged from the other tasks' results.
AttemptOutcome RunTask(const job::JobSpec& spec, const TaskRun& task, const Environment& env);

// Confines this process (common/confine.h), before it runs the job of `env`, to the job's local
// roots, its scratch, its staging and (for a `task`) this host's caches of it, and the system's
// files read
// only: a bug in a decoder that a crafted input exploits cannot reach the server's store, its
// keys or another job's media. For a worker's child; REEL_CONFINE=0 turns it off. Best effort:
// a kernel without Landlock, or a confinement that fails, runs the job unconfined (the latter
// with a warning in the attempt's log).
Status ConfineAttempt(const Environment& env, bool task);

// The engine's progress as a protocol line.
ProgressMessage ProgressLine(const engine::Progress& p);

// "file:///x", "/x" and "x" as a path; anything else refused, naming `field` (local mode).
Result<std::string> LocalPath(const std::string& url, const std::string& field);

}  // namespace reel::attempt
