#include "worker/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "attempt/protocol.h"

namespace reel::worker {
namespace {

using nlohmann::json;

std::string DescribeSignal(int sig) {
  const char* name = strsignal(sig);
  return "signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
}

// Starts the child with its stdout on a pipe; returns its pid and the pipe's read end.
Status Spawn(const ChildCommand& command, pid_t* pid, int* out_fd) {
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0)
    return Unavailable(std::string("cannot create a pipe: ") + std::strerror(errno));
  std::vector<std::string> args = command.argv, env = command.env;
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, command.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
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
  int err = posix_spawn(pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  if (err != 0) {
    close(out_pipe[0]);
    return Unavailable("cannot start " + command.argv[0] + ": " + std::strerror(err));
  }
  *out_fd = out_pipe[0];
  return Status::Ok();
}

}  // namespace

Supervisor::Supervisor(store::JobStore* store, Clock* clock, SupervisorOptions options,
                       SupervisorHooks hooks)
    : store_(store), clock_(clock), options_(std::move(options)), hooks_(std::move(hooks)) {}

namespace {

// What the supervisor learns while the child runs, and how it decided to stop it.
struct Watch {
  std::optional<Ending> stop_reason;  // kCanceled, kReleased, kStalled or kLeaseLost
  double term_sent = 0;
  double best_fraction = -1;
  double best_phase_fraction = -1;  // of the phase last reported (the pre-pass: analysis)
  std::string phase;
  int64_t best_bytes = 0;
  double last_advance = 0;
  bool heard = false;  // a line of the child's has arrived: the start-up is over
  std::optional<attempt::ErrorMessage> error;
  json result;
  std::optional<attempt::FanOutMessage> fan_out;
};

// The end of the attempt from the stop reason, the exit status and the child's last words.
AttemptEnding Conclude(const Watch& w, int status, double stall_limit) {
  using store::AttemptEnd;
  if (w.stop_reason == Ending::kCanceled)
    return {Ending::kCanceled, AttemptEnd::kCanceled, "canceled", "canceled by request", {}};
  if (w.stop_reason == Ending::kReleased)
    return {Ending::kReleased,
            AttemptEnd::kReleased,
            "released",
            "worker shut down; the job will run again",
            {}};
  if (w.stop_reason == Ending::kStalled) {
    char buf[128];
    if (!w.heard)
      std::snprintf(buf, sizeof(buf),
                    "stalled: no word from the attempt for %.0f s after it started", stall_limit);
    else if (!w.phase.empty() && w.best_fraction <= 0)  // still before the encode
      std::snprintf(buf, sizeof(buf), "stalled: no progress for %.0f s (%s at %.1f %%)",
                    stall_limit, w.phase.c_str(), w.best_phase_fraction * 100);
    else
      std::snprintf(buf, sizeof(buf), "stalled: no progress for %.0f s (at %.1f %%)", stall_limit,
                    std::max(0.0, w.best_fraction) * 100);
    return {Ending::kStalled, AttemptEnd::kFailedRetryable, "stalled", buf, {}};
  }
  if (w.stop_reason == Ending::kLeaseLost)
    return {Ending::kLeaseLost, AttemptEnd::kFailedRetryable, "lease_lost", "", {}};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && w.fan_out) {
    AttemptEnding e{Ending::kFannedOut, AttemptEnd::kSucceeded, "fanned_out", "", {}};
    e.fan_out = w.fan_out;
    return e;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !w.result.is_null())
    return {Ending::kSucceeded, AttemptEnd::kSucceeded, "succeeded", "", w.result};
  if (WIFSIGNALED(status))
    return {Ending::kCrashed,
            AttemptEnd::kFailedRetryable,
            "crashed",
            "the job process crashed with " + DescribeSignal(WTERMSIG(status)),
            {}};
  // The child says whether its failure is worth another attempt; silence is not a verdict.
  bool permanent = w.error && w.error->retry == attempt::Retry::kPermanent;
  std::string error =
      w.error ? w.error->message
              : "the job process exited with status " + std::to_string(WEXITSTATUS(status));
  return {Ending::kFailed,
          permanent ? AttemptEnd::kFailedPermanently : AttemptEnd::kFailedRetryable,
          "failed",
          error,
          {}};
}

}  // namespace

AttemptEnding Supervisor::Run(const std::string& job_id, const ChildCommand& command) {
  LeaseCalls lease;
  lease.renew = [this, job_id](double seconds, bool* cancel) {
    return store_->Renew(job_id, options_.worker_id, seconds, cancel);
  };
  lease.save_progress = [this, job_id](const json& progress) {
    store_->SaveProgress(job_id, options_.worker_id, progress);
  };
  return Run(lease, command);
}

AttemptEnding Supervisor::Run(const LeaseCalls& lease, const ChildCommand& command) {
  pid_t pid = -1;
  int out_fd = -1;
  if (Status s = Spawn(command, &pid, &out_fd); !s.ok())
    return {Ending::kNotStarted, store::AttemptEnd::kFailedRetryable, "failed", s.message(), {}};

  Watch w;
  auto StallLimit = [this](const Watch& w) {
    return w.heard ? options_.stall_timeout
                   : std::max(options_.stall_timeout, options_.start_timeout);
  };
  double now = clock_->Now();
  double last_renew = now, last_renewed = now, last_save = -1e18;
  w.last_advance = now;
  auto stop_child = [&](Ending reason, int sig) {
    if (w.stop_reason) return;
    w.stop_reason = reason;
    kill(pid, sig);
    w.term_sent = clock_->Now();
  };
  auto on_line = [&](const std::string& text) {
    Result<attempt::Message> m = attempt::Decode(text);
    if (!m.ok()) return;  // not ours (nothing else should write there): ignored
    if (!w.heard) {
      // Started: from now on the stall clock counts from here, at the stall limit.
      w.heard = true;
      w.last_advance = clock_->Now();
    }
    if (const auto* p = std::get_if<attempt::ProgressMessage>(&*m)) {
      if (p->fraction > w.best_fraction) {
        w.best_fraction = p->fraction;
        w.last_advance = clock_->Now();
      }
      // Work before the encode (a long per-title pre-pass) moves on its own scale.
      if (!p->phase.empty() && (p->phase != w.phase || p->phase_fraction > w.best_phase_fraction)) {
        w.phase = p->phase;
        w.best_phase_fraction = p->phase_fraction;
        w.last_advance = clock_->Now();
      }
      json progress = p->ToJson();
      if (hooks_.on_progress) hooks_.on_progress(progress);
      if (clock_->Now() - last_save >= options_.progress_save_interval) {
        last_save = clock_->Now();
        lease.save_progress(progress);
      }
    } else if (const auto* t = std::get_if<attempt::TransferMessage>(&*m)) {
      // Bytes moving (a source downloading, outputs uploading) are progress too.
      if (t->bytes > w.best_bytes) {
        w.best_bytes = t->bytes;
        w.last_advance = clock_->Now();
      }
    } else if (const auto* r = std::get_if<attempt::ResultMessage>(&*m)) {
      w.result = r->result;
    } else if (const auto* f = std::get_if<attempt::FanOutMessage>(&*m)) {
      w.fan_out = *f;
    } else if (const auto* e = std::get_if<attempt::ErrorMessage>(&*m)) {
      w.error = *e;
    }
  };

  std::string buffer;
  for (bool open = true; open;) {
    pollfd pfd{out_fd, POLLIN, 0};
    poll(&pfd, 1, 100);
    if (pfd.revents & (POLLIN | POLLHUP)) {
      char chunk[4096];
      ssize_t n = read(out_fd, chunk, sizeof(chunk));
      if (n <= 0) {
        open = false;
      } else {
        buffer.append(chunk, static_cast<size_t>(n));
        for (size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
          on_line(buffer.substr(0, nl));
          buffer.erase(0, nl + 1);
        }
      }
    }
    now = clock_->Now();
    if (!w.stop_reason && now - last_renew >= options_.lease_seconds / 3) {
      last_renew = now;
      bool cancel = false;
      Status s = lease.renew(options_.lease_seconds, &cancel);
      if (s.ok()) last_renewed = now;
      if (s.code() == StatusCode::kNotFound)
        stop_child(Ending::kLeaseLost, SIGTERM);
      else if (cancel)
        stop_child(Ending::kCanceled, SIGTERM);
    }
    // Fencing: unable to renew for a whole lease (the store unreachable), the lease must be
    // presumed gone and the job leased elsewhere; stop rather than run it twice at once.
    if (now - last_renewed > options_.lease_seconds) stop_child(Ending::kLeaseLost, SIGTERM);
    StopRequest asked = hooks_.stop_requested ? hooks_.stop_requested() : StopRequest::kNone;
    if (asked == StopRequest::kCancel) stop_child(Ending::kCanceled, SIGTERM);
    if (asked == StopRequest::kRelease) stop_child(Ending::kReleased, SIGTERM);
    if (now - w.last_advance > StallLimit(w)) stop_child(Ending::kStalled, SIGKILL);
    if (w.stop_reason && now - w.term_sent > options_.term_grace) kill(pid, SIGKILL);
  }
  close(out_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  AttemptEnding ending = Conclude(w, status, StallLimit(w));
  ending.log = ReadAttemptLog(command.log_path);
  return ending;
}

}  // namespace reel::worker
