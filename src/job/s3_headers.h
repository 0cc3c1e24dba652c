// What an output with an s3:// destination asks of the objects it uploads: a canned ACL, a
// storage class, a Cache-Control and user metadata (x-amz-meta-*). Read from the output's JSON
// and bounded here, since every value becomes a signed request header.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "presets/presets.h"

namespace reel::job {

struct S3ObjectHeaders {
  std::string acl;                              // one of S3's canned ACLs ("public-read")
  std::string storage_class;                    // "STANDARD_IA", ...
  std::string cache_control;                    // at most 256 printable ASCII characters
  std::map<std::string, std::string> metadata;  // x-amz-meta-NAME: at most 16, 2 KiB in all
  bool empty() const {
    return acl.empty() && storage_class.empty() && cache_control.empty() && metadata.empty();
  }
  // The first field set ("acl", "storage_class", "cache_control", "metadata"), for errors.
  std::string FirstField() const;
};

inline constexpr size_t kMaxS3Metadata = 16;
inline constexpr size_t kMaxS3MetadataBytes = 2048;  // S3's own limit on user metadata
inline constexpr size_t kMaxS3HeaderValue = 256;

// Takes "acl", "storage_class", "cache_control" and "metadata" out of an output's object (so
// that the kind's own fields are checked after), into `out`. An error names the field
// ("outputs[2].metadata.owner").
std::optional<presets::FieldError> TakeS3Headers(nlohmann::json* output, const std::string& path,
                                                 S3ObjectHeaders* out);

}  // namespace reel::job
