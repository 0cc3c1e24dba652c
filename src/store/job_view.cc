#include "store/job_view.h"

#include "common/redact.h"

namespace reel::store {

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
                      {"spec", RedactSecrets(job.spec)},
                      {"progress", job.progress},
                      {"attempts", job.attempts},
                      {"max_attempts", job.max_attempts},
                      {"retries", job.retries},
                      {"priority", job.priority},
                      {"created_at", job.created_at},
                      {"updated_at", job.updated_at},
                      {"cancel_requested", job.cancel_requested}};
  if (with_attempts) v["attempt_log"] = attempts;
  if (job.started_at > 0) v["started_at"] = job.started_at;
  if (job.finished_at > 0) v["finished_at"] = job.finished_at;
  if (!job.error.empty()) v["error"] = job.error;
  if (!job.result.is_null()) v["result"] = job.result;
  return v;
}

}  // namespace reel::store
