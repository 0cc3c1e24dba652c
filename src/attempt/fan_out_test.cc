// The fan-out decision and the tasks of a chunked job, in process on local files: the tasks a
// worker pool would lease, run here one after the other, make the package an unchunked run makes.
#include "attempt/fan_out.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <vector>

#include "testing/media_fixtures.h"
#include "testing/package_check.h"

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

// A DASH+HLS package and a thumbnail of `source` under `dir`.
json PackageJob(const std::string& source, const std::string& dir) {
  return {{"source", source},
          {"outputs",
           {{{"kind", "dash"}, {"ladder", "default"}, {"destination", dir + "/pkg/"}},
            {{"kind", "thumbnail"}, {"destination", dir + "/thumb.jpg"}}}}};
}

// Every media playlist of a package: its EXTINF and segment lines, by rendition folder.
std::map<std::string, std::string> Playlists(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!fs::exists(e.path() / "index.m3u8")) continue;
    std::ifstream in(e.path() / "index.m3u8");
    std::string lines;
    for (std::string line; std::getline(in, line);)
      if (line.rfind("#EXTINF", 0) == 0 || (!line.empty() && line[0] != '#')) lines += line + "\n";
    out[e.path().filename().string()] = lines;
  }
  return out;
}

Result<std::optional<FanOutMessage>> Decide(const json& document, FanOutPolicy policy,
                                            const engine::TranscodeOptions& options = {}) {
  job::JobSpec spec = Spec(document);
  Result<AttemptPlan> plan = MakePlan(spec, [](const std::string& url, const std::string& field,
                                               Role) { return LocalPath(url, field); });
  if (!plan.ok()) return plan.status();
  policy.allowed = true;
  return DecideFanOut(spec, *plan, policy, options);
}

TEST(FanOut, TheDecisionFollowsTheSpecTheSourceAndTheLiveSlots) {
  TempDir dir;
  std::string source = testing::Clip(320, 240, 25, 30);
  json job = PackageJob(source, dir.path());
  FanOutPolicy policy;
  policy.chunk_seconds = 10;
  policy.min_seconds = 20;
  policy.live_slots = 2;
  // auto: a source longer than min_seconds, with another slot alive.
  Result<std::optional<FanOutMessage>> decided = Decide(job, policy);
  ASSERT_TRUE(decided.ok()) << decided.status().ToString();
  ASSERT_TRUE(decided->has_value());
  std::map<std::string, int> kinds;
  double chunk_weight = 0;
  for (const PlannedTask& t : (*decided)->tasks) {
    ++kinds[t.kind];
    if (t.kind == "chunk") chunk_weight += t.weight;
  }
  // 6 s segments, 10 s asked: chunks of two segments (0-12, 12-24, 24-25).
  EXPECT_EQ(kinds,
            (std::map<std::string, int>{{"audio", 1}, {"chunk", 3}, {"main", 1}, {"stitch", 1}}));
  EXPECT_GT(chunk_weight, 25) << "weights are the seconds encoded, lead and tail GOPs included";

  FanOutPolicy lone = policy;
  lone.live_slots = 1;
  EXPECT_FALSE(Decide(job, lone)->has_value()) << "auto with one slot alive";
  FanOutPolicy longer = policy;
  longer.min_seconds = 180;
  EXPECT_FALSE(Decide(job, longer)->has_value()) << "auto on a short source";
  json off = job;
  off["chunking"] = "off";
  EXPECT_FALSE(Decide(off, policy)->has_value());
  json asked = job;
  asked["chunking"] = {{"seconds", 12}};
  Result<std::optional<FanOutMessage>> forced = Decide(asked, longer);
  ASSERT_TRUE(forced.ok() && forced->has_value()) << "asked for: the server's gate is not asked";
  json only_files = {{"source", source},
                     {"chunking", {{"seconds", 10}}},
                     {"outputs", {{{"kind", "mp4"}, {"destination", dir / "a.mp4"}}}}};
  EXPECT_FALSE(Decide(only_files, policy)->has_value()) << "no package: nothing to split";
  // A refusal says why; the job then runs unchunked.
  json joined = asked;
  joined.erase("source");
  joined["sources"] = {source, source};
  Result<std::optional<FanOutMessage>> refused = Decide(joined, policy);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("joining several sources"), std::string::npos);
  // So is a source whose clock jumps (a chunk would seek by timestamps that mislead).
  json jumping = asked;
  jumping["source"] = testing::ClockJumpTsSource(3600);
  Result<std::optional<FanOutMessage>> unseekable = Decide(jumping, policy);
  ASSERT_FALSE(unseekable.ok());
  EXPECT_NE(unseekable.status().message().find("the source's clock jumps"), std::string::npos)
      << unseekable.status().ToString();
  // A source over --max-source-duration is not fanned out: the unchunked run fails it, saying so.
  engine::TranscodeOptions limited;
  limited.max_source_duration = 20;
  Result<std::optional<FanOutMessage>> too_long = Decide(asked, policy, limited);
  ASSERT_TRUE(too_long.ok()) << too_long.status().ToString();
  EXPECT_FALSE(too_long->has_value());
}

TEST(FanOut, TheTasksMakeThePackageAnUnchunkedRunMakesAndNeverShareAFolder) {
  TempDir dir;
  std::string source = testing::Clip(320, 240, 35, 30);
  AttemptOutcome whole = attempt::Run(Spec(PackageJob(source, dir / "whole")), Environment{});
  ASSERT_TRUE(std::holds_alternative<AttemptResult>(whole));

  json document = PackageJob(source, dir / "chunked");
  document["chunking"] = {{"seconds", 10}};
  document["metadata"] = {{"media_id", "m-7"}};
  job::JobSpec spec = Spec(document);
  Environment env;
  env.threads = 2;
  env.fan_out.allowed = true;
  env.staging = dir / "staging/job_x";
  AttemptOutcome first = attempt::Run(spec, env);
  const FanOutMessage* fan_out = std::get_if<FanOutMessage>(&first);
  ASSERT_NE(fan_out, nullptr) << "chunking asked for: the attempt fans out";
  EXPECT_FALSE(fs::exists(dir / "chunked")) << "the deciding attempt encodes nothing";
  // Each task is told the source's clock was found steady, so none reads it through again.
  for (const PlannedTask& t : fan_out->tasks)
    EXPECT_EQ(t.payload.value("steady_clock", json()),
              json({{"file", engine::FileFingerprint(source)}}))
        << t.kind;

  // Every task but the stitch, as workers would run them; chunk 1 twice (a first attempt that
  // lost its lease and a second): each attempt writes its own folder.
  TaskRun stitch;
  std::vector<TaskRun::Done> results;
  for (const PlannedTask& t : fan_out->tasks) {
    TaskRun run{"task_" + t.kind + std::to_string(t.ordinal), t.kind, t.ordinal, 1, t.payload, {}};
    if (t.kind == "stitch") {
      stitch = run;
      continue;
    }
    AttemptOutcome done = RunTask(spec, run, env);
    if (t.kind == "chunk" && t.ordinal == 1) {
      run.attempt = 2;
      done = RunTask(spec, run, env);
    }
    const AttemptResult* r = std::get_if<AttemptResult>(&done);
    ASSERT_NE(r, nullptr) << t.kind << ": " << std::get<AttemptError>(done).status.ToString();
    results.push_back({t.kind, t.ordinal, r->result});
  }
  EXPECT_TRUE(fs::exists(dir / "staging/job_x/chunk-1.a1/chunk-00001"));
  EXPECT_TRUE(fs::exists(dir / "staging/job_x/chunk-1.a2/chunk-00001"));
  EXPECT_TRUE(fs::exists(dir / "chunked/thumb.jpg")) << "main delivers its outputs itself";
  // The stitch reads what the results name: the second attempt's chunk 1 only. Spoil the first
  // to show it is not read.
  for (const auto& e : fs::recursive_directory_iterator(dir / "staging/job_x/chunk-1.a1"))
    if (e.is_regular_file()) fs::resize_file(e.path(), 0);
  stitch.results = results;
  env.scratch = dir / "scratch";
  fs::create_directories(env.scratch);
  AttemptOutcome stitched = RunTask(spec, stitch, env);
  const AttemptResult* r = std::get_if<AttemptResult>(&stitched);
  ASSERT_NE(r, nullptr) << std::get<AttemptError>(stitched).status.ToString();

  const json& result = r->result;
  ASSERT_EQ(result["outputs"].size(), 2u) << result.dump();
  EXPECT_EQ(result["outputs"][0]["kind"], "dash");
  EXPECT_EQ(result["outputs"][1]["kind"], "thumbnail");
  EXPECT_EQ(result["metadata"]["media_id"], "m-7");
  EXPECT_EQ(result["chunking"]["chunks"], 3);
  EXPECT_NEAR(result["source_duration"].get<double>(), 35, 0.1);
  EXPECT_TRUE(fs::exists(dir / "staging/job_x")) << "kept until the job's end is recorded";

  testing::PackageReport report = testing::CheckPackage(dir / "chunked/pkg");
  EXPECT_TRUE(report.ok()) << report.Describe();
  std::map<std::string, std::string> want = Playlists(dir / "whole/pkg");
  EXPECT_GE(want.size(), 2u);
  EXPECT_EQ(Playlists(dir / "chunked/pkg"), want) << "segments and their durations";
  EXPECT_EQ(testing::ReadMedia(dir / "chunked/thumb.jpg").Find("video")->width,
            testing::ReadMedia(dir / "whole/thumb.jpg").Find("video")->width);

  // A stitch that dies after writing is run again over the same staging: the same files.
  std::map<std::string, std::string> first_files;
  for (const auto& e : fs::recursive_directory_iterator(dir / "chunked/pkg"))
    if (e.is_regular_file()) first_files[e.path().string()] = testing::ReadFile(e.path());
  fs::remove_all(dir / "chunked/pkg/manifest.mpd");
  AttemptOutcome again = RunTask(spec, stitch, env);
  ASSERT_TRUE(std::holds_alternative<AttemptResult>(again));
  std::map<std::string, std::string> second_files;
  for (const auto& e : fs::recursive_directory_iterator(dir / "chunked/pkg"))
    if (e.is_regular_file()) second_files[e.path().string()] = testing::ReadFile(e.path());
  EXPECT_TRUE(first_files == second_files) << "a re-run stitch writes the same files";
}

// An MP4 beside a package is encoded by the chunks (its video) and the audio task (its audio),
// not by `main`, and the stitch remuxes it into the file an unchunked run delivers.
TEST(FanOut, AnMp4BesideAPackageIsChunkedAndStitched) {
  TempDir dir;
  std::string source = testing::Clip(320, 240, 25, 30);  // 12 s chunks: 0, 12 and 24 s
  json document = {{"source", source},
                   {"chunking", {{"seconds", 10}}},
                   {"outputs",
                    {{{"kind", "hls"}, {"ladder", "mobile"}, {"destination", dir / "out/pkg/"}},
                     {{"kind", "mp4"}, {"destination", dir / "out/film.mp4"}}}}};
  job::JobSpec spec = Spec(document);
  Environment env;
  env.threads = 2;
  env.fan_out.allowed = true;
  env.staging = dir / "staging/job_m";
  env.scratch = dir / "scratch";
  fs::create_directories(env.scratch);
  AttemptOutcome first = attempt::Run(spec, env);
  const FanOutMessage* fan_out = std::get_if<FanOutMessage>(&first);
  ASSERT_NE(fan_out, nullptr);
  std::map<std::string, int> kinds;
  for (const PlannedTask& t : fan_out->tasks) ++kinds[t.kind];
  EXPECT_EQ(kinds, (std::map<std::string, int>{{"audio", 1}, {"chunk", 3}, {"stitch", 1}}))
      << "no main: the MP4 is in the chunks";

  TaskRun stitch;
  std::vector<TaskRun::Done> results;
  for (const PlannedTask& t : fan_out->tasks) {
    TaskRun run{"task_" + t.kind + std::to_string(t.ordinal), t.kind, t.ordinal, 1, t.payload, {}};
    if (t.kind == "stitch") {
      stitch = run;
      continue;
    }
    AttemptOutcome done = RunTask(spec, run, env);
    const AttemptResult* r = std::get_if<AttemptResult>(&done);
    ASSERT_NE(r, nullptr) << t.kind << ": " << std::get<AttemptError>(done).status.ToString();
    results.push_back({t.kind, t.ordinal, r->result});
  }
  EXPECT_FALSE(fs::exists(dir / "out/film.mp4")) << "written by the stitch only";
  stitch.results = results;
  AttemptOutcome stitched = RunTask(spec, stitch, env);
  const AttemptResult* r = std::get_if<AttemptResult>(&stitched);
  ASSERT_NE(r, nullptr) << std::get<AttemptError>(stitched).status.ToString();
  const json& result = r->result;
  ASSERT_EQ(result["outputs"].size(), 2u) << result.dump();
  EXPECT_EQ(result["outputs"][0]["kind"], "hls");
  const json& mp4 = result["outputs"][1];
  EXPECT_EQ(mp4["kind"], "mp4") << result.dump();
  EXPECT_EQ(mp4["video_codec"], "h264");
  EXPECT_EQ(mp4["audio_codec"], "aac");
  EXPECT_NEAR(mp4.value("duration", 0.0), 25, 0.05);
  EXPECT_GT(mp4.value("bytes", 0), 0);
  testing::MediaSummary film = testing::ReadMedia(dir / "out/film.mp4");
  ASSERT_NE(film.Find("video"), nullptr);
  ASSERT_NE(film.Find("audio"), nullptr);
  EXPECT_EQ(film.Find("video")->packets, testing::ReadMedia(source).Find("video")->packets);
}

// A job is cut into at most policy.max_chunks chunks (kMaxChunks, 256, in a server): longer
// chunks than asked, whether the spec named a length or left it to the server, each still a
// whole number of segments; the stitch's payload says the length used.
TEST(FanOut, TheChunkCountIsCappedByLongerChunks) {
  std::string source = testing::Clip(320, 240, 25, 30);
  TempDir dir;
  FanOutPolicy policy;
  policy.chunk_seconds = 6;  // one 6 s segment a chunk: five chunks
  policy.min_seconds = 20;
  policy.live_slots = 2;
  auto chunks = [](const Result<std::optional<FanOutMessage>>& decided, double* seconds) {
    int n = 0;
    if (!decided.ok() || !decided->has_value()) return -1;
    for (const PlannedTask& t : (*decided)->tasks) {
      n += t.kind == "chunk";
      if (t.kind == "stitch") *seconds = t.payload.value("chunk_seconds", 0.0);
    }
    return n;
  };
  double seconds = 0;
  EXPECT_EQ(chunks(Decide(PackageJob(source, dir.path()), policy), &seconds), 5);
  EXPECT_EQ(seconds, 6);
  EXPECT_EQ(kMaxChunks, 256);
  policy.max_chunks = 2;
  EXPECT_EQ(chunks(Decide(PackageJob(source, dir.path()), policy), &seconds), 2);
  EXPECT_EQ(seconds, 18) << "three segments a chunk: 0-18 s, 18-25 s";
  json asked = PackageJob(source, dir.path());
  asked["chunking"] = {{"seconds", 10}};  // two segments a chunk: three chunks, over the cap
  EXPECT_EQ(chunks(Decide(asked, policy), &seconds), 2);
  EXPECT_EQ(seconds, 18);
}

}  // namespace
// A per-title ladder is analysed once, by the attempt that fans out, reporting its progress:
// every chunk's payload carries the same choice, equal to what an unchunked run chooses, and the
// chunks encode what the payload says (a choice edited in the payload is what the stitched
// package has), never analysing again.
TEST(FanOut, PerTitleIsChosenOnceAndEveryChunkEncodesThatChoice) {
  TempDir dir;
  std::string source = testing::Clip(320, 240, 25, 30, false);
  auto job = [&](const std::string& out) {
    return json{
        {"source", source},
        {"outputs",
         {{{"kind", "hls"},
           {"ladder",
            {{"rungs",
              {{{"height", 240}, {"bitrate", "900k"}}, {{"height", 180}, {"bitrate", "600k"}}}},
             {"per_title", true}}},
           {"destination", out + "/"}}}}};
  };
  Environment env;
  env.threads = 2;
  // The pre-pass reports as it goes (phase "analysis"), so that a worker does not take a long
  // one for a stall: in an unchunked run before the encode's progress, and in the attempt that
  // fans out, which encodes nothing, as its only progress.
  std::mutex mu;
  std::vector<engine::Progress> reports;
  env.progress_interval = 0;
  env.events.on_progress = [&](const engine::Progress& p) {
    std::lock_guard lock(mu);
    reports.push_back(p);
  };
  auto analysis_reported = [&](bool then_encoded) {
    std::lock_guard lock(mu);
    std::vector<double> analysis;
    size_t last_analysis = 0;
    for (size_t i = 0; i < reports.size(); ++i) {
      if (reports[i].phase.empty()) continue;
      EXPECT_EQ(reports[i].phase, "analysis");
      EXPECT_EQ(reports[i].fraction, 0) << "nothing encoded yet";
      if (!analysis.empty()) {
        EXPECT_GE(reports[i].phase_fraction, analysis.back());
      }
      analysis.push_back(reports[i].phase_fraction);
      last_analysis = i;
    }
    EXPECT_GE(analysis.size(), 3u) << "the pre-pass reported as it went";
    EXPECT_EQ(analysis.empty() ? 0 : analysis.back(), 1.0);
    EXPECT_EQ(last_analysis + 1 < reports.size(), then_encoded);
    reports.clear();
  };
  AttemptOutcome whole = attempt::Run(Spec(job(dir / "whole")), env);
  const AttemptResult* w = std::get_if<AttemptResult>(&whole);
  ASSERT_NE(w, nullptr) << std::get<AttemptError>(whole).status.ToString();
  const json& unchunked = w->result["outputs"][0]["ladder"];
  ASSERT_EQ(unchunked["rungs"].size(), 2u) << w->result.dump();
  analysis_reported(true);

  json document = job(dir / "chunked");
  document["chunking"] = {{"seconds", 10}};
  job::JobSpec spec = Spec(document);
  env.fan_out.allowed = true;
  env.staging = dir / "staging/job_p";
  AttemptOutcome first = attempt::Run(spec, env);
  FanOutMessage* fan_out = std::get_if<FanOutMessage>(&first);
  ASSERT_NE(fan_out, nullptr);
  analysis_reported(false);
  env.events.on_progress = nullptr;
  json choice;
  int chunks = 0;
  for (const PlannedTask& t : fan_out->tasks) {
    if (t.kind != "chunk") continue;
    ++chunks;
    ASSERT_TRUE(t.payload.contains("per_title")) << t.payload.dump();
    if (choice.is_null()) choice = t.payload["per_title"]["0"];
    EXPECT_EQ(t.payload["per_title"]["0"], choice) << "chunk " << t.ordinal;
  }
  EXPECT_EQ(chunks, 3);
  ASSERT_EQ(choice["rungs"].size(), 2u) << choice.dump();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(choice["rungs"][i]["name"], unchunked["rungs"][i]["name"]);
    EXPECT_EQ(choice["rungs"][i]["chosen"], unchunked["rungs"][i]["bitrate"]) << i;
    EXPECT_EQ(choice["rungs"][i]["dropped"], unchunked["rungs"][i]["dropped"]) << i;
    EXPECT_LT(choice["rungs"][i]["chosen"].get<int64_t>(),
              choice["rungs"][i]["nominal"].get<int64_t>())
        << "an easy picture: the analysis lowered the rate";
  }

  // Edit the choice in every chunk's payload: the 240p rung dropped, a recognisable analysis
  // time. A chunk that analysed again would encode both rungs.
  json edited = choice;
  edited["rungs"][0]["dropped"] = true;
  edited["rungs"][0]["why"] = "edited by the test";
  edited["analysis_seconds"] = 1234.5;
  TaskRun stitch;
  std::vector<TaskRun::Done> results;
  for (PlannedTask& t : fan_out->tasks) {
    if (t.kind == "chunk") t.payload["per_title"]["0"] = edited;
    TaskRun run{"task_" + t.kind + std::to_string(t.ordinal), t.kind, t.ordinal, 1, t.payload, {}};
    if (t.kind == "stitch") {
      stitch = run;
      continue;
    }
    AttemptOutcome done = RunTask(spec, run, env);
    const AttemptResult* r = std::get_if<AttemptResult>(&done);
    ASSERT_NE(r, nullptr) << t.kind << ": " << std::get<AttemptError>(done).status.ToString();
    results.push_back({t.kind, t.ordinal, r->result});
  }
  stitch.results = results;
  env.scratch = dir / "scratch";
  fs::create_directories(env.scratch);
  AttemptOutcome stitched = RunTask(spec, stitch, env);
  const AttemptResult* r = std::get_if<AttemptResult>(&stitched);
  ASSERT_NE(r, nullptr) << std::get<AttemptError>(stitched).status.ToString();
  const json& out = r->result["outputs"][0];
  EXPECT_EQ(out["ladder"]["analysis_seconds"], 1234.5) << "the payload's choice, not a new one";
  EXPECT_EQ(out["ladder"]["rungs"][0]["dropped"], true);
  EXPECT_EQ(out["ladder"]["rungs"][1]["bitrate"], choice["rungs"][1]["chosen"]);
  ASSERT_EQ(out["variants"].size(), 1u) << out.dump();
  EXPECT_EQ(out["variants"][0]["name"], "180p");
  EXPECT_EQ(Playlists(dir / "chunked").size(), 1u);
}

}  // namespace reel::attempt
