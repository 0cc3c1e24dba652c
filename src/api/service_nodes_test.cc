// The service on several nodes and under stress: workers sharing PostgreSQL, a database that
// goes away, many event streams, hostile requests.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/service_test_support.h"
#include "net/http.h"
#include "storage/s3.h"
#include "testing/postgres_server.h"
#include "testing/s3_server.h"
#include "testing/test_network.h"

namespace reel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::S3Server;
using testing::TempDir;

TEST_F(ServiceTest, WorkersOnSharedPostgresRunEveryJobOnceAndSurviveACrash) {
  // Each worker on a host of its own where the test may make them (network namespaces joined by
  // a bridge, as root): workers then reach the database and the object store only across the
  // network, at the server host's address. Otherwise, processes on loopback.
  std::string why_not;
  std::unique_ptr<testing::TestNetwork> network = testing::TestNetwork::Create(3, &why_not);
  std::string server = network ? network->server_address() : "127.0.0.1";
  std::string allowed = network ? network->subnet() : "127.0.0.1";
  if (network) {
    testing::PostgresServer::Instance().ListenAlsoOn(server, network->subnet());
    std::cout << "workers on hosts " << network->host_address(0) << ".." << network->host_address(2)
              << ", server " << server << std::endl;
  } else {
    std::cout << "workers on loopback: " << why_not << std::endl;
  }
  std::string url = testing::PostgresServer::Instance().NewDatabase(server);
  ASSERT_FALSE(url.empty());
  AddLongSource();
  // Media on S3 (s3rver), the queue on PostgreSQL: what hosts share when they scale out.
  TempDir s3dir;
  S3Server s3(s3dir.path(), server);
  json config = {
      {"s3",
       {{"default",
         {{"endpoint", s3.endpoint()}, {"access_key", "S3RVER"}, {"secret_key", "S3RVER"}}}}}};
  testing::WriteFile(data_ / "storage.json", config.dump());
  Result<std::map<std::string, storage::S3Profile>> profiles =
      storage::LoadS3Profiles(data_ / "storage.json");
  ASSERT_TRUE(profiles.ok());
  for (const char* name : {"small.mp4", "long.mp4"}) {
    Result<storage::S3Object> o =
        storage::ParseS3Url(std::string("s3://media/in/") + name, *profiles);
    ASSERT_TRUE(
        storage::S3Put(*o, media_ / name, "video/mp4", *net::AddressPolicy::Parse({allowed})).ok());
  }
  auto s3_job = [](const std::string& source, const std::string& out) {
    return json{
        {"source", "s3://media/in/" + source},
        {"outputs", {{{"kind", "hls"}, {"destination", "s3://media/out/" + out + "/hls/"}}}}};
  };
  std::vector<std::string> shared = {
      "--store", url, "--storage-config", data_ / "storage.json", "--allow-host", allowed};
  // An API-only node and three workers, all on one PostgreSQL queue.
  std::vector<std::string> api_args = shared;
  api_args.insert(api_args.end(), {"--workers", "0"});
  Server api(data_.path(), media_.path(), api_args);
  auto start_worker = [&](int host, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv;
    if (network) argv = network->On(host);
    std::string name = testing::TestNetwork::host_name(host);
    argv.insert(argv.end(), {testing::ReelBinary(), "worker", "--data-dir", data_ / name,
                             "--allow-path", media_.path(), "--lease", "2s"});
    argv.insert(argv.end(), shared.begin(), shared.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<testing::BackgroundCommand>(argv);
  };
  auto w1 = start_worker(0);
  auto w2 = start_worker(1);
  auto w3 = start_worker(2);
  std::string long_job = api.Submit(s3_job("long.mp4", "long")).body["id"];
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    std::string dest = "o";  // appended: GCC 12 misreports "o" + str (-Wrestrict)
    dest.append(std::to_string(i));
    ids.push_back(api.Submit(s3_job("small.mp4", dest)).body["id"]);
  }
  // Kill whichever worker took the long job, mid-job. Its progress, made on a worker host,
  // reaches the API node's event stream through the store.
  int progress_events = 0;
  Status streamed = client::StreamEvents(
      api.url() + "/v1/jobs/" + long_job + "/events",
      {{"Authorization", "Bearer " + api.admin_key()}},
      [&](const std::string& event, const std::string& data) {
        if (event == "progress") ++progress_events;
        return json::parse(data).value("progress", json::object()).value("fraction", 0.0) <= 0.1;
      },
      30);
  EXPECT_TRUE(streamed.ok()) << streamed.ToString();
  EXPECT_GT(progress_events, 0);
  json running = api.Get("/v1/jobs/" + long_job).body;
  std::string holder = running["attempt_log"][0]["worker_id"];
  json workers = api.Get("/v1/workers").body["workers"];
  ASSERT_EQ(workers.size(), 3u) << "every worker registered, the API node runs none";
  if (network) {
    std::set<std::string> hosts;
    for (const json& w : workers) hosts.insert(w["host"].get<std::string>());
    EXPECT_EQ(hosts, (std::set<std::string>{"host1", "host2", "host3"})) << workers.dump();
  }
  // The process that holds it prints its worker id when it starts.
  testing::BackgroundCommand* victim =
      w1->OutputSoFar().find(holder) != std::string::npos   ? w1.get()
      : w2->OutputSoFar().find(holder) != std::string::npos ? w2.get()
                                                            : w3.get();
  victim->Signal(SIGKILL);
  victim->Wait();
  // And the database goes away for two seconds while the others work.
  testing::PostgresServer::Instance().Restart(2);
  json done = api.WaitForState(long_job, "succeeded", 120);
  ASSERT_EQ(done["attempt_log"].size(), 2u)
      << done.dump() << "\nholder " << holder << "\nw1: " << w1->OutputSoFar()
      << "\nw2: " << w2->OutputSoFar();
  EXPECT_EQ(done["attempt_log"][0]["outcome"], "lease_expired");
  EXPECT_NE(done["attempt_log"][1]["worker_id"], holder);
  EXPECT_TRUE(fs::exists(s3dir / "media/out/long/hls/master.m3u8") ||
              done["result"]["outputs"][0]["delivered"]["files"].get<int>() > 5)
      << done["result"].dump();
  // Every job succeeded exactly once and no two attempts of a job overlapped. (A job leased
  // just before the database went away may have lost its 2 s lease and run again afterwards:
  // leases are the guarantee, so production leases are longer than a database restart.)
  for (const std::string& id : ids) {
    json j = api.WaitForState(id, "succeeded", 120);
    int succeeded = 0;
    for (size_t a = 0; a < j["attempt_log"].size(); ++a) {
      succeeded += j["attempt_log"][a]["outcome"] == "succeeded";
      if (a > 0) {
        EXPECT_LE(j["attempt_log"][a - 1]["ended_at"].get<double>(),
                  j["attempt_log"][a]["started_at"].get<double>())
            << j.dump();
      }
    }
    EXPECT_EQ(succeeded, 1) << j.dump();
  }
  // A worker told to exit when idle does so by itself.
  auto idle = start_worker(2, {"--exit-when-idle", "1s"});
  testing::CommandResult r = idle->Wait();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("idle for"), std::string::npos) << r.output;
}

// ---------------------------------------------------------------------------------------------
// The API under stress: its store going away, many event streams, hostile requests.

// A raw HTTP/1.1 connection to the server under test, for what the client library won't do
// (thousands of open streams, malformed requests).
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool ok() const { return fd_ >= 0; }
  bool Send(const std::string& bytes) {
    return fd_ >= 0 && send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                           static_cast<ssize_t>(bytes.size());
  }
  // Reads until `until` appears, the peer closes or `seconds` pass; returns what came.
  std::string ReadUntil(const std::string& until, double seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (fd_ >= 0 && got_.find(until) == std::string::npos) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) break;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      got_.append(buf, static_cast<size_t>(n));
    }
    return got_;
  }
  // The status code of the response's first line (0: none yet).
  int Status(double seconds) {
    std::string head = ReadUntil("\r\n\r\n", seconds);
    if (head.rfind("HTTP/1.1 ", 0) != 0 || head.size() < 12) return 0;
    return std::atoi(head.substr(9, 3).c_str());
  }
  bool closed() const { return closed_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string got_;
  bool closed_ = false;
};

std::string EventsRequest(const std::string& id, const std::string& key) {
  return "GET /v1/jobs/" + id + "/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key +
         "\r\n\r\n";
}

int PortOf(const std::string& url) { return std::atoi(url.substr(url.rfind(':') + 1).c_str()); }

// As many descriptors as the system lets a process (root may go past the soft and hard limits);
// the server under test, a child, inherits them.
rlim_t RaiseFileLimit(rlim_t want) {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  rlimit more = {std::max(r.rlim_cur, want), std::max(r.rlim_max, want)};
  if (setrlimit(RLIMIT_NOFILE, &more) != 0) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

// CPU ticks (user + system) the process has used.
long CpuTicks(int pid) {
  std::string stat = testing::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::atol(field.c_str());
    if (i == 15) stime = std::atol(field.c_str());
  }
  return utime + stime;
}

TEST_F(ServiceTest, AnApiNodeAnswersAtOnceWhileItsPostgresIsDownAndRecoversByItself) {
  std::string url = testing::PostgresServer::Instance().NewDatabase();
  ASSERT_FALSE(url.empty());
  Server s(data_.path(), media_.path(),
           {"--store", url, "--workers", "0", "--store-timeout", "1s"});
  std::string id = s.Submit(HlsJob("small.mp4", "out")).body["id"];
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(s.Get("/readyz").status, 200);
  auto timed = [&](const std::string& method, const std::string& path, const std::string& key,
                   double* seconds) {
    client::Headers h;
    if (!key.empty()) h["Authorization"] = "Bearer " + key;
    auto start = std::chrono::steady_clock::now();
    Result<client::HttpResponse> r = client::Fetch(method, s.url() + path, "", h, 10);
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  };
  // Down for 8 s: stopped (waiting until it is), then started again, on another thread.
  std::thread outage([] { testing::PostgresServer::Instance().Restart(8); });
  // Until the node sees it (pg_ctl may take a moment to stop it).
  auto stopped_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (s.Get("/readyz").status == 200 && std::chrono::steady_clock::now() < stopped_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/v1/jobs"},
      {"POST", "/v1/jobs"},
      {"GET", "/v1/jobs/" + id},
      {"GET", "/v1/jobs/" + id + "/events"},
      {"GET", "/v1/jobs/" + id + "/webhooks"},
      {"POST", "/v1/jobs/" + id + "/cancel"},
      {"POST", "/v1/jobs/" + id + "/retry"},
      {"DELETE", "/v1/jobs/" + id},
      {"GET", "/v1/queue"},
      {"GET", "/v1/workers"},
      {"GET", "/v1/presets"}};
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  int rounds = 0;
  while (std::chrono::steady_clock::now() < until) {
    ++rounds;
    double took = 0;
    Result<client::HttpResponse> health = timed("GET", "/healthz", "", &took);
    ASSERT_TRUE(health.ok()) << health.status().ToString();
    EXPECT_EQ(health->status, 200);
    EXPECT_LT(took, 0.1) << "/healthz never waits on the store";
    Result<client::HttpResponse> ready = timed("GET", "/readyz", "", &took);
    ASSERT_TRUE(ready.ok()) << ready.status().ToString();
    EXPECT_EQ(ready->status, 503);
    EXPECT_LT(took, 2);
    for (const auto& [method, path] : routes) {
      Result<client::HttpResponse> r = timed(method, path, s.admin_key(), &took);
      ASSERT_TRUE(r.ok()) << method << " " << path << ": " << r.status().ToString();
      EXPECT_EQ(r->status, 503) << method << " " << path << ": " << r->body;
      EXPECT_LT(took, 2) << method << " " << path;
      EXPECT_TRUE(r->headers.count("retry-after") || r->headers.count("Retry-After"))
          << method << " " << path;
    }
    Result<client::HttpResponse> metrics = timed("GET", "/metrics", "", &took);
    ASSERT_TRUE(metrics.ok());
    EXPECT_EQ(metrics->status, 200) << "metrics are served without the store's gauges";
  }
  EXPECT_GE(rounds, 2);
  outage.join();
  // Back by itself: ready again, and the job is there.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int ready = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    double took = 0;
    Result<client::HttpResponse> r = timed("GET", "/readyz", "", &took);
    if (r.ok() && r->status == 200) {
      ready = 200;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(ready, 200) << "ready again after the database came back";
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int got = 0;
  while (got != 200 && std::chrono::steady_clock::now() < deadline) {
    got = s.Get("/v1/jobs/" + id).status;
    if (got != 200) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(got, 200);
}

TEST_F(ServiceTest, AWorkerSweepsByRetentionOnlyWhenToldTo) {
  std::string old_job;
  {
    Server s(data_.path(), media_.path(), {"--workers", "0", "--retention", "1000d"});
    old_job = s.Submit(HlsJob("small.mp4", "out")).body["id"];
    ASSERT_EQ(s.Call("POST", "/v1/jobs/" + old_job + "/cancel", s.admin_key()).status, 202);
    s.Signal(SIGTERM);
    s.Wait();
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // finished 2 s ago
  auto run_worker = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {
        testing::ReelBinary(), "worker",      "--data-dir",       data_.path(),
        "--allow-path",        media_.path(), "--exit-when-idle", "3s"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    testing::CommandResult r = testing::RunCommand(argv);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  };
  auto exists = [&] {
    Server s(data_.path(), media_.path(), {"--workers", "0", "--retention", "1000d"});
    return s.Get("/v1/jobs/" + old_job).status == 200;
  };
  run_worker({});
  EXPECT_TRUE(exists()) << "a worker without --retention deletes nothing";
  run_worker({"--retention", "1s"});
  EXPECT_FALSE(exists()) << "with --retention it sweeps";
}

// GET /v1/workers showed "tags": null for a worker started with --tags.
TEST_F(ServiceTest, WorkersShowTheTagsTheyWereStartedWith) {
  Server s(data_.path(), media_.path(), {"--tags", "gpu", "--tags", "eu"});
  json workers;
  s.WaitFor("", [&](const json&) {
    workers = s.Get("/v1/workers").body["workers"];
    return workers.size() == 1;
  });
  ASSERT_EQ(workers.size(), 1u) << workers.dump();
  EXPECT_EQ(workers[0]["tags"], json({"gpu", "eu"}));
}

// A worker started while its PostgreSQL is down waits for it (it used to exit with rc 1,
// "Connection refused", after about 15 s): it retries with a growing pause, one log line per
// step, and runs jobs once the database is back.
TEST_F(ServiceTest, AWorkerStartedBeforeItsDatabaseWaitsForIt) {
  std::string url = testing::PostgresServer::Instance().NewDatabase();
  ASSERT_FALSE(url.empty());
  std::atomic<bool> down{false};
  std::thread outage([&] {
    down = true;
    testing::PostgresServer::Instance().Restart(20);  // longer than the old 15 s of retries
  });
  while (!down) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // stopped by now
  testing::BackgroundCommand worker({testing::ReelBinary(), "worker", "--store", url, "--data-dir",
                                     data_.path(), "--allow-path", media_.path()});
  outage.join();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (worker.Running() && worker.OutputSoFar().find("reel: worker ") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string log = worker.OutputSoFar();
  ASSERT_TRUE(worker.Running()) << log;
  EXPECT_NE(log.find("reel: worker "), std::string::npos) << log;
  // One line per backoff step, the pauses growing: 0.5, 1, 2, 4, 8 s... (about 20 s down).
  std::regex step("store unavailable: postgres: cannot connect: [^\n]*; retrying in ([0-9.]+)s");
  std::vector<double> pauses;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), step); it != std::sregex_iterator();
       ++it)
    pauses.push_back(std::stod((*it)[1].str()));
  ASSERT_GE(pauses.size(), 4u) << log;
  for (size_t i = 1; i < pauses.size(); ++i)
    EXPECT_EQ(pauses[i], std::min(pauses[i - 1] * 2, 30.0));
  // And it works: an API node on the same database has its job run by this worker.
  Server api(data_ / "api", media_.path(), {"--workers", "0", "--store", url});
  std::string id = api.Submit(HlsJob("small.mp4", "out")).body["id"];
  api.WaitForState(id, "succeeded");
  worker.Signal(SIGTERM);
  EXPECT_EQ(worker.Wait().exit_code, 0);
}

TEST_F(ServiceTest, EventStreamsAreCappedPerKeyAndInAllAndEndWhenTheKeyIsRevoked) {
  Server s(data_.path(), media_.path(),
           {"--workers", "0", "--max-streams-per-key", "2", "--max-streams", "3"});
  std::string alice = s.CreateKey(data_.path(), "alice");
  std::string bob = s.CreateKey(data_.path(), "bob");
  std::string a_job = s.Submit(HlsJob("small.mp4", "a"), alice).body["id"];
  std::string b_job = s.Submit(HlsJob("small.mp4", "b"), bob).body["id"];
  int port = PortOf(s.url());
  RawConnection a1(port), a2(port), a3(port), b1(port), b2(port);
  ASSERT_TRUE(a1.Send(EventsRequest(a_job, alice)));
  EXPECT_EQ(a1.Status(10), 200);
  ASSERT_TRUE(a2.Send(EventsRequest(a_job, alice)));
  EXPECT_EQ(a2.Status(10), 200);
  ASSERT_TRUE(a3.Send(EventsRequest(a_job, alice)));
  EXPECT_EQ(a3.Status(10), 429) << "a key's streams are capped";
  ASSERT_TRUE(b1.Send(EventsRequest(b_job, bob)));
  EXPECT_EQ(b1.Status(10), 200);
  ASSERT_TRUE(b2.Send(EventsRequest(b_job, bob)));
  EXPECT_EQ(b2.Status(10), 503) << "and so are the server's";
  EXPECT_EQ(s.Get("/healthz").status, 200);
  // Revoking alice ends her streams without any event of the job; bob's stays.
  testing::CommandResult r = testing::RunCommand(
      {testing::ReelBinary(), "keys", "revoke", "alice", "--data-dir", data_.path()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  a1.ReadUntil("\n\n\n\n", 5);
  a2.ReadUntil("\n\n\n\n", 5);
  EXPECT_TRUE(a1.closed() && a2.closed()) << "a revoked key's streams are closed";
  b1.ReadUntil("\n\n\n\n", 0.5);
  EXPECT_FALSE(b1.closed());
}

TEST_F(ServiceTest, TenThousandIdleStreamsCostLittleAndTwentyThousandLeaveHealthzAnswering) {
  rlim_t files = RaiseFileLimit(65536);
  if (files < 12000) GTEST_SKIP() << "only " << files << " file descriptors";
  Server s(data_.path(), media_.path(), {"--workers", "0", "--max-streams-per-key", "100000"});
  std::string id = s.Submit(HlsJob("small.mp4", "out")).body["id"];
  int port = PortOf(s.url());
  std::vector<std::unique_ptr<RawConnection>> streams;
  const size_t want = 10000;
  int refused = 0;
  auto open_started = std::chrono::steady_clock::now();
  while (streams.size() < want && refused < 1000) {
    std::vector<std::unique_ptr<RawConnection>> batch;
    for (size_t i = 0; i < 500 && streams.size() + batch.size() < want; ++i) {
      auto c = std::make_unique<RawConnection>(port);
      if (c->ok() && c->Send(EventsRequest(id, s.admin_key()))) batch.push_back(std::move(c));
    }
    for (auto& c : batch) {
      if (c->Status(20) == 200)
        streams.push_back(std::move(c));
      else
        ++refused;  // the store pool was busy: tried again in the next batch
    }
  }
  ASSERT_EQ(streams.size(), want) << refused << " refused";
  std::cout
      << want << " streams opened in "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - open_started).count()
      << " s" << std::endl;
  // Idle: what they cost is the server's CPU over 10 s.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  long before = CpuTicks(s.pid());
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(10));
  long after = CpuTicks(s.pid());
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double share = static_cast<double>(after - before) / sysconf(_SC_CLK_TCK) / wall;
  std::cout << "10000 idle streams: " << share * 100 << " % of a core" << std::endl;
  EXPECT_LT(share, 0.20);
  // As many again, from a child process (each process has its own descriptor limit): refused
  // (the cap) or waiting to be accepted, while health answers.
  std::string request = EventsRequest(id, s.admin_key());
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t flood = fork();
  if (flood == 0) {
    // Only system calls here: the parent has threads.
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    int opened = 0;
    for (int i = 0; i < 10000; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) break;
      if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) break;
      if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) break;
      ++opened;
    }
    if (write(ready[1], &opened, sizeof(opened)) < 0) _exit(1);
    for (;;) pause();
  }
  int flooded = 0;
  ASSERT_EQ(read(ready[0], &flooded, sizeof(flooded)), static_cast<ssize_t>(sizeof(flooded)));
  std::cout << want + flooded << " streams attempted in all" << std::endl;
  EXPECT_GE(flooded, 9000);
  for (int i = 0; i < 5; ++i) {
    auto t1 = std::chrono::steady_clock::now();
    ApiReply health = s.Call("GET", "/healthz", "");
    EXPECT_EQ(health.status, 200);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count(), 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  {
    RawConnection over(port);
    ASSERT_TRUE(over.Send(request));
    EXPECT_EQ(over.Status(20), 503) << "streams beyond --max-streams are refused";
  }
  kill(flood, SIGKILL);
  waitpid(flood, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  // The streams are live: a cancel reaches every one of them.
  ASSERT_EQ(s.Call("POST", "/v1/jobs/" + id + "/cancel", s.admin_key()).status, 202);
  int told = 0;
  for (size_t i = 0; i < streams.size(); i += 997)
    told += streams[i]->ReadUntil("\"state\":\"canceled\"", 20).find("\"canceled\"") !=
            std::string::npos;
  EXPECT_EQ(told, static_cast<int>((streams.size() + 996) / 997));
}

TEST_F(ServiceTest, HostileRequestsGetAnswersAndStayOutOfMetrics) {
  Server s(data_.path(), media_.path(), {"--workers", "0"});
  int port = PortOf(s.url());
  // Any case of the scheme (RFC 9110).
  for (const char* scheme : {"bearer ", "BEARER ", "Bearer "}) {
    Result<client::HttpResponse> r = client::Fetch("GET", s.url() + "/v1/queue", "",
                                                   {{"Authorization", scheme + s.admin_key()}}, 10);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << scheme;
  }
  {
    RawConnection c(port);
    c.Send("GET /v1/queue HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
    EXPECT_EQ(c.Status(10), 431);
  }
  {
    RawConnection c(port);
    std::string req = "GET /v1/queue HTTP/1.1\r\nHost: x\r\nX-Nul: a";
    req += '\0';
    req += "b\r\n\r\n";
    c.Send(req);
    EXPECT_EQ(c.Status(10), 400);
  }
  // 20,000 unique unauthenticated paths on one keep-alive connection, 1,000 at a time.
  {
    RawConnection c(port);
    size_t answered = 0;
    for (int i = 0; i < 20000; i += 1000) {
      std::string batch;
      for (int j = i; j < i + 1000; ++j) {
        std::string path = j == 0 ? "/v1/q\"},evil=\"1" : "/v1/x" + std::to_string(j) + "/y";
        batch += "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
      }
      ASSERT_TRUE(c.Send(batch));
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      std::string all;
      answered = 0;
      while (answered < static_cast<size_t>(i + 1000) &&
             std::chrono::steady_clock::now() < deadline) {
        all = c.ReadUntil("__never__", 0.2);
        answered = 0;
        for (size_t at = all.find("HTTP/1.1 401"); at != std::string::npos;
             at = all.find("HTTP/1.1 401", at + 1))
          ++answered;
      }
      ASSERT_EQ(answered, static_cast<size_t>(i + 1000));
    }
  }
  Result<client::HttpResponse> m = client::Fetch("GET", s.url() + "/metrics", "", {}, 10);
  ASSERT_TRUE(m.ok());
  EXPECT_LT(m->body.size(), 50u * 1024) << "labels do not grow with the paths clients send";
  EXPECT_EQ(m->body.find("evil"), std::string::npos);
  EXPECT_NE(m->body.find("route=\"other\""), std::string::npos);
  // Valid text format, by Prometheus' own checker where it is installed.
  if (fs::exists("/usr/bin/promtool")) {
    testing::WriteFile(data_ / "metrics.txt", m->body);
    testing::CommandResult r =
        testing::RunCommand({"sh", "-c", "promtool check metrics < " + (data_ / "metrics.txt")});
    EXPECT_EQ(r.exit_code, 0) << r.output;
  } else {
    std::cout << "promtool not installed: the format is not checked" << std::endl;
  }
}

}  // namespace
}  // namespace reel
