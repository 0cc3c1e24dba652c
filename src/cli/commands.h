// The subcommands of `reel`. Each returns the process exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace reel::storage {
struct Options;
}

namespace reel::cli {

// Limits of source downloads: the same flags on transcode, run-job, serve and worker (which pass
// them on to each attempt). A source over them fails for good, it is not retried.
struct SourceLimitArgs {
  std::string max_size = "20GiB";      // --max-source-size: refused once past (Content-Length too)
  std::string low_speed = "1KiB/30s";  // --source-low-speed: slower than this over the window
  std::string deadline = "3h";         // --source-deadline: one download in all; 0: none
  // --max-source-duration: a source whose media lasts longer fails for good (a few kilobytes can
  // declare a day of one frame, which would be encoded as a day of video); 0: none.
  std::string max_duration = "12h";
};
// Sets `storage`'s limits from the flags, and the longest source into `max_duration` (seconds;
// 0: none) when given; "" when they are valid, else what is wrong.
std::string ApplySourceLimits(const SourceLimitArgs& limits, storage::Options* storage,
                              double* max_duration = nullptr);
// The flags again, for a `reel run-job` child.
std::vector<std::string> SourceLimitFlags(const SourceLimitArgs& limits);

// "90", "90s", "10m", "2h", "7d" into seconds; -1 if malformed.
double ParseDuration(const std::string& text);
// "1024", "64KiB", "20GiB", "1.5G" (binary multiples, with or without "iB"/"B") into bytes; -1 if
// malformed.
int64_t ParseSize(const std::string& text);

struct ProbeArgs {
  std::string file;
};
int RunProbe(const ProbeArgs& args);

struct TranscodeArgs {
  std::string input;
  std::string output;
  std::string ladder;
  std::string preset;
  std::optional<std::string> bitrate;
  std::optional<int> crf;
  std::optional<int> width;
  std::optional<int> height;
  std::optional<double> fps;
  std::optional<std::string> audio_bitrate;
  std::string progress = "auto";
  int threads = 0;
  std::string presets_file;  // --presets: user ladders and presets
  SourceLimitArgs source_limits;
};
int RunTranscode(const TranscodeArgs& args);

// Lists the built-in presets and ladders, and those of `presets_file` if given.
int RunPresets(bool json, const std::string& presets_file);

// Loads a --presets file (ladders and presets as data) into the catalogue; false after printing
// the line-precise error.
bool LoadPresetsFlag(const std::string& presets_file);

// `reel run-job SPEC`: one attempt of a service job, run by the worker pool in a child process.
// Progress, transfers, the result and errors are lines of attempt/protocol.h on stdout.
// --log-format and --log-level of serve, worker and run-job (common/log.h).
struct LogArgs {
  std::string format = "text";  // text | json
  std::string level = "info";   // error | warn | info | debug
};
// Sets the process's log from `args` (checked by the flags' validators).
void ConfigureLog(const LogArgs& args);

struct RunJobArgs {
  std::string spec_file;
  std::vector<std::string> allow_paths;
  std::vector<std::string> forbid_paths;  // the server's own files: never a destination
  std::vector<std::string> allow_hosts;
  std::string key_scope;  // the job's key's storage scope (JSON), narrowing the above; "": none
  std::string storage_config;
  std::string presets_file;
  int threads = 0;
  SourceLimitArgs source_limits;
  // Chunked encoding (README "Chunked encoding"): with --staging the attempt may fan out; with
  // --task it runs one task of a job that did, its staging under --staging.
  std::string staging;
  std::string task_file;
  double chunk_seconds = 60;
  double chunk_min_seconds = 180;
  int live_slots = 1;
  LogArgs log{"json", "info"};  // its stderr is read back by the worker (worker/attempt_log.h)
};
int RunJob(const RunJobArgs& args);

struct ServeArgs {
  std::string data_dir = "var";
  std::string listen = "127.0.0.1:8080";
  int workers = 1;
  std::vector<std::string> allow_paths;
  std::string retention = "7d";  // `reel worker`: empty, no retention sweep unless given
  std::string lease = "30s";
  std::string stall_timeout = "10m";
  std::string shutdown_grace = "30s";
  int max_attempts = 3;
  int max_retries = 5;
  int http_threads = 2;
  std::vector<std::string> allow_hosts;  // private addresses outbound connections may reach
  std::string webhook_retry = "5s";      // first webhook retry; doubles each time
  std::string storage_config;            // JSON file of S3 profiles
  std::string presets_file;              // user ladders and presets (--presets)
  std::string default_webhook;           // for jobs that name none
  std::string store;                     // postgres://... ; default: SQLite in the data dir
  std::string exit_when_idle;            // `reel worker`: exit after this long without work
  bool worker_only = false;              // `reel worker`: no HTTP API
  std::vector<std::string> tags;         // the jobs this pool may run (see PoolOptions)
  int store_threads = 4;                 // requests' store calls at once, off the HTTP threads
  std::string store_timeout = "5s";      // a request waits this long for the store, then 503
  int max_streams = 10000;               // open event streams in all (kept below the fd limit)
  double chunk_seconds = 60;       // chunked encoding: chunk length for "auto" and "seconds"-less
  double chunk_min_seconds = 180;  // "auto" chunks sources longer than this
  std::string staging;  // chunks' staging every worker reaches; default <data-dir>/staging
  int max_streams_per_key = 100;   // open event streams per API key
  int max_jobs_per_key = 10000;    // jobs queued or running per non-admin key; 0: none
  int max_priority = 100;          // the highest priority a non-admin key may give a job
  std::string stream_idle = "1h";  // an event stream without an event this long is closed
  std::string name;                // `reel worker --name`: a stable worker id
  SourceLimitArgs source_limits;   // passed on to every attempt
  std::string tls_cert, tls_key;   // PEM files: HTTPS, reloaded on SIGHUP
  LogArgs log;
};
int RunServe(const ServeArgs& args);

struct KeysArgs {
  std::string data_dir = "var";
  std::string store;
  std::string action;  // create, import (the key on stdin), list, revoke, ...
  std::string name;
  bool admin = false;
  // The key's storage scope (storage::KeyScope): with any of these the key reaches only the
  // folders and buckets named of the server's storage.
  std::vector<std::string> allow_paths, allow_buckets;
  bool isolated = false;
};
int RunKeys(const KeysArgs& args);

// The API client: REEL_URL (default http://127.0.0.1:8080) and REEL_API_KEY.
struct ClientArgs {
  std::string action;  // submit, jobs, status, cancel, retry, delete, logs
  std::string target;  // a job spec file or a job id
  bool wait = false;   // submit --wait, status --follow
  std::string state;
  int limit = 20;
  // https:// servers are checked against these CAs (default: the system's).
  std::string ca_file;
  int attempt = 0;   // logs --attempt: 0 for the last
  std::string task;  // logs --task: a chunked job's task ("chunk-3"), or the job itself
};
int RunClient(const ClientArgs& args);

// Prints "reel: error: <message>" on stderr and returns 1.
int Fail(const std::string& message);

}  // namespace reel::cli
