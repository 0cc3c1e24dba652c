// reel: the one binary. This file only parses flags and wires the libraries together.
#include <CLI/CLI.hpp>
#include <iostream>

#include "api/routes.h"
#include "cli/commands.h"
#include "cli/config.h"

namespace {

// The limits of source downloads, on every command that fetches sources.
void AddSourceLimitOptions(CLI::App* cmd, reel::cli::SourceLimitArgs* limits) {
  cmd->add_option("--max-source-size", limits->max_size,
                  "Largest source download, e.g. 20GiB (default); larger ones fail for good");
  cmd->add_option("--source-low-speed", limits->low_speed,
                  "A download slower than BYTES a second for DURATION fails for good (default "
                  "1KiB/30s; 0: no limit)");
  cmd->add_option("--source-deadline", limits->deadline,
                  "Longest a source download may take (default 3h; 0: no limit)");
  cmd->add_option("--max-source-duration", limits->max_duration,
                  "Longest source media, e.g. 12h (default); longer ones fail for good (0: no "
                  "limit)");
}

// Chunked encoding (README "Chunked encoding"), on the commands that run a worker pool.
void AddChunkingOptions(CLI::App* cmd, reel::cli::ServeArgs* args) {
  cmd->add_option("--chunk-seconds", args->chunk_seconds,
                  "Chunk length of a job that fans out without naming one (default 60)")
      ->check(CLI::Range(10.0, 600.0));
  cmd->add_option("--chunk-min-seconds", args->chunk_min_seconds,
                  "\"chunking\": \"auto\" splits sources longer than this, when more than one "
                  "worker slot is alive (default 180)")
      ->check(CLI::Range(0.0, 1e9));
  cmd->add_option("--staging", args->staging,
                  "Folder every worker reaches for the chunks of jobs that fan out, or "
                  "s3://[profile@]bucket/prefix/ signed with the server's S3 keys (default "
                  "DATA_DIR/staging)");
}

// The process's log (README "Logs").
void AddLogOptions(CLI::App* cmd, reel::cli::LogArgs* log) {
  cmd->add_option(
         "--log-format", log->format,
         "Log lines on stderr: text (ts level msg key=value) or json (default " + log->format + ")")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--log-level", log->level,
                  "Least severe level logged: error, warn, info (default) or debug (adds an "
                  "access log)")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}));
}

// A key's storage scope (README "Keys and tenants").
void AddKeyScopeOptions(CLI::App* cmd, reel::cli::KeysArgs* keys) {
  cmd->add_option("--allow-path", keys->allow_paths,
                  "A folder the key may read and write, inside the server's --allow-path; the "
                  "key then reaches no other (repeat for more)");
  cmd->add_option("--allow-bucket", keys->allow_buckets,
                  "[PROFILE@]BUCKET the key may use with the server's S3 profiles; the key then "
                  "reaches no other (repeat for more)");
  cmd->add_flag("--isolated", keys->isolated,
                "The key reaches none of the server's storage but what --allow-path and "
                "--allow-bucket name (only URLs with access of their own otherwise)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reel: a video transcoding service (engine, CLI)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "reel 0.1.0");

  reel::cli::ProbeArgs probe;
  auto* probe_cmd = app.add_subcommand("probe", "Print what a media file contains, as JSON");
  probe_cmd->add_option("file", probe.file, "Media file")->required();

  reel::cli::TranscodeArgs tr;
  auto* tr_cmd = app.add_subcommand(
      "transcode",
      "Transcode a media file to an HLS ladder or a preset file, or run a job spec (job.json)");
  tr_cmd->add_option("input", tr.input, "Source media file, or a job spec .json file")->required();
  tr_cmd->add_option("-o,--output", tr.output,
                     "Output: a .mp4/.m4a/.webm file, or a folder (no extension, or "
                     "ending in /) for HLS");
  tr_cmd->add_option("--ladder", tr.ladder, "ABR ladder name for HLS output (default: default)");
  tr_cmd->add_option("--preset", tr.preset, "Preset name for a file output (see `reel presets`)");
  tr_cmd->add_option("--bitrate", tr.bitrate, "Override: video bitrate, e.g. 2500k");
  tr_cmd->add_option("--crf", tr.crf, "Override: constant quality (0-51; 0-63 for VP9)");
  tr_cmd->add_option("--width", tr.width, "Override: maximum width (aspect kept)");
  tr_cmd->add_option("--height", tr.height, "Override: maximum height (aspect kept)");
  tr_cmd->add_option("--fps", tr.fps, "Override: frame rate (1-60)");
  tr_cmd->add_option("--audio-bitrate", tr.audio_bitrate, "Override: audio bitrate, e.g. 96k");
  tr_cmd->add_option("--progress", tr.progress, "Progress display: auto, bar, json, none")
      ->check(CLI::IsMember({"auto", "bar", "json", "none"}));
  tr_cmd->add_option("--threads", tr.threads, "CPU threads to use (default: all cores)")
      ->check(CLI::Range(1, 256));
  const char* presets_help = "JSON file of user-defined ladders and presets (see README)";
  tr_cmd->add_option("--presets", tr.presets_file, presets_help);
  AddSourceLimitOptions(tr_cmd, &tr.source_limits);

  bool presets_json = false;
  std::string presets_file;
  auto* presets_cmd = app.add_subcommand("presets", "List the named presets and ladders");
  presets_cmd->add_flag("--json", presets_json, "Print as JSON");
  presets_cmd->add_option("--presets", presets_file, presets_help);

  reel::cli::ServeArgs serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the HTTP API with an embedded worker pool");
  serve_cmd->add_option("--data-dir", serve.data_dir,
                        "Store, keys and scratch space (default ./var)");
  serve_cmd->add_option("--listen", serve.listen,
                        "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve_cmd->add_option("--workers", serve.workers, "Concurrent jobs (0: API only)")
      ->check(CLI::Range(0, 256));
  serve_cmd->add_option("--allow-path", serve.allow_paths,
                        "Directory local sources and destinations must be inside (repeatable)");
  serve_cmd->add_option("--retention", serve.retention, "Delete finished jobs after (default 7d)");
  serve_cmd->add_option("--lease", serve.lease, "Job lease, renewed by heartbeat (default 30s)");
  serve_cmd->add_option("--stall-timeout", serve.stall_timeout,
                        "Kill an attempt without progress for this long (default 10m)");
  serve_cmd->add_option("--shutdown-grace", serve.shutdown_grace,
                        "On SIGTERM, time running jobs get before being requeued (default 30s)");
  serve_cmd->add_option("--max-attempts", serve.max_attempts, "Attempts per job (default 3)")
      ->check(CLI::Range(1, 100));
  serve_cmd
      ->add_option("--max-retries", serve.max_retries,
                   "Manual retries per job, each with --max-attempts more (default 5)")
      ->check(CLI::Range(0, 1000));
  serve_cmd->add_option("--http-threads", serve.http_threads, "HTTP threads (default 2)")
      ->check(CLI::Range(1, 64));
  serve_cmd->add_option("--allow-host", serve.allow_hosts,
                        "A private address or CIDR that outbound connections may reach: "
                        "sources, destinations, S3 endpoints and webhooks (repeatable)");
  serve_cmd->add_option("--storage-config", serve.storage_config,
                        "JSON file of S3 profiles: {\"s3\": {\"name\": {endpoint, region, "
                        "access_key, secret_key, ...}}}");
  serve_cmd->add_option("--presets", serve.presets_file, presets_help);
  serve_cmd->add_option("--store", serve.store,
                        "postgres://user@host/db to share a queue between hosts (or REEL_STORE); "
                        "default: SQLite in the data directory");
  serve_cmd->add_option("--tags", serve.tags, "The embedded pool runs jobs tagged with these")
      ->delimiter(',');
  serve_cmd->add_option("--default-webhook", serve.default_webhook,
                        "Webhook URL for jobs that do not name one");
  serve_cmd->add_option("--webhook-retry", serve.webhook_retry,
                        "First webhook retry delay, doubled each time (default 5s)");
  serve_cmd->add_option("--store-timeout", serve.store_timeout,
                        "A request waits this long for the store, then answers 503 (default 5s)");
  serve_cmd
      ->add_option("--store-threads", serve.store_threads,
                   "Requests' store calls at once, off the HTTP threads (default 4)")
      ->check(CLI::Range(1, 64));
  serve_cmd
      ->add_option("--max-streams", serve.max_streams,
                   "Open event streams in all; 503 beyond (default 10000)")
      ->check(CLI::Range(1, 1000000));
  serve_cmd
      ->add_option("--max-streams-per-key", serve.max_streams_per_key,
                   "Open event streams per API key; 429 beyond (default 100)")
      ->check(CLI::Range(1, 1000000));
  serve_cmd
      ->add_option("--max-jobs-per-key", serve.max_jobs_per_key,
                   "Jobs one non-admin key may have queued or running; 429 beyond (default "
                   "10000, 0: no limit)")
      ->check(CLI::Range(0, 100000000));
  serve_cmd
      ->add_option("--max-priority", serve.max_priority,
                   "The highest priority a non-admin key may give a job; 400 above (default 100: "
                   "any; 0 keeps tenants' jobs to taking turns)")
      ->check(CLI::Range(0, 100));
  serve_cmd->add_option("--stream-idle", serve.stream_idle,
                        "Close an event stream without an event for this long (default 1h)");
  AddSourceLimitOptions(serve_cmd, &serve.source_limits);
  serve_cmd->add_option("--tls-cert", serve.tls_cert,
                        "PEM certificate (then its intermediates) to serve HTTPS with; re-read "
                        "with --tls-key on SIGHUP");
  serve_cmd->add_option("--tls-key", serve.tls_key,
                        "PEM private key of --tls-cert (unencrypted; keep it mode 0600)");
  AddChunkingOptions(serve_cmd, &serve);
  AddLogOptions(serve_cmd, &serve.log);
  bool print_config = false;
  const char* print_help =
      "Print the effective settings (secrets redacted) and where each came "
      "from, as JSON, and exit";
  serve_cmd->add_flag("--print-config", print_config, print_help);

  // `reel worker`: the same pool without the API, for other hosts sharing a PostgreSQL store.
  reel::cli::ServeArgs worker;
  worker.worker_only = true;
  worker.retention = "";  // API nodes sweep; a worker only when told to
  auto* worker_cmd = app.add_subcommand("worker", "Run jobs from a shared store, without the API");
  worker_cmd->add_option("--store", worker.store, "postgres://user@host/db (or REEL_STORE)");
  worker_cmd->add_option("--capacity", worker.workers, "Jobs at once (default 1)")
      ->check(CLI::Range(1, 256));
  worker_cmd->add_option("--data-dir", worker.data_dir, "Scratch space and keys (default ./var)");
  worker_cmd->add_option("--allow-path", worker.allow_paths,
                         "Local root jobs may use (repeatable)");
  worker_cmd->add_option("--allow-host", worker.allow_hosts,
                         "A private address or CIDR that outbound connections may reach: "
                         "sources, destinations and S3 endpoints (repeatable)");
  worker_cmd->add_option("--storage-config", worker.storage_config, "JSON file of S3 profiles");
  worker_cmd->add_option("--presets", worker.presets_file, presets_help);
  worker_cmd->add_option("--lease", worker.lease, "Job lease (default 30s)");
  worker_cmd->add_option("--stall-timeout", worker.stall_timeout, "Default 10m");
  worker_cmd->add_option("--shutdown-grace", worker.shutdown_grace, "Default 30s");
  worker_cmd->add_option("--tags", worker.tags, "Run jobs tagged with these (e.g. gpu,eu)")
      ->delimiter(',');
  worker_cmd->add_option("--exit-when-idle", worker.exit_when_idle,
                         "Exit after this long without a job (e.g. 60s)");
  worker_cmd->add_option("--retention", worker.retention,
                         "Also delete finished jobs after this long (default: never; API nodes "
                         "do it)");
  worker_cmd->add_option("--name", worker.name,
                         "Stable worker id (default: w-HOST-RANDOM); must be unique among live "
                         "workers");
  AddSourceLimitOptions(worker_cmd, &worker.source_limits);
  AddChunkingOptions(worker_cmd, &worker);
  AddLogOptions(worker_cmd, &worker.log);
  worker_cmd->add_flag("--print-config", print_config, print_help);

  reel::cli::KeysArgs migrate;
  auto* migrate_cmd = app.add_subcommand(
      "migrate", "Bring the store's schema up to date (also done on every start, under a lock)");
  migrate_cmd->add_option("--store", migrate.store, "postgres://... (or REEL_STORE)");
  migrate_cmd->add_option("--data-dir", migrate.data_dir, "For the default SQLite store");

  reel::cli::RunJobArgs run_job;
  auto* run_job_cmd = app.add_subcommand("run-job", "(internal) run one attempt of a job");
  run_job_cmd->group("");
  run_job_cmd->add_option("spec", run_job.spec_file)->required();
  run_job_cmd->add_option("--allow-path", run_job.allow_paths);
  run_job_cmd->add_option("--forbid-path", run_job.forbid_paths);
  run_job_cmd->add_option("--allow-host", run_job.allow_hosts);
  run_job_cmd->add_option("--key-scope", run_job.key_scope);
  run_job_cmd->add_option("--storage-config", run_job.storage_config);
  run_job_cmd->add_option("--presets", run_job.presets_file);
  run_job_cmd->add_option("--threads", run_job.threads);
  run_job_cmd->add_option("--staging", run_job.staging);
  run_job_cmd->add_option("--task", run_job.task_file);
  run_job_cmd->add_option("--chunk-seconds", run_job.chunk_seconds);
  run_job_cmd->add_option("--chunk-min-seconds", run_job.chunk_min_seconds);
  run_job_cmd->add_option("--live-slots", run_job.live_slots);
  AddSourceLimitOptions(run_job_cmd, &run_job.source_limits);
  AddLogOptions(run_job_cmd, &run_job.log);

  auto* routes_cmd = app.add_subcommand(
      "routes", "Print the HTTP routes `reel serve` answers, one JSON object a line");

  reel::cli::KeysArgs keys;
  auto* keys_cmd = app.add_subcommand("keys", "Manage API keys");
  keys_cmd->require_subcommand(1);
  keys_cmd->add_option("--data-dir", keys.data_dir, "Data directory of the server (default ./var)");
  auto* keys_create = keys_cmd->add_subcommand("create", "Create a key; it is printed once");
  keys_create->add_option("--name", keys.name, "A name for the key")->required();
  keys_create->add_flag("--admin", keys.admin, "The key sees and acts on every job");
  AddKeyScopeOptions(keys_create, &keys);
  keys_create->add_option("--data-dir", keys.data_dir, "Data directory (default ./var)");
  keys_create->add_option("--store", keys.store, "postgres://... when the server uses PostgreSQL");
  auto* keys_import = keys_cmd->add_subcommand(
      "import", "Store a key you already have, read from stdin (only its hash is kept)");
  keys_import->add_option("--name", keys.name, "A name for the key")->required();
  keys_import->add_flag("--admin", keys.admin, "The key sees and acts on every job");
  AddKeyScopeOptions(keys_import, &keys);
  keys_import->add_option("--data-dir", keys.data_dir, "Data directory (default ./var)");
  keys_import->add_option("--store", keys.store, "postgres://... when the server uses PostgreSQL");
  auto* keys_list = keys_cmd->add_subcommand("list", "List keys (never the keys themselves)");
  keys_list->add_option("--data-dir", keys.data_dir, "Data directory (default ./var)");
  keys_list->add_option("--store", keys.store, "postgres://... when the server uses PostgreSQL");
  auto* keys_rotate = keys_cmd->add_subcommand(
      "rotate-webhook-secret", "Replace a key's webhook signing secret; prints the new one");
  keys_rotate->add_option("key", keys.name, "Key id or name")->required();
  keys_rotate->add_option("--data-dir", keys.data_dir, "Data directory (default ./var)");
  keys_rotate->add_option("--store", keys.store, "postgres://... when the server uses PostgreSQL");
  auto* keys_revoke = keys_cmd->add_subcommand("revoke", "Revoke a key by id or name");
  keys_revoke->add_option("key", keys.name, "Key id or name")->required();
  keys_revoke->add_option("--data-dir", keys.data_dir, "Data directory (default ./var)");
  keys_revoke->add_option("--store", keys.store, "postgres://... when the server uses PostgreSQL");

  reel::cli::ClientArgs client;
  auto* submit_cmd = app.add_subcommand("submit", "Submit a job spec to a server (REEL_URL)");
  submit_cmd->add_option("spec", client.target, "Job spec .json")->required();
  submit_cmd->add_flag("--wait", client.wait, "Follow the job until it ends");
  auto* jobs_cmd = app.add_subcommand("jobs", "List your jobs on a server");
  jobs_cmd->add_option("--state", client.state, "Only jobs in this state");
  jobs_cmd->add_option("--limit", client.limit, "At most this many (default 20)");
  auto* status_cmd = app.add_subcommand("status", "Show a job");
  status_cmd->add_option("id", client.target, "Job id")->required();
  status_cmd->add_flag("--follow", client.wait, "Follow progress live until the job ends");
  auto* cancel_cmd = app.add_subcommand("cancel", "Cancel a job");
  cancel_cmd->add_option("id", client.target, "Job id")->required();
  auto* retry_cmd = app.add_subcommand("retry", "Retry a failed or canceled job");
  retry_cmd->add_option("id", client.target, "Job id")->required();
  auto* delete_cmd = app.add_subcommand("delete", "Delete a finished job");
  delete_cmd->add_option("id", client.target, "Job id")->required();
  auto* logs_cmd = app.add_subcommand("logs", "Print the log of a job's attempt");
  logs_cmd->add_option("id", client.target, "Job id")->required();
  logs_cmd->add_option("--attempt", client.attempt, "Attempt number (default: the last)")
      ->check(CLI::Range(1, 1000000));
  logs_cmd->add_option("--task", client.task,
                       "A task of a chunked job, e.g. chunk-3 (its attempt with --attempt)");

  for (CLI::App* cmd :
       {submit_cmd, jobs_cmd, status_cmd, cancel_cmd, retry_cmd, delete_cmd, logs_cmd})
    cmd->add_option("--ca-file", client.ca_file,
                    "PEM CA certificates an https:// REEL_URL's server must chain to (default: "
                    "the system's)");
  // Every flag of the service and client commands also comes from REEL_<FLAG> and --config.
  reel::cli::Configuration config;
  for (CLI::App* cmd : {serve_cmd, worker_cmd, migrate_cmd, keys_cmd, submit_cmd, jobs_cmd,
                        status_cmd, cancel_cmd, retry_cmd, delete_cmd, logs_cmd})
    config.Bind(cmd);
  if (std::string bad = config.Load(&app, argc, argv); !bad.empty()) return reel::cli::Fail(bad);
  CLI11_PARSE(app, argc, argv);
  if (print_config) {
    std::cout << config.Effective(*serve_cmd ? serve_cmd : worker_cmd, argc, argv).dump(2)
              << std::endl;
    return 0;
  }

  if (*serve_cmd) return reel::cli::RunServe(serve);
  if (*worker_cmd) return reel::cli::RunServe(worker);
  if (*migrate_cmd) {
    migrate.action = "migrate";
    return reel::cli::RunKeys(migrate);
  }
  if (*run_job_cmd) return reel::cli::RunJob(run_job);
  if (*routes_cmd) {
    for (const reel::api::Route& r : reel::api::Routes())
      std::cout << "{\"method\": \"" << r.method << "\", \"path\": \"" << r.path
                << "\", \"key\": " << (r.key ? "true" : "false") << "}\n";
    return 0;
  }
  if (*keys_cmd) {
    keys.action = *keys_create   ? "create"
                  : *keys_import ? "import"
                  : *keys_list   ? "list"
                  : *keys_rotate ? "rotate-webhook-secret"
                                 : "revoke";
    return reel::cli::RunKeys(keys);
  }
  for (const auto& [cmd, name] :
       std::initializer_list<std::pair<CLI::App*, const char*>>{{submit_cmd, "submit"},
                                                                {jobs_cmd, "jobs"},
                                                                {status_cmd, "status"},
                                                                {cancel_cmd, "cancel"},
                                                                {retry_cmd, "retry"},
                                                                {delete_cmd, "delete"},
                                                                {logs_cmd, "logs"}}) {
    if (*cmd) {
      client.action = name;
      return reel::cli::RunClient(client);
    }
  }

  if (*probe_cmd) return reel::cli::RunProbe(probe);
  if (*tr_cmd) return reel::cli::RunTranscode(tr);
  if (*presets_cmd) return reel::cli::RunPresets(presets_json, presets_file);
  return 1;
}
