#include "service/job_service.h"

#include <cstdlib>
#include <utility>

#include "common/crypto.h"
#include "common/log.h"
#include "common/redact.h"
#include "job/sealed.h"
#include "job/spec.h"
#include "storage/storage.h"

namespace reel::service {
namespace {

using nlohmann::json;

// A kInvalidArgument refusal naming its code and field.
Status Refuse(Invalid* invalid, std::string code, std::string message, std::string field = "") {
  if (invalid) *invalid = Invalid{std::move(code), std::move(field)};
  return InvalidArgument(std::move(message));
}

}  // namespace

JobService::JobService(JobServiceOptions options, store::JobStore* store, LocalRunner* runner)
    : options_(std::move(options)), store_(store), runner_(runner) {}

Result<Caller> JobService::Authenticate(const std::string& key) {
  if (key.empty())
    return NotFound("an API key is required (Authorization: Bearer KEY or X-API-Key)");
  std::string hash = Sha256Hex(key);
  Result<store::ApiKey> found = store_->FindKeyByHash(hash);
  // A store that does not answer is not a wrong key.
  if (!found.ok() && found.status().code() == StatusCode::kUnavailable) return found.status();
  // The lookup is by the hash of a 192-bit random key; the comparison below is what decides.
  if (!found.ok() || found->revoked || !ConstantTimeEquals(found->hash, hash))
    return NotFound("invalid or revoked API key");
  return Caller{*found};
}

Result<PreparedJob> JobService::Prepare(const Caller& caller, const std::string& body,
                                        const std::string& idempotency_key, Invalid* invalid,
                                        bool* needs_network) const {
  if (needs_network) *needs_network = false;
  auto offline = [&](const std::string& url) {
    storage::Kind kind = storage::KindOf(url);
    if (!needs_network || kind == storage::Kind::kLocal || kind == storage::Kind::kData)
      return false;
    *needs_network = true;
    return true;
  };
  Result<json> document = job::ParseJobDocument(body);
  if (!document.ok())
    return Refuse(invalid, "invalid_json", "the body is " + document.status().message());
  job::FieldError fe;
  Result<job::JobSpec> spec = job::ParseJobSpec(*document, &fe);
  if (!spec.ok()) return Refuse(invalid, "invalid_spec", fe.message, fe.field);
  if (!caller.key.admin && spec->priority > options_.max_priority)
    return Refuse(invalid, "invalid_spec",
                  "at most " + std::to_string(options_.max_priority) +
                      " for this key (the server's --max-priority; admin keys have none)",
                  "priority");
  // Local paths must stay inside the allowed roots (stored resolved); remote ones must reach
  // allowed addresses; inline media must decode within its cap.
  json stored = std::move(*document);
  storage::Options so;
  so.allow_paths = options_.allow_paths;
  so.forbidden_roots = options_.forbidden_paths;
  so.policy = options_.address_policy;
  so.s3_profiles = storage::WithJobCredentials(options_.s3_profiles, spec->s3_credentials);
  Result<std::optional<storage::KeyScope>> scope = storage::ParseKeyScope(caller.key.storage);
  if (!scope.ok())  // a damaged row: nothing is reached until the operator mends it
    return FailedPrecondition("this API key's storage scope cannot be read (" +
                              scope.status().message() + "); tell the server's operator");
  if (*scope) so = storage::Narrowed(std::move(so), **scope);
  std::vector<std::string> sources;  // checked first: no destination may overwrite one
  auto check = [&](json& value, const std::string& field, bool source) -> Status {
    if (offline(value.get<std::string>())) return Unavailable("the check needs the network");
    Result<std::string> p = source ? storage::CheckSource(value.get<std::string>(), so)
                                   : storage::CheckDestination(value.get<std::string>(), so);
    if (!p.ok()) return Refuse(invalid, "invalid_path", p.status().message(), field);
    if (source) sources.push_back(*p);
    if (Status s = source ? Status() : storage::CheckNotASource(*p, sources); !s.ok())
      return Refuse(invalid, "invalid_path", s.message(), field);
    value = *p;
    return Status::Ok();
  };
  auto check_input = [&](json& value, const std::string& field) -> Status {
    if (value.is_string()) return check(value, field, true);
    if (value.contains("inline")) {
      json url = "data:application/octet-stream;base64," + value["inline"].get<std::string>();
      return check(url, field + ".inline", true);  // checked, stored as given
    }
    return check(value["url"], field + ".url", true);
  };
  if (stored.contains("sources")) {
    for (size_t i = 0; i < stored["sources"].size(); ++i)
      REEL_RETURN_IF_ERROR(check_input(stored["sources"][i], "sources[" + std::to_string(i) + "]"));
  } else {
    REEL_RETURN_IF_ERROR(check_input(stored["source"], "source"));
  }
  for (const char* input : {"audio", "subtitles"})
    if (stored.contains(input)) REEL_RETURN_IF_ERROR(check_input(stored[input], input));
  if (stored.contains("subtitle_tracks"))
    for (size_t i = 0; i < stored["subtitle_tracks"].size(); ++i)
      REEL_RETURN_IF_ERROR(
          check_input(stored["subtitle_tracks"][i], "subtitle_tracks[" + std::to_string(i) + "]"));
  for (size_t i = 0; i < stored["outputs"].size(); ++i) {
    json& o = stored["outputs"][i];
    std::string where = "outputs[" + std::to_string(i) + "]";
    if (o.contains("destination"))
      REEL_RETURN_IF_ERROR(check(o["destination"], where + ".destination", false));
    if (o.contains("image")) REEL_RETURN_IF_ERROR(check(o["image"], where + ".image", false));
  }
  if (stored.contains("webhook")) {
    if (needs_network) {
      *needs_network = true;
      return Unavailable("the check needs the network");
    }
    Status reachable = options_.address_policy.CheckUrl(stored["webhook"]["url"]);
    if (!reachable.ok())
      return Refuse(invalid, "invalid_webhook", reachable.message(), "webhook.url");
  }
  if (!stored.contains("webhook") && !options_.default_webhook.empty())
    stored["webhook"] = {{"url", options_.default_webhook}};
  if (stored.contains("metadata")) stored["metadata"] = RedactSecrets(stored["metadata"]);
  if (idempotency_key.size() > 255)
    return Refuse(invalid, "invalid_header", "Idempotency-Key is longer than 255 characters");
  // Credentials, and URLs that carry a password or token, are kept sealed and opened only where
  // the job runs; the API shows them as [redacted].
  return PreparedJob{job::SealSecrets(std::move(stored), options_.secret_key),
                     spec->priority,
                     spec->tags,
                     idempotency_key,
                     idempotency_key.empty() ? "" : Sha256Hex(body),
                     *scope ? storage::KeyScopeJson(**scope) : json()};
}

Result<Submitted> JobService::Submit(const Caller& caller, PreparedJob job) {
  store::NewJob nj{caller.key.id,
                   std::move(job.stored),
                   options_.max_attempts,
                   std::move(job.idempotency_key),
                   std::move(job.request_hash),
                   job.priority,
                   std::move(job.tags),
                   std::move(job.storage),
                   caller.key.admin ? 0 : options_.max_jobs_per_key};
  Submitted out;
  Result<store::Job> created = store_->CreateJob(nj, &out.existed);
  if (!created.ok()) return created.status();
  out.job = std::move(*created);
  if (!out.existed) {
    log::Info("job submitted", {{"job", out.job.id}, {"owner", caller.key.name}});
    if (runner_) runner_->Wake();
  }
  return out;
}

Result<store::Job> JobService::Get(const Caller& caller, const std::string& id) {
  Result<store::Job> job = store_->GetJob(id);
  if (!job.ok() && job.status().code() != StatusCode::kNotFound) return job.status();
  if (!job.ok() || !caller.CanSee(*job)) return NotFound("no job " + id);
  return job;
}

Result<store::ListPage> JobService::List(const Caller& caller, const ListRequest& request,
                                         Invalid* invalid) {
  store::ListQuery q;
  q.owner = caller.OwnerFilter();
  if (request.state) {
    q.state = store::ParseState(*request.state);
    if (!q.state)
      return Refuse(invalid, "invalid_argument",
                    "unknown state (queued, running, succeeded, failed, canceled)", "state");
  }
  if (request.limit) {
    const std::string& text = *request.limit;
    char* end = nullptr;
    long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end || v < 1 || v > 200)
      return Refuse(invalid, "invalid_argument", "must be between 1 and 200", "limit");
    q.limit = static_cast<int>(v);
  }
  if (request.cursor) {
    const std::string& cursor = *request.cursor;
    if (cursor.empty() || cursor.find_first_not_of("0123456789") != std::string::npos)
      return Refuse(invalid, "invalid_argument", "not a cursor from this API", "cursor");
    q.cursor = cursor;
  }
  return store_->ListJobs(q);
}

Result<store::Job> JobService::Cancel(const Caller& caller, const std::string& id) {
  Result<store::Job> job = Get(caller, id);
  if (!job.ok()) return job;
  Result<store::Job> r = store_->RequestCancel(job->id);
  if (r.ok() && runner_ && r->state == store::JobState::kRunning) runner_->Cancel(job->id);
  return r;
}

Result<store::Job> JobService::Retry(const Caller& caller, const std::string& id) {
  Result<store::Job> job = Get(caller, id);
  if (!job.ok()) return job;
  Result<store::Job> r = store_->Retry(job->id, {options_.max_attempts, options_.max_retries,
                                                 caller.key.admin ? 0 : options_.max_jobs_per_key});
  if (r.ok() && runner_) runner_->Wake();
  return r;
}

Status JobService::Delete(const Caller& caller, const std::string& id) {
  Result<store::Job> job = Get(caller, id);
  if (!job.ok()) return job.status();
  return store_->DeleteJob(job->id);
}

Result<std::vector<store::WebhookDelivery>> JobService::Webhooks(const Caller& caller,
                                                                 const std::string& id) {
  Result<store::Job> job = Get(caller, id);
  if (!job.ok()) return job.status();
  return store_->ListWebhooks(job->id);
}

Result<std::map<std::string, int64_t>> JobService::Counts(const Caller& caller) {
  return store_->CountByState(caller.OwnerFilter());
}

}  // namespace reel::service
