#include "net/http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/redact.h"

namespace reel::net {
namespace {

// Bit-prefix match of two addresses of the same family.
bool PrefixMatch(const uint8_t* a, const uint8_t* b, int prefix) {
  for (int i = 0; i < prefix / 8; ++i)
    if (a[i] != b[i]) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (a[prefix / 8] & mask) == (b[prefix / 8] & mask);
}

struct Special {
  const char* cidr;
  const char* why;
};

// Ranges refused unless allowed, with the reason a user is told.
const Special kSpecialV4[] = {
    {"0.0.0.0/8", "a 'this network' address"},
    {"10.0.0.0/8", "a private address"},
    {"100.64.0.0/10", "a shared (CGNAT) address"},
    {"127.0.0.0/8", "a loopback address"},
    {"169.254.0.0/16", "a link-local address (cloud metadata lives here)"},
    {"172.16.0.0/12", "a private address"},
    {"192.0.0.0/24", "a protocol-assignment address"},
    {"192.168.0.0/16", "a private address"},
    {"198.18.0.0/15", "a benchmarking address"},
    {"224.0.0.0/4", "a multicast address"},
    {"240.0.0.0/4", "a reserved address"}};
const Special kSpecialV6[] = {{"::/128", "the unspecified address"},
                              {"::1/128", "a loopback address"},
                              // After :: and ::1, which it contains. Deprecated, but a sit
                              // tunnel still carries ::a.b.c.d to a.b.c.d.
                              {"::/96", "an IPv4-compatible address (IPv4 inside IPv6)"},
                              {"::ffff:0:0:0/96", "an IPv4-translated address (IPv4 inside IPv6)"},
                              {"fec0::/10", "a site-local address"},
                              {"fc00::/7", "a unique-local (private) address"},
                              {"fe80::/10", "a link-local address"},
                              {"ff00::/8", "a multicast address"},
                              // IPv4 carried inside IPv6 reaches IPv4 hosts the checks above
                              // would refuse (on AWS, NAT64 reaches private VPC addresses).
                              {"64:ff9b:1::/48", "a local-use NAT64 address"},
                              {"2002::/16", "a 6to4 address (IPv4 inside IPv6)"},
                              {"2001::/32", "a Teredo address (IPv4 inside IPv6)"}};

bool ParseCidr(const std::string& text, bool* v6, uint8_t* bytes, int* prefix) {
  // inet_pton reads up to a NUL: "10.0.0.1\0junk" must not pass as 10.0.0.1.
  if (text.find('\0') != std::string::npos) return false;
  std::string addr = text;
  *prefix = -1;
  size_t slash = text.find('/');
  if (slash != std::string::npos) {
    addr = text.substr(0, slash);
    // Digits only: "10.0.0.1/" or "/abc" must not read as /0, which would allow everything.
    std::string digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      return false;
    *prefix = std::stoi(digits);
  }
  if (inet_pton(AF_INET, addr.c_str(), bytes) == 1) {
    *v6 = false;
    if (*prefix < 0) *prefix = 32;
    return *prefix <= 32;
  }
  if (inet_pton(AF_INET6, addr.c_str(), bytes) == 1) {
    *v6 = true;
    if (*prefix < 0) *prefix = 128;
    return *prefix <= 128;
  }
  return false;
}

std::string AddressText(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof(buf));
  else
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof(buf));
  return buf;
}

std::once_flag curl_once;

struct GuardState {
  const AddressPolicy* policy;
  std::string refused;  // why a connection was refused, if one was
};

curl_socket_t OpenSocket(void* clientp, curlsocktype, curl_sockaddr* address) {
  auto* state = static_cast<GuardState*>(clientp);
  std::string why = state->policy->Refusal(&address->addr);
  if (!why.empty()) {
    state->refused = why;
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype, address->protocol);
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() < 64 * 1024) body->append(data, size * n);  // enough for an error message
  return size * n;
}

// The host and port libcurl would connect to for `url`, read by libcurl's own parser: it
// normalises what a hand-written one would miss (2130706433, 0x7f.1, 127.1, 0177.0.0.1,
// %31%32%37.0.0.1 are all 127.0.0.1; "a\@b" is host b).
Status HostOf(const std::string& url, std::string* host, std::string* port) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  if (!u) return Internal("curl_url failed");
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
    return InvalidArgument("is not a valid URL");
  char* h = nullptr;
  char* p = nullptr;
  if (curl_url_get(u.get(), CURLUPART_HOST, &h, 0) != CURLUE_OK || !h)
    return InvalidArgument("has no host");
  std::unique_ptr<char, decltype(&curl_free)> h_owner(h, curl_free);
  if (curl_url_get(u.get(), CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK || !p)
    return InvalidArgument("has no port");
  std::unique_ptr<char, decltype(&curl_free)> p_owner(p, curl_free);
  *host = h;
  *port = p;
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')  // [v6] (zone apart)
    *host = host->substr(1, host->size() - 2);
  if (host->empty()) return InvalidArgument("has no host");
  return Status::Ok();
}

}  // namespace

Result<AddressPolicy> AddressPolicy::Parse(const std::vector<std::string>& allow) {
  AddressPolicy p;
  for (const std::string& entry : allow) {
    Range r;
    if (!ParseCidr(entry, &r.v6, r.bytes, &r.prefix))
      return InvalidArgument("'" + entry + "' is not an IP address or CIDR range");
    p.allowed_.push_back(r);
  }
  return p;
}

std::string AddressPolicy::Refusal(const sockaddr* sa) const {
  uint8_t bytes[16] = {0};
  bool v6 = sa->sa_family == AF_INET6;
  if (v6) {
    std::memcpy(bytes, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
    // An IPv4-mapped IPv6 address is judged as the IPv4 address it is.
    // So is one behind the NAT64 well-known prefix 64:ff9b::/96 (IPv6-only hosts reach every
    // IPv4 site that way, so refusing it whole would refuse the IPv4 internet).
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (std::memcmp(bytes, kMapped, 12) == 0 || std::memcmp(bytes, kNat64, 12) == 0) {
      std::memmove(bytes, bytes + 12, 4);
      v6 = false;
    }
  } else if (sa->sa_family == AF_INET) {
    std::memcpy(bytes, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
  } else {
    return "not an IP address";
  }
  for (const Range& r : allowed_)
    if (r.v6 == v6 && PrefixMatch(bytes, r.bytes, r.prefix)) return "";
  auto check = [&](const Special* list, size_t n) -> std::string {
    for (size_t i = 0; i < n; ++i) {
      bool is_v6 = false;
      uint8_t range[16] = {0};
      int prefix = 0;
      ParseCidr(list[i].cidr, &is_v6, range, &prefix);
      if (PrefixMatch(bytes, range, prefix))
        return AddressText(sa) + " is " + list[i].why + " (allow it with --allow-host)";
    }
    return "";
  };
  return v6 ? check(kSpecialV6, std::size(kSpecialV6)) : check(kSpecialV4, std::size(kSpecialV4));
}

Status AddressPolicy::CheckUrl(const std::string& url) const {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    return InvalidArgument("must be an http:// or https:// URL");
  std::string host, port;
  if (Status s = HostOf(url, &host, &port); !s.ok()) return s;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int err = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (err != 0) return InvalidArgument("cannot resolve " + host + ": " + gai_strerror(err));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(res, freeaddrinfo);
  for (addrinfo* a = res; a; a = a->ai_next) {
    std::string why = Refusal(a->ai_addr);
    if (!why.empty()) return FailedPrecondition(host + " resolves to " + why);
  }
  return Status::Ok();
}

Result<HttpResponse> Post(const std::string& url, const std::string& body,
                          const std::vector<std::string>& headers, double timeout_seconds,
                          const AddressPolicy& policy) {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Internal("curl_easy_init failed");
  GuardState guard{&policy, ""};
  HttpResponse response;
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> list_owner(list, curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_seconds * 1000));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(timeout_seconds, 10.0) * 1000));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
  // Never through a proxy from the environment (http_proxy, ALL_PROXY...): the guard would then
  // judge the proxy's address while the proxy fetched the real target, metadata endpoints too.
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "reel-webhooks/0.1");
  CURLcode rc = curl_easy_perform(c);
  if (!guard.refused.empty()) return FailedPrecondition("refused: " + guard.refused);
  if (rc != CURLE_OK)
    return Unavailable(std::string(curl_easy_strerror(rc)) + " (curl " + std::to_string(rc) + ")");
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

namespace {

size_t WriteFile(char* data, size_t size, size_t n, void* out) {
  return std::fwrite(data, size, n, static_cast<FILE*>(out)) * size;
}

size_t ReadFile(char* buffer, size_t size, size_t n, void* in) {
  return std::fread(buffer, size, n, static_cast<FILE*>(in)) * size;
}

std::atomic<const std::atomic<bool>*> g_cancel_flag{nullptr};

std::atomic<int64_t> g_bytes_moved{0};
std::mutex g_listener_mu;
std::function<void(int64_t)> g_listener;

struct Progress {
  int64_t max_bytes = 0;
  bool over = false;
  bool canceled = false;
  // The low-speed and deadline checks when they are final (else curl's own LOW_SPEED applies).
  bool watch = false;
  int64_t low_speed_bytes = 0;
  std::chrono::steady_clock::duration low_speed_time{}, deadline{};
  std::chrono::steady_clock::time_point started{}, window_start{};
  int64_t window_bytes = 0;
  bool too_slow = false, too_late = false;
  int64_t counted = 0;  // of this transfer's bytes, added to g_bytes_moved so far
  std::chrono::steady_clock::time_point told{};
};

// Called by curl while a transfer runs: stops one that is canceled or bigger than allowed (curl
// 7.88 checks CURLOPT_MAXFILESIZE only against a Content-Length it is told in advance), and
// tells the listener, at most once a second, how many bytes all transfers have moved.
int OnProgress(void* data, curl_off_t, curl_off_t downloaded, curl_off_t, curl_off_t uploaded) {
  auto* p = static_cast<Progress*>(data);
  const std::atomic<bool>* cancel = g_cancel_flag.load();
  if (cancel && cancel->load()) p->canceled = true;
  if (downloaded > p->max_bytes) p->over = true;
  int64_t moved = static_cast<int64_t>(downloaded + uploaded);
  if (p->watch) {
    // Slow: fewer than low_speed_bytes a second over a whole low_speed_time window.
    auto now = std::chrono::steady_clock::now();
    if (p->deadline.count() > 0 && now - p->started > p->deadline) p->too_late = true;
    double window = std::chrono::duration<double>(p->low_speed_time).count();
    if (moved - p->window_bytes >= static_cast<int64_t>(p->low_speed_bytes * window)) {
      p->window_start = now;
      p->window_bytes = moved;
    } else if (p->low_speed_time.count() > 0 && now - p->window_start > p->low_speed_time) {
      p->too_slow = true;
    }
  }
  if (moved > p->counted) {
    int64_t total = g_bytes_moved += moved - p->counted;
    p->counted = moved;
    auto now = std::chrono::steady_clock::now();
    if (now - p->told >= std::chrono::seconds(1)) {
      p->told = now;
      std::lock_guard lock(g_listener_mu);
      if (g_listener) g_listener(total);
    }
  }
  return p->canceled || p->over || p->too_slow || p->too_late ? 1 : 0;
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// One transfer with the guard, timeouts and protocol limits every transfer shares.
// `prepare` sets what is specific; returns the HTTP status or an error.
template <typename Prepare>
Result<long> Transfer(const std::string& url, const AddressPolicy& policy, const TransferOptions& o,
                      Prepare prepare) {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Internal("curl_easy_init failed");
  CURL* c = curl.get();
  GuardState guard{&policy, ""};
  curl_slist* list = nullptr;
  for (const std::string& h : o.headers) list = curl_slist_append(list, h.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> list_owner(list, curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  bool ftp = url.rfind("ftp://", 0) == 0 || url.rfind("ftps://", 0) == 0;
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, ftp ? "ftp,ftps" : "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (ftp) {
    curl_easy_setopt(c, CURLOPT_FTP_CREATE_MISSING_DIRS,
                     static_cast<long>(CURLFTP_CREATE_DIR_RETRY));
    if (url.rfind("ftps://", 0) == 0)
      curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout * 1000));
  if (!o.slow_is_final) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(o.low_speed_bytes));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o.stall_timeout));
    if (o.deadline > 0)
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.deadline * 1000));
  }
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
  // Never through a proxy from the environment (http_proxy, ALL_PROXY...): the guard would then
  // judge the proxy's address while the proxy fetched the real target, metadata endpoints too.
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "reel/0.1");
  Progress progress{o.max_bytes};
  if (o.slow_is_final) {
    using Seconds = std::chrono::duration<double>;
    progress.watch = true;
    progress.low_speed_bytes = o.low_speed_bytes;
    progress.low_speed_time =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(Seconds(o.stall_timeout));
    progress.deadline =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(Seconds(o.deadline));
    progress.started = progress.window_start = std::chrono::steady_clock::now();
  }
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &progress);
  prepare(c);
  CURLcode rc = curl_easy_perform(c);
  if (!guard.refused.empty()) return FailedPrecondition("refused: " + guard.refused);
  if (progress.canceled) return Status(StatusCode::kCanceled, "canceled");
  if (rc == CURLE_FILESIZE_EXCEEDED || progress.over)
    return InvalidArgument("larger than the limit of " + std::to_string(o.max_bytes) + " bytes");
  if (progress.too_late)
    return InvalidArgument("not done within the limit of " + Number(o.deadline) + " seconds");
  if (progress.too_slow)
    return InvalidArgument("slower than " + std::to_string(o.low_speed_bytes) +
                           " bytes a second for " + Number(o.stall_timeout) + " seconds");
  // A redirect to a scheme not allowed (gopher://) or a URL that cannot be parsed will not be
  // better on a retry.
  if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
    return InvalidArgument(std::string(curl_easy_strerror(rc)) + " (curl " + std::to_string(rc) +
                           ")");
  if (rc == CURLE_TOO_MANY_REDIRECTS)
    return InvalidArgument("more than " + std::to_string(o.max_redirects) + " redirects");
  if (rc == CURLE_REMOTE_FILE_NOT_FOUND || rc == CURLE_LOGIN_DENIED ||
      rc == CURLE_REMOTE_ACCESS_DENIED)
    return InvalidArgument(std::string(curl_easy_strerror(rc)) + " (curl " + std::to_string(rc) +
                           ")");
  if (rc != CURLE_OK)
    return Unavailable(std::string(curl_easy_strerror(rc)) + " (curl " + std::to_string(rc) + ")");
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

// Retries what may pass on its own (5xx, timeouts, refused connections), not what will not (4xx).
template <typename Attempt>
Status WithRetries(const std::string& what, const TransferOptions& o, Attempt attempt) {
  Status last;
  for (int i = 0; i < std::max(1, o.attempts); ++i) {
    if (i > 0) {
      // A line of the attempt's log (GET /v1/jobs/{id}/log): why it is slow, before it fails.
      log::Warn("transfer failed; retrying", {{"transfer", what},
                                              {"try", i + 1},
                                              {"of", std::max(1, o.attempts)},
                                              {"error", last.message()}});
      std::this_thread::sleep_for(std::chrono::milliseconds(250 << i));
    }
    const std::atomic<bool>* cancel = g_cancel_flag.load();
    if (cancel && cancel->load()) return Status(StatusCode::kCanceled, "canceled");
    Result<long> status = attempt();
    if (!status.ok()) {
      last = status.status().WithContext(what);
      if (status.status().code() != StatusCode::kUnavailable) return last;
      continue;
    }
    if (*status >= 200 && *status < 300) return Status::Ok();
    last = Status(*status >= 500 ? StatusCode::kUnavailable : StatusCode::kInvalidArgument,
                  what + ": HTTP " + std::to_string(*status));
    if (*status < 500) return last;
  }
  return last;
}

}  // namespace

void SetCancelFlag(const std::atomic<bool>* flag) { g_cancel_flag = flag; }

void SetTransferListener(std::function<void(int64_t bytes)> listener) {
  std::lock_guard lock(g_listener_mu);
  g_listener = std::move(listener);
}

Status Download(const std::string& url, const std::string& path, const AddressPolicy& policy,
                const TransferOptions& o) {
  return WithRetries("GET " + RedactUrl(url), o, [&]() -> Result<long> {
    std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "wb"), std::fclose);
    if (!f) return Unavailable("cannot write " + path);
    return Transfer(url, policy, o, [&](CURL* c) {
      curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(o.max_redirects));
      curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.max_bytes));
      curl_easy_setopt(c, CURLOPT_FAILONERROR, 0L);
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteFile);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, f.get());
    });
  });
}

Status Upload(const std::string& url, const std::string& path, const std::string& method,
              const std::string& content_type, const AddressPolicy& policy,
              const TransferOptions& options) {
  TransferOptions o = options;
  o.headers.push_back("Content-Type: " + content_type);
  return WithRetries(method + " " + RedactUrl(url), o, [&]() -> Result<long> {
    std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!f) return Unavailable("cannot read " + path);
    std::fseek(f.get(), 0, SEEK_END);
    curl_off_t size = std::ftell(f.get());
    std::fseek(f.get(), 0, SEEK_SET);
    std::string sink;
    return Transfer(url, policy, o, [&](CURL* c) {
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      bool http = url.rfind("http", 0) == 0;
      if (http && method != "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
      curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadFile);
      curl_easy_setopt(c, CURLOPT_READDATA, f.get());
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, size);
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    });
  });
}

namespace {

struct Slice {
  FILE* file = nullptr;
  int64_t remaining = 0;
  const std::string* memory = nullptr;
  size_t memory_offset = 0;
};

size_t ReadSlice(char* buffer, size_t size, size_t n, void* in) {
  auto* s = static_cast<Slice*>(in);
  size_t want = size * n;
  if (s->memory) {
    size_t left = s->memory->size() - s->memory_offset;
    size_t take = std::min(want, left);
    std::memcpy(buffer, s->memory->data() + s->memory_offset, take);
    s->memory_offset += take;
    return take;
  }
  size_t take = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(want), s->remaining));
  size_t got = std::fread(buffer, 1, take, s->file);
  s->remaining -= static_cast<int64_t>(got);
  return got;
}

size_t CollectHeader(char* data, size_t size, size_t n, void* out) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(out);
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    (*headers)[name] = value;
  }
  return size * n;
}

}  // namespace

Result<ExchangeResult> Send(const Exchange& r, const AddressPolicy& policy,
                            const TransferOptions& options) {
  TransferOptions o = options;
  o.headers.insert(o.headers.end(), r.headers.begin(), r.headers.end());
  ExchangeResult result;
  std::unique_ptr<FILE, decltype(&std::fclose)> in(nullptr, std::fclose), out(nullptr, std::fclose);
  Slice slice;
  if (!r.body_file.empty()) {
    in.reset(std::fopen(r.body_file.c_str(), "rb"));
    if (!in) return Unavailable("cannot read " + r.body_file);
    std::fseek(in.get(), 0, SEEK_END);
    int64_t size = std::ftell(in.get());
    std::fseek(in.get(), r.offset, SEEK_SET);
    slice.file = in.get();
    slice.remaining = r.length < 0 ? size - r.offset : r.length;
  } else {
    slice.memory = &r.body;
  }
  if (!r.response_file.empty()) {
    out.reset(std::fopen(r.response_file.c_str(), "wb"));
    if (!out) return Unavailable("cannot write " + r.response_file);
  }
  bool upload = r.method == "PUT" || r.method == "POST";
  curl_off_t upload_size = slice.memory ? static_cast<curl_off_t>(r.body.size()) : slice.remaining;
  Result<long> status = Transfer(r.url, policy, o, [&](CURL* c) {
    if (upload) {
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadSlice);
      curl_easy_setopt(c, CURLOPT_READDATA, &slice);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, upload_size);
    }
    if (r.method != "GET" && r.method != "PUT")
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    if (out) {
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteFile);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, out.get());
      curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.max_bytes));
    } else {
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &result.body);
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, CollectHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &result.headers);
  });
  if (!status.ok()) return status.status();
  result.status = *status;
  // An error answer written to a file is read back for its message.
  if (out && result.status >= 300) {
    out.reset();
    std::FILE* f = std::fopen(r.response_file.c_str(), "rb");
    if (f) {
      char buf[4096];
      size_t n = std::fread(buf, 1, sizeof(buf), f);
      result.body.assign(buf, n);
      std::fclose(f);
    }
  }
  return result;
}

}  // namespace reel::net
