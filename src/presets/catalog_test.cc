#include "presets/catalog.h"

#include <gtest/gtest.h>

#include "presets/presets.h"

namespace reel::presets {
namespace {

using nlohmann::json;

TEST(Ladders, BuiltInLaddersByName) {
  auto lines = [](const char* name) {
    std::vector<int> out;
    for (const Rung& r : FindLadder(name)->rungs) out.push_back(r.lines);
    return out;
  };
  EXPECT_EQ(lines("mobile"), (std::vector<int>{1080, 720, 480, 360, 240, 144}));
  EXPECT_EQ(lines("uhd"), (std::vector<int>{2160, 1440, 1080, 720, 480, 360}));
  for (const Rung& r : FindLadder("hevc")->rungs) EXPECT_EQ(r.codec, VideoCodec::kHevc);
  for (const Rung& r : FindLadder("av1")->rungs) EXPECT_EQ(r.codec, VideoCodec::kAv1);
  // Same size class, fewer bits: HEVC and AV1 rungs cost less than H.264's.
  EXPECT_LT(FindLadder("hevc")->rungs[1].bitrate, FindLadder("default")->rungs[1].bitrate);
  EXPECT_LT(FindLadder("av1")->rungs[1].bitrate, FindLadder("hevc")->rungs[1].bitrate);
  VideoSettings av1 = RungVideoSettings(*FindLadder("av1"), FindLadder("av1")->rungs[0]);
  EXPECT_EQ(av1.codec, VideoCodec::kAv1);
  EXPECT_EQ(av1.speed, "10") << "the ladder's x264 speed is no SVT-AV1 preset";
}

TEST(Ladders, InlineRungsCarryTheirOwnEncoding) {
  Result<Ladder> l = ParseLadder(json::parse(R"([
      {"height": 480, "bitrate": "1500k"},
      {"width": 1280, "bitrate": 3000000, "maxrate": "4M", "fps": 30, "profile": "main"},
      {"height": 720, "crf": 30, "maxrate": "2M", "codec": "av1", "speed": 8},
      {"height": 1080, "bitrate": "3M", "codec": "hevc", "speed": "faster"}])"),
                                 "ladder");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(l->rungs.size(), 4u);
  // Highest first within each codec; codecs in the order they first appear.
  EXPECT_EQ(l->rungs[0].lines, 720);  // width 1280 is the 720p class
  EXPECT_EQ(l->rungs[0].maxrate, 4000000);
  EXPECT_EQ(l->rungs[1].lines, 480);
  EXPECT_EQ(l->rungs[2].codec, VideoCodec::kAv1);
  EXPECT_EQ(l->rungs[3].codec, VideoCodec::kHevc);
  VideoSettings h264 = RungVideoSettings(*l, l->rungs[0]);
  EXPECT_EQ(h264.profile, "main");
  EXPECT_EQ(h264.fps, 30);
  EXPECT_EQ(h264.maxrate, 4000000);
  VideoSettings av1 = RungVideoSettings(*l, l->rungs[2]);
  EXPECT_EQ(av1.crf, 30);
  EXPECT_EQ(av1.bitrate, 0);
  EXPECT_EQ(av1.maxrate, 2000000);
  EXPECT_EQ(av1.speed, "8");
  EXPECT_EQ(RungVideoSettings(*l, l->rungs[3]).speed, "faster");
  // A per-title step rewrites a rung's bitrate; everything the encoder gets follows from it.
  Rung cheaper = l->rungs[1];
  cheaper.bitrate = 900000;
  EXPECT_EQ(RungVideoSettings(*l, cheaper).bitrate, 900000);
  EXPECT_EQ(RungVideoSettings(*l, cheaper).maxrate, 990000);
}

TEST(Ladders, HdrKeepAndBitDepthReachTheEncoderSettings) {
  Result<Ladder> l = ParseLadder(json::parse(R"([
      {"height": 720, "bitrate": "3M", "codec": "hevc", "hdr": "keep"},
      {"height": 720, "bitrate": "2M", "codec": "av1", "bit_depth": 10},
      {"height": 480, "bitrate": "1M", "codec": "av1", "hdr": "tonemap", "bit_depth": 8},
      {"height": 480, "bitrate": "1M"}])"),
                                 "ladder");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(l->rungs.size(), 4u);
  // Grouped by codec in order of appearance, highest first: hevc, av1 720, av1 480, h264.
  VideoSettings hevc = RungVideoSettings(*l, l->rungs[0]);
  EXPECT_EQ(hevc.codec, VideoCodec::kHevc);
  EXPECT_TRUE(hevc.keep_hdr);
  EXPECT_EQ(hevc.bit_depth, 10) << "HDR is 10-bit";
  VideoSettings av1 = RungVideoSettings(*l, l->rungs[1]);
  EXPECT_EQ(av1.codec, VideoCodec::kAv1);
  EXPECT_FALSE(av1.keep_hdr);
  EXPECT_EQ(av1.bit_depth, 10);
  VideoSettings av1_sdr = RungVideoSettings(*l, l->rungs[2]);
  EXPECT_FALSE(av1_sdr.keep_hdr);
  EXPECT_EQ(av1_sdr.bit_depth, 8);
  VideoSettings h264 = RungVideoSettings(*l, l->rungs[3]);
  EXPECT_EQ(h264.codec, VideoCodec::kH264);
  EXPECT_FALSE(h264.keep_hdr);
  EXPECT_EQ(h264.bit_depth, 8);
}

TEST(Ladders, InterleavedCodecsAreGroupedAndSortedHighestFirst) {
  Result<Ladder> l = ParseLadder(json::parse(R"([
      {"height": 480, "bitrate": "1M"}, {"height": 720, "bitrate": "1M", "codec": "hevc"},
      {"height": 1080, "bitrate": "4M"}, {"height": 360, "bitrate": "1M", "codec": "hevc"},
      {"height": 720, "bitrate": "2M"}, {"height": 1080, "bitrate": "3M", "codec": "hevc"}])"),
                                 "ladder");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  std::vector<std::pair<VideoCodec, int>> got;
  for (const Rung& r : l->rungs) got.push_back({r.codec, r.lines});
  std::vector<std::pair<VideoCodec, int>> want = {
      {VideoCodec::kH264, 1080}, {VideoCodec::kH264, 720}, {VideoCodec::kH264, 480},
      {VideoCodec::kHevc, 1080}, {VideoCodec::kHevc, 720}, {VideoCodec::kHevc, 360}};
  EXPECT_EQ(got, want);
}

TEST(Ladders, EveryRungFieldIsBoundedAndNamed) {
  struct Case {
    const char* rung;
    const char* field;
  };
  const Case cases[] = {
      {R"({"bitrate": "1M"})", "ladder[1].height"},
      {R"({"height": 720, "width": 1280, "bitrate": "1M"})", "ladder[1].width"},
      {R"({"height": 8, "bitrate": "1M"})", "ladder[1].height"},
      {R"({"height": 721, "bitrate": "1M"})", "ladder[1].height"},
      {R"({"width": 9000, "bitrate": "1M"})", "ladder[1].width"},
      {R"({"height": 720})", "ladder[1].bitrate"},
      {R"({"height": 720, "bitrate": "10k"})", "ladder[1].bitrate"},
      {R"({"height": 720, "bitrate": "1G"})", "ladder[1].bitrate"},
      {R"({"height": 720, "bitrate": "fast"})", "ladder[1].bitrate"},
      {R"({"height": 720, "bitrate": "1M", "crf": 23})", "ladder[1].crf"},
      {R"({"height": 720, "crf": 23})", "ladder[1].maxrate"},
      {R"({"height": 720, "crf": 52, "maxrate": "2M"})", "ladder[1].crf"},
      {R"({"height": 720, "crf": 64, "maxrate": "2M", "codec": "av1"})", "ladder[1].crf"},
      {R"({"height": 720, "bitrate": "2M", "maxrate": "1M"})", "ladder[1].maxrate"},
      {R"({"height": 720, "bitrate": "1M", "codec": "vp9"})", "ladder[1].codec"},
      {R"({"height": 720, "bitrate": "1M", "codec": "mpeg2"})", "ladder[1].codec"},
      {R"({"height": 720, "bitrate": "1M", "fps": 0.5})", "ladder[1].fps"},
      {R"({"height": 720, "bitrate": "1M", "fps": 120})", "ladder[1].fps"},
      {R"({"height": 720, "bitrate": "1M", "profile": "high444"})", "ladder[1].profile"},
      {R"({"height": 720, "bitrate": "1M", "profile": "main10", "codec": "hevc"})",
       "ladder[1].profile"},
      {R"({"height": 720, "bitrate": "1M", "speed": "placebo"})", "ladder[1].speed"},
      {R"({"height": 720, "bitrate": "1M", "speed": 3, "codec": "av1"})", "ladder[1].speed"},
      {R"({"height": 720, "bitrate": "1M", "speed": "fast", "codec": "av1"})", "ladder[1].speed"},
      {R"({"height": 720, "bitrate": "1M", "x264opts": "x"})", "ladder[1].x264opts"},
      {R"({"height": 720, "bitrate": "1M", "hdr": "keep"})", "ladder[1].hdr"},
      {R"({"height": 720, "bitrate": "1M", "hdr": "pq", "codec": "hevc"})", "ladder[1].hdr"},
      {R"({"height": 720, "bitrate": "1M", "bit_depth": 10})", "ladder[1].bit_depth"},
      {R"({"height": 720, "bitrate": "1M", "bit_depth": 12, "codec": "av1"})",
       "ladder[1].bit_depth"},
      {R"({"height": 720, "bitrate": "1M", "bit_depth": 9, "codec": "av1"})",
       "ladder[1].bit_depth"},
      {R"({"height": 720, "bitrate": "1M", "bit_depth": 8, "hdr": "keep", "codec": "av1"})",
       "ladder[1].bit_depth"},
      {R"({"height": 360, "bitrate": "1M"})", "ladder[1]"},  // repeats the first rung
      {R"("720p")", "ladder[1]"},
  };
  for (const Case& c : cases) {
    json ladder =
        json::array({json::parse(R"({"height": 360, "bitrate": "800k"})"), json::parse(c.rung)});
    FieldError error;
    Result<Ladder> l = ParseLadder(ladder, "ladder", &error);
    ASSERT_FALSE(l.ok()) << c.rung;
    EXPECT_EQ(error.field, c.field) << c.rung << ": " << error.message;
    EXPECT_EQ(l.status().message().rfind(std::string(c.field) + ": ", 0), 0u);
  }
  FieldError error;
  EXPECT_FALSE(ParseLadder(json::array(), "ladder", &error).ok());
  EXPECT_EQ(error.field, "ladder");
  json thirteen = json::array();
  for (int i = 0; i < 13; ++i) thirteen.push_back({{"height", 100 + 2 * i}, {"bitrate", "1M"}});
  EXPECT_FALSE(ParseLadder(thirteen, "ladder", &error).ok());
  EXPECT_FALSE(ParseLadder(json("nope"), "ladder", &error).ok());
  EXPECT_NE(error.message.find("av1"), std::string::npos) << "lists the known ladders";
  EXPECT_TRUE(ParseLadder(json("uhd"), "ladder").ok());
}

TEST(Presets, FileOutputsTakeCodecSpeedAndProfileWithinTheContainer) {
  Preset mp4 = *FindPreset("h264-720p");
  Overrides o;
  o.codec = VideoCodec::kAv1;
  o.speed = "9";
  EXPECT_FALSE(ApplyOverrides(o, &mp4).has_value());
  EXPECT_EQ(mp4.video.codec, VideoCodec::kAv1);
  EXPECT_EQ(mp4.video.speed, "9");
  EXPECT_EQ(mp4.video.crf, 35) << "AV1's own CRF scale";
  struct Case {
    const char* preset;
    Overrides o;
    const char* field;
  };
  std::vector<Case> bad(5);
  bad[0] = {"vp9-720p", {}, "codec"};
  bad[0].o.codec = VideoCodec::kH264;  // WebM holds VP9 and AV1 only
  bad[1] = {"h264-720p", {}, "codec"};
  bad[1].o.codec = VideoCodec::kVp9;
  bad[2] = {"h264-720p", {}, "speed"};
  bad[2].o.speed = "7";
  bad[3] = {"h264-720p", {}, "profile"};
  bad[3].o.profile = "high10";
  bad[4] = {"h264-720p", {}, "crf"};
  bad[4].o.codec = VideoCodec::kAv1;
  bad[4].o.crf = 0;
  for (const Case& c : bad) {
    Preset p = *FindPreset(c.preset);
    auto err = ApplyOverrides(c.o, &p);
    ASSERT_TRUE(err.has_value()) << c.field;
    EXPECT_EQ(err->field, c.field);
  }
}

TEST(Ladders, PerTitleIsAnOptionOfANamedOrInlineLadder) {
  Result<Ladder> named = ParseLadder(
      json::parse(R"({"name": "hevc", "per_title": true, "target_psnr": 42.5})"), "ladder");
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_TRUE(named->per_title);
  EXPECT_EQ(named->target_psnr, 42.5);
  EXPECT_EQ(named->rungs.size(), FindLadder("hevc")->rungs.size());
  EXPECT_FALSE(FindLadder("hevc")->per_title) << "the catalogue's ladder is not changed";
  Result<Ladder> defaults =
      ParseLadder(json::parse(R"({"name": "default", "per_title": true})"), "ladder");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->target_psnr, 40);
  Result<Ladder> inline_rungs = ParseLadder(
      json::parse(R"({"rungs": [{"height": 480, "bitrate": "1M"}], "per_title": true})"), "ladder");
  ASSERT_TRUE(inline_rungs.ok()) << inline_rungs.status().ToString();
  EXPECT_TRUE(inline_rungs->per_title);
  EXPECT_FALSE(ParseLadder(json("default"), "ladder")->per_title) << "off unless asked";

  struct Case {
    const char* ladder;
    const char* field;
  };
  const Case cases[] = {
      {R"({"name": "default", "target_psnr": 29.9})", "ladder.target_psnr"},
      {R"({"name": "default", "target_psnr": 50.5})", "ladder.target_psnr"},
      {R"({"name": "default", "target_psnr": "40"})", "ladder.target_psnr"},
      {R"({"name": "default", "per_title": "yes"})", "ladder.per_title"},
      {R"({"name": "default", "per_title": true, "vmaf": 93})", "ladder.vmaf"},
      {R"({"per_title": true})", "ladder.name"},
      {R"({"name": "default", "rungs": [{"height": 480, "bitrate": "1M"}]})", "ladder.name"},
      {R"({"name": "huge", "per_title": true})", "ladder.name"},
      {R"({"rungs": [{"height": 480, "bitrate": "1G"}], "per_title": true})",
       "ladder.rungs[0].bitrate"},
  };
  for (const Case& c : cases) {
    FieldError error;
    Result<Ladder> l = ParseLadder(json::parse(c.ladder), "ladder", &error);
    ASSERT_FALSE(l.ok()) << c.ladder;
    EXPECT_EQ(error.field, c.field) << c.ladder << ": " << error.message;
    EXPECT_EQ(l.status().message().rfind(std::string(c.field) + ": ", 0), 0u)
        << l.status().ToString();
  }

  // The presets file: a named ladder may be per-title, within the same bounds.
  Result<UserCatalog> file = ParseCatalogFile(R"({"ladders": {"pt": {
      "rungs": [{"height": 720, "bitrate": "3M"}, {"height": 360, "bitrate": "800k"}],
      "per_title": true, "target_psnr": 38}}})",
                                              "p.json");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_TRUE(file->ladders[0].per_title);
  EXPECT_EQ(file->ladders[0].target_psnr, 38);
  Result<UserCatalog> bad = ParseCatalogFile(
      "{\"ladders\": {\"pt\": {\"rungs\": [{\"height\": 720, \"bitrate\": \"3M\"}],\n"
      "  \"target_psnr\": 60}}}",
      "p.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "p.json:2: ladders.pt.target_psnr: must be between 30 and 50");
}

TEST(Catalog, FileErrorsGiveTheLineAndTheField) {
  const std::string good = R"({
  "ladders": {
    "phone": {"rungs": [{"height": 480, "bitrate": "900k"},
                        {"height": 240, "crf": 30, "maxrate": "300k", "codec": "av1"}],
              "segment_seconds": 4},
    "flat": [{"height": 720, "bitrate": "2M", "codec": "hevc"}]
  },
  "presets": {
    "av1-small": {"container": "webm", "codec": "av1", "height": 360, "crf": 38, "speed": 10}
  }
})";
  Result<UserCatalog> c = ParseCatalogFile(good, "p.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->ladders.size(), 2u);
  EXPECT_EQ(c->ladders[1].name, "phone");  // nlohmann orders keys
  EXPECT_EQ(c->ladders[1].segment_seconds, 4);
  EXPECT_EQ(c->ladders[1].rungs[1].codec, VideoCodec::kAv1);
  ASSERT_EQ(c->presets.size(), 1u);
  EXPECT_EQ(c->presets[0].container, Container::kWebm);
  EXPECT_EQ(c->presets[0].video.codec, VideoCodec::kAv1);
  EXPECT_EQ(c->presets[0].video.crf, 38);

  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"{\n  \"ladders\": {\n    \"x\": [\n      {\"height\": 720,\n       \"bitrate\": \"900M\"}\n"
       "    ]\n  }\n}",
       "p.json:5: ladders.x[0].bitrate: must be between 50k and 100M bits/s"},
      {"{\n  \"ladders\": {\n    \"x\": {\"rungs\": [\n      {\"height\": 720, \"crf\": 20}]}\n"
       "  }\n}",
       "p.json:4: ladders.x.rungs[0].maxrate: is required with crf (the cap the playlist "
       "declares)"},
      {"{\n  \"presets\": {\n    \"p\": {\n      \"codec\": \"h264\",\n      \"container\": "
       "\"webm\"\n    }\n  }\n}",
       "p.json:4: presets.p.codec: webm cannot hold h264 here (mp4: h264, hevc, av1; webm: vp9, "
       "av1)"},
      {"{\n  \"ladders\": {\n    \"Bad Name\": []\n  }\n}",
       "p.json:3: ladders.Bad Name: names are 1 to 32 of a-z, 0-9, - and _"},
      {"{\n  \"ladders\": {},\n  \"extra\": 1\n}",
       "p.json:3: extra: unknown field (allowed here: ladders, presets)"},
      {"{\n  \"ladders\": {\n    \"x\": [\n  }\n}", "p.json:4: not valid JSON"},
  };
  for (const Case& k : cases) {
    Result<UserCatalog> r = ParseCatalogFile(k.text, "p.json");
    ASSERT_FALSE(r.ok()) << k.text;
    // A syntax error goes on with the parser's own words.
    EXPECT_EQ(r.status().message().substr(0, k.error.size()), k.error);
  }
}

// The same file in YAML: the same entries, and the same validation with the YAML lines.
TEST(Catalog, YamlFilesAreValidatedLikeJsonWithTheirLines) {
  const std::string good = R"(# phone ladders
ladders:
  phone:
    rungs:
      - {height: 480, bitrate: 900k}
      - height: 240
        crf: 30
        maxrate: 300k
        codec: av1
    segment_seconds: 4
  flat:
    - &hevc720 {height: 720, bitrate: 2M, codec: hevc}
  again: [*hevc720]
presets:
  av1-small:
    container: webm
    codec: av1
    height: 360
    crf: 38
    speed: 10
)";
  Result<UserCatalog> c = ParseCatalogFile(good, "p.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->ladders.size(), 3u);
  EXPECT_EQ(c->ladders[2].name, "phone");
  EXPECT_EQ(c->ladders[2].segment_seconds, 4);
  EXPECT_EQ(c->ladders[2].rungs[1].codec, VideoCodec::kAv1);
  EXPECT_EQ(c->ladders[2].rungs[1].crf, 30);
  EXPECT_EQ(c->ladders[0].name, "again");
  EXPECT_EQ(c->ladders[0].rungs[0].codec, VideoCodec::kHevc);
  EXPECT_EQ(c->ladders[0].rungs[0].bitrate, 2000000);
  ASSERT_EQ(c->presets.size(), 1u);
  EXPECT_EQ(c->presets[0].container, Container::kWebm);
  EXPECT_EQ(c->presets[0].video.crf, 38);

  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"ladders:\n  x:\n    - height: 720\n      bitrate: 900M\n",
       "p.yaml:4: ladders.x[0].bitrate: must be between 50k and 100M bits/s"},
      {"ladders:\n  x:\n    rungs:\n      - {height: 720, crf: 20}\n",
       "p.yaml:4: ladders.x.rungs[0].maxrate: is required with crf (the cap the playlist "
       "declares)"},
      {"presets:\n  p:\n    container: mp4\n    height: \"360\"\n",
       "p.yaml:4: presets.p.height: must be an integer"},
      {"ladders: {}\n\nextra: 1\n",
       "p.yaml:3: extra: unknown field (allowed here: ladders, presets)"},
      {"presets:\n  p:\n    container: mp4\n    speed: fast\n    speed: slow\n",
       "p.yaml:5: presets.p.speed: duplicate key"},
      {"ladders:\n  x: [\n", "p.yaml:3: not valid YAML"},
  };
  for (const Case& k : cases) {
    Result<UserCatalog> r = ParseCatalogFile(k.text, "p.yaml");
    ASSERT_FALSE(r.ok()) << k.text;
    EXPECT_EQ(r.status().message().substr(0, k.error.size()), k.error);
  }
}

TEST(Catalog, UserEntriesAreListedAndFoundButNeverReplaceBuiltIns) {
  Result<UserCatalog> c = ParseCatalogFile(
      R"({"ladders": {"tiny": [{"height": 144, "bitrate": "150k", "codec": "av1"}]}})", "f");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(InstallUserCatalog({}, c->ladders).ok());
  ASSERT_NE(FindLadder("tiny"), nullptr);
  EXPECT_TRUE(ParseLadder(json("tiny"), "ladder").ok());
  json listed = CatalogJson();
  bool found = false;
  for (const json& l : listed["ladders"])
    if (l["name"] == "tiny") {
      found = true;
      EXPECT_EQ(l["rungs"][0]["codec"], "av1");
      EXPECT_EQ(l["rungs"][0]["bitrate"], 150000);
    }
  EXPECT_TRUE(found);
  Ladder clash = c->ladders[0];
  clash.name = "default";
  EXPECT_FALSE(InstallUserCatalog({}, {clash}).ok());
  EXPECT_EQ(FindLadder("default")->rungs[0].codec, VideoCodec::kH264);
  ASSERT_TRUE(InstallUserCatalog({}, {}).ok());
  EXPECT_EQ(FindLadder("tiny"), nullptr);
}

}  // namespace
}  // namespace reel::presets
