// The service as users run it: a real `reel serve` process over real HTTP, with real jobs.
#include <fcntl.h>
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
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "client/http_client.h"
#include "common/crypto.h"
#include "storage/s3.h"
#include "testing/postgres_server.h"
#include "testing/s3_server.h"
#include "testing/test_network.h"

#include "testing/media_fixtures.h"
#include "testing/package_check.h"

namespace reel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

struct ApiReply {
  int status = 0;
  json body;
};

// A `reel serve` process on a free port with its own data directory and media root.
class Server {
 public:
  // `prefix` runs the server under another command (which execs it, keeping its pid).
  Server(const std::string& data_dir, const std::string& media_dir,
         std::vector<std::string> extra = {}, std::vector<std::string> prefix = {}) {
    std::vector<std::string> argv = {
        testing::ReelBinary(), "serve",        "--data-dir", data_dir, "--listen",
        "127.0.0.1:0",         "--allow-path", media_dir};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.begin(), prefix.begin(), prefix.end());
    cmd_ = std::make_unique<testing::BackgroundCommand>(argv);
    std::regex re("listening on http://127\\.0\\.0\\.1:(\\d+)");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::smatch m;
    std::string out;
    while (std::chrono::steady_clock::now() < deadline) {
      out = cmd_->OutputSoFar();
      if (std::regex_search(out, m, re)) break;
      if (!cmd_->Running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!std::regex_search(out, m, re)) {
      ADD_FAILURE() << "server did not start: " << out;
      return;
    }
    url_ = "http://127.0.0.1:" + m[1].str();
    admin_key_ = testing::ReadFile(data_dir + "/admin.key");
    while (!admin_key_.empty() && admin_key_.back() == '\n') admin_key_.pop_back();
  }

  ApiReply Call(const std::string& method, const std::string& path, const std::string& key,
                const std::string& body = "", client::Headers headers = {}) {
    if (!key.empty()) headers["Authorization"] = "Bearer " + key;
    Result<client::HttpResponse> r = client::Fetch(method, url_ + path, body, headers, 30);
    if (!r.ok()) {
      ADD_FAILURE() << method << " " << path << ": " << r.status().ToString();
      return {};
    }
    ApiReply a{r->status, json::parse(r->body, nullptr, false)};
    if (a.body.is_discarded()) a.body = r->body;
    return a;
  }
  ApiReply Get(const std::string& path, const std::string& key = "") {
    return Call("GET", path, key.empty() ? admin_key_ : key);
  }
  ApiReply Submit(const json& spec, const std::string& key = "") {
    return Call("POST", "/v1/jobs", key.empty() ? admin_key_ : key, spec.dump());
  }

  // Polls the job until `done(job)` or the timeout; returns the last view.
  json WaitFor(const std::string& id, const std::function<bool(const json&)>& done,
               double seconds = 60) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    json job;
    while (std::chrono::steady_clock::now() < deadline) {
      job = Get("/v1/jobs/" + id).body;
      if (done(job)) return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "timed out waiting on " << id << ": " << job.dump();
    return job;
  }
  json WaitForState(const std::string& id, const std::string& state, double seconds = 60) {
    return WaitFor(
        id, [&](const json& j) { return j.value("state", "") == state; }, seconds);
  }
  json WaitFinished(const std::string& id, double seconds = 60) {
    return WaitFor(
        id,
        [](const json& j) {
          std::string s = j.value("state", "");
          return s == "succeeded" || s == "failed" || s == "canceled";
        },
        seconds);
  }

  std::string CreateKey(const std::string& data_dir, const std::string& name) {
    testing::CommandResult r = testing::RunCommand(
        {testing::ReelBinary(), "keys", "create", "--name", name, "--data-dir", data_dir});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::string key = r.stdout_text;
    while (!key.empty() && key.back() == '\n') key.pop_back();
    return key;
  }

  void Signal(int sig) { cmd_->Signal(sig); }
  int pid() const { return cmd_->pid(); }
  // What the server printed so far (its log).
  std::string Output() const { return cmd_->OutputSoFar(); }
  testing::CommandResult Wait() { return cmd_->Wait(); }
  const std::string& url() const { return url_; }
  const std::string& admin_key() const { return admin_key_; }

 private:
  std::unique_ptr<testing::BackgroundCommand> cmd_;
  std::string url_;
  std::string admin_key_;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("REEL_TEST_HOOKS", "1", 1);
    fs::copy_file(testing::Clip(320, 240, 2, 30), media_ / "small.mp4");
  }
  json HlsJob(const std::string& source, const std::string& dest, json metadata = nullptr) {
    json spec = {{"source", {{"url", media_ / source}}},
                 {"outputs",
                  {{{"kind", "hls"}, {"destination", media_ / (dest + "/hls/")}},
                   {{"kind", "mp4"},
                    {"preset", "h264-360p"},
                    {"destination", media_ / (dest + "/small.mp4")}}}}};
    if (!metadata.is_null()) spec["metadata"] = metadata;
    return spec;
  }
  // A source long enough (about 5 s of work) to act on while it runs.
  void AddLongSource() { fs::copy_file(testing::Clip(1280, 720, 13, 30), media_ / "long.mp4"); }
  std::vector<std::string> Leftovers(const std::string& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(media_ / dir, ec))
      names.push_back(e.path().filename().string());
    return names;
  }

  TempDir data_;
  TempDir media_;
};

// User ladders from --presets: listed by GET /v1/presets, accepted by name, and known to the
// attempt's own process; a bad inline rung is a 400 naming it.
TEST_F(ServiceTest, PresetsFileLaddersAreListedAndRunByName) {
  std::string file = data_ / "presets.json";
  testing::WriteFile(file, R"({"ladders": {"pair": [
      {"height": 240, "bitrate": "300k"},
      {"height": 240, "bitrate": "200k", "codec": "hevc", "speed": "ultrafast"}]}})");
  Server s(data_.path(), media_.path(), {"--presets", file});
  json listed = s.Get("/v1/presets").body;
  json pair;
  std::vector<std::string> names;
  for (const json& l : listed["ladders"]) {
    names.push_back(l["name"]);
    if (l["name"] == "pair") pair = l;
  }
  ASSERT_FALSE(pair.is_null()) << listed.dump();
  for (const char* built_in : {"default", "mobile", "uhd", "hevc", "av1"})  // beside the file's
    EXPECT_NE(std::find(names.begin(), names.end(), built_in), names.end()) << built_in;
  EXPECT_EQ(pair["rungs"][1]["codec"], "hevc");
  EXPECT_EQ(pair["codecs"], json::array({"h264", "hevc"}));

  json spec = {
      {"source", {{"url", media_ / "small.mp4"}}},
      {"outputs", {{{"kind", "hls"}, {"ladder", "pair"}, {"destination", media_ / "pair/"}}}}};
  ApiReply r = s.Submit(spec);
  ASSERT_EQ(r.status, 202) << r.body.dump();
  json done = s.WaitFinished(r.body["id"]);
  ASSERT_EQ(done["state"], "succeeded") << done.dump();
  std::string master = testing::ReadFile(media_ / "pair/master.m3u8");
  EXPECT_NE(master.find("CODECS=\"hvc1.1.6.L"), std::string::npos) << master;
  EXPECT_NE(master.find("240p-hevc/index.m3u8"), std::string::npos) << master;

  spec["outputs"][0]["ladder"] = json::parse(R"([{"height": 240, "bitrate": "300k"},
      {"height": 240, "bitrate": "200k", "codec": "av1", "speed": 1}])");
  ApiReply bad = s.Submit(spec);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.dump().find("outputs[0].ladder[1].speed"), std::string::npos)
      << bad.body.dump();
}

// A package of a source with two audio streams: the second track's folder (audio_1) is served
// like the first's, and a track the package does not have is not.
TEST_F(ServiceTest, EveryAudioTrackFolderOfAPackageIsServed) {
  fs::copy_file(testing::Fixture("two-audio-tracks-2s.mp4",
                                 {"-f",
                                  "lavfi",
                                  "-i",
                                  "testsrc2=size=320x240:rate=30:duration=2",
                                  "-f",
                                  "lavfi",
                                  "-i",
                                  "sine=frequency=440:sample_rate=48000:duration=2",
                                  "-f",
                                  "lavfi",
                                  "-i",
                                  "sine=frequency=660:sample_rate=48000:duration=2",
                                  "-map",
                                  "0:v",
                                  "-map",
                                  "1:a",
                                  "-map",
                                  "2:a",
                                  "-c:v",
                                  "libx264",
                                  "-preset",
                                  "ultrafast",
                                  "-pix_fmt",
                                  "yuv420p",
                                  "-c:a",
                                  "aac",
                                  "-metadata:s:a:1",
                                  "language=fre"}),
                media_ / "two.mp4");
  Server s(data_.path(), media_.path());
  json spec = {{"source", {{"url", media_ / "two.mp4"}}},
               {"outputs", {{{"kind", "hls"}, {"destination", media_ / "two/"}}}}};
  ApiReply r = s.Submit(spec);
  ASSERT_EQ(r.status, 202) << r.body.dump();
  json done = s.WaitFinished(r.body["id"]);
  ASSERT_EQ(done["state"], "succeeded") << done.dump();
  std::string base = s.url() + "/v1/jobs/" + r.body["id"].get<std::string>() + "/outputs/0/";
  auto get = [&](const std::string& rest) {
    Result<client::HttpResponse> got =
        client::Fetch("GET", base + rest, "", {{"Authorization", "Bearer " + s.admin_key()}});
    EXPECT_TRUE(got.ok()) << rest;
    return got.ok() ? *got : client::HttpResponse{};
  };
  client::HttpResponse playlist = get("audio_1/index.m3u8");
  ASSERT_EQ(playlist.status, 200) << playlist.body;
  EXPECT_EQ(playlist.body, testing::ReadFile(media_ / "two/audio_1/index.m3u8"));
  client::HttpResponse segment = get("audio_1/seg_00000.m4s");
  EXPECT_EQ(segment.status, 200);
  EXPECT_EQ(segment.body, testing::ReadFile(media_ / "two/audio_1/seg_00000.m4s"));
  EXPECT_EQ(get("audio_1/init.mp4").status, 200);
  EXPECT_EQ(get("audio/index.m3u8").status, 200);
  EXPECT_NE(testing::ReadFile(media_ / "two/master.m3u8").find("audio_1/index.m3u8"),
            std::string::npos);
  // Folders the package does not have, or that only look like a track's.
  for (const char* rest :
       {"audio_2/index.m3u8", "audio_01/index.m3u8", "audio_0/index.m3u8", "audio_9/index.m3u8"})
    EXPECT_EQ(get(rest).status, 404) << rest;
}

TEST_F(ServiceTest, SubmitRunsTheJobAndRecordsEverything) {
  Server s(data_.path(), media_.path());
  ApiReply r = s.Submit(HlsJob("small.mp4", "out"));
  ASSERT_EQ(r.status, 202) << r.body.dump();
  std::string id = r.body["id"];
  EXPECT_EQ(r.body["state"], "queued");
  json done = s.WaitForState(id, "succeeded");
  EXPECT_EQ(done["progress"]["fraction"], 1.0);
  ASSERT_EQ(done["attempt_log"].size(), 1u);
  EXPECT_EQ(done["attempt_log"][0]["outcome"], "succeeded");
  EXPECT_FALSE(done["attempt_log"][0]["worker_id"].get<std::string>().empty());
  EXPECT_FALSE(done["attempt_log"][0]["host"].get<std::string>().empty());
  ASSERT_EQ(done["result"]["outputs"].size(), 2u);
  EXPECT_TRUE(fs::exists(media_ / "out/hls/master.m3u8"));
  testing::MediaSummary mp4 = testing::ReadMedia(media_ / "out/small.mp4");
  ASSERT_NE(mp4.Find("video"), nullptr);
  EXPECT_EQ(mp4.Find("video")->packets, 60);
  // Local paths are shown relative to the allowed root, not as the server's absolute paths.
  EXPECT_EQ(done["spec"]["source"]["url"], "small.mp4");
  EXPECT_EQ(done["spec"]["outputs"][1]["destination"], "out/small.mp4");
  EXPECT_EQ(done.dump().find(fs::canonical(media_.path()).string()), std::string::npos)
      << done.dump();

  // Listing, queue counts, workers, presets, health.
  ApiReply list = s.Get("/v1/jobs?state=succeeded");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body["jobs"][0]["id"], id);
  EXPECT_EQ(s.Get("/v1/queue").body["counts"]["succeeded"], 1);
  ApiReply workers = s.Get("/v1/workers");
  ASSERT_EQ(workers.body["workers"].size(), 1u);
  EXPECT_TRUE(workers.body["workers"][0]["alive"].get<bool>());
  EXPECT_EQ(workers.body["workers"][0]["capacity"], 1);
  EXPECT_EQ(workers.body["workers"][0]["tags"], json::array());
  EXPECT_GE(s.Get("/v1/presets").body["presets"].size(), 6u);
  EXPECT_EQ(s.Call("GET", "/healthz", "").status, 200);
  EXPECT_EQ(s.Call("GET", "/readyz", "").status, 200);
  ApiReply metrics = s.Call("GET", "/metrics", "");
  std::string text = metrics.body.is_string() ? metrics.body.get<std::string>() : "";
  EXPECT_NE(text.find("reel_jobs{state=\"succeeded\"} 1"), std::string::npos) << text;
  EXPECT_NE(
      text.find("reel_http_requests_total{route=\"/v1/jobs\",method=\"POST\",status=\"202\"}"),
      std::string::npos);
  EXPECT_NE(text.find("reel_job_duration_seconds_count{state=\"succeeded\"} 1"), std::string::npos);
  EXPECT_NE(text.find("reel_queue_depth 0"), std::string::npos);

  // Delete a finished job: its records go.
  EXPECT_EQ(s.Call("DELETE", "/v1/jobs/" + id, s.admin_key()).status, 204);
  EXPECT_EQ(s.Get("/v1/jobs/" + id).status, 404);
}

TEST_F(ServiceTest, OutputFilesAreServedToWhoeverMaySeeTheJobAndNothingElse) {
  Server s(data_.path(), media_.path());
  std::string bob = s.CreateKey(data_.path(), "bob");
  json spec = HlsJob("small.mp4", "out");
  spec["outputs"].push_back(
      {{"kind", "thumbnail"}, {"destination", media_ / "out/poster.jpg"}, {"at", 1}});
  spec["outputs"].push_back({{"kind", "sprite"}, {"destination", media_ / "out/sprite.jpg"}});
  testing::WriteFile(media_ / "subs.vtt", "WEBVTT\n\n00:00.500 --> 00:01.000\nHello\n");
  spec["subtitle_tracks"] = {{{"url", media_ / "subs.vtt"}, {"language", "en"}}};
  std::string id = s.Submit(spec).body["id"];
  s.WaitForState(id, "succeeded");
  std::string base = s.url() + "/v1/jobs/" + id + "/outputs/";
  auto get = [&](const std::string& rest, const std::string& key) {
    client::Headers h;
    if (!key.empty()) h["Authorization"] = "Bearer " + key;
    Result<client::HttpResponse> r = client::Fetch("GET", base + rest, "", h);
    EXPECT_TRUE(r.ok()) << rest;
    return r.ok() ? *r : client::HttpResponse{};
  };
  // The HLS package, playlist by playlist, byte for byte as written.
  client::HttpResponse master = get("0/master.m3u8", s.admin_key());
  ASSERT_EQ(master.status, 200) << master.body;
  EXPECT_EQ(master.headers["content-type"], "application/vnd.apple.mpegurl");
  EXPECT_EQ(master.headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(master.body, testing::ReadFile(media_ / "out/hls/master.m3u8"));
  std::smatch variant;
  ASSERT_TRUE(std::regex_search(master.body, variant, std::regex(R"(\n([^#\n]+\.m3u8))")));
  client::HttpResponse playlist = get("0/" + variant[1].str(), s.admin_key());
  ASSERT_EQ(playlist.status, 200);
  std::smatch segment;
  ASSERT_TRUE(std::regex_search(playlist.body, segment, std::regex(R"(\n([^#\n]+\.m4s))")));
  std::string variant_dir = variant[1].str().substr(0, variant[1].str().rfind('/') + 1);
  client::HttpResponse media = get("0/" + variant_dir + segment[1].str(), s.admin_key());
  EXPECT_EQ(media.status, 200);
  EXPECT_EQ(media.headers["content-type"], "video/iso.segment");
  EXPECT_EQ(media.body, testing::ReadFile(media_ / ("out/hls/" + variant_dir + segment[1].str())));
  // A subtitle rendition's files, and no other folder's.
  EXPECT_EQ(get("0/sub_0/index.m3u8", s.admin_key()).status, 200);
  client::HttpResponse cue = get("0/sub_0/seg_00000.vtt", s.admin_key());
  EXPECT_EQ(cue.status, 200);
  EXPECT_EQ(cue.headers["content-type"], "text/vtt");
  EXPECT_NE(cue.body.find("Hello"), std::string::npos) << cue.body;
  EXPECT_EQ(get("0/sub_1/index.m3u8", s.admin_key()).status, 404);
  // File outputs: the file itself and what the result names beside it (a sprite's WebVTT).
  EXPECT_EQ(get("2/poster.jpg", s.admin_key()).headers["content-type"], "image/jpeg");
  EXPECT_EQ(get("3/sprite.vtt", s.admin_key()).status, 200);
  EXPECT_EQ(get("1/small.mp4", s.admin_key()).status, 200);
  // HEAD tells the size without the body; other methods are not allowed.
  Result<client::HttpResponse> head = client::Fetch("HEAD", base + "0/master.m3u8", "",
                                                    {{"Authorization", "Bearer " + s.admin_key()}});
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["content-length"], std::to_string(master.body.size()));
  EXPECT_TRUE(head->body.empty());
  // Byte ranges, as players and download managers ask: one range is a 206 with its Content-Range
  // (open and suffix ranges too); one past the end a 416 naming the size; several get it all.
  EXPECT_EQ(media.headers["accept-ranges"], "bytes");
  std::string seg_file = media.body, seg_name = "0/" + variant_dir + segment[1].str();
  std::string n = std::to_string(seg_file.size());
  auto ranged = [&](const std::string& range) {
    Result<client::HttpResponse> r =
        client::Fetch("GET", base + seg_name, "",
                      {{"Authorization", "Bearer " + s.admin_key()}, {"Range", range}});
    EXPECT_TRUE(r.ok()) << range;
    return r.ok() ? *r : client::HttpResponse{};
  };
  client::HttpResponse part = ranged("bytes=100-199");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, seg_file.substr(100, 100));
  EXPECT_EQ(part.headers["content-range"], "bytes 100-199/" + n);
  EXPECT_EQ(part.headers["content-length"], "100");
  part = ranged("bytes=-50");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, seg_file.substr(seg_file.size() - 50));
  EXPECT_EQ(part.headers["content-range"], "bytes " + std::to_string(seg_file.size() - 50) + "-" +
                                               std::to_string(seg_file.size() - 1) + "/" + n);
  part = ranged("bytes=" + std::to_string(seg_file.size() - 10) + "-");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, seg_file.substr(seg_file.size() - 10));
  part = ranged("bytes=0-99999999");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, seg_file);
  part = ranged("bytes=" + n + "-");
  EXPECT_EQ(part.status, 416);
  EXPECT_EQ(part.headers["content-range"], "bytes */" + n);
  part = ranged("bytes=0-1,5-6");
  EXPECT_EQ(part.status, 200);
  EXPECT_EQ(part.body, seg_file);
  EXPECT_EQ(s.Call("POST", "/v1/jobs/" + id + "/outputs/0/master.m3u8", s.admin_key()).status, 405);

  // Nothing but what the job wrote for that output: not other files beside a file output, not
  // other outputs' files, not files put in the package since (nor in a rendition folder, nor a
  // link), no escapes, no malformed escapes.
  fs::create_symlink("/etc/passwd", media_ / "out/hls/passwd");
  testing::WriteFile(media_ / "out/hls/later.m4s", "dropped in afterwards");
  testing::WriteFile(media_ / ("out/hls/" + variant_dir + "notes.txt"), "dropped in afterwards");
  fs::create_symlink("/etc/passwd", media_ / ("out/hls/" + variant_dir + "seg_99999.m4s"));
  for (const std::string& rest : std::vector<std::string>{
           "2/small.mp4", "1/poster.jpg", "0/%2e%2e/small.mp4", "0/passwd", "0/..%2fsmall.mp4",
           "9/master.m3u8", "x/master.m3u8", "0/nope.m3u8", "0/later.m4s", "0/%zz",
           "0/" + variant_dir + "notes.txt", "0/" + variant_dir + "seg_99999.m4s"})
    EXPECT_EQ(get(rest, s.admin_key()).status, 404) << rest;
  // A package directory swapped for a link (to anywhere) is no longer the job's.
  fs::rename(media_ / "out/hls", media_ / "out/hls-moved");
  fs::create_directory_symlink(media_ / "out/hls-moved", media_ / "out/hls");
  EXPECT_EQ(get("0/master.m3u8", s.admin_key()).status, 404);
  // Only for whoever may see the job.
  EXPECT_EQ(get("2/poster.jpg", "").status, 401);
  EXPECT_EQ(get("2/poster.jpg", bob).status, 404);
  EXPECT_EQ(get("2/poster.jpg", s.admin_key()).status, 200) << "the same request with the key";
}

TEST_F(ServiceTest, TheDashboardIsServedAtTheRootWithAStrictPolicy) {
  Server s(data_.path(), media_.path(), {"--workers", "0"});
  for (const char* path : {"/", "/dashboard.js", "/dashboard.css", "/vendor/hls.min.js"}) {
    Result<client::HttpResponse> r = client::Fetch("GET", s.url() + path);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_GT(r->body.size(), 500u) << path;
    EXPECT_NE(r->headers["content-security-policy"].find("script-src 'self'"), std::string::npos);
    EXPECT_NE(r->headers["content-security-policy"].find("frame-ancestors 'none'"),
              std::string::npos);
  }
  Result<client::HttpResponse> page = client::Fetch("GET", s.url() + "/");
  EXPECT_EQ(page->headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<script src=\"/dashboard.js\""), std::string::npos);
  // The page itself holds no data: everything comes from /v1 with the user's key.
  EXPECT_EQ(client::Fetch("POST", s.url() + "/")->status, 405);
  // A client that asks for JSON gets the API's index instead.
  Result<client::HttpResponse> index =
      client::Fetch("GET", s.url() + "/", "", {{"Accept", "application/json"}});
  EXPECT_EQ(json::parse(index->body).value("api", ""), "/v1") << index->body;
}

TEST_F(ServiceTest, InvalidSpecsAre400sNamingTheField) {
  Server s(data_.path(), media_.path());
  auto field_of = [&](const std::string& body) {
    ApiReply r = s.Call("POST", "/v1/jobs", s.admin_key(), body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body.dump();
    return r.body["error"].value("field", "");
  };
  ApiReply bad_json = s.Call("POST", "/v1/jobs", s.admin_key(), "{not json");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.body["error"]["code"], "invalid_json");
  // Brackets nested 200,000 deep (400 KB) would overflow the stack when printed: refused first.
  json good = HlsJob("small.mp4", "out");
  std::string deep = good.dump();
  deep.insert(deep.size() - 1,
              ",\"metadata\":{\"a\":" + std::string(200000, '[') + std::string(200000, ']') + "}");
  ApiReply too_deep = s.Call("POST", "/v1/jobs", s.admin_key(), deep);
  EXPECT_EQ(too_deep.status, 400);
  EXPECT_NE(too_deep.body["error"].value("message", "").find("nested deeper"), std::string::npos);
  EXPECT_EQ(s.Call("GET", "/healthz", "").status, 200) << "the server is still there";
  json j = good;
  j["outputs"][1]["preset"] = "h264-9000p";
  EXPECT_EQ(field_of(j.dump()), "outputs[1].preset");
  j = good;
  j["outputs"][0]["bogus"] = 1;
  EXPECT_EQ(field_of(j.dump()), "outputs[0].bogus");
  j = good;
  j["source"]["url"] = "/etc/passwd";
  EXPECT_EQ(field_of(j.dump()), "source.url");
  j = good;
  j["subtitle_tracks"] = {{{"url", "/etc/passwd"}, {"language", "en"}}};
  EXPECT_EQ(field_of(j.dump()), "subtitle_tracks[0].url") << "checked like every source";
  j["subtitle_tracks"] = {{{"url", media_ / "small.mp4"}, {"language", "english!"}}};
  EXPECT_EQ(field_of(j.dump()), "subtitle_tracks[0].language");
  j = good;
  j["outputs"][1]["destination"] = media_ / "../escape.mp4";
  EXPECT_EQ(field_of(j.dump()), "outputs[1].destination");
  j = good;
  j["outputs"][1]["width"] = 100000;
  EXPECT_EQ(field_of(j.dump()), "outputs[1].width");
  EXPECT_EQ(s.Call("GET", "/v1/jobs?limit=0", s.admin_key()).body["error"]["field"], "limit");
  EXPECT_EQ(s.Call("GET", "/v1/jobs?state=done", s.admin_key()).body["error"]["field"], "state");
  std::string huge(17 * 1024 * 1024, ' ');
  EXPECT_EQ(s.Call("POST", "/v1/jobs", s.admin_key(), huge).status, 413);
  EXPECT_EQ(s.Get("/v1/queue").body["counts"]["queued"], 0) << "nothing was accepted";
}

TEST_F(ServiceTest, AuthMatrix) {
  Server s(data_.path(), media_.path(), {"--workers", "0"});
  std::string alice = s.CreateKey(data_.path(), "alice");
  std::string bob = s.CreateKey(data_.path(), "bob");
  ApiReply submitted = s.Submit(HlsJob("small.mp4", "a"), alice);
  ASSERT_EQ(submitted.status, 202);
  std::string id = submitted.body["id"];

  const std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/v1/jobs"},
      {"POST", "/v1/jobs"},
      {"GET", "/v1/jobs/" + id},
      {"DELETE", "/v1/jobs/" + id},
      {"POST", "/v1/jobs/" + id + "/cancel"},
      {"POST", "/v1/jobs/" + id + "/retry"},
      {"GET", "/v1/jobs/" + id + "/events"},
      {"GET", "/v1/jobs/" + id + "/outputs/0/master.m3u8"},
      {"GET", "/v1/queue"},
      {"GET", "/v1/workers"},
      {"GET", "/v1/presets"}};
  for (const auto& [method, path] : routes) {
    EXPECT_EQ(s.Call(method, path, "").status, 401) << method << " " << path << " without a key";
    EXPECT_EQ(s.Call(method, path, "reel_wrong").status, 401) << method << " " << path;
  }
  // X-API-Key works as well as Bearer.
  Result<client::HttpResponse> x =
      client::Fetch("GET", s.url() + "/v1/jobs/" + id, "", {{"X-API-Key", alice}});
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->status, 200);
  // Another tenant sees nothing of it.
  for (const auto& [method, path] : routes) {
    if (path.find(id) == std::string::npos) continue;
    EXPECT_EQ(s.Call(method, path, bob).status, 404) << method << " " << path << " as bob";
  }
  EXPECT_TRUE(s.Get("/v1/jobs", bob).body["jobs"].empty());
  EXPECT_EQ(s.Get("/v1/queue", bob).body["counts"]["queued"], 0);
  // The admin sees everyone's.
  EXPECT_EQ(s.Get("/v1/jobs/" + id).status, 200);
  EXPECT_EQ(s.Get("/v1/jobs").body["jobs"].size(), 1u);
  // Revoked keys stop working at once.
  testing::CommandResult revoke = testing::RunCommand(
      {testing::ReelBinary(), "keys", "revoke", "alice", "--data-dir", data_.path()});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.output;
  EXPECT_EQ(s.Get("/v1/jobs", alice).status, 401);
  // Keys are stored hashed: the database never contains a key.
  std::string db = testing::ReadFile(data_ / "reel.db") + testing::ReadFile(data_ / "reel.db-wal");
  EXPECT_EQ(db.find(bob), std::string::npos);
  EXPECT_EQ(db.find(s.admin_key()), std::string::npos);
  EXPECT_EQ(fs::status(data_ / "admin.key").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(ServiceTest, EventStreamCarriesProgressAndTheFinalState) {
  AddLongSource();
  Server s(data_.path(), media_.path());
  std::string id = s.Submit(HlsJob("long.mp4", "out")).body["id"];
  std::vector<std::pair<std::string, json>> events;
  Status st = client::StreamEvents(
      s.url() + "/v1/jobs/" + id + "/events", {{"Authorization", "Bearer " + s.admin_key()}},
      [&](const std::string& event, const std::string& data) {
        events.push_back({event, json::parse(data)});
        return true;
      },
      60);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front().first, "state") << "the current state comes first";
  int progress = 0;
  double last = -1;
  for (const auto& [event, data] : events) {
    if (event != "progress") continue;
    ++progress;
    ASSERT_TRUE(data.contains("progress") && data["progress"].contains("fraction")) << data.dump();
    double f = data["progress"]["fraction"];
    EXPECT_GE(f, last);
    last = f;
  }
  EXPECT_GT(progress, 3);
  EXPECT_EQ(events.back().first, "state");
  EXPECT_EQ(events.back().second["state"], "succeeded");

  // A client that connects after the end gets the final state and the stream ends.
  std::vector<std::string> late;
  st = client::StreamEvents(
      s.url() + "/v1/jobs/" + id + "/events", {{"Authorization", "Bearer " + s.admin_key()}},
      [&](const std::string& event, const std::string& data) {
        late.push_back(event + " " + json::parse(data).value("state", ""));
        return true;
      },
      10);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(late, std::vector<std::string>{"state succeeded"});
}

TEST_F(ServiceTest, CancelStopsARunningJobAndCleansUp) {
  AddLongSource();
  Server s(data_.path(), media_.path());
  std::string id = s.Submit(HlsJob("long.mp4", "out")).body["id"];
  s.WaitFor(id, [](const json& j) { return j["progress"].value("fraction", 0.0) > 0.05; });
  auto asked = std::chrono::steady_clock::now();
  ApiReply c = s.Call("POST", "/v1/jobs/" + id + "/cancel", s.admin_key());
  EXPECT_EQ(c.status, 202);
  json done = s.WaitForState(id, "canceled", 10);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count(), 3);
  EXPECT_EQ(done["attempt_log"][0]["outcome"], "canceled");
  EXPECT_TRUE(Leftovers("out").empty()) << "partial outputs must be removed";
  EXPECT_EQ(s.Call("POST", "/v1/jobs/" + id + "/cancel", s.admin_key()).status, 409);
}

// The pid of a child of `parent` (the attempt's `reel run-job`), or -1.
int ChildOf(int parent) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string stat = testing::ReadFile(e.path() / "stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) return std::stoi(e.path().filename().string());
  }
  return -1;
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

// A webhook receiver on loopback: answers the first `fail_first` requests with 500, then 200,
// and remembers every request.
class Receiver {
 public:
  struct Request {
    std::string method, target;
    std::map<std::string, std::string> headers;
    std::string body;
    std::chrono::steady_clock::time_point at;  // when it arrived
  };
  // GET answers: files by path, and redirects by path.
  void Serve(const std::string& path, std::string bytes) {
    std::lock_guard lock(mu_);
    files_[path] = std::move(bytes);
  }
  void Redirect(const std::string& path, const std::string& location) {
    std::lock_guard lock(mu_);
    redirects_[path] = location;
  }
  // The last body PUT or POSTed at `path`.
  std::string Stored(const std::string& path) {
    std::lock_guard lock(mu_);
    return stored_.count(path) ? stored_[path] : "";
  }
  std::string Base() const { return "http://127.0.0.1:" + std::to_string(port_); }

  explicit Receiver(int fail_first = 0) : fail_first_(fail_first), acceptor_(ioc_) {
    namespace net = boost::asio;
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~Receiver() {
    ioc_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hooks"; }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // Waits until `n` requests have arrived (or 30 s).
  std::vector<Request> WaitFor(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (requests().size() < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return requests();
  }

 private:
  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket sock) {
      if (ec) return;
      namespace http = boost::beast::http;
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(sock, buffer, req, ec);
      if (!ec) {
        Request r;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        for (const auto& f : req) r.headers[std::string(f.name_string())] = std::string(f.value());
        r.body = req.body();
        r.at = std::chrono::steady_clock::now();
        http::response<http::string_body> res{http::status::ok, 11};
        res.body() = "ok";
        {
          std::lock_guard lock(mu_);
          if (r.method == "GET") {
            if (redirects_.count(r.target)) {
              res.result(http::status::found);
              res.set(http::field::location, redirects_[r.target]);
            } else if (files_.count(r.target)) {
              res.body() = files_[r.target];
            } else {
              res.result(http::status::not_found);
            }
          } else {
            stored_[r.target] = r.body;
            if (static_cast<int>(requests_.size()) < fail_first_)
              res.result(http::status::internal_server_error);
          }
          requests_.push_back(std::move(r));
        }
        res.prepare_payload();
        http::write(sock, res, ec);
      }
      Accept();
    });
  }

  int fail_first_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Request> requests_;
  std::map<std::string, std::string> files_, redirects_, stored_;
};

// The receiver's side of a delivery: the signature over "<t>.<body>" with the key's secret.
bool SignatureValid(const Receiver::Request& r, const std::string& secret) {
  auto it = r.headers.find("Reel-Signature");
  if (it == r.headers.end()) return false;
  std::smatch m;
  if (!std::regex_match(it->second, m, std::regex("t=(\\d+),v1=([0-9a-f]{64})"))) return false;
  return ConstantTimeEquals(HmacSha256Hex(secret, m[1].str() + "." + r.body), m[2].str());
}

std::string ReadTrimmed(const std::string& path) {
  std::string s = testing::ReadFile(path);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

TEST_F(ServiceTest, WebhooksAreSignedAndDelivered) {
  Receiver receiver;
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json spec = HlsJob("small.mp4", "out", {{"media_id", "m-7"}});
  spec["webhook"] = {{"url", receiver.url()}};
  spec["outputs"][1]["quality"] = true;  // the report rides in the body's result
  std::string id = s.Submit(spec).body["id"];
  s.WaitForState(id, "succeeded");
  std::vector<Receiver::Request> got = receiver.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  std::string secret = ReadTrimmed(data_ / "admin.webhook-secret");
  std::vector<std::string> events;
  for (const Receiver::Request& r : got) {
    EXPECT_TRUE(SignatureValid(r, secret)) << r.headers.at("Reel-Signature");
    EXPECT_FALSE(SignatureValid(r, "whsec_wrong"));
    json body = json::parse(r.body);
    events.push_back(body["event"]);
    EXPECT_EQ(body["job"]["id"], id);
    EXPECT_EQ(body["job"]["metadata"]["media_id"], "m-7");
    EXPECT_EQ(r.headers.at("Reel-Event"), body["event"]);
  }
  EXPECT_EQ(events, (std::vector<std::string>{"running", "succeeded"}));
  json outputs = json::parse(got[1].body)["job"]["result"]["outputs"];
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_FALSE(outputs[0].contains("quality"));
  for (const char* measure : {"psnr_y", "psnr", "ssim"})
    for (const char* figure : {"mean", "min", "worst_1pct"})
      EXPECT_TRUE(outputs[1]["quality"][measure][figure].is_number())
          << measure << "." << figure << ": " << outputs[1].dump();
  json deliveries = s.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
  s.WaitFor(id, [&](const json&) {
    deliveries = s.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
    return deliveries.size() == 2 && deliveries[1]["state"] == "delivered";
  });
  EXPECT_EQ(deliveries[0]["state"], "delivered");
  EXPECT_EQ(deliveries[1]["attempt_log"][0]["status"], 200);
}

// Progress webhooks, opted into with an interval of 5 s: during a job of several seconds at
// least one, never two within 5 s of each other, signed like the others, and the end last.
TEST_F(ServiceTest, ProgressWebhooksComeAtMostOncePerIntervalAndTheEndLast) {
  AddLongSource();
  Receiver receiver;
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json spec = HlsJob("long.mp4", "out");
  spec["webhook"] = {
      {"url", receiver.url()}, {"events", {"progress", "succeeded"}}, {"progress_interval", 4}};
  ApiReply refused = s.Submit(spec);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body["error"]["field"], "webhook.progress_interval");
  spec["webhook"]["progress_interval"] = 5;
  spec["webhook"]["events"] = {"progress", "progres"};
  EXPECT_EQ(s.Submit(spec).body["error"]["field"], "webhook.events");
  spec["webhook"]["events"] = {"progress", "succeeded"};
  auto submitted = std::chrono::steady_clock::now();
  std::string id = s.Submit(spec).body["id"];
  json job = s.WaitForState(id, "succeeded", 120);
  double ran = std::chrono::duration<double>(std::chrono::steady_clock::now() - submitted).count();
  json deliveries;
  s.WaitFor(id, [&](const json&) {
    deliveries = s.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
    return !deliveries.empty() && deliveries.back()["state"] == "delivered";
  });
  std::vector<Receiver::Request> got = receiver.requests();
  ASSERT_GE(got.size(), 2u);
  std::string secret = ReadTrimmed(data_ / "admin.webhook-secret");
  for (const Receiver::Request& r : got) EXPECT_TRUE(SignatureValid(r, secret)) << r.body;
  EXPECT_EQ(json::parse(got.back().body)["event"], "succeeded") << "the end comes last";
  double last_fraction = 0;
  for (size_t i = 0; i + 1 < got.size(); ++i) {
    json body = json::parse(got[i].body);
    ASSERT_EQ(body["event"], "progress") << body.dump();
    EXPECT_EQ(got[i].headers.at("Reel-Event"), "progress");
    const json& p = body["job"]["progress"];
    EXPECT_EQ(body["job"]["id"], id);
    EXPECT_EQ(p["attempt"], 1);
    EXPECT_GE(p["fraction"].get<double>(), last_fraction);
    EXPECT_LT(p["fraction"].get<double>(), 1.0);
    last_fraction = p["fraction"];
    EXPECT_TRUE(p.contains("fps") && p.contains("speed")) << p.dump();
    if (i > 0) {
      double gap = std::chrono::duration<double>(got[i].at - got[i - 1].at).count();
      EXPECT_GE(gap, 5.0) << "two progress deliveries " << gap << " s apart";
    }
  }
  size_t progress = got.size() - 1;
  EXPECT_GE(progress, 1u);
  std::cout << "progress deliveries: " << progress << " over a job of " << ran << " s\n";
}

// The same when the job runs in a separate `reel worker` process: it queues the progress
// deliveries through the store it shares with the API node, which sends them.
TEST_F(ServiceTest, ProgressWebhooksOfAJobRunByASeparateWorkerAreSentByTheApiNode) {
  AddLongSource();
  Receiver receiver;
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1", "--workers", "0"});
  testing::BackgroundCommand worker({testing::ReelBinary(), "worker", "--data-dir", data_.path(),
                                     "--allow-path", media_.path(), "--name", "apart-1"});
  json spec = HlsJob("long.mp4", "out");
  spec["webhook"] = {
      {"url", receiver.url()}, {"events", {"progress", "succeeded"}}, {"progress_interval", 5}};
  std::string id = s.Submit(spec).body["id"];
  json job = s.WaitForState(id, "succeeded", 120);
  EXPECT_EQ(job["attempt_log"][0]["worker_id"], "apart-1") << job.dump();
  s.WaitFor(id, [&](const json&) {
    json d = s.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
    return !d.empty() && d.back()["state"] == "delivered";
  });
  std::vector<Receiver::Request> got = receiver.requests();
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got.front().headers.at("Reel-Event"), "progress");
  EXPECT_EQ(got.back().headers.at("Reel-Event"), "succeeded");
  std::string secret = ReadTrimmed(data_ / "admin.webhook-secret");
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(SignatureValid(got[i], secret));
    if (i > 0 && i + 1 < got.size()) {
      EXPECT_GE(std::chrono::duration<double>(got[i].at - got[i - 1].at).count(), 5.0);
    }
  }
  worker.Signal(SIGTERM);
  EXPECT_EQ(worker.Wait().exit_code, 0);
}

TEST_F(ServiceTest, ErrorsShowTenantsNoServerPaths) {
  // A downloaded source lives in the attempt's scratch under the data directory; its probe error
  // names the file it opened. The tenant sees the URL it gave, not where the server keeps it.
  Receiver web;
  web.Serve("/in/broken.mp4", std::string(4000, 'x'));
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json spec = {{"source", web.Base() + "/in/broken.mp4"},
               {"outputs", {{{"kind", "hls"}, {"destination", web.Base() + "/out/hls/"}}}},
               {"webhook", {{"url", web.url()}}}};
  ApiReply submitted = s.Submit(spec);
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  std::string id = submitted.body["id"];
  json failed = s.WaitForState(id, "failed");
  std::string error = failed["error"];
  EXPECT_NE(error.find("not a media file"), std::string::npos) << error;
  EXPECT_NE(error.find(web.Base() + "/in/broken.mp4"), std::string::npos) << error;
  std::vector<Receiver::Request> hooks = web.WaitFor(3);  // GET, running, failed
  std::string webhook;
  for (const Receiver::Request& r : hooks)
    if (r.target == "/hooks" && json::parse(r.body).value("event", "") == "failed")
      webhook = r.body;
  ASSERT_FALSE(webhook.empty()) << "the failed webhook arrived";
  EXPECT_NE(webhook.find("not a media file"), std::string::npos) << webhook;
  for (const std::string& shown : {failed.dump(), webhook, s.Get("/v1/jobs").body.dump()}) {
    EXPECT_EQ(shown.find(data_.path()), std::string::npos) << shown;
    EXPECT_EQ(shown.find("/work/job_"), std::string::npos) << shown;
  }
}

TEST_F(ServiceTest, WebhookIsRetriedUntilDeliveredEvenAcrossARestart) {
  Receiver receiver(2);  // two failures, then success
  json spec = HlsJob("small.mp4", "out");
  spec["webhook"] = {{"url", receiver.url()}, {"events", {"succeeded"}}};
  std::string id;
  {
    Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1", "--webhook-retry", "1s"});
    id = s.Submit(spec).body["id"];
    s.WaitForState(id, "succeeded");
    ASSERT_EQ(receiver.WaitFor(1).size(), 1u);
    // Once the failed attempt is on record (killed before that, the attempt would simply be
    // made again: deliveries are at least once), the retry is pending in the outbox.
    s.WaitFor(id, [&](const json&) {
      json d = s.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
      return d.size() == 1 && d[0]["attempts"] == 1;
    });
    s.Signal(SIGKILL);
    s.Wait();
  }
  Server restarted(data_.path(), media_.path(),
                   {"--allow-host", "127.0.0.1", "--webhook-retry", "0.2s"});
  std::vector<Receiver::Request> got = receiver.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  for (const Receiver::Request& r : got) EXPECT_EQ(r.body, got[0].body) << "the same delivery";
  json deliveries;
  restarted.WaitFor(id, [&](const json&) {
    deliveries = restarted.Get("/v1/jobs/" + id + "/webhooks").body["deliveries"];
    return deliveries.size() == 1 && deliveries[0]["state"] == "delivered";
  });
  EXPECT_EQ(deliveries[0]["attempts"], 3);
  std::vector<int> statuses;
  for (const json& a : deliveries[0]["attempt_log"]) statuses.push_back(a["status"]);
  EXPECT_EQ(statuses, (std::vector<int>{500, 500, 200}));
}

// Accepts connections and never answers: a webhook receiver that hangs.
class SilentServer {
 public:
  SilentServer() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] {
      while (!stop_) {
        boost::system::error_code ec;
        auto sock = std::make_unique<boost::asio::ip::tcp::socket>(acceptor_.accept(ec));
        if (ec || stop_) return;
        held_.push_back(std::move(sock));
      }
    });
  }
  ~SilentServer() {
    stop_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket wake(ioc_);
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/hooks";
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<boost::asio::ip::tcp::socket>> held_;
  std::thread thread_;
};

TEST_F(ServiceTest, AHangingWebhookReceiverDoesNotHoldUpOthers) {
  SilentServer hanging;
  Receiver receiver;
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json stuck = HlsJob("small.mp4", "a");
  stuck["webhook"] = {{"url", hanging.url()}};
  json fine = HlsJob("small.mp4", "b");
  fine["webhook"] = {{"url", receiver.url()}, {"events", {"succeeded"}}};
  s.WaitForState(s.Submit(stuck).body["id"], "succeeded");
  std::string id = s.Submit(fine).body["id"];
  s.WaitForState(id, "succeeded");
  // The hanging receiver holds its deliveries for the 10 s timeout; this one is not behind them.
  auto asked = std::chrono::steady_clock::now();
  ASSERT_EQ(receiver.WaitFor(1).size(), 1u);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count(), 5);
}

TEST_F(ServiceTest, ServerWideDefaultWebhook) {
  Receiver receiver;
  // The operator's URL carries a token: tenants see that a webhook exists, never the token.
  Server s(data_.path(), media_.path(),
           {"--allow-host", "127.0.0.1", "--default-webhook", receiver.url() + "?token=opsecret"});
  std::string alice = s.CreateKey(data_.path(), "alice");
  std::string id = s.Submit(HlsJob("small.mp4", "out"), alice).body["id"];
  s.WaitForState(id, "succeeded");
  std::vector<Receiver::Request> got = receiver.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].target, "/hooks?token=opsecret");
  EXPECT_EQ(json::parse(got[1].body)["event"], "succeeded");
  for (const std::string& path : {"/v1/jobs/" + id, "/v1/jobs/" + id + "/webhooks"}) {
    ApiReply seen = s.Get(path, alice);
    EXPECT_EQ(seen.status, 200);
    EXPECT_EQ(seen.body.dump().find("opsecret"), std::string::npos) << seen.body.dump();
  }
}

TEST_F(ServiceTest, WebhooksToPrivateAddressesAreRefused) {
  Receiver receiver;
  Server s(data_.path(), media_.path(), {"--workers", "0"});
  json spec = HlsJob("small.mp4", "out");
  spec["webhook"] = {{"url", receiver.url()}};
  ApiReply r = s.Submit(spec);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "webhook.url");
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("loopback"), std::string::npos);
  spec["webhook"] = {{"url", "http://169.254.169.254/latest/meta-data/"}};
  r = s.Submit(spec);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("link-local"), std::string::npos);
}

TEST_F(ServiceTest, SourcesAndDestinationsOverHttp) {
  Receiver web;
  web.Serve("/media/in.mp4", testing::ReadFile(media_ / "small.mp4"));
  // Proxies named by the environment are not used: through one, the address guard would judge
  // the proxy instead of the target. (Were they used, these would refuse every connection.)
  for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"})
    setenv(name, "http://127.0.0.1:1", 1);
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json spec = {
      {"source", {{"url", web.Base() + "/media/in.mp4"}}},
      {"outputs",
       {{{"kind", "hls"}, {"destination", web.Base() + "/out/hls/"}},
        {{"kind", "mp4"},
         {"preset", "h264-360p"},
         {"method", "POST"},
         {"destination", web.Base() + "/out/small.mp4"}},
        {{"kind", "thumbnail"}, {"destination", web.Base() + "/out/thumb.jpg"}},
        {{"kind", "mp4"}, {"preset", "h264-360p"}, {"destination", media_ / "local.mp4"}}}}};
  ApiReply submitted = s.Submit(spec);
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  json done = s.WaitForState(submitted.body["id"], "succeeded");
  // The package arrived file by file, each with its content type.
  std::map<std::string, Receiver::Request> by_target;
  for (const Receiver::Request& r : web.requests()) by_target[r.method + " " + r.target] = r;
  ASSERT_TRUE(by_target.count("PUT /out/hls/master.m3u8")) << done.dump();
  EXPECT_EQ(by_target["PUT /out/hls/master.m3u8"].headers["Content-Type"],
            "application/vnd.apple.mpegurl");
  EXPECT_EQ(by_target["PUT /out/hls/240p/seg_00000.m4s"].headers["Content-Type"],
            "video/iso.segment");
  EXPECT_EQ(by_target["PUT /out/thumb.jpg"].headers["Content-Type"], "image/jpeg");
  // Segments before the playlists that name them, the master playlist last.
  std::vector<std::string> package;
  for (const Receiver::Request& r : web.requests())
    if (r.target.rfind("/out/hls/", 0) == 0) package.push_back(r.target);
  ASSERT_FALSE(package.empty());
  EXPECT_EQ(package.back(), "/out/hls/master.m3u8");
  bool playlist_seen = false;
  for (const std::string& target : package) {
    bool playlist = target.size() > 5 && target.substr(target.size() - 5) == ".m3u8";
    EXPECT_FALSE(playlist_seen && !playlist) << target << " went up after a playlist";
    playlist_seen |= playlist;
  }
  ASSERT_TRUE(by_target.count("POST /out/small.mp4"));
  testing::WriteFile(media_ / "received.mp4", web.Stored("/out/small.mp4"));
  testing::MediaSummary m = testing::ReadMedia(media_ / "received.mp4");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->packets, 60);
  json outputs = done["result"]["outputs"];
  EXPECT_EQ(outputs[1]["path"], web.Base() + "/out/small.mp4");
  EXPECT_EQ(outputs[1]["delivered"]["bytes"], web.Stored("/out/small.mp4").size());
  EXPECT_GT(outputs[0]["delivered"]["files"].get<int>(), 5);
  EXPECT_TRUE(fs::exists(media_ / "local.mp4")) << "local and remote outputs mix";
}

TEST_F(ServiceTest, InlineSource) {
  std::string clip = testing::ReadFile(media_ / "small.mp4");
  std::string b64 = Base64Encode(clip);
  Server s(data_.path(), media_.path());
  json spec = {{"source", {{"inline", b64}}},
               {"outputs", {{{"kind", "thumbnail"}, {"destination", media_ / "t.jpg"}}}}};
  ApiReply r = s.Submit(spec);
  ASSERT_EQ(r.status, 202) << r.body.dump();
  json done = s.WaitForState(r.body["id"], "succeeded");
  EXPECT_TRUE(fs::exists(media_ / "t.jpg"));
  // Views say how big it was instead of echoing it.
  EXPECT_EQ(done["spec"]["source"]["inline"],
            "[" + std::to_string(b64.size()) + " bytes of base64]");
  EXPECT_EQ(s.Get("/v1/jobs").body.dump().find(b64.substr(0, 64)), std::string::npos);
  spec["source"]["inline"] = "not base64!";
  EXPECT_EQ(s.Submit(spec).body["error"]["field"], "source.inline");
}

TEST_F(ServiceTest, RemoteSourceFailuresAreClear) {
  Receiver web;
  web.Redirect("/sneaky.mp4", "http://10.255.255.1/internal.mp4");
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  auto job = [&](const std::string& url) {
    return json{{"source", url},
                {"outputs", {{{"kind", "thumbnail"}, {"destination", media_ / "t.jpg"}}}}};
  };
  // A redirect from an allowed host to a private address is refused at connect time.
  std::string sneaky = s.Submit(job(web.Base() + "/sneaky.mp4")).body["id"];
  json failed = s.WaitForState(sneaky, "failed");
  EXPECT_NE(failed["error"].get<std::string>().find("10.255.255.1 is a private address"),
            std::string::npos)
      << failed["error"];
  EXPECT_EQ(failed["attempts"], 1) << "a refusal is not retried";
  // A 404 fails at once with the status.
  std::string missing = s.Submit(job(web.Base() + "/nope.mp4")).body["id"];
  json gone = s.WaitForState(missing, "failed");
  EXPECT_NE(gone["error"].get<std::string>().find("HTTP 404"), std::string::npos) << gone["error"];
  EXPECT_EQ(gone["attempts"], 1);
  // Without the allow-list entry, loopback sources are refused at submission.
  Server strict(data_ / "strict", media_.path(), {"--workers", "0"});
  ApiReply r = strict.Submit(job(web.Base() + "/media/in.mp4"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["field"], "source");
}

using testing::S3Server;

TEST_F(ServiceTest, S3SourcesAndDestinations) {
  TempDir s3dir;
  S3Server s3(s3dir.path());
  // Small multipart thresholds so that a test-sized file goes up in parts.
  json config = {
      {"s3",
       {{"default",
         {{"endpoint", s3.endpoint()},
          {"access_key", "S3RVER"},
          {"secret_key", "S3RVER"},
          {"multipart_threshold", 256 << 10},
          {"part_size_for_tests", 128 << 10}}},
        {"stranger",
         {{"endpoint", s3.endpoint()}, {"access_key", "NOBODY"}, {"secret_key", "x"}}}}}};
  testing::WriteFile(data_ / "storage.json", config.dump());
  Result<std::map<std::string, storage::S3Profile>> profiles =
      storage::LoadS3Profiles(data_ / "storage.json");
  ASSERT_TRUE(profiles.ok()) << profiles.status().ToString();
  net::AddressPolicy loopback = *net::AddressPolicy::Parse({"127.0.0.1"});
  Result<storage::S3Object> source = storage::ParseS3Url("s3://media/in/small.mp4", *profiles);
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE(storage::S3Put(*source, media_ / "small.mp4", "video/mp4", loopback).ok());

  Server s(data_.path(), media_.path(),
           {"--allow-host", "127.0.0.1", "--storage-config", data_ / "storage.json"});
  json spec = {{"source", "s3://media/in/small.mp4"},
               {"outputs",
                {{{"kind", "hls"}, {"destination", "s3://media/out/hls/"}},
                 {{"kind", "mezzanine"},
                  {"codec", "ffv1"},
                  {"destination", "s3://media/out/master.mkv"},
                  {"presign", 600},
                  {"storage_class", "STANDARD_IA"},
                  {"cache_control", "private, max-age=600"},
                  {"metadata", {{"owner", "team-7"}, {"asset-id", "a 42"}}}}}}};
  ApiReply submitted = s.Submit(spec);
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  // S3 object headers on a destination that is not S3 would be dropped: a 400 naming the field.
  json local_acl = spec;
  local_acl["outputs"][0] = {{"kind", "mp4"}, {"destination", "out/a.mp4"}, {"acl", "private"}};
  ApiReply refused = s.Submit(local_acl);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body["error"]["field"], "outputs[0].acl") << refused.body;
  json done = s.WaitForState(submitted.body["id"], "succeeded");
  json mezz = done["result"]["outputs"][1];
  EXPECT_EQ(mezz["path"], "s3://media/out/master.mkv");
  int64_t bytes = mezz["delivered"]["bytes"];
  EXPECT_GT(bytes, 256 << 10) << "big enough to have gone up in parts";

  // The presigned URL fetches the object, with the content type it was stored with.
  Result<client::HttpResponse> got =
      client::Fetch("GET", mezz["delivered"]["presigned_url"], "", {}, 30);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->status, 200) << got->body;
  EXPECT_EQ(got->headers["content-type"], "video/x-matroska");
  // The output's own headers went up with the multipart upload and were stored (s3rver keeps
  // these; it ignores ACLs, which the storage test checks on the wire).
  EXPECT_EQ(got->headers["x-amz-storage-class"], "STANDARD_IA");
  EXPECT_EQ(got->headers["cache-control"], "private, max-age=600");
  EXPECT_EQ(got->headers["x-amz-meta-owner"], "team-7");
  EXPECT_EQ(got->headers["x-amz-meta-asset-id"], "a 42");
  EXPECT_EQ(static_cast<int64_t>(got->body.size()), bytes);
  testing::WriteFile(media_ / "back.mkv", got->body);
  testing::MediaSummary m = testing::ReadMedia(media_ / "back.mkv");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->codec, "ffv1");
  EXPECT_EQ(m.Find("video")->packets, 60) << "every part arrived, in order";

  // The package: every file, typed.
  Result<storage::S3Object> master =
      storage::ParseS3Url("s3://media/out/hls/master.m3u8", *profiles);
  ASSERT_TRUE(storage::S3Get(*master, media_ / "master.m3u8", loopback).ok());
  EXPECT_NE(testing::ReadFile(media_ / "master.m3u8").find("#EXT-X-STREAM-INF"), std::string::npos);
  Result<client::HttpResponse> seg = client::Fetch(
      "GET",
      storage::S3Presign(*storage::ParseS3Url("s3://media/out/hls/240p/seg_00000.m4s", *profiles),
                         60),
      "", {}, 30);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->headers["content-type"], "video/iso.segment");
  EXPECT_EQ(seg->headers.count("x-amz-meta-owner"), 0u) << "only the output that asked";

  // The API reads delivered outputs back from the bucket (the dashboard's player does this), with
  // nothing but the caller's API key.
  std::string files = s.url() + "/v1/jobs/" + done["id"].get<std::string>() + "/outputs/";
  client::Headers admin = {{"Authorization", "Bearer " + s.admin_key()}};
  Result<client::HttpResponse> via_api = client::Fetch("GET", files + "0/master.m3u8", "", admin);
  ASSERT_TRUE(via_api.ok());
  EXPECT_EQ(via_api->status, 200) << via_api->body;
  EXPECT_EQ(via_api->headers["content-type"], "application/vnd.apple.mpegurl");
  EXPECT_EQ(via_api->body, testing::ReadFile(media_ / "master.m3u8"));
  via_api = client::Fetch("GET", files + "0/240p/seg_00000.m4s", "", admin);
  EXPECT_EQ(via_api->status, 200);
  EXPECT_EQ(via_api->body, seg->body);
  // A byte range is passed on to the bucket: 206 with the store's Content-Range.
  std::string size = std::to_string(seg->body.size());
  struct Case {
    std::string range;
    int status;
    std::string body, content_range;
  };
  size_t len = seg->body.size();
  for (const Case& c : std::vector<Case>{
           {"bytes=10-19", 206, seg->body.substr(10, 10), "bytes 10-19/" + size},
           {"bytes=" + std::to_string(len - 7) + "-", 206, seg->body.substr(len - 7),
            "bytes " + std::to_string(len - 7) + "-" + std::to_string(len - 1) + "/" + size},
           {"bytes=-30", 206, seg->body.substr(len - 30),
            "bytes " + std::to_string(len - 30) + "-" + std::to_string(len - 1) + "/" + size},
           {"bytes=" + size + "-", 416, "", "bytes */" + size}}) {
    client::Headers h = admin;
    h["Range"] = c.range;
    Result<client::HttpResponse> r = client::Fetch("GET", files + "0/240p/seg_00000.m4s", "", h);
    ASSERT_TRUE(r.ok()) << c.range;
    EXPECT_EQ(r->status, c.status) << c.range << ": " << r->body;
    if (c.status == 206) {
      EXPECT_EQ(r->body, c.body) << c.range;
    }
    EXPECT_EQ(r->headers["content-range"], c.content_range) << c.range;
  }
  via_api = client::Fetch("GET", files + "1/master.mkv", "", admin);
  EXPECT_EQ(static_cast<int64_t>(via_api->body.size()), bytes);
  // Only what the job wrote: not another object under its prefix (with the server's credentials,
  // that would read anyone's files), not a name the package does not have.
  Result<storage::S3Object> planted =
      storage::ParseS3Url("s3://media/out/hls/secret.txt", *profiles);
  ASSERT_TRUE(storage::S3Put(*planted, media_ / "master.m3u8", "text/plain", loopback).ok());
  for (const char* rest :
       {"0/secret.txt", "0/240p/seg_99999.m4s", "1/other.mkv", "0/%2e%2e/master.mkv"})
    EXPECT_EQ(client::Fetch("GET", files + rest, "", admin)->status, 404) << rest;
  // Nothing is left behind on the server once sent.
  EXPECT_TRUE(!fs::exists(data_ / "work") || fs::is_empty(data_ / "work"));
  // A job whose source URL carried a token (sealed at rest) still has its S3 outputs read back.
  Receiver web;
  web.Serve("/in.mp4?token=abc", testing::ReadFile(media_ / "small.mp4"));
  json tokened = {{"source", web.Base() + "/in.mp4?token=abc"},
                  {"outputs", {{{"kind", "thumbnail"}, {"destination", "s3://media/out/t.jpg"}}}}};
  std::string tokened_id = s.Submit(tokened).body["id"];
  s.WaitForState(tokened_id, "succeeded");
  Result<client::HttpResponse> poster =
      client::Fetch("GET", s.url() + "/v1/jobs/" + tokened_id + "/outputs/0/t.jpg", "", admin);
  EXPECT_EQ(poster->status, 200) << poster->body;
  EXPECT_EQ(poster->headers["content-type"], "image/jpeg");

  // An unknown access key: a clear error naming S3's code, no retry.
  json stranger = spec;
  stranger["source"] = "s3://stranger@media/in/small.mp4";
  stranger["outputs"] = {{{"kind", "thumbnail"}, {"destination", media_ / "t.jpg"}}};
  json failed = s.WaitForState(s.Submit(stranger).body["id"], "failed");
  EXPECT_NE(failed["error"].get<std::string>().find("InvalidAccessKeyId"), std::string::npos)
      << failed["error"];
  EXPECT_EQ(failed["attempts"], 1);
}

// A real FTP server on loopback: npm's ftp-srv, installed by scripts/setup.
class FtpServer {
 public:
  FtpServer(const std::string& root, const std::string& user, const std::string& password) {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port_ = a.local_endpoint().port();
    a.close();
    cmd_ = std::make_unique<testing::BackgroundCommand>(
        std::vector<std::string>{std::string(REEL_SOURCE_DIR) + "/node_modules/.bin/ftp-srv",
                                 "ftp://127.0.0.1:" + std::to_string(port_), "--root", root,
                                 "--username", user, "--password", password, "--pasv_url",
                                 "127.0.0.1", "--pasv_min", "30000", "--pasv_max", "30100"});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket sock(ioc);
      sock.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)},
                   ec);
      if (!ec) return;
      if (!cmd_->Running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "ftp-srv did not start (run ./scripts/setup): " << cmd_->OutputSoFar();
  }
  int port() const { return port_; }

 private:
  int port_ = 0;
  std::unique_ptr<testing::BackgroundCommand> cmd_;
};

TEST_F(ServiceTest, FtpSourceAndDestinationsWithTheirPasswordKeptSecret) {
  TempDir root;
  fs::copy_file(media_ / "small.mp4", root / "in.mp4");
  FtpServer ftp(root.path(), "reel", "hunter2-secret");
  std::string base = "ftp://reel:hunter2-secret@127.0.0.1:" + std::to_string(ftp.port());
  // Planted besides the FTP password: a webhook URL whose user part is a token, and a metadata
  // value under a credential's name. None may be stored, shown or logged in the clear.
  Receiver receiver;
  std::string hook = receiver.url();
  hook.insert(hook.find("//") + 2, "hooktoken-4711@");
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json spec = {
      {"source", base + "/in.mp4"},
      {"metadata", {{"media_id", "m-9"}, {"token", "metatoken-0815"}}},
      {"webhook", {{"url", hook}}},
      {"outputs",
       {{{"kind", "hls"}, {"destination", base + "/out/hls/"}},
        {{"kind", "mp4"}, {"preset", "h264-360p"}, {"destination", base + "/out/small.mp4"}}}}};
  ApiReply submitted = s.Submit(spec);
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  json done = s.WaitForState(submitted.body["id"], "succeeded");
  // The webhook still reaches the URL as given (curl sends the token as Basic credentials).
  std::vector<Receiver::Request> got = receiver.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].headers["Authorization"], "Basic " + Base64Encode("hooktoken-4711:"));
  std::string signing_secret = ReadTrimmed(data_ / "admin.webhook-secret");
  for (const Receiver::Request& r : got) {
    EXPECT_TRUE(SignatureValid(r, signing_secret));
    EXPECT_EQ(r.body.find("metatoken-0815"), std::string::npos) << r.body;
    EXPECT_EQ(json::parse(r.body)["job"]["metadata"]["media_id"], "m-9");
  }
  EXPECT_EQ(done["result"]["metadata"]["token"], "[redacted]");
  std::string planted[] = {"hunter2-secret", "hooktoken-4711", "metatoken-0815", signing_secret};
  json deliveries = s.Get("/v1/jobs/" + submitted.body["id"].get<std::string>() + "/webhooks").body;
  for (const std::string& text : {submitted.body.dump(), done.dump(), deliveries.dump()})
    for (const std::string& secret : planted)
      EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in " << text;
  EXPECT_TRUE(fs::exists(root / "out/hls/master.m3u8"));
  EXPECT_TRUE(fs::exists(root / "out/hls/240p/init.mp4"));
  testing::MediaSummary m = testing::ReadMedia(root / "out/small.mp4");
  ASSERT_NE(m.Find("video"), nullptr);
  EXPECT_EQ(m.Find("video")->packets, 60);
  // The password never comes back: not in the job, its result, listings, or the server's log.
  for (const std::string& text :
       {submitted.body.dump(), done.dump(), s.Get("/v1/jobs").body.dump()}) {
    EXPECT_EQ(text.find("hunter2-secret"), std::string::npos) << text;
    EXPECT_NE(text.find("reel:[redacted]@127.0.0.1"), std::string::npos);
  }
  s.Signal(SIGTERM);
  testing::CommandResult log = s.Wait();
  // Nor is any at rest: the database holds them sealed, like per-job S3 credentials.
  std::string db = testing::ReadFile(data_ / "reel.db") + testing::ReadFile(data_ / "reel.db-wal");
  for (const std::string& secret : planted) {
    // The admin key's signing secret is shown to the operator once, at first start, on purpose.
    if (secret != signing_secret) {
      EXPECT_EQ(log.output.find(secret), std::string::npos) << secret << " in " << log.output;
    }
    EXPECT_EQ(db.find(secret), std::string::npos) << secret << " in the database";
  }
}

// A full data disk, for real: the store's file on a 4 MiB tmpfs that the server mounts in a user
// namespace of its own (no root needed), filled by the test through /proc/<pid>/root. Writes
// answer 503 with a message that says so and Retry-After, /readyz is not ready, reads go on, and
// once there is room again everything works and no accepted job is lost.
TEST_F(ServiceTest, AFullDiskAnswers503IsNotReadyAndLosesNothing) {
  if (testing::RunCommand({"unshare", "-rm", "true"}).exit_code != 0)
    GTEST_SKIP() << "user namespaces are not available here (unshare -rm)";
  TempDir disk;
  std::string db = disk / "reel.db";
  std::vector<std::string> mounted = {
      "unshare",  "-rm", "sh", "-c", "mount -t tmpfs -o size=4m reel-full \"$0\" && exec \"$@\"",
      disk.path()};
  Server s(data_.path(), media_.path(), {"--workers", "0", "--store", db}, mounted);
  std::vector<std::string> accepted;
  ApiReply first = s.Submit(HlsJob("small.mp4", "out"));
  ASSERT_EQ(first.status, 202) << first.body.dump();
  accepted.push_back(first.body["id"]);
  ASSERT_EQ(s.Call("GET", "/readyz", "").status, 200);

  // Fill the disk to the last byte.
  fs::path filler = "/proc/" + std::to_string(s.pid()) + "/root" + disk.path() + "/filler";
  {
    int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0) << filler << ": " << strerror(errno);
    std::string chunk(64 << 10, 'x');
    size_t size = chunk.size();
    while (size > 0) {
      ssize_t n = write(fd, chunk.data(), size);
      if (n < 0 && errno == ENOSPC) size /= 2;
      ASSERT_TRUE(n >= 0 || errno == ENOSPC) << strerror(errno);
    }
    close(fd);
  }
  // The WAL may still have room for a few rows; then submissions stop being accepted.
  client::HttpResponse refused;
  for (int i = 0; i < 200; ++i) {
    Result<client::HttpResponse> r =
        client::Fetch("POST", s.url() + "/v1/jobs", HlsJob("small.mp4", "out").dump(),
                      {{"Authorization", "Bearer " + s.admin_key()}}, 30);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (r->status == 202) {
      accepted.push_back(json::parse(r->body)["id"]);
      continue;
    }
    refused = *r;
    break;
  }
  ASSERT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("disk"), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("full"), std::string::npos) << refused.body;
  EXPECT_TRUE(refused.headers.count("retry-after") || refused.headers.count("Retry-After"));
  ApiReply ready = s.Call("GET", "/readyz", "");
  EXPECT_EQ(ready.status, 503) << ready.body.dump();
  EXPECT_NE(ready.body.dump().find("full"), std::string::npos) << ready.body.dump();
  EXPECT_EQ(s.Call("GET", "/healthz", "").status, 200) << "alive, only not ready";
  EXPECT_EQ(s.Get("/v1/jobs/" + accepted[0]).status, 200) << "reads go on";

  // Room again: ready, and submissions are accepted.
  fs::remove(filler);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (s.Call("GET", "/readyz", "").status != 200 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(s.Call("GET", "/readyz", "").status, 200);
  ApiReply after = s.Submit(HlsJob("small.mp4", "out"));
  ASSERT_EQ(after.status, 202) << after.body.dump();
  accepted.push_back(after.body["id"]);

  // Intact: a copy of the database opens in another server with every accepted job in it.
  fs::path inside = "/proc/" + std::to_string(s.pid()) + "/root" + disk.path();
  TempDir copy;
  for (const char* name : {"reel.db", "reel.db-wal"})
    if (fs::exists(inside / name)) fs::copy_file(inside / name, copy / name);
  s.Signal(SIGTERM);
  s.Wait();
  Server reopened(data_.path(), media_.path(), {"--workers", "0", "--store", copy / "reel.db"});
  ApiReply list = reopened.Get("/v1/jobs?limit=200");
  ASSERT_EQ(list.status, 200) << list.body.dump();
  EXPECT_EQ(list.body["jobs"].size(), accepted.size());
  for (const std::string& id : accepted) EXPECT_EQ(reopened.Get("/v1/jobs/" + id).status, 200);
}

TEST_F(ServiceTest, PerJobS3CredentialsAreSealedAtRestAndNeverShown) {
  TempDir s3dir;
  S3Server s3(s3dir.path());
  storage::S3Object source;
  source.profile.endpoint = s3.endpoint();
  source.profile.access_key = "S3RVER";
  source.profile.secret_key = "S3RVER";
  source.bucket = "media";
  source.key = "in/small.mp4";
  ASSERT_TRUE(storage::S3Put(source, media_ / "small.mp4", "video/mp4",
                             *net::AddressPolicy::Parse({"127.0.0.1"}))
                  .ok());
  // No storage configuration: the job brings its own credentials.
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  json spec = {
      {"source", "s3://media/in/small.mp4"},
      {"credentials",
       {{"s3", {{"endpoint", s3.endpoint()}, {"access_key", "S3RVER"}, {"secret_key", "S3RVER"}}}}},
      {"outputs", {{{"kind", "thumbnail"}, {"destination", "s3://media/out/t.jpg"}}}}};
  ApiReply submitted = s.Submit(spec);
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  json done = s.WaitForState(submitted.body["id"], "succeeded");
  EXPECT_EQ(done["spec"]["credentials"], "[redacted]");
  EXPECT_TRUE(fs::exists(s3dir / "media/out/t.jpg") || !done["result"].is_null());
  for (const std::string& text : {submitted.body.dump(), done.dump()})
    EXPECT_EQ(text.find("S3RVER"), std::string::npos) << text;
  std::string db = testing::ReadFile(data_ / "reel.db") + testing::ReadFile(data_ / "reel.db-wal");
  EXPECT_EQ(db.find("S3RVER"), std::string::npos) << "sealed at rest";
  s.Signal(SIGTERM);
  EXPECT_EQ(s.Wait().output.find("S3RVER"), std::string::npos) << "and out of the log";
  // Without credentials or a profile, an s3:// URL is refused at submission.
  Server bare(data_ / "bare", media_.path(), {"--allow-host", "127.0.0.1", "--workers", "0"});
  spec.erase("credentials");
  ApiReply refused = bare.Submit(spec);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body["error"]["field"], "source");
}

TEST_F(ServiceTest, ServerS3KeysReachAnS3JobsChild) {
  // The child of a job that names S3 keeps the server's REEL_S3_* (only that job's child does).
  TempDir s3dir;
  S3Server s3(s3dir.path());
  storage::S3Object source;
  source.profile.endpoint = s3.endpoint();
  source.profile.access_key = "S3RVER";
  source.profile.secret_key = "S3RVER";
  source.bucket = "media";
  source.key = "in/small.mp4";
  ASSERT_TRUE(storage::S3Put(source, media_ / "small.mp4", "video/mp4",
                             *net::AddressPolicy::Parse({"127.0.0.1"}))
                  .ok());
  setenv("REEL_S3_ACCESS_KEY_ID", "S3RVER", 1);
  setenv("REEL_S3_SECRET_ACCESS_KEY", "S3RVER", 1);
  setenv("REEL_S3_ENDPOINT", s3.endpoint().c_str(), 1);
  Server s(data_.path(), media_.path(), {"--allow-host", "127.0.0.1"});
  ApiReply submitted =
      s.Submit({{"source", "s3://media/in/small.mp4"},
                {"outputs", {{{"kind", "thumbnail"}, {"destination", "s3://media/out/t.jpg"}}}}});
  ASSERT_EQ(submitted.status, 202) << submitted.body.dump();
  json done = s.WaitFinished(submitted.body["id"]);
  EXPECT_EQ(done["state"], "succeeded") << done.dump();
  EXPECT_TRUE(fs::exists(s3dir / "media/out/t.jpg") || !done["result"].is_null());
}

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
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string stat = testing::ReadFile(e.path() / "stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid != server) continue;
    std::string cmdline = testing::ReadFile(e.path() / "cmdline");
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
          out[std::stoi(e.path().filename().string())] =
              task.value("kind", "") + "-" + std::to_string(task.value("ordinal", -1));
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
