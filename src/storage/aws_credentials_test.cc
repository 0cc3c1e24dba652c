#include "storage/aws_credentials.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <map>
#include <thread>

#include "storage/storage.h"
#include "storage/test_server.h"
#include "testing/media_fixtures.h"

namespace reel::storage {
namespace {

using testing::TempDir;
using testing::WriteFile;

aws::Env MapEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

std::string Iso8601(std::time_t t) {
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void Answer(int fd, int status, const std::string& body) {
  TestServer::Send(fd, "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

std::string CredentialsJson(const std::string& key, std::time_t expires,
                            const std::string& secret = "SECRET") {
  return R"({"Code":"Success","AccessKeyId":")" + key + R"(","SecretAccessKey":")" + secret +
         R"(","Token":"TOKEN-)" + key + R"(","Expiration":")" + Iso8601(expires) + R"("})";
}

// An IMDSv2 server: a token by PUT, then the role list and the role's credentials, each only
// with that token; `seconds` is how long the credentials it hands out last.
class FakeImds {
 public:
  // Keys "IMDSKEY1", "IMDSKEY2"... with secret "SECRET", or always `key` as key and secret.
  explicit FakeImds(int seconds, const std::string& key = "")
      : server_([this, seconds, key](int fd, const std::string& head, const std::atomic<bool>&) {
          if (head.rfind("PUT /latest/api/token ", 0) == 0 &&
              head.find("X-aws-ec2-metadata-token-ttl-seconds: 21600") != std::string::npos)
            return Answer(fd, 200, "imds-session");
          if (head.find("X-aws-ec2-metadata-token: imds-session") == std::string::npos)
            return Answer(fd, 401, "");
          if (head.rfind("GET /latest/meta-data/iam/security-credentials/ ", 0) == 0)
            return Answer(fd, 200, "reel-role\n");
          if (head.rfind("GET /latest/meta-data/iam/security-credentials/reel-role ", 0) == 0)
            return Answer(
                fd, 200,
                CredentialsJson(
                    key.empty() ? "IMDSKEY" + std::to_string(++issued_) : (++issued_, key),
                    std::time(nullptr) + seconds, key.empty() ? "SECRET" : key));
          Answer(fd, 404, "");
        }) {}
  std::string Url() const {
    std::string u = server_.Url("/");
    return u.substr(0, u.size() - 1);
  }
  int issued() const { return issued_; }

 private:
  std::atomic<int> issued_{0};
  TestServer server_;
};

TEST(AwsCredentials, IniFilesFollowTheAwsFormat) {
  aws::IniSections config = aws::ParseIni(
      "# comment\n[default]\nregion = eu-west-1\n\n[profile media]\nregion=us-west-2 ; inline\n"
      "endpoint_url = http://127.0.0.1:9000\ns3 =\n  addressing_style = path\n"
      "[media]\nregion = wrong-section\n");
  EXPECT_EQ(aws::IniValue(config, "default", true, "region"), "eu-west-1");
  EXPECT_EQ(aws::IniValue(config, "media", true, "region"), "us-west-2");
  EXPECT_EQ(aws::IniValue(config, "media", true, "endpoint_url"), "http://127.0.0.1:9000");
  EXPECT_EQ(aws::IniValue(config, "media", true, "addressing_style"), "");  // nested: ignored
  aws::IniSections creds =
      aws::ParseIni("[media]\naws_access_key_id = AKIDMEDIA\naws_secret_access_key = a#b\n");
  EXPECT_EQ(aws::IniValue(creds, "media", false, "aws_access_key_id"), "AKIDMEDIA");
  EXPECT_EQ(aws::IniValue(creds, "media", false, "aws_secret_access_key"), "a#b");
  EXPECT_EQ(aws::IniValue(creds, "media", true, "aws_access_key_id"), "");  // config naming
}

TEST(AwsCredentials, EnvironmentComesBeforeTheSharedFiles) {
  TempDir dir;
  WriteFile(dir.path() + "/.aws/credentials",
            "[default]\naws_access_key_id = FILEDEFAULT\naws_secret_access_key = s1\n"
            "[media]\naws_access_key_id = FILEMEDIA\naws_secret_access_key = s2\n"
            "aws_session_token = tok\n");
  WriteFile(dir.path() + "/.aws/config",
            "[profile media]\nregion = ap-south-1\nendpoint_url = http://127.0.0.1:9000\n"
            "[profile other]\naws_access_key_id = CONFIGKEY\naws_secret_access_key = s3\n");
  std::map<std::string, std::string> vars = {{"HOME", dir.path()},
                                             {"AWS_EC2_METADATA_DISABLED", "true"}};
  Result<aws::Credentials> c = aws::Chain(MapEnv(vars)).Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "FILEDEFAULT");
  EXPECT_EQ(c->source, "shared-files");

  vars["AWS_PROFILE"] = "media";
  c = aws::Chain(MapEnv(vars)).Get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key, "FILEMEDIA");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_FALSE(c->expiry.has_value());
  aws::ProfileSettings s = aws::S3Settings(MapEnv(vars));
  EXPECT_EQ(s.region, "ap-south-1");
  EXPECT_EQ(s.endpoint, "http://127.0.0.1:9000");
  EXPECT_TRUE(aws::Configured(MapEnv(vars)));

  vars["AWS_PROFILE"] = "other";  // keys in the config file count too
  c = aws::Chain(MapEnv(vars)).Get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key, "CONFIGKEY");

  vars["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  vars["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  vars["AWS_SESSION_TOKEN"] = "envtoken";
  vars["AWS_REGION"] = "sa-east-1";
  c = aws::Chain(MapEnv(vars)).Get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key, "ENVKEY");
  EXPECT_EQ(c->session_token, "envtoken");
  EXPECT_EQ(c->source, "environment");
  EXPECT_EQ(aws::S3Settings(MapEnv(vars)).region, "sa-east-1");

  // Nothing configured: a clear error, and no "default" profile made from nothing.
  aws::Env empty =
      MapEnv({{"HOME", dir.path() + "/nowhere"}, {"AWS_EC2_METADATA_DISABLED", "true"}});
  EXPECT_EQ(aws::Chain(empty).Get().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(aws::Configured(empty));
}

TEST(AwsCredentials, WebIdentityAssumesTheRoleThroughSts) {
  TempDir dir;
  WriteFile(dir.path() + "/token", "eyJhbGciOi.service-account.jwt\n");
  std::time_t expires = std::time(nullptr) + 3600;
  TestServer sts([&](int fd, const std::string& head, const std::atomic<bool>&) {
    if (head.rfind("POST / ", 0) != 0) return Answer(fd, 400, "");
    Answer(fd, 200,
           "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
           "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIASTS</AccessKeyId>"
           "<SecretAccessKey>stssecret</SecretAccessKey><SessionToken>ststoken</SessionToken>"
           "<Expiration>" +
               Iso8601(expires) +
               "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
               "</AssumeRoleWithWebIdentityResponse>");
  });
  std::string endpoint = sts.Url("/");
  aws::Env env = MapEnv({{"AWS_WEB_IDENTITY_TOKEN_FILE", dir.path() + "/token"},
                         {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/reel"},
                         {"AWS_ENDPOINT_URL_STS", endpoint},
                         {"AWS_EC2_METADATA_DISABLED", "true"}});
  Result<aws::Credentials> c = aws::Chain(env).Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "ASIASTS");
  EXPECT_EQ(c->secret_key, "stssecret");
  EXPECT_EQ(c->session_token, "ststoken");
  EXPECT_EQ(c->source, "web-identity");
  ASSERT_TRUE(c->expiry.has_value());
  EXPECT_EQ(aws::Clock::to_time_t(*c->expiry), expires);
  ASSERT_EQ(sts.requests(), 1);
  EXPECT_NE(sts.heads()[0].find("application/x-www-form-urlencoded"), std::string::npos);
}

TEST(AwsCredentials, ContainerCredentialsCarryTheAuthorizationToken) {
  TempDir dir;
  WriteFile(dir.path() + "/auth", "pod-identity-token\n");
  TestServer agent([&](int fd, const std::string& head, const std::atomic<bool>&) {
    if (head.rfind("GET /v1/credentials ", 0) != 0 ||
        head.find("Authorization: pod-identity-token") == std::string::npos)
      return Answer(fd, 401, "");
    Answer(fd, 200, CredentialsJson("ASIAPOD", std::time(nullptr) + 3600));
  });
  std::map<std::string, std::string> vars = {
      {"AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.Url("/v1/credentials")},
      {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "stale"},
      {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", dir.path() + "/auth"},  // the file wins
      {"AWS_EC2_METADATA_DISABLED", "true"}};
  Result<aws::Credentials> c = aws::Chain(MapEnv(vars)).Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "ASIAPOD");
  EXPECT_EQ(c->session_token, "TOKEN-ASIAPOD");
  EXPECT_EQ(c->source, "container");

  // Plain http to anything but loopback or the agent's addresses is refused, as by the SDKs.
  vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://10.1.2.3/creds";
  EXPECT_EQ(aws::Chain(MapEnv(vars)).Get().status().code(), StatusCode::kInvalidArgument);
}

TEST(AwsCredentials, InstanceMetadataUsesImdsV2AndRefreshesBeforeExpiry) {
  FakeImds lasting(3600);
  aws::Chain chain(MapEnv({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", lasting.Url()}}));
  Result<aws::Credentials> c = chain.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "IMDSKEY1");
  EXPECT_EQ(c->session_token, "TOKEN-IMDSKEY1");
  EXPECT_EQ(c->source, "imds");
  ASSERT_TRUE(chain.Get().ok());
  EXPECT_EQ(lasting.issued(), 1);  // an hour left: cached

  // Four minutes left is inside the five-minute margin: every Get fetches anew.
  FakeImds expiring(240);
  aws::Chain refreshing(MapEnv({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", expiring.Url()}}));
  ASSERT_TRUE(refreshing.Get().ok());
  c = refreshing.Get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key, "IMDSKEY2");
  EXPECT_EQ(expiring.issued(), 2);

  // Many threads at once share one refresh.
  FakeImds shared(3600);
  aws::Chain once(MapEnv({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", shared.Url()}}));
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { EXPECT_TRUE(once.Get().ok()); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(shared.issued(), 1);
}

// The chain reaches its own endpoints; tenants' URLs to the same addresses stay refused.
TEST(AwsCredentials, MetadataAddressesStayClosedToTenants) {
  Options tenant;  // the server's policy: nothing private allowed
  for (const char* url : {"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
                          "http://169.254.170.2/v2/credentials/x", "http://[fd00:ec2::254]/"}) {
    EXPECT_EQ(CheckSource(url, tenant).status().code(), StatusCode::kFailedPrecondition) << url;
    Result<std::string> fetched = FetchSource(url, "/tmp", tenant);
    EXPECT_FALSE(fetched.ok()) << url;
  }
  // Even a tenant allowed loopback (as tests are) cannot borrow the chain's allowance.
  FakeImds imds(3600);
  Options loopback_free;
  EXPECT_FALSE(FetchSource(imds.Url() + "/latest/api/token", "/tmp", loopback_free).ok());
  EXPECT_EQ(imds.issued(), 0);
}

// A free loopback port: bind to 0, read it, let it go.
int FreePort() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

// Sets variables for the process's own chain (what S3 requests use) and restores them.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::string>& vars) {
    for (const char* name : kNames) {
      if (const char* v = std::getenv(name)) saved_[name] = v;
      unsetenv(name);
    }
    for (const auto& [k, v] : vars) setenv(k.c_str(), v.c_str(), 1);
    aws::DefaultChain().Forget();
  }
  ~ScopedEnv() {
    for (const char* name : kNames) unsetenv(name);
    for (const auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
    aws::DefaultChain().Forget();
  }

 private:
  static constexpr const char* kNames[] = {"REEL_S3_AWS_CHAIN",
                                           "AWS_ACCESS_KEY_ID",
                                           "AWS_SECRET_ACCESS_KEY",
                                           "AWS_SESSION_TOKEN",
                                           "AWS_PROFILE",
                                           "AWS_SHARED_CREDENTIALS_FILE",
                                           "AWS_CONFIG_FILE",
                                           "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                           "AWS_EC2_METADATA_DISABLED",
                                           "AWS_REGION",
                                           "AWS_DEFAULT_REGION",
                                           "AWS_ENDPOINT_URL",
                                           "AWS_ENDPOINT_URL_S3",
                                           "AWS_WEB_IDENTITY_TOKEN_FILE",
                                           "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                           "REEL_S3_ACCESS_KEY_ID"};
  std::map<std::string, std::string> saved_;
};

// Uploads to a real S3 server (npm's s3rver) with keys from each source, reads the object back,
// and shows the provider's key signed: in a presigned URL, and in the Authorization header a
// loopback S3 stand-in receives.
TEST(AwsCredentials, UploadsToS3WithEachSource) {
  TempDir s3dir, work;
  int port = FreePort();
  std::string endpoint = "http://127.0.0.1:" + std::to_string(port);
  testing::BackgroundCommand s3rver(
      {std::string(REEL_SOURCE_DIR) + "/node_modules/.bin/s3rver", "-d", s3dir.path(), "-a",
       "127.0.0.1", "-p", std::to_string(port), "--configure-bucket", "media", "--silent"});
  net::AddressPolicy loopback = *net::AddressPolicy::Parse({"127.0.0.1"});
  bool up = false;
  for (int i = 0; i < 200 && !up && s3rver.Running(); ++i) {
    net::Exchange probe;
    probe.method = "GET";
    probe.url = endpoint + "/";
    net::TransferOptions quick;
    quick.attempts = 1;
    up = net::Send(probe, loopback, quick).ok();
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(up) << "s3rver did not start (run ./scripts/setup): " << s3rver.OutputSoFar();

  WriteFile(work.path() + "/in.bin", "payload of the chain");
  TestServer standin(
      [&](int fd, const std::string&, const std::atomic<bool>&) { Answer(fd, 200, ""); });
  // The variables that make `source` give `key` (and secret `secret`), and nothing else.
  auto env_for = [&](const std::string& source, const std::string& key, const std::string& secret,
                     const std::string& imds_url) {
    std::map<std::string, std::string> env = {{"REEL_S3_AWS_CHAIN", "1"},
                                              {"AWS_ENDPOINT_URL_S3", endpoint},
                                              {"AWS_CONFIG_FILE", work.path() + "/none"},
                                              {"AWS_EC2_METADATA_DISABLED", "true"}};
    if (source == "environment") {
      env["AWS_ACCESS_KEY_ID"] = key;
      env["AWS_SECRET_ACCESS_KEY"] = secret;
    } else if (source == "shared-files") {
      WriteFile(work.path() + "/credentials", "[default]\naws_access_key_id = " + key +
                                                  "\naws_secret_access_key = " + secret + "\n");
      env["AWS_SHARED_CREDENTIALS_FILE"] = work.path() + "/credentials";
    } else {
      env.erase("AWS_EC2_METADATA_DISABLED");
      env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds_url;
    }
    return env;
  };
  {
    // Without the operator's opt-in, an environment that merely names a region (or holds a
    // developer's keys) gives tenants no "default" profile: s3:// URLs stay refused.
    std::map<std::string, std::string> env = env_for("environment", "AKIDEXAMPLE", "s", "");
    env.erase("REEL_S3_AWS_CHAIN");
    env["AWS_REGION"] = "eu-west-1";
    ScopedEnv scoped(env);
    Result<std::map<std::string, S3Profile>> profiles = LoadS3Profiles("");
    ASSERT_TRUE(profiles.ok());
    EXPECT_EQ(profiles->count("default"), 0u);
  }
  auto options = [&] {
    // No keys configured in reel: the chain makes "default" and signs its requests.
    Result<std::map<std::string, S3Profile>> profiles = LoadS3Profiles("");
    EXPECT_TRUE(profiles.ok());
    Options o;
    o.policy = loopback;
    if (profiles.ok()) o.s3_profiles = *profiles;
    return o;
  };

  for (std::string source : {"environment", "shared-files", "imds"}) {
    SCOPED_TRACE(source);
    // s3rver knows one access key, S3RVER (it checks the key id, not V4 signatures): an upload
    // that passes was signed with the key this source gave.
    FakeImds imds(3600, "S3RVER");
    {
      ScopedEnv scoped(env_for(source, "S3RVER", "S3RVER", imds.Url()));
      Options o = options();
      ASSERT_EQ(o.s3_profiles.count("default"), 1u);
      EXPECT_EQ(o.s3_profiles["default"].endpoint, endpoint);
      EXPECT_TRUE(o.s3_profiles["default"].access_key.empty());
      std::string url = "s3://media/" + source + ".bin";
      Result<nlohmann::json> d = Deliver(work.path() + "/in.bin", url, "PUT", o, 60);
      ASSERT_TRUE(d.ok()) << d.status().ToString();
      std::string presigned = (*d)["presigned_url"];
      EXPECT_NE(presigned.find("X-Amz-Credential=S3RVER%2F"), std::string::npos) << presigned;
      EXPECT_EQ(presigned.find("X-Amz-Security-Token=TOKEN-S3RVER") != std::string::npos,
                source == "imds");
      Result<std::string> back = FetchSource(url, work.path(), o);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(testing::ReadFile(*back), "payload of the chain");
      EXPECT_EQ(imds.issued(), source == "imds" ? 1 : 0);
    }
    if (source != "imds") {  // and another key from the same source is refused
      ScopedEnv scoped(env_for(source, "NOBODY", "S3RVER", ""));
      Result<nlohmann::json> d =
          Deliver(work.path() + "/in.bin", "s3://media/x.bin", "PUT", options());
      EXPECT_NE(d.status().ToString().find("InvalidAccessKeyId"), std::string::npos)
          << d.status().ToString();
    }
    // The header form, as a server receives it, with a key only this source knows.
    FakeImds distinct(3600);
    std::string key = source == "environment"    ? "ENVKEY"
                      : source == "shared-files" ? "FILEKEY"
                                                 : "IMDSKEY1";
    ScopedEnv scoped(env_for(source, key, "secret", distinct.Url()));
    Options o = options();
    o.s3_profiles["default"].endpoint = standin.Url("");
    ASSERT_TRUE(Deliver(work.path() + "/in.bin", "s3://media/h.bin", "PUT", o).ok());
    std::string head = standin.heads().back();
    EXPECT_NE(head.find("Credential=" + key + "/"), std::string::npos) << head;
    EXPECT_EQ(head.find("x-amz-security-token: TOKEN-" + key) != std::string::npos,
              source == "imds")
        << head;
  }
}

}  // namespace
}  // namespace reel::storage
