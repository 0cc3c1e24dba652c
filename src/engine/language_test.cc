// Stream language tags to BCP 47: the ISO 639-2 codes containers carry become the two-letter
// codes HLS and DASH players compare with the device's languages.
#include "engine/language.h"

#include <gtest/gtest.h>

namespace reel::engine {
namespace {

TEST(Language, ThreeLetterCodesWithATwoLetterOneUseIt) {
  EXPECT_EQ(Bcp47Language("eng"), "en");
  EXPECT_EQ(Bcp47Language("fre"), "fr");  // bibliographic
  EXPECT_EQ(Bcp47Language("fra"), "fr");  // terminology
  EXPECT_EQ(Bcp47Language("ger"), "de");
  EXPECT_EQ(Bcp47Language("deu"), "de");
  EXPECT_EQ(Bcp47Language("spa"), "es");
  EXPECT_EQ(Bcp47Language("jpn"), "ja");
  EXPECT_EQ(Bcp47Language("chi"), "zh");
  EXPECT_EQ(Bcp47Language("zho"), "zh");
  EXPECT_EQ(Bcp47Language("aar"), "aa");  // the first entry of the table
  EXPECT_EQ(Bcp47Language("zul"), "zu");  // and the last
  EXPECT_EQ(Bcp47Language("ENG"), "en");
}

TEST(Language, OtherTagsKeepTheirShape) {
  EXPECT_EQ(Bcp47Language("haw"), "haw");  // Hawaiian has no two-letter code
  EXPECT_EQ(Bcp47Language("yue"), "yue");
  EXPECT_EQ(Bcp47Language("en"), "en");
  EXPECT_EQ(Bcp47Language("pt-BR"), "pt-BR");
  EXPECT_EQ(Bcp47Language("eng-US"), "en-US");
  EXPECT_EQ(Bcp47Language("zh-Hant-TW"), "zh-Hant-TW");
}

TEST(Language, WhatIsNotATagIsDropped) {
  EXPECT_EQ(Bcp47Language(""), "");
  EXPECT_EQ(Bcp47Language("und"), "");
  EXPECT_EQ(Bcp47Language("e"), "");
  EXPECT_EQ(Bcp47Language("english"), "");
  EXPECT_EQ(Bcp47Language("e1g"), "");
  EXPECT_EQ(Bcp47Language("en\"x"), "");
  EXPECT_EQ(Bcp47Language("en US"), "");
  EXPECT_EQ(Bcp47Language(std::string(36, 'a')), "");
}

TEST(Language, MatroskaGetsIso639_2WithTheBibliographicCode) {
  EXPECT_EQ(Iso639_2Language("en"), "eng");
  EXPECT_EQ(Iso639_2Language("en-GB"), "eng");
  EXPECT_EQ(Iso639_2Language("fr-CA"), "fre");  // not "fra"
  EXPECT_EQ(Iso639_2Language("de"), "ger");
  EXPECT_EQ(Iso639_2Language("zh-Hant-TW"), "chi");
  EXPECT_EQ(Iso639_2Language("ja"), "jpn");
  EXPECT_EQ(Iso639_2Language("aa"), "aar");  // the first entry of the table
  EXPECT_EQ(Iso639_2Language("zu"), "zul");  // and the last
  EXPECT_EQ(Iso639_2Language("eng"), "eng");
  EXPECT_EQ(Iso639_2Language("haw"), "haw");
  EXPECT_EQ(Iso639_2Language(""), "und");
  EXPECT_EQ(Iso639_2Language("xx"), "und") << "no such two-letter code";
  EXPECT_EQ(Iso639_2Language("english"), "und");
}

}  // namespace
}  // namespace reel::engine
