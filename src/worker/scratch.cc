#include "worker/scratch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/no_follow.h"
#include "job/sealed.h"
#include "layout/layout.h"
#include "worker/child_env.h"

namespace reel::worker {
namespace {

namespace fs = std::filesystem;

// Writes `text` to a new file created 0600 (it may hold opened credentials); empty or an error.
std::string WritePrivate(const std::string& path, const std::string& text) {
  std::error_code ec;
  fs::remove(path, ec);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  std::string error;
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    // The tenant reads this error: the scratch's name, not where the data directory is.
    error = "cannot write the attempt's " + fs::path(path).filename().string() +
            " in its scratch (" + fs::path(path).parent_path().filename().string() +
            "): " + std::strerror(errno);
  if (fd >= 0) close(fd);
  return error;
}

// The scratch "<owner>-<attempt>": what earlier attempts of `owner` left here goes first.
AttemptScratch Prepare(const std::string& work_dir, const std::string& owner, int attempt,
                       const store::Job& job, const std::string& secret_key,
                       const ServerStorage& storage) {
  fs::path dir = fs::path(work_dir) / (owner + "-" + std::to_string(attempt));
  AttemptScratch s{dir.string(), (dir / "spec.json").string(), (dir / "stderr.log").string(), "",
                   ""};
  std::error_code ec;
  // Earlier attempts that ran here and died with their process left theirs.
  for (const auto& e : fs::directory_iterator(work_dir, ec))
    if (e.path().filename().string().rfind(owner + "-", 0) == 0 && e.path() != dir)
      fs::remove_all(e.path(), ec);
  fs::create_directories(dir, ec);
  Result<nlohmann::json> opened = job::OpenSpec(job.spec, secret_key);
  if (!opened.ok()) s.error = opened.status().message();
  const nlohmann::json& spec = opened.ok() ? *opened : job.spec;
  std::string written = WritePrivate(s.spec_path, spec.dump());
  if (!written.empty()) s.error = written;
  if (storage.config_file.empty() || !s.error.empty()) return s;
  // The child gets the profiles its job names, in a file of its own: never the server's file,
  // which holds every profile's keys.
  std::ifstream in(storage.config_file);
  nlohmann::json config = nlohmann::json::parse(in, nullptr, false);
  if (!in || config.is_discarded()) {
    s.error = "the server's storage config cannot be read; tell its operator";  // no path shown
    return s;
  }
  nlohmann::json given = ChildStorageConfig(config, spec, {storage.staging});
  if (given.is_null()) return s;
  s.storage_path = (dir / "storage.json").string();
  s.error = WritePrivate(s.storage_path, given.dump());
  return s;
}

}  // namespace

AttemptScratch PrepareScratch(const std::string& work_dir, const store::Job& job,
                              const std::string& secret_key, const ServerStorage& storage) {
  return Prepare(work_dir, job.id, job.attempts, job, secret_key, storage);
}

AttemptScratch PrepareTaskScratch(const std::string& work_dir, const store::Job& job,
                                  const store::Task& task, const nlohmann::json& task_run,
                                  const std::string& secret_key, const ServerStorage& storage) {
  AttemptScratch s = Prepare(work_dir, task.id, task.attempts, job, secret_key, storage);
  s.task_path = (fs::path(s.dir) / "task.json").string();
  std::string written = WritePrivate(s.task_path, task_run.dump());
  if (s.error.empty()) s.error = written;
  return s;
}

void RemoveStagedOutputs(const nlohmann::json& spec) {
  if (!spec.contains("outputs")) return;
  for (const auto& o : spec["outputs"]) {
    if (!o.contains("destination") || !o["destination"].is_string()) continue;
    fs::path dest(o["destination"].get<std::string>());
    // Local destinations are stored resolved (absolute); a URL's staging is in the scratch dir.
    if (!dest.is_absolute()) continue;
    if (dest.filename().empty()) dest = dest.parent_path();
    // The folder as it was checked: one replaced by a link since (by whoever may write its
    // parent) is left alone rather than cleaned wherever the link points.
    int folder = OpenFolderNoFollow(dest.parent_path().string());
    if (folder < 0) continue;
    std::string pinned = "/proc/self/fd/" + std::to_string(folder);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(pinned, ec))
      if (layout::IsStagingName(e.path().filename().native(), dest.filename().native()))
        fs::remove_all(e.path(), ec);  // a link among them is removed, not followed
    close(folder);
  }
}

}  // namespace reel::worker
