// A real S3 server for the tests: npm's s3rver (installed by scripts/setup) on a free port, with
// a bucket "media", its objects kept in a folder of the test's. Stopped when it goes.
#pragma once

#include <memory>
#include <string>

#include "testing/media_fixtures.h"

namespace reel::testing {

class S3Server {
 public:
  // Listens on `address` (loopback unless a test's network gives another); a test failure when
  // it does not start.
  explicit S3Server(const std::string& dir, const std::string& address = "127.0.0.1");
  std::string endpoint() const { return "http://" + address_ + ":" + std::to_string(port_); }

 private:
  std::string address_;
  int port_ = 0;
  std::unique_ptr<BackgroundCommand> cmd_;
};

}  // namespace reel::testing
