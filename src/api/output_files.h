// Files of a job's outputs written to local disk, served by the API to whoever may see the job
// (the dashboard's player, thumbnails and downloads). Only what the job's result names can be
// reached: a directory output (HLS, DASH, a numbered thumbnail set) and what is inside it, or a
// file output and the files written beside it (a sprite's WebVTT, a waveform's PNG).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace reel::api {

struct OutputFile {
  std::string path;  // absolute, resolved
  std::string content_type;
  uintmax_t size = 0;
};

// `relative` is the rest of /v1/jobs/{id}/outputs/{index}/...: a path inside a directory output,
// or the name of a file output (or of a file beside it). NotFound for anything else.
Result<OutputFile> FindOutputFile(const nlohmann::json& result, int index,
                                  const std::string& relative);

}  // namespace reel::api
