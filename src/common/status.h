// Status and Result<T>: how errors travel between reel's modules.
//
// Errors from untrusted input or the environment (a bad media file, an unwritable directory, a bad
// job spec) are values of this type; broken invariants are assertions. The code set is small on
// purpose: it maps straight to an HTTP status and to "retry or not".
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace reel {

enum class StatusCode {
  kOk,
  kInvalidArgument,  // the request or the input is wrong; retrying will not help
  kNotFound,
  kUnavailable,  // the environment failed (disk, network); retrying may help
  kDeadlineExceeded,
  kFailedPrecondition,  // not in a state that allows this (cancel a finished job): HTTP 409
  kCanceled,
  kInternal,
  kResourceExhausted,  // a limit of the caller's is reached (its jobs in the queue): HTTP 429
};

const char* StatusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

  // Returns a copy whose message is "context: message", keeping the code.
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status Canceled(std::string m) { return {StatusCode::kCanceled, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status ResourceExhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit on purpose

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace reel

// Returns early from the enclosing function with the status of `expr` if it is not OK.
#define REEL_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::reel::Status reel_status_ = (expr);        \
    if (!reel_status_.ok()) return reel_status_; \
  } while (0)
