// An attempt's files on the worker's disk: its scratch directory ("<job id>-<attempt>" under the
// work directory) with the spec the child reads, its credentials opened, and the child's stderr.
#pragma once

#include <string>

#include "store/job_store.h"

namespace reel::worker {

struct AttemptScratch {
  std::string dir;
  std::string spec_path;  // 0600: it may hold the job's opened credentials
  std::string log_path;
  // Set when the spec could not be prepared (its credentials do not open with this server's
  // key, the file cannot be written): the attempt fails for good without running.
  std::string error;
};

// Creates the attempt's scratch directory, removing what earlier attempts of the job that died
// here left, and writes the spec with its sealed credentials and URLs opened.
AttemptScratch PrepareScratch(const std::string& work_dir, const store::Job& job,
                              const std::string& secret_key);

}  // namespace reel::worker
