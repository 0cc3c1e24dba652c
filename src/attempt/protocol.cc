#include "attempt/protocol.h"

#include <type_traits>

namespace reel::attempt {
namespace {

using nlohmann::json;

std::optional<StatusCode> ParseCode(const std::string& name) {
  for (StatusCode c :
       {StatusCode::kOk, StatusCode::kInvalidArgument, StatusCode::kNotFound,
        StatusCode::kUnavailable, StatusCode::kDeadlineExceeded, StatusCode::kFailedPrecondition,
        StatusCode::kCanceled, StatusCode::kInternal})
    if (name == StatusCodeName(c)) return c;
  return std::nullopt;
}

// The number at `key`, or false when it is missing or not a number.
bool Number(const json& line, const char* key, double* out) {
  auto it = line.find(key);
  if (it == line.end() || !it->is_number()) return false;
  *out = it->get<double>();
  return true;
}

}  // namespace

Retry Classify(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kFailedPrecondition:
      return Retry::kPermanent;
    default:
      return Retry::kRetryable;
  }
}

const char* RetryName(Retry retry) {
  return retry == Retry::kPermanent ? "permanent" : "retryable";
}

json ProgressMessage::ToJson() const {
  json j = {{"fraction", fraction},
            {"media_seconds", media_seconds},
            {"fps", fps},
            {"speed", speed},
            {"elapsed", elapsed}};
  if (!phase.empty()) {
    j["phase"] = phase;
    j["phase_fraction"] = phase_fraction;
  }
  return j;
}

ErrorMessage ErrorMessage::From(const Status& status) {
  return {status.code(), Classify(status.code()), status.message()};
}

std::string Encode(const Message& message) {
  json line = std::visit(
      [](const auto& m) -> json {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ProgressMessage>) {
          json j = m.ToJson();
          j["event"] = "progress";
          return j;
        } else if constexpr (std::is_same_v<T, TransferMessage>) {
          return {{"event", "transfer"}, {"bytes", m.bytes}};
        } else if constexpr (std::is_same_v<T, FanOutMessage>) {
          json tasks = json::array();
          for (const PlannedTask& t : m.tasks)
            tasks.push_back({{"kind", t.kind},
                             {"ordinal", t.ordinal},
                             {"weight", t.weight},
                             {"payload", t.payload}});
          return {{"event", "fan_out"}, {"tasks", std::move(tasks)}};
        } else if constexpr (std::is_same_v<T, ResultMessage>) {
          json j = m.result.is_object() ? m.result : json::object();
          j["event"] = "result";
          return j;
        } else {
          return {{"event", "error"},
                  {"code", StatusCodeName(m.code)},
                  {"retry", RetryName(m.retry)},
                  {"message", m.message}};
        }
      },
      message);
  // Messages carry names from the media and the file system, not always UTF-8: replaced, so that
  // encoding a line never throws and loses the attempt's result.
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Message> Decode(std::string_view text) {
  json line = json::parse(text, nullptr, false);
  if (line.is_discarded() || !line.is_object()) return InvalidArgument("not a JSON object");
  auto event = line.find("event");
  if (event == line.end() || !event->is_string()) return InvalidArgument("no \"event\"");
  std::string name = event->get<std::string>();
  if (name == "progress") {
    ProgressMessage m;
    if (!Number(line, "fraction", &m.fraction) ||
        !Number(line, "media_seconds", &m.media_seconds) || !Number(line, "fps", &m.fps) ||
        !Number(line, "speed", &m.speed) || !Number(line, "elapsed", &m.elapsed))
      return InvalidArgument("progress: a figure is missing or not a number");
    if (auto phase = line.find("phase"); phase != line.end()) {
      // A known phase only: the worker stores and shows it.
      if (!phase->is_string() || *phase != "analysis" ||
          !Number(line, "phase_fraction", &m.phase_fraction) || !(m.phase_fraction >= 0) ||
          m.phase_fraction > 1)
        return InvalidArgument("progress: an unknown phase");
      m.phase = phase->get<std::string>();
    }
    return Message(m);
  }
  if (name == "transfer") {
    auto bytes = line.find("bytes");
    if (bytes == line.end() || !bytes->is_number_integer() || bytes->get<int64_t>() < 0)
      return InvalidArgument("transfer: \"bytes\" is not a count");
    return Message(TransferMessage{bytes->get<int64_t>()});
  }
  if (name == "result") {
    line.erase("event");
    return Message(ResultMessage{std::move(line)});
  }
  if (name == "fan_out") {
    auto tasks = line.find("tasks");
    if (tasks == line.end() || !tasks->is_array() || tasks->empty() || tasks->size() > kMaxTasks)
      return InvalidArgument("fan_out: \"tasks\" is not a list of 1 to " +
                             std::to_string(kMaxTasks) + " tasks");
    FanOutMessage m;
    for (const json& t : *tasks) {
      auto kind = t.find("kind");
      auto ordinal = t.find("ordinal");
      auto payload = t.find("payload");
      double weight = -1;
      // json::empty() is false for every string: the name's own emptiness is what counts.
      if (!t.is_object() || kind == t.end() || !kind->is_string() ||
          kind->get_ref<const std::string&>().empty() || ordinal == t.end() ||
          !ordinal->is_number_integer() || ordinal->get<int64_t>() < 0 ||
          ordinal->get<int64_t>() > kMaxTasks || payload == t.end() || !payload->is_object() ||
          !Number(t, "weight", &weight) || weight < 0)
        return InvalidArgument("fan_out: a task needs a kind, an ordinal, a weight and a payload");
      m.tasks.push_back(
          {kind->get<std::string>(), static_cast<int>(ordinal->get<int64_t>()), weight, *payload});
      // The store keys tasks by (kind, ordinal): a repeat is a bad plan, not a database error.
      for (size_t i = 0; i + 1 < m.tasks.size(); ++i)
        if (m.tasks[i].kind == m.tasks.back().kind && m.tasks[i].ordinal == m.tasks.back().ordinal)
          return InvalidArgument("fan_out: two tasks share a kind and an ordinal");
    }
    return Message(std::move(m));
  }
  if (name == "error") {
    auto code = line.find("code");
    auto retry = line.find("retry");
    auto message = line.find("message");
    if (code == line.end() || !code->is_string() || retry == line.end() || !retry->is_string() ||
        message == line.end() || !message->is_string())
      return InvalidArgument("error: needs \"code\", \"retry\" and \"message\" strings");
    std::optional<StatusCode> parsed = ParseCode(code->get<std::string>());
    if (!parsed || *parsed == StatusCode::kOk) return InvalidArgument("error: unknown code");
    std::string r = retry->get<std::string>();
    if (r != RetryName(Retry::kPermanent) && r != RetryName(Retry::kRetryable))
      return InvalidArgument("error: \"retry\" is neither permanent nor retryable");
    return Message(ErrorMessage{
        *parsed, r == RetryName(Retry::kPermanent) ? Retry::kPermanent : Retry::kRetryable,
        message->get<std::string>()});
  }
  return InvalidArgument("unknown event \"" + name + "\"");
}

json TaskRun::ToJson() const {
  json done = json::array();
  for (const Done& d : results)
    done.push_back({{"kind", d.kind}, {"ordinal", d.ordinal}, {"result", d.result}});
  return {{"id", id},           {"kind", kind},       {"ordinal", ordinal},
          {"attempt", attempt}, {"payload", payload}, {"results", std::move(done)}};
}

Result<TaskRun> TaskRun::FromJson(const json& j) {
  TaskRun t;
  try {
    t.id = j.at("id").get<std::string>();
    t.kind = j.at("kind").get<std::string>();
    t.ordinal = j.at("ordinal").get<int>();
    t.attempt = j.at("attempt").get<int>();
    t.payload = j.at("payload");
    for (const json& d : j.at("results"))
      t.results.push_back(
          {d.at("kind").get<std::string>(), d.at("ordinal").get<int>(), d.at("result")});
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("unreadable task: ") + e.what());
  }
  return t;
}

}  // namespace reel::attempt
