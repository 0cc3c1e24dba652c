// The service as users run it: a real `reel serve` process over real HTTP, with real jobs.
// Here: submitting and running jobs, the files they make, keys and tenants, event streams, cancel.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <regex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/service_test_support.h"

namespace reel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

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

// A key may have --max-jobs-per-key jobs queued or running; beyond, 429 until some finish. An
// admin key has no such limit, and the same submission again (its idempotency key) is no new job.
TEST_F(ServiceTest, AKeysJobsInTheQueueAreBounded) {
  Server s(data_.path(), media_.path(), {"--workers", "0", "--max-jobs-per-key", "2"});
  std::string key = s.CreateKey(data_.path(), "batch");
  json spec = HlsJob("small.mp4", "out");
  std::string first = s.Submit(spec, key).body.value("id", "");
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(s.Call("POST", "/v1/jobs", key, spec.dump(), {{"Idempotency-Key", "two"}}).status, 202);
  ApiReply third = s.Submit(spec, key);
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_EQ(third.body["error"]["code"], "limit_reached") << third.body;
  EXPECT_EQ(s.Call("POST", "/v1/jobs", key, spec.dump(), {{"Idempotency-Key", "two"}}).status, 200)
      << "the same submission again";
  EXPECT_EQ(s.Submit(spec).status, 202) << "an admin key";
  ASSERT_EQ(s.Call("POST", "/v1/jobs/" + first + "/cancel", key).status, 202);
  EXPECT_EQ(s.Submit(spec, key).status, 202) << "room again once one has finished";
  ApiReply retry = s.Call("POST", "/v1/jobs/" + first + "/retry", key);
  EXPECT_EQ(retry.status, 429) << "a retry is a job back in the queue: " << retry.body;
  EXPECT_EQ(s.Get("/v1/jobs?state=queued", key).body["jobs"].size(), 2u);
}

}  // namespace
}  // namespace reel
