#include "common/crypto.h"

#include <gtest/gtest.h>

namespace reel {
namespace {

TEST(Crypto, KnownVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, RandomHexIsRandomAndSized) {
  std::string a = RandomHex(16), b = RandomHex(16);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(Crypto, SealAndOpen) {
  std::string key(32, 'k'), other(32, 'o');
  std::string sealed = Seal(key, "access=AKIA secret=shh");
  EXPECT_EQ(sealed.find("shh"), std::string::npos);
  EXPECT_NE(Seal(key, "same"), Seal(key, "same")) << "a fresh nonce each time";
  Result<std::string> opened = Open(key, sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, "access=AKIA secret=shh");
  EXPECT_FALSE(Open(other, sealed).ok());
  std::string tampered = sealed;
  tampered[20] = tampered[20] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(Open(key, tampered).ok());
}

TEST(Crypto, SealedValuesOpenAndPlainOnesPassThrough) {
  std::string key(32, 'k');
  std::string stored = SealValue(key, "whsec_abc");
  EXPECT_TRUE(IsSealedValue(stored));
  EXPECT_EQ(stored.find("whsec_abc"), std::string::npos);
  EXPECT_EQ(*OpenValue(key, stored), "whsec_abc");
  EXPECT_FALSE(OpenValue(std::string(32, 'x'), stored).ok()) << "another key";
  // Rows written before sealing still read (the server seals them on start).
  EXPECT_FALSE(IsSealedValue("whsec_old"));
  EXPECT_EQ(*OpenValue(key, "whsec_old"), "whsec_old");
}

TEST(Crypto, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

}  // namespace
}  // namespace reel
