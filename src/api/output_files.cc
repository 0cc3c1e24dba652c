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

// An output delivered to S3: the object under its destination.
Result<OutputFile> DeliveredFile(const nlohmann::json& spec, const nlohmann::json& output,
                                 int index, const std::string& relative) {
  std::string name = "output " + std::to_string(index);
  nlohmann::json requested = nlohmann::json::object();
  if (spec.contains("outputs") && spec["outputs"].is_array() &&
      static_cast<size_t>(index) < spec["outputs"].size())
    requested = spec["outputs"][index];
  std::string destination = requested.value("destination", "");
  if (storage::KindOf(destination) != storage::Kind::kS3)
    return NotFound(name + " was delivered to " + output.value("path", "its destination") +
                    "; read it there");
  if (!PlainRelative(relative)) return NotFound("no file '" + relative + "' in " + name);
  // Packages and numbered thumbnail sets are directories; everything else is one file.
  bool directory = destination.back() == '/' || output.contains("master") ||
                   output.contains("manifest") || requested.value("count", 1) > 1;
  if (directory) {
    if (destination.back() != '/') destination += '/';
    return OutputFile{"", destination + relative, storage::ContentType(relative)};
  }
  size_t slash = destination.rfind('/');
  std::string file = destination.substr(slash + 1);
  std::set<std::string> names = {file};
  if (output.contains("vtt")) names.insert(fs::path(file).replace_extension(".vtt").string());
  if (!names.count(relative)) return NotFound("no file '" + relative + "' in " + name);
  return OutputFile{"", destination.substr(0, slash + 1) + relative,
                    storage::ContentType(relative)};
}

}  // namespace

Result<OutputFile> FindOutputFile(const nlohmann::json& spec, const nlohmann::json& result,
                                  int index, const std::string& relative) {
  std::string name = "output " + std::to_string(index);
  const nlohmann::json* output = nullptr;
  if (result.is_object() && result.contains("outputs"))
    for (const nlohmann::json& o : result["outputs"])
      if (o.value("index", -1) == index) output = &o;
  if (!output) return NotFound("the job has no finished " + name);
  if (output->contains("error")) return NotFound(name + " failed: " + output->value("error", ""));
  if (output->contains("delivered")) return DeliveredFile(spec, *output, index, relative);
  std::string base = output->value("path", "");
  if (base.empty()) return NotFound(name + " wrote no files");
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
  return OutputFile{resolved.string(), "", storage::ContentType(resolved.string())};
}

}  // namespace reel::api
