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
};

// Creates the attempt's scratch directory, removing what earlier attempts of the job that died
// here left, and writes the spec with its sealed credentials and URLs opened.
AttemptScratch PrepareScratch(const std::string& work_dir, const store::Job& job,
                              const std::string& secret_key);

// The same for attempt `task.attempts` of a task of `job`, with `task_run` written beside.
AttemptScratch PrepareTaskScratch(const std::string& work_dir, const store::Job& job,
                                  const store::Task& task, const nlohmann::json& task_run,
                                  const std::string& secret_key);

}  // namespace reel::worker
