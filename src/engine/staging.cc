#include "engine/staging.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace reel::engine {
namespace fs = std::filesystem;

namespace {

Status PrepareParent(const fs::path& destination) {
  if (destination.filename().empty())
    return InvalidArgument("output path '" + destination.string() + "' has no file name");
  fs::path parent = destination.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec || !fs::is_directory(parent))
    return Unavailable("cannot create output directory '" + parent.string() +
                       "': " + (ec ? ec.message() : "not a directory"));
  if (access(parent.c_str(), W_OK) != 0)
    return Unavailable("cannot write to output directory '" + parent.string() +
                       "': " + std::strerror(errno));
  return Status::Ok();
}

std::string TempName(const fs::path& destination, const char* suffix) {
  fs::path parent = destination.parent_path();
  if (parent.empty()) parent = ".";
  std::string name = ".";  // built by appending: GCC 12 misreports "." + str (-Wrestrict)
  name.append(destination.filename().string()).append(".reel-XXXXXX").append(suffix);
  return (parent / name).string();
}

}  // namespace

Staging::~Staging() { Abandon(); }

Result<std::string> Staging::StageDirectory(const std::string& destination) {
  fs::path dest = fs::path(destination).lexically_normal();
  if (dest.filename().empty()) dest = dest.parent_path();  // "out/hls/" names "out/hls"
  REEL_RETURN_IF_ERROR(PrepareParent(dest));
  std::error_code ec;
  if (fs::exists(dest, ec) && !fs::is_directory(dest, ec))
    return InvalidArgument("output '" + dest.string() + "' exists and is not a directory");
  std::string temp = TempName(dest, "");
  if (!mkdtemp(temp.data()))
    return Unavailable("cannot create a directory beside '" + dest.string() +
                       "': " + std::strerror(errno));
  entries_.push_back({temp, dest.string(), true});
  return temp;
}

Result<std::string> Staging::StageFile(const std::string& destination) {
  fs::path dest = fs::path(destination).lexically_normal();
  REEL_RETURN_IF_ERROR(PrepareParent(dest));
  std::error_code ec;
  if (fs::is_directory(dest, ec))
    return InvalidArgument("output '" + dest.string() + "' is a directory, expected a file name");
  std::string ext = dest.extension().string();
  std::string temp = TempName(dest, ext.c_str());
  int fd = mkstemps(temp.data(), static_cast<int>(ext.size()));
  if (fd < 0)
    return Unavailable("cannot create a file beside '" + dest.string() +
                       "': " + std::strerror(errno));
  close(fd);
  entries_.push_back({temp, dest.string(), false});
  return temp;
}

Status Staging::Commit() {
  for (Entry& e : entries_) {
    std::error_code ec;
    std::string old;
    if (e.directory && fs::exists(e.destination, ec)) {
      // rename(2) cannot replace a non-empty directory: move the old one aside first.
      old = e.destination + ".reel-old-" + std::to_string(getpid());
      fs::rename(e.destination, old, ec);
      if (ec) return Unavailable("cannot replace '" + e.destination + "': " + ec.message());
    }
    fs::rename(e.temp, e.destination, ec);
    if (ec) return Unavailable("cannot move output into '" + e.destination + "': " + ec.message());
    if (!old.empty()) fs::remove_all(old, ec);
    // Temp files are created 0600; outputs are meant to be served.
    fs::permissions(e.destination, e.directory ? fs::perms(0755) : fs::perms(0644), ec);
    e.temp.clear();
  }
  entries_.clear();
  return Status::Ok();
}

void Staging::Abandon() {
  for (const Entry& e : entries_) {
    if (e.temp.empty()) continue;
    std::error_code ec;
    fs::remove_all(e.temp, ec);
  }
  entries_.clear();
}

}  // namespace reel::engine
