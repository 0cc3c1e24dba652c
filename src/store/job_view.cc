#include "store/job_view.h"

#include "common/redact.h"

namespace reel::store {
namespace {

std::vector<std::string>& Roots() {
  static std::vector<std::string> roots;
  return roots;
}

// A copy of `j` with every absolute path under a root made relative to it; metadata (the
// tenant's own strings) is left as it is.
nlohmann::json Relative(const nlohmann::json& j) {
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s.empty() || s[0] != '/') return j;
    for (const std::string& root : Roots()) {
      std::string prefix = root == "/" ? root : root + "/";
      if (s == root) return ".";
      if (s.rfind(prefix, 0) == 0 && s.size() > prefix.size()) return s.substr(prefix.size());
    }
    return j;
  }
  nlohmann::json out = j;
  if (j.is_object()) {
    for (auto it = out.begin(); it != out.end(); ++it)
      if (it.key() != "metadata") *it = Relative(*it);
  } else if (j.is_array()) {
    for (auto& v : out) v = Relative(v);
  }
  return out;
}

}  // namespace

void ShowPathsRelativeTo(std::vector<std::string> roots) { Roots() = std::move(roots); }

nlohmann::json JobView(const Job& job, bool with_attempts) {
  nlohmann::json attempts = nlohmann::json::array();
  for (const Attempt& a : job.attempt_log) {
    nlohmann::json aj = {{"number", a.number},
                         {"worker_id", a.worker_id},
                         {"host", a.host},
                         {"started_at", a.started_at},
                         {"outcome", a.outcome}};
    if (a.ended_at > 0) aj["ended_at"] = a.ended_at;
    if (!a.error.empty()) aj["error"] = a.error;
    attempts.push_back(std::move(aj));
  }
  nlohmann::json v = {{"id", job.id},
                      {"state", StateName(job.state)},
                      {"spec", Relative(RedactSecrets(job.spec))},
                      {"progress", job.progress},
                      {"attempts", job.attempts},
                      {"max_attempts", job.max_attempts},
                      {"retries", job.retries},
                      {"priority", job.priority},
                      {"created_at", job.created_at},
                      {"updated_at", job.updated_at},
                      {"cancel_requested", job.cancel_requested}};
  if (with_attempts) v["attempt_log"] = attempts;
  // A fanned-out job's tasks: what runs where; their payloads and results are internal.
  if (with_attempts && !job.tasks.empty()) {
    nlohmann::json tasks = nlohmann::json::array();
    for (const Task& t : job.tasks) {
      nlohmann::json tj = {{"id", t.id},
                           {"kind", TaskKindName(t.kind)},
                           {"ordinal", t.ordinal},
                           {"state", StateName(t.state)},
                           {"attempts", t.attempts},
                           {"progress", t.progress.value("fraction", 0.0)}};
      if (!t.worker.empty()) tj["worker_id"] = t.worker;
      if (t.started_at > 0) tj["started_at"] = t.started_at;
      if (t.finished_at > 0) tj["finished_at"] = t.finished_at;
      if (!t.error.empty()) tj["error"] = t.error;
      // A progressive publisher's reach (attempt/publish.h), shown on the job too.
      if (t.kind == TaskKind::kPublish && t.result.is_object()) {
        tj["published_segments"] = t.result.value("segments", 0);
        v["published_segments"] = tj["published_segments"];
      }
      tasks.push_back(std::move(tj));
    }
    v["tasks"] = std::move(tasks);
  }
  if (job.started_at > 0) v["started_at"] = job.started_at;
  if (job.finished_at > 0) v["finished_at"] = job.finished_at;
  if (!job.error.empty()) v["error"] = job.error;
  if (!job.result.is_null()) {
    v["result"] = Relative(job.result);
    // The result echoes the spec's metadata: shown as redacted as the spec shows it.
    if (job.result.is_object() && job.result.contains("metadata"))
      v["result"]["metadata"] = RedactSecrets(job.result["metadata"]);
  }
  return v;
}

}  // namespace reel::store
