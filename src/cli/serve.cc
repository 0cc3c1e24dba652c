// `reel serve` and `reel keys`: wiring of the store, the worker pool and the HTTP API.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "api/server.h"
#include "attempt/staging_store.h"
#include "cli/commands.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/redact.h"
#include "notify/webhooks.h"
#include "storage/storage.h"
#include "store/job_store.h"
#include "store/job_view.h"
#include "worker/maintenance.h"
#include "worker/pool.h"

namespace reel::cli {
namespace {

namespace fs = std::filesystem;

// The store: --store (or REEL_STORE) names PostgreSQL; by default SQLite in the data directory.
Result<std::unique_ptr<store::JobStore>> OpenStore(const std::string& data_dir,
                                                   std::string location = "",
                                                   int connect_attempts = 6) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return Unavailable("cannot create data directory " + data_dir + ": " + ec.message());
  chmod(data_dir.c_str(), 0700);  // it holds keys and, by default, the job database
  if (location.empty() && std::getenv("REEL_STORE")) location = std::getenv("REEL_STORE");
  if (location.empty()) location = (fs::path(data_dir) / "reel.db").string();
  Result<std::unique_ptr<store::JobStore>> store = store::OpenStore(location, connect_attempts);
  if (store.ok()) (*store)->SetWebhookComposer(notify::ComposeWebhook);
  return store;
}

// The key that seals per-job credentials, signing secrets and webhook URLs: REEL_SECRET_KEY
// (64 hex digits), else a random one kept in the data directory (mode 0600) so that restarts
// (and `reel keys`) can open what was sealed. Several hosts share REEL_SECRET_KEY.
Result<std::string> LoadSecretKey(const std::string& data_dir) {
  std::string hex;
  if (const char* env = std::getenv("REEL_SECRET_KEY")) {
    hex = env;
  } else {
    std::string path = (fs::path(data_dir) / "secret.key").string();
    std::ifstream in(path);
    if (in) std::getline(in, hex);
    if (hex.empty()) {
      hex = RandomHex(32);
      std::ofstream(path) << hex << "\n";
      chmod(path.c_str(), 0600);
    }
  }
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    return InvalidArgument("the secret key must be 64 hex digits (REEL_SECRET_KEY)");
  std::string key;
  for (size_t i = 0; i < 64; i += 2)
    key += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return key;
}

// Keys are "reel_" + 192 random bits; only their SHA-256 is stored.
std::string NewKey() { return "reel_" + RandomHex(24); }
std::string NewWebhookSecret() { return "whsec_" + RandomHex(24); }

// A key brought from elsewhere (`keys import`, REEL_ADMIN_KEY): a reel_ key or any 32 to 256
// characters of [A-Za-z0-9_-], so that it is as hard to guess as ours and safe in a header.
Status CheckImportedKey(const std::string& key, const std::string& what) {
  if (key.size() < 32 || key.size() > 256)
    return InvalidArgument(what + ": must be 32 to 256 characters (it has " +
                           std::to_string(key.size()) + ")");
  for (char c : key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      return InvalidArgument(what + ": only letters, digits, '_' and '-' are allowed");
  return Status::Ok();
}

// The worker id --name gives: stable across restarts, so bounded and safe in logs and URLs.
Status CheckWorkerName(const std::string& name) {
  if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name[0])))
    return InvalidArgument("--name: 1 to 64 characters, starting with a letter or digit");
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
      return InvalidArgument("--name: only letters, digits, '.', '_' and '-' are allowed");
  return Status::Ok();
}

// The API's view of this process's pool (service::LocalRunner over worker::WorkerPool).
class PoolRunner : public service::LocalRunner {
 public:
  explicit PoolRunner(worker::WorkerPool* pool) : pool_(pool) {}
  void Wake() override { pool_->Wake(); }
  void Cancel(const std::string& job_id) override { pool_->Cancel(job_id); }
  std::vector<std::string> RunningJobs() override { return pool_->RunningJobs(); }

 private:
  worker::WorkerPool* pool_;
};

// Every open connection (event streams above all) is a file descriptor: take the most the
// system allows. Returns the soft limit now in force.
rlim_t RaiseFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
  }
  return r.rlim_cur;
}

std::string HostName() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

// The storage scope `reel keys create|import` gives a key (null: none): its folders resolved
// as the server resolves --allow-path, its buckets as [profile@]bucket.
Result<nlohmann::json> KeyScopeOf(const KeysArgs& args) {
  if (!args.isolated && args.allow_paths.empty() && args.allow_buckets.empty())
    return nlohmann::json();
  if (args.admin)
    return InvalidArgument(
        "an admin key reaches every tenant's jobs: --allow-path, --allow-bucket and --isolated "
        "are for the keys of tenants");
  std::vector<std::string> paths;
  for (const std::string& p : args.allow_paths) {
    std::error_code ec;
    fs::path resolved = fs::weakly_canonical(fs::absolute(p), ec);
    if (ec || !fs::is_directory(resolved))
      return InvalidArgument("--allow-path " + p + ": not a directory");
    paths.push_back(resolved.string());
  }
  Result<std::optional<storage::KeyScope>> scope =
      storage::ParseKeyScope({{"paths", paths}, {"buckets", args.allow_buckets}});
  if (!scope.ok()) return scope.status();
  return storage::KeyScopeJson(**scope);
}

// "paths: /a, /b; buckets: default@x" for `reel keys list`; "" for a key without a scope.
std::string DescribeKeyScope(const nlohmann::json& stored) {
  if (stored.is_null()) return "";
  Result<std::optional<storage::KeyScope>> scope = storage::ParseKeyScope(stored);
  if (!scope.ok()) return "storage: unreadable (reaches nothing)";
  auto join = [](const std::vector<std::string>& list) {
    std::string out;
    for (const std::string& item : list) out += (out.empty() ? "" : ", ") + item;
    return out.empty() ? std::string("none") : out;
  };
  return "paths: " + join((*scope)->paths) + "; buckets: " + join((*scope)->buckets);
}

}  // namespace

void ConfigureLog(const LogArgs& args) {
  log::Configure(log::ParseFormat(args.format).value_or(log::Format::kText),
                 log::ParseLevel(args.level).value_or(log::Level::kInfo));
}

int RunKeys(const KeysArgs& args) {
  Result<std::unique_ptr<store::JobStore>> st = OpenStore(args.data_dir, args.store);
  if (!st.ok()) return Fail(st.status().message());
  store::JobStore& s = **st;
  // Signing secrets are stored sealed: a reader of the database cannot forge webhooks.
  Result<std::string> sealing_key = InvalidArgument("not needed");
  if (args.action == "create" || args.action == "import" ||
      args.action == "rotate-webhook-secret") {
    sealing_key = LoadSecretKey(args.data_dir);
    if (!sealing_key.ok()) return Fail(sealing_key.status().message());
  }
  Result<nlohmann::json> scope = KeyScopeOf(args);
  if (!scope.ok()) return Fail(scope.status().message());
  if (args.action == "create") {
    if (args.name.empty()) return Fail("--name is required");
    std::string key = NewKey(), secret = NewWebhookSecret();
    Result<store::ApiKey> k =
        s.CreateKey(args.name, Sha256Hex(key), args.admin, SealValue(*sealing_key, secret), *scope);
    if (!k.ok()) return Fail(k.status().message());
    std::cout << key << "\n";
    std::cerr << "created " << (args.admin ? "admin " : "") << "key " << k->id << " (" << args.name
              << "); it is shown only this once\n"
              << "webhook signing secret: " << secret << "\n";
    return 0;
  }
  if (args.action == "import") {
    if (args.name.empty()) return Fail("--name is required");
    // Read from stdin so that the key never sits in argv (ps) or the shell's history.
    std::string key(4096, '\0');
    std::cin.read(key.data(), static_cast<std::streamsize>(key.size()));
    key.resize(static_cast<size_t>(std::cin.gcount()));
    if (key.size() >= 2 && key.compare(key.size() - 2, 2, "\r\n") == 0)
      key.resize(key.size() - 2);
    else if (!key.empty() && key.back() == '\n')
      key.pop_back();
    if (key.empty()) return Fail("keys import: no key on stdin");
    if (Status ok = CheckImportedKey(key, "the key on stdin"); !ok.ok()) return Fail(ok.message());
    if (Result<store::ApiKey> known = s.FindKeyByHash(Sha256Hex(key)); known.ok())
      return Fail("keys import: this key is stored already, as " + known->id + " (" + known->name +
                  ")");
    std::string secret = NewWebhookSecret();
    Result<store::ApiKey> k =
        s.CreateKey(args.name, Sha256Hex(key), args.admin, SealValue(*sealing_key, secret), *scope);
    if (!k.ok()) return Fail(k.status().message());
    std::cout << k->id << "\n";
    std::cerr << "imported " << (args.admin ? "admin " : "") << "key " << k->id << " (" << args.name
              << "); only its hash is stored\n"
              << "webhook signing secret: " << secret << "\n";
    return 0;
  }
  if (args.action == "rotate-webhook-secret") {
    std::string secret = NewWebhookSecret();
    Result<std::string> rotated = s.RotateWebhookSecret(args.name, SealValue(*sealing_key, secret));
    if (!rotated.ok()) return Fail(rotated.status().message());
    std::cout << secret << "\n";
    return 0;
  }
  if (args.action == "migrate") {
    std::cout << "reel: the store's schema is up to date" << std::endl;
    return 0;
  }
  if (args.action == "list") {
    Result<std::vector<store::ApiKey>> keys = s.ListKeys();
    if (!keys.ok()) return Fail(keys.status().message());
    for (const store::ApiKey& k : *keys)
      std::printf("%-16s %-20s %-6s %-8s %s\n", k.id.c_str(), k.name.c_str(),
                  k.admin ? "admin" : "", k.revoked ? "revoked" : "active",
                  DescribeKeyScope(k.storage).c_str());
    return 0;
  }
  if (args.action == "revoke") {
    Status r = s.RevokeKey(args.name);
    if (!r.ok()) return Fail(r.message());
    std::cerr << "revoked " << args.name << "\n";
    return 0;
  }
  return Fail("unknown keys action " + args.action);
}

int RunServe(const ServeArgs& args) {
  // `reel worker` deletes nothing unless told to (API nodes default to 7 days).
  double retention = args.retention.empty() ? -1 : ParseDuration(args.retention),
         lease = ParseDuration(args.lease), stall = ParseDuration(args.stall_timeout),
         grace = ParseDuration(args.shutdown_grace),
         store_timeout = ParseDuration(args.store_timeout),
         stream_idle = ParseDuration(args.stream_idle);
  if (retention < 0 && !(args.worker_only && args.retention.empty()))
    return Fail("--retention: not a duration (examples: 7d, 12h, 3600)");
  if (store_timeout <= 0) return Fail("--store-timeout: not a duration");
  if (stream_idle <= 0) return Fail("--stream-idle: not a duration");
  if (lease <= 0) return Fail("--lease: not a duration");
  if (stall <= 0) return Fail("--stall-timeout: not a duration");
  if (grace < 0) return Fail("--shutdown-grace: not a duration");
  if (!args.name.empty())
    if (Status ok = CheckWorkerName(args.name); !ok.ok()) return Fail(ok.message());
  const char* admin_key = args.worker_only ? nullptr : std::getenv("REEL_ADMIN_KEY");
  if (admin_key && !*admin_key) admin_key = nullptr;  // set but empty: unset, as for flags
  if (admin_key)
    if (Status ok = CheckImportedKey(admin_key, "REEL_ADMIN_KEY"); !ok.ok())
      return Fail(ok.message());
  size_t colon = args.listen.rfind(':');
  if (colon == std::string::npos) return Fail("--listen: expected HOST:PORT");
  // Checked at start, with its line: a bad presets file is an error now, not per job later.
  if (!LoadPresetsFlag(args.presets_file)) return 1;
  storage::Options checked_limits;
  if (std::string bad = ApplySourceLimits(args.source_limits, &checked_limits); !bad.empty())
    return Fail(bad);

  std::vector<std::string> roots;
  for (const std::string& r : args.allow_paths) {
    std::error_code ec;
    fs::path p = fs::weakly_canonical(fs::absolute(r), ec);
    if (ec || !fs::is_directory(p)) return Fail("--allow-path " + r + ": not a directory");
    roots.push_back(p.string());
  }
  // Jobs write where the allowed roots say; the server's own files (its database, keys, scratch)
  // must not be among those places, or one ordinary key could replace the live database.
  std::error_code data_ec;
  std::string data_dir = fs::weakly_canonical(fs::absolute(args.data_dir), data_ec).string();
  for (const std::string& root : roots) {
    auto inside = [](const std::string& path, const std::string& dir) {
      return path == dir || path.rfind(dir == "/" ? dir : dir + "/", 0) == 0;
    };
    if (inside(data_dir, root) || inside(root, data_dir))
      return Fail("--allow-path " + root + " and --data-dir " + data_dir +
                  " overlap: jobs could overwrite the server's database and keys; keep the data "
                  "directory outside every allowed path");
  }
  store::ShowPathsRelativeTo(roots);
  std::vector<std::string> forbidden = {data_dir};
  if (!args.storage_config.empty())  // it holds the S3 secrets
    forbidden.push_back(fs::weakly_canonical(fs::absolute(args.storage_config), data_ec).string());
  // Other jobs' chunks, which stitches trust: never a tenant's path, nor a tenant's S3 object.
  std::string s3_staging, staging_profile;
  if (attempt::IsS3Staging(args.staging)) {
    s3_staging = args.staging.back() == '/' ? args.staging : args.staging + "/";
    Result<attempt::StagingAccess> access = attempt::ServerStagingAccess(args.storage_config);
    if (!access.ok()) return Fail("--storage-config: " + access.status().message());
    if (Status usable = attempt::CheckS3Staging(s3_staging, *access); !usable.ok())
      return Fail("--staging " + args.staging + ": " + usable.message());
    forbidden.push_back(s3_staging);
    std::string bucket = s3_staging.substr(5);
    size_t at = bucket.find('@');
    staging_profile =
        at != std::string::npos && at < bucket.find('/') ? bucket.substr(0, at) : "default";
  } else if (!args.staging.empty()) {
    forbidden.push_back(fs::weakly_canonical(fs::absolute(args.staging), data_ec).string());
  }

  ConfigureLog(args.log);
  // Every job process gets the staging profile's keys (its chunks go there): keys that tenants'
  // URLs name too reach more than the staging.
  if (staging_profile == "default")
    log::Warn(
        "the S3 staging is signed with the \"default\" profile, which every tenant's "
        "s3://bucket/key URL uses too, and every job process receives its keys: give the staging "
        "a profile of its own, allowed only the staging prefix (--staging "
        "s3://NAME@bucket/prefix/)");
  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // With TLS, SIGHUP re-reads the certificate and key: blocked like the stop signals so that the
  // main thread takes it below. Without TLS it keeps its default action.
  sigset_t waited = stop_signals;
  if (!args.tls_cert.empty() || !args.tls_key.empty()) sigaddset(&waited, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &waited, nullptr);

  // A worker may start before its database (a host booting, a cluster starting together): it
  // waits, retrying with backoff from its first connection on and saying so once per step. An
  // error that is not about reaching the database (a bad schema, a bad URL) still ends it.
  std::string location = args.store;
  if (location.empty() && std::getenv("REEL_STORE")) location = std::getenv("REEL_STORE");
  bool waits = args.worker_only && location.rfind("postgres", 0) == 0;  // not a SQLite file
  Result<std::unique_ptr<store::JobStore>> st = OpenStore(args.data_dir, location, waits ? 1 : 6);
  for (double wait = 0.5; !st.ok() && waits && st.status().code() == StatusCode::kUnavailable;
       wait = std::min(wait * 2, 30.0)) {
    spdlog::warn("store unavailable: {}; retrying in {}s", st.status().message(), wait);
    timespec pause{static_cast<time_t>(wait), static_cast<long>((wait - std::floor(wait)) * 1e9)};
    if (sigtimedwait(&stop_signals, nullptr, &pause) > 0) {
      spdlog::info("stopped before the store could be reached");
      return 0;
    }
    st = OpenStore(args.data_dir, location, 1);
  }
  if (!st.ok()) return Fail(st.status().message());
  store::JobStore* store = st->get();
  Result<std::string> sealing_key = LoadSecretKey(args.data_dir);
  if (!sealing_key.ok()) return Fail(sealing_key.status().message());
  const std::string& secret_key = *sealing_key;
  // Signing secrets written in plain text (by an older reel) are sealed now.
  if (Result<int> sealed = store->SealWebhookSecrets(secret_key); !sealed.ok())
    spdlog::warn("cannot seal the stored webhook signing secrets: {}", sealed.status().ToString());
  else if (*sealed > 0)
    spdlog::info("sealed {} webhook signing secret(s) stored in plain text", *sealed);

  // First start: an admin key, printed once and kept (mode 0600) for the operator.
  Result<std::vector<store::ApiKey>> keys = store->ListKeys();
  if (admin_key && keys.ok() && !keys->empty() && !store->FindKeyByHash(Sha256Hex(admin_key)).ok())
    spdlog::warn(
        "REEL_ADMIN_KEY is not used: keys exist already (add it with `reel keys import "
        "--admin`)");
  if (admin_key && keys.ok() && keys->empty()) {
    // The operator brought the key: store its hash only, and show or write nothing of it.
    std::string secret = NewWebhookSecret();
    Result<store::ApiKey> k =
        store->CreateKey("admin", Sha256Hex(admin_key), true, SealValue(secret_key, secret));
    if (!k.ok()) return Fail(k.status().message());
    std::string secret_path = (fs::path(args.data_dir) / "admin.webhook-secret").string();
    std::ofstream(secret_path) << secret << "\n";
    chmod(secret_path.c_str(), 0600);
    std::cout << "reel: the admin API key is REEL_ADMIN_KEY's (" << k->id
              << "); its webhook signing secret is in " << secret_path << std::endl;
  } else if (!args.worker_only && keys.ok() && keys->empty()) {
    std::string key = NewKey(), secret = NewWebhookSecret();
    Result<store::ApiKey> k =
        store->CreateKey("admin", Sha256Hex(key), true, SealValue(secret_key, secret));
    if (!k.ok()) return Fail(k.status().message());
    std::string path = (fs::path(args.data_dir) / "admin.key").string();
    std::string secret_path = (fs::path(args.data_dir) / "admin.webhook-secret").string();
    for (const auto& [file, value] : {std::pair{path, key}, std::pair{secret_path, secret}}) {
      std::ofstream f(file);
      f << value << "\n";
      f.close();
      chmod(file.c_str(), 0600);
    }
    std::cout << "reel: created the admin API key (shown once; also in " << path << "):\n  " << key
              << "\nand its webhook signing secret (also in " << secret_path << "):\n  " << secret
              << std::endl;
  }

  events::JobEvents hub;
  api::Metrics metrics;
  std::unique_ptr<worker::WorkerPool> pool;
  if (args.workers > 0) {
    worker::PoolOptions po;
    po.slots = args.workers;
    po.lease_seconds = lease;
    po.stall_timeout = stall;
    po.shutdown_grace = grace;
    po.reel_binary = fs::read_symlink("/proc/self/exe").string();
    po.work_dir = (fs::path(args.data_dir) / "work").string();
    po.allow_paths = roots;
    po.forbidden_paths = forbidden;
    po.allow_hosts = args.allow_hosts;
    po.secret_key = secret_key;
    po.tags = args.tags;
    po.run_job_flags = SourceLimitFlags(args.source_limits);
    po.chunk_seconds = args.chunk_seconds;
    po.chunk_min_seconds = args.chunk_min_seconds;
    po.staging_dir = !s3_staging.empty()
                         ? s3_staging
                         : fs::absolute(args.staging.empty() ? fs::path(args.data_dir) / "staging"
                                                             : fs::path(args.staging))
                               .string();
    po.staging_shared = !args.staging.empty();
    // The child logs at info at least: its warnings make the attempt's log whatever ours shows.
    po.run_job_flags.insert(po.run_job_flags.end(),
                            {"--log-level", args.log.level == "debug" ? "debug" : "info"});
    po.storage_config =
        args.storage_config.empty() ? "" : fs::absolute(args.storage_config).string();
    po.presets_file = args.presets_file.empty() ? "" : fs::absolute(args.presets_file).string();
    po.host = HostName();
    po.worker_id = args.name.empty() ? "w-" + po.host + "-" + RandomHex(3) : args.name;
    if (!args.name.empty()) {
      // Two live workers with one id would renew and finish each other's leases: refuse while
      // the name is heard from (a crashed one stops being heard within a lease).
      Result<std::vector<store::WorkerInfo>> workers = store->ListWorkers();
      if (!workers.ok()) return Fail(workers.status().message());
      for (const store::WorkerInfo& w : *workers) {
        double silent = store::NowSeconds() - w.last_heartbeat;
        if (w.id == args.name && silent < lease)
          return Fail("--name " + args.name + ": a worker of that name is running on " + w.host +
                      " (heard from " + std::to_string(static_cast<int>(silent)) +
                      "s ago); worker names must be unique");
      }
    }
    worker::PoolObserver observer;
    observer.on_finished = [&metrics](const store::Job& job, double seconds) {
      metrics.ObserveJob(store::StateName(job.state), seconds);
    };
    observer.on_speed = [&metrics](double speed) { metrics.SetEncodeSpeed(speed); };
    pool = std::make_unique<worker::WorkerPool>(store, &hub, po, observer);
  }

  double webhook_retry = ParseDuration(args.webhook_retry);
  if (webhook_retry <= 0) return Fail("--webhook-retry: not a duration");
  Result<net::AddressPolicy> policy = net::AddressPolicy::Parse(args.allow_hosts);
  if (!policy.ok()) return Fail("--allow-host: " + policy.status().message());
  notify::WebhookOptions wo;
  wo.retry_base = webhook_retry;
  wo.policy = *policy;
  wo.secret_key = secret_key;
  notify::WebhookDispatcher webhooks(store, wo);

  Result<std::map<std::string, storage::S3Profile>> profiles =
      storage::LoadS3Profiles(args.storage_config);
  if (!profiles.ok()) return Fail("--storage-config: " + profiles.status().message());

  api::ServerOptions so;
  so.address_policy = *policy;
  so.s3_profiles = *profiles;
  so.secret_key = secret_key;
  so.scratch_dir = (fs::path(args.data_dir) / "work").string();
  if (!args.default_webhook.empty()) {
    Status ok = policy->CheckUrl(args.default_webhook);
    if (!ok.ok()) return Fail("--default-webhook: " + ok.message());
    so.default_webhook = args.default_webhook;
  }
  so.address = args.listen.substr(0, colon);
  so.port = std::atoi(args.listen.substr(colon + 1).c_str());
  so.threads = args.http_threads;
  so.max_attempts = args.max_attempts;
  so.max_retries = args.max_retries;
  so.max_jobs_per_key = args.max_jobs_per_key;
  so.max_priority = args.max_priority;
  so.allow_paths = roots;
  so.forbidden_paths = forbidden;
  so.store_deadline = store_timeout;
  so.store_threads = args.store_threads;
  so.stream_idle = stream_idle;
  so.max_streams_per_key = args.max_streams_per_key;
  so.tls_cert = args.tls_cert;
  so.tls_key = args.tls_key;
  // Streams stay below the descriptor limit, with room for other requests and the store.
  rlim_t files = RaiseFileLimit();
  so.max_streams = static_cast<int>(std::min<rlim_t>(static_cast<rlim_t>(args.max_streams),
                                                     files > 2048 ? files - 1024 : files / 2));
  double exit_when_idle = args.exit_when_idle.empty() ? 0 : ParseDuration(args.exit_when_idle);
  if (exit_when_idle < 0) return Fail("--exit-when-idle: not a duration");
  std::unique_ptr<PoolRunner> runner = pool ? std::make_unique<PoolRunner>(pool.get()) : nullptr;
  api::ApiServer server(so, store, runner.get(), &hub, &metrics);
  if (!args.worker_only) {
    Status started = server.Start();
    if (!started.ok()) return Fail(started.message());
    // One dispatcher per API node delivers webhooks; `reel worker` nodes leave it to them.
    webhooks.Start();
  }
  if (pool && !args.name.empty()) {
    // Registered before saying "running", so that a second worker of this name started after
    // that line is refused (the pool's heartbeat keeps the entry fresh from here on). Not
    // earlier: a start that fails above must not hold the name for a lease.
    const worker::PoolOptions& po = pool->options();
    Status registered = store->HeartbeatWorker(store::WorkerInfo{po.worker_id,
                                                                 po.host,
                                                                 po.version,
                                                                 po.slots,
                                                                 {},
                                                                 store::NowSeconds(),
                                                                 0,
                                                                 po.tags,
                                                                 pool->staging_identity()});
    if (!registered.ok()) return Fail(registered.message());
  }
  if (pool) pool->Start();
  std::string store_shown =
      location.empty() ? (fs::path(data_dir) / "reel.db").string() : RedactUrl(location);
  if (args.worker_only) {
    log::Info("worker running", {{"worker", pool->options().worker_id},
                                 {"capacity", args.workers},
                                 {"store", store_shown},
                                 {"tags", args.tags}});
    std::cout << "reel: worker " << pool->options().worker_id << " running" << std::endl;
  } else {
    const std::string scheme = server.tls() ? "https" : "http";
    log::Fields fields = {
        {"address", scheme + "://" + so.address + ":" + std::to_string(server.port())},
        {"workers", args.workers},
        {"store", store_shown},
        {"data_dir", data_dir},
        {"allow_paths", roots.size()}};
    if (pool) fields.push_back({"worker", pool->options().worker_id});
    log::Info("listening", fields);
    std::cout << "reel: listening on " << scheme << "://" << so.address << ":" << server.port()
              << " (dashboard at /, API under /v1)" << std::endl;
  }

  // Maintenance (docs/operations.md): every role rescues expired leases (a crashed worker's
  // jobs); API nodes sweep by retention, workers only when given --retention.
  worker::LeaseRescuerOptions lo;
  lo.interval = 1;
  if (pool) lo.wake = [&pool] { pool->Wake(); };
  worker::LeaseRescuer rescuer(store, &hub, lo);
  rescuer.Start();
  std::unique_ptr<worker::RetentionCleaner> cleaner;
  if (retention >= 0) {
    worker::RetentionOptions ro;
    ro.retention = retention;
    ro.interval = std::clamp(retention / 4, 1.0, 60.0);
    cleaner = std::make_unique<worker::RetentionCleaner>(store, ro);
    cleaner->Start();
  }

  // Wait for SIGTERM/SIGINT; a worker told to exit when idle also watches its own idleness
  // (platforms that scale workers to zero start them again on demand).
  int signo = 0;
  for (;;) {
    timespec tick{1, 0};
    signo = sigtimedwait(&waited, nullptr, &tick);
    if (signo == SIGHUP) {
      server.ReloadTls();  // logs the outcome; a bad pair leaves the certificate in use
      continue;
    }
    if (signo > 0) break;
    if (exit_when_idle > 0 && pool && pool->IdleSeconds() >= exit_when_idle) {
      spdlog::info("idle for {:.0f}s; exiting", pool->IdleSeconds());
      break;
    }
  }
  log::Info("stopping", {{"signal", signo > 0 ? strsignal(signo) : "idle"},
                         {"grace_seconds", grace},
                         {"running", pool ? pool->RunningJobs().size() : 0}});
  if (pool) pool->Shutdown();
  rescuer.Stop();
  if (cleaner) cleaner->Stop();
  server.Stop();
  webhooks.Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace reel::cli
