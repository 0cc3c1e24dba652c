// The public view of a job, as API answers and event streams show it: the spec with its
// credentials redacted, progress, attempts and result. Lists leave out the per-attempt log
// (`with_attempts` false); a single job shows it.
#pragma once

#include <nlohmann/json.hpp>

#include "store/job_store.h"

namespace reel::store {

nlohmann::json JobView(const Job& job, bool with_attempts = true);

}  // namespace reel::store
