#include "storage/aws_credentials.h"

#include <arpa/inet.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "net/http.h"
#include "storage/sigv4.h"

namespace reel::storage::aws {
namespace {

using nlohmann::json;

std::string Get(const Env& env, const std::string& name) {
  std::optional<std::string> v = env(name);
  return v ? *v : "";
}

std::string Trim(std::string s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ProfileName(const Env& env) {
  std::string p = Get(env, "AWS_PROFILE");
  return p.empty() ? "default" : p;
}

std::string HomeFile(const Env& env, const std::string& override_var, const std::string& name) {
  std::string path = Get(env, override_var);
  if (!path.empty()) return path;
  std::string home = Get(env, "HOME");
  return home.empty() ? "" : home + "/.aws/" + name;
}

IniSections LoadIni(const Env& env, bool config) {
  std::string path = config ? HomeFile(env, "AWS_CONFIG_FILE", "config")
                            : HomeFile(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
  if (path.empty()) return {};
  std::optional<std::string> text = ReadFile(path);
  return text ? ParseIni(*text) : IniSections{};
}

// "2026-12-02T01:00:00Z" (also with fractional seconds) as a time point.
std::optional<Clock::time_point> ParseIso8601(const std::string& s) {
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return std::nullopt;
  return Clock::from_time_t(timegm(&tm));
}

std::string XmlTag(const std::string& xml, const std::string& name) {
  size_t a = xml.find("<" + name + ">"), b = xml.find("</" + name + ">");
  if (a == std::string::npos || b == std::string::npos || b < a) return "";
  return xml.substr(a + name.size() + 2, b - a - name.size() - 2);
}

// The host of an http(s) URL, without port or IPv6 brackets.
std::string HostOf(const std::string& url) {
  size_t sep = url.find("://");
  std::string rest = sep == std::string::npos ? url : url.substr(sep + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (!rest.empty() && rest[0] == '[') return rest.substr(1, rest.find(']') - 1);
  return rest.substr(0, rest.find(':'));
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The policy for one of the chain's own requests: public addresses, and the one address the
// endpoint names when it is a literal (the metadata address, or an override's loopback).
net::AddressPolicy PolicyFor(const std::string& url) {
  std::string host = HostOf(url);
  if (host == "localhost") return *net::AddressPolicy::Parse({"127.0.0.1", "::1"});
  Result<net::AddressPolicy> p = net::AddressPolicy::Parse(
      IsIpLiteral(host) ? std::vector<std::string>{host} : std::vector<std::string>{});
  return p.ok() ? *p : net::AddressPolicy();
}

net::TransferOptions Quick() {
  net::TransferOptions o;
  o.connect_timeout = 2;
  o.stall_timeout = 5;
  o.deadline = 10;
  o.attempts = 2;
  o.max_bytes = 1 << 20;
  o.max_redirects = 0;
  return o;
}

Result<net::ExchangeResult> Call(const std::string& method, const std::string& url,
                                 std::vector<std::string> headers, const std::string& body = "") {
  net::Exchange x;
  x.method = method;
  x.url = url;
  x.headers = std::move(headers);
  x.headers.push_back("Expect:");
  x.body = body;
  return net::Send(x, PolicyFor(url), Quick());
}

// The JSON both container and instance credentials use.
Result<Credentials> FromJson(const std::string& body, const std::string& what,
                             const std::string& source) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Unavailable(what + ": not a JSON object");
  if (j.contains("Code") && j["Code"].is_string() && j["Code"] != "Success")
    return Unavailable(what + ": " + j["Code"].get<std::string>());
  Credentials c;
  c.access_key = j.value("AccessKeyId", "");
  c.secret_key = j.value("SecretAccessKey", "");
  c.session_token = j.value("Token", "");
  c.expiry = ParseIso8601(j.value("Expiration", ""));
  c.source = source;
  if (c.access_key.empty() || c.secret_key.empty())
    return Unavailable(what + ": no AccessKeyId/SecretAccessKey in the answer");
  return c;
}

class EnvironmentSource final : public Provider {
 public:
  explicit EnvironmentSource(Env env) : env_(std::move(env)) {}
  std::string Name() const override { return "environment"; }
  Result<std::optional<Credentials>> Load() const override {
    Credentials c;
    c.access_key = Get(env_, "AWS_ACCESS_KEY_ID");
    c.secret_key = Get(env_, "AWS_SECRET_ACCESS_KEY");
    if (c.access_key.empty() || c.secret_key.empty()) return std::optional<Credentials>();
    c.session_token = Get(env_, "AWS_SESSION_TOKEN");
    c.source = Name();
    return std::optional<Credentials>(c);
  }

 private:
  Env env_;
};

class SharedFilesSource final : public Provider {
 public:
  explicit SharedFilesSource(Env env) : env_(std::move(env)) {}
  std::string Name() const override { return "shared-files"; }
  Result<std::optional<Credentials>> Load() const override {
    std::string profile = ProfileName(env_);
    // The credentials file wins over the config file for the same profile, as in the SDKs.
    for (bool config : {false, true}) {
      IniSections ini = LoadIni(env_, config);
      Credentials c;
      c.access_key = IniValue(ini, profile, config, "aws_access_key_id");
      c.secret_key = IniValue(ini, profile, config, "aws_secret_access_key");
      if (c.access_key.empty() || c.secret_key.empty()) continue;
      c.session_token = IniValue(ini, profile, config, "aws_session_token");
      c.source = Name();
      return std::optional<Credentials>(c);
    }
    return std::optional<Credentials>();
  }

 private:
  Env env_;
};

class WebIdentitySource final : public Provider {
 public:
  explicit WebIdentitySource(Env env) : env_(std::move(env)) {}
  std::string Name() const override { return "web-identity"; }
  Result<std::optional<Credentials>> Load() const override {
    std::string token_file = Get(env_, "AWS_WEB_IDENTITY_TOKEN_FILE");
    std::string role = Get(env_, "AWS_ROLE_ARN");
    if (token_file.empty() || role.empty()) return std::optional<Credentials>();
    std::optional<std::string> token = ReadFile(token_file);
    if (!token) return Unavailable("web identity: cannot read AWS_WEB_IDENTITY_TOKEN_FILE");
    std::string session = Get(env_, "AWS_ROLE_SESSION_NAME");
    if (session.empty()) session = "reel-" + std::to_string(std::time(nullptr));
    std::string endpoint = Get(env_, "AWS_ENDPOINT_URL_STS");
    if (endpoint.empty()) {
      std::string region = Get(env_, "AWS_REGION");
      endpoint =
          region.empty() ? "https://sts.amazonaws.com" : "https://sts." + region + ".amazonaws.com";
    }
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    auto enc = [](const std::string& s) { return sigv4::UriEncode(s, false); };
    std::string body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + enc(role) +
                       "&RoleSessionName=" + enc(session) +
                       "&WebIdentityToken=" + enc(Trim(*token));
    Result<net::ExchangeResult> r =
        Call("POST", endpoint + "/",
             {"Content-Type: application/x-www-form-urlencoded", "Accept: application/xml"}, body);
    if (!r.ok()) return r.status().WithContext("web identity: STS");
    if (r->status != 200) {
      std::string code = XmlTag(r->body, "Code");
      return Unavailable("web identity: STS answered " + std::to_string(r->status) +
                         (code.empty() ? "" : " " + code));
    }
    Credentials c;
    c.access_key = XmlTag(r->body, "AccessKeyId");
    c.secret_key = XmlTag(r->body, "SecretAccessKey");
    c.session_token = XmlTag(r->body, "SessionToken");
    c.expiry = ParseIso8601(XmlTag(r->body, "Expiration"));
    c.source = Name();
    if (c.access_key.empty() || c.secret_key.empty())
      return Unavailable("web identity: no credentials in the STS answer");
    return std::optional<Credentials>(c);
  }

 private:
  Env env_;
};

class ContainerSource final : public Provider {
 public:
  explicit ContainerSource(Env env) : env_(std::move(env)) {}
  std::string Name() const override { return "container"; }
  Result<std::optional<Credentials>> Load() const override {
    std::string url;
    if (std::string rel = Get(env_, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); !rel.empty()) {
      url = "http://169.254.170.2" + rel;
    } else if (std::string full = Get(env_, "AWS_CONTAINER_CREDENTIALS_FULL_URI"); !full.empty()) {
      // As the SDKs: plain http only to loopback or the ECS/EKS agent addresses.
      std::string host = HostOf(full);
      bool allowed_http = host == "127.0.0.1" || host == "::1" || host == "localhost" ||
                          host == "169.254.170.2" || host == "169.254.170.23" ||
                          host == "fd00:ec2::23";
      if (full.rfind("https://", 0) != 0 && !(full.rfind("http://", 0) == 0 && allowed_http))
        return InvalidArgument(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to loopback or the "
            "container agent");
      url = full;
    } else {
      return std::optional<Credentials>();
    }
    std::vector<std::string> headers;
    std::string token = Get(env_, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (std::string file = Get(env_, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); !file.empty()) {
      std::optional<std::string> t = ReadFile(file);  // read each time: the agent rotates it
      if (!t) return Unavailable("container credentials: cannot read the authorization token");
      token = Trim(*t);
    }
    if (!token.empty()) headers.push_back("Authorization: " + token);
    Result<net::ExchangeResult> r = Call("GET", url, headers);
    if (!r.ok()) return r.status().WithContext("container credentials");
    if (r->status != 200)
      return Unavailable("container credentials: answered " + std::to_string(r->status));
    Result<Credentials> c = FromJson(r->body, "container credentials", Name());
    if (!c.ok()) return c.status();
    return std::optional<Credentials>(*c);
  }

 private:
  Env env_;
};

class InstanceMetadataSource final : public Provider {
 public:
  explicit InstanceMetadataSource(Env env) : env_(std::move(env)) {}
  std::string Name() const override { return "imds"; }
  Result<std::optional<Credentials>> Load() const override {
    if (Get(env_, "AWS_EC2_METADATA_DISABLED") == "true") return std::optional<Credentials>();
    std::string base = Get(env_, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (base.empty()) base = "http://169.254.169.254";
    while (!base.empty() && base.back() == '/') base.pop_back();
    // IMDSv2: a session token first (PUT), then every read carries it.
    Result<net::ExchangeResult> t =
        Call("PUT", base + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds: 21600"});
    if (!t.ok()) return t.status().WithContext("instance metadata");
    if (t->status != 200)
      return Unavailable("instance metadata: token answered " + std::to_string(t->status));
    std::string auth = "X-aws-ec2-metadata-token: " + Trim(t->body);
    std::string dir = base + "/latest/meta-data/iam/security-credentials/";
    Result<net::ExchangeResult> roles = Call("GET", dir, {auth});
    if (!roles.ok()) return roles.status().WithContext("instance metadata");
    if (roles->status == 404) return std::optional<Credentials>();  // no role attached
    if (roles->status != 200)
      return Unavailable("instance metadata: roles answered " + std::to_string(roles->status));
    std::string role = Trim(roles->body.substr(0, roles->body.find('\n')));
    if (role.empty() || role.find('/') != std::string::npos)
      return Unavailable("instance metadata: no role name");
    Result<net::ExchangeResult> r = Call("GET", dir + role, {auth});
    if (!r.ok()) return r.status().WithContext("instance metadata");
    if (r->status != 200)
      return Unavailable("instance metadata: credentials answered " + std::to_string(r->status));
    Result<Credentials> c = FromJson(r->body, "instance metadata", Name());
    if (!c.ok()) return c.status();
    return std::optional<Credentials>(*c);
  }

 private:
  Env env_;
};

}  // namespace

Env ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
}

IniSections ParseIni(const std::string& text) {
  IniSections out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) continue;  // nested: unsupported
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      size_t end = line.find(']');
      if (end == std::string::npos) continue;
      out.push_back({Trim(line.substr(1, end - 1)), {}});
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos || out.empty()) continue;
    std::string value = Trim(line.substr(eq + 1));
    // An inline comment needs a space before it, so that '#' inside a secret survives.
    for (const char* c : {" #", " ;", "\t#", "\t;"})
      if (size_t at = value.find(c); at != std::string::npos) value = Trim(value.substr(0, at));
    out.back().second.push_back({Trim(line.substr(0, eq)), value});
  }
  return out;
}

std::string IniValue(const IniSections& ini, const std::string& profile, bool config,
                     const std::string& key) {
  std::string section = config && profile != "default" ? "profile " + profile : profile;
  std::string found;
  for (const auto& [name, values] : ini) {
    // "[profile  x]" with any spacing; later sections and keys win, as in the SDKs.
    std::string n = name;
    if (config && n.rfind("profile", 0) == 0 && n.size() > 7 && (n[7] == ' ' || n[7] == '\t'))
      n = "profile " + Trim(n.substr(8));
    if (n != section) continue;
    for (const auto& [k, v] : values)
      if (k == key) found = v;
  }
  return found;
}

ProfileSettings S3Settings(const Env& env) {
  ProfileSettings s;
  IniSections config = LoadIni(env, true);
  std::string profile = ProfileName(env);
  for (const char* v : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"})
    if (s.endpoint.empty()) s.endpoint = Get(env, v);
  if (s.endpoint.empty()) s.endpoint = IniValue(config, profile, true, "endpoint_url");
  for (const char* v : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (s.region.empty()) s.region = Get(env, v);
  if (s.region.empty()) s.region = IniValue(config, profile, true, "region");
  return s;
}

bool Configured(const Env& env) {
  if (!Get(env, "AWS_ACCESS_KEY_ID").empty() || !Get(env, "AWS_PROFILE").empty() ||
      !Get(env, "AWS_WEB_IDENTITY_TOKEN_FILE").empty() ||
      !Get(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").empty() ||
      !Get(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI").empty() ||
      !Get(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT").empty() || !Get(env, "AWS_REGION").empty() ||
      !Get(env, "AWS_DEFAULT_REGION").empty())
    return true;
  std::string profile = ProfileName(env);
  return !IniValue(LoadIni(env, false), profile, false, "aws_access_key_id").empty() ||
         !IniValue(LoadIni(env, true), profile, true, "aws_access_key_id").empty();
}

std::unique_ptr<Provider> EnvironmentProvider(Env env) {
  return std::make_unique<EnvironmentSource>(std::move(env));
}
std::unique_ptr<Provider> SharedFilesProvider(Env env) {
  return std::make_unique<SharedFilesSource>(std::move(env));
}
std::unique_ptr<Provider> WebIdentityProvider(Env env) {
  return std::make_unique<WebIdentitySource>(std::move(env));
}
std::unique_ptr<Provider> ContainerProvider(Env env) {
  return std::make_unique<ContainerSource>(std::move(env));
}
std::unique_ptr<Provider> InstanceMetadataProvider(Env env) {
  return std::make_unique<InstanceMetadataSource>(std::move(env));
}

Chain::Chain(Env env, std::chrono::seconds refresh_before) : refresh_before_(refresh_before) {
  providers_.push_back(EnvironmentProvider(env));
  providers_.push_back(SharedFilesProvider(env));
  providers_.push_back(WebIdentityProvider(env));
  providers_.push_back(ContainerProvider(env));
  providers_.push_back(InstanceMetadataProvider(env));
}

Result<Credentials> Chain::Get() {
  // One lock over the fetch too: concurrent uploads wait for one refresh, not make several.
  std::lock_guard<std::mutex> lock(mu_);
  if (cached_ && (!cached_->expiry || Clock::now() + refresh_before_ < *cached_->expiry))
    return *cached_;
  for (const auto& p : providers_) {
    Result<std::optional<Credentials>> c = p->Load();
    if (!c.ok()) {
      // A failed refresh keeps what still works until it really expires.
      if (cached_ && cached_->expiry && Clock::now() < *cached_->expiry) return *cached_;
      return c.status();
    }
    if (!*c) continue;
    cached_ = **c;
    return **c;
  }
  return FailedPrecondition(
      "no AWS credentials: none in the S3 profile, AWS_ACCESS_KEY_ID, the shared files, web "
      "identity, container or instance metadata");
}

void Chain::Forget() {
  std::lock_guard<std::mutex> lock(mu_);
  cached_.reset();
}

Chain& DefaultChain() {
  static Chain* chain = new Chain(ProcessEnv());  // never destroyed: used from any thread
  return *chain;
}

}  // namespace reel::storage::aws
