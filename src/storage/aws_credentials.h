// The AWS credential chain, for S3 profiles that carry no keys of their own: the sources the AWS
// SDKs try, in their order — AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, the
// shared files (~/.aws/credentials and ~/.aws/config, AWS_PROFILE), web identity (STS
// AssumeRoleWithWebIdentity, as Kubernetes service accounts use), container credentials
// (ECS/EKS Pod Identity) and instance metadata (IMDSv2). The first source that is configured
// answers; temporary credentials are cached and fetched again a few minutes before they expire.
//
// The chain's own requests reach the metadata endpoints through an address policy that allows
// exactly the endpoint asked (169.254.169.254, 169.254.170.2, or the loopback address an
// override names); tenant URLs keep the server's policy, which refuses them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace reel::storage::aws {

using Clock = std::chrono::system_clock;

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;                // temporary credentials only
  std::optional<Clock::time_point> expiry;  // none: valid until replaced
  std::string source;                       // "environment", "shared-files", "imds", ...
};

// Reads an environment variable (tests pass their own).
using Env = std::function<std::optional<std::string>(const std::string& name)>;
Env ProcessEnv();

// The AWS INI format: "[name]" sections (in ~/.aws/config "[profile name]", except
// "[default]") of "key = value" lines; '#' and ';' start comments. Nested (indented) settings
// and source_profile/role chaining are not supported.
using IniSections =
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>;
IniSections ParseIni(const std::string& text);
// The value of `key` in the section for `profile` (config-file naming when `config`), or "".
std::string IniValue(const IniSections& ini, const std::string& profile, bool config,
                     const std::string& key);

// What the shared files and variables say about the S3 endpoint and region of the active
// profile (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, endpoint_url; AWS_REGION, AWS_DEFAULT_REGION,
// region). Empty when nothing says.
struct ProfileSettings {
  std::string endpoint;
  std::string region;
};
ProfileSettings S3Settings(const Env& env);
// Whether any source of the chain is configured by the environment or the shared files (the
// chain then makes the "default" S3 profile when reel's configuration has none). Instance
// metadata counts once a region is set (AWS_REGION/AWS_DEFAULT_REGION, as on EC2 deployments)
// or its endpoint is named.
bool Configured(const Env& env);

// One source: credentials, nullopt when it is not configured here, or an error when it is and
// failed (the chain then stops, as the SDKs do, rather than fall through to another identity).
class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string Name() const = 0;
  virtual Result<std::optional<Credentials>> Load() const = 0;
};

std::unique_ptr<Provider> EnvironmentProvider(Env env);
std::unique_ptr<Provider> SharedFilesProvider(Env env);
std::unique_ptr<Provider> WebIdentityProvider(Env env);
std::unique_ptr<Provider> ContainerProvider(Env env);
std::unique_ptr<Provider> InstanceMetadataProvider(Env env);

// The providers above in order, with a cache: thread-safe; credentials with an expiry are
// fetched again once less than `refresh_before` remains.
class Chain {
 public:
  explicit Chain(Env env, std::chrono::seconds refresh_before = std::chrono::minutes(5));
  Result<Credentials> Get();
  // Drops the cached credentials: the next Get asks the sources again (tests, after they change
  // the environment).
  void Forget();

 private:
  std::vector<std::unique_ptr<Provider>> providers_;
  std::chrono::seconds refresh_before_;
  std::mutex mu_;
  std::optional<Credentials> cached_;
};

// The process's chain (on the process environment), made on first use.
Chain& DefaultChain();

}  // namespace reel::storage::aws
