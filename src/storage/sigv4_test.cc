// reel's SigV4 against the worked examples of AWS's S3 documentation ("Signature calculations
// for the Authorization header" and "Authenticating requests: using query parameters"), with
// the documented example credentials.
#include "storage/sigv4.h"

#include <gtest/gtest.h>

namespace reel::storage::sigv4 {
namespace {

const Credentials kExample{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                           "us-east-1", ""};

TEST(SigV4, GetObjectHeaderExample) {
  Request r;
  r.method = "GET";
  r.host = "examplebucket.s3.amazonaws.com";
  r.path = "/test.txt";
  r.payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  r.headers = {{"range", "bytes=0-9"},
               {"x-amz-content-sha256", r.payload_hash},
               {"x-amz-date", "20130524T000000Z"}};
  EXPECT_EQ(Authorization(r, kExample, "20130524T000000Z"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// The documentation's PUT example signs a storage class, as an output's "storage_class" is sent.
TEST(SigV4, PutObjectExampleSignsTheStorageClass) {
  Request r;
  r.method = "PUT";
  r.host = "examplebucket.s3.amazonaws.com";
  r.path = "/test%24file.text";
  r.payload_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
  r.headers = {{"date", "Fri, 24 May 2013 00:00:00 GMT"},
               {"x-amz-content-sha256", r.payload_hash},
               {"x-amz-date", "20130524T000000Z"},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  std::string expected =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
      "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
      "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
  EXPECT_EQ(Authorization(r, kExample, "20130524T000000Z"), expected);
  // Values are signed as the store reads them: ends trimmed, runs of spaces made one.
  r.headers["date"] = "Fri,  24 May 2013   00:00:00 GMT ";
  EXPECT_EQ(Authorization(r, kExample, "20130524T000000Z"), expected);
}

TEST(SigV4, PresignedUrlExample) {
  EXPECT_EQ(PresignGet("https", "examplebucket.s3.amazonaws.com", "/test.txt", kExample,
                       "20130524T000000Z", 86400),
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4, Encoding) {
  EXPECT_EQ(UriEncode("a b/c~d+é", true), "a%20b/c~d%2B%C3%A9");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(AmzDate(1369353600), "20130524T000000Z");
}

}  // namespace
}  // namespace reel::storage::sigv4
