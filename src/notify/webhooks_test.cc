#include "notify/webhooks.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/crypto.h"

namespace reel::notify {
namespace {

TEST(Webhooks, SignatureIsHmacOfTimestampAndBody) {
  std::string body = R"({"event":"succeeded"})";
  std::string h = SignatureHeader("whsec_test", 1700000000, body);
  EXPECT_EQ(h, "t=1700000000,v1=" + HmacSha256Hex("whsec_test", "1700000000." + body));
  // Independently computed: printf '1700000000.{"event":"succeeded"}' |
  //   openssl dgst -sha256 -hmac whsec_test
  EXPECT_EQ(h.substr(16), "25d30cda230d301c9c6bc3e0c58718c6d5b245c9d15d9b31d7370ab826e3cb73")
      << "the value openssl prints";
}

TEST(Webhooks, BackoffGrowsWithJitterAndIsCapped) {
  WebhookOptions o;
  o.retry_base = 5;
  o.retry_max = 3600;
  for (int a = 0; a < 5; ++a) {
    double d = Backoff(o, a);
    EXPECT_GE(d, 5 * std::pow(2, a) * 0.8);
    EXPECT_LE(d, 5 * std::pow(2, a) * 1.2);
  }
  EXPECT_LE(Backoff(o, 30), 3600 * 1.2);
}

}  // namespace
}  // namespace reel::notify
