// The line protocol between `reel run-job` (one attempt, in a child process) and the worker
// that supervises it. The child writes one JSON object per line on its stdout:
//
//   {"event":"progress","fraction":0.4,"media_seconds":..,"fps":..,"speed":..,"elapsed":..}
//   {"event":"progress",...,"phase":"analysis","phase_fraction":0.3}
//                                             work before the encode (the per-title pre-pass)
//   {"event":"transfer","bytes":123456}       bytes moved so far by downloads and uploads
//   {"event":"result",...the result JSON...}  the attempt produced its outputs
//   {"event":"error","code":"invalid_argument","retry":"permanent","message":".."}
//   {"event":"fan_out","tasks":[{"kind":"main","ordinal":0,"weight":3,"payload":{..}},..]}
//                                             the job goes on as these tasks (README "Tasks")
//
// Both ends encode and decode here, so the format lives in one place. Whether a failure is worth
// another attempt is decided by the child, which knows why it failed, and travels as `retry`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace reel::attempt {

// Whether another attempt may succeed where this one failed.
enum class Retry {
  kPermanent,  // the input or the spec is wrong: the same again fails the same way
  kRetryable,  // the environment failed (network, disk, a crash): another attempt may not
};
Retry Classify(StatusCode code);
const char* RetryName(Retry retry);

struct ProgressMessage {
  double fraction = 0;
  double media_seconds = 0;
  double fps = 0;
  double speed = 0;
  double elapsed = 0;
  // Work the fraction does not count, before the encode (engine::Progress): "analysis", or "".
  std::string phase;
  double phase_fraction = 0;
  // As the store and the event streams show it: the fields above, without "event" (the phase's
  // only when there is one).
  nlohmann::json ToJson() const;
};

struct TransferMessage {
  int64_t bytes = 0;
};

struct ResultMessage {
  nlohmann::json result;  // an object: the job's result as stored
};

struct ErrorMessage {
  StatusCode code = StatusCode::kInternal;
  Retry retry = Retry::kRetryable;
  std::string message;
  static ErrorMessage From(const Status& status);  // classified by Classify
};

// One task of a fan-out. `kind` is a store::TaskKind name (the worker refuses others);
// `payload` says what the task does and is read back by attempt::RunTask.
struct PlannedTask {
  std::string kind;
  int ordinal = 0;
  double weight = 1;  // its share of the job's progress
  nlohmann::json payload = nlohmann::json::object();
};

// The most tasks one job fans out into (a 2-hour film in 60 s chunks is 120, plus a few).
inline constexpr int kMaxTasks = 1000;

// The first attempt's other ending: instead of a result, the tasks that will produce it. Exactly
// one of them is the stitch that composes the job's result.
struct FanOutMessage {
  std::vector<PlannedTask> tasks;
};

// What a worker hands the child that runs one task (`reel run-job --task FILE`): the task as
// leased and, for a stitch, the results of its job's other tasks (each names the staging folder
// of the attempt that succeeded: the stitch reads those and no other).
struct TaskRun {
  std::string id;
  std::string kind;  // a store::TaskKind name
  int ordinal = 0;
  int attempt = 0;  // the task's attempt number: its fencing token, in its staging folder's name
  nlohmann::json payload = nlohmann::json::object();
  struct Done {
    std::string kind;
    int ordinal = 0;
    nlohmann::json result;
  };
  std::vector<Done> results;  // the succeeded tasks of the job (given to a stitch)
  nlohmann::json ToJson() const;
  static Result<TaskRun> FromJson(const nlohmann::json& j);
};

using Message =
    std::variant<ProgressMessage, TransferMessage, ResultMessage, ErrorMessage, FanOutMessage>;

// One line of JSON, without the newline.
std::string Encode(const Message& message);
// A line as written by Encode (without its newline). Anything else is kInvalidArgument: the
// worker ignores such lines rather than guess.
Result<Message> Decode(std::string_view line);

}  // namespace reel::attempt
