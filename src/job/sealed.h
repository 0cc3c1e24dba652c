// A job's secrets at rest: what the API seals when a job is submitted and what the worker (and
// the API, to read an output back from a bucket) opens, in one place. The stored spec keeps its
// source and destination URLs redacted and one "credentials": {"sealed": ...} holding, sealed
// under the server's key (AES-256-GCM), the job's own storage credentials ("s3") and every URL
// that carried a password or token ("urls": [{"at": JSON pointer, "url": whole URL}]).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace reel::job {

// The spec to store: its "credentials" and the secrets of its URLs sealed under `key`, the URLs
// redacted. A spec with no secret comes back unchanged.
nlohmann::json SealSecrets(nlohmann::json spec, const std::string& key);

// The secrets sealed in a stored spec: {"s3": ..., "urls": [...]} as far as present; an empty
// object when it has none. kInternal when they do not open with `key`.
Result<nlohmann::json> OpenSecrets(const nlohmann::json& stored, const std::string& key);

// The stored spec as submitted, for the attempt: sealed URLs back where they were, and
// "credentials" the job's own storage credentials (absent when it has none).
Result<nlohmann::json> OpenSpec(const nlohmann::json& stored, const std::string& key);

}  // namespace reel::job
