// The service's attempts: what an attempt's child may reach, slow and broken sources, retries,
// crashes, stalls and shutdowns.
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "api/service_test_support.h"

namespace reel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

// The pid of a child of `parent` (the attempt's `reel run-job`), or -1.
int ChildOf(int parent) {
  std::vector<int> children = ChildrenOf(parent);
  return children.empty() ? -1 : children.front();
}

TEST_F(ServiceTest, AnAttemptsChildGetsNeitherTheServersSecretsNorItsSockets) {
  AddLongSource();
  // The child parses media from strangers: the key that opens every job's sealed credentials
  // and the connections of other clients must not be within its reach.
  setenv("REEL_SECRET_KEY", std::string(64, 'a').c_str(), 1);
  setenv("PGPASSWORD", "database-password", 1);
  // Nor the server's S3 keys, for a job that names no s3:// URL (ServerS3KeysReachAnS3Job...).
  setenv("REEL_S3_SECRET_ACCESS_KEY", "server-s3-secret", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "server-aws-secret", 1);
  // Nor the server's storage config, which holds every S3 profile's keys: a child is given only
  // the profiles its job names (none here), never the file.
  testing::WriteFile(
      data_ / "storage.json",
      json({{"s3", {{"default", {{"access_key", "AK"}, {"secret_key", "SK"}}}}}}).dump());
  Server s(data_.path(), media_.path(), {"--storage-config", data_ / "storage.json"});
  std::string id = s.Submit(HlsJob("long.mp4", "out")).body["id"];
  s.WaitFor(id, [](const json& j) { return j["progress"].value("fraction", 0.0) > 0.02; });
  int child = ChildOf(s.pid());
  ASSERT_GT(child, 0);
  std::string cmdline = testing::ReadFile("/proc/" + std::to_string(child) + "/cmdline");
  EXPECT_NE(cmdline.find("run-job"), std::string::npos) << "the command line was read";
  EXPECT_EQ(cmdline.find("--storage-config"), std::string::npos) << cmdline;
  std::string environment = testing::ReadFile("/proc/" + std::to_string(child) + "/environ");
  EXPECT_NE(environment.find("REEL_TEST_HOOKS=1"), std::string::npos) << "the environment was read";
  EXPECT_NE(environment.find("REEL_WORKER_PID=" + std::to_string(s.pid()) + '\0'),
            std::string::npos)
      << "the child knows its parent, to stop if it is gone before the child watches it";
  EXPECT_EQ(environment.find("REEL_SECRET_KEY"), std::string::npos);
  EXPECT_EQ(environment.find("PGPASSWORD"), std::string::npos);
  EXPECT_EQ(environment.find("server-s3-secret"), std::string::npos);
  EXPECT_EQ(environment.find("server-aws-secret"), std::string::npos);
  int descriptors = 0;
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(child) + "/fd")) {
    std::error_code ec;
    std::string target = fs::read_symlink(fd.path(), ec).string();
    ++descriptors;
    EXPECT_EQ(target.rfind("socket:", 0), std::string::npos) << fd.path() << " -> " << target;
  }
  EXPECT_GE(descriptors, 3);
  s.Call("POST", "/v1/jobs/" + id + "/cancel", s.admin_key());
  s.WaitForState(id, "canceled");
}

// A slow HTTP source: `body` in `pieces` parts with a pause between them; with no body, one that
// never ends (100 MB declared, 2 KB every 100 ms).
class TrickleSource {
 public:
  explicit TrickleSource(std::string body = "", int pieces = 0, int pause_ms = 100)
      : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, body = std::move(body), pieces, pause_ms] {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket sock = acceptor_.accept(ec);
      if (ec || stop_) return;
      boost::asio::streambuf request;
      boost::asio::read_until(sock, request, "\r\n\r\n", ec);
      size_t length = body.empty() ? 100000000 : body.size();
      std::string head = "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: " +
                         std::to_string(length) + "\r\n\r\n";
      boost::asio::write(sock, boost::asio::buffer(head), ec);
      size_t piece = body.empty() ? 2048 : (body.size() + pieces - 1) / pieces;
      for (size_t sent = 0; !ec && !stop_ && (body.empty() || sent < body.size()); sent += piece) {
        std::string chunk = body.empty() ? std::string(piece, 'x') : body.substr(sent, piece);
        boost::asio::write(sock, boost::asio::buffer(chunk), ec);
        std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
      }
    });
  }
  ~TrickleSource() {
    stop_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket wake(ioc_);  // in case nobody came: end the accept
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/slow.mp4"; }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(ServiceTest, CancelStopsADownloadAtOnce) {
  TrickleSource slow;
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  std::string id =
      s.Submit({{"source", slow.url()},
                {"outputs", {{{"kind", "thumbnail"}, {"destination", media_ / "t.jpg"}}}}})
          .body["id"];
  s.WaitForState(id, "running");
  std::this_thread::sleep_for(std::chrono::seconds(1));  // well into the download
  auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(s.Call("POST", "/v1/jobs/" + id + "/cancel", s.admin_key()).status, 202);
  json done = s.WaitForState(id, "canceled", 10);
  // The child stops on the cancel's SIGTERM, not on the SIGKILL that follows 5 s later.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count(), 3);
  EXPECT_EQ(done["attempt_log"][0]["outcome"], "canceled");
  EXPECT_EQ(ChildOf(s.pid()), -1);
}

TEST_F(ServiceTest, ASlowDownloadIsNotTakenForAStall) {
  // 4 s of download against a 2 s stall timeout: bytes arriving are progress.
  TrickleSource slow(testing::ReadFile(media_ / "small.mp4"), 10, 400);
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1", "--stall-timeout", "2s"});
  std::string id =
      s.Submit({{"source", slow.url()},
                {"outputs", {{{"kind", "thumbnail"}, {"destination", media_ / "t.jpg"}}}}})
          .body["id"];
  json done = s.WaitFinished(id, 30);
  EXPECT_EQ(done["state"], "succeeded") << done.dump();
  EXPECT_EQ(done["attempt_log"].size(), 1u) << done.dump();
}

TEST_F(ServiceTest, CorruptInputFailsClearlyAndRetryRunsItAgain) {
  testing::WriteFile(media_ / "broken.mp4", std::string(4000, 'x'));
  Server s(data_.path(), media_.path());
  std::string id = s.Submit(HlsJob("broken.mp4", "out")).body["id"];
  json failed = s.WaitForState(id, "failed");
  EXPECT_EQ(failed["attempts"], 1) << "a bad input is not retried";
  EXPECT_NE(failed["error"].get<std::string>().find("not a media file"), std::string::npos)
      << failed["error"];
  EXPECT_TRUE(Leftovers("out").empty());
  // The user fixes the file and retries.
  fs::copy_file(media_ / "small.mp4", media_ / "broken.mp4", fs::copy_options::overwrite_existing);
  ApiReply r = s.Call("POST", "/v1/jobs/" + id + "/retry", s.admin_key());
  ASSERT_EQ(r.status, 202) << r.body.dump();
  json done = s.WaitForState(id, "succeeded");
  EXPECT_EQ(done["attempt_log"].size(), 2u);
  EXPECT_EQ(done["attempt_log"][1]["number"], 2) << "attempts are numbered on across a retry";
  EXPECT_EQ(done["attempts"], 2);
  EXPECT_EQ(done["retries"], 1);
  EXPECT_EQ(s.Call("POST", "/v1/jobs/" + id + "/retry", s.admin_key()).status, 409);
}

// A source with a corrupt stretch: the decoder's complaints are lines of the attempt's log, read
// through GET /v1/jobs/{id}/log by the job's owner only, and lines of the server's JSON log
// with the job's fields, as is everything else about the job (README "Logs").
TEST_F(ServiceTest, EngineWarningsReachTheJobLogAndTheServerLogWithTheJobFields) {
  std::string damaged = testing::ReadFile(media_ / "small.mp4");
  for (size_t i = damaged.size() * 3 / 10; i < damaged.size() * 6 / 10; i += 13) damaged[i] ^= 0x5a;
  testing::WriteFile(media_ / "damaged.mp4", damaged);
  Server s(data_.path(), media_.path(), {"--log-format", "json", "--log-level", "debug"});
  std::string id = s.Submit(HlsJob("damaged.mp4", "out")).body["id"];
  json done = s.WaitFinished(id);
  ASSERT_NE(done["state"], "running") << done.dump();

  ApiReply reply = s.Get("/v1/jobs/" + id + "/log");
  ASSERT_EQ(reply.status, 200) << reply.body.dump();
  const json& log = reply.body;
  EXPECT_EQ(log["attempt"], done["attempts"]);
  EXPECT_EQ(log["dropped"], 0);
  ASSERT_GE(log["lines"].size(), 2u) << log.dump();
  int engine = 0, named = 0;
  for (const json& line : log["lines"]) {
    EXPECT_TRUE(line.contains("ts") && line.contains("level") && line.contains("msg")) << line;
    if (line.contains("fields") && line["fields"].value("source", "") == "ffmpeg") {
      ++engine;
      EXPECT_TRUE(line["level"] == "warn" || line["level"] == "error") << line;
      named += line["fields"].value("component", "") == "h264" ? 1 : 0;
    }
  }
  EXPECT_GE(named, 1) << "the decoder's complaints about the damage: " << log.dump();
  EXPECT_LE(engine, 40) << "throttled: a burst, then one line in two seconds";
  const json& end = log["lines"].back();
  EXPECT_EQ(end["msg"], "attempt ended");
  EXPECT_EQ(end["fields"]["outcome"], done["attempt_log"].back()["outcome"]);
  // The owner only; an attempt the job never had is 404, a bad number 400 naming the field.
  std::string other = s.CreateKey(data_.path(), "other");
  EXPECT_EQ(s.Get("/v1/jobs/" + id + "/log", other).status, 404);
  EXPECT_EQ(s.Get("/v1/jobs/" + id + "/log?attempt=9").status, 404);
  ApiReply bad = s.Get("/v1/jobs/" + id + "/log?attempt=-1");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["error"]["field"], "attempt") << bad.body.dump();
  EXPECT_EQ(s.Get("/v1/jobs/" + id + "/log?attempt=1").body["lines"], log["lines"]);
  // `reel logs ID`: the same lines, as the text log writes them.
  testing::CommandResult cli =
      testing::RunCommand({"env", "REEL_URL=" + s.url(), "REEL_API_KEY=" + s.admin_key(),
                           testing::ReelBinary(), "logs", id, "--attempt", "1"});
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_TRUE(std::regex_search(cli.stdout_text,
                                std::regex(R"(\n\S+Z (info|error) attempt ended .*outcome=\w+)")))
      << cli.stdout_text;
  EXPECT_NE(cli.stdout_text.find(" source=ffmpeg"), std::string::npos) << cli.stdout_text;

  s.Signal(SIGTERM);
  std::string output = s.Wait().output;
  std::set<std::string> seen;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_FALSE(std::regex_search(line, std::regex("^\\d{4}-\\d\\d-\\d\\dT")))
        << "a text line: " << line;
    if (line.empty() || line[0] != '{') continue;  // stdout: "reel: listening on ..."
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    ASSERT_TRUE(j["ts"].is_string() && j["level"].is_string() && j["msg"].is_string()) << line;
    EXPECT_EQ(line.find(s.admin_key()), std::string::npos) << "a key in the log: " << line;
    std::string msg = j["msg"];
    if (j.value("job", "") == id && msg != "job submitted") {  // the API's: before any attempt
      EXPECT_EQ(j["attempt"], 1) << line;
      EXPECT_FALSE(j.value("worker", "").empty()) << line;
      if (j.value("source", "") == "ffmpeg") msg = "(engine)";
    }
    if (msg == "request" && j.value("route", "") == "/v1/jobs/{id}/log") msg = "(access)";
    seen.insert(msg);
  }
  for (const char* event :
       {"listening", "job leased", "(engine)", "attempt ended", "(access)", "stopping", "stopped"})
    EXPECT_TRUE(seen.count(event)) << event << " not in the server's log:\n" << output;
}

TEST_F(ServiceTest, ManualRetriesAreCappedByMaxRetries) {
  Server s(data_.path(), media_.path(), {"--workers", "0", "--max-retries", "1"});
  std::string id = s.Submit(HlsJob("small.mp4", "out")).body["id"];
  ASSERT_EQ(s.Call("POST", "/v1/jobs/" + id + "/cancel", s.admin_key()).status, 202);
  ApiReply first = s.Call("POST", "/v1/jobs/" + id + "/retry", s.admin_key());
  ASSERT_EQ(first.status, 202) << first.body.dump();
  EXPECT_EQ(first.body["retries"], 1);
  ASSERT_EQ(s.Call("POST", "/v1/jobs/" + id + "/cancel", s.admin_key()).status, 202);
  ApiReply second = s.Call("POST", "/v1/jobs/" + id + "/retry", s.admin_key());
  EXPECT_EQ(second.status, 409) << second.body.dump();
  EXPECT_NE(second.body["error"]["message"].get<std::string>().find("--max-retries 1"),
            std::string::npos)
      << second.body.dump();
  EXPECT_EQ(s.Call("GET", "/v1/jobs/" + id, s.admin_key()).body["state"], "canceled");
}

TEST_F(ServiceTest, IdempotentSubmit) {
  Server s(data_.path(), media_.path(), {"--workers", "0"});
  std::string body = HlsJob("small.mp4", "out").dump();
  ApiReply first = s.Call("POST", "/v1/jobs", s.admin_key(), body, {{"Idempotency-Key", "k1"}});
  ApiReply again = s.Call("POST", "/v1/jobs", s.admin_key(), body, {{"Idempotency-Key", "k1"}});
  EXPECT_EQ(first.status, 202);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body["id"], first.body["id"]);
  ApiReply other = s.Call("POST", "/v1/jobs", s.admin_key(), HlsJob("small.mp4", "x").dump(),
                          {{"Idempotency-Key", "k1"}});
  EXPECT_EQ(other.status, 409);
  EXPECT_EQ(s.Get("/v1/jobs").body["jobs"].size(), 1u);
}

TEST_F(ServiceTest, ServerKilledMidJobLosesNothing) {
  // The job runs about one and a half times (the killed attempt, then all of it again), so its
  // ladder is cheap: with AddLongSource's 720p (three rungs and an MP4, about 0.15x real time on
  // a host loaded to 20 runnable tasks per core pair) the second attempt was still encoding,
  // correctly, at the 90 s deadline. At 360p, twice as long, a kill still lands mid-job.
  fs::copy_file(testing::Clip(640, 360, 26, 30), media_ / "long.mp4");
  std::string id;
  {
    Server s(data_.path(), media_.path(), {"--lease", "2s"});
    id = s.Submit(HlsJob("long.mp4", "out")).body["id"];
    s.WaitFor(id, [](const json& j) { return j["progress"].value("fraction", 0.0) > 0.1; });
    s.Signal(SIGKILL);
    s.Wait();
  }
  Server restarted(data_.path(), media_.path(), {"--lease", "2s"});
  json done = restarted.WaitForState(id, "succeeded", 90);
  ASSERT_EQ(done["attempt_log"].size(), 2u);
  EXPECT_EQ(done["attempt_log"][0]["outcome"], "lease_expired");
  EXPECT_EQ(done["attempt_log"][1]["outcome"], "succeeded");
  // Outputs are whole: every segment of the package is there and the MP4 reads to the end.
  testing::MediaSummary mp4 = testing::ReadMedia(media_ / "out/small.mp4");
  ASSERT_NE(mp4.Find("video"), nullptr);
  EXPECT_EQ(mp4.Find("video")->packets, 780);
  EXPECT_TRUE(fs::exists(media_ / "out/hls/master.m3u8"));
  std::vector<std::string> names = Leftovers("out");
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"hls", "small.mp4"})) << "no staging debris";
  // Nor scratch: the killed attempt's (its spec may hold opened credentials) went at restart.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(data_ / "work", ec))
    ADD_FAILURE() << "left in work/: " << e.path();
}

TEST_F(ServiceTest, CrashingJobFailsAloneAndOtherJobsSucceed) {
  Server s(data_.path(), media_.path(), {"--max-attempts", "2"});
  std::string crash =
      s.Submit(HlsJob("small.mp4", "crash", {{"reel_test_hook", "crash"}})).body["id"];
  std::string fine = s.Submit(HlsJob("small.mp4", "fine")).body["id"];
  json crashed = s.WaitForState(crash, "failed");
  EXPECT_EQ(crashed["attempts"], 2);
  EXPECT_EQ(crashed["attempt_log"][0]["outcome"], "crashed");
  EXPECT_NE(crashed["error"].get<std::string>().find("crashed with signal 6"), std::string::npos)
      << crashed["error"];
  EXPECT_NE(crashed["error"].get<std::string>().find("gave up after 2 attempts"),
            std::string::npos);
  EXPECT_TRUE(Leftovers("crash").empty()) << ::testing::PrintToString(Leftovers("crash"));
  s.WaitForState(fine, "succeeded");
  EXPECT_EQ(s.Call("GET", "/healthz", "").status, 200) << "the server is unharmed";
}

// An attempt's process is confined (attempt::ConfineAttempt): were a crafted input to exploit a
// decoder's bug, the process could open whatever the worker's user may; it reaches only its
// job's roots, its scratch and the system's files. Seen from inside through a test hook: the
// store and another folder of the host are refused, the job's own source is not.
TEST_F(ServiceTest, AnAttemptsProcessOpensOnlyWhatItsJobMayReach) {
  if (syscall(__NR_landlock_create_ruleset, nullptr, 0, 1 /* the ABI version */) <= 0)
    GTEST_SKIP() << "this kernel has no Landlock";
  TempDir elsewhere;
  testing::WriteFile(elsewhere / "other-tenant.mp4", "bytes");
  const std::string store = (fs::path(data_.path()) / "reel.db").string();
  const std::string other = elsewhere / "other-tenant.mp4", own = media_ / "small.mp4";
  ASSERT_TRUE(fs::exists(own));
  Server s(data_.path(), media_.path());
  ASSERT_TRUE(fs::exists(store));
  std::string id =
      s.Submit(HlsJob("small.mp4", "out",
                      {{"reel_test_hook", "open"}, {"reel_test_open", {store, other, own}}}))
          .body["id"];
  s.WaitForState(id, "succeeded");
  ApiReply log = s.Get("/v1/jobs/" + id + "/log");
  ASSERT_EQ(log.status, 200);
  std::map<std::string, std::string> refused;  // path -> the error opening it ("" for none)
  for (const json& line : log.body["lines"])
    if (line.value("msg", "") == "test hook: open")
      refused[line["fields"]["path"].get<std::string>()] = line["fields"].value("error", "?");
  ASSERT_EQ(refused.size(), 3u) << log.body.dump();
  EXPECT_EQ(refused[store], "Permission denied");
  EXPECT_EQ(refused[other], "Permission denied");
  EXPECT_EQ(refused[own], "") << "the job's own source";
}

TEST_F(ServiceTest, StalledAttemptIsKilledAndRetried) {
  Server s(data_.path(), media_.path(), {"--stall-timeout", "1s", "--max-attempts", "2"});
  std::string id = s.Submit(HlsJob("small.mp4", "out", {{"reel_test_hook", "stall"}})).body["id"];
  json failed = s.WaitForState(id, "failed", 30);
  ASSERT_EQ(failed["attempt_log"].size(), 2u);
  EXPECT_EQ(failed["attempt_log"][0]["outcome"], "stalled");
  EXPECT_EQ(failed["attempt_log"][1]["outcome"], "stalled");
  EXPECT_NE(failed["error"].get<std::string>().find("stalled"), std::string::npos);
}

TEST_F(ServiceTest, RetentionSweepsFinishedJobs) {
  Server s(data_.path(), media_.path(), {"--workers", "0", "--retention", "2s"});
  std::string id = s.Submit(HlsJob("small.mp4", "out")).body["id"];
  std::string keep = s.Submit(HlsJob("small.mp4", "keep")).body["id"];
  ASSERT_EQ(s.Call("POST", "/v1/jobs/" + id + "/cancel", s.admin_key()).status, 202);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (s.Get("/v1/jobs/" + id).status == 200 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(s.Get("/v1/jobs/" + id).status, 404) << "finished job past retention is deleted";
  EXPECT_EQ(s.Get("/v1/jobs/" + keep).status, 200) << "queued jobs are never swept";
}

TEST_F(ServiceTest, GracefulShutdownRequeuesRunningJobs) {
  AddLongSource();
  std::string id;
  {
    Server s(data_.path(), media_.path(), {"--shutdown-grace", "0s"});
    id = s.Submit(HlsJob("long.mp4", "out")).body["id"];
    s.WaitFor(id, [](const json& j) { return j["progress"].value("fraction", 0.0) > 0.05; });
    s.Signal(SIGTERM);
    testing::CommandResult r = s.Wait();
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  Server after(data_.path(), media_.path(), {"--workers", "0"});
  json job = after.Get("/v1/jobs/" + id).body;
  EXPECT_EQ(job["state"], "queued");
  EXPECT_EQ(job["attempts"], 0) << "a released attempt does not count";
  EXPECT_EQ(job["attempt_log"][0]["outcome"], "released");
  EXPECT_TRUE(Leftovers("out").empty());
}

}  // namespace
}  // namespace reel
