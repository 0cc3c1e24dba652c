#include "storage/test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace reel::storage {

TestServer::TestServer(Handler handler) : handler_(std::move(handler)) {
  listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener_, 16) != 0 ||
      getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    std::abort();
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Serve(); });
}

TestServer::~TestServer() {
  stopping_ = true;
  acceptor_.join();
  for (std::thread& t : connections_) t.join();
  close(listener_);
}

std::string TestServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<std::string> TestServer::heads() const {
  std::lock_guard lock(mu_);
  return heads_;
}

bool TestServer::Send(int fd, const std::string& data) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void TestServer::Serve() {
  while (!stopping_) {
    pollfd p{listener_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    connections_.emplace_back([this, fd] {
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      size_t end = head.find("\r\n\r\n");
      if (end != std::string::npos) {
        // Read the body too, so that an upload is not cut short by our answer.
        std::string body = head.substr(end + 4);
        head.resize(end);
        size_t at = head.find("Content-Length: ");
        size_t length = at == std::string::npos ? 0 : std::strtoull(head.c_str() + at + 16, 0, 10);
        if (head.find("Expect: 100-continue") != std::string::npos && body.size() < length)
          Send(fd, "HTTP/1.1 100 Continue\r\n\r\n");
        while (body.size() < length) {
          ssize_t n = recv(fd, buf, sizeof(buf), 0);
          if (n <= 0) break;
          body.append(buf, static_cast<size_t>(n));
        }
        ++requests_;
        {
          std::lock_guard lock(mu_);
          heads_.push_back(head);
        }
        handler_(fd, head, stopping_);
      }
      close(fd);
    });
  }
}

}  // namespace reel::storage
