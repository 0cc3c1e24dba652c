#include "cli/commands.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <sstream>
#include <tuple>

#include "common/redact.h"
#include "engine/engine.h"
#include "job/spec.h"
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

// `reel transcode` works on local files: "file:///x", "/x" and "x".
Result<std::string> LocalPath(const std::string& url, const std::string& field) {
  if (url.rfind("file://", 0) == 0) return url.substr(7);
  if (url.find("://") != std::string::npos || url.rfind("data:", 0) == 0)
    return InvalidArgument(field +
                           ": `reel transcode` reads and writes local files; remote "
                           "sources and destinations work through `reel serve`");
  return url;
}

// What a source or destination URL is turned into for the engine: a local path to read, or to
// write (a directory for packages).
enum class Role { kSource, kFile, kDirectory };
using Resolver =
    std::function<Result<std::string>(const std::string& url, const std::string& field, Role)>;

Result<engine::TranscodePlan> MakePlan(const job::JobSpec& spec, const Resolver& resolve) {
  engine::TranscodePlan plan;
  if (spec.sources.empty()) {
    Result<std::string> input = resolve(spec.source, "source", Role::kSource);
    if (!input.ok()) return input.status();
    plan.input = *input;
  }
  for (size_t i = 0; i < spec.sources.size(); ++i) {
    Result<std::string> p =
        resolve(spec.sources[i], "sources[" + std::to_string(i) + "]", Role::kSource);
    if (!p.ok()) return p.status();
    plan.inputs.push_back(*p);
  }
  plan.main_input = spec.main_source;
  for (auto [value, field, target] : {std::tuple{&spec.audio, "audio", &plan.audio_input},
                                      std::tuple{&spec.subtitles, "subtitles", &plan.subtitles}}) {
    if (value->empty()) continue;
    Result<std::string> p = resolve(*value, field, Role::kSource);
    if (!p.ok()) return p.status();
    *target = *p;
  }
  for (size_t i = 0; i < spec.outputs.size(); ++i) {
    const job::OutputSpec& o = spec.outputs[i];
    int index = static_cast<int>(i);
    std::string where = "outputs[" + std::to_string(i) + "]";
    bool directory = o.kind == "hls" || o.kind == "dash" ||
                     (o.kind == "preview" && o.preview_hls) ||
                     (o.kind == "thumbnail" && o.thumbnail.count > 1);
    std::string dest;
    if (!o.destination.empty()) {
      Result<std::string> d = resolve(o.destination, where + ".destination",
                                      directory ? Role::kDirectory : Role::kFile);
      if (!d.ok()) return d.status();
      dest = *d;
    }
    if (o.kind == "hls" || o.kind == "dash") {
      plan.hls.push_back({index, dest, o.ladder, o.dash, std::nullopt, o.kind});
    } else if (o.kind == "preview" && o.preview_hls) {
      plan.hls.push_back({index, dest, presets::Ladder{}, false, o.preset, "preview"});
    } else if (o.kind == "mp4" || o.kind == "webm" || o.kind == "preview" ||
               o.kind == "mezzanine") {
      plan.files.push_back(
          {index, dest, o.preset, o.kind == "mp4" || o.kind == "webm" ? "" : o.kind});
    } else if (o.kind == "thumbnail") {
      plan.thumbnails.push_back({index, dest, o.thumbnail});
    } else if (o.kind == "sprite") {
      plan.sprites.push_back({index, dest, o.sprite});
    } else if (o.kind == "waveform") {
      engine::WaveformPlan w{index, dest, o.waveform};
      if (!w.options.image.empty()) {
        Result<std::string> img = resolve(w.options.image, where + ".image", Role::kFile);
        if (!img.ok()) return img.status();
        w.options.image = *img;
      }
      plan.waveforms.push_back(std::move(w));
    } else if (o.kind == "loudness") {
      plan.loudness.push_back({index, dest});
    }
  }
  return plan;
}

// Builds the job spec the flags describe, so that flags and job files share one validator.
json SpecFromFlags(const TranscodeArgs& a) {
  json out;
  std::string ext = a.output.size() > 5 ? a.output.substr(a.output.rfind('.') == std::string::npos
                                                              ? a.output.size()
                                                              : a.output.rfind('.'))
                                        : "";
  bool file_output = !a.preset.empty() || ext == ".mp4" || ext == ".webm" || ext == ".m4a";
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

void RunTestHook(const job::JobSpec& spec, const engine::Progress& p) {
  if (!TestHookArmed(spec) || p.fraction <= 0 || p.fraction >= 1) return;
  std::string hook = spec.metadata.value("reel_test_hook", "");
  if (hook == "crash") std::abort();
  if (hook == "stall")
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
  std::cout << engine::ToJson(*info).dump(2) << "\n";
  return 0;
}

int RunPresets(bool as_json) {
  json presets = json::array();
  for (const presets::Preset& p : presets::AllPresets()) {
    const presets::VideoSettings& v = p.video;
    presets.push_back({{"name", p.name},
                       {"description", p.description},
                       {"container", presets::ContainerName(p.container)},
                       {"video",
                        {{"codec", presets::VideoCodecName(v.codec)},
                         {"lines", v.lines},
                         {"crf", v.crf},
                         {"maxrate", v.maxrate},
                         {"speed", v.speed},
                         {"gop_seconds", v.gop_seconds}}},
                       {"audio",
                        {{"codec", presets::AudioCodecName(p.audio.codec)},
                         {"bitrate", p.audio.bitrate},
                         {"max_channels", p.audio.max_channels}}}});
  }
  json ladders = json::array();
  for (const presets::Ladder& l : presets::AllLadders()) {
    json rungs = json::array();
    for (const presets::Rung& r : l.rungs)
      rungs.push_back({{"name", r.name}, {"lines", r.lines}, {"bitrate", r.bitrate}});
    ladders.push_back({{"name", l.name},
                       {"video_codec", presets::VideoCodecName(l.video.codec)},
                       {"speed", l.video.speed},
                       {"gop_seconds", l.video.gop_seconds},
                       {"segment_seconds", l.segment_seconds},
                       {"audio_bitrate", l.audio.bitrate},
                       {"rungs", rungs}});
  }
  json all = {{"presets", presets},
              {"ladders", ladders},
              {"overrides",
               {{"bitrate", "50k..100M (switches to average-bitrate mode)"},
                {"crf", "0..51 (0..63 for vp9)"},
                {"width", "16..7680, a maximum; aspect kept, never upscaled"},
                {"height", "16..4320, a maximum; aspect kept, never upscaled"},
                {"fps", "1..60"},
                {"audio_bitrate", "32k..512k"}}}};
  if (as_json) {
    std::cout << all.dump(2) << "\n";
    return 0;
  }
  std::printf("Presets (reel transcode IN -o OUT.mp4 --preset NAME):\n");
  for (const presets::Preset& p : presets::AllPresets())
    std::printf("  %-12s %s\n", p.name.c_str(), p.description.c_str());
  std::printf("\nLadders (reel transcode IN -o OUTDIR --ladder NAME):\n");
  for (const presets::Ladder& l : presets::AllLadders()) {
    std::printf("  %-12s H.264 (x264 %s, keyframe every %gs), %gs segments, AAC %lldk:",
                l.name.c_str(), l.video.speed.c_str(), l.video.gop_seconds, l.segment_seconds,
                (long long)(l.audio.bitrate / 1000));
    for (const presets::Rung& r : l.rungs)
      std::printf(" %s@%lldk", r.name.c_str(), (long long)(r.bitrate / 1000));
    std::printf("\n");
  }
  std::printf(
      "\nOverrides: --bitrate 50k..100M, --crf 0..51 (vp9 0..63), --width 16..7680, "
      "--height 16..4320, --fps 1..60, --audio-bitrate 32k..512k\n");
  return 0;
}

// What a job's process needs to reach its sources and destinations (see RunJob).
struct WorkerContext {
  std::string scratch;
  storage::Options storage;
};

// Runs a validated spec; `worker` set means "as a worker's child" (see RunJob).
int ExecuteSpec(const job::JobSpec& spec, const std::string& mode, int threads,
                const WorkerContext* worker);

int RunTranscode(const TranscodeArgs& args) {
  InstallSignalHandlers();
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
    spec_json = SpecFromFlags(args);
  }
  job::FieldError field_error;
  Result<job::JobSpec> spec = job::ParseJobSpec(spec_json, &field_error);
  if (!spec.ok())
    return Fail(spec_mode ? args.input + ": " + spec.status().message() : FlagMessage(field_error));
  std::string mode = args.progress;
  if (mode == "auto") mode = isatty(STDERR_FILENO) ? "bar" : "none";
  return ExecuteSpec(*spec, mode, args.threads, nullptr);
}

int ExecuteSpec(const job::JobSpec& spec, const std::string& mode, int threads,
                const WorkerContext* worker) {
  // In a worker (`reel run-job`) errors are also a JSON line, so the pool can tell a bad input
  // (no retry) from a failure of the environment (retry).
  auto fail = [&](const Status& s) {
    if (s.code() == StatusCode::kCanceled) {  // a transfer stopped by SIGTERM/SIGINT
      int signo = g_signal.load();
      std::fprintf(stderr, "reel: canceled\n");
      return 128 + (signo ? signo : SIGINT);
    }
    if (worker) {
      json line = {
          {"event", "error"}, {"code", StatusCodeName(s.code())}, {"message", s.message()}};
      std::cout << line.dump() << std::endl;
    }
    return Fail(s.message());
  };
  // In a worker, sources are fetched into the attempt's scratch directory and remote
  // destinations written there first, then delivered.
  struct Upload {
    int index;
    std::string field, url, local;
  };
  std::vector<Upload> uploads;
  Resolver resolve = [&](const std::string& url, const std::string& field,
                         Role role) -> Result<std::string> {
    if (!worker) return LocalPath(url, field);
    Result<std::string> p =
        role == Role::kSource
            ? storage::FetchSource(url, worker->scratch, worker->storage)
            : storage::LocalTarget(url, role == Role::kDirectory, worker->scratch, worker->storage);
    if (!p.ok()) return p.status().WithContext(field);
    if (role != Role::kSource && storage::KindOf(url) != storage::Kind::kLocal) {
      int index = field.rfind("outputs[", 0) == 0 ? std::atoi(field.c_str() + 8) : -1;
      uploads.push_back({index, field, url, *p});
    }
    return p;
  };
  Result<engine::TranscodePlan> plan = MakePlan(spec, resolve);
  if (!plan.ok()) return fail(plan.status());
  // A remote sprite's WebVTT track is written beside the sheet and goes beside it too.
  for (size_t i = 0, n = uploads.size(); i < n; ++i) {
    if (uploads[i].index < 0 || spec.outputs[uploads[i].index].kind != "sprite") continue;
    Upload vtt = uploads[i];
    vtt.local = std::filesystem::path(vtt.local).replace_extension(".vtt").string();
    size_t dot = vtt.url.find_last_of('.');
    vtt.url = (dot == std::string::npos ? vtt.url : vtt.url.substr(0, dot)) + ".vtt";
    uploads.push_back(vtt);
  }
  engine::TranscodeOptions options;
  options.cancel = &g_cancel;
  options.threads = threads;
  if (TestHookArmed(spec)) options.progress_interval = 0;  // fire mid-run even on tiny clips
  if (mode == "bar") options.on_progress = DrawBar;
  if (mode == "json") {
    options.on_progress = [&spec](const engine::Progress& p) {
      json line = {
          {"event", "progress"}, {"fraction", p.fraction}, {"media_seconds", p.media_seconds},
          {"fps", p.fps},        {"speed", p.speed},       {"elapsed", p.elapsed}};
      std::cout << line.dump() << std::endl;
      RunTestHook(spec, p);
    };
  }
  Result<engine::TranscodeResult> result = engine::Transcode(*plan, options);
  if (mode == "bar") std::fprintf(stderr, "\n");
  if (!result.ok()) {
    if (result.status().code() == StatusCode::kCanceled) {
      int signo = g_signal.load();
      std::fprintf(stderr, "reel: canceled%s; partial outputs removed\n",
                   signo == SIGTERM  ? " (SIGTERM)"
                   : signo == SIGINT ? " (SIGINT)"
                                     : "");
      return 128 + (signo ? signo : SIGINT);
    }
    return fail(result.status());
  }
  json out = engine::ToJson(*result);
  if (!spec.metadata.empty()) out["metadata"] = spec.metadata;
  for (const Upload& u : uploads) {
    bool failed_output = false;
    for (const engine::OutputResult& o : result->outputs)
      failed_output |= o.index == u.index && !o.error.empty();
    if (failed_output) continue;  // nothing was written for it
    std::string method = u.index >= 0 ? spec.outputs[u.index].method : "PUT";
    int64_t presign = u.index >= 0 ? spec.outputs[u.index].presign_seconds : 0;
    Result<json> delivered = storage::Deliver(u.local, u.url, method, worker->storage, presign);
    if (!delivered.ok()) return fail(delivered.status().WithContext(u.field));
    for (json& o : out["outputs"])
      if (o.value("index", -2) == u.index && u.field.find(".image") == std::string::npos &&
          o.value("path", "") != u.url) {
        o["path"] = RedactUrl(u.url);
        o["delivered"] = *delivered;
      }
  }
  if (mode == "json") {
    out["event"] = "result";
    std::cout << out.dump() << std::endl;
  } else {
    std::cout << out.dump(2) << std::endl;
  }
  // Outputs the source cannot give (a waveform of a silent video) fail the run, after the
  // others have been written.
  std::string errors;
  for (const engine::OutputResult& o : result->outputs)
    if (!o.error.empty()) errors += (errors.empty() ? "" : "; ") + o.error;
  if (!errors.empty()) return fail(InvalidArgument(errors));
  return 0;
}

int RunJob(const RunJobArgs& args) {
  InstallSignalHandlers();
  net::SetCancelFlag(&g_cancel);  // downloads and uploads stop on SIGTERM too
  net::SetTransferListener([](int64_t bytes) {
    static std::mutex mu;  // parallel uploads report from several threads
    std::lock_guard lock(mu);
    std::cout << json{{"event", "transfer"}, {"bytes", bytes}}.dump() << std::endl;
  });
  // If the server dies (even by kill -9), stop too: its job will be leased again elsewhere,
  // and two attempts must never write the same outputs at once. SIGTERM removes partial work.
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return 143;
  // With the server gone nobody reads our progress; a write must fail, not kill us with SIGPIPE
  // before the SIGTERM above has removed our partial outputs.
  signal(SIGPIPE, SIG_IGN);
  std::ifstream in(args.spec_file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Result<json> document = job::ParseJobDocument(text);
  Result<job::JobSpec> spec =
      !document.ok() ? Result<job::JobSpec>(
                           InvalidArgument("unreadable job spec: " + document.status().message()))
                     : job::ParseJobSpec(*document);
  if (!spec.ok()) {
    json line = {{"event", "error"},
                 {"code", StatusCodeName(spec.status().code())},
                 {"message", spec.status().message()}};
    std::cout << line.dump() << std::endl;
    return Fail(spec.status().message());
  }
  WorkerContext worker;
  worker.scratch = std::filesystem::path(args.spec_file).parent_path().string();
  worker.storage.allow_paths = args.allow_paths;
  Result<net::AddressPolicy> policy = net::AddressPolicy::Parse(args.allow_hosts);
  if (!policy.ok()) return Fail(policy.status().message());
  worker.storage.policy = *policy;
  Result<std::map<std::string, storage::S3Profile>> profiles =
      storage::LoadS3Profiles(args.storage_config);
  if (!profiles.ok()) return Fail(profiles.status().message());
  worker.storage.s3_profiles = *profiles;
  if (!spec->s3_credentials.is_null()) {
    auto& profiles = worker.storage.s3_profiles;
    profiles["default"] =
        storage::JobProfile(spec->s3_credentials,
                            profiles.count("default") ? profiles["default"] : storage::S3Profile{});
  }
  return ExecuteSpec(*spec, "json", args.threads, &worker);
}

}  // namespace reel::cli
