#include "api/output_files.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "storage/storage.h"

namespace reel::api {
namespace fs = std::filesystem;

namespace {

// A relative path of plain names: no "..", ".", empty parts, absolute paths or backslashes.
bool PlainRelative(const std::string& relative) {
  if (relative.empty() || relative.front() == '/' || relative.find('\\') != std::string::npos ||
      relative.find('\0') != std::string::npos)
    return false;
  for (const fs::path& part : fs::path(relative))
    if (part.empty() || part == "." || part == "..") return false;
  return true;
}

bool Inside(const fs::path& path, const fs::path& dir) {
  auto [d, p] = std::mismatch(dir.begin(), dir.end(), path.begin(), path.end());
  return d == dir.end() && p != path.end();
}

}  // namespace

Result<OutputFile> FindOutputFile(const nlohmann::json& result, int index,
                                  const std::string& relative) {
  std::string name = "output " + std::to_string(index);
  const nlohmann::json* output = nullptr;
  if (result.is_object() && result.contains("outputs"))
    for (const nlohmann::json& o : result["outputs"])
      if (o.value("index", -1) == index) output = &o;
  if (!output) return NotFound("the job has no finished " + name);
  if (output->contains("delivered"))
    return NotFound(name + " was delivered to " + output->value("path", "its destination") +
                    "; read it there");
  std::string base = output->value("path", "");
  if (base.empty() || output->contains("error")) return NotFound(name + " wrote no files");
  if (!PlainRelative(relative)) return NotFound("no file '" + relative + "' in " + name);
  std::error_code ec;
  fs::path dir;
  fs::path wanted;
  if (fs::is_directory(base, ec)) {
    dir = fs::canonical(base, ec);
    wanted = dir / relative;
  } else {
    // A file output: its own name, or a file the result names beside it.
    std::set<std::string> names;
    for (const char* key : {"path", "vtt", "image"})
      if (output->contains(key) && (*output)[key].is_string())
        names.insert(fs::path((*output)[key].get<std::string>()).filename().string());
    if (!names.count(relative)) return NotFound("no file '" + relative + "' in " + name);
    dir = fs::canonical(fs::path(base).parent_path(), ec);
    wanted = dir / relative;
  }
  if (ec) return NotFound(name + " is no longer on disk");
  // Symbolic links must not lead out of the output.
  fs::path resolved = fs::canonical(wanted, ec);
  if (ec || !Inside(resolved, dir) || !fs::is_regular_file(resolved, ec))
    return NotFound("no file '" + relative + "' in " + name);
  uintmax_t size = fs::file_size(resolved, ec);
  if (ec) return NotFound("no file '" + relative + "' in " + name);
  return OutputFile{resolved.string(), storage::ContentType(resolved.string()), size};
}

}  // namespace reel::api
