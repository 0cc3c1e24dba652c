// The reel binary as a user runs it: exit codes, one-line errors, signals, job files.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
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
