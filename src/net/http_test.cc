#include "net/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include "common/redact.h"

namespace reel::net {
namespace {

std::string RefusalOf(const AddressPolicy& p, const char* ip) {
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET, ip, &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    return p.Refusal(reinterpret_cast<sockaddr*>(&v4));
  }
  EXPECT_EQ(inet_pton(AF_INET6, ip, &v6.sin6_addr), 1) << ip;
  v6.sin6_family = AF_INET6;
  return p.Refusal(reinterpret_cast<sockaddr*>(&v6));
}

TEST(AddressPolicy, PrivateAndSpecialAddressesAreRefusedByDefault) {
  AddressPolicy p = *AddressPolicy::Parse({});
  for (const char* ip : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                         "100.64.0.1", "0.0.0.0", "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1"})
    EXPECT_FALSE(RefusalOf(p, ip).empty()) << ip;
  for (const char* ip : {"93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"})
    EXPECT_TRUE(RefusalOf(p, ip).empty()) << ip;
  EXPECT_NE(RefusalOf(p, "169.254.169.254").find("link-local"), std::string::npos);
}

TEST(AddressPolicy, AllowListOpensChosenAddressesAndRanges) {
  AddressPolicy p = *AddressPolicy::Parse({"127.0.0.1", "10.0.0.0/8", "fd00::/8"});
  EXPECT_TRUE(RefusalOf(p, "127.0.0.1").empty());
  EXPECT_FALSE(RefusalOf(p, "127.0.0.2").empty());
  EXPECT_TRUE(RefusalOf(p, "10.200.1.1").empty());
  EXPECT_TRUE(RefusalOf(p, "fd00::5").empty());
  EXPECT_FALSE(AddressPolicy::Parse({"not-an-ip"}).ok());
  EXPECT_FALSE(AddressPolicy::Parse({"10.0.0.0/40"}).ok());
  // IPv4 behind NAT64's well-known prefix is judged as that IPv4 address; 6to4 and Teredo
  // (which could carry anything) are refused.
  auto refusal = [](const char* address) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    inet_pton(AF_INET6, address, &a.sin6_addr);
    return AddressPolicy::Parse({})->Refusal(reinterpret_cast<sockaddr*>(&a));
  };
  EXPECT_NE(refusal("64:ff9b::a00:1").find("private"), std::string::npos);  // 10.0.0.1
  EXPECT_EQ(refusal("64:ff9b::808:808"), "");                               // 8.8.8.8
  EXPECT_NE(refusal("2002:a00:1::1").find("6to4"), std::string::npos);
  // A typo must not become /0 (everything allowed).
  for (const char* typo : {"10.0.0.1/", "10.0.0.0/abc", "10.0.0.0/8x", "/8", "10.0.0.0/-1"})
    EXPECT_FALSE(AddressPolicy::Parse({typo}).ok()) << typo;
  EXPECT_FALSE(AddressPolicy::Parse({std::string("10.0.0.1\0/0", 11)}).ok());
}

TEST(AddressPolicy, UrlsAreCheckedByTheirResolvedAddresses) {
  AddressPolicy p = *AddressPolicy::Parse({});
  EXPECT_EQ(p.CheckUrl("http://127.0.0.1:8080/hook").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.CheckUrl("http://localhost/hook").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.CheckUrl("http://[::1]:9/x").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.CheckUrl("ftp://example.org/").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(AddressPolicy::Parse({"127.0.0.1", "::1"})->CheckUrl("http://localhost:1/").ok());
}

TEST(AddressPolicy, EveryFormOfEmbeddedIpv4IsJudgedOrRefused) {
  AddressPolicy p = *AddressPolicy::Parse({});
  // IPv4-compatible (::/96, deprecated; a sit tunnel carries it to the IPv4 host): refused whole,
  // like 6to4 and Teredo, which would carry a private IPv4 address as well as a public one.
  for (const char* ip :
       {"::127.0.0.1", "::10.0.0.1", "::169.254.169.254", "::8.8.8.8", "::ffff:0:127.0.0.1",
        "2002:7f00:1::1", "2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "fec0::1"})
    EXPECT_FALSE(RefusalOf(p, ip).empty()) << ip;
  EXPECT_NE(RefusalOf(p, "::127.0.0.1").find("IPv4-compatible"), std::string::npos);
  // Mapped and NAT64 are judged as the IPv4 address they carry.
  EXPECT_NE(RefusalOf(p, "::ffff:169.254.169.254").find("link-local"), std::string::npos);
  EXPECT_NE(RefusalOf(p, "64:ff9b::127.0.0.1").find("loopback"), std::string::npos);
  EXPECT_TRUE(RefusalOf(p, "::ffff:8.8.8.8").empty());
  // :: and ::1 keep their own names.
  EXPECT_NE(RefusalOf(p, "::1").find("loopback"), std::string::npos);
  EXPECT_NE(RefusalOf(p, "::").find("unspecified"), std::string::npos);
  // Allowing an IPv4 address allows its mapped form, not the deprecated compatible one.
  AddressPolicy local = *AddressPolicy::Parse({"127.0.0.1"});
  EXPECT_TRUE(RefusalOf(local, "::ffff:127.0.0.1").empty());
  EXPECT_FALSE(RefusalOf(local, "::127.0.0.1").empty());
}

TEST(AddressPolicy, UrlsAreJudgedByTheAddressLibcurlWouldConnectTo) {
  AddressPolicy p = *AddressPolicy::Parse({});
  // Each of these is 127.0.0.1 (or its IPv6 forms) to libcurl: refused as loopback, not merely
  // "cannot resolve" (which a resolver with a wildcard record could make succeed).
  for (const char* url :
       {"http://[::127.0.0.1]/", "http://[::ffff:127.0.0.1]:8080/", "http://[::ffff:7f00:1]/",
        "http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://0177.0.0.1/",
        "http://0x7f000001/", "http://127.000.000.001/", "http://%31%32%37.0.0.1/",
        "https://user:pw@127.0.0.1/", "http://example.org\\@127.0.0.1/",
        "http://127.0.0.1#@example.org/", "http://127.0.0.1?@example.org/",
        "http://[fe80::1%25eth0]:8/", "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::1]/"}) {
    Status s = p.CheckUrl(url);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << url << ": " << s.ToString();
  }
  // The same forms, allowed, are allowed: they are judged as 127.0.0.1, not refused as odd.
  AddressPolicy local = *AddressPolicy::Parse({"127.0.0.1"});
  for (const char* url : {"http://2130706433:1/", "http://0x7f.1:1/", "http://127.1:1/",
                          "http://0177.0.0.1:1/", "http://[::ffff:127.0.0.1]:1/"})
    EXPECT_TRUE(local.CheckUrl(url).ok()) << url << ": " << local.CheckUrl(url).ToString();
  for (const char* bad : {"http://", "http:///x", "http://a b/", "http://[::1/", "http://x:99999/"})
    EXPECT_FALSE(p.CheckUrl(bad).ok()) << bad;
}

TEST(Post, IpvFourCompatibleAddressesAreRefusedAtConnectTime) {
  // The check at connect time (the one that counts) sees the address, whatever the URL's form.
  Result<HttpResponse> r = Post("http://[::127.0.0.1]:9/", "{}", {}, 5, *AddressPolicy::Parse({}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
}

TEST(RedactUrl, PasswordsAndQueryValuesNeverShow) {
  EXPECT_EQ(RedactUrl("ftp://reel:s3cret@host:21/in/a.mp4"),
            "ftp://reel:[redacted]@host:21/in/a.mp4");
  EXPECT_EQ(RedactUrl("https://hooks.example/h?token=abc&team=7#x"),
            "https://hooks.example/h?token=[redacted]&team=[redacted]#x");
  EXPECT_EQ(RedactUrl("https://u:p@b.example/k?X-Amz-Signature=ff"),
            "https://u:[redacted]@b.example/k?X-Amz-Signature=[redacted]");
  EXPECT_EQ(RedactUrl("https://example.org/a.mp4"), "https://example.org/a.mp4");
  EXPECT_EQ(RedactUrl("https://example.org/a?flag&b="), "https://example.org/a?flag&b=");
  EXPECT_EQ(RedactUrl("/local/path.mp4"), "/local/path.mp4");
  // Found by fuzz/url_fuzz: libcurl reads "https:///u:p@host/" as host "host" with a password.
  EXPECT_EQ(RedactUrl("https:///u:s3cret@b.example/k"), "https:///u:[redacted]@b.example/k");
  EXPECT_EQ(RedactUrl("ftp:////u:s3cret@b.example/"), "ftp:////u:[redacted]@b.example/");
  // A user part without a password is a token as often as a name ("https://TOKEN@host/"): it
  // goes whole. "https:///path@x" is user "path" at host "x" to libcurl.
  EXPECT_EQ(RedactUrl("https://ghp_T0KEN@git.example/r.mp4"),
            "https://[redacted]@git.example/r.mp4");
  EXPECT_EQ(RedactUrl("http://tok@127.0.0.1:8080/h?x=1"),
            "http://[redacted]@127.0.0.1:8080/h?x=[redacted]");
  EXPECT_EQ(RedactUrl("https:///path@x"), "https:///[redacted]@x");
  EXPECT_EQ(RedactUrl("https://host/a@b"), "https://host/a@b");
  // In s3:// the user part names a server profile (no secret), which reading back needs.
  EXPECT_EQ(RedactUrl("s3://archive@bucket/out/a.mp4"), "s3://archive@bucket/out/a.mp4");
  EXPECT_EQ(RedactUrl("s3://archive@bucket/k?X-Amz-Signature=ff"),
            "s3://archive@bucket/k?X-Amz-Signature=[redacted]");
}

TEST(Post, ConnectionsToRefusedAddressesNeverHappen) {
  AddressPolicy p = *AddressPolicy::Parse({});
  Result<HttpResponse> r = Post("http://127.0.0.1:9/x", "{}", {}, 2, p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("loopback"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace reel::net
