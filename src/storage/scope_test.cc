// KeyScope: one API key's share of the server's storage.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "storage/local_paths.h"
#include "storage/storage.h"
#include "testing/media_fixtures.h"

namespace reel::storage {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

KeyScope Scope(const json& j) {
  Result<std::optional<KeyScope>> scope = ParseKeyScope(j);
  EXPECT_TRUE(scope.ok() && *scope) << j.dump();
  return scope.ok() && *scope ? **scope : KeyScope{};
}

std::string Refusal(const json& j) {
  Result<std::optional<KeyScope>> scope = ParseKeyScope(j);
  return scope.ok() ? "accepted" : scope.status().message();
}

TEST(KeyScope, IsParsedCheckedAndBoundedWhenGiven) {
  EXPECT_FALSE(ParseKeyScope(nullptr)->has_value()) << "no scope: a team's key";
  KeyScope s = Scope({{"paths", {"/srv/media/acme"}}, {"buckets", {"media-acme", "old@acme_2"}}});
  EXPECT_EQ(s.paths, std::vector<std::string>{"/srv/media/acme"});
  EXPECT_EQ(s.buckets, (std::vector<std::string>{"default@media-acme", "old@acme_2"}));
  EXPECT_EQ(KeyScopeJson(s), json({{"paths", {"/srv/media/acme"}},
                                   {"buckets", {"default@media-acme", "old@acme_2"}}}));
  EXPECT_EQ(Scope(KeyScopeJson(s)).buckets, s.buckets) << "stored as it reads back";
  EXPECT_TRUE(Scope(json::object()).paths.empty()) << "an isolated key: nothing of the server's";

  EXPECT_EQ(Refusal({{"paths", {"media/acme"}}}), "paths: 'media/acme' is not absolute");
  EXPECT_EQ(Refusal({{"paths", {"/srv/media/../bob"}}}), "paths: '..' is not allowed");
  EXPECT_EQ(Refusal({{"buckets", {"a@b@c"}}}), "buckets: 'a@b@c' is not [profile@]bucket");
  EXPECT_EQ(Refusal({{"buckets", {"bucket/key"}}}),
            "buckets: 'bucket/key' is not [profile@]bucket");
  EXPECT_EQ(Refusal({{"buckets", {""}}}), "buckets: each must be a non-empty string");
  EXPECT_EQ(Refusal({{"paths", "/srv"}}), "paths: must be a list");
  EXPECT_EQ(Refusal({{"roots", {"/srv"}}}), "a key's storage scope has no field 'roots'");
  EXPECT_EQ(Refusal(json::array()), "a key's storage scope must be an object");
  json many = json::array();
  for (size_t i = 0; i <= kMaxKeyScopeEntries; ++i) many.push_back("b" + std::to_string(i));
  EXPECT_EQ(Refusal({{"buckets", many}}), "buckets: at most 64");
}

TEST(KeyScope, LocalRootsNarrowToThePartsOfTheServersInsideTheKeys) {
  testing::TempDir root;
  for (const char* d : {"media/acme/in", "media/bob", "other"}) fs::create_directories(root / d);
  std::ofstream(root / "media/bob/secret.mp4") << "bob's";
  std::ofstream(root / "media/acme/in/a.mp4") << "acme's";
  const std::vector<std::string> server = {root / "media", root / "other"};

  EXPECT_EQ(NarrowRoots(server, {root / "media/acme"}),
            std::vector<std::string>{root / "media/acme"});
  EXPECT_EQ(NarrowRoots(server, {root.path()}), server) << "a key root holding the server's";
  EXPECT_EQ(NarrowRoots(server, {root / "media/acme/", root / "media/acme"}),
            std::vector<std::string>{root / "media/acme"})
      << "once each";
  EXPECT_TRUE(NarrowRoots(server, {"/etc"}).empty()) << "outside every root of the server's";

  Options o;
  o.allow_paths = server;
  Options acme = Narrowed(o, Scope({{"paths", {root / "media/acme"}}}));
  EXPECT_EQ(*CheckSource(root / "media/acme/in/a.mp4", acme), root / "media/acme/in/a.mp4");
  EXPECT_EQ(*CheckSource("in/a.mp4", acme), root / "media/acme/in/a.mp4")
      << "a relative path is the key's own";
  EXPECT_EQ(CheckSource(root / "media/bob/secret.mp4", acme).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckDestination(root / "media/bob/out.mp4", acme).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckDestination(root / "other/out.mp4", acme).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(CheckDestination(root / "media/acme/out/hls/", acme).ok());
  // A link from the key's folder into another's is followed by the check, and refused.
  fs::create_directory_symlink(root / "media/bob", root / "media/acme/bob");
  EXPECT_FALSE(CheckSource(root / "media/acme/bob/secret.mp4", acme).ok());
  EXPECT_FALSE(CheckDestination(root / "media/acme/bob/out.mp4", acme).ok());
  EXPECT_FALSE(FetchSource(root / "media/acme/bob/secret.mp4", root / "scratch", acme).ok());
  // And what they would write still may not be where the server keeps its files.
  acme.forbidden_roots = {root / "media/acme/in"};
  EXPECT_FALSE(CheckDestination(root / "media/acme/in/x.mp4", acme).ok());

  // The key's folder itself replaced by a link into another's: stored resolved, it no longer
  // resolves to itself, and reaches nothing.
  fs::rename(root / "media/acme", root / "media/acme.real");
  fs::create_directory_symlink(root / "media/bob", root / "media/acme");
  EXPECT_TRUE(NarrowRoots(server, {root / "media/acme"}).empty());
  Options moved = Narrowed(o, Scope({{"paths", {root / "media/acme"}}}));
  EXPECT_EQ(CheckSource("secret.mp4", moved).status().message(),
            "local paths are outside this API key's storage");
  EXPECT_FALSE(CheckDestination(root / "media/acme/stolen.mp4", moved).ok());

  Options isolated = Narrowed(o, Scope(json::object()));
  Result<std::string> none = CheckSource(root / "media/acme/in/a.mp4", isolated);
  EXPECT_EQ(none.status().message(), "local paths are outside this API key's storage");
  EXPECT_EQ(CheckDestination(root / "media/acme/x.mp4", isolated).status().message(),
            "local paths are outside this API key's storage");
}

TEST(KeyScope, TheServersS3ProfilesReachOnlyTheKeysBuckets) {
  S3Profile archive;
  archive.endpoint = "http://127.0.0.1:9";
  Options o;
  o.policy = *net::AddressPolicy::Parse({"127.0.0.1"});
  o.s3_profiles = {{"default", archive}, {"archive", archive}};
  Options acme = Narrowed(o, Scope({{"buckets", {"media-acme", "archive@old"}}}));
  EXPECT_TRUE(CheckSource("s3://media-acme/in.mp4", acme).ok());
  EXPECT_TRUE(CheckDestination("s3://archive@old/out/hls/", acme).ok());
  for (const char* other :
       {"s3://media-bob/in.mp4", "s3://archive@media-acme/in.mp4", "s3://default@old/in.mp4"}) {
    Result<std::string> r = CheckSource(other, acme);
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << other;
    EXPECT_NE(r.status().message().find("is not among this API key's buckets"), std::string::npos)
        << r.status().message();
  }
  EXPECT_EQ(CheckSource("s3://media-bob/in.mp4", acme).status().message(),
            "s3://media-bob is not among this API key's buckets");
  EXPECT_FALSE(FetchSource("s3://media-bob/in.mp4", "/nonexistent", acme).ok());
  EXPECT_EQ(
      FetchSourceRange("s3://media-bob/in.mp4", "bytes=0-1", "/nonexistent", acme).status().code(),
      StatusCode::kFailedPrecondition);
  // curl would fold these parts out of the path after the bucket was judged and signed for.
  for (const char* folded : {"s3://media-acme/../media-bob/in.mp4", "s3://media-acme/a/./in.mp4",
                             "s3://../media-bob/in.mp4", "s3://media-acme/..", "s3://./x"})
    EXPECT_EQ(CheckSource(folded, o).status().code(), StatusCode::kInvalidArgument) << folded;
  EXPECT_TRUE(CheckSource("s3://media-acme/a..b/.in.mp4", acme).ok()) << "dots inside names";
  testing::TempDir out;
  std::ofstream(out / "a.mp4") << "x";
  EXPECT_EQ(Deliver(out / "a.mp4", "s3://media-bob/a.mp4", "PUT", acme).status().code(),
            StatusCode::kFailedPrecondition)
      << "refused before any request";

  // The job's own keys reach what its owner's keys reach: the scope does not limit them. Keys
  // that are not there leave the AWS chain, the server's, to sign: limited.
  Options own = acme;
  own.s3_profiles = WithJobCredentials(o.s3_profiles, {{"access_key", "AK"}, {"secret_key", "S"}});
  EXPECT_TRUE(CheckSource("s3://media-bob/in.mp4", own).ok());
  EXPECT_FALSE(CheckSource("s3://archive@media-bob/in.mp4", own).ok()) << "still the server's";
  own.s3_profiles = WithJobCredentials(o.s3_profiles, {{"endpoint", "http://127.0.0.1:9"}});
  EXPECT_FALSE(CheckSource("s3://media-bob/in.mp4", own).ok());
}

}  // namespace
}  // namespace reel::storage
