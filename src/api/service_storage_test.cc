// The service's storage: sources and destinations over HTTP, inline, S3 and FTP; a full disk;
// credentials sealed at rest.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "api/service_test_support.h"
#include "common/crypto.h"
#include "net/http.h"
#include "storage/s3.h"
#include "testing/s3_server.h"

namespace reel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

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

// Uploads `file` as s3://media/in/small.mp4 with s3rver's own keys, as a tenant would have it.
bool PutSmallSource(const S3Server& s3, const fs::path& file) {
  storage::S3Object source;
  source.profile.endpoint = s3.endpoint();
  source.profile.access_key = "S3RVER";
  source.profile.secret_key = "S3RVER";
  source.bucket = "media";
  source.key = "in/small.mp4";
  return storage::S3Put(source, file, "video/mp4", *net::AddressPolicy::Parse({"127.0.0.1"})).ok();
}

TEST_F(ServiceTest, PerJobS3CredentialsAreSealedAtRestAndNeverShown) {
  TempDir s3dir;
  S3Server s3(s3dir.path());
  ASSERT_TRUE(PutSmallSource(s3, media_ / "small.mp4"));
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
  ASSERT_TRUE(PutSmallSource(s3, media_ / "small.mp4"));
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

}  // namespace
}  // namespace reel

namespace reel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A key made with a folder of its own (`reel keys create --allow-path`) reaches only that, at
// submission and again in the job's own process, which sees a folder swapped for a link since.
TEST_F(ServiceTest, AKeyWithAFolderOfItsOwnReachesNoOtherTenantsMedia) {
  for (const char* d : {"acme", "bob"}) fs::create_directories(media_ / d);
  fs::copy_file(media_ / "small.mp4", media_ / "acme/in.mp4");
  fs::copy_file(media_ / "small.mp4", media_ / "bob/secret.mp4");
  Server s(data_.path(), media_.path(), {"--workers", "0"});
  std::string acme = s.CreateKey(data_.path(), "acme", {"--allow-path", media_ / "acme"});
  std::string team = s.CreateKey(data_.path(), "team");
  testing::CommandResult admin =
      testing::RunCommand({testing::ReelBinary(), "keys", "create", "--name", "boss", "--admin",
                           "--allow-path", media_ / "acme", "--data-dir", data_.path()});
  EXPECT_NE(admin.exit_code, 0) << "an admin key sees every job: no scope holds it";
  EXPECT_NE(admin.output.find("are for the keys of tenants"), std::string::npos) << admin.output;
  testing::CommandResult listed =
      testing::RunCommand({testing::ReelBinary(), "keys", "list", "--data-dir", data_.path()});
  EXPECT_NE(
      listed.output.find("paths: " + fs::canonical(media_ / "acme").string() + "; buckets: none"),
      std::string::npos)
      << listed.output;

  auto mp4 = [](const std::string& source, const std::string& destination) {
    return json{
        {"source", source},
        {"outputs", {{{"kind", "mp4"}, {"preset", "h264-360p"}, {"destination", destination}}}}};
  };
  ApiReply read = s.Submit(mp4(media_ / "bob/secret.mp4", "out.mp4"), acme);
  EXPECT_EQ(read.status, 400) << read.body;
  EXPECT_EQ(read.body["error"]["field"], "source") << read.body;
  ApiReply write = s.Submit(mp4("in.mp4", media_ / "bob/out.mp4"), acme);
  EXPECT_EQ(write.status, 400) << write.body;
  EXPECT_EQ(write.body["error"]["field"], "outputs[0].destination") << write.body;

  // Accepted: a new folder of acme's, a relative source (acme's own), and a team key's job.
  std::string swapped =
      s.Submit(mp4(media_ / "acme/in.mp4", media_ / "acme/x/out.mp4"), acme).body.value("id", "");
  std::string own = s.Submit(mp4("in.mp4", media_ / "acme/ok/out.mp4"), acme).body.value("id", "");
  std::string teams =
      s.Submit(mp4(media_ / "acme/in.mp4", media_ / "acme/x/team.mp4"), team).body.value("id", "");
  ASSERT_FALSE(swapped.empty() || own.empty() || teams.empty());
  // Before any worker runs them, acme's new folder becomes a link into bob's.
  fs::create_directory_symlink(media_ / "bob", media_ / "acme/x");
  testing::CommandResult worker =
      testing::RunCommand({testing::ReelBinary(), "worker", "--data-dir", data_.path(),
                           "--allow-path", media_.path(), "--exit-when-idle", "3s"});
  EXPECT_EQ(worker.exit_code, 0) << worker.output;

  json refused = s.Get("/v1/jobs/" + swapped, acme).body;
  EXPECT_EQ(refused["state"], "failed") << refused;
  EXPECT_NE(refused.value("error", "").find("outside the allowed paths"), std::string::npos)
      << refused;
  EXPECT_FALSE(fs::exists(media_ / "bob/out.mp4"));
  EXPECT_EQ(s.Get("/v1/jobs/" + own, acme).body["state"], "succeeded");
  EXPECT_TRUE(fs::exists(media_ / "acme/ok/out.mp4"));
  // The same link is inside the server's roots: a team's key goes through it, as before.
  EXPECT_EQ(s.Get("/v1/jobs/" + teams, team).body["state"], "succeeded");
  EXPECT_TRUE(fs::exists(media_ / "bob/team.mp4"));
  // Read back through the API within the key's folder too.
  EXPECT_EQ(s.Call("GET", "/v1/jobs/" + own + "/outputs/0/out.mp4", acme).status, 200);
}

}  // namespace
}  // namespace reel
