// An attempt's files on the worker's disk: its scratch directory ("<job id>-<attempt>" under the
// work directory, or "<task id>-<attempt>" for a task of a job that fanned out, so that tasks of
// one job running side by side here never share or delete each other's) with the spec the child
// reads, its credentials opened, and the child's stderr.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "store/job_store.h"

namespace reel::worker {

struct AttemptScratch {
  std::string dir;
  std::string spec_path;  // 0600: it may hold the job's opened credentials
  std::string log_path;
  std::string task_path;  // a task's: what it runs (attempt::TaskRun as JSON)
  // Set when the spec could not be prepared (its credentials do not open with this server's
  // key, the file cannot be written): the attempt fails for good without running.
  std::string error;
  // 0600: the S3 profiles of the server's storage config that the job names (child_env.h
  // ChildStorageConfig), for the child's --storage-config; empty when it names none.
  std::string storage_path = "";
};

// What of the server's storage settings a child may be given a part of.
struct ServerStorage {
  std::string config_file;  // the server's --storage-config; empty: none
  std::string staging;      // where chunks are staged, if that is a URL (its profile is needed)
};

// Creates the attempt's scratch directory, removing what earlier attempts of the job that died
// here left, and writes the spec with its sealed credentials and URLs opened, and the part of
// the server's storage config the job needs.
AttemptScratch PrepareScratch(const std::string& work_dir, const store::Job& job,
                              const std::string& secret_key, const ServerStorage& storage = {});

// The same for attempt `task.attempts` of a task of `job`, with `task_run` written beside.
AttemptScratch PrepareTaskScratch(const std::string& work_dir, const store::Job& job,
                                  const store::Task& task, const nlohmann::json& task_run,
                                  const std::string& secret_key, const ServerStorage& storage = {});

// Removes what a killed child may have left staged beside each local destination of `spec` (a
// staging name, layout.h), so that a new attempt does not mix with it. A destination's folder is
// opened as it was checked (resolved, part by part without following a link): one replaced by
// a link since is left alone rather than cleaned wherever the link points.
void RemoveStagedOutputs(const nlohmann::json& spec);

}  // namespace reel::worker
