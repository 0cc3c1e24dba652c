// Files of a job's outputs, served by the API to whoever may see the job (the dashboard's player,
// thumbnails and downloads): from local disk, or from the S3 bucket the output was delivered to.
//
// Only files reel wrote for that output can be reached, named from the job's result rather than
// from what is on disk now: a package's playlists, manifest, init and numbered segments in its
// rendition folders; a thumbnail set's images; a file output and the files written with it (a
// sprite's WebVTT, a waveform's PNG). Local files are opened without following symbolic links,
// from a directory that must still be where the job wrote it, inside the allowed roots.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace reel::api {

struct OutputFile {
  std::string directory;   // local: the (resolved) directory the file is in,
  std::string relative;    //        and its path below it; or
  std::string remote_url;  // the s3:// object it was delivered as
  std::string content_type;
};

// `relative` is the rest of /v1/jobs/{id}/outputs/{index}/..., decoded. NotFound for anything
// that is not a file of that output, and for outputs delivered elsewhere than S3 (HTTP and FTP
// servers are read where they are).
Result<OutputFile> FindOutputFile(const nlohmann::json& spec, const nlohmann::json& result,
                                  int index, const std::string& relative,
                                  const std::vector<std::string>& allow_paths);

// Opens a local OutputFile for reading: each folder below `directory` and the file itself are
// opened with O_NOFOLLOW, so a link swapped in after FindOutputFile is refused; only a regular
// file. Returns the descriptor (the caller closes it).
Result<int> OpenOutputFile(const OutputFile& file);

// What a Range header asks of a file of `size` bytes (RFC 9110): one byte range is served (206),
// one past the end is refused (416); no header, a malformed one or several ranges get the whole
// file (200), as the RFC allows.
struct ByteRange {
  enum class Kind { kWhole, kPart, kUnsatisfiable };
  Kind kind = Kind::kWhole;
  int64_t first = 0, last = 0;                   // inclusive, for kPart
  std::string ContentRange(int64_t size) const;  // "bytes 0-99/1234", or "bytes */1234"
};
ByteRange ParseRange(const std::string& header, int64_t size);
// Whether `header` is one well-formed byte range, to pass on to an object store as it is.
bool IsSingleRange(const std::string& header);

}  // namespace reel::api
