// Confinement of a process that handles strangers' media (`reel run-job`): Linux Landlock limits
// which files it may open, make or remove, whatever a bug in a decoder lets a crafted input make
// it do, to the folders its job needs. The checks of the storage layer decide what a job may
// name; this is the wall behind them. Best effort: a kernel without Landlock (before 5.13, or
// with it turned off) runs the process unconfined, as before.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace reel {

struct FileAccess {
  // Folders read, written and changed beneath (or single files read and written).
  std::vector<std::string> read_write;
  // Folders (or files) read and executed (shared libraries) only.
  std::vector<std::string> read_only;
};

// Confines the calling thread, and every thread and process it starts from now on, to `access`:
// nothing else may be opened, made or removed. What is open already stays usable, and paths
// that do not exist are left out. Returns the Landlock ABI version applied, 0 when the kernel
// has none; an error when a confinement was started and could not be finished.
Result<int> ConfineFileAccess(const FileAccess& access);

}  // namespace reel
