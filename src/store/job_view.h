// The public view of a job, as API answers and event streams show it: the spec with its
// credentials redacted, progress, attempts and result. Lists leave out the per-attempt log and
// the tasks (`with_attempts` false); a single job shows them.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/job_store.h"

namespace reel::store {

nlohmann::json JobView(const Job& job, bool with_attempts = true);

// Local paths in views (the spec's sources and destinations, the result's files) are shown
// relative to the allowed root they lie under ("out/a.mp4", not "/srv/media/out/a.mp4"): tenants
// name them that way, and the server's own layout is none of their business. Set once at start,
// before any view is made.
void ShowPathsRelativeTo(std::vector<std::string> roots);

}  // namespace reel::store
