#include "testing/postgres_server.h"

#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "testing/media_fixtures.h"

namespace reel::testing {
namespace fs = std::filesystem;

namespace {

const char* kBin = "/usr/lib/postgresql/15/bin";

// A free port below the kernel's ephemeral range. The server is stopped and started again by
// the outage tests; a port the kernel hands out (to a bind(0) or as a connection's source port)
// could be taken by another process in the meantime, and the restart then fails to bind.
int FreePort() {
  int low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  int span = std::max(low - 10000, 1000);
  for (int attempt = 0; attempt < 200; ++attempt) {
    int port = 10000 + static_cast<int>((getpid() * 7919L + attempt * 104729L) % span);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool free = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(fd);
    if (free) return port;
  }
  return 0;
}

// initdb refuses to run as root: as root, the server runs as the postgres user.
std::string AsServerUser(const std::string& command) {
  return getuid() == 0 ? "runuser -u postgres -- " + command : command;
}

}  // namespace

bool PostgresServer::Run(const std::string& command) {
  CommandResult r = RunCommand({"sh", "-c", command});
  if (r.exit_code != 0) ADD_FAILURE() << command << ": " << r.output;
  return r.exit_code == 0;
}

PostgresServer& PostgresServer::Instance() {
  static PostgresServer server;
  return server;
}

PostgresServer::PostgresServer() {
  if (!fs::exists(std::string(kBin) + "/initdb")) {
    ADD_FAILURE() << "PostgreSQL 15 is not installed (run ./scripts/setup)";
    return;
  }
  passwd* pg = getpwnam("postgres");
  // The template: initdb once per machine (the slow part), renamed into place atomically.
  std::string tmpl = fs::temp_directory_path().string() + "/reel-pg-template";
  if (!fs::exists(tmpl + "/PG_VERSION")) {
    std::string staging = tmpl + ".tmp" + std::to_string(getpid());
    fs::create_directories(staging);
    if (getuid() == 0 && pg) chown(staging.c_str(), pg->pw_uid, pg->pw_gid);
    if (!Run(AsServerUser(std::string(kBin) + "/initdb -D " + staging +
                          " -A trust -U reel --no-sync > /dev/null")))
      return;
    std::error_code ec;
    fs::rename(staging, tmpl, ec);
    if (ec) fs::remove_all(staging, ec);  // another process won the race; theirs is as good
  }
  dir_ = fs::temp_directory_path().string() + "/reel-pg-" + std::to_string(getpid());
  fs::remove_all(dir_);
  if (!Run("cp -a " + tmpl + " " + dir_)) return;
  chmod(dir_.c_str(), 0700);
  port_ = FreePort();
  ok_ = Start();
}

bool PostgresServer::Start() {
  return Run(AsServerUser(std::string(kBin) + "/pg_ctl -D " + dir_ + " -o \"-p " +
                          std::to_string(port_) + " -k " + dir_ + " -c listen_addresses=" +
                          listen_addresses_ + " -c fsync=off\" -w -s start > /dev/null"));
}

PostgresServer::~PostgresServer() {
  if (!dir_.empty()) {
    RunCommand(
        {"sh", "-c",
         AsServerUser(std::string(kBin) + "/pg_ctl -D " + dir_ + " -m immediate -w -s stop")});
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

void PostgresServer::Restart(double seconds_down) {
  Run(AsServerUser(std::string(kBin) + "/pg_ctl -D " + dir_ + " -m fast -w -s stop"));
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds_down));
  Start();
}

void PostgresServer::ListenAlsoOn(const std::string& address, const std::string& subnet) {
  if (!ok_) return;
  // Appending keeps the file's owner (the server user when running as root).
  std::ofstream(dir_ + "/pg_hba.conf", std::ios::app) << "host all all " << subnet << " trust\n";
  listen_addresses_ = "127.0.0.1," + address;
  Restart(0);
}

std::string PostgresServer::NewDatabase(const std::string& host) {
  if (!ok_) return "";
  std::string name = "t";  // appended: GCC 12 misreports "t" + str (-Wrestrict)
  name.append(std::to_string(getpid())).append("_").append(std::to_string(next_db_++));
  if (!Run("psql -q -h 127.0.0.1 -p " + std::to_string(port_) +
           " -U reel -d postgres -c 'CREATE DATABASE " + name + "'"))
    return "";
  return "postgresql://reel@" + host + ":" + std::to_string(port_) + "/" + name;
}

}  // namespace reel::testing
