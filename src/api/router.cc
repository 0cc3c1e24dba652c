#include "api/router.h"

#include <unistd.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "api/event_streams.h"
#include "api/output_files.h"
#include "api/store_gate.h"
#include "common/crypto.h"
#include "common/redact.h"
#include "dashboard/dashboard.h"
#include "job/spec.h"
#include "presets/presets.h"
#include "storage/storage.h"
#include "store/job_view.h"

namespace reel::api {
namespace {
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
namespace fs = std::filesystem;

json PresetsCatalog() {
  json presets = json::array();
  for (const presets::Preset& p : presets::AllPresets())
    presets.push_back({{"name", p.name},
                       {"description", p.description},
                       {"container", presets::ContainerName(p.container)},
                       {"video_codec", presets::VideoCodecName(p.video.codec)},
                       {"audio_codec", presets::AudioCodecName(p.audio.codec)}});
  json ladders = json::array();
  for (const presets::Ladder& l : presets::AllLadders()) {
    json rungs = json::array();
    for (const presets::Rung& r : l.rungs)
      rungs.push_back({{"name", r.name}, {"lines", r.lines}, {"bitrate", r.bitrate}});
    ladders.push_back({{"name", l.name}, {"segment_seconds", l.segment_seconds}, {"rungs", rungs}});
  }
  return {{"presets", presets}, {"ladders", ladders}};
}

// Files read back from object stores for a request are copied to disk first: at most this big
// (the dashboard reads segments, images and renditions; bigger ones want a presigned URL).
constexpr int64_t kMaxProxiedBytes = int64_t{512} << 20;

// JSON pointers to a stored spec's source, destination and webhook URLs (the dispatcher opens a
// sealed webhook URL; the store queues deliveries with the redacted one).
std::vector<std::string> UrlFields(const json& spec) {
  std::vector<std::string> out;
  auto input = [&](const std::string& at) {
    const json& v = spec[json::json_pointer(at)];
    if (v.is_string()) out.push_back(at);
    if (v.is_object() && v.contains("url") && v["url"].is_string()) out.push_back(at + "/url");
  };
  if (spec.contains("sources"))
    for (size_t i = 0; i < spec["sources"].size(); ++i) input("/sources/" + std::to_string(i));
  if (spec.contains("source")) input("/source");
  for (const char* name : {"audio", "subtitles"})
    if (spec.contains(name)) input(std::string("/") + name);
  if (spec.contains("outputs"))
    for (size_t i = 0; i < spec["outputs"].size(); ++i)
      for (const char* name : {"destination", "image"})
        if (spec["outputs"][i].contains(name) && spec["outputs"][i][name].is_string())
          out.push_back("/outputs/" + std::to_string(i) + "/" + name);
  if (spec.contains("webhook") && spec["webhook"].contains("url")) out.push_back("/webhook/url");
  return out;
}

// What a request is allowed to see: its key's jobs, or everything for an admin key.
struct Caller {
  store::ApiKey key;
  bool CanSee(const store::Job& job) const { return key.admin || job.owner == key.id; }
  std::string OwnerFilter() const { return key.admin ? "" : key.id; }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Routing: a request in, a reply (or an event stream to open) out. No I/O here.

class Router::Impl {
 public:
  Impl(const ServerOptions& options, store::JobStore* store, service::LocalRunner* runner,
       Metrics* metrics, const StoreGate* gate)
      : options_(options), store_(store), runner_(runner), metrics_(metrics), gate_(gate) {}

  // The replies that need no store, answered on the I/O thread: health, the dashboard, unknown
  // paths, and metrics (without the store's gauges) while the store is unavailable. Sets
  // `*route` (a fixed name, for metrics) either way.
  std::optional<Reply> HandleWithoutStore(const Request& req, std::string* route) {
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    std::vector<std::string> parts = SplitPath(path);
    bool read = req.method() == http::verb::get || req.method() == http::verb::head;
    *route = RouteName(path, parts);
    if (path == "/healthz") return JsonReply(200, {{"status", "ok"}});
    if (path == "/metrics" && gate_->open())
      return TextReply(200, RenderMetrics(false), "text/plain; version=0.0.4");
    if (path == "/" && WantsJson(req))
      return JsonReply(200, {{"name", "reel"}, {"api", "/v1"}, {"health", "/healthz"}});
    if (const dashboard::Asset* asset = dashboard::FindAsset(path)) {
      if (!read) return MethodNotAllowed();
      return DashboardReply(*asset);
    }
    if (path != "/readyz" && path != "/metrics" && (parts.empty() || parts[0] != "v1"))
      return ErrorReply(404, "not_found", "no route " + path);
    return std::nullopt;
  }

  // Everything else; runs on the store pool (it calls the store).
  Reply Handle(const Request& req) {
    std::string target(req.target());
    size_t q = target.find('?');
    std::string path = target.substr(0, q);
    auto query = ParseQuery(q == std::string::npos ? "" : target.substr(q + 1));
    std::vector<std::string> parts = SplitPath(path);
    http::verb m = req.method();
    bool read = m == http::verb::get || m == http::verb::head;  // HEAD answers as GET, bodiless

    if (path == "/readyz") {
      Status s = store_->Ping();
      return s.ok() ? JsonReply(200, {{"status", "ready"}}) : FromStatus(s);
    }
    if (path == "/metrics") return TextReply(200, RenderMetrics(true), "text/plain; version=0.0.4");

    Result<Caller> caller = Authenticate(req);
    if (!caller.ok()) {
      Reply r = ErrorReply(401, "unauthorized", caller.status().message());
      r.headers.push_back({"WWW-Authenticate", "Bearer"});
      return r;
    }

    if (parts.size() == 2 && parts[1] == "jobs") {
      if (m == http::verb::post) return Submit(req, *caller);
      if (m == http::verb::get) return List(query, *caller);
      return MethodNotAllowed();
    }
    if (parts.size() >= 3 && parts[1] == "jobs") {
      Result<store::Job> job = store_->GetJob(parts[2]);
      if (!job.ok() && job.status().code() != StatusCode::kNotFound)
        return FromStatus(job.status());
      if (!job.ok() || !caller->CanSee(*job))
        return ErrorReply(404, "not_found", "no job " + parts[2]);
      if (parts.size() == 3) {
        if (m == http::verb::get) return JsonReply(200, store::JobView(*job));
        if (m == http::verb::delete_) {
          Status s = store_->DeleteJob(job->id);
          return s.ok() ? TextReply(204, "", "application/json") : FromStatus(s);
        }
        return MethodNotAllowed();
      }
      if (parts.size() == 4 && parts[3] == "webhooks" && m == http::verb::get) {
        Result<std::vector<store::WebhookDelivery>> ws = store_->ListWebhooks(job->id);
        if (!ws.ok()) return FromStatus(ws.status());
        json out = json::array();
        for (const store::WebhookDelivery& w : *ws) {
          json d = {{"id", w.id},
                    {"event", w.event},
                    {"url", RedactUrl(w.url)},
                    {"attempts", w.attempts},
                    {"created_at", w.created_at},
                    {"attempt_log", w.attempt_log}};
          if (w.delivered_at > 0) d["delivered_at"] = w.delivered_at;
          if (w.delivered_at == 0 && !w.gave_up) d["next_attempt_at"] = w.next_attempt_at;
          d["state"] = w.delivered_at > 0 ? "delivered" : w.gave_up ? "gave_up" : "pending";
          out.push_back(std::move(d));
        }
        return JsonReply(200, {{"deliveries", out}});
      }
      if (parts.size() >= 6 && parts[3] == "outputs")
        return read ? OutputFileReply(*job, parts, path) : MethodNotAllowed();
      if (parts.size() == 4 && parts[3] == "events" && m == http::verb::get) {
        Reply r;
        r.events_for = store::JobView(*job);
        r.key_id = caller->key.id;
        r.key_hash = caller->key.hash;
        return r;
      }
      if (parts.size() == 4 && parts[3] == "cancel" && m == http::verb::post) {
        Result<store::Job> r = store_->RequestCancel(job->id);
        if (!r.ok()) return FromStatus(r.status());
        if (runner_ && r->state == store::JobState::kRunning) runner_->Cancel(job->id);
        return JsonReply(202, store::JobView(*r));
      }
      if (parts.size() == 4 && parts[3] == "retry" && m == http::verb::post) {
        Result<store::Job> r = store_->Retry(job->id);
        if (!r.ok()) return FromStatus(r.status());
        if (runner_) runner_->Wake();
        return JsonReply(202, store::JobView(*r));
      }
      return ErrorReply(404, "not_found", "no route " + path);
    }
    if (parts.size() == 2 && parts[1] == "queue" && m == http::verb::get) {
      Result<std::map<std::string, int64_t>> counts = store_->CountByState(caller->OwnerFilter());
      if (!counts.ok()) return FromStatus(counts.status());
      return JsonReply(200, {{"counts", *counts}});
    }
    if (parts.size() == 2 && parts[1] == "workers" && m == http::verb::get) return Workers();
    if (parts.size() == 2 && parts[1] == "presets" && m == http::verb::get)
      return JsonReply(200, PresetsCatalog());
    return ErrorReply(404, "not_found", "no route " + path);
  }

 private:
  // The route's name for metrics: one of a fixed set, never the path as sent (unauthenticated
  // clients choose it), so that labels stay few and safe.
  static std::string RouteName(const std::string& path, const std::vector<std::string>& parts) {
    for (const char* fixed : {"/healthz", "/readyz", "/metrics"})
      if (path == fixed) return fixed;
    if (path == "/") return "/";
    if (dashboard::FindAsset(path)) return "/dashboard";
    if (parts.size() == 2 && parts[0] == "v1") {
      for (const char* name : {"jobs", "queue", "workers", "presets"})
        if (parts[1] == name) return "/v1/" + parts[1];
      return "other";
    }
    if (parts.size() < 3 || parts[0] != "v1" || parts[1] != "jobs") return "other";
    if (parts.size() == 3) return "/v1/jobs/{id}";
    if (parts.size() >= 6 && parts[3] == "outputs") return "/v1/jobs/{id}/outputs/{index}/{file}";
    if (parts.size() == 4)
      for (const char* name : {"webhooks", "events", "cancel", "retry"})
        if (parts[3] == name) return "/v1/jobs/{id}/" + parts[3];
    return "other";
  }

  // The dashboard's files. Its script comes only from this server and the page cannot be framed;
  // media and images may come from blob: URLs (fetched with the key) and object stores.
  static Reply DashboardReply(const dashboard::Asset& asset) {
    Reply r = TextReply(200, std::string(asset.body), std::string(asset.content_type));
    r.headers = {{"Content-Security-Policy",
                  "default-src 'self'; script-src 'self'; style-src 'self'; "
                  "img-src 'self' blob:; media-src 'self' blob:; "
                  "connect-src 'self'; worker-src 'self' blob:; "
                  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Referrer-Policy", "no-referrer"},
                 {"Cache-Control", "no-cache"}};
    return r;
  }

  // GET /v1/jobs/{id}/outputs/{index}/{file...}: a file of one of the job's outputs.
  Reply OutputFileReply(const store::Job& job, const std::vector<std::string>& parts,
                        const std::string& path) {
    const std::string& index = parts[4];
    if (index.empty() || index.size() > 4 ||
        index.find_first_not_of("0123456789") != std::string::npos)
      return ErrorReply(404, "not_found", "no output " + index);
    // The rest of the path as sent (SplitPath drops empty parts, which must not pass).
    std::string prefix = "/v1/jobs/" + parts[2] + "/outputs/" + index + "/";
    if (path.rfind(prefix, 0) != 0) return ErrorReply(404, "not_found", "no route " + path);
    std::optional<std::string> relative = DecodePath(path.substr(prefix.size()));
    if (!relative) return ErrorReply(404, "not_found", "malformed path " + path);
    Result<OutputFile> file =
        FindOutputFile(job.spec, job.result, std::stoi(index), *relative, options_.allow_paths);
    if (!file.ok()) return FromStatus(file.status());
    Reply r = TextReply(200, "", file->content_type);
    // Outputs are media, never pages: no sniffing, and sandboxed if opened directly.
    r.headers = {{"X-Content-Type-Options", "nosniff"},
                 {"Content-Security-Policy", "sandbox; default-src 'none'"},
                 {"Cache-Control", "private, no-cache"}};
    if (file->remote_url.empty()) {
      Result<int> fd = OpenOutputFile(*file);
      if (!fd.ok()) return FromStatus(fd.status());
      r.file = std::make_shared<OpenFile>(*fd);
      return r;
    }
    // Read from the bucket with the server's profiles (or the job's own sealed credentials),
    // through the same address policy as the workers; the key stays on the server.
    storage::Options so;
    so.policy = options_.address_policy;
    so.s3_profiles = options_.s3_profiles;
    so.max_download_bytes = kMaxProxiedBytes;
    // A reader waits on this copy, and a shutdown waits for the thread making it: a bucket that
    // trickles fails the read rather than holding either for hours.
    so.max_source_seconds = 120;
    so.min_source_speed = 64 << 10;
    so.low_speed_seconds = 10;
    if (job.spec.contains("credentials") && job.spec["credentials"].contains("sealed")) {
      Result<std::string> opened =
          Open(options_.secret_key, job.spec["credentials"]["sealed"].get<std::string>());
      json creds = opened.ok() ? json::parse(*opened, nullptr, false) : json();
      if (!creds.is_object())
        return ErrorReply(500, "internal", "the job's credentials cannot be opened");
      if (creds.contains("s3"))  // else only sealed URLs: the server's profiles apply
        so.s3_profiles["default"] = storage::JobProfile(creds["s3"], so.s3_profiles.count("default")
                                                                         ? so.s3_profiles["default"]
                                                                         : storage::S3Profile{});
    }
    std::string scratch =
        (fs::path(options_.scratch_dir.empty() ? fs::temp_directory_path().string()
                                               : options_.scratch_dir) /
         ("output-" + RandomHex(8)))
            .string();
    std::string url = file->remote_url;
    std::string job_id = job.id;
    r.deferred = [r, url, scratch, so, job_id]() mutable {
      Result<std::string> local = storage::FetchSource(url, scratch, so);
      Result<int> fd = local.ok() ? Result<int>(open(local->c_str(), O_RDONLY | O_CLOEXEC))
                                  : Result<int>(local.status());
      std::error_code ec;
      fs::remove_all(scratch, ec);  // an open file lives on until closed
      if (fd.ok() && *fd >= 0) {
        r.file = std::make_shared<OpenFile>(*fd);
        return r;
      }
      std::string why = fd.ok() ? std::string("cannot open the copy") : fd.status().message();
      // Tenants learn that it is missing or that the store failed; details stay in the log.
      if (why.find(" S3 404") != std::string::npos)
        return ErrorReply(404, "not_found", "no such object in the bucket");
      spdlog::warn("job={} reading {} failed: {}", job_id, url, why);
      if (why.find("larger than the limit") != std::string::npos)
        return ErrorReply(413, "too_large",
                          "larger than the API reads from object stores; use a presigned URL "
                          "(\"presign\" on the output)");
      return ErrorReply(502, "bad_gateway", "the object store did not answer; see the server log");
    };
    return r;
  }

  // A client asking for JSON rather than a page (Accept: application/json, no text/html) gets the
  // API's index at "/" instead of the dashboard.
  static bool WantsJson(const Request& req) {
    auto accept = req.find(http::field::accept);
    if (accept == req.end()) return false;
    std::string v(accept->value());
    return v.find("application/json") != std::string::npos &&
           v.find("text/html") == std::string::npos;
  }

  static Reply MethodNotAllowed() {
    return ErrorReply(405, "method_not_allowed", "method not allowed on this route");
  }

  Result<Caller> Authenticate(const Request& req) {
    std::string key;
    auto auth = req.find(http::field::authorization);
    if (auth != req.end()) {
      // The scheme is case-insensitive (RFC 9110 11.1).
      std::string v(auth->value());
      if (v.size() > 7 && beast::iequals(v.substr(0, 7), "bearer ")) key = v.substr(7);
    }
    auto x = req.find("X-API-Key");
    if (key.empty() && x != req.end()) key = std::string(x->value());
    if (key.empty())
      return Status(StatusCode::kNotFound,
                    "an API key is required (Authorization: Bearer KEY or X-API-Key)");
    std::string hash = Sha256Hex(key);
    Result<store::ApiKey> found = store_->FindKeyByHash(hash);
    // The lookup is by the hash of a 192-bit random key; the comparison below is what decides.
    if (!found.ok() || found->revoked || !ConstantTimeEquals(found->hash, hash))
      return Status(StatusCode::kNotFound, "invalid or revoked API key");
    return Caller{*found};
  }

  Reply Submit(const Request& req, const Caller& caller) {
    Result<json> document = job::ParseJobDocument(req.body());
    if (!document.ok())
      return ErrorReply(400, "invalid_json", "the body is " + document.status().message());
    json body = std::move(*document);
    job::FieldError fe;
    Result<job::JobSpec> spec = job::ParseJobSpec(body, &fe);
    if (!spec.ok()) return ErrorReply(400, "invalid_spec", fe.message, fe.field);
    // Local paths must stay inside the allowed roots (stored resolved); remote ones must reach
    // allowed addresses; inline media must decode within its cap.
    json stored = body;
    storage::Options so;
    so.allow_paths = options_.allow_paths;
    so.forbidden_roots = options_.forbidden_paths;
    so.policy = options_.address_policy;
    so.s3_profiles = options_.s3_profiles;
    if (!spec->s3_credentials.is_null())
      so.s3_profiles["default"] = storage::JobProfile(
          spec->s3_credentials,
          so.s3_profiles.count("default") ? so.s3_profiles["default"] : storage::S3Profile{});
    std::vector<std::string> sources;  // checked first: no destination may overwrite one
    auto check = [&](json& value, const std::string& field, bool source) -> std::optional<Reply> {
      Result<std::string> p = source ? storage::CheckSource(value.get<std::string>(), so)
                                     : storage::CheckDestination(value.get<std::string>(), so);
      if (!p.ok()) return ErrorReply(400, "invalid_path", p.status().message(), field);
      if (source) sources.push_back(*p);
      if (Status s = source ? Status() : storage::CheckNotASource(*p, sources); !s.ok())
        return ErrorReply(400, "invalid_path", s.message(), field);
      value = *p;
      return std::nullopt;
    };
    auto check_input = [&](json& value, const std::string& field) -> std::optional<Reply> {
      if (value.is_string()) return check(value, field, true);
      if (value.contains("inline")) {
        json url = "data:application/octet-stream;base64," + value["inline"].get<std::string>();
        return check(url, field + ".inline", true);  // checked, stored as given
      }
      return check(value["url"], field + ".url", true);
    };
    if (stored.contains("sources")) {
      for (size_t i = 0; i < stored["sources"].size(); ++i)
        if (auto err = check_input(stored["sources"][i], "sources[" + std::to_string(i) + "]"))
          return *err;
    } else if (auto err = check_input(stored["source"], "source")) {
      return *err;
    }
    for (const char* input : {"audio", "subtitles"})
      if (stored.contains(input))
        if (auto err = check_input(stored[input], input)) return *err;
    for (size_t i = 0; i < stored["outputs"].size(); ++i) {
      json& o = stored["outputs"][i];
      std::string where = "outputs[" + std::to_string(i) + "]";
      if (o.contains("destination"))
        if (auto err = check(o["destination"], where + ".destination", false)) return *err;
      if (o.contains("image"))
        if (auto err = check(o["image"], where + ".image", false)) return *err;
    }
    if (body.contains("webhook")) {
      Status reachable = options_.address_policy.CheckUrl(body["webhook"]["url"]);
      if (!reachable.ok())
        return ErrorReply(400, "invalid_webhook", reachable.message(), "webhook.url");
    }
    if (!stored.contains("webhook") && !options_.default_webhook.empty())
      stored["webhook"] = {{"url", options_.default_webhook}};
    // Credentials are kept sealed (AES-256-GCM under the server's key) and opened only in the
    // worker that runs the job; the API shows them as [redacted]. That includes what a source or
    // destination URL carries (an FTP password, a presigned query): the stored spec holds the
    // redacted URL, the sealed part the whole one and where it goes.
    json secrets = stored.value("credentials", json::object());
    for (const std::string& pointer : UrlFields(stored)) {
      std::string url = stored[json::json_pointer(pointer)];
      std::string shown = RedactUrl(url);
      if (shown == url) continue;
      secrets["urls"].push_back({{"at", pointer}, {"url", url}});
      stored[json::json_pointer(pointer)] = shown;
    }
    if (!secrets.empty())
      stored["credentials"] = {{"sealed", Seal(options_.secret_key, secrets.dump())}};
    if (stored.contains("metadata")) stored["metadata"] = RedactSecrets(stored["metadata"]);
    store::NewJob nj{caller.key.id,  stored,    options_.max_attempts, "", "",
                     spec->priority, spec->tags};
    auto idem = req.find("Idempotency-Key");
    if (idem != req.end()) {
      nj.idempotency_key = std::string(idem->value());
      if (nj.idempotency_key.size() > 255)
        return ErrorReply(400, "invalid_header", "Idempotency-Key is longer than 255 characters");
      nj.request_hash = Sha256Hex(req.body());
    }
    bool existed = false;
    Result<store::Job> job = store_->CreateJob(nj, &existed);
    if (!job.ok()) return FromStatus(job.status());
    if (!existed) {
      spdlog::info("job={} submitted owner={}", job->id, caller.key.name);
      if (runner_) runner_->Wake();
    }
    Reply r = JsonReply(existed ? 200 : 202, store::JobView(*job));
    r.headers.push_back({"Location", "/v1/jobs/" + job->id});
    return r;
  }

  Reply List(const std::map<std::string, std::string>& query, const Caller& caller) {
    store::ListQuery q;
    q.owner = caller.OwnerFilter();
    if (auto it = query.find("state"); it != query.end()) {
      q.state = store::ParseState(it->second);
      if (!q.state)
        return ErrorReply(400, "invalid_argument",
                          "unknown state (queued, running, succeeded, failed, canceled)", "state");
    }
    if (auto it = query.find("limit"); it != query.end()) {
      char* end = nullptr;
      long v = std::strtol(it->second.c_str(), &end, 10);
      if (it->second.empty() || *end || v < 1 || v > 200)
        return ErrorReply(400, "invalid_argument", "must be between 1 and 200", "limit");
      q.limit = static_cast<int>(v);
    }
    if (auto it = query.find("cursor"); it != query.end()) {
      if (it->second.empty() || it->second.find_first_not_of("0123456789") != std::string::npos)
        return ErrorReply(400, "invalid_argument", "not a cursor from this API", "cursor");
      q.cursor = it->second;
    }
    Result<store::ListPage> page = store_->ListJobs(q);
    if (!page.ok()) return FromStatus(page.status());
    json jobs = json::array();
    for (const store::Job& j : page->jobs) jobs.push_back(store::JobView(j, false));
    json body = {{"jobs", jobs}};
    body["next_cursor"] = page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor);
    return JsonReply(200, body);
  }

  Reply Workers() {
    Result<std::vector<store::WorkerInfo>> ws = store_->ListWorkers();
    if (!ws.ok()) return FromStatus(ws.status());
    double now = store::NowSeconds();
    json out = json::array();
    for (const store::WorkerInfo& w : *ws)
      out.push_back({{"id", w.id},
                     {"host", w.host},
                     {"version", w.version},
                     {"capacity", w.capacity},
                     {"running_jobs", w.running_jobs},
                     {"started_at", w.started_at},
                     {"last_heartbeat", w.last_heartbeat},
                     {"tags", w.tags},
                     {"alive", now - w.last_heartbeat < 30}});
    return JsonReply(200, {{"workers", out}});
  }

  // `with_store`: also the store's gauges (not while the store is unavailable).
  std::string RenderMetrics(bool with_store) {
    std::vector<std::string> gauges = {"# HELP reel_jobs Jobs in the store by state.",
                                       "# TYPE reel_jobs gauge"};
    Result<std::map<std::string, int64_t>> counts =
        with_store ? store_->CountByState("")
                   : Result<std::map<std::string, int64_t>>(Unavailable("store unavailable"));
    int64_t queued = 0;
    if (counts.ok()) {
      for (const auto& [state, n] : *counts)
        gauges.push_back("reel_jobs{state=\"" + state + "\"} " + std::to_string(n));
      queued = (*counts)["queued"];
    }
    gauges.push_back("# HELP reel_queue_depth Jobs waiting for a worker.");
    gauges.push_back("# TYPE reel_queue_depth gauge");
    gauges.push_back("reel_queue_depth " + std::to_string(queued));
    if (runner_) {
      gauges.push_back("# HELP reel_worker_slots_busy Job slots of this process running a job.");
      gauges.push_back("# TYPE reel_worker_slots_busy gauge");
      gauges.push_back("reel_worker_slots_busy " + std::to_string(runner_->RunningJobs().size()));
    }
    return metrics_->Render(gauges);
  }

  const ServerOptions& options_;
  store::JobStore* store_;
  service::LocalRunner* runner_;
  Metrics* metrics_;
  const StoreGate* gate_;
};

// ---------------------------------------------------------------------------------------------
// Connections.

Router::Router(const ServerOptions& options, store::JobStore* store, service::LocalRunner* runner,
               Metrics* metrics, const StoreGate* gate)
    : impl_(std::make_unique<Impl>(options, store, runner, metrics, gate)) {}

Router::~Router() = default;

std::optional<Reply> Router::HandleWithoutStore(const Request& req, std::string* route) {
  return impl_->HandleWithoutStore(req, route);
}

Reply Router::Handle(const Request& req) { return impl_->Handle(req); }

}  // namespace reel::api
