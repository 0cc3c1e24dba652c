// The service's chunked jobs (README "Chunked encoding"): tasks on every worker, killed chunks
// and stitches, S3 and local staging, progressive publishing.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
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
#include "testing/package_check.h"
#include "testing/postgres_server.h"
#include "testing/s3_server.h"

namespace reel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::S3Server;
using testing::TempDir;

// Chunked encoding as tasks (README "Chunked encoding"). A ~35 s source, 6 s segments, chunks of
// 10 s asked for: three chunks of two segments, the audio, the thumbnail (main) and the stitch.
json ChunkedJob(const std::string& source, const std::string& dest, const json& chunking) {
  return {{"source", source},
          {"chunking", chunking},
          {"outputs",
           {{{"kind", "dash"}, {"ladder", "default"}, {"destination", dest + "/pkg/"}},
            {{"kind", "thumbnail"}, {"destination", dest + "/thumb.jpg"}}}}};
}

// Every media playlist of a package: its EXTINF and segment lines, by rendition folder.
std::map<std::string, std::string> MediaPlaylists(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!fs::exists(e.path() / "index.m3u8")) continue;
    std::istringstream in(testing::ReadFile(e.path() / "index.m3u8"));
    std::string lines;
    for (std::string line; std::getline(in, line);)
      if (line.rfind("#EXTINF", 0) == 0 || (!line.empty() && line[0] != '#')) lines += line + "\n";
    out[e.path().filename().string()] = lines;
  }
  return out;
}

// The running `reel run-job --task` children of `server` and the kind of task each runs.
std::map<int, std::string> TaskChildren(int server) {
  std::map<int, std::string> out;
  for (int pid : ChildrenOf(server)) {
    std::string cmdline = testing::ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    std::vector<std::string> args;
    for (size_t at = 0; at < cmdline.size();) {
      size_t end = cmdline.find('\0', at);
      if (end == std::string::npos) end = cmdline.size();
      args.push_back(cmdline.substr(at, end - at));
      at = end + 1;
    }
    for (size_t i = 0; i + 1 < args.size(); ++i)
      if (args[i] == "--task") {
        json task = json::parse(testing::ReadFile(args[i + 1]), nullptr, false);
        if (task.is_object())
          out[pid] = task.value("kind", "") + "-" + std::to_string(task.value("ordinal", -1));
      }
  }
  return out;
}

// The worker that records a job's success removes its staging just after: wait a little for it.
bool StagingGoes(const std::string& dir) {
  for (int i = 0; i < 200 && fs::exists(dir); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return !fs::exists(dir);
}

TEST_F(ServiceTest, AChunkedJobRunsAsTasksOnEveryWorkerAndMakesTheUnchunkedPackage) {
  fs::copy_file(testing::Clip(320, 240, 35, 30), media_ / "film.mp4");
  Server s(data_.path(), media_.path(), {"--workers", "2"});
  std::string whole = s.Submit(ChunkedJob(media_ / "film.mp4", media_ / "whole", "off")).body["id"];
  ApiReply submitted =
      s.Submit(ChunkedJob(media_ / "film.mp4", media_ / "chunked", {{"seconds", 10}}));
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  std::string id = submitted.body["id"];
  json plain = s.WaitFinished(whole, 240);
  ASSERT_EQ(plain["state"], "succeeded") << plain.dump();
  EXPECT_FALSE(plain.contains("tasks") && !plain["tasks"].empty()) << "chunking off: one attempt";
  json done = s.WaitFinished(id, 240);
  ASSERT_EQ(done["state"], "succeeded") << done.dump();

  EXPECT_EQ(done["attempt_log"][0]["outcome"], "fanned_out");
  std::map<std::string, int> kinds;
  for (const json& t : done["tasks"]) {
    ++kinds[t["kind"].get<std::string>()];
    EXPECT_EQ(t["state"], "succeeded") << t.dump();
    EXPECT_EQ(t["attempts"], 1) << t.dump();
    EXPECT_FALSE(t.value("worker_id", "").empty()) << t.dump();
  }
  EXPECT_EQ(kinds,
            (std::map<std::string, int>{{"audio", 1}, {"chunk", 3}, {"main", 1}, {"stitch", 1}}));
  EXPECT_EQ(done["progress"]["fraction"], 1.0);
  EXPECT_EQ(done["result"]["chunking"]["chunked"], true);
  ASSERT_EQ(done["result"]["outputs"].size(), 2u) << done["result"].dump();
  EXPECT_EQ(done["result"]["outputs"][0]["kind"], "dash");
  EXPECT_EQ(done["result"]["outputs"][1]["kind"], "thumbnail");

  testing::PackageReport report = testing::CheckPackage(media_ / "chunked/pkg");
  EXPECT_TRUE(report.ok()) << report.Describe();
  std::map<std::string, std::string> want = MediaPlaylists(media_ / "whole/pkg");
  EXPECT_GE(want.size(), 2u);
  EXPECT_EQ(MediaPlaylists(media_ / "chunked/pkg"), want) << "segments and their durations";
  int source_frames = testing::ReadMedia(media_ / "film.mp4").Find("video")->packets;
  for (const auto& [rendition, lines] : want) {
    if (rendition.rfind("audio", 0) == 0) continue;
    const testing::StreamSummary* video =
        testing::ReadMedia(media_ / ("chunked/pkg/" + rendition + "/index.m3u8")).Find("video");
    ASSERT_NE(video, nullptr) << rendition;
    EXPECT_EQ(video->packets, source_frames) << rendition;
  }
  EXPECT_TRUE(fs::exists(media_ / "chunked/thumb.jpg"));
  EXPECT_TRUE(StagingGoes(data_ / ("staging/" + id))) << "the staging goes with the job's end";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(data_ / "work", ec))
    ADD_FAILURE() << "left in work/: " << e.path();
}

TEST_F(ServiceTest, AKilledChunkRunsAgainAloneAndCancelStopsEveryTaskUntilARetry) {
  fs::copy_file(testing::Clip(320, 240, 35, 30), media_ / "film.mp4");
  Server s(data_.path(), media_.path(), {"--workers", "2"});
  std::string id =
      s.Submit(ChunkedJob(media_ / "film.mp4", media_ / "a", {{"seconds", 10}})).body["id"];
  // kill -9 of a chunk's process while it encodes: that chunk, and nothing else, runs again.
  std::string killed;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (killed.empty() && std::chrono::steady_clock::now() < deadline) {
    for (const auto& [pid, task] : TaskChildren(s.pid()))
      if (task.rfind("chunk-", 0) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));  // into its encode
        if (kill(pid, SIGKILL) == 0) killed = task;
        break;
      }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(killed.empty()) << "no chunk ran";
  json done = s.WaitFinished(id, 240);
  ASSERT_EQ(done["state"], "succeeded") << done.dump();
  for (const json& t : done["tasks"]) {
    std::string name = t["kind"].get<std::string>() + "-" + std::to_string(t["ordinal"].get<int>());
    EXPECT_EQ(t["attempts"], name == killed ? 2 : 1) << t.dump();
  }
  testing::PackageReport report = testing::CheckPackage(media_ / "a/pkg");
  EXPECT_TRUE(report.ok()) << report.Describe();

  // Cancel while tasks run: every task stops, nothing stays running, the staging goes.
  std::string second =
      s.Submit(ChunkedJob(media_ / "film.mp4", media_ / "b", {{"seconds", 10}})).body["id"];
  s.WaitFor(
      second,
      [](const json& j) {
        for (const json& t : j.value("tasks", json::array()))
          if (t["state"] == "running") return true;
        return false;
      },
      120);
  EXPECT_EQ(s.Call("POST", "/v1/jobs/" + second + "/cancel", s.admin_key()).status, 202);
  json canceled = s.WaitFinished(second, 30);
  EXPECT_EQ(canceled["state"], "canceled") << canceled.dump();
  for (const json& t : canceled["tasks"])
    EXPECT_TRUE(t["state"] == "canceled" || t["state"] == "succeeded") << t.dump();
  EXPECT_TRUE(TaskChildren(s.pid()).empty()) << "no task process is left running";
  std::set<std::string> kept;
  for (const json& t : canceled["tasks"])
    if (t["state"] == "succeeded") kept.insert(t["id"].get<std::string>());

  // A retry runs the canceled tasks again, and stitches them with those that had succeeded:
  // their staging was kept for it.
  EXPECT_EQ(s.Call("POST", "/v1/jobs/" + second + "/retry", s.admin_key()).status, 202);
  json retried = s.WaitFinished(second, 240);
  ASSERT_EQ(retried["state"], "succeeded") << retried.dump();
  for (const json& t : retried["tasks"])
    if (kept.count(t["id"].get<std::string>())) {
      EXPECT_EQ(t["attempts"], 1) << "succeeded before the cancel: not run again " << t.dump();
    }
  report = testing::CheckPackage(media_ / "b/pkg");
  EXPECT_TRUE(report.ok()) << report.Describe();
  EXPECT_TRUE(StagingGoes(data_ / ("staging/" + second)));
}

// The objects under an S3 prefix of s3rver (empty when the listing fails: the test says so).
std::vector<std::string> S3Keys(const std::map<std::string, storage::S3Profile>& profiles,
                                const std::string& prefix) {
  Result<storage::S3Object> p = storage::ParseS3Url(prefix, profiles);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  if (!p.ok()) return {};
  Result<storage::S3Listing> listed =
      storage::S3List(*p, "", *net::AddressPolicy::Parse({"127.0.0.1"}));
  EXPECT_TRUE(listed.ok()) << listed.status().ToString();
  std::vector<std::string> keys;
  if (listed.ok())
    for (const auto& [key, size] : listed->objects) keys.push_back(key);
  return keys;
}

// `--staging s3://...`: chunks go up to S3 and the stitch reads them back; the package is the one
// a run with the local staging makes, the source (on a web server) is fetched once for all the
// tasks, and the staging's objects go with the job's end. Tenants cannot name the staging.
TEST_F(ServiceTest, AChunkedJobStagedInS3MakesTheSamePackageAndFetchesItsSourceOnce) {
  TempDir s3dir;
  S3Server s3(s3dir.path());
  json config = {
      {"s3",
       {{"default",
         {{"endpoint", s3.endpoint()}, {"access_key", "S3RVER"}, {"secret_key", "S3RVER"}}}}}};
  testing::WriteFile(data_ / "storage.json", config.dump());
  Result<std::map<std::string, storage::S3Profile>> profiles =
      storage::LoadS3Profiles(data_ / "storage.json");
  ASSERT_TRUE(profiles.ok()) << profiles.status().ToString();
  fs::copy_file(testing::Clip(320, 240, 35, 30), media_ / "film.mp4");
  Receiver web;
  web.Serve("/media/film.mp4", testing::ReadFile(media_ / "film.mp4"));

  Server s(data_.path(), media_.path(),
           {"--workers", "2", "--allow-host", "127.0.0.1", "--storage-config",
            data_ / "storage.json", "--staging", "s3://media/staging/"});
  for (const json& bad :
       {json{{"source", "s3://media/staging/job_x/sources/0/film.mp4"},
             {"outputs", {{{"kind", "mp4"}, {"destination", media_ / "x.mp4"}}}}},
        json{{"source", media_ / "film.mp4"},
             {"outputs", {{{"kind", "hls"}, {"destination", "s3://media/staging/"}}}}}}) {
    ApiReply refused = s.Submit(bad);
    EXPECT_EQ(refused.status, 400) << refused.body.dump();
    EXPECT_EQ(refused.body["error"]["field"],
              bad["source"] == media_ / "film.mp4" ? "outputs[0].destination" : "source")
        << refused.body.dump();
    EXPECT_EQ(refused.body.dump().find(s3.endpoint()), std::string::npos);
  }

  std::string whole = s.Submit(ChunkedJob(media_ / "film.mp4", media_ / "whole", "off")).body["id"];
  ApiReply submitted =
      s.Submit(ChunkedJob(web.Base() + "/media/film.mp4", media_ / "chunked", {{"seconds", 10}}));
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  std::string id = submitted.body["id"];
  ASSERT_EQ(s.WaitFinished(whole, 240)["state"], "succeeded");
  json done = s.WaitFinished(id, 240);
  ASSERT_EQ(done["state"], "succeeded") << done.dump();
  EXPECT_EQ(done["result"]["chunking"]["chunked"], true);
  EXPECT_EQ(done["tasks"].size(), 6u) << "three chunks, the audio, the thumbnail, the stitch";

  testing::PackageReport report = testing::CheckPackage(media_ / "chunked/pkg");
  EXPECT_TRUE(report.ok()) << report.Describe();
  std::map<std::string, std::string> want = MediaPlaylists(media_ / "whole/pkg");
  EXPECT_GE(want.size(), 2u);
  EXPECT_EQ(MediaPlaylists(media_ / "chunked/pkg"), want) << "segments and their durations";
  EXPECT_TRUE(fs::exists(media_ / "chunked/thumb.jpg"));

  int gets = 0;
  for (const Receiver::Request& r : web.requests())
    gets += r.method == "GET" && r.target == "/media/film.mp4";
  EXPECT_EQ(gets, 1) << "the source is fetched once, by the attempt that fans out";

  // The worker that records the job's end removes its objects just after.
  std::vector<std::string> left;
  for (int i = 0; i < 100; ++i) {
    left = S3Keys(*profiles, "s3://media/staging/" + id + "/");
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(left.empty()) << left.size() << " staged objects left, e.g. " << left[0];
  EXPECT_FALSE(fs::exists(data_ / ("staging/" + id))) << "nothing staged locally";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(data_ / "work", ec))
    ADD_FAILURE() << "left in work/: " << e.path();
}

// A staging signed with the "default" profile shares its keys with every tenant's s3:// URL: the
// server says so when it starts; a staging with a profile of its own starts without a word.
TEST_F(ServiceTest, AStagingSignedWithTheDefaultProfileIsWarnedOfAtStart) {
  TempDir s3dir;
  S3Server s3(s3dir.path());
  json profile = {{"endpoint", s3.endpoint()}, {"access_key", "S3RVER"}, {"secret_key", "S3RVER"}};
  testing::WriteFile(data_ / "storage.json",
                     json{{"s3", {{"default", profile}, {"staging", profile}}}}.dump());
  // (The log escapes the quotes around "default".)
  const std::string warning = "profile, which every tenant's s3://bucket/key URL uses too";
  {
    Server s(data_.path(), media_.path(),
             {"--allow-host", "127.0.0.1", "--storage-config", data_ / "storage.json", "--staging",
              "s3://media/staging/"});
    EXPECT_NE(s.Output().find(warning), std::string::npos) << s.Output();
  }
  Server s(data_.path(), media_.path(),
           {"--allow-host", "127.0.0.1", "--storage-config", data_ / "storage.json", "--staging",
            "s3://staging@media/staging/"});
  EXPECT_EQ(s.Get("/v1/jobs").status, 200);
  EXPECT_EQ(s.Output().find(warning), std::string::npos) << s.Output();
}

// With the local staging too, a remote source is fetched once for all the tasks of a job.
TEST_F(ServiceTest, AChunkedJobFetchesItsRemoteSourceOnceWithTheLocalStaging) {
  fs::copy_file(testing::Clip(320, 240, 35, 30), media_ / "film.mp4");
  Receiver web;
  web.Serve("/media/film.mp4", testing::ReadFile(media_ / "film.mp4"));
  Server s(data_.path(), media_.path(), {"--workers", "2", "--allow-host", "127.0.0.1"});
  ApiReply submitted =
      s.Submit(ChunkedJob(web.Base() + "/media/film.mp4", media_ / "chunked", {{"seconds", 10}}));
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  json done = s.WaitFinished(submitted.body["id"], 240);
  ASSERT_EQ(done["state"], "succeeded") << done.dump();
  EXPECT_EQ(done["result"]["chunking"]["chunked"], true);
  int gets = 0;
  for (const Receiver::Request& r : web.requests())
    gets += r.method == "GET" && r.target == "/media/film.mp4";
  EXPECT_EQ(gets, 1) << "the tasks read the staged copy";
  EXPECT_TRUE(testing::CheckPackage(media_ / "chunked/pkg").ok());
  EXPECT_TRUE(StagingGoes(data_ / ("staging/" + done["id"].get<std::string>())));
}

// kill -9 of the stitch's process halfway (a test hook stalls its first attempt after it copied
// a rendition): the stitch runs again, alone, and the package is the one a stitch never killed
// makes, with nothing of the killed attempt left beside it.
TEST_F(ServiceTest, AKilledStitchRunsAgainAndMakesTheSamePackage) {
  fs::copy_file(testing::Clip(320, 240, 25, 30), media_ / "film.mp4");
  Server s(data_.path(), media_.path(), {"--workers", "2"});
  std::string plain =
      s.Submit(ChunkedJob(media_ / "film.mp4", media_ / "plain", {{"seconds", 10}})).body["id"];
  json killed_spec = ChunkedJob(media_ / "film.mp4", media_ / "killed", {{"seconds", 10}});
  killed_spec["metadata"] = {{"reel_test_hook", "stall_first_stitch"}};
  std::string id = s.Submit(killed_spec).body["id"];
  bool killed = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (!killed && std::chrono::steady_clock::now() < deadline) {
    json job = s.Get("/v1/jobs/" + id).body;
    std::string state = job.value("state", "");
    if (state != "queued" && state != "running") break;
    for (const auto& [pid, task] : TaskChildren(s.pid()))
      if (task == "stitch-0") {
        // Stalled once its progress says it has copied something: halfway through.
        for (const json& t : job.value("tasks", json::array()))
          if (t["kind"] == "stitch" && t["progress"].get<double>() > 0)
            killed = kill(pid, SIGKILL) == 0;
      }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(killed) << "the stitch never ran: " << s.Get("/v1/jobs/" + id).body.dump();
  json done = s.WaitFinished(id, 240);
  ASSERT_EQ(done["state"], "succeeded") << done.dump();
  for (const json& t : done["tasks"])
    EXPECT_EQ(t["attempts"], t["kind"] == "stitch" ? 2 : 1) << t.dump();
  json reference = s.WaitFinished(plain, 240);
  ASSERT_EQ(reference["state"], "succeeded") << reference.dump();

  testing::PackageReport report = testing::CheckPackage(media_ / "killed/pkg");
  EXPECT_TRUE(report.ok()) << report.Describe();
  std::map<std::string, std::string> want = MediaPlaylists(media_ / "plain/pkg");
  EXPECT_GE(want.size(), 2u);
  EXPECT_EQ(MediaPlaylists(media_ / "killed/pkg"), want) << "segments and their durations";
  auto files = [](const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      names.insert(fs::relative(e.path(), dir).string());
    return names;
  };
  EXPECT_EQ(files(media_ / "killed"), files(media_ / "plain")) << "nothing staged is left";
  json got = done["result"], expected = reference["result"];
  for (json* r : {&got, &expected}) {
    r->erase("elapsed");
    r->erase("metadata");
    for (json& o : (*r)["outputs"]) o.erase("path"), o.erase("master"), o.erase("manifest");
  }
  EXPECT_EQ(got["outputs"].size(), expected["outputs"].size());
  for (size_t i = 0; i < got["outputs"].size() && i < expected["outputs"].size(); ++i)
    for (const char* key : {"kind", "duration", "width", "height", "video_codec", "audio_codec"})
      EXPECT_EQ(got["outputs"][i].value(key, json()), expected["outputs"][i].value(key, json()))
          << key << " of output " << i;
  EXPECT_EQ(got["chunking"], expected["chunking"]);
  EXPECT_TRUE(StagingGoes(data_ / ("staging/" + id)));

  // Each task attempt kept its own log: the killed stitch's, its re-run's, every chunk's. The
  // job's own log names its tasks.
  ApiReply job_log = s.Get("/v1/jobs/" + id + "/log");
  ASSERT_EQ(job_log.status, 200) << job_log.body.dump();
  std::vector<std::string> task_names = job_log.body["tasks"];  // in the order they are leased
  std::sort(task_names.begin(), task_names.end());
  EXPECT_EQ(task_names, (std::vector<std::string>{"audio-0", "chunk-0", "chunk-1", "chunk-2",
                                                  "main-0", "stitch-0"}));
  EXPECT_NE(job_log.body.dump().find("audio-0 chunk-0..chunk-2 main-0 stitch-0"), std::string::npos)
      << job_log.body.dump();
  ApiReply stitch_log = s.Get("/v1/jobs/" + id + "/log?task=stitch-0");
  ASSERT_EQ(stitch_log.status, 200) << stitch_log.body.dump();
  EXPECT_EQ(stitch_log.body["task"], "stitch-0");
  EXPECT_EQ(stitch_log.body["attempt"], 2);
  EXPECT_EQ(stitch_log.body["lines"].back()["fields"]["outcome"], "succeeded")
      << stitch_log.body.dump();
  ApiReply killed_log = s.Get("/v1/jobs/" + id + "/log?task=stitch-0&attempt=1");
  ASSERT_EQ(killed_log.status, 200) << killed_log.body.dump();
  EXPECT_EQ(killed_log.body["lines"].back()["fields"]["outcome"], "crashed")
      << killed_log.body.dump();
  ApiReply chunk_log = s.Get("/v1/jobs/" + id + "/log?task=chunk-1");
  ASSERT_EQ(chunk_log.status, 200) << chunk_log.body.dump();
  EXPECT_EQ(chunk_log.body["attempt"], 1);
  EXPECT_EQ(chunk_log.body["lines"].back()["msg"], "attempt ended");
  EXPECT_EQ(chunk_log.body.dump().find(data_.path()), std::string::npos) << "no server path";
  // Bounded names, 404 for a task the job has not, for an attempt it never had, and for others.
  ApiReply bad = s.Get("/v1/jobs/" + id + "/log?task=chunk-x");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["error"]["field"], "task") << bad.body.dump();
  EXPECT_EQ(s.Get("/v1/jobs/" + id + "/log?task=chunk-9").status, 404);
  EXPECT_EQ(s.Get("/v1/jobs/" + id + "/log?task=chunk-1&attempt=2").status, 404);
  std::string other = s.CreateKey(data_.path(), "other");
  EXPECT_EQ(s.Get("/v1/jobs/" + id + "/log?task=chunk-1", other).status, 404);
  // `reel logs ID --task stitch-0 --attempt 1`: the same lines, as the text log writes them.
  testing::CommandResult cli = testing::RunCommand(
      {"env", "REEL_URL=" + s.url(), "REEL_API_KEY=" + s.admin_key(), testing::ReelBinary(), "logs",
       id, "--task", "stitch-0", "--attempt", "1"});
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.stdout_text.find("attempt ended"), std::string::npos) << cli.stdout_text;
  EXPECT_NE(cli.stdout_text.find("outcome=crashed"), std::string::npos) << cli.stdout_text;

  // The job-duration histogram has each chunked job's whole run (first lease to stitch end), not
  // only its stitch's.
  std::string metrics = s.Call("GET", "/metrics", "").body.get<std::string>();
  double whole = 0;
  for (const json& j : {done, reference})
    whole += j["finished_at"].get<double>() - j["started_at"].get<double>();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      metrics, m, std::regex(R"(reel_job_duration_seconds_sum\{state="succeeded"\} (\S+))")))
      << metrics;
  EXPECT_NEAR(std::stod(m[1].str()), whole, 0.05) << metrics;
  EXPECT_NE(metrics.find("reel_job_duration_seconds_count{state=\"succeeded\"} 2"),
            std::string::npos);
  EXPECT_NE(metrics.find("reel_queue_depth 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("reel_attempts_running 0\n"), std::string::npos) << metrics;
}

// Two worker pools (a server's and a `reel worker`'s) on one PostgreSQL store and one staging:
// the tasks of a chunked job are leased by both, through SKIP LOCKED, and the package is whole.
TEST_F(ServiceTest, TwoWorkerPoolsOnPostgresShareTheTasksOfAChunkedJob) {
  std::string url = testing::PostgresServer::Instance().NewDatabase();
  ASSERT_FALSE(url.empty());
  fs::copy_file(testing::Clip(320, 240, 35, 30), media_ / "film.mp4");
  TempDir staging;
  Server api(data_.path(), media_.path(),
             {"--store", url, "--staging", staging.path(), "--workers", "1"});
  testing::BackgroundCommand worker({testing::ReelBinary(), "worker", "--data-dir", data_ / "w2",
                                     "--allow-path", media_.path(), "--store", url, "--staging",
                                     staging.path(), "--capacity", "1"});
  for (int i = 0; i < 300 && api.Get("/v1/workers").body["workers"].size() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(api.Get("/v1/workers").body["workers"].size(), 2u) << worker.OutputSoFar();
  std::string id =
      api.Submit(ChunkedJob(media_ / "film.mp4", media_ / "out", {{"seconds", 10}})).body["id"];
  json done = api.WaitFinished(id, 240);
  ASSERT_EQ(done["state"], "succeeded") << done.dump() << "\nworker: " << worker.OutputSoFar();
  std::set<std::string> workers;
  for (const json& t : done["tasks"]) {
    EXPECT_EQ(t["state"], "succeeded") << t.dump();
    EXPECT_EQ(t["attempts"], 1) << "no task ran twice: " << t.dump();
    workers.insert(t.value("worker_id", ""));
  }
  EXPECT_EQ(done["tasks"].size(), 6u) << "three chunks, the audio, main and the stitch";
  EXPECT_EQ(workers.size(), 2u) << "both pools leased tasks: " << done["tasks"].dump();
  testing::PackageReport report = testing::CheckPackage(media_ / "out/pkg");
  EXPECT_TRUE(report.ok()) << report.Describe();
  int source_frames = testing::ReadMedia(media_ / "film.mp4").Find("video")->packets;
  for (const auto& [rendition, lines] : MediaPlaylists(media_ / "out/pkg")) {
    if (rendition.rfind("audio", 0) == 0) continue;
    const testing::StreamSummary* video =
        testing::ReadMedia(media_ / ("out/pkg/" + rendition + "/index.m3u8")).Find("video");
    ASSERT_NE(video, nullptr) << rendition;
    EXPECT_EQ(video->packets, source_frames) << rendition;
  }
  EXPECT_TRUE(fs::exists(media_ / "out/thumb.jpg"));
  EXPECT_TRUE(StagingGoes(staging / id)) << "the staging goes with the job's end";
}

// The URIs a playlist names: segment lines, and the EXT-X-MAP / EXT-X-MEDIA URI attributes.
std::vector<std::string> NamedUris(const std::string& playlist) {
  std::vector<std::string> uris;
  std::istringstream in(playlist);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') uris.push_back(line);
    size_t at = line.find("URI=\"");
    if (at != std::string::npos && line.rfind("#EXT-X-I-FRAME", 0) != 0)
      uris.push_back(line.substr(at + 5, line.find('"', at + 5) - at - 5));
  }
  return uris;
}

// Early playback (README): a chunked job's "publish": "progressive" HLS output goes up as EVENT
// playlists that grow as the chunks complete in order, every file before the playlist naming
// it and the master once every rendition has its first segments; the stitch then delivers the
// package a job without "publish" delivers (its segments the bytes sent early), VOD with ENDLIST.
TEST_F(ServiceTest, AProgressiveOutputGrowsAsEventPlaylistsAndEndsAsTheWholePackage) {
  fs::copy_file(testing::Clip(320, 240, 35, 30), media_ / "film.mp4");
  Receiver web;
  Server s(data_.path(), media_.path(), {"--workers", "2", "--allow-host", "127.0.0.1"});
  auto job = [&](const std::string& folder, bool progressive) {
    json hls = {{"kind", "hls"}, {"ladder", "default"}, {"destination", web.Base() + folder}};
    if (progressive) hls["publish"] = "progressive";
    return json{{"source", media_ / "film.mp4"},
                {"chunking", {{"seconds", 10}}},
                {"outputs", json::array({hls})}};
  };
  std::string plain = s.Submit(job("/plain/", false)).body["id"];
  json plain_done = s.WaitFinished(plain, 240);
  ASSERT_EQ(plain_done["state"], "succeeded") << plain_done.dump();
  ApiReply submitted = s.Submit(job("/live/", true));
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  json done = s.WaitFinished(submitted.body["id"], 240);
  ASSERT_EQ(done["state"], "succeeded") << done.dump();
  std::map<std::string, int> kinds;
  for (const json& t : done["tasks"]) ++kinds[t["kind"].get<std::string>()];
  EXPECT_EQ(kinds["publish"], 1) << done.dump();
  EXPECT_GT(done.value("published_segments", 0), 0) << done.dump();

  // The final playlists, by path under the package.
  std::map<std::string, std::string> final_lists;
  std::set<std::string> plain_files, live_files;
  for (const Receiver::Request& r : web.requests()) {
    if (r.method != "PUT") continue;
    if (r.target.rfind("/plain/", 0) == 0) plain_files.insert(r.target.substr(7));
    if (r.target.rfind("/live/", 0) == 0) live_files.insert(r.target.substr(6));
  }
  ASSERT_FALSE(plain_files.empty());
  EXPECT_EQ(live_files, plain_files) << "the same files, nothing more";
  // Two encodes of one source differ in their bits, so across the two jobs the playlists' segment
  // names and durations are compared; within the progressive job, a file sent early and again by
  // the stitch must be the same bytes.
  for (const std::string& file : plain_files) {
    if (file.size() <= 5 || file.substr(file.size() - 5) != ".m3u8") continue;
    final_lists[file] = web.Stored("/live/" + file);
    auto timeline = [](const std::string& text) {
      std::istringstream in(text);
      std::string lines;
      for (std::string line; std::getline(in, line);)
        if (line.rfind("#EXTINF", 0) == 0 || (!line.empty() && line[0] != '#'))
          lines += line + "\n";
      return lines;
    };
    if (file.find("iframes") == std::string::npos && file != "master.m3u8") {
      EXPECT_EQ(timeline(final_lists[file]), timeline(web.Stored("/plain/" + file))) << file;
    }
  }
  std::map<std::string, std::string> sent;
  for (const Receiver::Request& r : web.requests()) {
    if (r.method != "PUT" || r.target.rfind("/live/", 0) != 0 ||
        r.target.find(".m3u8") != std::string::npos)
      continue;
    auto [it, first] = sent.emplace(r.target, r.body);
    EXPECT_TRUE(first || it->second == r.body) << r.target << " changed between two deliveries";
  }
  for (const auto& [file, text] : final_lists)
    if (file.find('/') != std::string::npos && file.find("iframes") == std::string::npos) {
      EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:VOD"), std::string::npos) << file;
      EXPECT_NE(text.find("#EXT-X-ENDLIST"), std::string::npos) << file;
    }

  // The order of the progressive output's arrivals.
  std::set<std::string> arrived;
  std::map<std::string, size_t> listed;  // media playlist -> segments it listed last
  bool grew_early = false, master_seen = false;
  for (const Receiver::Request& r : web.requests()) {
    if (r.method != "PUT" || r.target.rfind("/live/", 0) != 0) continue;
    std::string file = r.target.substr(6);
    std::string folder = file.find('/') == std::string::npos ? "" : file.substr(0, file.find('/'));
    if (file.size() > 5 && file.substr(file.size() - 5) == ".m3u8") {
      for (const std::string& uri : NamedUris(r.body)) {
        std::string path = folder.empty() ? uri : folder + "/" + uri;
        EXPECT_TRUE(arrived.count(path)) << file << " named " << path << " before it arrived";
        if (folder.empty() && uri.find("index.m3u8") != std::string::npos) {
          // The master: each rendition's playlist, so its first segment, already there.
          std::string rendition = uri.substr(0, uri.find('/'));
          EXPECT_TRUE(arrived.count(rendition + "/seg_00000.m4s")) << rendition;
        }
      }
      if (folder.empty() && file == "master.m3u8") master_seen = true;
      if (!folder.empty() && file.find("iframes") == std::string::npos) {
        size_t segments = 0;
        for (const std::string& uri : NamedUris(r.body)) segments += uri.rfind("seg_", 0) == 0;
        EXPECT_GE(segments, listed[file]) << file << ": a playlist never shrinks";
        listed[file] = segments;
        bool event = r.body.find("#EXT-X-PLAYLIST-TYPE:EVENT") != std::string::npos;
        if (event) {
          EXPECT_EQ(r.body.find("#EXT-X-ENDLIST"), std::string::npos) << file;
          // A prefix of the final playlist's segments.
          std::vector<std::string> now = NamedUris(r.body), whole = NamedUris(final_lists[file]);
          ASSERT_LE(now.size(), whole.size()) << file;
          EXPECT_TRUE(std::equal(now.begin(), now.end(), whole.begin())) << file << r.body;
          if (folder.rfind("audio", 0) != 0 && now.size() < whole.size()) grew_early = true;
        }
      }
    }
    arrived.insert(file);
  }
  EXPECT_TRUE(grew_early) << "a video playlist was published before its last chunk was done";
  EXPECT_TRUE(master_seen);
}

}  // namespace
}  // namespace reel
