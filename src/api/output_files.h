// Files of a job's outputs, served by the API to whoever may see the job (the dashboard's player,
// thumbnails and downloads): from local disk, or from the S3 bucket the output was delivered to.
// Only what the job's result names can be reached: a directory output (HLS, DASH, a numbered
// thumbnail set) and what is inside it, or a file output and the files written beside it (a
// sprite's WebVTT, a waveform's PNG).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace reel::api {

struct OutputFile {
  std::string path;        // a local file (absolute, resolved), or
  std::string remote_url;  // the s3:// object it was delivered as
  std::string content_type;
};

// `relative` is the rest of /v1/jobs/{id}/outputs/{index}/...: a path inside a directory output,
// or the name of a file output (or of a file beside it). NotFound for anything else, and for
// outputs delivered elsewhere than S3 (HTTP and FTP servers are read where they are).
Result<OutputFile> FindOutputFile(const nlohmann::json& spec, const nlohmann::json& result,
                                  int index, const std::string& relative);

}  // namespace reel::api
