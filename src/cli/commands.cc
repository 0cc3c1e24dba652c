#include "cli/commands.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "attempt/attempt.h"
#include "attempt/staging_store.h"
#include "common/log.h"
#include "engine/engine.h"
#include "engine/staging.h"
#include "job/spec.h"
#include "layout/layout.h"
#include "presets/catalog.h"
#include "presets/presets.h"
#include "storage/storage.h"

namespace reel::cli {
namespace {

using nlohmann::json;

std::atomic<bool> g_cancel{false};
std::atomic<int> g_signal{0};

void OnSignal(int signo) {
  g_signal = signo;
  g_cancel = true;
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// What -o names: a file with one of these extensions, or (no extension, or a trailing '/') an
// HLS package folder. Anything else ("a.txt") is refused rather than guessed at.
constexpr const char* kFileExtensions[] = {".mp4", ".m4a", ".webm"};

// ".mp4" of "out/A.MP4"; "" for "out/hls", "out/v1.2/" and ".hidden".
std::string OutputExtension(const std::string& output) {
  if (output.empty() || output.back() == '/') return "";
  std::string name = std::filesystem::path(output).filename().string();
  size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return "";
  std::string ext = name.substr(dot);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

Status CheckOutputName(const std::string& output) {
  std::string ext = OutputExtension(output);
  if (ext.empty()) return Status::Ok();
  for (const char* known : kFileExtensions)
    if (ext == known) return Status::Ok();
  return InvalidArgument("--output: " + output + ": reel does not write " + ext +
                         " files; it writes .mp4, .m4a and .webm files, and HLS packages "
                         "into a folder named without an extension (or ending in /)");
}

// A run killed by SIGKILL cannot remove its staging (".<name>.reel-XXXXXX", layout/layout.h)
// beside the destination; the next run to the same destination does. Only that destination's
// staging names are touched: never other files, nor another destination's staging.
void RemoveStaleStaging(const json& spec) {
  namespace fs = std::filesystem;
  for (const json& o : spec.value("outputs", json::array())) {
    if (!o.is_object() || !o.contains("destination") || !o["destination"].is_string()) continue;
    std::string dest = o["destination"];
    if (dest.find("://") != std::string::npos || dest.rfind("data:", 0) == 0) continue;
    fs::path p(dest);
    if (p.filename().empty()) p = p.parent_path();
    std::string name = p.filename().string();
    if (name.empty()) continue;
    fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    std::error_code ec;
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (layout::IsStagingName(e.path().filename().string(), name)) stale.push_back(e.path());
    for (const fs::path& path : stale) {
      fs::remove_all(path, ec);
      std::fprintf(stderr, "reel: removed %s, left behind by a run that was killed\n",
                   path.c_str());
    }
  }
}

// Builds the job spec the flags describe, so that flags and job files share one validator.
json SpecFromFlags(const TranscodeArgs& a) {
  json out;
  std::string ext = OutputExtension(a.output);
  bool file_output = !a.preset.empty() || !ext.empty();
  if (file_output) {
    std::string preset = a.preset.empty() ? (ext == ".webm" ? "vp9-720p" : "h264-720p") : a.preset;
    const presets::Preset* p = presets::FindPreset(preset);
    out["kind"] = p ? presets::ContainerName(p->container) : "mp4";
    out["preset"] = preset;
    if (a.bitrate) out["bitrate"] = *a.bitrate;
    if (a.crf) out["crf"] = *a.crf;
    if (a.width) out["width"] = *a.width;
    if (a.height) out["height"] = *a.height;
    if (a.fps) out["fps"] = *a.fps;
    if (a.audio_bitrate) out["audio_bitrate"] = *a.audio_bitrate;
  } else {
    out["kind"] = "hls";
    out["ladder"] = a.ladder.empty() ? "default" : a.ladder;
  }
  out["destination"] = a.output;
  return {{"source", a.input}, {"outputs", json::array({out})}};
}

// "outputs[0].audio_bitrate: ..." becomes "--audio-bitrate: ..." for flag users.
std::string FlagMessage(const job::FieldError& e) {
  std::string field = e.field;
  if (field.rfind("outputs[0].", 0) == 0) field = field.substr(11);
  if (field == "destination") field = "output";
  if (field == "source") field = "input";
  for (char& c : field)
    if (c == '_') c = '-';
  return "--" + field + ": " + e.message;
}

std::string Clock(double seconds) {
  int s = static_cast<int>(std::max(0.0, seconds));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

void DrawBar(const engine::Progress& p) {
  constexpr int kWidth = 30;
  int filled = static_cast<int>(p.fraction * kWidth);
  std::string bar(filled, '#');
  bar.resize(kWidth, '-');
  double eta = p.speed > 0 && p.fraction < 1 ? p.elapsed * (1 - p.fraction) / p.fraction : 0;
  std::fprintf(stderr, "\r[%s] %5.1f%%  %6.1f fps  %5.2fx  elapsed %s  eta %s ", bar.c_str(),
               p.fraction * 100, p.fps, p.speed, Clock(p.elapsed).c_str(), Clock(eta).c_str());
  std::fflush(stderr);
}

// Test-only failure injection for the worker pool's tests, inert unless the server was started
// with REEL_TEST_HOOKS=1: a job whose metadata says so crashes or stalls after its first
// progress report.
bool TestHookArmed(const job::JobSpec& spec) {
  static const bool enabled = std::getenv("REEL_TEST_HOOKS") != nullptr &&
                              std::string(std::getenv("REEL_TEST_HOOKS")) == "1";
  return enabled && spec.metadata.contains("reel_test_hook");
}

// `task`: the task this process runs, if it runs one. "stall_first_stitch" stalls only the
// first attempt of a chunked job's stitch, halfway through, for a test to kill; "open" tries the
// paths of metadata.reel_test_open once.
void RunTestHook(const job::JobSpec& spec, const engine::Progress& p,
                 const attempt::TaskRun* task) {
  if (!TestHookArmed(spec) || p.fraction <= 0 || p.fraction >= 1) return;
  std::string hook = spec.metadata.value("reel_test_hook", "");
  if (hook == "crash") std::abort();
  if (hook == "open") {
    // Whether this process may open each of metadata.reel_test_open, into its log: how a test
    // sees the confinement (attempt::ConfineAttempt) from inside.
    static std::atomic<bool> tried{false};
    if (tried.exchange(true)) return;
    for (const json& path : spec.metadata.value("reel_test_open", json::array())) {
      if (!path.is_string()) continue;
      int fd = open(path.get_ref<const std::string&>().c_str(), O_RDONLY | O_CLOEXEC);
      int err = errno;
      if (fd >= 0) close(fd);
      log::Info("test hook: open", {{"path", path}, {"error", fd >= 0 ? "" : std::strerror(err)}});
    }
  }
  bool first_stitch = task && task->kind == "stitch" && task->attempt == 1;
  if (hook == "stall" || (hook == "stall_first_stitch" && first_stitch))
    for (;;) pause();  // alive, silent, never finishing
}

}  // namespace

int Fail(const std::string& message) {
  std::fprintf(stderr, "reel: error: %s\n", message.c_str());
  return 1;
}

int RunProbe(const ProbeArgs& args) {
  Result<engine::MediaInfo> info = engine::Probe(args.file);
  if (!info.ok()) return Fail(info.status().message());
  // The field order a stream declares is often wrong: show what the run's idet pre-pass sees.
  if (Status fields = engine::DetectFields(args.file, &*info); !fields.ok())
    return Fail(fields.message());
  std::cout << engine::ToJson(*info).dump(2) << "\n";
  return 0;
}

bool LoadPresetsFlag(const std::string& presets_file) {
  if (presets_file.empty()) return true;
  Status loaded = presets::LoadCatalogFile(presets_file);
  if (!loaded.ok()) Fail("--presets: " + loaded.message());
  return loaded.ok();
}

int RunPresets(bool as_json, const std::string& presets_file) {
  if (!LoadPresetsFlag(presets_file)) return 1;
  json all = presets::CatalogJson();
  all["overrides"] = {{"bitrate", "50k..100M (switches to average-bitrate mode)"},
                      {"crf", "0..51 (1..63 for av1, 0..63 for vp9)"},
                      {"codec", "mp4: h264, hevc, av1; webm: vp9, av1"},
                      {"speed", "x264/x265 ultrafast..veryslow; SVT-AV1 4..12"},
                      {"profile", "h264: baseline, main, high; hevc, av1: main"},
                      {"width", "16..7680, a maximum; aspect kept, never upscaled"},
                      {"height", "16..4320, a maximum; aspect kept, never upscaled"},
                      {"fps", "1..60"},
                      {"audio_bitrate", "32k..512k"}};
  if (as_json) {
    std::cout << all.dump(2) << "\n";
    return 0;
  }
  std::printf("Presets (reel transcode IN -o OUT.mp4 --preset NAME):\n");
  for (const presets::Preset& p : presets::AllPresets())
    std::printf("  %-12s %s\n", p.name.c_str(), p.description.c_str());
  std::printf("\nLadders (reel transcode IN -o OUTDIR --ladder NAME):\n");
  for (const presets::Ladder& l : presets::AllLadders()) {
    std::printf("  %-12s keyframe every %gs, %gs segments, AAC %lldk:", l.name.c_str(),
                l.video.gop_seconds, l.segment_seconds, (long long)(l.audio.bitrate / 1000));
    for (const presets::Rung& r : l.rungs) {
      std::string rate =
          r.crf >= 0 ? "crf" + std::to_string(r.crf) + "/" + std::to_string(r.maxrate / 1000) + "k"
                     : std::to_string(r.bitrate / 1000) + "k";
      std::printf(" %s@%s(%s)", r.name.c_str(), rate.c_str(), presets::VideoCodecName(r.codec));
    }
    std::printf("\n");
  }
  std::printf(
      "\nOverrides: --bitrate 50k..100M, --crf 0..51 (av1 1..63, vp9 0..63), --width 16..7680, "
      "--height 16..4320, --fps 1..60, --audio-bitrate 32k..512k\n");
  return 0;
}

namespace {

// 128 + the signal that canceled the run, as a shell reports it.
int CanceledExit(const attempt::AttemptError& e) {
  int signo = g_signal.load();
  if (e.stage == attempt::Stage::kEncode)
    std::fprintf(stderr, "reel: canceled%s; partial outputs removed\n",
                 signo == SIGTERM  ? " (SIGTERM)"
                 : signo == SIGINT ? " (SIGINT)"
                                   : "");
  else
    std::fprintf(stderr, "reel: canceled\n");  // a transfer stopped: nothing was written
  return 128 + (signo ? signo : SIGINT);
}

// Runs a validated spec for `reel transcode`, printing as `mode` says.
int ExecuteSpec(const job::JobSpec& spec, const std::string& mode, int threads,
                const SourceLimitArgs& limits) {
  attempt::Environment env;
  env.threads = threads;
  if (std::string bad = ApplySourceLimits(limits, &env.storage, &env.max_source_duration);
      !bad.empty())
    return Fail(bad);
  env.cancel = &g_cancel;
  if (mode == "bar") {
    env.events.on_progress = DrawBar;
    env.events.on_encoded = [] { std::fprintf(stderr, "\n"); };
  }
  if (mode == "json")
    env.events.on_progress = [](const engine::Progress& p) {
      std::cout << attempt::Encode(attempt::ProgressLine(p)) << std::endl;
    };
  attempt::AttemptOutcome outcome = attempt::Run(spec, env);
  if (const auto* e = std::get_if<attempt::AttemptError>(&outcome))
    return e->status.code() == StatusCode::kCanceled ? CanceledExit(*e) : Fail(e->status.message());
  const attempt::AttemptResult& done = std::get<attempt::AttemptResult>(outcome);
  if (mode == "json")
    std::cout << attempt::Encode(attempt::ResultMessage{done.result}) << std::endl;
  else
    std::cout << done.result.dump(2) << std::endl;
  if (!done.incomplete.ok()) return Fail(done.incomplete.message());
  return 0;
}

}  // namespace

double ParseDuration(const std::string& text) {
  if (text.empty()) return -1;
  double scale = 1;
  std::string num = text;
  switch (text.back()) {
    case 's':
      scale = 1;
      num.pop_back();
      break;
    case 'm':
      scale = 60;
      num.pop_back();
      break;
    case 'h':
      scale = 3600;
      num.pop_back();
      break;
    case 'd':
      scale = 86400;
      num.pop_back();
      break;
    default:
      break;
  }
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (num.empty() || *end || !std::isfinite(v) || v < 0) return -1;
  return v * scale;
}

int64_t ParseSize(const std::string& text) {
  std::string num = text;
  auto strip = [&](const char* suffix) {
    size_t n = std::strlen(suffix);
    if (num.size() > n && num.compare(num.size() - n, n, suffix) == 0) {
      num.resize(num.size() - n);
      return true;
    }
    return false;
  };
  if (!strip("iB")) strip("B");
  double scale = 1;
  if (!num.empty()) {
    const std::string units = "KMGT";
    size_t u = units.find(static_cast<char>(std::toupper(static_cast<unsigned char>(num.back()))));
    if (u != std::string::npos) {
      scale = std::pow(1024.0, static_cast<double>(u + 1));
      num.pop_back();
    }
  }
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (num.empty() || *end || !std::isfinite(v) || v < 0 || v * scale > 9.0e18) return -1;
  return static_cast<int64_t>(v * scale);
}

std::string ApplySourceLimits(const SourceLimitArgs& limits, storage::Options* storage,
                              double* max_duration) {
  int64_t max_size = ParseSize(limits.max_size);
  if (max_size <= 0) return "--max-source-size: not a size (examples: 20GiB, 500MiB)";
  double deadline = ParseDuration(limits.deadline);
  if (deadline < 0) return "--source-deadline: not a duration (examples: 3h, 90m; 0 for none)";
  double longest = ParseDuration(limits.max_duration);
  if (longest < 0) return "--max-source-duration: not a duration (examples: 12h, 90m; 0 for none)";
  if (max_duration) *max_duration = longest;
  int64_t speed = 0;
  double window = 0;
  if (limits.low_speed != "0") {
    size_t slash = limits.low_speed.find('/');
    speed = slash == std::string::npos ? -1 : ParseSize(limits.low_speed.substr(0, slash));
    window = slash == std::string::npos ? -1 : ParseDuration(limits.low_speed.substr(slash + 1));
    if (speed <= 0 || window <= 0)
      return "--source-low-speed: expected BYTES/DURATION, e.g. 1KiB/30s (bytes a second, over "
             "how long), or 0 for none";
  }
  storage->max_download_bytes = max_size;
  storage->min_source_speed = speed;
  storage->low_speed_seconds = window;
  storage->max_source_seconds = deadline;
  return "";
}

std::vector<std::string> SourceLimitFlags(const SourceLimitArgs& limits) {
  return {"--max-source-size", limits.max_size, "--source-low-speed",    limits.low_speed,
          "--source-deadline", limits.deadline, "--max-source-duration", limits.max_duration};
}

int RunTranscode(const TranscodeArgs& args) {
  InstallSignalHandlers();
  if (!LoadPresetsFlag(args.presets_file)) return 1;
  bool spec_mode = EndsWith(args.input, ".json");
  json spec_json;
  if (spec_mode) {
    if (!args.output.empty() || !args.preset.empty() || !args.ladder.empty())
      return Fail("a job spec names its own outputs; drop -o/--preset/--ladder");
    std::ifstream in(args.input);
    if (!in) return Fail(args.input + ": cannot open job spec");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      spec_json = json::parse(text);  // for the parser's message, which says where
    } catch (const json::parse_error& e) {
      return Fail(args.input + ": not valid JSON (" + e.what() + ")");
    }
    Result<json> checked = job::ParseJobDocument(text);
    if (!checked.ok()) return Fail(args.input + ": " + checked.status().message());
  } else {
    if (args.output.empty()) return Fail("--output (-o) is required");
    if (!args.preset.empty() && !args.ladder.empty())
      return Fail("--preset and --ladder exclude each other");
    if (Status named = CheckOutputName(args.output); !named.ok()) return Fail(named.message());
    spec_json = SpecFromFlags(args);
  }
  job::FieldError field_error;
  Result<job::JobSpec> spec = job::ParseJobSpec(spec_json, &field_error);
  if (!spec.ok())
    return Fail(spec_mode ? args.input + ": " + spec.status().message() : FlagMessage(field_error));
  std::string mode = args.progress;
  if (mode == "auto") mode = isatty(STDERR_FILENO) ? "bar" : "none";
  RemoveStaleStaging(spec_json);
  return ExecuteSpec(*spec, mode, args.threads, args.source_limits);
}

// A stop (cancel, shutdown, lost lease, server gone) that comes while the engine encodes ends
// the process at once, its staged outputs removed. Left to wind down, the encoders first finish
// the frames they hold: 0.3-0.5 s of CPU, which on a starved host took past the worker's 5 s
// grace, so that a cancel came by SIGKILL. Nothing is in transfer while the engine runs (sources
// are fetched before, outputs delivered after, and those stop cleanly on the flag); the worker
// removes the scratch and any staging left beside the destinations once the process is gone.
std::atomic<bool> g_encoding{false};

void StopAtOnceWhileEncoding() {
  std::thread([] {
    while (!g_cancel) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!g_encoding) return;  // fetching or delivering: those stop on the flag themselves
    engine::RemoveUncommittedOutputs();
    std::fprintf(stderr, "reel: stopped while encoding (signal %d); partial outputs removed\n",
                 g_signal.load());
    _exit(128 + (g_signal ? g_signal.load() : SIGTERM));
  }).detach();
}

int RunJob(const RunJobArgs& args) {
  ConfigureLog(args.log);
  InstallSignalHandlers();
  // If the server dies (even by kill -9), stop too: its job will be leased again elsewhere,
  // and two attempts must never write the same outputs at once. SIGTERM removes partial work.
  // The parent is the worker that says so: read here, getppid() is already init's (or a
  // subreaper's) when the worker died while this process started, and the check would pass.
  pid_t parent = getppid();
  if (const char* worker = std::getenv("REEL_WORKER_PID")) parent = std::atoi(worker);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return 143;
  // With the server gone nobody reads our progress; a write must fail, not kill us with SIGPIPE
  // before the SIGTERM above has removed our partial outputs.
  signal(SIGPIPE, SIG_IGN);
  // Progress comes from the engine's thread, transfers from the uploads' threads.
  auto emit = [](const attempt::Message& m) {
    static std::mutex mu;
    std::lock_guard lock(mu);
    std::cout << attempt::Encode(m) << std::endl;
  };
  // Errors are also a protocol line, classified, so the pool can tell a bad input (no retry)
  // from a failure of the environment (retry).
  auto fail = [&](const Status& s) {
    emit(attempt::ErrorMessage::From(s));
    log::Error(s.message());  // a line of the attempt's log (stderr is read back as one)
    return 1;
  };
  std::ifstream in(args.spec_file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Status catalog =
      args.presets_file.empty() ? Status::Ok() : presets::LoadCatalogFile(args.presets_file);
  if (!catalog.ok()) return fail(catalog);
  Result<json> document = job::ParseJobDocument(text);
  Result<job::JobSpec> spec =
      !document.ok() ? Result<job::JobSpec>(
                           InvalidArgument("unreadable job spec: " + document.status().message()))
                     : job::ParseJobSpec(*document);
  if (!spec.ok()) return fail(spec.status());

  // Sources are fetched into the attempt's scratch directory and remote destinations written
  // there first, then delivered.
  attempt::Environment env;
  env.remote = true;
  env.scratch = std::filesystem::path(args.spec_file).parent_path().string();
  env.threads = args.threads;
  env.cancel = &g_cancel;  // downloads and uploads stop on SIGTERM too
  env.storage.allow_paths = args.allow_paths;
  env.storage.forbidden_roots = args.forbid_paths;
  if (std::string bad =
          ApplySourceLimits(args.source_limits, &env.storage, &env.max_source_duration);
      !bad.empty())
    return fail(InvalidArgument(bad));
  Result<net::AddressPolicy> policy = net::AddressPolicy::Parse(args.allow_hosts);
  if (!policy.ok()) return Fail(policy.status().message());
  env.storage.policy = *policy;
  Result<std::map<std::string, storage::S3Profile>> profiles =
      storage::LoadS3Profiles(args.storage_config);
  if (!profiles.ok()) return Fail(profiles.status().message());
  env.storage.s3_profiles = *profiles;
  env.staging_profiles = *profiles;  // the server's alone: a job's credentials never sign for it
  env.storage.s3_profiles =
      storage::WithJobCredentials(std::move(env.storage.s3_profiles), spec->s3_credentials);
  if (!args.key_scope.empty()) {
    // Checked again here, not only by the API: what resolves inside the key's folders may have
    // changed since (a link swapped in), and the worker's roots need not be the API server's.
    Result<std::optional<storage::KeyScope>> scope =
        storage::ParseKeyScope(json::parse(args.key_scope, nullptr, false));
    if (!scope.ok() || !*scope)
      return fail(FailedPrecondition("the job's storage scope cannot be read"));
    env.storage = storage::Narrowed(std::move(env.storage), **scope);
  }
  if (TestHookArmed(*spec)) env.progress_interval = 0;  // fire mid-run even on tiny clips
  std::optional<attempt::TaskRun> task;
  env.events.on_progress = [&](const engine::Progress& p) {
    // The per-title pre-pass (a phase) writes nothing and stops on the flag itself.
    if (p.phase.empty()) g_encoding = true;
    emit(attempt::ProgressLine(p));
    RunTestHook(*spec, p, task ? &*task : nullptr);
  };
  env.events.on_encoded = [] { g_encoding = false; };
  env.events.on_transfer = [&](int64_t bytes) { emit(attempt::TransferMessage{bytes}); };

  env.staging = args.staging;
  // Beside the attempts' scratch folders in the worker's work directory, which it sweeps.
  if (attempt::IsS3Staging(args.staging))
    env.source_cache =
        (std::filesystem::path(env.scratch).parent_path() / attempt::kSourceCacheFolder).string();
  if (!args.staging.empty())
    env.publish_cache =
        (std::filesystem::path(env.scratch).parent_path() / attempt::kPublishCacheFolder).string();
  env.fan_out = {!args.staging.empty() && args.task_file.empty(), args.chunk_seconds,
                 args.chunk_min_seconds, args.live_slots, attempt::kMaxChunks};
  // Confined while it is the process's only thread (Landlock leaves running threads out), then
  // the watcher that stops it at once.
  if (Status confined = attempt::ConfineAttempt(env, !args.task_file.empty()); !confined.ok())
    return fail(confined);
  StopAtOnceWhileEncoding();
  attempt::AttemptOutcome outcome;
  if (args.task_file.empty()) {
    outcome = attempt::Run(*spec, env);
  } else {
    std::ifstream task_in(args.task_file);
    json task_json = json::parse(task_in, nullptr, false);
    Result<attempt::TaskRun> read = attempt::TaskRun::FromJson(task_json);
    if (!read.ok()) return fail(read.status());
    task = *read;
    outcome = attempt::RunTask(*spec, *task, env);
  }
  if (const auto* e = std::get_if<attempt::AttemptError>(&outcome))
    return e->status.code() == StatusCode::kCanceled ? CanceledExit(*e) : fail(e->status);
  if (const auto* f = std::get_if<attempt::FanOutMessage>(&outcome)) {
    emit(*f);
    return 0;
  }
  const attempt::AttemptResult& done = std::get<attempt::AttemptResult>(outcome);
  emit(attempt::ResultMessage{done.result});
  // Outputs the source cannot give fail the attempt, after the others were delivered.
  if (!done.incomplete.ok()) return fail(done.incomplete);
  return 0;
}

}  // namespace reel::cli
