#include "worker/pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "net/http.h"
#include "store/job_view.h"

extern char** environ;

namespace reel::worker {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using store::AttemptEnd;
using store::Job;

double Steady() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Where a staged output of a killed child may be left: ".<name>.reel-XXXXXX" beside each
// destination (see engine/staging.h). A retried attempt must not mix with them.
void RemoveStaleStaging(const json& spec) {
  if (!spec.contains("outputs")) return;
  for (const auto& o : spec["outputs"]) {
    if (!o.contains("destination") || !o["destination"].is_string()) continue;
    fs::path dest(o["destination"].get<std::string>());
    if (dest.filename().empty()) dest = dest.parent_path();
    std::string prefix = "." + dest.filename().string() + ".reel-";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dest.parent_path(), ec))
      if (e.path().filename().string().rfind(prefix, 0) == 0) fs::remove_all(e.path(), ec);
  }
}

// What a job's child may see of this process's environment: not the server's secrets
// (REEL_SECRET_KEY opens every job's sealed credentials, REEL_STORE and PG* reach the database),
// since the child parses media from strangers.
std::vector<std::string> ChildEnvironment() {
  static const char* const kKept[] = {"PATH=",      "HOME=",       "LANG=",    "LC_",
                                      "TZ=",        "TMPDIR=",     "REEL_S3_", "REEL_TEST_HOOKS=",
                                      "FONTCONFIG", "XDG_",        "ASAN_",    "UBSAN_",
                                      "LSAN_",      "REEL_AV_LOG="};
  std::vector<std::string> kept;
  for (char** e = environ; *e; ++e)
    for (const char* prefix : kKept)
      if (std::strncmp(*e, prefix, std::strlen(prefix)) == 0) {
        kept.push_back(*e);
        break;
      }
  return kept;
}

std::string DescribeSignal(int sig) {
  const char* name = strsignal(sig);
  return "signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
}

}  // namespace

WorkerPool::WorkerPool(store::JobStore* store, events::JobEvents* hub, PoolOptions options,
                       PoolObserver observer)
    : store_(store), hub_(hub), options_(std::move(options)), observer_(std::move(observer)) {}

WorkerPool::~WorkerPool() { Shutdown(); }

void WorkerPool::Start() {
  SweepScratch();
  last_busy_ = Steady();
  for (int i = 0; i < options_.slots; ++i) threads_.emplace_back([this, i] { SlotLoop(i); });
  heartbeat_ = std::thread([this] { Heartbeat(); });
  // With PostgreSQL, jobs submitted through another host's API arrive as notifications.
  listener_ = std::thread([this] {
    while (!stopping_)
      if (store_->WaitForWork(0.5)) Wake();
  });
}

void WorkerPool::SweepScratch() {
  // An attempt's scratch ("<job id>-<attempt>") outlives a process killed hard, with downloads
  // and the job's opened credentials in it: remove it unless that job is running (a process
  // sharing this data directory may be running it).
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.work_dir, ec)) {
    std::string name = e.path().filename().string();
    size_t dash = name.rfind('-');
    if (name.rfind("job_", 0) != 0 || dash == std::string::npos) continue;
    Result<Job> job = store_->GetJob(name.substr(0, dash));
    if (job.ok() && job->state == store::JobState::kRunning) continue;
    std::error_code removed;
    fs::remove_all(e.path(), removed);
    spdlog::info("removed the scratch of an earlier attempt: {}", name);
  }
}

double WorkerPool::IdleSeconds() {
  std::lock_guard lock(mu_);
  return running_.empty() ? Steady() - last_busy_ : 0;
}

void WorkerPool::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stop_deadline_ = Steady() + options_.shutdown_grace;
    stopping_ = true;
    woken_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (listener_.joinable()) listener_.join();
  store_->RemoveWorker(options_.worker_id);
}

void WorkerPool::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_.notify_all();
}

void WorkerPool::Cancel(const std::string& job_id) {
  std::lock_guard lock(mu_);
  auto it = running_.find(job_id);
  if (it != running_.end()) it->second = true;
}

std::vector<std::string> WorkerPool::RunningJobs() {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, cancel] : running_) ids.push_back(id);
  return ids;
}

void WorkerPool::Heartbeat() {
  double started = store::NowSeconds();
  while (!stopping_) {
    store::WorkerInfo info{options_.worker_id,
                           options_.host,
                           options_.version,
                           options_.slots,
                           RunningJobs(),
                           started,
                           0};
    Status s = store_->HeartbeatWorker(info);
    if (!s.ok()) spdlog::warn("worker heartbeat failed: {}", s.ToString());
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, std::chrono::duration<double>(std::min(5.0, options_.lease_seconds / 3)),
                   [this] { return stopping_.load(); });
  }
}

void WorkerPool::SlotLoop(int slot) {
  while (!stopping_) {
    Result<std::optional<Job>> leased =
        store_->Lease(options_.worker_id, options_.host, options_.lease_seconds, options_.tags);
    if (!leased.ok()) {
      spdlog::warn("slot={} lease failed: {}", slot, leased.status().ToString());
    } else if (leased->has_value()) {
      RunAttempt(**leased);
      continue;
    }
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, std::chrono::duration<double>(options_.poll_seconds),
                   [this] { return woken_ || stopping_.load(); });
    woken_ = false;
  }
}

void WorkerPool::RunAttempt(const Job& job) {
  const std::string tag = "job=" + job.id + " attempt=" + std::to_string(job.attempts);
  spdlog::info("{} started worker={} host={}", tag, options_.worker_id, options_.host);
  hub_->Publish(job.id, "state", JobView(job));
  {
    std::lock_guard lock(mu_);
    running_[job.id] = false;
  }

  // A worker that died mid-attempt may have left staged files; this attempt starts clean.
  RemoveStaleStaging(job.spec);
  // Scratch space for this attempt: the spec, and the child's stderr.
  fs::path scratch = fs::path(options_.work_dir) / (job.id + "-" + std::to_string(job.attempts));
  std::error_code ec;
  // Earlier attempts of this job that ran here and died with their process left theirs.
  for (const auto& e : fs::directory_iterator(options_.work_dir, ec))
    if (e.path().filename().string().rfind(job.id + "-", 0) == 0 && e.path() != scratch)
      fs::remove_all(e.path(), ec);
  fs::create_directories(scratch, ec);
  std::string spec_path = (scratch / "spec.json").string();
  std::string log_path = (scratch / "stderr.log").string();
  // The child gets the spec with its credentials opened, in a file only this user can read.
  json spec = job.spec;
  std::string open_error;
  if (spec.contains("credentials") && spec["credentials"].contains("sealed")) {
    Result<std::string> opened =
        Open(options_.secret_key, spec["credentials"]["sealed"].get<std::string>());
    json creds = opened.ok() ? json::parse(*opened, nullptr, false) : json();
    if (!opened.ok() || creds.is_discarded() || !creds.is_object()) {
      open_error = "the job's credentials cannot be opened with this server's key";
    } else {
      // URLs sealed whole at submission go back where they were; the rest are the job's own
      // storage credentials, for the child.
      try {
        for (const json& u : creds.value("urls", json::array())) {
          json::json_pointer at(u.at("at").get<std::string>());
          if (at.empty() || !spec.at(at).is_string()) throw std::invalid_argument("not a URL");
          spec[at] = u.at("url").get<std::string>();
        }
      } catch (const std::exception& e) {
        open_error = std::string("the job's sealed URLs do not fit its spec: ") + e.what();
      }
      creds.erase("urls");
      if (creds.empty())
        spec.erase("credentials");
      else
        spec["credentials"] = creds;
    }
  }
  {
    // Created 0600 from the start: it may hold the job's opened credentials.
    fs::remove(spec_path, ec);
    int fd = open(spec_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    std::string text = spec.dump();
    if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      open_error = "cannot write " + spec_path + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
  }

  std::vector<std::string> args = {options_.reel_binary, "run-job", spec_path};
  for (const std::string& root : options_.allow_paths) {
    args.push_back("--allow-path");
    args.push_back(root);
  }
  for (const std::string& host : options_.allow_hosts) {
    args.push_back("--allow-host");
    args.push_back(host);
  }
  if (!options_.storage_config.empty()) {
    args.push_back("--storage-config");
    args.push_back(options_.storage_config);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2];
  double started = Steady();
  AttemptEnd end = AttemptEnd::kFailedRetryable;
  std::string outcome = "failed", error;
  json result;
  pid_t pid = -1;
  if (!open_error.empty()) {
    end = AttemptEnd::kFailedPermanently;
    error = open_error;
  } else if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    error = std::string("cannot create a pipe: ") + std::strerror(errno);
  } else {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    // Nothing else crosses over: not the API's listening socket nor its clients' connections
    // (Asio does not mark them close-on-exec), which an orphaned child would keep open.
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    // The server blocks SIGTERM/SIGINT in its threads to wait for them; the child must not
    // inherit that, or it could not be told to stop (cancel, shutdown, server death).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<std::string> env = ChildEnvironment();
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    int err = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close(out_pipe[1]);
    if (err != 0) {
      error = "cannot start " + options_.reel_binary + ": " + std::strerror(err);
      pid = -1;
      close(out_pipe[0]);
    }
  }

  if (pid > 0) {
    std::string buffer;
    json last_error;
    double last_renew = Steady(), last_renewed = Steady(), last_save = 0, last_advance = Steady();
    double best_fraction = -1;
    int64_t best_bytes = 0;
    bool killed = false, lease_lost = false;
    std::string kill_reason;
    double term_sent = 0;
    auto stop_child = [&](const std::string& reason, int sig) {
      if (killed) return;
      killed = true;
      kill_reason = reason;
      kill(pid, sig);
      term_sent = Steady();
    };
    for (bool open = true; open;) {
      pollfd pfd{out_pipe[0], POLLIN, 0};
      poll(&pfd, 1, 100);
      if (pfd.revents & (POLLIN | POLLHUP)) {
        char chunk[4096];
        ssize_t n = read(out_pipe[0], chunk, sizeof(chunk));
        if (n <= 0) {
          open = false;
        } else {
          buffer.append(chunk, static_cast<size_t>(n));
          for (size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
            json line = json::parse(buffer.substr(0, nl), nullptr, false);
            buffer.erase(0, nl + 1);
            if (!line.is_object()) continue;
            std::string event = line.value("event", "");
            if (event == "progress") {
              line.erase("event");
              double fraction = line.value("fraction", 0.0);
              if (fraction > best_fraction) {
                best_fraction = fraction;
                last_advance = Steady();
              }
              hub_->Publish(job.id, "progress", json{{"id", job.id}, {"progress", line}});
              if (observer_.on_speed && line.contains("speed"))
                observer_.on_speed(line["speed"].get<double>());
              if (Steady() - last_save >= options_.progress_save_interval) {
                last_save = Steady();
                store_->SaveProgress(job.id, options_.worker_id, line);
              }
            } else if (event == "transfer") {
              // Bytes moving (a source downloading, outputs uploading) are progress too.
              int64_t bytes = line.value("bytes", int64_t{0});
              if (bytes > best_bytes) {
                best_bytes = bytes;
                last_advance = Steady();
              }
            } else if (event == "result") {
              line.erase("event");
              result = line;
            } else if (event == "error") {
              last_error = line;
            }
          }
        }
      }
      double now = Steady();
      if (!killed && now - last_renew >= options_.lease_seconds / 3) {
        last_renew = now;
        bool cancel = false;
        Status s = store_->Renew(job.id, options_.worker_id, options_.lease_seconds, &cancel);
        if (s.ok()) last_renewed = now;
        if (s.code() == StatusCode::kNotFound) {
          lease_lost = true;
          stop_child("lease lost", SIGTERM);
        } else if (cancel) {
          stop_child("canceled", SIGTERM);
        }
      }
      // Fencing: unable to renew for a whole lease (the store unreachable), the lease must be
      // presumed gone and the job leased elsewhere; stop rather than run it twice at once.
      if (!killed && now - last_renewed > options_.lease_seconds) {
        lease_lost = true;
        stop_child("lease lost", SIGTERM);
      }
      {
        std::lock_guard lock(mu_);
        if (running_[job.id]) stop_child("canceled", SIGTERM);
        if (stopping_ && now > stop_deadline_) stop_child("released", SIGTERM);
      }
      if (!killed && now - last_advance > options_.stall_timeout) stop_child("stalled", SIGKILL);
      if (killed && now - term_sent > 5) kill(pid, SIGKILL);  // did not stop in time
    }
    close(out_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);

    if (kill_reason == "canceled") {
      end = AttemptEnd::kCanceled;
      outcome = "canceled";
      error = "canceled by request";
    } else if (kill_reason == "released") {
      end = AttemptEnd::kReleased;
      outcome = "released";
      error = "worker shut down; the job will run again";
    } else if (kill_reason == "stalled") {
      end = AttemptEnd::kFailedRetryable;
      outcome = "stalled";
      char buf[128];
      std::snprintf(buf, sizeof(buf), "stalled: no progress for %.0f s (at %.1f %%)",
                    options_.stall_timeout, std::max(0.0, best_fraction) * 100);
      error = buf;
    } else if (lease_lost) {
      outcome = "lease_lost";
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !result.is_null()) {
      end = AttemptEnd::kSucceeded;
      outcome = "succeeded";
    } else if (WIFSIGNALED(status)) {
      end = AttemptEnd::kFailedRetryable;
      outcome = "crashed";
      error = "the job process crashed with " + DescribeSignal(WTERMSIG(status));
    } else {
      std::string code = last_error.value("code", "internal");
      error = last_error.value(
          "message", "the job process exited with status " + std::to_string(WEXITSTATUS(status)));
      bool permanent =
          code == "invalid_argument" || code == "not_found" || code == "failed_precondition";
      end = permanent ? AttemptEnd::kFailedPermanently : AttemptEnd::kFailedRetryable;
      outcome = "failed";
    }
    if (lease_lost) {
      // Another worker owns the job now; writing anything would trample its attempt.
      spdlog::warn("{} lease lost; attempt abandoned", tag);
      std::lock_guard lock(mu_);
      running_.erase(job.id);
      fs::remove_all(scratch, ec);
      return;
    }
  }

  if (end != AttemptEnd::kSucceeded) RemoveStaleStaging(job.spec);
  fs::remove_all(scratch, ec);
  {
    std::lock_guard lock(mu_);
    running_.erase(job.id);
    last_busy_ = Steady();
  }
  // The store may be briefly unreachable (a database restart): keep trying to record the end
  // while the lease lasts, rather than leave the job to expire and run again.
  Result<Job> after = NotFound("not recorded");
  for (int i = 0;; ++i) {
    after = store_->FinishAttempt(job.id, options_.worker_id, end, outcome, error, result);
    if (after.ok() || after.status().code() == StatusCode::kNotFound ||
        i * 0.5 > options_.lease_seconds * 2)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  double seconds = Steady() - started;
  if (!after.ok()) {
    spdlog::error("{} cannot record the end of the attempt: {}", tag, after.status().ToString());
    return;
  }
  spdlog::info("{} ended outcome={} state={} seconds={:.2f}{}{}", tag, outcome,
               store::StateName(after->state), seconds, error.empty() ? "" : " error=", error);
  if (observer_.on_finished && store::IsFinished(after->state))
    observer_.on_finished(*after, seconds);
  hub_->Publish(job.id, "state", JobView(*after));
  if (after->state == store::JobState::kQueued) Wake();
}

}  // namespace reel::worker
