#include "api/router.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cinttypes>
#include <deque>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "api/event_streams.h"
#include "api/output_files.h"
#include "api/routes.h"
#include "api/store_gate.h"
#include "common/crypto.h"
#include "common/redact.h"
#include "dashboard/dashboard.h"
#include "job/sealed.h"
#include "job/spec.h"
#include "presets/catalog.h"
#include "presets/presets.h"
#include "service/job_service.h"
#include "storage/local_paths.h"
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

json PresetsCatalog() { return presets::CatalogJson(); }

// Files read back from object stores for a request are copied to disk first: at most this big
// (the dashboard reads segments, images and renditions; bigger ones want a presigned URL).
constexpr int64_t kMaxProxiedBytes = int64_t{512} << 20;

// A refusal of the service as its reply: a 400 naming the field for an invalid request.
Reply Refused(const Status& s, const service::Invalid& invalid) {
  if (s.code() == StatusCode::kInvalidArgument && !invalid.code.empty())
    return ErrorReply(400, invalid.code, s.message(), invalid.field);
  return FromStatus(s);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Routing: a request in, a reply (or an event stream to open) out. No I/O here.

class Router::Impl {
 public:
  Impl(const ServerOptions& options, store::JobStore* store, service::LocalRunner* runner,
       Metrics* metrics, const StoreGate* gate)
      : options_(options),
        store_(store),
        runner_(runner),
        metrics_(metrics),
        gate_(gate),
        service_(std::make_shared<service::JobService>(
            service::JobServiceOptions{options.max_attempts, options.max_retries,
                                       options.max_jobs_per_key, options.max_priority,
                                       options.allow_paths, options.forbidden_paths,
                                       options.address_policy, options.s3_profiles,
                                       options.secret_key, options.default_webhook},
            store, runner)) {}

  // The replies that need no store, answered on the I/O thread: health, the dashboard, unknown
  // paths, and metrics (without the store's gauges) while the store is unavailable. Sets
  // `*route` (a fixed name, for metrics) either way.
  std::optional<Reply> HandleWithoutStore(const Request& req, std::string* route) {
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    std::vector<std::string> parts = SplitPath(path);
    bool read = req.method() == http::verb::get || req.method() == http::verb::head;
    *route = RouteName(path);
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

    Result<service::Caller> caller = Authenticate(req);
    if (!caller.ok() && caller.status().code() != StatusCode::kNotFound)
      return FromStatus(caller.status());
    if (!caller.ok()) {
      Reply r = ErrorReply(401, "unauthorized", caller.status().message());
      r.headers.push_back({"WWW-Authenticate", "Bearer"});
      return r;
    }
    // Only what the route table (and so docs/openapi.json) lists is served.
    beast::string_view method = req.method_string();
    if (!FindRoute(std::string_view(method.data(), method.size()), path))
      return RouteTemplate(path).empty() ? ErrorReply(404, "not_found", "no route " + path)
                                         : MethodNotAllowed();

    if (parts.size() == 2 && parts[1] == "jobs") {
      if (m == http::verb::post) return Submit(req, *caller);
      if (m == http::verb::get) return List(query, *caller);
      return MethodNotAllowed();
    }
    if (parts.size() >= 3 && parts[1] == "jobs") {
      Result<store::Job> job = service_->Get(*caller, parts[2]);
      if (!job.ok()) return FromStatus(job.status());
      if (parts.size() == 3) {
        if (m == http::verb::get) return JsonReply(200, store::JobView(*job));
        if (m == http::verb::delete_) {
          Status s = service_->Delete(*caller, job->id);
          return s.ok() ? TextReply(204, "", "application/json") : FromStatus(s);
        }
        return MethodNotAllowed();
      }
      if (parts.size() == 4 && parts[3] == "webhooks" && m == http::verb::get) {
        Result<std::vector<store::WebhookDelivery>> ws = service_->Webhooks(*caller, job->id);
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
      if (parts.size() == 4 && parts[3] == "log" && m == http::verb::get)
        return AttemptLogReply(*job, query);
      if (parts.size() >= 6 && parts[3] == "outputs")
        return read ? OutputFileReply(*job, parts, path, std::string(req[http::field::range]))
                    : MethodNotAllowed();
      if (parts.size() == 4 && parts[3] == "events" && m == http::verb::get) {
        Reply r;
        r.events_for = store::JobView(*job);
        r.key_id = caller->key.id;
        r.key_hash = caller->key.hash;
        return r;
      }
      if (parts.size() == 4 && parts[3] == "cancel" && m == http::verb::post) {
        Result<store::Job> r = service_->Cancel(*caller, job->id);
        if (!r.ok()) return FromStatus(r.status());
        return JsonReply(202, store::JobView(*r));
      }
      if (parts.size() == 4 && parts[3] == "retry" && m == http::verb::post) {
        Result<store::Job> r = service_->Retry(*caller, job->id);
        if (!r.ok()) return FromStatus(r.status());
        return JsonReply(202, store::JobView(*r));
      }
      return ErrorReply(404, "not_found", "no route " + path);
    }
    if (parts.size() == 2 && parts[1] == "queue" && m == http::verb::get) {
      Result<std::map<std::string, int64_t>> counts = service_->Counts(*caller);
      if (!counts.ok()) return FromStatus(counts.status());
      return JsonReply(200, {{"counts", *counts}});
    }
    if (parts.size() == 2 && parts[1] == "workers" && m == http::verb::get) return Workers();
    if (parts.size() == 2 && parts[1] == "presets" && m == http::verb::get)
      return JsonReply(200, PresetsCatalog());
    return ErrorReply(404, "not_found", "no route " + path);
  }

 private:
  // The route's name for metrics: a template of the route table, never the path as sent
  // (unauthenticated clients choose it), so that labels stay few and safe.
  static std::string RouteName(const std::string& path) {
    std::string_view route = RouteTemplate(path);
    if (!route.empty()) return std::string(route);
    return dashboard::FindAsset(path) ? "/dashboard" : "other";
  }

  // The dashboard's files. Its script comes only from this server and the page cannot be framed;
  // media and images may come from blob: URLs (fetched with the key) and object stores.
  // The API reference (Redoc) puts its styles as rules into empty <style> elements, which CSP
  // counts as inline: only the empty element's hash is allowed, so no style text gets in that
  // way. Its icons are fonts inside its script (data:); the attribution logo it always loads
  // from its vendor's CDN is refused by img-src, and hides itself.
  static Reply DashboardReply(const dashboard::Asset& asset) {
    Reply r = TextReply(200, std::string(asset.body), std::string(asset.content_type));
    r.headers = {
        {"Content-Security-Policy",
         asset.path == "/docs" ? "default-src 'self'; script-src 'self'; style-src 'self' "
                                 "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='; "
                                 "font-src 'self' data:; img-src 'self'; connect-src 'self'; "
                                 "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
                               : "default-src 'self'; script-src 'self'; style-src 'self'; "
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
                        const std::string& path, const std::string& range) {
    const std::string& index = parts[4];
    if (index.empty() || index.size() > 4 ||
        index.find_first_not_of("0123456789") != std::string::npos)
      return ErrorReply(404, "not_found", "no output " + index);
    // The rest of the path as sent (SplitPath drops empty parts, which must not pass).
    std::string prefix = "/v1/jobs/" + parts[2] + "/outputs/" + index + "/";
    if (path.rfind(prefix, 0) != 0) return ErrorReply(404, "not_found", "no route " + path);
    std::optional<std::string> relative = DecodePath(path.substr(prefix.size()));
    if (!relative) return ErrorReply(404, "not_found", "malformed path " + path);
    // Within what the job's key reached (its storage scope), as the job itself was.
    Result<std::optional<storage::KeyScope>> scope = storage::ParseKeyScope(job.storage);
    if (!scope.ok()) return ErrorReply(500, "internal", "the job's storage scope cannot be read");
    std::vector<std::string> roots = options_.allow_paths;
    if (*scope) roots = storage::NarrowRoots(roots, (**scope).paths);
    Result<OutputFile> file =
        FindOutputFile(job.spec, job.result, std::stoi(index), *relative, roots);
    if (!file.ok()) return FromStatus(file.status());
    Reply r = TextReply(200, "", file->content_type);
    // Outputs are media, never pages: no sniffing, and sandboxed if opened directly.
    r.headers = {{"X-Content-Type-Options", "nosniff"},
                 {"Content-Security-Policy", "sandbox; default-src 'none'"},
                 {"Cache-Control", "private, no-cache"},
                 {"Accept-Ranges", "bytes"}};
    if (file->remote_url.empty()) {
      Result<int> fd = OpenOutputFile(*file);
      if (!fd.ok()) return FromStatus(fd.status());
      r.file = std::make_shared<OpenFile>(*fd);
      struct stat st;
      if (fstat(*fd, &st) != 0) return ErrorReply(404, "not_found", "the file went away");
      return WithRange(std::move(r), ParseRange(range, st.st_size), st.st_size);
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
    Result<json> secrets = job::OpenSecrets(job.spec, options_.secret_key);
    if (!secrets.ok()) return ErrorReply(500, "internal", "the job's credentials cannot be opened");
    // Only sealed URLs (no "s3"): the server's profiles apply.
    so.s3_profiles =
        storage::WithJobCredentials(std::move(so.s3_profiles), secrets->value("s3", json()));
    if (*scope) so = storage::Narrowed(std::move(so), **scope);
    std::string scratch =
        (fs::path(options_.scratch_dir.empty() ? fs::temp_directory_path().string()
                                               : options_.scratch_dir) /
         ("output-" + RandomHex(8)))
            .string();
    std::string url = file->remote_url;
    std::string job_id = job.id;
    if (IsSingleRange(range)) {
      r.deferred = [r, url, range, scratch, so, job_id]() mutable {
        return RangeFromStore(std::move(r), url, range, scratch, so, job_id);
      };
      return r;
    }
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
      return StoreFailure(fd.ok() ? std::string("cannot open the copy") : fd.status().message(),
                          url, job_id);
    };
    return r;
  }

  // Tenants learn that it is missing or that the store failed; details stay in the log.
  static Reply StoreFailure(const std::string& why, const std::string& url,
                            const std::string& job_id) {
    if (why.find(" S3 404") != std::string::npos)
      return ErrorReply(404, "not_found", "no such object in the bucket");
    spdlog::warn("job={} reading {} failed: {}", job_id, url, why);
    if (why.find("larger than the limit") != std::string::npos)
      return ErrorReply(413, "too_large",
                        "larger than the API reads from object stores; use a presigned URL "
                        "(\"presign\" on the output)");
    return ErrorReply(502, "bad_gateway", "the object store did not answer; see the server log");
  }

  // `r` (200, the whole file of `size` bytes) as the answer to `range`.
  static Reply WithRange(Reply r, const ByteRange& range, int64_t size) {
    if (range.kind == ByteRange::Kind::kUnsatisfiable) {
      Reply e = ErrorReply(
          416, "range_not_satisfiable",
          "the range starts past the end of the file (" + std::to_string(size) + " bytes)");
      e.headers = r.headers;
      e.headers.push_back({"Content-Range", range.ContentRange(size)});
      return e;
    }
    if (range.kind == ByteRange::Kind::kPart) {
      r.status = 206;
      r.file_offset = range.first;
      r.file_length = range.last - range.first + 1;
      r.headers.push_back({"Content-Range", range.ContentRange(size)});
    }
    return r;
  }

  // One byte range of an object in S3, asked of the store (only those bytes travel). A store
  // that answers a suffix range with other bytes than the RFC's (s3rver reads "bytes=-N" as
  // 0-N) is asked again for the explicit range, now that its size is known.
  static Reply RangeFromStore(Reply r, const std::string& url, const std::string& range,
                              const std::string& scratch, const storage::Options& so,
                              const std::string& job_id) {
    std::string asked = range;
    for (int attempt = 0; attempt < 2; ++attempt) {
      Result<storage::RangeFetch> got = storage::FetchSourceRange(url, asked, scratch, so);
      bool data = got.ok() && !got->unsatisfiable;
      int fd = data ? open(got->path.c_str(), O_RDONLY | O_CLOEXEC) : -1;
      std::error_code ec;
      fs::remove_all(scratch, ec);  // an open file lives on until closed
      if (!got.ok()) return StoreFailure(got.status().message(), url, job_id);
      if (got->unsatisfiable && got->object_size >= 0)
        return WithRange(std::move(r), ParseRange(range, got->object_size), got->object_size);
      if (got->unsatisfiable)
        return ErrorReply(416, "range_not_satisfiable", "the range starts past the end");
      if (fd < 0) return StoreFailure("cannot open the copy", url, job_id);
      r.file = std::make_shared<OpenFile>(fd);
      if (got->content_range.empty()) return r;  // the store sent it all: 200
      int64_t first = -1, last = -1, size = -1;
      std::sscanf(got->content_range.c_str(), "bytes %" SCNd64 "-%" SCNd64 "/%" SCNd64, &first,
                  &last, &size);
      ByteRange want = ParseRange(range, size);
      if (size >= 0 && want.kind == ByteRange::Kind::kPart && want.first == first &&
          want.last == last) {
        r.status = 206;
        r.headers.push_back({"Content-Range", want.ContentRange(size)});
        return r;
      }
      if (size < 0 || want.kind != ByteRange::Kind::kPart) break;
      r.file.reset();
      asked = "bytes=" + std::to_string(want.first) + "-" + std::to_string(want.last);
    }
    return StoreFailure("the store answered " + range + " with other bytes", url, job_id);
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

  Result<service::Caller> Authenticate(const Request& req) {
    std::string key;
    auto auth = req.find(http::field::authorization);
    if (auth != req.end()) {
      // The scheme is case-insensitive (RFC 9110 11.1).
      std::string v(auth->value());
      if (v.size() > 7 && beast::iequals(v.substr(0, 7), "bearer ")) key = v.substr(7);
    }
    auto x = req.find("X-API-Key");
    if (key.empty() && x != req.end()) key = std::string(x->value());
    return service_->Authenticate(key);
  }

  // POST /v1/jobs. Checking the sources and destinations reads the file system and may wait on
  // DNS. A spec with only local paths and data: URLs is checked here, on the store pool, and
  // created in the same call: its checks are quick, and each hand-off between threads costs a
  // POST about as much CPU as the insert (bench/api.sh --compare). One that needs the network is
  // checked off the store gate (a slow resolver must not count as a store outage), between the
  // key's check and the job's creation, which run on it.
  Reply Submit(const Request& req, const service::Caller& caller) {
    auto idem = req.find("Idempotency-Key");
    std::string idempotency_key = idem == req.end() ? "" : std::string(idem->value());
    service::Invalid invalid;
    bool needs_network = false;
    Result<service::PreparedJob> local =
        service_->Prepare(caller, req.body(), idempotency_key, &invalid, &needs_network);
    if (!needs_network) {
      if (!local.ok()) return Refused(local.status(), invalid);
      return Create(*service_, caller, std::move(*local));
    }
    Reply r;
    r.deferred = [service = service_, body = req.body(), idempotency_key, caller] {
      service::Invalid invalid;
      Result<service::PreparedJob> prepared =
          service->Prepare(caller, body, idempotency_key, &invalid);
      if (!prepared.ok()) return Refused(prepared.status(), invalid);
      Reply next;
      next.store_work = [service, caller,
                         job = std::make_shared<service::PreparedJob>(std::move(*prepared))] {
        return Create(*service, caller, std::move(*job));
      };
      return next;
    };
    return r;
  }

  static Reply Create(service::JobService& service, const service::Caller& caller,
                      service::PreparedJob job) {
    Result<service::Submitted> s = service.Submit(caller, std::move(job));
    if (!s.ok()) return FromStatus(s.status());
    Reply done = JsonReply(s->existed ? 200 : 202, store::JobView(s->job));
    done.headers.push_back({"Location", "/v1/jobs/" + s->job.id});
    return done;
  }

  Reply List(const std::map<std::string, std::string>& query, const service::Caller& caller) {
    service::ListRequest request;
    for (auto [name, value] :
         {std::pair{"state", &request.state}, std::pair{"limit", &request.limit},
          std::pair{"cursor", &request.cursor}})
      if (auto it = query.find(name); it != query.end()) *value = it->second;
    service::Invalid invalid;
    Result<store::ListPage> page = service_->List(caller, request, &invalid);
    if (!page.ok()) return Refused(page.status(), invalid);
    json jobs = json::array();
    for (const store::Job& j : page->jobs) jobs.push_back(store::JobView(j, false));
    json body = {{"jobs", jobs}};
    body["next_cursor"] = page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor);
    return JsonReply(200, body);
  }

  // GET /v1/jobs/{id}/log[?task=KIND-N][&attempt=N]: what one attempt of the job, or of one of
  // its tasks, wrote (the last by default), as its worker kept it when the attempt ended
  // (worker/attempt_log.h). The job's log of a job that fanned out names its tasks.
  Reply AttemptLogReply(const store::Job& job, const std::map<std::string, std::string>& query) {
    const store::Task* task = nullptr;
    if (auto it = query.find("task"); it != query.end()) {
      task = FindTask(job, it->second);
      if (!task) {
        if (!IsTaskName(it->second))
          return ErrorReply(400, "invalid_argument",
                            "must name a task as KIND-N (chunk-3, audio-0, main-0, stitch-0)",
                            "task");
        return ErrorReply(404, "not_found", "job " + job.id + " has no task " + it->second);
      }
    }
    int attempt = task ? task->attempts : job.attempts;
    if (auto it = query.find("attempt"); it != query.end()) {
      const std::string& v = it->second;
      bool digits = !v.empty() && v.size() <= 6 && v.find_first_not_of("0123456789") == v.npos;
      attempt = digits ? std::stoi(v) : 0;
      if (attempt < 1)
        return ErrorReply(400, "invalid_argument", "must be an attempt number (1, 2, ...)",
                          "attempt");
    }
    json body = {{"attempt", attempt}, {"lines", json::array()}, {"dropped", 0}};
    if (task) {
      body["task"] = query.at("task");
    } else if (!job.tasks.empty()) {
      json names = json::array();
      for (const store::Task& t : job.tasks)
        names.push_back(std::string(store::TaskKindName(t.kind)) + "-" + std::to_string(t.ordinal));
      body["tasks"] = std::move(names);
    }
    if (attempt == 0) return JsonReply(200, body);
    Result<json> log =
        task ? store_->TaskLog(task->id, attempt) : store_->AttemptLog(job.id, attempt);
    if (!log.ok()) return FromStatus(log.status());
    body["lines"] = (*log)["lines"];
    body["dropped"] = (*log)["dropped"];
    return JsonReply(200, body);
  }

  // "chunk-3": a known kind, a dash, an ordinal of at most six digits.
  static bool IsTaskName(const std::string& name) {
    size_t dash = name.rfind('-');
    if (dash == std::string::npos || !store::ParseTaskKind(name.substr(0, dash))) return false;
    std::string n = name.substr(dash + 1);
    return !n.empty() && n.size() <= 6 && n.find_first_not_of("0123456789") == n.npos;
  }
  static const store::Task* FindTask(const store::Job& job, const std::string& name) {
    if (!IsTaskName(name)) return nullptr;
    for (const store::Task& t : job.tasks)
      if (std::string(store::TaskKindName(t.kind)) + "-" + std::to_string(t.ordinal) == name)
        return &t;
    return nullptr;
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
    if (counts.ok())
      for (const auto& [state, n] : *counts)
        gauges.push_back("reel_jobs{state=\"" + state + "\"} " + std::to_string(n));
    // What scales workers (deploy/k8s/autoscaling): slots wanted and slots in use, counting the
    // tasks of chunked jobs, each of which takes a slot as a job does.
    Result<store::WorkCounts> work =
        with_store ? store_->CountWork() : Result<store::WorkCounts>(Unavailable("unavailable"));
    store::WorkCounts w = work.ok() ? *work : store::WorkCounts{};
    gauges.insert(
        gauges.end(),
        {"# HELP reel_queue_depth Jobs and tasks of chunked jobs waiting for a worker.",
         "# TYPE reel_queue_depth gauge",
         "reel_queue_depth " + std::to_string(w.queued_jobs + w.queued_tasks),
         "# HELP reel_tasks_queued Tasks of chunked jobs waiting for a worker.",
         "# TYPE reel_tasks_queued gauge", "reel_tasks_queued " + std::to_string(w.queued_tasks),
         "# HELP reel_attempts_running Attempts of jobs and tasks running on any "
         "worker: the worker slots in use.",
         "# TYPE reel_attempts_running gauge",
         "reel_attempts_running " + std::to_string(w.running_attempts)});
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
  std::shared_ptr<service::JobService> service_;  // shared with submissions under way
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
