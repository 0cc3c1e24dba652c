#include "worker/attempt_log.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "store/job_store.h"
#include "worker/supervisor.h"

namespace reel::worker {
namespace {

constexpr size_t kLongestLine = 4096;

// The tenant reads this log: a file of the attempt's scratch by its name there, not by where the
// server keeps its data (as attempt::ServerPaths does for errors and results).
void HideScratch(std::string& text, const std::string& scratch) {
  if (scratch.size() <= 1) return;
  for (const std::string& from : {scratch + "/", scratch}) {
    const std::string to = from.back() == '/' ? "" : ".";
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  }
}

void HideScratch(log::Record& r, const std::string& scratch) {
  HideScratch(r.msg, scratch);
  for (log::Field& f : r.fields)
    if (f.value.is_string()) {
      std::string v = f.value.get<std::string>();
      HideScratch(v, scratch);
      f.value = v;
    }
}

}  // namespace

AttemptLog ReadAttemptLog(const std::string& path, size_t cap) {
  AttemptLog out;
  const std::string scratch = std::filesystem::path(path).parent_path().string();
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return out;
  int64_t size = static_cast<int64_t>(in.tellg());
  int64_t start = std::max<int64_t>(0, size - static_cast<int64_t>(cap));
  in.seekg(start);
  std::string text(static_cast<size_t>(size - start), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  size_t pos = 0;
  if (start > 0) {
    // The first line read is the tail of a dropped one: drop it whole.
    size_t nl = text.find('\n');
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  out.dropped = start + static_cast<int64_t>(pos);
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty()) continue;
    std::optional<log::Record> r = log::ParseLine(line);
    if (!r) r = log::Record{log::Now(), log::Level::kInfo, log::Clean(line), {}};
    HideScratch(*r, scratch);
    if (r->msg.size() > kLongestLine) {
      // Cut on a character's boundary: what is kept stays UTF-8 (the stored log is JSON).
      size_t end = kLongestLine;
      while (end > 0 && (static_cast<unsigned char>(r->msg[end]) & 0xc0) == 0x80) --end;
      r->msg.resize(end);
    }
    out.lines.push_back(std::move(*r));
  }
  return out;
}

nlohmann::json AttemptLogJson(const AttemptLog& log) {
  nlohmann::json lines = nlohmann::json::array();
  if (log.dropped > 0)
    lines.push_back(
        log::ToJson({log.lines.empty() ? log::Now() : log.lines.front().ts,
                     log::Level::kWarn,
                     "the attempt's log was longer than " + std::to_string(kAttemptLogCap / 1024) +
                         " KiB: its first " + std::to_string(log.dropped) + " bytes were dropped",
                     {}}));
  for (const log::Record& r : log.lines) lines.push_back(log::ToJson(r));
  return {{"lines", std::move(lines)}, {"dropped", log.dropped}};
}

namespace {

// Forwards the child's lines to this process's log with `tags`, and returns them as the store
// keeps them with a last line for the end (outcome, seconds, error) and `extra` lines before it.
nlohmann::json Kept(const log::Fields& tags, const AttemptEnding& ending, double seconds,
                    std::vector<log::Record> extra = {}) {
  AttemptLog kept = ending.log;
  for (const log::Record& r : kept.lines) {
    if (!log::Enabled(r.level)) continue;
    log::Fields fields = tags;
    fields.insert(fields.end(), r.fields.begin(), r.fields.end());
    fields.push_back({"child_ts", r.ts});  // forwarded at the end: when the child wrote it
    log::Write(r.level, r.msg, fields);
  }
  for (log::Record& r : extra) kept.lines.push_back(std::move(r));
  log::Record end{log::Now(),
                  ending.error.empty() ? log::Level::kInfo : log::Level::kError,
                  "attempt ended",
                  {{"outcome", ending.outcome}, {"seconds", std::round(seconds * 100) / 100}}};
  if (!ending.error.empty()) end.fields.push_back({"error", log::Clean(ending.error)});
  kept.lines.push_back(std::move(end));
  return AttemptLogJson(kept);
}

void WarnUnsaved(const Status& saved, log::Fields tags) {
  if (saved.ok()) return;
  tags.push_back({"error", saved.ToString()});
  log::Warn("cannot keep the attempt's log", tags);
}

// The tasks of a fan-out in one short line, whatever their number (up to attempt::kMaxTasks):
// each kind's ordinals as a range, kinds by name (the tasks' order is the lease order, which
// the fan-out chooses): "audio-0 chunk-0..chunk-119 main-0 stitch-0".
std::string TaskNames(const attempt::FanOutMessage& fan_out) {
  std::vector<std::pair<std::string, std::pair<int, int>>> kinds;
  for (const attempt::PlannedTask& t : fan_out.tasks) {
    auto it =
        std::find_if(kinds.begin(), kinds.end(), [&](const auto& k) { return k.first == t.kind; });
    if (it == kinds.end()) {
      kinds.push_back({t.kind, {t.ordinal, t.ordinal}});
    } else {
      it->second.first = std::min(it->second.first, t.ordinal);
      it->second.second = std::max(it->second.second, t.ordinal);
    }
  }
  std::sort(kinds.begin(), kinds.end());
  std::string names;
  for (const auto& [kind, range] : kinds) {
    if (!names.empty()) names += ' ';
    names += TaskName(kind, range.first);
    if (range.second != range.first) names.append("..").append(TaskName(kind, range.second));
  }
  return names;
}

}  // namespace

std::string TaskName(const std::string& kind, int ordinal) {
  return kind + "-" + std::to_string(ordinal);
}

void KeepAttemptLog(store::JobStore* store, const store::Job& job, const std::string& worker_id,
                    const AttemptEnding& ending, double seconds) {
  const log::Fields job_fields = {
      {"job", job.id}, {"attempt", job.attempts}, {"worker", worker_id}};
  std::vector<log::Record> extra;
  if (ending.fan_out)
    extra.push_back({log::Now(),
                     log::Level::kInfo,
                     "the job goes on as tasks; each keeps its own log (reel logs --task NAME)",
                     {{"tasks", TaskNames(*ending.fan_out)}}});
  WarnUnsaved(store->SaveAttemptLog(job.id, job.attempts, worker_id,
                                    Kept(job_fields, ending, seconds, std::move(extra))),
              job_fields);
}

void KeepTaskLog(store::JobStore* store, const store::Task& task, const std::string& worker_id,
                 const AttemptEnding& ending, double seconds) {
  const log::Fields task_fields = {{"job", task.job_id},
                                   {"task", TaskName(store::TaskKindName(task.kind), task.ordinal)},
                                   {"attempt", task.attempts},
                                   {"worker", worker_id}};
  WarnUnsaved(
      store->SaveTaskLog(task.id, worker_id, task.attempts, Kept(task_fields, ending, seconds)),
      task_fields);
}

}  // namespace reel::worker
