#include "worker/scratch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "job/sealed.h"

namespace reel::worker {

namespace fs = std::filesystem;

AttemptScratch PrepareScratch(const std::string& work_dir, const store::Job& job,
                              const std::string& secret_key) {
  fs::path dir = fs::path(work_dir) / (job.id + "-" + std::to_string(job.attempts));
  AttemptScratch s{dir.string(), (dir / "spec.json").string(), (dir / "stderr.log").string(), ""};
  std::error_code ec;
  // Earlier attempts of this job that ran here and died with their process left theirs.
  for (const auto& e : fs::directory_iterator(work_dir, ec))
    if (e.path().filename().string().rfind(job.id + "-", 0) == 0 && e.path() != dir)
      fs::remove_all(e.path(), ec);
  fs::create_directories(dir, ec);
  Result<nlohmann::json> opened = job::OpenSpec(job.spec, secret_key);
  if (!opened.ok()) s.error = opened.status().message();
  const nlohmann::json& spec = opened.ok() ? *opened : job.spec;
  // Created 0600 from the start: it may hold the job's opened credentials.
  fs::remove(s.spec_path, ec);
  int fd = open(s.spec_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  std::string text = spec.dump();
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    // The tenant reads this error: the scratch's name, not where the data directory is.
    s.error = "cannot write the attempt's spec.json in its scratch (" + job.id + "-" +
              std::to_string(job.attempts) + "): " + std::strerror(errno);
  if (fd >= 0) close(fd);
  return s;
}

}  // namespace reel::worker
