#include "job/spec.h"

#include <gtest/gtest.h>

#include "job/spec_test_support.h"

namespace reel::job {
namespace {

using nlohmann::json;

TEST(JobSpec, ParsesTheDesignShape) {
  json spec = json::parse(R"({
    "source": {"url": "file:///media/talk.mov"},
    "outputs": [
      {"kind": "hls", "ladder": "default", "destination": "out/hls/"},
      {"kind": "mp4", "preset": "h264-480p", "destination": "out/480p.mp4", "bitrate": "1200k",
       "fps": 25, "audio_bitrate": 96000},
      {"kind": "webm", "destination": "out/720p.webm", "crf": 30}
    ],
    "metadata": {"media_id": "m-1"}
  })");
  Result<JobSpec> r = ParseJobSpec(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source, "file:///media/talk.mov");
  ASSERT_EQ(r->outputs.size(), 3u);
  EXPECT_EQ(r->outputs[0].kind, "hls");
  EXPECT_EQ(r->outputs[0].ladder.rungs.size(), 4u);
  EXPECT_EQ(r->outputs[1].preset.name, "h264-480p");
  EXPECT_EQ(r->outputs[1].preset.video.bitrate, 1200000);
  EXPECT_EQ(r->outputs[1].preset.video.fps, 25);
  EXPECT_EQ(r->outputs[1].preset.audio.bitrate, 96000);
  EXPECT_EQ(r->outputs[2].preset.name, "vp9-720p") << "webm defaults to the VP9 preset";
  EXPECT_EQ(r->outputs[2].preset.video.crf, 30);
  EXPECT_EQ(r->metadata["media_id"], "m-1");
}

TEST(JobSpec, SourceMayBeAPlainString) {
  Result<JobSpec> r = ParseJobSpec(
      json::parse(R"({"source": "in.mp4", "outputs": [{"kind": "hls", "destination": "o"}]})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source, "in.mp4");
}

TEST(JobSpec, ErrorsNameTheField) {
  auto with_output = [](json output) {
    return json{{"source", {{"url", "in.mp4"}}},
                {"outputs", json::array({{{"kind", "hls"}, {"destination", "a"}}, output})}};
  };
  EXPECT_EQ(ErrorOf(json::array()).field, "");
  EXPECT_EQ(ErrorOf(json::parse(R"({"outputs": []})")).field, "source");
  EXPECT_EQ(ErrorOf(json::parse(R"({"source": {"url": ""}, "outputs": []})")).field, "source.url");
  EXPECT_EQ(ErrorOf(json::parse(R"({"source": {"uri": "x"}})")).field, "source.uri");
  EXPECT_EQ(ErrorOf(json::parse(R"({"source": "x", "outputs": []})")).field, "outputs");
  EXPECT_EQ(ErrorOf(json::parse(R"({"source": "x", "outputs": [], "extra": 1})")).field, "extra");
  EXPECT_EQ(
      ErrorOf(with_output({{"kind", "mp4"}, {"preset", "h264-4k"}, {"destination", "b"}})).field,
      "outputs[1].preset");
  EXPECT_EQ(
      ErrorOf(with_output({{"kind", "mp4"}, {"preset", "vp9-720p"}, {"destination", "b"}})).field,
      "outputs[1].preset");
  EXPECT_EQ(ErrorOf(with_output({{"kind", "mp4"}})).field, "outputs[1].destination");
  EXPECT_EQ(ErrorOf(with_output({{"kind", "gif"}, {"destination", "b"}})).field, "outputs[1].kind");
  EXPECT_EQ(ErrorOf(with_output({{"kind", "mp4"}, {"destination", "b"}, {"crf", 99}})).field,
            "outputs[1].crf");
  EXPECT_EQ(ErrorOf(with_output({{"kind", "mp4"}, {"destination", "b"}, {"crf", "20"}})).field,
            "outputs[1].crf");
  EXPECT_EQ(
      ErrorOf(with_output({{"kind", "mp4"}, {"destination", "b"}, {"bitrate", "fast"}})).field,
      "outputs[1].bitrate");
  EXPECT_EQ(ErrorOf(with_output({{"kind", "mp4"}, {"destination", "b"}, {"width", 4}})).field,
            "outputs[1].width");
  EXPECT_EQ(
      ErrorOf(with_output({{"kind", "mp4"}, {"destination", "b"}, {"ffmpeg_args", "-y"}})).field,
      "outputs[1].ffmpeg_args")
      << "no raw encoder arguments, ever";
  EXPECT_EQ(ErrorOf(with_output({{"kind", "hls"}, {"destination", "b"}, {"ladder", "huge"}})).field,
            "outputs[1].ladder");
  EXPECT_EQ(ErrorOf(with_output({{"kind", "hls"}, {"destination", "a"}})).field,
            "outputs[1].destination")
      << "two outputs cannot share a destination";
}

TEST(JobSpec, ChunkingIsAutoOffOrBoundedSeconds) {
  auto with = [](json chunking) {
    return json{{"source", "in.mp4"},
                {"outputs", json::array({{{"kind", "hls"}, {"destination", "o"}}})},
                {"chunking", chunking}};
  };
  Result<JobSpec> plain = ParseJobSpec(
      json::parse(R"({"source": "in.mp4", "outputs": [{"kind": "hls", "destination": "o"}]})"));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->chunking, JobSpec::Chunking::kAuto) << "the server decides by default";
  EXPECT_EQ(ParseJobSpec(with("off"))->chunking, JobSpec::Chunking::kOff);
  EXPECT_EQ(ParseJobSpec(with("auto"))->chunking, JobSpec::Chunking::kAuto);
  Result<JobSpec> seconds = ParseJobSpec(with({{"seconds", 120}}));
  ASSERT_TRUE(seconds.ok()) << seconds.status().ToString();
  EXPECT_EQ(seconds->chunking, JobSpec::Chunking::kSeconds);
  EXPECT_EQ(seconds->chunk_seconds, 120);
  EXPECT_EQ(ErrorOf(with("on")).field, "chunking");
  EXPECT_EQ(ErrorOf(with(60)).field, "chunking");
  EXPECT_EQ(ErrorOf(with({{"seconds", 9}})).field, "chunking.seconds");
  EXPECT_EQ(ErrorOf(with({{"seconds", 601}})).field, "chunking.seconds");
  EXPECT_EQ(ErrorOf(with(json::object())).field, "chunking.seconds");
  EXPECT_EQ(ErrorOf(with({{"seconds", 60}, {"overlap", 1}})).field, "chunking.overlap");
}

TEST(JobSpec, PublishIsProgressiveOrEndOnHlsOutputsOnly) {
  auto with = [](json output) {
    return json{{"source", "in.mp4"}, {"outputs", json::array({output})}};
  };
  json hls = {{"kind", "hls"}, {"destination", "o/"}};
  Result<JobSpec> plain = ParseJobSpec(with(hls));
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->outputs[0].progressive) << "delivered once, whole, by default";
  json progressive = hls;
  progressive["publish"] = "progressive";
  Result<JobSpec> p = ParseJobSpec(with(progressive));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->outputs[0].progressive);
  json end = hls;
  end["publish"] = "end";
  EXPECT_FALSE(ParseJobSpec(with(end))->outputs[0].progressive);
  json with_dash = progressive;
  with_dash["dash"] = true;  // an HLS package with an MPD beside it is still HLS
  EXPECT_TRUE(ParseJobSpec(with(with_dash)).ok());
  for (json bad : {json("live"), json(true), json(1), json::object(), json("")}) {
    json o = hls;
    o["publish"] = bad;
    FieldError e = ErrorOf(with(o));
    EXPECT_EQ(e.field, "outputs[0].publish") << bad.dump();
    EXPECT_NE(e.message.find("progressive"), std::string::npos) << e.message;
  }
  for (json other : {json{{"kind", "dash"}, {"destination", "d/"}},
                     json{{"kind", "mp4"}, {"destination", "a.mp4"}},
                     json{{"kind", "thumbnail"}, {"destination", "t.jpg"}}}) {
    other["publish"] = "progressive";
    EXPECT_EQ(ErrorOf(with(other)).field, "outputs[0].publish") << other.dump();
  }
}

TEST(JobSpec, LaddersAreNamesOrInlineRungsAndFilesTakeACodec) {
  json spec = json::parse(R"({"source": "in.mp4", "outputs": [
      {"kind": "hls", "destination": "a", "ladder": "av1"},
      {"kind": "dash", "destination": "b", "ladder": [
          {"height": 720, "bitrate": "3M"},
          {"height": 720, "bitrate": "1500k", "codec": "av1", "speed": 10}]},
      {"kind": "mp4", "destination": "c.mp4", "codec": "hevc", "speed": "fast", "height": 480},
      {"kind": "webm", "destination": "d.webm", "codec": "av1", "speed": 8, "crf": 40}]})");
  Result<JobSpec> r = ParseJobSpec(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outputs[0].ladder.rungs[0].codec, presets::VideoCodec::kAv1);
  ASSERT_EQ(r->outputs[1].ladder.rungs.size(), 2u);
  EXPECT_EQ(r->outputs[1].ladder.rungs[1].codec, presets::VideoCodec::kAv1);
  EXPECT_EQ(r->outputs[2].preset.video.codec, presets::VideoCodec::kHevc);
  EXPECT_EQ(r->outputs[2].preset.video.speed, "fast");
  EXPECT_EQ(r->outputs[3].preset.video.codec, presets::VideoCodec::kAv1);
  EXPECT_EQ(r->outputs[3].preset.video.crf, 40);

  auto field = [](const char* output) {
    return ErrorOf(json{{"source", "in.mp4"}, {"outputs", json::array({json::parse(output)})}})
        .field;
  };
  EXPECT_EQ(field(R"({"kind": "hls", "destination": "a", "ladder": [
                {"height": 720, "bitrate": "3M"}, {"height": 480, "bitrate": "1M"},
                {"height": 360, "bitrate": "1G"}]})"),
            "outputs[0].ladder[2].bitrate");
  EXPECT_EQ(field(R"({"kind": "hls", "destination": "a", "ladder": [
                {"height": 720, "bitrate": "3M", "codec": "av1", "speed": "medium"}]})"),
            "outputs[0].ladder[0].speed");
  EXPECT_EQ(field(R"({"kind": "hls", "destination": "a", "ladder": {"rungs": []}})"),
            "outputs[0].ladder.rungs");
  EXPECT_EQ(field(R"({"kind": "hls", "destination": "a",
                      "ladder": {"name": "default", "per_title": true, "target_psnr": 55}})"),
            "outputs[0].ladder.target_psnr");
  EXPECT_EQ(field(R"({"kind": "webm", "destination": "d.webm", "codec": "h264"})"),
            "outputs[0].codec")
      << "WebM holds VP9 and AV1 only";
  EXPECT_EQ(field(R"({"kind": "mp4", "destination": "c.mp4", "codec": "vp8"})"),
            "outputs[0].codec");
  EXPECT_EQ(field(R"({"kind": "mp4", "destination": "c.mp4", "codec": "av1", "speed": 2})"),
            "outputs[0].speed");
  EXPECT_EQ(field(R"({"kind": "mp4", "destination": "c.mp4", "profile": "high10"})"),
            "outputs[0].profile");
}

TEST(JobSpec, HdrKeepAndTenBitsOnHevcAndAv1Only) {
  json spec = json::parse(R"({"source": "in.mp4", "outputs": [
      {"kind": "hls", "destination": "a", "ladder": [
          {"height": 720, "bitrate": "3M"},
          {"height": 720, "bitrate": "2M", "codec": "hevc", "hdr": "keep"},
          {"height": 720, "bitrate": "2M", "codec": "av1", "bit_depth": 10}]},
      {"kind": "mp4", "destination": "c.mp4", "codec": "av1", "hdr": "keep"},
      {"kind": "mp4", "destination": "d.mp4", "codec": "hevc", "bit_depth": 10}]})");
  Result<JobSpec> r = ParseJobSpec(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::vector<presets::Rung>& rungs = r->outputs[0].ladder.rungs;
  ASSERT_EQ(rungs.size(), 3u);
  EXPECT_FALSE(rungs[0].keep_hdr);
  EXPECT_EQ(rungs[0].bit_depth, 8);
  EXPECT_TRUE(rungs[1].keep_hdr);
  EXPECT_EQ(rungs[1].bit_depth, 10) << "HDR is 10-bit";
  EXPECT_FALSE(rungs[2].keep_hdr);
  EXPECT_EQ(rungs[2].bit_depth, 10);
  EXPECT_TRUE(r->outputs[1].preset.video.keep_hdr);
  EXPECT_EQ(r->outputs[1].preset.video.bit_depth, 10);
  EXPECT_FALSE(r->outputs[2].preset.video.keep_hdr);
  EXPECT_EQ(r->outputs[2].preset.video.bit_depth, 10);

  auto error = [](const char* output) {
    return ErrorOf(json{{"source", "in.mp4"}, {"outputs", json::array({json::parse(output)})}});
  };
  EXPECT_EQ(error(R"({"kind": "mp4", "destination": "c.mp4", "hdr": "keep"})").field,
            "outputs[0].hdr")
      << "H.264 is always tone-mapped";
  EXPECT_NE(error(R"({"kind": "mp4", "destination": "c.mp4", "hdr": "keep"})").message.find("hevc"),
            std::string::npos);
  EXPECT_EQ(error(R"({"kind": "mp4", "destination": "c.mp4", "codec": "hevc", "hdr": "on"})").field,
            "outputs[0].hdr");
  EXPECT_EQ(error(R"({"kind": "mp4", "destination": "c.mp4", "codec": "hevc", "hdr": 1})").field,
            "outputs[0].hdr");
  EXPECT_EQ(error(R"({"kind": "mp4", "destination": "c.mp4", "bit_depth": 10})").field,
            "outputs[0].bit_depth");
  EXPECT_EQ(
      error(R"({"kind": "mp4", "destination": "c.mp4", "codec": "av1", "bit_depth": 12})").field,
      "outputs[0].bit_depth");
  EXPECT_EQ(error(R"({"kind": "mp4", "destination": "c.mp4", "codec": "av1", "hdr": "keep",
                      "bit_depth": 8})")
                .field,
            "outputs[0].bit_depth");
  EXPECT_EQ(error(R"({"kind": "hls", "destination": "a", "ladder": [
                {"height": 720, "bitrate": "3M", "hdr": "keep"}]})")
                .field,
            "outputs[0].ladder[0].hdr");
  EXPECT_EQ(error(R"({"kind": "dash", "destination": "a", "ladder": [
                {"height": 720, "bitrate": "3M", "codec": "hevc", "bit_depth": 9}]})")
                .field,
            "outputs[0].ladder[0].bit_depth");
}

// Matroska takes MP4's fields (and any MP4 or WebM preset) and a choice of audio codec.
TEST(JobSpec, MkvOutputsTakeTheFileFieldsAndAnAudioCodec) {
  json spec = json::parse(R"({"source": "in.mp4", "outputs": [
      {"kind": "mkv", "destination": "a.mkv"},
      {"kind": "mkv", "destination": "b.mkv", "codec": "hevc", "speed": "fast", "height": 480,
       "bitrate": "1500k", "audio_codec": "opus", "audio_bitrate": "96k"},
      {"kind": "mkv", "destination": "c.mkv", "preset": "vp9-720p", "codec": "av1", "crf": 40}]})");
  Result<JobSpec> r = ParseJobSpec(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const OutputSpec& o : r->outputs)
    EXPECT_EQ(o.preset.container, presets::Container::kMatroska) << o.destination;
  EXPECT_EQ(r->outputs[0].preset.video.codec, presets::VideoCodec::kH264);
  EXPECT_EQ(r->outputs[0].preset.audio.codec, presets::AudioCodec::kAac) << "AAC by default";
  EXPECT_EQ(r->outputs[1].preset.video.codec, presets::VideoCodec::kHevc);
  EXPECT_EQ(r->outputs[1].preset.video.speed, "fast");
  EXPECT_EQ(r->outputs[1].preset.video.height, 480);
  EXPECT_EQ(r->outputs[1].preset.video.bitrate, 1500000);
  EXPECT_EQ(r->outputs[1].preset.audio.codec, presets::AudioCodec::kOpus);
  EXPECT_EQ(r->outputs[1].preset.audio.bitrate, 96000);
  EXPECT_EQ(r->outputs[2].preset.video.codec, presets::VideoCodec::kAv1);
  EXPECT_EQ(r->outputs[2].preset.video.crf, 40);

  auto field = [](const char* output) {
    return ErrorOf(json{{"source", "in.mp4"}, {"outputs", json::array({json::parse(output)})}})
        .field;
  };
  EXPECT_EQ(field(R"({"kind": "mkv", "destination": "a.mkv", "audio_codec": "mp3"})"),
            "outputs[0].audio_codec");
  EXPECT_EQ(field(R"({"kind": "mkv", "destination": "a.mkv", "audio_codec": 1})"),
            "outputs[0].audio_codec");
  EXPECT_EQ(field(R"({"kind": "mkv", "destination": "a.mkv", "codec": "ffv1"})"),
            "outputs[0].codec");
  EXPECT_EQ(field(R"({"kind": "mkv", "destination": "a.mkv", "crf": 99})"), "outputs[0].crf");
  EXPECT_EQ(field(R"({"kind": "mkv", "destination": "a.mkv", "speed": "ludicrous"})"),
            "outputs[0].speed");
  EXPECT_EQ(field(R"({"kind": "mkv", "destination": "a.mkv", "codecs": "h264"})"),
            "outputs[0].codecs");
  EXPECT_EQ(field(R"({"kind": "mp4", "destination": "a.mp4", "audio_codec": "opus"})"),
            "outputs[0].audio_codec")
      << "MP4 keeps AAC";
}

TEST(JobSpec, BitratesAcceptNumbersAndSuffixes) {
  EXPECT_EQ(*JsonBitrate(json(800000)), 800000);
  EXPECT_EQ(*JsonBitrate(json("2.5M")), 2500000);
  EXPECT_FALSE(JsonBitrate(json(-1)).has_value());
  EXPECT_FALSE(JsonBitrate(json(true)).has_value());
}

}  // namespace
}  // namespace reel::job

namespace reel::job {
namespace {

TEST(JobSpec, OutputKindsBeyondRenditions) {
  json spec = json::parse(R"({
    "source": "in.mp4",
    "outputs": [
      {"kind": "thumbnail", "destination": "t.png", "at": "12.5", "width": 640},
      {"kind": "thumbnail", "destination": "thumbs/", "count": 5, "format": "webp"},
      {"kind": "thumbnail", "destination": "pct.jpg"},
      {"kind": "sprite", "destination": "s.jpg", "interval": 5, "columns": 8, "width": 120},
      {"kind": "preview", "destination": "p.mp4", "start": 10, "normalize": -16},
      {"kind": "preview", "destination": "p-hls/", "duration": 15},
      {"kind": "waveform", "destination": "w.json", "pixels_per_second": 20, "image": "w.png"},
      {"kind": "loudness"},
      {"kind": "mezzanine", "destination": "m.mkv", "codec": "ffv1"},
      {"kind": "dash", "destination": "pkg/"},
      {"kind": "hls", "destination": "hls/", "dash": true, "normalize": -23}
    ]})");
  Result<JobSpec> r = ParseJobSpec(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& o = r->outputs;
  EXPECT_EQ(o[0].thumbnail.at.value, 12.5);
  EXPECT_FALSE(o[0].thumbnail.at.percent);
  EXPECT_EQ(o[0].thumbnail.format, "png");
  EXPECT_EQ(o[1].thumbnail.count, 5);
  EXPECT_EQ(o[1].thumbnail.format, "webp");
  EXPECT_TRUE(o[2].thumbnail.at.percent) << "10 % by default";
  EXPECT_EQ(o[2].thumbnail.at.value, 10);
  EXPECT_EQ(o[3].sprite.columns, 8);
  EXPECT_EQ(o[4].preset.video.trim_start, 10);
  EXPECT_EQ(o[4].preset.video.trim_duration, 30) << "30 s by default";
  EXPECT_EQ(o[4].preset.video.width, 480);
  EXPECT_EQ(o[4].preset.audio.normalize_lufs, -16);
  EXPECT_FALSE(o[4].preview_hls);
  EXPECT_TRUE(o[5].preview_hls);
  EXPECT_EQ(o[6].waveform.pixels_per_second, 20);
  EXPECT_EQ(o[6].waveform.image, "w.png");
  EXPECT_TRUE(o[7].destination.empty());
  EXPECT_EQ(o[8].preset.video.codec, presets::VideoCodec::kFfv1);
  EXPECT_TRUE(o[9].dash);
  EXPECT_TRUE(o[10].dash);
  EXPECT_EQ(o[10].ladder.audio.normalize_lufs, -23);
}

TEST(JobSpec, OutputKindErrorsNameTheField) {
  auto field = [](const char* output) {
    FieldError e;
    json spec = {{"source", "in.mp4"}, {"outputs", json::array({json::parse(output)})}};
    EXPECT_FALSE(ParseJobSpec(spec, &e).ok()) << output;
    return e.field;
  };
  EXPECT_EQ(field(R"({"kind":"thumbnail","destination":"t.jpg","at":"150%"})"), "outputs[0].at");
  EXPECT_EQ(field(R"({"kind":"thumbnail","destination":"t.jpg","at":"soon"})"), "outputs[0].at");
  EXPECT_EQ(field(R"({"kind":"thumbnail","destination":"t.gif"})"), "outputs[0].destination");
  EXPECT_EQ(field(R"({"kind":"thumbnail","destination":"t","count":500})"), "outputs[0].count");
  EXPECT_EQ(field(R"({"kind":"sprite","destination":"s.png"})"), "outputs[0].destination");
  EXPECT_EQ(field(R"({"kind":"preview","destination":"p.mov"})"), "outputs[0].destination");
  EXPECT_EQ(field(R"({"kind":"preview","destination":"p.mp4","duration":0})"),
            "outputs[0].duration");
  EXPECT_EQ(field(R"({"kind":"preview","destination":"p.mp4","normalize":3})"),
            "outputs[0].normalize");
  EXPECT_EQ(field(R"({"kind":"waveform","destination":"w.json","bits":12})"), "outputs[0].bits");
  EXPECT_EQ(field(R"({"kind":"waveform","destination":"w.png"})"), "outputs[0].destination");
  EXPECT_EQ(field(R"({"kind":"mezzanine","destination":"m.mp4","codec":"prores"})"),
            "outputs[0].codec");
  EXPECT_EQ(field(R"({"kind":"mezzanine","destination":"m.mp4","codec":"ffv1"})"),
            "outputs[0].destination");
  EXPECT_EQ(field(R"({"kind":"loudness","window":3})"), "outputs[0].window");
}

}  // namespace
}  // namespace reel::job

namespace reel::job {
namespace {

TEST(JobSpec, NothingIsWrittenInsideAPackageFolder) {
  // The package replaces its folder whole: a poster put in it would be lost (or refuse the run).
  json spec = {{"source", "in.mp4"},
               {"outputs",
                {{{"kind", "hls"}, {"destination", "out/show/"}},
                 {{"kind", "thumbnail"}, {"destination", "out/show/poster.jpg"}}}}};
  FieldError e = ErrorOf(spec);
  EXPECT_EQ(e.field, "outputs[1].destination");
  EXPECT_NE(e.message.find("outputs[0]'s folder"), std::string::npos) << e.message;
  spec["outputs"][1]["destination"] = "out/show-poster.jpg";  // beside it is fine
  EXPECT_TRUE(ParseJobSpec(spec).ok());
}

TEST(JobSpec, ReplacementAudioAndSubtitlesAreInputs) {
  Result<JobSpec> r = ParseJobSpec(json::parse(R"({
    "source": "main.mp4", "audio": {"url": "instrumental.flac"}, "subtitles": "lyrics.ass",
    "outputs": [{"kind": "mp4", "destination": "o.mp4"}]})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->audio, "instrumental.flac");
  EXPECT_EQ(r->subtitles, "lyrics.ass");
  FieldError e;
  EXPECT_FALSE(ParseJobSpec(json::parse(R"({"source": "a", "audio": 3,
    "outputs": [{"kind": "mp4", "destination": "o.mp4"}]})"),
                            &e)
                   .ok());
  EXPECT_EQ(e.field, "audio");
  EXPECT_FALSE(ParseJobSpec(json::parse(R"({"source": "a", "subtitles": {"file": "x"},
    "outputs": [{"kind": "mp4", "destination": "o.mp4"}]})"),
                            &e)
                   .ok());
  EXPECT_EQ(e.field, "subtitles.file");
}

}  // namespace
}  // namespace reel::job

namespace reel::job {
namespace {

TEST(JobSpec, SubtitleTracksAreBoundedInputsWithALanguageAndAName) {
  json spec = {{"source", "a.mp4"},
               {"subtitle_tracks",
                {{{"url", "https://example.com/fr.srt"}, {"language", "fr"}, {"name", "Français"}},
                 {{"url", "b.vtt"}, {"language", "pt-BR"}},
                 {{"url", "c.ass"}, {"language", "zh-Hant-TW"}, {"name", "Chinese"}},
                 {{"url", "d.srt"}}}},
               {"outputs", {{{"kind", "hls"}, {"destination", "out/"}}}}};
  Result<JobSpec> r = ParseJobSpec(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->subtitle_tracks.size(), 4u);
  EXPECT_EQ(r->subtitle_tracks[0].url, "https://example.com/fr.srt");
  EXPECT_EQ(r->subtitle_tracks[0].language, "fr");
  EXPECT_EQ(r->subtitle_tracks[0].name, "Français");
  EXPECT_EQ(r->subtitle_tracks[1].language, "pt-BR");
  EXPECT_EQ(r->subtitle_tracks[1].name, "");
  EXPECT_EQ(r->subtitle_tracks[3].language, "");

  auto with = [&](json tracks) {
    json s = spec;
    s["subtitle_tracks"] = std::move(tracks);
    return s;
  };
  json one = {{"url", "x.srt"}};
  EXPECT_EQ(ErrorOf(with(json::array())).field, "subtitle_tracks");
  EXPECT_EQ(ErrorOf(with("x.srt")).field, "subtitle_tracks");
  EXPECT_EQ(ErrorOf(with(json::array({one, one, one, one, one, one, one, one, one}))).field,
            "subtitle_tracks");
  EXPECT_EQ(ErrorOf(with({json::object()})).field, "subtitle_tracks[0].url");
  EXPECT_EQ(ErrorOf(with({one, "y.srt"})).field, "subtitle_tracks[1]");
  EXPECT_EQ(ErrorOf(with({{{"url", "x.srt"}, {"forced", true}}})).field,
            "subtitle_tracks[0].forced");
  for (std::string bad : {"f", "french-language-code", "fr_FR", "12", "fr-", "-fr", "fr--ca",
                          "fr-ca-a-b-c", "fr\n"}) {
    FieldError e = ErrorOf(with({{{"url", "x.srt"}, {"language", bad}}}));
    EXPECT_EQ(e.field, "subtitle_tracks[0].language") << bad;
  }
  EXPECT_EQ(ErrorOf(with({{{"url", "x.srt"}, {"name", std::string(65, 'n')}}})).field,
            "subtitle_tracks[0].name");
  EXPECT_EQ(ErrorOf(with({{{"url", "x.srt"}, {"name", "a\"b"}}})).field, "subtitle_tracks[0].name");
  EXPECT_EQ(ErrorOf(with({{{"url", "x.srt"}, {"name", "a\nb"}}})).field, "subtitle_tracks[0].name");
  EXPECT_EQ(ErrorOf(with({{{"url", "x.srt"}, {"name", ""}}})).field, "subtitle_tracks[0].name");
}

TEST(JobSpec, AudioTracksChooseBoundedStreamsWithALanguageANameAndOneDefault) {
  json spec = {{"source", "a.mp4"},
               {"outputs",
                {{{"kind", "hls"},
                  {"destination", "out/"},
                  {"audio_tracks",
                   {{{"stream", 1}, {"language", "en"}, {"name", "English"}, {"default", true}},
                    {{"stream", 0}, {"language", "pt-BR"}},
                    {{"stream", 2}}}}}}}};
  Result<JobSpec> r = ParseJobSpec(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::vector<presets::AudioTrackChoice>& t = r->outputs[0].audio_tracks;
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].stream, 1);
  EXPECT_EQ(t[0].language, "en");
  EXPECT_EQ(t[0].name, "English");
  EXPECT_TRUE(t[0].is_default);
  EXPECT_EQ(t[1].stream, 0);
  EXPECT_EQ(t[1].language, "pt-BR");
  EXPECT_FALSE(t[1].is_default);
  EXPECT_EQ(t[2].name, "");
  // Without the field: empty, every stream of the source is kept.
  spec["outputs"][0].erase("audio_tracks");
  ASSERT_TRUE(ParseJobSpec(spec).ok());
  EXPECT_TRUE(ParseJobSpec(spec)->outputs[0].audio_tracks.empty());

  auto with = [&](json tracks) {
    json s = spec;
    s["outputs"][0]["audio_tracks"] = std::move(tracks);
    return s;
  };
  const std::string f = "outputs[0].audio_tracks";
  EXPECT_EQ(ErrorOf(with(json::array())).field, f);
  EXPECT_EQ(ErrorOf(with(1)).field, f);
  json nine = json::array();
  for (int i = 0; i < 9; ++i) nine.push_back({{"stream", i}});
  EXPECT_EQ(ErrorOf(with(nine)).field, f);
  nine.erase(8);
  EXPECT_TRUE(ParseJobSpec(with(nine)).ok());  // eight is the most
  EXPECT_EQ(ErrorOf(with({"en"})).field, f + "[0]");
  EXPECT_EQ(ErrorOf(with({json::object()})).field, f + "[0].stream");
  for (json bad : {json(-1), json(64), json("1"), json(1.5)})
    EXPECT_EQ(ErrorOf(with({{{"stream", bad}}})).field, f + "[0].stream") << bad;
  EXPECT_EQ(ErrorOf(with({{{"stream", 1}}, {{"stream", 1}}})).field, f + "[1].stream");
  EXPECT_EQ(ErrorOf(with({{{"stream", 0}, {"title", "x"}}})).field, f + "[0].title");
  for (std::string bad :
       std::vector<std::string>{"f", "english", "en_GB", "12", "en-", "-en", "en--gb", "en-a-b-c-d",
                                "en\n", std::string(36, 'a')}) {
    FieldError e = ErrorOf(with({{{"stream", 0}}, {{"stream", 1}, {"language", bad}}}));
    EXPECT_EQ(e.field, f + "[1].language") << bad;
  }
  for (std::string bad :
       std::vector<std::string>{std::string(65, 'n'), "a\"b", "a\nb", "tab\there", ""}) {
    FieldError e = ErrorOf(with({{{"stream", 0}, {"name", bad}}}));
    EXPECT_EQ(e.field, f + "[0].name") << bad;
  }
  EXPECT_TRUE(ParseJobSpec(with({{{"stream", 0}, {"name", std::string(64, 'n')}}})).ok());
  EXPECT_EQ(ErrorOf(with({{{"stream", 0}, {"name", "A"}}, {{"stream", 1}, {"name", "A"}}})).field,
            f + "[1].name");
  EXPECT_EQ(ErrorOf(with({{{"stream", 0}, {"default", "yes"}}})).field, f + "[0].default");
  EXPECT_EQ(
      ErrorOf(with({{{"stream", 0}, {"default", true}}, {{"stream", 1}, {"default", true}}})).field,
      f + "[1].default");
  // Only packages have tracks, of one source's own streams.
  json mp4 = {{"source", "a.mp4"},
              {"outputs",
               {{{"kind", "mp4"}, {"destination", "o.mp4"}, {"audio_tracks", {{{"stream", 0}}}}}}}};
  EXPECT_EQ(ErrorOf(mp4).field, "outputs[0].audio_tracks");
  json replaced = with({{{"stream", 0}}});
  replaced["audio"] = "dub.m4a";
  EXPECT_EQ(ErrorOf(replaced).field, f);
  json joined = with({{{"stream", 0}}});
  joined.erase("source");
  joined["sources"] = {"a.mp4", "b.mp4"};
  EXPECT_EQ(ErrorOf(joined).field, f);
}

TEST(JobSpec, PriorityAndTags) {
  Result<JobSpec> r = ParseJobSpec(json::parse(R"({"source": "a.mp4", "priority": 5,
    "tags": ["gpu", "eu-west"], "outputs": [{"kind": "mp4", "destination": "o.mp4"}]})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->priority, 5);
  EXPECT_EQ(r->tags, (std::vector<std::string>{"gpu", "eu-west"}));
  FieldError e;
  EXPECT_FALSE(
      ParseJobSpec(json::parse(R"({"source": "a", "priority": 500, "outputs": []})"), &e).ok());
  EXPECT_EQ(e.field, "priority");
  EXPECT_FALSE(
      ParseJobSpec(json::parse(R"({"source": "a", "tags": ["GPU!"], "outputs": []})"), &e).ok());
  EXPECT_EQ(e.field, "tags");
}

TEST(JobSpec, SeveralSourcesAreJoined) {
  Result<JobSpec> r = ParseJobSpec(json::parse(R"({
    "sources": ["title.mp4", {"url": "main.mp4", "main": true}, {"url": "end.mp4"}],
    "outputs": [{"kind": "mp4", "destination": "o.mp4"}]})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->sources, (std::vector<std::string>{"title.mp4", "main.mp4", "end.mp4"}));
  EXPECT_EQ(r->main_source, 1);
  auto field = [](const char* spec) {
    FieldError e;
    EXPECT_FALSE(ParseJobSpec(json::parse(spec), &e).ok()) << spec;
    return e.field;
  };
  EXPECT_EQ(field(R"({"source": "a", "sources": ["b", "c"], "outputs": []})"), "sources");
  EXPECT_EQ(field(R"({"sources": ["only-one"], "outputs": []})"), "sources");
  EXPECT_EQ(field(R"({"sources": ["a", {"url": "b", "main": 1}], "outputs": []})"),
            "sources[1].main");
  EXPECT_EQ(field(R"({"sources": [{"url": "a", "main": true}, {"url": "b", "main": true}],
                      "outputs": []})"),
            "sources[1].main");
}

// The README promises 10 MiB of inline media: a data: URL is not held to the 4,096 characters
// of other strings (storage checks its decoded size).
TEST(JobSpec, DataUrlSourcesMayCarryTheirTenMebibytes) {
  std::string data = "data:video/mp4;base64," + std::string((10 << 20) / 3 * 4, 'A');
  json spec = {{"source", data}, {"outputs", {{{"kind", "mp4"}, {"destination", "o.mp4"}}}}};
  Result<JobSpec> r = ParseJobSpec(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  spec["source"] = {{"url", data}};
  EXPECT_TRUE(ParseJobSpec(spec).ok());
  spec["source"] = "https://example.org/" + std::string(5000, 'a');
  EXPECT_EQ(ErrorOf(spec).field, "source") << "other URLs keep their limit";
}

}  // namespace
}  // namespace reel::job
