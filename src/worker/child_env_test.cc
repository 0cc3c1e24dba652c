// The child's environment: a list of what it keeps, with the server's S3 settings only for jobs
// that name S3.
#include "worker/child_env.h"

#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace reel::worker {
namespace {

using nlohmann::json;

class ChildEnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [name, value] : kServer) setenv(name, value, 1);
  }
  void TearDown() override {
    for (const auto& [name, value] : kServer) unsetenv(name);
  }
  static bool Has(const std::vector<std::string>& env, const std::string& entry) {
    for (const std::string& e : env)
      if (e == entry) return true;
    return false;
  }
  static constexpr std::pair<const char*, const char*> kServer[] = {
      {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/reel"},
      {"AWS_SECRET_ACCESS_KEY", "aws-secret"},
      {"REEL_S3_SECRET_ACCESS_KEY", "s3-secret"},
      {"REEL_SECRET_KEY", "00"},
      {"REEL_STORE", "postgresql://reel:pw@db/reel"},
      {"PGPASSWORD", "database-password"},
      {"SOME_NEW_TOKEN", "never-listed"}};
};

TEST_F(ChildEnvironmentTest, AJobWithoutS3GetsNoneOfTheServersSecrets) {
  json spec = {{"source", {{"url", "/media/in.mp4"}}},
               {"outputs", {{{"kind", "hls"}, {"destination", "/media/out/"}}}},
               // A tenant's metadata is not a use of S3.
               {"metadata", {{"origin", "s3://bucket/in.mp4"}}}};
  std::vector<std::string> env = ChildEnvironment(spec);
  for (const auto& [name, value] : kServer)
    EXPECT_FALSE(Has(env, std::string(name) + "=" + value)) << name;
  ASSERT_NE(getenv("PATH"), nullptr);
  EXPECT_TRUE(Has(env, std::string("PATH=") + getenv("PATH")));
  EXPECT_TRUE(Has(env, "REEL_WORKER_PID=" + std::to_string(getpid())));
}

TEST_F(ChildEnvironmentTest, AJobNamingS3KeepsTheS3SettingsButNeverTheSealingKey) {
  // The child signs S3 requests with REEL_S3_* or the AWS chain (opted into by the operator).
  json spec = {{"source", "/media/in.mp4"},
               {"outputs", {{{"kind", "mp4"}, {"destination", "s3://bucket/out.mp4"}}}}};
  ASSERT_TRUE(UsesS3(spec));
  std::vector<std::string> env = ChildEnvironment(spec);
  EXPECT_TRUE(Has(env, "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/reel"));
  EXPECT_TRUE(Has(env, "AWS_SECRET_ACCESS_KEY=aws-secret"));
  EXPECT_TRUE(Has(env, "REEL_S3_SECRET_ACCESS_KEY=s3-secret"));
  EXPECT_FALSE(Has(env, "REEL_SECRET_KEY=00"));
  EXPECT_FALSE(Has(env, "REEL_STORE=postgresql://reel:pw@db/reel"));
  EXPECT_FALSE(Has(env, "PGPASSWORD=database-password"));
  EXPECT_FALSE(Has(env, "SOME_NEW_TOKEN=never-listed"));
}

TEST_F(ChildEnvironmentTest, AnS3StagingKeepsTheS3SettingsForAJobWithoutS3) {
  // The chunks go up with the server's keys, whatever the spec names.
  json spec = {{"source", "/media/in.mp4"},
               {"outputs", {{{"kind", "hls"}, {"destination", "/media/out/"}}}}};
  std::vector<std::string> env = ChildEnvironment(spec, /*staging_in_s3=*/true);
  EXPECT_TRUE(Has(env, "REEL_S3_SECRET_ACCESS_KEY=s3-secret"));
  EXPECT_TRUE(Has(env, "AWS_SECRET_ACCESS_KEY=aws-secret"));
  EXPECT_FALSE(Has(env, "REEL_SECRET_KEY=00"));
  EXPECT_FALSE(Has(env, "REEL_STORE=postgresql://reel:pw@db/reel"));
  EXPECT_FALSE(Has(env, "PGPASSWORD=database-password"));
  EXPECT_FALSE(Has(env, "SOME_NEW_TOKEN=never-listed"));
}

TEST(UsesS3, LooksAtEveryUrlButTheMetadata) {
  EXPECT_TRUE(UsesS3({{"source", {{"url", "s3://b/in.mp4"}}}}));
  EXPECT_TRUE(UsesS3({{"subtitle_tracks", {{{"url", "s3://b/en.vtt"}}}}}));
  EXPECT_FALSE(UsesS3({{"source", "https://example.com/s3://x"}}));
  EXPECT_FALSE(UsesS3({{"metadata", {{"a", {"s3://b/x"}}}}}));
}

// The child gets the S3 profiles its job names, not the server's --storage-config with every
// profile's keys.
TEST(ChildStorageConfig, OnlyTheProfilesTheJobNames) {
  json config = {{"s3",
                  {{"default", {{"endpoint", "http://s3.local"}, {"secret_key", "d-secret"}}},
                   {"archive", {{"endpoint", "http://archive"}, {"secret_key", "a-secret"}}},
                   {"billing", {{"endpoint", "http://billing"}, {"secret_key", "b-secret"}}},
                   {"staging", {{"endpoint", "http://staging"}, {"secret_key", "s-secret"}}}}}};
  json spec = {{"source", "s3://archive@films/in.mp4"},
               {"outputs", {{{"kind", "mp4"}, {"destination", "s3://out/x.mp4"}}}},
               {"metadata", {{"bill", "s3://billing@b/x"}}}};
  json given = ChildStorageConfig(config, spec);
  EXPECT_EQ(
      given,
      json({{"s3", {{"archive", config["s3"]["archive"]}, {"default", config["s3"]["default"]}}}}));
  EXPECT_EQ(given.dump().find("b-secret"), std::string::npos) << "metadata names no profile";
  EXPECT_EQ(ChildStorageConfig(config, spec, {"s3://staging@chunks/prefix/", "/var/staging"})
                .at("s3")
                .size(),
            3u)
      << "a staging on S3 is the job's too";
  EXPECT_TRUE(ChildStorageConfig(config, {{"source", "/media/in.mp4"}}).is_null());
  EXPECT_TRUE(ChildStorageConfig(config, {{"source", "s3://unknown@b/in.mp4"}}).is_null());
  EXPECT_TRUE(ChildStorageConfig(json::object(), spec).is_null());
}

}  // namespace
}  // namespace reel::worker
