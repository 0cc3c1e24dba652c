#include "job/spec.h"

#include <gtest/gtest.h>

namespace reel::job {
namespace {

using nlohmann::json;

FieldError ErrorOf(const json& spec) {
  FieldError e;
  Result<JobSpec> r = ParseJobSpec(spec, &e);
  EXPECT_FALSE(r.ok()) << spec.dump();
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(e.message), std::string::npos);
  }
  return e;
}

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

TEST(JobSpec, BitratesAcceptNumbersAndSuffixes) {
  EXPECT_EQ(*JsonBitrate(json(800000)), 800000);
  EXPECT_EQ(*JsonBitrate(json("2.5M")), 2500000);
  EXPECT_FALSE(JsonBitrate(json(-1)).has_value());
  EXPECT_FALSE(JsonBitrate(json(true)).has_value());
}

}  // namespace
}  // namespace reel::job
