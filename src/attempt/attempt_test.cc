// One attempt in process, on local files: no child process, no server.
#include "attempt/attempt.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>

#include "attempt/staging_store.h"
#include "testing/media_fixtures.h"

namespace reel::attempt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

job::JobSpec Spec(const json& document) {
  Result<job::JobSpec> spec = job::ParseJobSpec(document);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return spec.ok() ? *spec : job::JobSpec{};
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename());
  return names;
}

TEST(Attempt, WritesAnMp4AThumbnailAndAnHlsPackage) {
  TempDir dir;
  job::JobSpec spec =
      Spec({{"source", testing::Clip(640, 360, 2, 30)},
            {"outputs",
             {{{"kind", "mp4"}, {"preset", "h264-360p"}, {"destination", dir / "a.mp4"}},
              {{"kind", "thumbnail"}, {"destination", dir / "t.jpg"}},
              {{"kind", "hls"}, {"ladder", "default"}, {"destination", dir / "hls/"}}}},
            {"metadata", {{"media_id", "m-1"}}}});
  std::mutex mu;
  std::vector<double> fractions;
  bool encoded = false;
  Environment env;
  env.threads = 2;
  env.events.on_progress = [&](const engine::Progress& p) {
    std::lock_guard lock(mu);
    fractions.push_back(p.fraction);
  };
  env.events.on_encoded = [&] { encoded = true; };

  AttemptOutcome outcome = attempt::Run(spec, env);
  const AttemptResult* done = std::get_if<AttemptResult>(&outcome);
  ASSERT_NE(done, nullptr) << std::get<AttemptError>(outcome).status.ToString();
  EXPECT_TRUE(done->incomplete.ok());
  EXPECT_TRUE(encoded);
  const json& result = done->result;
  ASSERT_EQ(result["outputs"].size(), 3u) << result.dump();
  EXPECT_EQ(result["outputs"][0]["kind"], "mp4");
  EXPECT_EQ(result["outputs"][0]["path"], dir / "a.mp4");
  EXPECT_EQ(result["outputs"][1]["kind"], "thumbnail");
  EXPECT_EQ(result["outputs"][2]["kind"], "hls");
  EXPECT_EQ(result["metadata"]["media_id"], "m-1");
  EXPECT_FALSE(result.contains("event")) << "the result is the job's, not a protocol line";

  EXPECT_EQ(testing::ReadMedia(dir / "a.mp4").Find("video")->height, 360);
  EXPECT_TRUE(fs::exists(dir / "t.jpg"));
  EXPECT_TRUE(fs::exists(dir / "hls/master.m3u8"));
  std::lock_guard lock(mu);
  ASSERT_FALSE(fractions.empty());
  EXPECT_DOUBLE_EQ(fractions.back(), 1.0);
}

TEST(Attempt, SubtitleTracksOfTheSpecBecomeRenditionsOfThePackage) {
  TempDir dir;
  testing::WriteFile(dir / "fr.srt", "1\n00:00:00,200 --> 00:00:01,000\nBonjour\n\n");
  testing::WriteFile(dir / "de.vtt", "WEBVTT\n\n00:00.500 --> 00:01.000\nHallo\n");
  job::JobSpec spec = Spec(
      {{"source", testing::Clip(320, 240, 2, 30)},
       {"subtitle_tracks",
        {{{"url", dir / "fr.srt"}, {"language", "fr"}, {"name", "Français"}},
         {{"url", dir / "de.vtt"}, {"language", "de"}}}},
       {"outputs", {{{"kind", "hls"}, {"ladder", "default"}, {"destination", dir / "hls/"}}}}});
  Environment env;
  env.threads = 2;
  AttemptOutcome outcome = attempt::Run(spec, env);
  const AttemptResult* done = std::get_if<AttemptResult>(&outcome);
  ASSERT_NE(done, nullptr) << std::get<AttemptError>(outcome).status.ToString();
  std::string master = testing::ReadFile(dir / "hls/master.m3u8");
  EXPECT_NE(master.find("NAME=\"Français\",LANGUAGE=\"fr\""), std::string::npos) << master;
  EXPECT_NE(master.find("NAME=\"de\",LANGUAGE=\"de\""), std::string::npos) << master;
  EXPECT_NE(testing::ReadFile(dir / "hls/sub_0/seg_00000.vtt").find("Bonjour"), std::string::npos);
  EXPECT_NE(testing::ReadFile(dir / "hls/sub_1/seg_00000.vtt").find("Hallo"), std::string::npos);
}

TEST(Attempt, AnInvalidSourceIsAPermanentFailureThatLeavesNothing) {
  TempDir dir;
  testing::WriteFile(dir / "text.mp4", "this is not a video\n");
  job::JobSpec spec = Spec({{"source", dir / "text.mp4"},
                            {"outputs", {{{"kind", "hls"}, {"destination", dir / "out/"}}}}});
  AttemptOutcome outcome = attempt::Run(spec, Environment{});
  const AttemptError* error = std::get_if<AttemptError>(&outcome);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->status.code(), StatusCode::kInvalidArgument) << error->status.ToString();
  EXPECT_EQ(error->retry(), Retry::kPermanent);
  EXPECT_EQ(error->stage, Stage::kEncode);
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"text.mp4"});
}

TEST(Attempt, AnErrorNamesAFetchedSourceByItsUrlNotItsPathInTheScratch) {
  // The probe names the file it opened, which a worker keeps under its data directory; the
  // tenant reads this error in the job, its attempt log and its webhook.
  TempDir scratch, out;
  Environment env;
  env.remote = true;
  env.scratch = scratch.path();
  env.storage.allow_paths = {out.path()};
  job::JobSpec spec =
      Spec({{"source", "data:video/mp4;base64,dGhpcyBpcyBub3QgYSB2aWRlbywganVzdCB0ZXh0Cg=="},
            {"outputs", {{{"kind", "hls"}, {"destination", out / "hls/"}}}}});
  AttemptOutcome outcome = attempt::Run(spec, env);
  const AttemptError* error = std::get_if<AttemptError>(&outcome);
  ASSERT_NE(error, nullptr);
  const std::string& message = error->status.message();
  EXPECT_EQ(error->retry(), Retry::kPermanent) << message;
  EXPECT_NE(message.find("not a media file"), std::string::npos) << message;
  EXPECT_EQ(message.rfind("source: ", 0), 0u) << message;
  EXPECT_EQ(message.find(scratch.path()), std::string::npos) << message;
}

TEST(Attempt, LocalModeRefusesRemoteUrlsBeforeAnythingRuns) {
  TempDir dir;
  job::JobSpec spec = Spec({{"source", "https://example.com/a.mp4"},
                            {"outputs", {{{"kind", "hls"}, {"destination", dir / "out/"}}}}});
  bool encoded = false;
  Environment env;
  env.events.on_encoded = [&] { encoded = true; };
  AttemptOutcome outcome = attempt::Run(spec, env);
  const AttemptError* error = std::get_if<AttemptError>(&outcome);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->stage, Stage::kPrepare);
  EXPECT_EQ(error->status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(error->status.message().rfind("source: ", 0), 0u) << error->status.message();
  EXPECT_FALSE(encoded);
}

TEST(Attempt, CancelStopsTheEncodeAndRemovesPartialOutputs) {
  TempDir dir;
  job::JobSpec spec =
      Spec({{"source", testing::Clip(1280, 720, 13, 30)},
            {"outputs",
             {{{"kind", "hls"}, {"destination", dir / "hls/"}},
              {{"kind", "mp4"}, {"preset", "h264-720p"}, {"destination", dir / "a.mp4"}}}}});
  std::atomic<bool> cancel{false};
  Environment env;
  env.threads = 2;
  env.cancel = &cancel;
  env.progress_interval = 0;
  env.events.on_progress = [&](const engine::Progress& p) {
    if (p.fraction > 0) cancel = true;  // as the signal handler of `reel run-job` does
  };
  AttemptOutcome outcome = attempt::Run(spec, env);
  const AttemptError* error = std::get_if<AttemptError>(&outcome);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->status.code(), StatusCode::kCanceled);
  EXPECT_EQ(error->stage, Stage::kEncode);
  EXPECT_TRUE(Entries(dir.path()).empty()) << ::testing::PrintToString(Entries(dir.path()));
}

// In a worker's child, local destinations are confined to the allowed roots, and a sprite's
// WebVTT track is one of the sprite's files.
TEST(Attempt, RemoteModeKeepsLocalPathsInsideTheAllowedRoots) {
  TempDir allowed, elsewhere, scratch;
  Environment env;
  env.remote = true;
  env.scratch = scratch.path();
  env.storage.allow_paths = {allowed.path()};
  job::JobSpec outside =
      Spec({{"source", testing::Clip(320, 240, 1, 30)},
            {"outputs", {{{"kind", "mp4"}, {"destination", allowed / "a.mp4"}}}}});
  AttemptOutcome refused = attempt::Run(outside, env);
  ASSERT_TRUE(std::holds_alternative<AttemptError>(refused));
  EXPECT_EQ(std::get<AttemptError>(refused).stage, Stage::kPrepare);
  EXPECT_EQ(std::get<AttemptError>(refused).retry(), Retry::kPermanent)
      << std::get<AttemptError>(refused).status.ToString();

  env.storage.allow_paths.push_back(fs::path(testing::Clip(320, 240, 1, 30)).parent_path());
  job::JobSpec inside = Spec({{"source", testing::Clip(320, 240, 1, 30)},
                              {"outputs",
                               {{{"kind", "sprite"}, {"destination", allowed / "s.jpg"}},
                                {{"kind", "mp4"}, {"destination", elsewhere / "b.mp4"}}}}});
  AttemptOutcome partly = attempt::Run(inside, env);
  ASSERT_TRUE(std::holds_alternative<AttemptError>(partly));
  EXPECT_NE(std::get<AttemptError>(partly).status.message().find("outputs[1].destination"),
            std::string::npos)
      << std::get<AttemptError>(partly).status.ToString();

  job::JobSpec sprite =
      Spec({{"source", testing::Clip(320, 240, 1, 30)},
            {"outputs", {{{"kind", "sprite"}, {"destination", allowed / "s.jpg"}}}}});
  AttemptOutcome done = attempt::Run(sprite, env);
  ASSERT_TRUE(std::holds_alternative<AttemptResult>(done))
      << std::get<AttemptError>(done).status.ToString();
  EXPECT_TRUE(fs::exists(allowed / "s.jpg"));
  EXPECT_TRUE(fs::exists(allowed / "s.vtt"));
}

}  // namespace
}  // namespace reel::attempt

namespace reel::attempt {
namespace {

// A folder swapped for a link into the server's data directory while the job encodes: nothing
// lands there (the staged file stays behind in the moved folder, and the destination is judged
// again as it resolves when the output is moved into place).
TEST(Attempt, ADestinationSwappedForALinkIntoTheDataDirectoryIsRefusedAtWriteTime) {
  TempDir root, scratch;
  fs::create_directories(root / "var");
  fs::create_directories(root / "out");
  std::string source = testing::Clip(640, 360, 4, 30);
  Environment env;
  env.remote = true;
  env.scratch = scratch.path();
  env.threads = 2;
  env.progress_interval = 0;
  env.storage.allow_paths = {root.path(), fs::path(source).parent_path().string()};
  env.storage.forbidden_roots = {root / "var"};
  bool swapped = false;
  env.events.on_progress = [&](const engine::Progress& p) {
    if (swapped || p.fraction <= 0) return;
    swapped = true;
    fs::rename(root / "out", root / "out.old");
    fs::create_directory_symlink(root / "var", root / "out");
  };
  job::JobSpec spec =
      Spec({{"source", source},
            {"outputs", {{{"kind", "mp4"}, {"destination", root / "out/reel.db"}}}}});
  AttemptOutcome outcome = attempt::Run(spec, env);
  ASSERT_TRUE(swapped);
  const AttemptError* error = std::get_if<AttemptError>(&outcome);
  ASSERT_NE(error, nullptr) << "the output was moved into the data directory";
  EXPECT_EQ(error->retry(), Retry::kPermanent) << error->status.ToString();
  EXPECT_FALSE(fs::exists(root / "var/reel.db"));
  EXPECT_TRUE(fs::is_empty(root / "var"));
}

// What the store knows a worker's staging by (staging_store.h): equal for workers that reach
// the same chunks, different otherwise, and never a credential or a path in clear.
TEST(StagingIdentity, EqualOnlyWhereWorkersReachTheSameChunks) {
  storage::S3Profile here, there, elsewhere;
  here.endpoint = there.endpoint = "http://minio:9000";
  here.secret_key = "s3cr3t";
  elsewhere.endpoint = "http://other:9000";
  StagingAccess a = MakeStagingAccess({{"default", here}, {"chunks", there}});
  StagingAccess b = MakeStagingAccess({{"default", there}, {"far", elsewhere}});
  std::string s3 = StagingIdentity("s3://bucket/prefix/", true, "h1", a);
  EXPECT_EQ(s3.rfind("sha256:", 0), 0u) << s3;
  EXPECT_EQ(s3.find("s3cr3t"), std::string::npos);
  EXPECT_EQ(s3, StagingIdentity("s3://chunks@bucket/prefix", true, "h2", a))
      << "a profile's name is the host's own word for the same endpoint";
  EXPECT_EQ(s3, StagingIdentity("s3://bucket/prefix/", true, "h3", b));
  EXPECT_NE(s3, StagingIdentity("s3://far@bucket/prefix/", true, "h3", b)) << "another endpoint";
  EXPECT_NE(s3, StagingIdentity("s3://bucket/other/", true, "h1", a));
  EXPECT_NE(s3, StagingIdentity("s3://bucket2/prefix/", true, "h1", a));

  std::string shared = StagingIdentity("/mnt/chunks", true, "h1", {});
  EXPECT_EQ(shared, StagingIdentity("/mnt/chunks/", true, "h2", {})) << "one mount, every host";
  EXPECT_EQ(shared.find("/mnt"), std::string::npos);
  EXPECT_NE(StagingIdentity("/var/lib/reel/staging", false, "h1", {}),
            StagingIdentity("/var/lib/reel/staging", false, "h2", {}))
      << "a data directory's own staging is its host's alone";
  EXPECT_EQ(StagingIdentity("", false, "h1", {}), "") << "no staging";
}

}  // namespace
}  // namespace reel::attempt
