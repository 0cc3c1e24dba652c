// A real PostgreSQL server for tests, from Debian's postgresql package: initdb'd once per
// machine into a template, copied and started on a free loopback port per test process, stopped
// at exit. Each call to NewDatabase() gives a fresh, empty database.
#pragma once

#include <string>

namespace reel::testing {

class PostgresServer {
 public:
  static PostgresServer& Instance();
  // A libpq URL to a new empty database, or "" (with a test failure) if the server can't run.
  std::string NewDatabase();
  // Stops and starts the server (connection-loss tests).
  void Restart(double seconds_down);

 private:
  PostgresServer();
  ~PostgresServer();
  bool Run(const std::string& command);
  std::string dir_;
  int port_ = 0;
  bool ok_ = false;
  int next_db_ = 0;
};

}  // namespace reel::testing
