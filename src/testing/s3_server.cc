#include "testing/s3_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace reel::testing {
namespace {

// A port free on `address`: bound to 0, read, let go.
int FreePort(const std::string& address) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  socklen_t size = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &size) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

bool Accepts(const std::string& address, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

S3Server::S3Server(const std::string& dir, const std::string& address)
    : address_(address), port_(FreePort(address)) {
  std::string bin = std::string(REEL_SOURCE_DIR) + "/node_modules/.bin/s3rver";
  cmd_ = std::make_unique<BackgroundCommand>(
      std::vector<std::string>{bin, "-d", dir, "-a", address, "-p", std::to_string(port_),
                               "--configure-bucket", "media", "--silent"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    // Listening comes after the bucket is made: a connection is a server ready for requests.
    if (Accepts(address_, port_)) return;
    if (!cmd_->Running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "s3rver did not start (run ./scripts/setup): " << cmd_->OutputSoFar();
}

}  // namespace reel::testing
