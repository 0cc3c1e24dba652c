// JobService: what a tenant may do with jobs (submit, get, list, cancel, retry, delete) and the
// rules of each (whose jobs a key sees, idempotency keys, the order submissions are checked in,
// limits, which states allow a cancel or a retry), without HTTP. The API parses a request,
// calls this, and maps the result to a reply; tests call it directly.
//
// A submission is two steps so that the API can keep work that is not store work off the
// store's deadline: Prepare (the spec, its sources and destinations: file system and DNS, no
// store) and Submit (the store).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "net/http.h"
#include "service/local_runner.h"
#include "storage/s3.h"
#include "store/job_store.h"

namespace reel::service {

struct JobServiceOptions {
  int max_attempts = 3;  // attempts per job, and again after each manual retry
  int max_retries = 5;   // manual retries per job
  // Jobs one key may have queued or running at once (429 beyond); 0: no limit. Admin keys
  // have none.
  int max_jobs_per_key = 10000;
  // The highest `priority` a key that is not an admin's may give a job (400 above it): 100, the
  // spec's own bound, lets tenants go before each other; 0 keeps their jobs to taking turns.
  int max_priority = 100;
  std::vector<std::string> allow_paths;
  std::vector<std::string> forbidden_paths;  // the server's own files: never a destination
  net::AddressPolicy address_policy;
  std::map<std::string, storage::S3Profile> s3_profiles;
  std::string secret_key;       // seals per-job credentials at rest
  std::string default_webhook;  // for jobs that name none
};

// Who asks: a key that sees its own jobs, or every job when it is an admin key.
struct Caller {
  store::ApiKey key;
  bool CanSee(const store::Job& job) const { return key.admin || job.owner == key.id; }
  std::string OwnerFilter() const { return key.admin ? "" : key.id; }
};

// Why a request is invalid, for a kInvalidArgument refusal: the API's error code
// ("invalid_spec", "invalid_path", ...) and the field it names ("" when none).
struct Invalid {
  std::string code;
  std::string field;
};

// A submission that passed every check that needs no store: the spec as it will be stored
// (local paths resolved, secrets sealed, the default webhook added).
struct PreparedJob {
  nlohmann::json stored;
  int priority = 0;
  std::vector<std::string> tags;
  std::string idempotency_key;  // "" when none was sent
  std::string request_hash;     // SHA-256 of the body, with an idempotency key
  nlohmann::json storage;       // the key's storage scope it was checked under; null: none
};

struct Submitted {
  store::Job job;
  bool existed = false;  // an earlier submission with the same idempotency key and body
};

// The query of a list, as given (each absent when not given).
struct ListRequest {
  std::optional<std::string> state, limit, cursor;
};

class JobService {
 public:
  // `runner` may be null (an API-only node).
  JobService(JobServiceOptions options, store::JobStore* store, LocalRunner* runner);

  const JobServiceOptions& options() const { return options_; }

  // The caller a key (as sent) belongs to; kNotFound for none or a revoked one.
  Result<Caller> Authenticate(const std::string& key);

  // Checks a submitted body in this order: JSON, spec fields, sources (each must exist within
  // the allowed roots or reach an allowed address), destinations (allowed, not the server's
  // files, never a source), the webhook's address, the idempotency key ("" for none). No store
  // call: it may wait on DNS. With `needs_network`, it stops instead at the first check that may
  // wait on the network (a remote source or destination, a webhook), sets it and returns
  // kUnavailable: a caller that must not wait (the API on its store pool) does only those
  // submissions elsewhere.
  // Sources and destinations are checked within what the caller's key reaches (its storage
  // scope, ApiKey::storage), which the job keeps and runs under.
  Result<PreparedJob> Prepare(const Caller& caller, const std::string& body,
                              const std::string& idempotency_key, Invalid* invalid,
                              bool* needs_network = nullptr) const;
  // Creates the job (or finds the one the same idempotency key and body made) and wakes the
  // local workers.
  Result<Submitted> Submit(const Caller& caller, PreparedJob job);

  // Every call below is kNotFound for a job the caller may not see, as for one that does not
  // exist.
  Result<store::Job> Get(const Caller& caller, const std::string& id);
  Result<store::ListPage> List(const Caller& caller, const ListRequest& request, Invalid* invalid);
  // A queued job is canceled at once; a running one is stopped by its worker.
  Result<store::Job> Cancel(const Caller& caller, const std::string& id);
  // A failed or canceled job goes back to the queue with `max_attempts` more attempts, numbered
  // on from its last; kFailedPrecondition for any other state or past `max_retries`.
  Result<store::Job> Retry(const Caller& caller, const std::string& id);
  // Deletes a finished job with its attempts and webhook deliveries.
  Status Delete(const Caller& caller, const std::string& id);
  Result<std::vector<store::WebhookDelivery>> Webhooks(const Caller& caller, const std::string& id);
  Result<std::map<std::string, int64_t>> Counts(const Caller& caller);

 private:
  JobServiceOptions options_;
  store::JobStore* store_;
  LocalRunner* runner_;
};

}  // namespace reel::service
