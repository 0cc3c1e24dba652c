// The reel binary as a user runs it: exit codes, one-line errors, signals, job files.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "storage/test_server.h"
#include "testing/media_fixtures.h"

namespace reel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CommandResult;
using testing::RunCommand;
using testing::TempDir;

CommandResult Reel(std::vector<std::string> args) {
  args.insert(args.begin(), testing::ReelBinary());
  return RunCommand(args);
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// One line, "reel: error: ...", mentioning `what`, and a failing exit code.
void ExpectOneLineError(const CommandResult& r, const std::string& what) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.stdout_text.empty()) << r.stdout_text;
  EXPECT_EQ(r.output.rfind("reel: error: ", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find(what), std::string::npos) << r.output;
}

TEST(Cli, ProbePrintsJson) {
  CommandResult r = Reel({"probe", testing::Clip(640, 360, 2, 30)});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json j = json::parse(r.stdout_text);
  EXPECT_EQ(j["streams"][0]["codec"], "h264");
  EXPECT_EQ(j["streams"][0]["width"], 640);
  EXPECT_EQ(j["streams"][1]["sample_rate"], 48000);
  // idet's verdict over the first frames beside the declared field order.
  EXPECT_EQ(j["streams"][0]["idet"]["verdict"], "progressive") << r.stdout_text;
  EXPECT_GT(j["streams"][0]["idet"]["frames"].get<int>(), 0);
}

TEST(Cli, PresetsListsEveryPresetAndTheLadder) {
  CommandResult r = Reel({"presets"});
  ASSERT_EQ(r.exit_code, 0);
  for (const char* name :
       {"h264-1080p", "h264-720p", "h264-480p", "h264-360p", "hevc-1080p", "vp9-720p", "default"})
    EXPECT_NE(r.output.find(name), std::string::npos) << name;
  CommandResult j = Reel({"presets", "--json"});
  ASSERT_EQ(j.exit_code, 0);
  json parsed = json::parse(j.stdout_text);
  EXPECT_EQ(parsed["presets"].size(), 6u);
  EXPECT_EQ(parsed["ladders"][0]["rungs"].size(), 4u);
  for (const char* ladder : {"mobile", "uhd", "hevc", "av1"})
    EXPECT_NE(r.output.find(ladder), std::string::npos) << ladder;
}

TEST(Cli, PresetsFileAddsLaddersAndItsErrorsGiveTheLine) {
  TempDir dir;
  std::string good = dir / "presets.json";
  testing::WriteFile(good, R"({"ladders": {"phone": [
      {"height": 240, "bitrate": "300k"},
      {"height": 240, "bitrate": "200k", "codec": "av1", "speed": 12}]}})");
  CommandResult listed = Reel({"presets", "--json", "--presets", good});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  json all = json::parse(listed.stdout_text);
  json phone;
  for (const json& l : all["ladders"])
    if (l["name"] == "phone") phone = l;
  ASSERT_FALSE(phone.is_null()) << listed.stdout_text;
  EXPECT_EQ(phone["codecs"], json::array({"av1", "h264"}));
  // The ladder is usable by name, and makes one H.264 and one AV1 rung.
  CommandResult run = Reel({"transcode", testing::Clip(426, 240, 1, 24), "-o", dir / "hls",
                            "--ladder", "phone", "--presets", good, "--progress", "none"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::string master = testing::ReadFile(dir / "hls/master.m3u8");
  EXPECT_NE(master.find("CODECS=\"avc1."), std::string::npos) << master;
  EXPECT_NE(master.find("CODECS=\"av01.0."), std::string::npos) << master;
  EXPECT_NE(master.find("240p-av1/index.m3u8"), std::string::npos) << master;

  std::string bad = dir / "bad.json";
  testing::WriteFile(bad,
                     "{\"ladders\": {\n  \"x\": [\n    {\"height\": 240,\n"
                     "     \"codec\": \"h266\", \"bitrate\": \"1M\"}]}}\n");
  ExpectOneLineError(Reel({"presets", "--presets", bad}), "bad.json:4: ladders.x[0].codec");
  ExpectOneLineError(
      Reel({"serve", "--presets", bad, "--data-dir", dir / "var", "--listen", "127.0.0.1:0"}),
      "bad.json:4: ladders.x[0].codec: must be h264, hevc or av1");
  // A worker without the API checks it at start too, before it takes any job.
  ExpectOneLineError(Reel({"worker", "--presets", bad, "--data-dir", dir / "var"}),
                     "bad.json:4: ladders.x[0].codec: must be h264, hevc or av1");

  // YAML, by the file's extension: the same ladder, the same checks with YAML's lines.
  std::string yaml = dir / "presets.yaml";
  testing::WriteFile(yaml, "ladders:\n  phone:\n    - {height: 240, bitrate: 300k}\n");
  CommandResult from_yaml = Reel({"presets", "--json", "--presets", yaml});
  ASSERT_EQ(from_yaml.exit_code, 0) << from_yaml.output;
  EXPECT_NE(from_yaml.stdout_text.find("\"phone\""), std::string::npos);
  testing::WriteFile(yaml, "ladders:\n  x:\n    - height: 240\n      codec: h266\n");
  ExpectOneLineError(Reel({"presets", "--presets", yaml}),
                     "presets.yaml:4: ladders.x[0].codec: must be h264, hevc or av1");
}

TEST(Cli, TranscodeToHlsPrintsTheResult) {
  TempDir out;
  CommandResult r =
      Reel({"transcode", testing::Clip(640, 360, 2, 30), "-o", out / "hls", "--ladder", "default"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json j = json::parse(r.stdout_text);
  EXPECT_EQ(j["outputs"][0]["master"], out / "hls/master.m3u8");
  EXPECT_TRUE(fs::exists(out / "hls/master.m3u8"));
  EXPECT_TRUE(fs::exists(out / "hls/360p/index.m3u8"));
}

TEST(Cli, ProgressJsonLines) {
  TempDir out;
  CommandResult r = Reel({"transcode", testing::Clip(640, 360, 2, 30), "-o", out / "a.mp4",
                          "--preset", "h264-360p", "--progress", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.stdout_text);
  std::vector<json> events;
  for (std::string line; std::getline(lines, line);) events.push_back(json::parse(line));
  ASSERT_GE(events.size(), 2u);
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i]["event"], "progress");
    EXPECT_TRUE(events[i].contains("fps"));
    EXPECT_TRUE(events[i].contains("speed"));
  }
  EXPECT_EQ(events[events.size() - 2]["fraction"], 1.0);
  EXPECT_EQ(events.back()["event"], "result");
  EXPECT_EQ(events.back()["outputs"][0]["height"], 360);
}

TEST(Cli, JobSpecFileWithSeveralOutputs) {
  TempDir dir;
  json spec = {{"source", {{"url", "file://" + testing::Clip(854, 480, 1, 30)}}},
               {"outputs",
                {{{"kind", "hls"}, {"destination", dir / "out/hls/"}},
                 {{"kind", "mp4"},
                  {"preset", "h264-360p"},
                  {"destination", dir / "out/small.mp4"},
                  {"audio_bitrate", "64k"}}}},
               {"metadata", {{"media_id", "m-42"}}}};
  testing::WriteFile(dir / "job.json", spec.dump());
  CommandResult r = Reel({"transcode", dir / "job.json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json result = json::parse(r.stdout_text);
  EXPECT_EQ(result["outputs"].size(), 2u);
  EXPECT_EQ(result["metadata"]["media_id"], "m-42");
  EXPECT_TRUE(fs::exists(dir / "out/hls/master.m3u8"));
  EXPECT_EQ(testing::ReadMedia(dir / "out/small.mp4").Find("video")->height, 360);
}

TEST(Cli, BadJobSpecNamesTheField) {
  TempDir dir;
  testing::WriteFile(dir / "job.json",
                     R"({"source": "x.mp4", "outputs": [{"kind": "mp4", "preset": "h264-9k",
                         "destination": "o.mp4"}]})");
  ExpectOneLineError(Reel({"transcode", dir / "job.json"}), "outputs[0].preset");
  testing::WriteFile(dir / "broken.json", "{\"source\": ");
  ExpectOneLineError(Reel({"transcode", dir / "broken.json"}), "not valid JSON");
}

TEST(Cli, BadInputsFailWithOneClearLine) {
  TempDir in, out;
  std::string clip = testing::Clip(320, 240, 1, 30);
  testing::WriteFile(in / "empty.mp4", "");
  testing::WriteFile(in / "text.mp4", std::string(3000, 'a'));
  std::string whole = testing::ReadFile(testing::Clip(640, 360, 4, 30));
  testing::WriteFile(in / "cut.mp4", whole.substr(0, whole.size() / 2));
  testing::WriteFile(out / "file", "x");

  ExpectOneLineError(Reel({"transcode", in / "missing.mp4", "-o", out / "hls"}), "missing.mp4");
  ExpectOneLineError(Reel({"transcode", in / "empty.mp4", "-o", out / "hls"}), "empty");
  ExpectOneLineError(Reel({"transcode", in / "text.mp4", "-o", out / "hls"}), "not a media file");
  ExpectOneLineError(Reel({"transcode", in / "cut.mp4", "-o", out / "hls"}), "truncated");
  ExpectOneLineError(Reel({"transcode", clip, "-o", out / "x.mp4", "--preset", "h264-8k"}),
                     "--preset: unknown preset 'h264-8k'");
  ExpectOneLineError(Reel({"transcode", clip, "-o", out / "x.mp4", "--crf", "70"}),
                     "--crf: must be between 0 and 51");
  ExpectOneLineError(Reel({"transcode", clip, "-o", out / "x.mp4", "--bitrate", "lots"}),
                     "--bitrate");
  ExpectOneLineError(Reel({"transcode", clip, "-o", out / "file/hls"}),
                     "cannot create output directory");
  ExpectOneLineError(Reel({"probe", in / "text.mp4"}), "not a media file");
  EXPECT_EQ(Entries(out.path()), std::vector<std::string>{"file"}) << "nothing left behind";
}

TEST(Cli, AnOutputTheSourceCannotGiveFailsTheRunAfterTheOthersAreWritten) {
  TempDir dir;
  json spec = {{"source", testing::Clip(320, 240, 1, 30, false)},
               {"outputs",
                {{{"kind", "thumbnail"}, {"destination", dir / "t.jpg"}},
                 {{"kind", "waveform"}, {"destination", dir / "w.json"}}}}};
  testing::WriteFile(dir / "job.json", spec.dump());
  CommandResult r = Reel({"transcode", dir / "job.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("reel: error: outputs[1] (waveform): the source has no audio stream"),
            std::string::npos)
      << r.output;
  json result = json::parse(r.stdout_text);
  EXPECT_EQ(result["outputs"][0]["kind"], "thumbnail");
  EXPECT_FALSE(result["outputs"][0].contains("error"));
  EXPECT_TRUE(fs::exists(dir / "t.jpg"));
  EXPECT_FALSE(fs::exists(dir / "w.json"));
}

// Starts a transcode long enough to be interrupted, waits until it is writing, signals it.
void ExpectSignalCancels(int signo, int expected_exit) {
  TempDir out;
  std::string src = testing::Clip(1280, 720, 13, 30);
  testing::BackgroundCommand cmd({testing::ReelBinary(), "transcode", src, "-o", out / "hls",
                                  "--progress", "json", "--threads", "1"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Entries(out.path()).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_FALSE(Entries(out.path()).empty()) << "the transcode never started writing";
  auto signalled = std::chrono::steady_clock::now();
  cmd.Signal(signo);
  CommandResult r = cmd.Wait();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  EXPECT_EQ(r.exit_code, expected_exit) << r.output;
  EXPECT_LT(seconds, 2.0) << "cancellation must be prompt";
  EXPECT_NE(r.output.find("canceled"), std::string::npos) << r.output;
  EXPECT_TRUE(Entries(out.path()).empty()) << "partial outputs must be removed";
}

// `-o a.txt` used to write an HLS folder named "a.txt".
TEST(Cli, AnOutputWithAnExtensionReelDoesNotWriteIsRefused) {
  TempDir out;
  std::string src = testing::Clip(320, 240, 1, 30);
  CommandResult r = Reel({"transcode", src, "-o", out / "a.txt"});
  ExpectOneLineError(r, ".txt");
  EXPECT_NE(r.output.find(".mp4, .m4a and .webm"), std::string::npos) << r.output;
  EXPECT_TRUE(Entries(out.path()).empty());
  ExpectOneLineError(Reel({"transcode", src, "-o", out / "a.TXT", "--preset", "h264-360p"}),
                     ".txt");
  // A folder name with a dot is a package when it ends in '/'; known extensions are files.
  ASSERT_EQ(Reel({"transcode", src, "-o", out / "v1.2/"}).exit_code, 0);
  EXPECT_TRUE(fs::exists(out / "v1.2/master.m3u8"));
  ASSERT_EQ(Reel({"transcode", src, "-o", out / "b.MP4", "--preset", "h264-360p"}).exit_code, 0);
  EXPECT_TRUE(fs::is_regular_file(out / "b.MP4"));
}

// kill -9 leaves the run's hidden staging folder; the next run to that destination removes it,
// and nothing else: not another destination's staging, not the user's files.
TEST(Cli, TheNextRunClearsTheStagingAKilledRunLeftBehind) {
  TempDir out;
  testing::BackgroundCommand killed({testing::ReelBinary(), "transcode",
                                     testing::Clip(1280, 720, 13, 30), "-o", out / "hls",
                                     "--threads", "1"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Entries(out.path()).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  killed.Signal(SIGKILL);
  killed.Wait();
  std::vector<std::string> left = Entries(out.path());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].rfind(".hls.reel-", 0), 0u) << left[0];
  fs::create_directory(out / ".other.reel-Ab12Cd");
  testing::WriteFile(out / "notes.txt", "mine");
  fs::create_directory(out / ".hls-notes");
  CommandResult r = Reel({"transcode", testing::Clip(320, 240, 1, 30), "-o", out / "hls"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("removed " + out / left[0]), std::string::npos) << r.output;
  EXPECT_EQ(Entries(out.path()),
            (std::vector<std::string>{".hls-notes", ".other.reel-Ab12Cd", "hls", "notes.txt"}));
}

// --allow-host applies to every outbound connection; the help said "webhooks".
TEST(Cli, AllowHostHelpSaysWhatItAppliesTo) {
  for (const char* command : {"serve", "worker"}) {
    CommandResult r = Reel({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("outbound connections may reach"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("that webhooks may reach"), std::string::npos) << r.output;
  }
}

// The source limits (20 GiB, 1 KiB/s over 30 s, 3 h) are flags, on every command that fetches
// sources; serve and worker pass theirs to each attempt's `reel run-job`, run here as they run it.
TEST(Cli, SourceLimitsAreFlagsThatReachTheAttempt) {
  storage::TestServer zeros([](int fd, const std::string&, const std::atomic<bool>& stopping) {
    storage::TestServer::Send(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    std::string chunk(64 << 10, '\0');  // about 6 MB/s, endless
    while (!stopping && storage::TestServer::Send(fd, chunk))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  TempDir scratch, out;
  json spec = {{"source", zeros.Url("/endless.mp4")},
               {"outputs", {{{"kind", "thumbnail"}, {"destination", out / "t.jpg"}}}}};
  testing::WriteFile(scratch / "job.json", spec.dump());
  auto run = [&](std::vector<std::string> flags) {
    std::vector<std::string> argv = {"run-job",  scratch / "job.json", "--allow-path",
                                     out.path(), "--allow-host",       "127.0.0.1"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto start = std::chrono::steady_clock::now();
    CommandResult r = Reel(argv);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 20);
    return r;
  };
  CommandResult big = run({"--max-source-size", "2MiB"});
  EXPECT_NE(big.exit_code, 0);
  EXPECT_NE(big.output.find("larger than the limit of 2097152 bytes"), std::string::npos)
      << big.output;
  EXPECT_NE(big.output.find("\"retry\":\"permanent\""), std::string::npos) << big.output;
  CommandResult late = run({"--source-deadline", "1s"});
  EXPECT_NE(late.output.find("not done within the limit of 1 seconds"), std::string::npos)
      << late.output;
  EXPECT_EQ(zeros.requests(), 2) << "neither is retried";
  // Nonsense is refused before anything starts, by every command that takes them.
  TempDir data;
  ExpectOneLineError(Reel({"serve", "--data-dir", data.path(), "--source-low-speed", "fast"}),
                     "--source-low-speed");
  ExpectOneLineError(Reel({"transcode", testing::Clip(320, 240, 1, 30), "-o", out / "a.mp4",
                           "--max-source-size", "lots"}),
                     "--max-source-size");
}

// A few kilobytes can declare a day: two pictures 50,000 s apart, which the engine would encode
// as 27.8 hours of video. Past --max-source-duration (12 h unless told) the run fails before
// encoding anything, naming both figures, and an attempt's failure is not retried.
TEST(Cli, ASourceLongerThanTheLimitFailsBeforeEncoding) {
  std::string source =
      testing::Fixture("two-pictures-a-day-apart.mp4",
                       {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=1/50000", "-frames:v", "2",
                        "-c:v", "libx264", "-video_track_timescale", "1"});
  const std::string said =
      "source: its media lasts 27.8 h (100000 s), longer than this server's limit of 12 h "
      "(--max-source-duration)";
  TempDir out, scratch;
  auto start = std::chrono::steady_clock::now();
  CommandResult r = Reel({"transcode", source, "-o", out / "a.mp4", "--progress", "none"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 20);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(said), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out / "a.mp4"));

  // A header that says less than the packets hold (the mvhd's duration set to 1 s) is caught as
  // the packets pass the limit, before the encoders get that far.
  std::string bytes = testing::ReadFile(source);
  size_t mvhd = bytes.find("mvhd");
  ASSERT_NE(mvhd, std::string::npos);
  ASSERT_EQ(bytes[mvhd + 4], 0) << "a version-0 mvhd";
  bytes.replace(mvhd + 20, 4, bytes.substr(mvhd + 16, 4));  // duration = timescale: 1 s
  testing::WriteFile(scratch / "liar.mp4", bytes);
  start = std::chrono::steady_clock::now();
  CommandResult lied =
      Reel({"transcode", scratch / "liar.mp4", "-o", out / "c.mp4", "--progress", "none"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 20);
  EXPECT_NE(lied.exit_code, 0);
  EXPECT_NE(lied.output.find("lasts 13.9 h (50000 s), longer than this server's limit of 12 h"),
            std::string::npos)
      << lied.output;

  // A worker's attempt gets the limit by flag; within it, a source is unaffected.
  auto attempt = [&](const std::string& file, const std::string& limit) {
    json spec = {{"source", file},
                 {"outputs", {{{"kind", "thumbnail"}, {"destination", out / "t.jpg"}}}}};
    testing::WriteFile(scratch / "job.json", spec.dump());
    return Reel({"run-job", scratch / "job.json", "--allow-path", out.path(), "--allow-path",
                 fs::path(file).parent_path().string(), "--max-source-duration", limit});
  };
  CommandResult refused = attempt(source, "1h");
  EXPECT_NE(refused.output.find("longer than this server's limit of 1 h"), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("\"retry\":\"permanent\""), std::string::npos) << refused.output;
  CommandResult within = attempt(testing::Clip(320, 240, 1, 30), "2s");
  EXPECT_EQ(within.exit_code, 0) << within.output;
  EXPECT_TRUE(fs::exists(out / "t.jpg"));
  ExpectOneLineError(
      Reel({"transcode", source, "-o", out / "b.mp4", "--max-source-duration", "long"}),
      "--max-source-duration");
}

TEST(Cli, SigintCancelsWithExitCode130) { ExpectSignalCancels(SIGINT, 130); }
TEST(Cli, SigtermCancelsWithExitCode143) { ExpectSignalCancels(SIGTERM, 143); }

}  // namespace
}  // namespace reel

namespace reel {
namespace {

// Jobs write inside the allowed paths; a data directory among them would let any key replace
// the live database (destination "var/reel.db"), so the server refuses to start that way.
TEST(Cli, ServeRefusesADataDirectoryInsideAnAllowedPath) {
  TempDir dir;
  std::string srv = dir / "srv", var = dir / "srv/var";
  fs::create_directories(var);
  ExpectOneLineError(
      Reel({"serve", "--allow-path", srv, "--data-dir", var, "--listen", "127.0.0.1:0"}),
      "overlap");
  ExpectOneLineError(
      Reel({"serve", "--allow-path", var, "--data-dir", srv, "--listen", "127.0.0.1:0"}),
      "overlap");
  ExpectOneLineError(Reel({"worker", "--allow-path", srv, "--data-dir", srv}), "overlap");
}

}  // namespace
}  // namespace reel

namespace reel {
namespace {

// Seed 000's lossless MP4: crf 0 is lossless H.264 (High 4:4:4 Predictive), so every decoded
// frame equals the source's.
TEST(Cli, Crf0IsLosslessH264) {
  TempDir dir;
  std::string source = testing::Clip(640, 360, 1, 30, false);
  CommandResult r = Reel({"transcode", source, "-o", dir / "lossless.mp4", "--preset", "h264-360p",
                          "--crf", "0", "--progress", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  CommandResult profile =
      RunCommand({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                  "stream=profile", "-of", "csv=p=0", dir / "lossless.mp4"});
  EXPECT_NE(profile.stdout_text.find("High 4:4:4 Predictive"), std::string::npos)
      << profile.stdout_text;
  auto frames = [](const std::string& file) {
    CommandResult md5 =
        RunCommand({"ffmpeg", "-v", "error", "-i", file, "-map", "0:v", "-f", "framemd5", "-"});
    std::string hashes;
    std::istringstream lines(md5.stdout_text);
    for (std::string line; std::getline(lines, line);)
      if (!line.empty() && line[0] != '#') hashes += line.substr(line.rfind(',') + 1) + "\n";
    return hashes;
  };
  std::string want = frames(source);
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(frames(dir / "lossless.mp4"), want);
}

}  // namespace
}  // namespace reel

namespace reel {
namespace {

// `reel ARGS` with these "NAME=value" variables, through env(1); the platform and config
// variables of the test's own environment are removed so that only the test's count.
CommandResult ReelWithEnv(const std::vector<std::string>& env,
                          const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"env", "-u", "PORT", "-u", "REEL_LISTEN", "-u", "REEL_CONFIG"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(testing::ReelBinary());
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

json PrintConfig(const std::vector<std::string>& env, const std::vector<std::string>& args) {
  CommandResult r = ReelWithEnv(env, args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  json j = json::parse(r.stdout_text, nullptr, false);
  EXPECT_TRUE(j.is_object()) << r.output;
  return j;
}

std::string Variable(const std::string& flag) {
  std::string name = "REEL_";
  for (char c : flag) name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

// Every flag `--help` lists for serve and worker is in --print-config, and each one can be set by
// its REEL_ variable (walked from the help text, so a flag added later is covered too).
TEST(Cli, EveryServiceFlagCanComeFromTheEnvironment) {
  for (const char* cmd : {"serve", "worker"}) {
    json defaults = PrintConfig({}, {cmd, "--print-config"});
    CommandResult help = Reel({cmd, "--help"});
    std::regex flag(R"(--([a-z][a-z-]*))");
    int flags = 0;
    for (std::sregex_iterator m(help.stdout_text.begin(), help.stdout_text.end(), flag), end;
         m != end; ++m) {
      std::string name = (*m)[1];
      if (name == "help" || name == "config" || name == "print-config") continue;
      ++flags;
      EXPECT_EQ(defaults["sources"][name], "default") << cmd << " --" << name;
    }
    EXPECT_GE(flags, 15) << help.stdout_text;

    std::vector<std::string> env;
    for (const auto& [name, value] : defaults["config"].items()) {
      std::string v = value.is_array()                   ? "a,b"
                      : value.is_boolean()               ? "true"
                      : value.is_number()                ? value.dump()
                      : value.get<std::string>().empty() ? "x"
                                                         : value.get<std::string>();
      env.push_back(Variable(name) + "=" + v);
    }
    json set = PrintConfig(env, {cmd, "--print-config"});
    for (const auto& [name, value] : defaults["config"].items()) {
      EXPECT_EQ(set["sources"][name], "env " + Variable(name)) << cmd << " --" << name;
      if (value.is_array()) {
        EXPECT_EQ(set["config"][name], json::array({"a", "b"})) << name;
      }
    }
  }
}

// flag > env > file > default, each value says where it came from, and secrets are not shown.
TEST(Cli, ConfigFileIsBelowEnvironmentAndFlags) {
  TempDir dir;
  std::string file = dir / "reel.json";
  testing::WriteFile(file, R"({
  "workers": 4,
  "lease": "45s",
  "retention": "1d",
  "allow-host": ["10.0.0.0/8", "192.168.0.5"],
  "store": "postgres://reel:hunter2@db.internal/reel"
})");
  json j = PrintConfig({"REEL_LEASE=50s", "REEL_DEFAULT_WEBHOOK=https://hooks.example/T0/s3cr3t"},
                       {"serve", "--config", file, "--retention", "2d", "--print-config"});
  EXPECT_EQ(j["config"]["workers"], 4);
  EXPECT_EQ(j["sources"]["workers"], "file " + file);
  EXPECT_EQ(j["config"]["lease"], "50s");
  EXPECT_EQ(j["sources"]["lease"], "env REEL_LEASE");
  EXPECT_EQ(j["config"]["retention"], "2d");
  EXPECT_EQ(j["sources"]["retention"], "flag");
  EXPECT_EQ(j["config"]["allow-host"], json::array({"10.0.0.0/8", "192.168.0.5"}));
  EXPECT_EQ(j["config"]["listen"], "127.0.0.1:8080");
  EXPECT_EQ(j["sources"]["listen"], "default");
  EXPECT_EQ(j["config"]["store"], "postgres://***@db.internal/reel");
  EXPECT_EQ(j["config"]["default-webhook"], "(redacted)");
  // A key file's path is shown: the file is the secret, not where it is.
  json tls = PrintConfig({}, {"serve", "--tls-key", "/etc/reel/tls.key", "--tls-cert",
                              "/etc/reel/tls.crt", "--print-config"});
  EXPECT_EQ(tls["config"]["tls-key"], "/etc/reel/tls.key") << tls.dump();
  EXPECT_EQ(tls["config"]["max-streams-per-key"].is_number(), true) << tls.dump();
  EXPECT_EQ(j.dump().find("hunter2"), std::string::npos) << j.dump();
  EXPECT_EQ(j.dump().find("s3cr3t"), std::string::npos) << j.dump();

  // REEL_CONFIG names the file too; the worker reads the same keys (its own flags).
  EXPECT_EQ(PrintConfig({"REEL_CONFIG=" + file}, {"serve", "--print-config"})["config"]["workers"],
            4);
  std::string wfile = dir / "worker.json";
  testing::WriteFile(wfile, R"({"capacity": 2, "name": "enc-7", "tags": "gpu,eu"})");
  json w = PrintConfig({}, {"worker", "--config", wfile, "--print-config"});
  EXPECT_EQ(w["config"]["capacity"], 2);
  EXPECT_EQ(w["config"]["name"], "enc-7");
  EXPECT_EQ(w["config"]["tags"], json::array({"gpu", "eu"}));

  // Mistakes name the file, the line and the key.
  std::string bad = dir / "bad.json";
  testing::WriteFile(bad, "{\n  \"workers\": 2,\n  \"listn\": \"0.0.0.0:80\"\n}\n");
  ExpectOneLineError(ReelWithEnv({}, {"serve", "--config", bad}),
                     "bad.json:3: unknown key \"listn\"");
  testing::WriteFile(bad, "{\n  \"workers\": 999\n}\n");
  ExpectOneLineError(ReelWithEnv({}, {"serve", "--config", bad}), "bad.json:2: workers");
  testing::WriteFile(bad, "{\"capacity\": 1, \"print-config\": true}");
  ExpectOneLineError(ReelWithEnv({}, {"worker", "--config", bad}), "unknown key \"print-config\"");
  testing::WriteFile(bad, "{\"allow-path\": {\"a\": 1}}");
  ExpectOneLineError(ReelWithEnv({}, {"serve", "--config", bad}), "allow-path: must be a list");
  testing::WriteFile(bad, "{\"workers\": }");
  ExpectOneLineError(ReelWithEnv({}, {"serve", "--config", bad}), "bad.json:1: not valid JSON");
  ExpectOneLineError(ReelWithEnv({}, {"serve", "--config", dir / "none.json"}), "none.json");
}

// The same settings in YAML; its mistakes give their line too.
TEST(Cli, ConfigFileInYaml) {
  TempDir dir;
  std::string file = dir / "reel.yaml";
  testing::WriteFile(file, R"(# reel serve settings
workers: 3
lease: 45s
allow-host:
  - 10.0.0.0/8
  - 192.168.0.5
store: "postgres://reel:hunter2@db.internal/reel"
)");
  json j = PrintConfig({}, {"serve", "--config", file, "--print-config"});
  EXPECT_EQ(j["config"]["workers"], 3);
  EXPECT_EQ(j["sources"]["workers"], "file " + file);
  EXPECT_EQ(j["config"]["lease"], "45s");
  EXPECT_EQ(j["config"]["allow-host"], json::array({"10.0.0.0/8", "192.168.0.5"}));
  EXPECT_EQ(j["config"]["store"], "postgres://***@db.internal/reel");

  std::string bad = dir / "bad.yaml";
  testing::WriteFile(bad, "workers: 2\n\nlistn: 0.0.0.0:80\n");
  ExpectOneLineError(ReelWithEnv({}, {"serve", "--config", bad}),
                     "bad.yaml:3: unknown key \"listn\" for reel serve");
  testing::WriteFile(bad, "# comment\nworkers: 999\n");
  ExpectOneLineError(ReelWithEnv({}, {"serve", "--config", bad}), "bad.yaml:2: workers");
  testing::WriteFile(bad, "workers: 2\nworkers: 3\n");
  ExpectOneLineError(ReelWithEnv({}, {"serve", "--config", bad}),
                     "bad.yaml:2: workers: duplicate key");
  testing::WriteFile(bad, "workers: 2\nallow-path:\n  a: 1\n");
  ExpectOneLineError(ReelWithEnv({}, {"serve", "--config", bad}),
                     "bad.yaml:2: allow-path: must be a list");
  testing::WriteFile(bad, "workers: !!int 2\n");
  ExpectOneLineError(ReelWithEnv({}, {"serve", "--config", bad}), "bad.yaml:1: workers: YAML tags");
}

// PORT (Heroku, Cloud Run) sets the port on every interface unless --listen or REEL_LISTEN say
// otherwise; a config file's listen is below it, as any file value is below the environment.
TEST(Cli, PortIsTheListenPortWhenNothingElseSaysSo) {
  json j = PrintConfig({"PORT=18099"}, {"serve", "--print-config"});
  EXPECT_EQ(j["config"]["listen"], "0.0.0.0:18099");
  EXPECT_EQ(j["sources"]["listen"], "env PORT");
  j = PrintConfig({"PORT=18099", "REEL_LISTEN=127.0.0.1:9000"}, {"serve", "--print-config"});
  EXPECT_EQ(j["config"]["listen"], "127.0.0.1:9000");
  EXPECT_EQ(j["sources"]["listen"], "env REEL_LISTEN");
  j = PrintConfig({"PORT=18099"}, {"serve", "--listen", "127.0.0.1:9001", "--print-config"});
  EXPECT_EQ(j["config"]["listen"], "127.0.0.1:9001");
  EXPECT_EQ(j["sources"]["listen"], "flag");
  TempDir dir;
  testing::WriteFile(dir / "reel.json", R"({"listen": "127.0.0.1:9002"})");
  j = PrintConfig({"PORT=18099"}, {"serve", "--config", dir / "reel.json", "--print-config"});
  EXPECT_EQ(j["config"]["listen"], "0.0.0.0:18099");
  ExpectOneLineError(ReelWithEnv({"PORT=http"}, {"serve"}), "PORT: must be a port number");
}

// Starts `reel serve` with these variables and returns its base URL once it listens.
std::string StartServer(testing::BackgroundCommand& srv) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const std::string marker = "listening on http://";
  while (std::chrono::steady_clock::now() < deadline && srv.Running()) {
    std::string out = srv.OutputSoFar();
    size_t at = out.find(marker);
    if (at != std::string::npos && out.find(' ', at + marker.size()) != std::string::npos)
      return out.substr(at + 13, out.find(' ', at + marker.size()) - at - 13);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "the server did not start: " << srv.OutputSoFar();
  return "";
}

// `printf '%s\n' KEY | reel keys import ARGS...`: the key goes through stdin only.
CommandResult ImportKey(const std::string& key, std::vector<std::string> args) {
  std::vector<std::string> argv = {
      "sh", "-c", "printf '%s\\n' \"$0\" | \"$@\"", key, testing::ReelBinary(), "keys", "import"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

// Teams that have a key already: REEL_ADMIN_KEY on first start, `reel keys import` after; only
// hashes are stored, and the client commands take their flags from REEL_ variables too.
TEST(Cli, AdminKeyFromTheEnvironmentAndImportedKeys) {
  TempDir dir;
  std::string data = dir / "var";
  const std::string admin = "ops-admin-0123456789abcdefghijklmnopqrstuvwxyz";
  const std::string team = "team_key_ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123";
  ExpectOneLineError(ReelWithEnv({"REEL_ADMIN_KEY=short", "REEL_DATA_DIR=" + data}, {"serve"}),
                     "REEL_ADMIN_KEY: must be 32 to 256 characters");
  std::string url;
  {
    testing::BackgroundCommand srv({"env", "-u", "PORT", "REEL_ADMIN_KEY=" + admin,
                                    "REEL_LISTEN=127.0.0.1:0", "REEL_DATA_DIR=" + data,
                                    "REEL_WORKERS=0", testing::ReelBinary(), "serve"});
    url = StartServer(srv);
    ASSERT_FALSE(url.empty());
    EXPECT_NE(srv.OutputSoFar().find("the admin API key is REEL_ADMIN_KEY's"), std::string::npos);
    EXPECT_EQ(srv.OutputSoFar().find(admin), std::string::npos) << "never shown";
    EXPECT_FALSE(fs::exists(data + "/admin.key"));
    EXPECT_TRUE(fs::exists(data + "/admin.webhook-secret"));

    CommandResult imported = ImportKey(team, {"--name", "ci", "--data-dir", data});
    ASSERT_EQ(imported.exit_code, 0) << imported.output;
    EXPECT_EQ(imported.output.find(team), std::string::npos);
    ExpectOneLineError(ImportKey(team, {"--name", "ci2", "--data-dir", data}), "stored already");
    ExpectOneLineError(ImportKey("abc", {"--name", "x", "--data-dir", data}), "32 to 256");
    ExpectOneLineError(
        ImportKey("abcdefghijklmnopqrstuvwxyz0123456789\x01", {"--name", "x", "--data-dir", data}),
        "only letters, digits");
    ExpectOneLineError(ImportKey("", {"--name", "x", "--data-dir", data}), "no key on stdin");

    for (const std::string& key : {admin, team}) {
      CommandResult jobs = ReelWithEnv({"REEL_URL=" + url, "REEL_API_KEY=" + key}, {"jobs"});
      EXPECT_EQ(jobs.exit_code, 0) << jobs.output;
    }
    CommandResult wrong = ReelWithEnv(
        {"REEL_URL=" + url, "REEL_API_KEY=not-a-key-0123456789abcdefghijklmnop"}, {"jobs"});
    EXPECT_NE(wrong.exit_code, 0);
    // A client flag from its variable: REEL_LIMIT is --limit.
    CommandResult limit =
        ReelWithEnv({"REEL_URL=" + url, "REEL_API_KEY=" + admin, "REEL_LIMIT=lots"}, {"jobs"});
    EXPECT_NE(limit.exit_code, 0);
    EXPECT_NE(limit.output.find("--limit"), std::string::npos) << limit.output;
    srv.Signal(SIGTERM);
    EXPECT_EQ(srv.Wait().exit_code, 0);
  }
  // Only hashes were written: neither key is in any file of the data directory.
  for (const auto& e : fs::recursive_directory_iterator(data)) {
    if (!e.is_regular_file()) continue;
    std::string bytes = testing::ReadFile(e.path().string());
    EXPECT_EQ(bytes.find(admin), std::string::npos) << e.path();
    EXPECT_EQ(bytes.find(team), std::string::npos) << e.path();
  }
  // Keys exist now: another REEL_ADMIN_KEY is not taken, and the log says so.
  {
    testing::BackgroundCommand srv({"env", "-u", "PORT",
                                    "REEL_ADMIN_KEY=other-0123456789abcdefghijklmnopqrstuvwxyz",
                                    "REEL_LISTEN=127.0.0.1:0", "REEL_DATA_DIR=" + data,
                                    "REEL_WORKERS=0", testing::ReelBinary(), "serve"});
    ASSERT_FALSE(StartServer(srv).empty());
    EXPECT_NE(srv.OutputSoFar().find("REEL_ADMIN_KEY is not used"), std::string::npos)
        << srv.OutputSoFar();
    srv.Signal(SIGTERM);
    srv.Wait();
  }
  // A required flag from its variable: REEL_NAME is `keys create --name`.
  CommandResult created = ReelWithEnv({"REEL_NAME=ops"}, {"keys", "create", "--data-dir", data});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  CommandResult listed = Reel({"keys", "list", "--data-dir", data});
  for (const char* name : {"admin", "ci", "ops"})
    EXPECT_NE(listed.stdout_text.find(name), std::string::npos) << listed.stdout_text;
}

// `reel worker --name` is the worker's id; a second live worker of that name is refused (it
// would renew and finish the first one's leases); once the first is gone the name is free again.
TEST(Cli, WorkerNameIsAStableUniqueId) {
  TempDir dir;
  std::string data = dir / "var";
  auto wait_running = [](testing::BackgroundCommand& w, const std::string& line) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (w.Running() && w.OutputSoFar().find(line) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return w.OutputSoFar().find(line) != std::string::npos;
  };
  ExpectOneLineError(Reel({"worker", "--name", "../etc", "--data-dir", data}), "--name");
  ExpectOneLineError(Reel({"worker", "--name", std::string(65, 'a'), "--data-dir", data}),
                     "--name");
  // A start that fails after the name was checked does not keep the name.
  CommandResult failed = Reel(
      {"worker", "--name", "enc-1", "--data-dir", data, "--storage-config", dir / "missing.json"});
  EXPECT_NE(failed.exit_code, 0) << failed.output;
  {
    testing::BackgroundCommand first(
        {testing::ReelBinary(), "worker", "--name", "enc-1", "--data-dir", data});
    ASSERT_TRUE(wait_running(first, "reel: worker enc-1 running")) << first.OutputSoFar();
    ExpectOneLineError(ReelWithEnv({"REEL_NAME=enc-1"}, {"worker", "--data-dir", data}),
                       "--name enc-1: a worker of that name is running");
    first.Signal(SIGTERM);
    EXPECT_EQ(first.Wait().exit_code, 0);
  }
  testing::BackgroundCommand again(
      {"env", "REEL_NAME=enc-1", testing::ReelBinary(), "worker", "--data-dir", data});
  EXPECT_TRUE(wait_running(again, "reel: worker enc-1 running")) << again.OutputSoFar();
  again.Signal(SIGTERM);
  again.Wait();
}

}  // namespace
}  // namespace reel
