// The line protocol between `reel run-job` (one attempt, in a child process) and the worker
// that supervises it. The child writes one JSON object per line on its stdout:
//
//   {"event":"progress","fraction":0.4,"media_seconds":..,"fps":..,"speed":..,"elapsed":..}
//   {"event":"transfer","bytes":123456}       bytes moved so far by downloads and uploads
//   {"event":"result",...the result JSON...}  the attempt produced its outputs
//   {"event":"error","code":"invalid_argument","retry":"permanent","message":".."}
//
// Both ends encode and decode here, so the format lives in one place. Whether a failure is worth
// another attempt is decided by the child, which knows why it failed, and travels as `retry`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

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
  // As the store and the event streams show it: the fields above, without "event".
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

using Message = std::variant<ProgressMessage, TransferMessage, ResultMessage, ErrorMessage>;

// One line of JSON, without the newline.
std::string Encode(const Message& message);
// A line as written by Encode (without its newline). Anything else is kInvalidArgument: the
// worker ignores such lines rather than guess.
Result<Message> Decode(std::string_view line);

}  // namespace reel::attempt
