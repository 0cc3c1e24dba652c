#include "api/server.h"

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
using Request = http::request<http::string_body>;
namespace fs = std::filesystem;

// An open file, closed when the last reply holding it goes away.
struct OpenFile {
  explicit OpenFile(int f) : fd(f) {}
  ~OpenFile() { close(fd); }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  int fd;
};

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<OpenFile> file;  // when set, the body is this file, streamed from disk
  // When set, the reply is this function's, run off the I/O threads (it blocks: a read from an
  // object store).
  std::function<Reply()> deferred;
  // Set when the caller asked for a job's event stream and may see it: the job as it is now,
  // and who asked (streams are capped per key, and end when the key is revoked).
  std::optional<json> events_for;
  std::string key_id, key_hash;
};

Reply TextReply(int status, std::string body, std::string content_type) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

Reply JsonReply(int status, const json& body) {
  return TextReply(status, body.dump(), "application/json");
}

Reply ErrorReply(int status, const std::string& code, const std::string& message,
                 const std::string& field = "") {
  json err = {{"code", code}, {"message", message}};
  if (!field.empty()) err["field"] = field;
  return JsonReply(status, json{{"error", err}});
}

Reply FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound:
      return ErrorReply(404, "not_found", s.message());
    case StatusCode::kInvalidArgument:
      return ErrorReply(400, "invalid_argument", s.message());
    case StatusCode::kFailedPrecondition:
      return ErrorReply(409, "conflict", s.message());
    case StatusCode::kUnavailable: {
      Reply r = ErrorReply(503, "unavailable", s.message());
      r.headers.push_back({"Retry-After", "1"});
      return r;
    }
    default:
      return ErrorReply(500, "internal", s.message());
  }
}

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A path segment's %XX escapes decoded ('+' is itself); nullopt when an escape is malformed.
std::optional<std::string> DecodePath(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
      return std::nullopt;
    out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
    i += 2;
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(const std::string& q) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= q.size() && !q.empty()) {
    size_t amp = q.find('&', pos);
    std::string part = q.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = part.find('=');
    if (!part.empty())
      out[UrlDecode(part.substr(0, eq))] =
          eq == std::string::npos ? "" : UrlDecode(part.substr(eq + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    std::string part =
        path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return parts;
}

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

// JSON pointers to a stored spec's source and destination URLs (not the webhook, which the store
// reads to queue deliveries).
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
  return out;
}

// What a request is allowed to see: its key's jobs, or everything for an admin key.
struct Caller {
  store::ApiKey key;
  bool CanSee(const store::Job& job) const { return key.admin || job.owner == key.id; }
  std::string OwnerFilter() const { return key.admin ? "" : key.id; }
};

// ---------------------------------------------------------------------------------------------
// Routing: a request in, a reply (or an event stream to open) out. No I/O here.

class Router {
 public:
  Router(const ServerOptions& options, store::JobStore* store, service::LocalRunner* runner,
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

std::string SseEvent(const std::string& event, const json& data) {
  return "event: " + event + "\ndata: " + data.dump() + "\n\n";
}

// What every connection shares.
struct Shared {
  const ServerOptions& options;
  Router* router;
  Metrics* metrics;
  std::shared_ptr<EventStreams> streams;
  StoreGate* gate;
  net::thread_pool* blocking;
};

Reply StoreUnavailable(const std::string& message) {
  Reply r = ErrorReply(503, "unavailable", message);
  r.headers.push_back({"Retry-After", "1"});
  return r;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared* shared)
      : stream_(std::move(socket)),
        timer_(stream_.get_executor()),
        shared_(shared),
        streams_(shared->streams) {}

  // Sessions may outlive the server's other parts (destroyed with its I/O context): the streams
  // registry is kept alive by each.
  ~Session() {
    if (token_) streams_->Close(token_);
  }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

 private:
  // What answering a request needs to remember while its reply is made elsewhere.
  struct Context {
    std::string route, method;
    std::chrono::steady_clock::time_point started;
    bool keep_alive = false, head = false;
    unsigned version = 11;
  };

  void Read() {
    parser_.emplace();
    parser_->body_limit(shared_->options.body_limit);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(shared_->options.header_timeout)));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  // A request Beast refused to parse gets an answer rather than a closed connection.
  static bool Malformed(beast::error_code ec) {
    static const auto& category = http::make_error_code(http::error::bad_field).category();
    return ec.category() == category && ec != http::error::end_of_stream &&
           ec != http::error::partial_message && ec != http::error::need_more &&
           ec != http::error::short_read;
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      Send(ErrorReply(
               413, "payload_too_large",
               "request body exceeds " + std::to_string(shared_->options.body_limit) + " bytes"),
           false, 11, false);
      return;
    }
    if (ec == http::error::header_limit) {
      Send(ErrorReply(431, "headers_too_large", "request headers exceed 16 KiB"), false, 11, false);
      return;
    }
    if (ec && Malformed(ec)) {
      Send(ErrorReply(400, "bad_request", "malformed request: " + ec.message()), false, 11, false);
      return;
    }
    if (ec) return Close();  // closed, timed out, or not HTTP
    auto req = std::make_shared<Request>(parser_->release());
    Context c;
    c.started = std::chrono::steady_clock::now();
    c.keep_alive = req->keep_alive();
    c.head = req->method() == http::verb::head;
    c.version = req->version();
    // Clients choose unknown methods' names: they share one label.
    c.method = req->method() == http::verb::unknown ? "other" : std::string(req->method_string());
    std::optional<Reply> quick;
    try {
      quick = shared_->router->HandleWithoutStore(*req, &c.route);
    } catch (const std::exception& e) {
      spdlog::error("request {} failed: {}", c.route, e.what());
      quick = ErrorReply(500, "internal", "internal error");
    }
    if (quick) return Finish(std::move(*quick), std::move(c));
    // Over the streams cap: refused before any store work, so that a flood of them is cheap.
    if (c.route == "/v1/jobs/{id}/events" &&
        shared_->streams->size() >= static_cast<size_t>(shared_->options.max_streams))
      return RefuseStream(std::move(c));
    if (shared_->gate->open())
      return Finish(StoreUnavailable("the job store is unavailable; try again shortly"),
                    std::move(c));
    // The store's part runs on its pool; the reply is whichever comes first of its answer and
    // the deadline. A late answer is dropped (work not yet started is skipped).
    auto done = std::make_shared<std::atomic<bool>>(false);
    auto deadline = std::make_shared<net::steady_timer>(stream_.get_executor());
    deadline->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(shared_->options.store_deadline)));
    bool posted = shared_->gate->Post([self = shared_from_this(), req, done, deadline, c] {
      if (*done) return;
      Reply r;
      try {
        r = self->shared_->router->Handle(*req);
      } catch (const std::exception& e) {
        spdlog::error("request {} {} failed: {}", c.method, c.route, e.what());
        r = ErrorReply(500, "internal", "internal error");
      }
      net::post(self->stream_.get_executor(),
                [self, done, deadline, c, r = std::move(r)]() mutable {
                  if (done->exchange(true)) return;
                  deadline->cancel();
                  self->Finish(std::move(r), std::move(c));
                });
    });
    if (!posted)
      return Finish(
          StoreUnavailable(shared_->gate->open() ? "the job store is unavailable; try again shortly"
                                                 : "too many requests wait for the job store"),
          std::move(c));
    deadline->async_wait([self = shared_from_this(), done, c](beast::error_code ec) mutable {
      if (ec || done->exchange(true)) return;
      self->shared_->gate->Trip("a request waited " +
                                std::to_string(self->shared_->options.store_deadline) +
                                " s for it");
      self->Finish(StoreUnavailable("the job store did not answer in time; try again shortly"),
                   std::move(c));
    });
  }

  // On this connection's strand: answers, opens an event stream, or hands the reply's work
  // (an object store read) to the blocking pool.
  void Finish(Reply reply, Context c) {
    if (reply.events_for) return StartEvents(std::move(reply), c);
    if (reply.deferred) {
      auto work = std::move(reply.deferred);
      net::post(*shared_->blocking, [self = shared_from_this(), work = std::move(work), c]() {
        Reply r = work();
        net::post(self->stream_.get_executor(), [self, r = std::move(r), c]() mutable {
          reply_done(self.get(), std::move(r), c);
        });
      });
      return;
    }
    reply_done(this, std::move(reply), c);
  }

  static void reply_done(Session* self, Reply r, const Context& c) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.started).count();
    self->shared_->metrics->CountRequest(c.route, c.method, r.status, s);
    self->Send(std::move(r), c.keep_alive, c.version, c.head);
  }

  void Send(Reply reply, bool keep_alive, unsigned version, bool head) {
    uint64_t size = reply.body.size();
    http::file_body::value_type file;
    if (reply.file) {
      beast::error_code ec;
      beast::file f;
      f.native_handle(dup(reply.file->fd));  // beast closes its own copy
      file.reset(std::move(f), ec);
      if (ec)
        return Send(ErrorReply(404, "not_found", "the file went away"), keep_alive, version, head);
      size = file.size();
    }
    if (head) {
      auto res = std::make_shared<http::response<http::empty_body>>(
          static_cast<http::status>(reply.status), version);
      res->content_length(size);
      return Write(std::move(res), std::move(reply), keep_alive, 0);
    }
    if (reply.file) {
      auto res = std::make_shared<http::response<http::file_body>>(
          std::piecewise_construct, std::make_tuple(std::move(file)),
          std::make_tuple(static_cast<http::status>(reply.status), version));
      res->prepare_payload();
      return Write(std::move(res), std::move(reply), keep_alive, size);
    }
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(reply.status), version);
    res->body() = std::move(reply.body);
    res->prepare_payload();
    Write(std::move(res), std::move(reply), keep_alive, size);
  }

  template <class Body>
  void Write(std::shared_ptr<http::response<Body>> res, Reply reply, bool keep_alive,
             uint64_t size) {
    res->set(http::field::server, "reel");
    if (reply.status != 204) res->set(http::field::content_type, reply.content_type);
    for (const auto& [k, v] : reply.headers) res->set(k, v);
    res->keep_alive(keep_alive);
    // The read's deadline does not fit a large body: allow 30 s plus 64 KiB/s.
    stream_.expires_after(std::chrono::seconds(30 + size / (64 * 1024)));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        if (!res->keep_alive()) return self->LingeringClose();
                        self->Read();
                      });
  }

  // Closing with unread request bytes makes the kernel reset the connection, and a client still
  // sending (a body over the limit) would lose the response. Stop sending, then read and drop
  // what is still coming for a moment, then close.
  void LingeringClose() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    Discard();
  }

  void Discard() {
    auto buf = std::make_shared<std::array<char, 16384>>();
    stream_.async_read_some(net::buffer(*buf),
                            [self = shared_from_this(), buf](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->Discard();
                            });
  }

  // Server-Sent Events: the current state first, then every event of the job as it happens,
  // until the job finishes, the key is revoked, the stream idles too long or the client goes.
  void StartEvents(Reply reply, const Context& c) {
    std::weak_ptr<Session> weak = shared_from_this();
    auto executor = stream_.get_executor();
    EventStreams::Sink sink;
    sink.deliver = [weak, executor](std::shared_ptr<const StreamEvent> e) {
      net::post(executor, [weak, e] {
        if (auto self = weak.lock()) self->OnEvent(*e);
      });
    };
    sink.close = [weak, executor] {
      net::post(executor, [weak] {
        if (auto self = weak.lock()) self->EndStream("the API key was revoked");
      });
    };
    std::string job_id = reply.events_for->value("id", "");
    EventStreams::OpenResult opened = shared_->streams->Open(
        job_id, reply.key_id, reply.key_hash, *reply.events_for, std::move(sink), &token_);
    if (opened == EventStreams::OpenResult::kKeyCap)
      return reply_done(
          this,
          ErrorReply(429, "too_many_streams",
                     "this key has " + std::to_string(shared_->options.max_streams_per_key) +
                         " event streams open, the most allowed"),
          c);
    if (opened == EventStreams::OpenResult::kGlobalCap) return RefuseStream(c);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.started).count();
    shared_->metrics->CountRequest(c.route, "GET", 200, s);
    stream_.expires_never();
    Enqueue(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Connection: close\r\nX-Accel-Buffering: no\r\nServer: reel\r\n\r\n");
    OnEvent(StreamEvent{"state", *reply.events_for, false});
    Heartbeat();
  }

  // Refused streams close their connection: a client opening them by the thousand must not
  // keep the descriptors that others need.
  void RefuseStream(Context c) {
    c.keep_alive = false;
    reply_done(this, StoreUnavailable("the server has as many event streams open as it takes"), c);
  }

  void OnEvent(const StreamEvent& e) {
    if (closing_) return;
    // What the node's poll read from the store: only news (the store lags local events).
    if (e.polled && e.name == "progress" &&
        e.data["progress"].value("fraction", 0.0) <= last_fraction_)
      return;
    if (e.polled && e.name == "state" && e.data.value("state", "") == last_state_) return;
    last_event_ = std::chrono::steady_clock::now();
    if (e.name == "state") last_state_ = e.data.value("state", "");
    if (e.name == "progress" && e.data.contains("progress"))
      last_fraction_ = std::max(last_fraction_, e.data["progress"].value("fraction", 0.0));
    Enqueue(SseEvent(e.name, e.data));
    if (e.name == "state" && e.data.contains("state")) {
      auto st = store::ParseState(e.data["state"].get<std::string>());
      if (st && store::IsFinished(*st)) closing_ = true;
    }
  }

  void EndStream(const std::string& why) {
    if (closing_ || closed_) return;
    Enqueue(SseEvent("error", {{"message", why}}));
    closing_ = true;
  }

  // A comment line now and then keeps proxies from closing the stream; a stream without an
  // event for `stream_idle` is ended (the client may reconnect).
  void Heartbeat() {
    timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(std::max(0.05, shared_->options.sse_heartbeat))));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      double idle =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - self->last_event_)
              .count();
      if (idle >= self->shared_->options.stream_idle)
        return self->EndStream("no event for " + std::to_string(static_cast<int>(idle)) + " s");
      self->Enqueue(": heartbeat\n\n");
      self->Heartbeat();
    });
  }

  void Enqueue(std::string message) {
    queue_.push_back(std::make_shared<std::string>(std::move(message)));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    if (queue_.empty()) {
      writing_ = false;
      if (closing_) Close();
      return;
    }
    writing_ = true;
    auto msg = queue_.front();
    net::async_write(stream_, net::buffer(*msg),
                     [self = shared_from_this(), msg](beast::error_code ec, size_t) {
                       self->queue_.pop_front();
                       if (ec) return self->Close();
                       self->WriteNext();
                     });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if (token_) {
      shared_->streams->Close(token_);
      token_ = 0;
    }
    timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Shared* shared_;
  std::shared_ptr<EventStreams> streams_;
  uint64_t token_ = 0;
  std::string last_state_;
  double last_fraction_ = -1;
  std::chrono::steady_clock::time_point last_event_;
  std::deque<std::shared_ptr<std::string>> queue_;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace

struct ApiServer::Impl {
  Impl(ServerOptions o, store::JobStore* s, service::LocalRunner* r, events::JobEvents* h,
       Metrics* m)
      : options(std::move(o)),
        gate(s, StoreGateOptions{options.store_threads, 16384, options.store_deadline, 0.5}),
        streams(std::make_shared<EventStreams>(
            s, h, &gate, EventStreamOptions{options.max_streams, options.max_streams_per_key, 1})),
        router(options, s, r, m, &gate),
        shared{options, &router, m, streams, &gate, &blocking},
        acceptor(net::make_strand(ioc)),
        accept_retry(acceptor.get_executor()) {}

  ~Impl() {
    streams->Stop();
    gate.Stop();
  }

  void Accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (ec) {
        // Out of file descriptors, most likely: retrying at once would spin on the backlog.
        accept_retry.expires_after(std::chrono::milliseconds(50));
        accept_retry.async_wait([this](beast::error_code e) {
          if (!e) Accept();
        });
        return;
      }
      std::make_shared<Session>(std::move(socket), &shared)->Run();
      Accept();
    });
  }

  ServerOptions options;
  // First, so destroyed last: the pools below hold sessions whose sockets belong to it.
  net::io_context ioc;
  StoreGate gate;
  std::shared_ptr<EventStreams> streams;
  Router router;
  net::thread_pool blocking{4};  // requests that wait on an object store
  Shared shared;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
  std::vector<std::thread> threads;
  int port = 0;
};

ApiServer::ApiServer(ServerOptions options, store::JobStore* store, service::LocalRunner* runner,
                     events::JobEvents* hub, Metrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), store, runner, hub, metrics)) {}

ApiServer::~ApiServer() { Stop(); }

Status ApiServer::Start() {
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->options.address, ec);
  if (ec) return InvalidArgument("bad listen address '" + impl_->options.address + "'");
  tcp::endpoint endpoint(address, static_cast<unsigned short>(impl_->options.port));
  tcp::acceptor& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Unavailable("cannot listen on " + impl_->options.address + ":" +
                       std::to_string(impl_->options.port) + ": " + ec.message());
  impl_->port = a.local_endpoint().port();
  impl_->Accept();
  for (int i = 0; i < std::max(1, impl_->options.threads); ++i)
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  return Status::Ok();
}

int ApiServer::port() const { return impl_->port; }

void ApiServer::Stop() {
  if (impl_->threads.empty()) return;
  impl_->ioc.stop();
  for (std::thread& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->blocking.stop();
  impl_->blocking.join();
  impl_->streams->Stop();
  impl_->gate.Stop();
}

}  // namespace reel::api
