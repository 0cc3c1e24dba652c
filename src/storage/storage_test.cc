#include "storage/storage.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/crypto.h"
#include "storage/test_server.h"
#include "testing/media_fixtures.h"

namespace reel::storage {
namespace {

TEST(Storage, SchemesAndContentTypes) {
  EXPECT_EQ(KindOf("/a/b.mp4"), Kind::kLocal);
  EXPECT_EQ(KindOf("file:///a/b.mp4"), Kind::kLocal);
  EXPECT_EQ(KindOf("https://x/y"), Kind::kHttp);
  EXPECT_EQ(KindOf("data:video/mp4;base64,AAAA"), Kind::kData);
  EXPECT_EQ(KindOf("gopher://x"), Kind::kUnsupported);
  EXPECT_EQ(ContentType("a/index.m3u8"), "application/vnd.apple.mpegurl");
  EXPECT_EQ(ContentType("720p/seg_00001.m4s"), "video/iso.segment");
  EXPECT_EQ(ContentType("thumb.JPG"), "image/jpeg");
  EXPECT_EQ(ContentType("manifest.mpd"), "application/dash+xml");
}

TEST(Storage, S3BucketNamesFollowS3Rules) {
  S3Profile host_style;
  host_style.path_style = false;
  std::map<std::string, S3Profile> profiles = {{"default", S3Profile{}}, {"vh", host_style}};
  EXPECT_TRUE(ParseS3Url("s3://vh@media-2.example/a/b.mp4", profiles).ok());
  // With virtual-host addressing the bucket is part of the host name: nothing that could
  // redirect a signed request elsewhere.
  for (const char* url : {"s3://vh@127.0.0.1:9#/x.mp4", "s3://vh@Media/x", "s3://vh@a/x",
                          "s3://vh@a_b/x", "s3://vh@evil.com?/x", "s3://vh@-media/x"})
    EXPECT_EQ(ParseS3Url(url, profiles).status().code(), StatusCode::kInvalidArgument) << url;
  // Path-style: older and GCS-interop names pass, nothing that ends the path segment.
  EXPECT_TRUE(ParseS3Url("s3://Legacy_Bucket/x.mp4", profiles).ok());
  for (const char* url : {"s3://127.0.0.1:9#/x.mp4", "s3://evil.com?/x", "s3://a@b@c/x"})
    EXPECT_EQ(ParseS3Url(url, profiles).status().code(), StatusCode::kInvalidArgument) << url;
}

TEST(Storage, InlineSourcesDecodeWithinTheCap) {
  testing::TempDir scratch;
  Options o;
  // "hello world" in base64.
  Result<std::string> path =
      FetchSource("data:text/plain;base64,aGVsbG8gd29ybGQ=", scratch.path(), o);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(testing::ReadFile(*path), "hello world");
  EXPECT_FALSE(CheckSource("data:text/plain,plain", o).ok()) << "base64 only";
  EXPECT_FALSE(CheckSource("data:;base64,!!!!", o).ok());
  o.max_inline_bytes = 4;
  EXPECT_FALSE(CheckSource("data:;base64,aGVsbG8gd29ybGQ=", o).ok()) << "over the cap";
}

TEST(Storage, RemoteSourcesAndDestinationsAreCheckedAgainstThePolicy) {
  Options o;
  EXPECT_EQ(CheckSource("http://127.0.0.1:1/x.mp4", o).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckDestination("http://10.0.0.1/out.mp4", o).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_FALSE(CheckDestination("data:;base64,AAAA", o).ok());
  EXPECT_FALSE(CheckSource("ftp://example.org/x", o).ok());
}

namespace fs = std::filesystem;

Options Loopback() {
  Options o;
  o.policy = *net::AddressPolicy::Parse({"127.0.0.1"});
  return o;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The data directory (the live database) is never written through a job, even with it inside
// --allow-path, and even through a symlink swapped in after the job was accepted.
TEST(Storage, DestinationsInTheServersOwnDirectoriesAreRefused) {
  ::reel::testing::TempDir root, scratch;
  fs::create_directories(root / "var");
  fs::create_directories(root / "out");
  ::reel::testing::WriteFile(root / "var/reel.db", "live");
  Options o;
  o.allow_paths = {root.path()};
  o.forbidden_roots = {root / "var"};
  for (const std::string& bad : {std::string("var/reel.db"), std::string("var/"),
                                 std::string("var/new/x.mp4"), root / "var/reel.db"}) {
    Result<std::string> r = CheckDestination(bad, o);
    ASSERT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << bad;
    EXPECT_NE(r.status().message().find("'var"), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find(root.path()), std::string::npos)
        << "the server's own layout stays hidden: " << r.status().message();
  }
  // A directory output replaces its destination whole: one holding the data dir is refused.
  fs::create_directories(root / "all");
  o.forbidden_roots = {root / "all/var"};
  EXPECT_EQ(CheckDestination("all/", o).status().code(), StatusCode::kFailedPrecondition);
  o.forbidden_roots = {root / "var"};

  // Accepted at submission; then out/ becomes a link into var/ before the job runs.
  ASSERT_TRUE(CheckDestination("out/reel.db", o).ok());
  fs::remove(root / "out");
  fs::create_directory_symlink(root / "var", root / "out");
  Result<std::string> target = LocalTarget("out/reel.db", false, scratch.path(), o);
  EXPECT_EQ(target.status().code(), StatusCode::kFailedPrecondition) << "checked at write time";
  EXPECT_EQ(CheckLocalWrite("out/reel.db", o).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(::reel::testing::ReadFile(root / "var/reel.db"), "live");

  // The running binary, wherever it is, is never a destination.
  std::string self = fs::read_symlink("/proc/self/exe").string();
  Options bin;
  bin.allow_paths = {fs::path(self).parent_path().string()};
  EXPECT_EQ(CheckDestination(self, bin).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(CheckDestination(self + ".out.mp4", bin).ok());
}

// An S3 staging (`--staging s3://media/staging/`) holds other jobs' chunks, which stitches
// trust: no tenant source or destination under it, by any profile, nor a package that holds it.
TEST(Storage, S3ObjectsUnderAForbiddenS3PrefixAreRefused) {
  Options o = Loopback();
  S3Profile p;
  p.endpoint = "http://127.0.0.1:1";
  o.s3_profiles = {{"default", p}, {"other", p}};
  o.forbidden_roots = {"s3://media/staging/"};
  for (const char* bad :
       {"s3://media/staging/job_1/chunk-0.a1/x.m4s", "s3://other@media/staging/x.mp4",
        "s3://media/staging/", "s3://media/staging"}) {
    Result<std::string> r = CheckDestination(bad, o);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(CheckSource(bad, o).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  for (const char* good : {"s3://media/stagingx/a.mp4", "s3://other-bucket/staging/a.mp4",
                           "s3://media/out/staging/a.mp4", "s3://media/sta"})
    EXPECT_TRUE(CheckDestination(good, o).ok())
        << good << ": " << CheckDestination(good, o).status().ToString();
}

// A destination that is a source (the same path, a hard link, or a directory output holding it)
// would destroy the original.
TEST(Storage, ADestinationThatIsASourceIsFound) {
  ::reel::testing::TempDir root;
  fs::create_directories(root / "in");
  ::reel::testing::WriteFile(root / "in/a.mp4", "original");
  Options o;
  o.allow_paths = {root.path()};
  std::string source = *CheckSource("in/a.mp4", o);
  EXPECT_TRUE(SameFile(source, *CheckDestination("in/a.mp4", o)));
  EXPECT_TRUE(SameFile(source, *CheckDestination("file://" + (root / "in/./a.mp4"), o)));
  fs::create_hard_link(root / "in/a.mp4", root / "in/b.mp4");
  EXPECT_TRUE(SameFile(source, *CheckDestination("in/b.mp4", o))) << "a hard link";
  EXPECT_TRUE(SameFile(source, *CheckDestination("in/", o))) << "a package replaces in/ whole";
  EXPECT_TRUE(SameFile(source, *CheckDestination("in", o))) << "in is a directory now";
  EXPECT_FALSE(SameFile(source, *CheckDestination("in/c.mp4", o)));
  EXPECT_FALSE(SameFile(source, *CheckDestination("out/", o)));
  EXPECT_FALSE(SameFile("https://example.org/in/a.mp4", "https://example.org/in/a.mp4"))
      << "remote objects are not compared";
  Status s = CheckNotASource(*CheckDestination("in/b.mp4", o), {"data:;base64,AAAA", source});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().find(root.path()), std::string::npos) << s.message();
  EXPECT_TRUE(CheckNotASource(*CheckDestination("in/c.mp4", o), {source}).ok());
}

// A source that never ends, trickles or takes too long stops the job at once and for good: the
// failure is kInvalidArgument, which the attempt does not retry, and no request is repeated.
TEST(Storage, EndlessSlowAndLateSourcesFailForGood) {
  ::reel::testing::TempDir scratch;
  TestServer zeros([](int fd, const std::string& head, const std::atomic<bool>& stopping) {
    bool announced = head.find("GET /announced") == 0;
    TestServer::Send(fd, std::string("HTTP/1.1 200 OK\r\nConnection: close\r\n") +
                             (announced ? "Content-Length: 21474836480\r\n" : "") + "\r\n");
    std::string chunk(64 << 10, '\0');
    while (!stopping && TestServer::Send(fd, chunk)) {
    }
  });
  Options o = Loopback();
  o.max_download_bytes = 4 << 20;
  auto start = std::chrono::steady_clock::now();
  Result<std::string> r = FetchSource(zeros.Url("/endless.mp4"), scratch.path(), o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("larger than"), std::string::npos);
  r = FetchSource(zeros.Url("/announced.mp4"), scratch.path(), o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_EQ(zeros.requests(), 2) << "never retried";
  EXPECT_LT(SecondsSince(start), 20);

  // Fast enough, but never done: the overall deadline.
  o.max_download_bytes = int64_t{20} << 30;
  o.max_source_seconds = 1;
  start = std::chrono::steady_clock::now();
  r = FetchSource(zeros.Url("/endless.mp4"), scratch.path(), o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("within"), std::string::npos) << r.status().message();
  EXPECT_EQ(zeros.requests(), 3);
  EXPECT_LT(SecondsSince(start), 15);

  TestServer trickle([](int fd, const std::string&, const std::atomic<bool>& stopping) {
    TestServer::Send(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    while (!stopping && TestServer::Send(fd, "x"))
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
  o = Loopback();
  o.min_source_speed = 1024;
  o.low_speed_seconds = 1;
  start = std::chrono::steady_clock::now();
  r = FetchSource(trickle.Url("/slow.mp4"), scratch.path(), o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("slower than"), std::string::npos) << r.status().message();
  EXPECT_EQ(trickle.requests(), 1) << "never retried";
  EXPECT_LT(SecondsSince(start), 15);
}

// A redirect to a scheme reel does not speak is the source's fault: no retry.
TEST(Storage, RedirectsToUnsupportedSchemesFailForGood) {
  ::reel::testing::TempDir scratch;
  TestServer server([](int fd, const std::string&, const std::atomic<bool>&) {
    TestServer::Send(fd,
                     "HTTP/1.1 302 Found\r\nLocation: gopher://127.0.0.1/x\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
  });
  Result<std::string> r = FetchSource(server.Url("/in.mp4"), scratch.path(), Loopback());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(CheckSource("gopher://127.0.0.1/x", Loopback()).status().code(),
            StatusCode::kInvalidArgument);
}

// The documented 10 MiB of inline media: at the limit accepted, one byte over refused.
TEST(Storage, InlineSourcesHoldTheirDocumentedTenMebibytes) {
  Options o;
  std::string at = "data:video/mp4;base64," + Base64Encode(std::string(10 << 20, 'v'));
  EXPECT_TRUE(CheckSource(at, o).ok());
  std::string over = "data:video/mp4;base64," + Base64Encode(std::string((10 << 20) + 1, 'v'));
  Result<std::string> r = CheckSource(over, o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("larger than 10485760 bytes"), std::string::npos);
}

// What a delivered package's result names is where the user reads it, not the scratch copy.
TEST(Storage, DeliveredPackagesNameTheirUrls) {
  ::reel::testing::TempDir scratch;
  TestServer server([](int fd, const std::string&, const std::atomic<bool>&) {
    TestServer::Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  std::string local = scratch / "package/";
  fs::create_directories(scratch / "package/240p");
  ::reel::testing::WriteFile(scratch / "package/master.m3u8", "#EXTM3U\n");
  ::reel::testing::WriteFile(scratch / "package/240p/index.m3u8", "#EXTM3U\n");
  ::reel::testing::WriteFile(scratch / "package/240p/seg_00000.m4s", "seg");
  Options o = Loopback();
  Result<nlohmann::json> d = Deliver(local, server.Url("/out/hls/"), "PUT", o);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ((*d)["files"], 3);
  EXPECT_EQ((*d)["master"], server.Url("/out/hls/master.m3u8"));
  EXPECT_EQ(server.requests(), 3);
  EXPECT_NE(server.heads().back().find("PUT /out/hls/master.m3u8"), std::string::npos)
      << "the master goes up last";

  nlohmann::json output = {{"index", 0},
                           {"path", local},
                           {"master", scratch / "package/master.m3u8"},
                           {"variants", {{{"playlist", "240p/index.m3u8"}}}}};
  PointAtDelivered(output, local, *d);
  EXPECT_EQ(output["path"], server.Url("/out/hls/"));
  EXPECT_EQ(output["master"], server.Url("/out/hls/master.m3u8"));
  EXPECT_EQ(output["variants"][0]["playlist"], "240p/index.m3u8");
  EXPECT_EQ(output.dump().find(scratch.path()), std::string::npos) << output.dump();

  // An S3 package names its objects' URLs (and a presigned one for the master when asked).
  S3Profile profile;
  profile.endpoint = server.Url("");
  profile.access_key = "AK";
  profile.secret_key = "SK";
  o.s3_profiles = {{"default", profile}};
  d = Deliver(local, "s3://media/out/hls", "PUT", o, 600);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ((*d)["master"], server.Url("/media/out/hls/master.m3u8"));
  EXPECT_EQ(
      (*d)["presigned_url"].get<std::string>().rfind(server.Url("/media/out/hls/master.m3u8?"), 0),
      0u)
      << *d;
  output = {{"index", 0}, {"path", local}, {"master", scratch / "package/master.m3u8"}};
  PointAtDelivered(output, local, *d);
  EXPECT_EQ(output["path"], "s3://media/out/hls");
  EXPECT_EQ(output["master"], server.Url("/media/out/hls/master.m3u8"));
}

// An output's S3 headers reach the store, signed, on a plain PUT and on the request that creates
// a multipart upload, and win over the profile's; without them the profile's are sent. (s3rver
// ignores ACLs: the service test reads the rest back from it.)
TEST(Storage, S3UploadsCarryTheOutputsHeadersSigned) {
  ::reel::testing::TempDir scratch;
  TestServer server([](int fd, const std::string& head, const std::atomic<bool>&) {
    std::string body;
    if (head.rfind("POST", 0) == 0 && head.find("?uploads") != std::string::npos)
      body =
          "<InitiateMultipartUploadResult><UploadId>u1</UploadId>"
          "</InitiateMultipartUploadResult>";
    else if (head.rfind("POST", 0) == 0)
      body = "<CompleteMultipartUploadResult></CompleteMultipartUploadResult>";
    TestServer::Send(fd, "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  });
  S3Profile profile;
  profile.endpoint = server.Url("");
  profile.access_key = "AK";
  profile.secret_key = "SK";
  profile.acl = "private";
  profile.cache_control = "no-cache";
  profile.multipart_threshold = 1000;
  profile.part_size = 600;
  Options o = Loopback();
  o.s3_profiles = {{"default", profile}};
  o.s3_headers = {"public-read", "GLACIER_IR", "max-age=60", {{"owner", "team-7"}, {"id", "a 1"}}};
  ::reel::testing::WriteFile(scratch / "small.mp4", "small");
  ::reel::testing::WriteFile(scratch / "big.mkv", std::string(1500, 'x'));

  auto header = [](const std::string& head, const std::string& name) {
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t at = lower.find("\r\n" + name + ": ");
    if (at == std::string::npos) return std::string("(none)");
    at += name.size() + 4;
    return head.substr(at, head.find("\r\n", at) - at);
  };
  const std::string signed_headers =
      "SignedHeaders=cache-control;content-type;host;x-amz-acl;x-amz-content-sha256;x-amz-date;"
      "x-amz-meta-id;x-amz-meta-owner;x-amz-storage-class,";
  auto expect_output_headers = [&](const std::string& head) {
    EXPECT_EQ(header(head, "x-amz-acl"), "public-read") << head;
    EXPECT_EQ(header(head, "x-amz-storage-class"), "GLACIER_IR");
    EXPECT_EQ(header(head, "cache-control"), "max-age=60");
    EXPECT_EQ(header(head, "x-amz-meta-owner"), "team-7");
    EXPECT_EQ(header(head, "x-amz-meta-id"), "a 1");
    EXPECT_NE(header(head, "authorization").find(signed_headers), std::string::npos) << head;
  };

  ASSERT_TRUE(Deliver(scratch / "small.mp4", "s3://media/a/small.mp4", "PUT", o).ok());
  ASSERT_EQ(server.heads().size(), 1u);
  EXPECT_EQ(server.heads()[0].rfind("PUT /media/a/small.mp4 ", 0), 0u) << server.heads()[0];
  expect_output_headers(server.heads()[0]);

  Result<nlohmann::json> big = Deliver(scratch / "big.mkv", "s3://media/a/big.mkv", "PUT", o);
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  std::vector<std::string> heads = server.heads();
  ASSERT_EQ(heads.size(), 6u) << "the small file, then create, three parts, complete";
  EXPECT_EQ(heads[1].rfind("POST /media/a/big.mkv?uploads ", 0), 0u) << heads[1];
  expect_output_headers(heads[1]);
  EXPECT_EQ(header(heads[2], "x-amz-meta-owner"), "(none)") << "parts carry no object headers";

  // An output without its own: the profile's ACL and Cache-Control, nothing else.
  o.s3_headers = {};
  ASSERT_TRUE(Deliver(scratch / "small.mp4", "s3://media/b/small.mp4", "PUT", o).ok());
  std::string plain = server.heads().back();
  EXPECT_EQ(header(plain, "x-amz-acl"), "private") << plain;
  EXPECT_EQ(header(plain, "cache-control"), "no-cache");
  EXPECT_EQ(header(plain, "x-amz-storage-class"), "(none)");
  EXPECT_EQ(plain.find("x-amz-meta-"), std::string::npos);
}

}  // namespace
}  // namespace reel::storage
