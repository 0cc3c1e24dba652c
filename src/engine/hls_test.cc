#include "engine/hls.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "testing/media_fixtures.h"

namespace reel::engine::hls {
namespace {

TEST(Hls, CodecStringFromAnnexBAndAvcC) {
  const uint8_t annexb[] = {0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0, 0, 1, 0x68, 0xeb};
  EXPECT_EQ(H264CodecString(annexb, sizeof(annexb)), "avc1.64001F");
  const uint8_t avcc[] = {1, 0x4d, 0x40, 0x1e, 0xff, 0xe1};
  EXPECT_EQ(H264CodecString(avcc, sizeof(avcc)), "avc1.4D401E");
  EXPECT_EQ(H264CodecString(nullptr, 0), "avc1");
}

TEST(Hls, ReadsMediaPlaylistAndMeasuresBandwidth) {
  testing::TempDir dir;
  testing::WriteFile(dir / "init.mp4", std::string(100, 'i'));
  testing::WriteFile(dir / "s1.m4s", std::string(6000, 'a'));  // 48000 bits over 6 s
  testing::WriteFile(dir / "s2.m4s", std::string(3000, 'b'));  // 24000 bits over 2 s
  testing::WriteFile(dir / "index.m3u8",
                     "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n"
                     "#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:6.000000,\ns1.m4s\n"
                     "#EXTINF:2.000000,\ns2.m4s\n#EXT-X-ENDLIST\n");
  Result<MediaPlaylist> pl = ReadMediaPlaylist(dir / "index.m3u8");
  ASSERT_TRUE(pl.ok()) << pl.status().ToString();
  EXPECT_TRUE(pl->ended);
  EXPECT_EQ(pl->init_uri, "init.mp4");
  EXPECT_EQ(pl->init_bytes, 100);
  ASSERT_EQ(pl->segments.size(), 2u);
  EXPECT_DOUBLE_EQ(pl->Duration(), 8.0);
  EXPECT_EQ(pl->PeakBitrate(), 12000);    // s2: 24000 bits / 2 s
  EXPECT_EQ(pl->AverageBitrate(), 9000);  // 72000 bits / 8 s

  testing::WriteFile(dir / "broken.m3u8", "#EXTM3U\n#EXTINF:6,\nmissing.m4s\n");
  EXPECT_EQ(ReadMediaPlaylist(dir / "broken.m3u8").status().code(), StatusCode::kNotFound);
  testing::WriteFile(dir / "html.m3u8", "<html>\n");
  EXPECT_FALSE(ReadMediaPlaylist(dir / "html.m3u8").ok());
}

TEST(Hls, MasterPlaylistListsAudioGroupAndVariants) {
  std::vector<VariantEntry> v = {
      {"720p/index.m3u8", 3400000, 3100000, 1280, 720, 29.97, "avc1.64001F,mp4a.40.2", true, ""}};
  AudioEntry audio{"audio/index.m3u8", 2, ""};
  std::string m = MasterPlaylist(v, &audio);
  EXPECT_NE(m.find("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"default\",DEFAULT=YES"),
            std::string::npos)
      << "no LANGUAGE when the source does not say";
  EXPECT_NE(m.find("CHANNELS=\"2\",URI=\"audio/index.m3u8\""), std::string::npos);
  EXPECT_NE(m.find("#EXT-X-STREAM-INF:BANDWIDTH=3400000,AVERAGE-BANDWIDTH=3100000,"
                   "RESOLUTION=1280x720,FRAME-RATE=29.970,CODECS=\"avc1.64001F,mp4a.40.2\","
                   "AUDIO=\"audio\"\n720p/index.m3u8\n"),
            std::string::npos)
      << m;
  audio.language = "eng";
  EXPECT_NE(MasterPlaylist(v, &audio).find("NAME=\"default\",LANGUAGE=\"eng\",DEFAULT=YES"),
            std::string::npos);
}

TEST(Hls, SeveralAudioTracksShareTheGroupWithOneDefault) {
  std::vector<VariantEntry> v = {
      {"720p/index.m3u8", 3400000, 3100000, 1280, 720, 30, "avc1.64001F,mp4a.40.2", true, ""}};
  std::vector<AudioEntry> audio = {{"audio/index.m3u8", 6, "en", "English", false},
                                   {"audio_1/index.m3u8", 2, "fr", "Français", true},
                                   {"audio_2/index.m3u8", 2, "", "Commentary", false}};
  std::string m = MasterPlaylist(v, audio);
  EXPECT_NE(m.find("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English\",LANGUAGE=\"en\","
                   "DEFAULT=NO,AUTOSELECT=YES,CHANNELS=\"6\",URI=\"audio/index.m3u8\"\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Français\",LANGUAGE=\"fr\","
                   "DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio_1/index.m3u8\"\n"),
            std::string::npos)
      << "the track marked default is the one DEFAULT=YES\n"
      << m;
  EXPECT_NE(m.find("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Commentary\",DEFAULT=NO,"
                   "AUTOSELECT=NO,CHANNELS=\"2\",URI=\"audio_2/index.m3u8\"\n"),
            std::string::npos)
      << "no language: not chosen automatically\n"
      << m;
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(m, "TYPE=AUDIO"), 3u);
  EXPECT_EQ(count(m, "DEFAULT=YES"), 1u);
  EXPECT_LT(m.rfind("TYPE=AUDIO"), m.find("#EXT-X-STREAM-INF")) << "media before the variants";

  // None marked: the first is the default; unnamed ones are named by language, else by number,
  // so that NAME stays unique in the group.
  audio = {{"audio/index.m3u8", 2, "en", "", false}, {"audio_1/index.m3u8", 2, "", "", false}};
  m = MasterPlaylist(v, audio);
  EXPECT_NE(m.find("NAME=\"en\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES"), std::string::npos)
      << m;
  EXPECT_NE(m.find("NAME=\"Audio 2\",DEFAULT=NO,AUTOSELECT=NO"), std::string::npos) << m;
  EXPECT_EQ(count(m, "DEFAULT=YES"), 1u);
  EXPECT_EQ(MasterPlaylist(v, std::vector<AudioEntry>{}).find("TYPE=AUDIO"), std::string::npos);
}

TEST(Hls, TextRenditionsJoinTheMasterPlaylist) {
  std::vector<VariantEntry> v = {
      {"720p/index.m3u8", 3400000, 3100000, 1280, 720, 30, "avc1.64001F,mp4a.40.2", true, ""},
      {"360p/index.m3u8", 900000, 800000, 640, 360, 30, "avc1.64001E,mp4a.40.2", true, ""}};
  AudioEntry audio{"audio/index.m3u8", 2, ""};
  std::string m = MasterPlaylist(v, &audio);
  EXPECT_EQ(WithTextRenditions(m, {}, Captions::kUnstated), m) << "nothing to add: unchanged";
  std::string none = WithTextRenditions(m, {}, Captions::kNone);
  EXPECT_NE(none.find("AUDIO=\"audio\",CLOSED-CAPTIONS=NONE\n720p/index.m3u8\n"), std::string::npos)
      << none;
  EXPECT_NE(none.find("AUDIO=\"audio\",CLOSED-CAPTIONS=NONE\n360p/index.m3u8\n"), std::string::npos)
      << none;
  std::string both = WithTextRenditions(
      m, {{"sub_0/index.m3u8", "fr", "Français"}, {"sub_1/index.m3u8", "", "Notes"}},
      Captions::kInStream);
  size_t first_variant = both.find("#EXT-X-STREAM-INF");
  size_t fr = both.find(
      "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Français\",LANGUAGE=\"fr\","
      "DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI=\"sub_0/index.m3u8\"\n");
  size_t notes = both.find(
      "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Notes\",DEFAULT=NO,AUTOSELECT=NO,"
      "FORCED=NO,URI=\"sub_1/index.m3u8\"\n");
  size_t cc = both.find(
      "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"CC1\",DEFAULT=NO,"
      "AUTOSELECT=YES,INSTREAM-ID=\"CC1\"\n");
  ASSERT_NE(fr, std::string::npos) << both;
  ASSERT_NE(notes, std::string::npos) << both;
  ASSERT_NE(cc, std::string::npos) << both;
  EXPECT_LT(std::max({fr, notes, cc}), first_variant) << "media before the variants";
  EXPECT_NE(both.find("AUDIO=\"audio\",SUBTITLES=\"subs\",CLOSED-CAPTIONS=\"cc\"\n360p/"),
            std::string::npos)
      << both;
  // Only H.264 variants carry the captions (x264's a53cc); an HEVC set in the same master says
  // it has none rather than promise them.
  v.push_back({"720p-hevc/index.m3u8", 2000000, 1800000, 1280, 720, 30, "hvc1.1.6.L93.B0,mp4a.40.2",
               true, ""});
  std::string mixed = WithTextRenditions(MasterPlaylist(v, &audio), {}, Captions::kInStream);
  EXPECT_NE(mixed.find("AUDIO=\"audio\",CLOSED-CAPTIONS=\"cc\"\n720p/"), std::string::npos)
      << mixed;
  EXPECT_NE(mixed.find("AUDIO=\"audio\",CLOSED-CAPTIONS=NONE\n720p-hevc/"), std::string::npos)
      << mixed;
}

}  // namespace
}  // namespace reel::engine::hls
