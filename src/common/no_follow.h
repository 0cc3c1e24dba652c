// Opening a folder by a path that was checked earlier without following a link swapped in since:
// one part at a time from "/", each with O_NOFOLLOW. For paths stored resolved (every link
// already followed when they were checked), where a link now means someone replaced a part.
#pragma once

#include <string>

namespace reel {

// An O_PATH descriptor of the folder at the absolute `path`, or -1 with errno set (ELOOP or
// ENOTDIR where a part is a link now, ENOENT where one is missing); `*failed_at`, when given,
// is then the path up to the part that failed.
int OpenFolderNoFollow(const std::string& path, std::string* failed_at = nullptr);

}  // namespace reel
