// Local paths in job specs are confined to configured roots (`--allow-path`): no `..` escapes,
// no symlinks that lead out of a root, and nothing written where the server keeps its own files.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace reel::storage {

// Resolves `path_or_url` ("file:///x", "/x", or relative to the first root) to an absolute
// path inside one of `roots`, following symlinks of the parts that exist. kInvalidArgument if
// it is not a local path, kFailedPrecondition (HTTP 403-like) if it falls outside every root.
Result<std::string> ResolveLocalPath(const std::vector<std::string>& roots,
                                     const std::string& path_or_url);

// The same for a destination, which must lie below a root: a root itself would be replaced
// whole (a directory output) with its staging made beside it, outside the root.
Result<std::string> ResolveLocalDestination(const std::vector<std::string>& roots,
                                            const std::string& path_or_url);

// Refuses (kFailedPrecondition) `resolved` (an absolute path as resolved above) when it lies in
// one of `forbidden` or holds one (a directory output replaces its destination whole), or is
// the running binary. The message names the path relative to its root in `roots`.
Status CheckNotForbidden(const std::vector<std::string>& roots,
                         const std::vector<std::string>& forbidden, const std::string& resolved);

// The parts of the server's `roots` inside `key_roots` (an API key's own, KeyScope): each key
// root inside a server root, and each server root inside a key root, resolved, in the key's
// order (a relative path resolves against the first). Empty when they do not meet. A key root
// that no longer resolves to itself (replaced by a link since it was stored resolved) counts
// for nothing.
std::vector<std::string> NarrowRoots(const std::vector<std::string>& roots,
                                     const std::vector<std::string>& key_roots);

// Opens the local file `resolved` (as ResolveLocalPath returned it: absolute, every link
// resolved) one part at a time without following a link, so that what is read is what was
// checked even when a link was swapped in since; a regular file only (a FIFO would hang the
// reader). Returns a path that reads that open file whatever then happens to its name: a link
// made in `dir`, under the file's own name (its extension still says what it holds), to
// /proc/self/fd/N. The descriptor stays open for the life of the process.
Result<std::string> PinLocalFile(const std::string& resolved, const std::string& dir);

// Whether writing the local path `destination` would destroy the local file `source`: the
// same file (by resolved path, or device and inode), or inside a destination directory.
bool Overwrites(const std::string& destination, const std::string& source);

}  // namespace reel::storage
