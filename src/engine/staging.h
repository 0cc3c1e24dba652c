// Staging of outputs: every output is written under a temporary name beside its destination and
// moved into place only when the whole run succeeded, so a failed or canceled run leaves nothing
// that looks complete, and a destination that already exists is replaced in one step.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace reel::engine {

class Staging {
 public:
  Staging() = default;
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging();  // removes whatever was not committed

  // Creates the parent directories of `destination` and a temporary directory beside it, and
  // returns the path to write into it by: "/proc/self/fd/N", the folder as it was created,
  // whatever is put at its name since. Whoever may write the destination's folder sees the staged
  // name there and could swap it for a link to another folder the server may write; everything
  // written inside through this path lands only in the staged folder, and the commit then
  // refuses the swapped name.
  Result<std::string> StageDirectory(const std::string& destination);
  // Returns a temporary file path beside `destination` (same extension), creating parents.
  Result<std::string> StageFile(const std::string& destination);

  // Moves every staged output to its destination (replacing what is there), after `check`
  // (when set) accepts the destination as it resolves at that moment.
  Status Commit(const std::function<Status(const std::string&)>& check = {});
  // Removes every staged output, and the folders made for them if they are empty. Called by the
  // destructor if Commit was not.
  void Abandon();

  // `status` with each staged folder's "/proc/self/fd/N" (StageDirectory) named by its path,
  // for an error a user reads.
  Status Named(const Status& status) const;

 private:
  struct Entry {
    std::string temp;
    std::string destination;
    bool directory = false;
    int fd = -1;  // the staged file's or folder's, open until it is committed or abandoned
  };
  std::vector<Entry> entries_;
  std::vector<std::string> created_dirs_;  // parents made for the outputs, outermost first
};

// A path that opens the staged file `path` of this process (StageFile) as it was created,
// whatever has been put at its name since: "/proc/self/fd/N" of the descriptor it was created
// with. `path` itself for anything else. Whoever may write an output's folder sees the staged
// names there, and could swap one for a link to a file the server may write; a muxer opening
// this instead writes only the staged file, and the commit then refuses the swapped name.
std::string StagedFileDescriptorPath(const std::string& path);

// Writes `bytes` whole to `path`, a staged output or a file in a staged folder, creating it, and
// never through a link or into anything but a regular file at that name: whoever may write an
// output's folder sees the staged names there and could swap one for a link meanwhile.
Status WriteStagedFile(const std::string& path, const std::string& bytes);

// Writes `bytes` under a fresh staged name beside `target` (created exclusively, so never through
// a link), makes it readable by all, and renames it onto `target`: a reader of the folder never
// meets half a file. For what is delivered into a folder file by file, as it is made.
Status WriteFileInPlace(const std::string& target, const std::string& bytes);

// Removes the staged outputs of every Staging in this process that are neither committed nor
// abandoned yet: for a process told to stop at once (`reel run-job` on SIGTERM), which exits
// without waiting for its encoders. Safe to call from any thread while they still write.
void RemoveUncommittedOutputs();

}  // namespace reel::engine
