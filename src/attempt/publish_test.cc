// Progressive publishing in process on local files (publish.h): the turns a job's publisher
// takes as its chunks complete, out of order, publish the chunks done in order from the first as
// EVENT playlists, the master once the audio is there, and segments the stitch then writes
// again byte for byte.
#include "attempt/publish.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <map>

#include "attempt/fan_out.h"
#include "testing/media_fixtures.h"
#include "testing/s3_server.h"

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

// The tasks a job fanned out into, run in process one at a time as workers would run them:
// each is given the results of those done before it (a publisher, its own last turn's).
class Tasks {
 public:
  Tasks(const job::JobSpec& spec, const Environment& env, const FanOutMessage& fan_out)
      : spec_(spec), env_(env) {
    for (const PlannedTask& t : fan_out.tasks) planned_[t.kind + std::to_string(t.ordinal)] = t;
  }
  int Count(const std::string& kind) const {
    int n = 0;
    for (const auto& [name, t] : planned_) n += t.kind == kind;
    return n;
  }
  // Runs task `name` ("chunk3"): its result, or null when it failed (a test failure).
  json Run(const std::string& name) {
    const PlannedTask& t = planned_[name];
    TaskRun task{"task_" + name, t.kind, t.ordinal, 1, t.payload, done_};
    AttemptOutcome outcome = RunTask(spec_, task, env_);
    const AttemptResult* r = std::get_if<AttemptResult>(&outcome);
    EXPECT_NE(r, nullptr) << name << ": " << std::get<AttemptError>(outcome).status.ToString();
    if (!r) return json();
    if (t.kind == "publish")
      std::erase_if(done_, [](const TaskRun::Done& d) { return d.kind == "publish"; });
    if (t.kind != "stitch") done_.push_back({t.kind, t.ordinal, r->result});
    return r->result;
  }

 private:
  const job::JobSpec& spec_;
  const Environment& env_;
  std::map<std::string, PlannedTask> planned_;
  std::vector<TaskRun::Done> done_;
};

// A job of one progressive HLS output of `ladder` into `dir`/live/, in 10 s chunks, and an
// environment that may fan it out (its scratch in `dir`); the staging is the caller's.
job::JobSpec ProgressiveJob(const TempDir& dir, const std::string& source, const json& ladder,
                            Environment* env) {
  json document = {{"source", source},
                   {"chunking", {{"seconds", 10}}},
                   {"outputs",
                    {{{"kind", "hls"},
                      {"ladder", ladder},
                      {"publish", "progressive"},
                      {"destination", dir / "live/"}}}}};
  Result<job::JobSpec> spec = job::ParseJobSpec(document);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  env->threads = 2;
  env->fan_out.allowed = true;
  env->scratch = dir / "scratch";
  fs::create_directories(env->scratch);
  return spec.ok() ? *spec : job::JobSpec{};
}

TEST(Publish, TurnsPublishTheChunksDoneInOrderAndTheStitchKeepsTheirBytes) {
  TempDir dir;
  Environment env;
  const job::JobSpec spec = ProgressiveJob(dir, testing::Clip(320, 240, 35, 30), "default", &env);
  env.staging = dir / "staging/job_p";
  AttemptOutcome first = attempt::Run(spec, env);
  const FanOutMessage* fan_out = std::get_if<FanOutMessage>(&first);
  ASSERT_NE(fan_out, nullptr);
  // The publisher, then the audio (the master waits for it), then the chunks in order.
  ASSERT_GE(fan_out->tasks.size(), 6u);
  EXPECT_EQ(fan_out->tasks[0].kind, "publish");
  EXPECT_EQ(fan_out->tasks[0].payload["outputs"], json::array({0}));
  EXPECT_EQ(fan_out->tasks[1].kind, "audio");
  EXPECT_EQ(fan_out->tasks[2].kind, "chunk");
  EXPECT_EQ(fan_out->tasks[2].ordinal, 0);

  Tasks tasks(spec, env, *fan_out);
  auto run = [&](const std::string& name) { return tasks.Run(name); };
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

// Every file under `dir` by its relative path, with its inode and modification time: a file
// written again (even in place, to the same bytes) shows as changed. `linked`: the change time
// instead, for built files, which may be hard links to the fetched ones
// (engine::stitch_parts::PlaceFile): a rebuild links them again, changing the inode's ctime only.
using Stamps = std::map<std::string, std::pair<ino_t, int64_t>>;
Stamps StampsOf(const fs::path& dir, bool linked = false) {
  Stamps out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    struct stat st;
    if (!e.is_regular_file() || ::stat(e.path().c_str(), &st) != 0) continue;
    out[fs::relative(e.path(), dir).generic_string()] = {
        st.st_ino, linked ? int64_t(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec
                          : int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  }
  return out;
}
// Without the playlists, which every turn writes again.
Stamps MediaOf(const fs::path& dir) {
  Stamps out = StampsOf(dir, true);
  std::erase_if(out, [](const auto& e) { return e.first.ends_with(".m3u8"); });
  return out;
}
int Changed(const Stamps& before, const Stamps& after) {
  int n = 0;
  for (const auto& [name, stamp] : after) n += !before.count(name) || before.at(name) != stamp;
  return n;
}

// A long job's publisher works in proportion to what is new (publish.h): with an S3 staging,
// each turn downloads only the newly done chunk's folder, builds only its segments and delivers
// only them and the grown playlists, however many chunks were published before it. On another
// host (no cache) a turn fetches what it needs and still delivers only what is new; back on the
// first host, it fetches only what that host lacks. The files published are the stitch's bytes.
TEST(Publish, EachTurnFetchesBuildsAndDeliversOnlyTheNewChunk) {
  TempDir dir;
  testing::S3Server s3(dir / "s3");
  Environment env;
  const job::JobSpec spec = ProgressiveJob(dir, testing::Clip(160, 120, 110, 30),
                                           {{{"height", 120}, {"bitrate", "150k"}}}, &env);
  env.staging = "s3://media/staging/job_p/";
  storage::S3Profile profile;
  profile.endpoint = s3.endpoint();
  profile.access_key = profile.secret_key = "S3RVER";
  env.staging_profiles = {{"default", profile}};
  const fs::path host1 = dir / "host1", host2 = dir / "host2";
  env.publish_cache = host1;
  AttemptOutcome first = attempt::Run(spec, env);
  const FanOutMessage* fan_out = std::get_if<FanOutMessage>(&first);
  ASSERT_NE(fan_out, nullptr);
  Tasks tasks(spec, env, *fan_out);
  auto run = [&](const std::string& name) { return tasks.Run(name); };
  const int chunks = tasks.Count("chunk");
  ASSERT_GE(chunks, 8);
  struct Work {
    int fetched = 0, built = 0, delivered = 0;
  };
  const fs::path live = dir / "live";
  // Chunk `c` done, then a turn on `host`: what the turn downloaded, built and delivered.
  auto turn = [&](int c, const fs::path& host) {
    run("chunk" + std::to_string(c));
    env.publish_cache = host;
    const fs::path cache = host / "job_p";
    Stamps fetched = StampsOf(cache / "fetched"), built = MediaOf(cache / "out-0"),
           delivered = StampsOf(live);
    json published = run("publish0");
    EXPECT_EQ(published["chunks"], c + 1) << published.dump();
    return Work{Changed(fetched, StampsOf(cache / "fetched")),
                Changed(built, MediaOf(cache / "out-0")), Changed(delivered, StampsOf(live))};
  };
  // The files of chunk `c`'s staged folder (one attempt's), as a turn downloads them.
  auto folder_files = [&](int c) {
    return int(StampsOf(host1 / "job_p/fetched" / ("chunk-" + std::to_string(c) + ".a1")).size());
  };

  run("audio0");
  Work w0 = turn(0, host1);
  EXPECT_GT(w0.delivered, 0);
  std::vector<Work> steady;
  for (int c = 1; c <= 3; ++c) steady.push_back(turn(c, host1));
  for (int c = 1; c <= 3; ++c) {
    const Work& w = steady[c - 1];
    SCOPED_TRACE("turn of chunk " + std::to_string(c));
    EXPECT_EQ(w.fetched, folder_files(c)) << "only the new chunk's folder is downloaded";
    EXPECT_EQ(w.built, steady[0].built) << "only the new chunk's segments are built";
    EXPECT_EQ(w.delivered, steady[0].delivered) << "its segments and the grown playlist";
  }
  EXPECT_GT(steady[0].fetched, 0);
  EXPECT_GT(steady[0].built, 0);
  EXPECT_EQ(steady[0].delivered, steady[0].built + 1) << "its segments and the video playlist";

  // Another host, with nothing kept: it downloads every folder it needs (the five chunks and
  // the audio), and still delivers only the new chunk's files and the playlist.
  Work moved = turn(4, host2);
  EXPECT_EQ(moved.fetched, int(StampsOf(host2 / "job_p/fetched").size()));
  EXPECT_GT(moved.fetched, 5 * steady[0].fetched);
  EXPECT_EQ(moved.delivered, steady[0].delivered);
  // Back on the first host, behind by one chunk: it downloads the two it lacks.
  Work back = turn(5, host1);
  EXPECT_EQ(back.fetched, folder_files(4) + folder_files(5));
  EXPECT_EQ(back.built, 2 * steady[0].built);
  EXPECT_EQ(back.delivered, steady[0].delivered);
  // A turn killed while building leaves no record of what the folder holds: the next one
  // builds it anew from what the host has, downloading nothing.
  fs::remove(host1 / "job_p/out-0.json");
  Work rebuilt = turn(6, host1);
  EXPECT_EQ(rebuilt.fetched, folder_files(6));
  EXPECT_GT(rebuilt.built, 6 * steady[0].built);
  EXPECT_EQ(rebuilt.delivered, steady[0].delivered);

  std::cout << "files per turn (fetched/built/delivered): chunks 1-3";
  for (const Work& w : steady)
    std::cout << " " << w.fetched << "/" << w.built << "/" << w.delivered;
  std::cout << "; another host " << moved.fetched << "/" << moved.built << "/" << moved.delivered
            << "; back " << back.fetched << "/" << back.built << "/" << back.delivered
            << "; rebuilt " << rebuilt.fetched << "/" << rebuilt.built << "/" << rebuilt.delivered
            << "\n";

  // Every segment published early is the stitch's, byte for byte: the fragments were numbered
  // on across turns and hosts as over the whole rendition.
  std::map<std::string, std::string> published = Files(live);
  for (int c = 7; c < chunks; ++c) run("chunk" + std::to_string(c));
  run("stitch0");
  std::map<std::string, std::string> stitched = Files(live);
  int segments = 0;
  for (const auto& [name, bytes] : published) {
    if (name.find(".m3u8") != std::string::npos) continue;
    ++segments;
    ASSERT_TRUE(stitched.count(name)) << name;
    EXPECT_TRUE(stitched[name] == bytes) << name << " changed";
  }
  EXPECT_GT(segments, 7);
}

// A worker's child (remote mode) delivers each turn's files into the local destination as it
// resolves then: a rendition folder that someone who may write the destination made a link to a
// folder outside the allowed paths is refused, and nothing is written through it.
TEST(Publish, ALinkOutOfTheAllowedPathsInsideTheDestinationIsNotWrittenThrough) {
  TempDir dir, outside;
  fs::create_directories(dir / "media");
  fs::copy_file(testing::Clip(160, 120, 25, 30), dir / "media/source.mp4");
  std::string folder;  // the rendition's folder, as a first, untouched job publishes it
  for (bool planted : {false, true}) {
    TempDir run_dir;
    Environment env;
    const job::JobSpec spec = ProgressiveJob(run_dir, dir / "media/source.mp4",
                                             {{{"height", 120}, {"bitrate", "150k"}}}, &env);
    env.remote = true;
    env.storage.allow_paths = {dir / "media", run_dir.path()};
    env.staging = run_dir / "staging/job_p";
    const fs::path live = run_dir / "live";
    if (planted) {
      fs::create_directories(live);
      fs::create_directory_symlink(outside.path(), live / folder);
    }
    AttemptOutcome first = attempt::Run(spec, env);
    const FanOutMessage* fan_out = std::get_if<FanOutMessage>(&first);
    ASSERT_NE(fan_out, nullptr);
    std::vector<TaskRun::Done> done;
    for (const PlannedTask& t : fan_out->tasks) {
      if (t.kind != "chunk" || t.ordinal != 0) continue;
      AttemptOutcome chunk = RunTask(spec, {"task_chunk0", t.kind, 0, 1, t.payload, {}}, env);
      ASSERT_TRUE(std::holds_alternative<AttemptResult>(chunk));
      done.push_back({t.kind, 0, std::get<AttemptResult>(chunk).result});
    }
    const PlannedTask& publisher = fan_out->tasks[0];
    ASSERT_EQ(publisher.kind, "publish");
    AttemptOutcome turn =
        RunTask(spec, {"task_publish0", "publish", 0, 1, publisher.payload, done}, env);
    if (!planted) {
      ASSERT_TRUE(std::holds_alternative<AttemptResult>(turn));
      for (const auto& e : fs::directory_iterator(live))
        if (e.is_directory()) folder = e.path().filename().string();
      ASSERT_FALSE(folder.empty());
      EXPECT_TRUE(fs::exists(live / folder / "index.m3u8"));
      continue;
    }
    const AttemptError* refused = std::get_if<AttemptError>(&turn);
    ASSERT_NE(refused, nullptr) << "a turn delivered through the link";
    EXPECT_NE(refused->status.message().find("outside the allowed paths"), std::string::npos)
        << refused->status.ToString();
    EXPECT_TRUE(fs::is_empty(outside.path())) << "written through the link";
  }
}

}  // namespace
}  // namespace reel::attempt
