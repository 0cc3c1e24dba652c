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
  // `host` is the address in the URL: loopback, or one given to ListenAlsoOn().
  std::string NewDatabase(const std::string& host = "127.0.0.1");
  // Stops and starts the server (connection-loss tests).
  void Restart(double seconds_down);
  // Also accepts connections on `address` from hosts in `subnet` (multi-host tests); restarts.
  void ListenAlsoOn(const std::string& address, const std::string& subnet);

 private:
  PostgresServer();
  ~PostgresServer();
  bool Run(const std::string& command);
  bool Start();
  std::string dir_;
  int port_ = 0;
  std::string listen_addresses_ = "127.0.0.1";
  bool ok_ = false;
  int next_db_ = 0;
};

}  // namespace reel::testing
