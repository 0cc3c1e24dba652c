// A loopback HTTP server for storage's tests: accepts on 127.0.0.1 (port 0), reads each
// request's head (and a body of Content-Length bytes) and hands the socket to a handler that
// writes whatever answer a test needs: endless zeros, a trickle, a redirect, a plain 200.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace reel::storage {

class TestServer {
 public:
  // `handler(fd, request_head, stopping)` answers one request; it should give up once
  // `stopping` is true. Each connection serves one request.
  using Handler = std::function<void(int fd, const std::string& head, const std::atomic<bool>&)>;
  explicit TestServer(Handler handler);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::string Url(const std::string& path) const;
  int requests() const { return requests_; }
  std::vector<std::string> heads() const;

  // Writes all of `data`; false once the peer is gone.
  static bool Send(int fd, const std::string& data);

 private:
  void Serve();

  Handler handler_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::vector<std::string> heads_;
  std::vector<std::thread> connections_;
  std::thread acceptor_;
};

}  // namespace reel::storage
