// What the service tests (service_*_test.cc) share: a `reel serve` process to call, the fixture
// with its data and media directories, and a webhook receiver on loopback.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "client/http_client.h"
#include "testing/media_fixtures.h"

namespace reel {

struct ApiReply {
  int status = 0;
  nlohmann::json body;
};

// A `reel serve` process on a free port with its own data directory and media root.
class Server {
 public:
  // `prefix` runs the server under another command (which execs it, keeping its pid).
  Server(const std::string& data_dir, const std::string& media_dir,
         std::vector<std::string> extra = {}, std::vector<std::string> prefix = {});

  ApiReply Call(const std::string& method, const std::string& path, const std::string& key,
                const std::string& body = "", client::Headers headers = {});
  ApiReply Get(const std::string& path, const std::string& key = "") {
    return Call("GET", path, key.empty() ? admin_key_ : key);
  }
  ApiReply Submit(const nlohmann::json& spec, const std::string& key = "") {
    return Call("POST", "/v1/jobs", key.empty() ? admin_key_ : key, spec.dump());
  }

  // Polls the job until `done(job)` or the timeout; returns the last view.
  nlohmann::json WaitFor(const std::string& id,
                         const std::function<bool(const nlohmann::json&)>& done,
                         double seconds = 60);
  nlohmann::json WaitForState(const std::string& id, const std::string& state, double seconds = 60);
  // Until the job has succeeded, failed or been canceled.
  nlohmann::json WaitFinished(const std::string& id, double seconds = 60);

  // `reel keys create --name NAME` with `extra` flags; the key.
  std::string CreateKey(const std::string& data_dir, const std::string& name,
                        const std::vector<std::string>& extra = {});

  void Signal(int sig) { cmd_->Signal(sig); }
  int pid() const { return cmd_->pid(); }
  // What the server printed so far (its log).
  std::string Output() const { return cmd_->OutputSoFar(); }
  testing::CommandResult Wait() { return cmd_->Wait(); }
  const std::string& url() const { return url_; }
  const std::string& admin_key() const { return admin_key_; }

 private:
  std::unique_ptr<testing::BackgroundCommand> cmd_;
  std::string url_;
  std::string admin_key_;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override;
  // A package and a 360p MP4 of `source` (in the media directory) under `dest`.
  nlohmann::json HlsJob(const std::string& source, const std::string& dest,
                        nlohmann::json metadata = nullptr);
  // A source long enough (about 5 s of work) to act on while it runs.
  void AddLongSource();
  // The names in `dir` of the media directory.
  std::vector<std::string> Leftovers(const std::string& dir);

  testing::TempDir data_;
  testing::TempDir media_;
};

// A webhook receiver (and small web server) on loopback: answers the first `fail_first` POSTs
// or PUTs with 500, then 200, and remembers every request.
class Receiver {
 public:
  struct Request {
    std::string method, target;
    std::map<std::string, std::string> headers;
    std::string body;
    std::chrono::steady_clock::time_point at;  // when it arrived
  };

  explicit Receiver(int fail_first = 0);
  ~Receiver();
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  // GET answers: files by path, and redirects by path.
  void Serve(const std::string& path, std::string bytes);
  void Redirect(const std::string& path, const std::string& location);
  // The last body PUT or POSTed at `path`.
  std::string Stored(const std::string& path);
  std::string Base() const;
  std::string url() const { return Base() + "/hooks"; }
  std::vector<Request> requests();
  // Waits until `n` requests have arrived (or 30 s).
  std::vector<Request> WaitFor(size_t n);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The receiver's side of a delivery: the signature over "<t>.<body>" with the key's secret.
bool SignatureValid(const Receiver::Request& r, const std::string& secret);

// The pids of the processes whose parent is `parent` (a server's attempt children).
std::vector<int> ChildrenOf(int parent);

// A file's text without its trailing newlines.
std::string ReadTrimmed(const std::string& path);

}  // namespace reel
