#include "worker/scratch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "common/crypto.h"

namespace reel::worker {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The spec with its credentials opened; `*error` set when they cannot be.
json OpenedSpec(const json& sealed_spec, const std::string& secret_key, std::string* error) {
  json spec = sealed_spec;
  if (!spec.contains("credentials") || !spec["credentials"].contains("sealed")) return spec;
  Result<std::string> opened = Open(secret_key, spec["credentials"]["sealed"].get<std::string>());
  json creds = opened.ok() ? json::parse(*opened, nullptr, false) : json();
  if (!opened.ok() || creds.is_discarded() || !creds.is_object()) {
    *error = "the job's credentials cannot be opened with this server's key";
    return spec;
  }
  // URLs sealed whole at submission go back where they were; the rest are the job's own
  // storage credentials, for the child.
  try {
    for (const json& u : creds.value("urls", json::array())) {
      json::json_pointer at(u.at("at").get<std::string>());
      if (at.empty() || !spec.at(at).is_string()) throw std::invalid_argument("not a URL");
      spec[at] = u.at("url").get<std::string>();
    }
  } catch (const std::exception& e) {
    *error = std::string("the job's sealed URLs do not fit its spec: ") + e.what();
  }
  creds.erase("urls");
  if (creds.empty())
    spec.erase("credentials");
  else
    spec["credentials"] = creds;
  return spec;
}

}  // namespace

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
  json spec = OpenedSpec(job.spec, secret_key, &s.error);
  // Created 0600 from the start: it may hold the job's opened credentials.
  fs::remove(s.spec_path, ec);
  int fd = open(s.spec_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  std::string text = spec.dump();
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    s.error = "cannot write " + s.spec_path + ": " + std::strerror(errno);
  if (fd >= 0) close(fd);
  return s;
}

}  // namespace reel::worker
