// Progressive publishing in process on local files (publish.h): the turns a job's publisher
// takes as its chunks complete, out of order, publish the chunks done in order from the first as
// EVENT playlists, the master once the audio is there, and segments the stitch then writes
// again byte for byte.
#include "attempt/publish.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "attempt/fan_out.h"
#include "testing/media_fixtures.h"

namespace reel::attempt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

// Every file under `dir` by its path relative to it, with its bytes.
std::map<std::string, std::string> Files(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file())
      out[fs::relative(e.path(), dir).generic_string()] = testing::ReadFile(e.path());
  return out;
}

int Segments(const std::string& playlist) {
  int n = 0;
  for (size_t at = playlist.find("\nseg_"); at != std::string::npos;
       at = playlist.find("\nseg_", at + 1))
    ++n;
  return n;
}

TEST(Publish, TurnsPublishTheChunksDoneInOrderAndTheStitchKeepsTheirBytes) {
  TempDir dir;
  std::string source = testing::Clip(320, 240, 35, 30);
  json document = {{"source", source},
                   {"chunking", {{"seconds", 10}}},
                   {"outputs",
                    {{{"kind", "hls"},
                      {"ladder", "default"},
                      {"publish", "progressive"},
                      {"destination", dir / "live/"}}}}};
  Result<job::JobSpec> spec = job::ParseJobSpec(document);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  Environment env;
  env.threads = 2;
  env.fan_out.allowed = true;
  env.staging = dir / "staging/job_p";
  env.scratch = dir / "scratch";
  fs::create_directories(env.scratch);
  AttemptOutcome first = attempt::Run(*spec, env);
  const FanOutMessage* fan_out = std::get_if<FanOutMessage>(&first);
  ASSERT_NE(fan_out, nullptr);
  // The publisher, then the audio (the master waits for it), then the chunks in order.
  ASSERT_GE(fan_out->tasks.size(), 6u);
  EXPECT_EQ(fan_out->tasks[0].kind, "publish");
  EXPECT_EQ(fan_out->tasks[0].payload["outputs"], json::array({0}));
  EXPECT_EQ(fan_out->tasks[1].kind, "audio");
  EXPECT_EQ(fan_out->tasks[2].kind, "chunk");
  EXPECT_EQ(fan_out->tasks[2].ordinal, 0);

  std::map<std::string, PlannedTask> planned;
  for (const PlannedTask& t : fan_out->tasks) planned[t.kind + std::to_string(t.ordinal)] = t;
  std::vector<TaskRun::Done> done;
  auto run = [&](const std::string& name) {
    const PlannedTask& t = planned[name];
    TaskRun task{"task_" + name, t.kind, t.ordinal, 1, t.payload, done};
    AttemptOutcome outcome = RunTask(*spec, task, env);
    const AttemptResult* r = std::get_if<AttemptResult>(&outcome);
    EXPECT_NE(r, nullptr) << name << ": " << std::get<AttemptError>(outcome).status.ToString();
    if (!r) return json();
    if (t.kind == "publish")
      std::erase_if(done, [](const TaskRun::Done& d) { return d.kind == "publish"; });
    if (t.kind != "stitch") done.push_back({t.kind, t.ordinal, r->result});
    return r->result;
  };
  const fs::path live = dir / "live";

  EXPECT_EQ(run("publish0")["chunks"], 0) << "nothing done yet: nothing published";
  EXPECT_FALSE(fs::exists(live));
  run("chunk0");
  json turn = run("publish0");
  EXPECT_EQ(turn["chunks"], 1);
  EXPECT_EQ(turn["audio"], false);
  EXPECT_EQ(turn["segments"], 2) << "chunk 0: two 6 s segments";
  std::map<std::string, std::string> files = Files(live);
  EXPECT_FALSE(files.count("master.m3u8")) << "no master before the audio";
  std::string video;
  for (const auto& [name, bytes] : files)
    if (name.size() > 11 && name.substr(name.size() - 11) == "/index.m3u8") video = name;
  ASSERT_FALSE(video.empty());
  EXPECT_NE(files[video].find("#EXT-X-PLAYLIST-TYPE:EVENT"), std::string::npos) << files[video];
  EXPECT_EQ(files[video].find("#EXT-X-ENDLIST"), std::string::npos);
  EXPECT_EQ(Segments(files[video]), 2);

  run("audio0");
  turn = run("publish0");
  EXPECT_EQ(turn["audio"], true);
  files = Files(live);
  ASSERT_TRUE(files.count("master.m3u8"));
  EXPECT_EQ(files["master.m3u8"].find("I-FRAME"), std::string::npos) << files["master.m3u8"];
  EXPECT_NE(files["master.m3u8"].find("audio/index.m3u8"), std::string::npos);
  EXPECT_NE(files["audio/index.m3u8"].find("#EXT-X-PLAYLIST-TYPE:EVENT"), std::string::npos);

  // Chunk 2 before chunk 1: nothing new to publish until chunk 1 is there.
  run("chunk2");
  EXPECT_EQ(run("publish0")["chunks"], 1);
  EXPECT_TRUE(Files(live) == files) << "an idle turn writes nothing";
  run("chunk1");
  EXPECT_EQ(run("publish0")["chunks"], 1) << "every chunk done: the stitch publishes the rest";

  // The stitch: every published segment is written again with the same bytes, the playlists
  // become VOD with ENDLIST.
  run("stitch0");
  std::map<std::string, std::string> stitched = Files(live);
  for (const auto& [name, bytes] : files) {
    ASSERT_TRUE(stitched.count(name)) << name;
    if (name.find(".m3u8") == std::string::npos) {
      EXPECT_TRUE(stitched[name] == bytes) << name << " changed";
    }
  }
  EXPECT_NE(stitched[video].find("#EXT-X-ENDLIST"), std::string::npos);
  EXPECT_NE(stitched[video].find("#EXT-X-PLAYLIST-TYPE:VOD"), std::string::npos);
  EXPECT_GT(Segments(stitched[video]), 2);
}

}  // namespace
}  // namespace reel::attempt
