#include "storage/storage.h"

#include <gtest/gtest.h>

#include <filesystem>

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

}  // namespace
}  // namespace reel::storage
