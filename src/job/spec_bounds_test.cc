// What a spec may not be: control characters, names and paths too long, numbers out of range,
// unknown fields; and the bounds of single fields, each error naming its field.
#include "job/spec.h"

#include <gtest/gtest.h>

#include <limits>

#include "job/spec_test_support.h"

namespace reel::job {
namespace {

using nlohmann::json;

// A spec whose one string, at `pointer`, is replaced by `value`: what the hardening tests vary.
json Valid() {
  return json::parse(R"({
    "source": "in.mp4",
    "audio": "a.flac",
    "subtitles": {"url": "s.ass"},
    "webhook": {"url": "https://example.org/hook"},
    "credentials": {"s3": {"access_key": "AK", "secret_key": "SK", "region": "eu-west-1"}},
    "outputs": [
      {"kind": "hls", "destination": "out/hls/"},
      {"kind": "mp4", "destination": "out/o.mp4", "preset": "h264-480p"},
      {"kind": "waveform", "destination": "w.json", "image": "w.png"}
    ],
    "metadata": {"media_id": "m-1"}
  })");
}

std::string FieldWith(const std::string& pointer, const json& value) {
  json spec = Valid();
  spec[json::json_pointer(pointer)] = value;
  return ErrorOf(spec).field;
}

TEST(JobSpecHardening, TheValidSpecIsValid) {
  Result<JobSpec> r = ParseJobSpec(Valid());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

TEST(JobSpecHardening, ControlCharactersAreRefusedInEveryPathUrlAndName) {
  const std::pair<const char*, const char*> fields[] = {
      {"/source", "source"},
      {"/audio", "audio"},
      {"/subtitles/url", "subtitles.url"},
      {"/webhook/url", "webhook.url"},
      {"/credentials/s3/region", "credentials.s3.region"},
      {"/outputs/1/destination", "outputs[1].destination"},
      {"/outputs/1/preset", "outputs[1].preset"},
      {"/outputs/2/image", "outputs[2].image"},
  };
  const std::string bad_values[] = {std::string("a\0b.mp4", 7),
                                    "a\nb.mp4",
                                    "a\rb.mp4",
                                    "a\x1b[31mb.mp4",
                                    "a\x7f.mp4",
                                    "a\tb.mp4",
                                    "a\x01.mp4"};
  for (const std::string& bad : bad_values)
    for (const auto& [pointer, field] : fields) {
      // The webhook is otherwise a valid URL, so that only the character can be refused.
      std::string value = field == std::string("webhook.url") ? "https://example.org/" + bad : bad;
      EXPECT_EQ(FieldWith(pointer, value), field) << pointer << " with " << json(value).dump();
    }
  json spec = Valid();
  spec.erase("source");
  spec["sources"] = {"a.mp4", "b\n.mp4"};
  EXPECT_EQ(ErrorOf(spec).field, "sources[1]");
  spec["sources"] = {"a.mp4", {{"url", "b\x01.mp4"}}};
  EXPECT_EQ(ErrorOf(spec).field, "sources[1].url");
  EXPECT_EQ(FieldWith("/metadata", {{"key\nwith newline", 1}}), "metadata");
  EXPECT_EQ(FieldWith("/metadata", {{"deep", {{"k\r", 1}}}}), "metadata");
  // Values in metadata are the user's own text, echoed back as JSON: a newline there is fine.
  json ok = Valid();
  ok["metadata"]["description"] = "two\nlines";
  EXPECT_TRUE(ParseJobSpec(ok).ok());
  // Printable non-ASCII (UTF-8) names are fine.
  ok["outputs"][1]["destination"] = "out/caf\xc3\xa9.mp4";
  EXPECT_TRUE(ParseJobSpec(ok).ok());
}

TEST(JobSpecHardening, ErrorMessagesNeverCarryControlCharactersOrHugeNames) {
  json spec = Valid();
  spec["outputs"][1]["bogus\n\x1b[2Jfield" + std::string(5000, 'x')] = 1;
  FieldError e = ErrorOf(spec);
  EXPECT_EQ(e.field.find('\n'), std::string::npos) << e.field;
  EXPECT_EQ(e.field.find('\x1b'), std::string::npos) << e.field;
  EXPECT_LT(e.field.size(), 200u);
  EXPECT_EQ(e.field.rfind("outputs[1].", 0), 0u) << e.field;
  spec = Valid();
  spec["outputs"][1]["preset"] = std::string(4000, 'p');
  e = ErrorOf(spec);
  EXPECT_EQ(e.field, "outputs[1].preset");
  EXPECT_LT(e.message.size(), 300u);
}

TEST(JobSpecHardening, LongNamesAndPathsAreRefused) {
  std::string name255(251, 'n');
  name255 += ".mp4";
  std::string name256 = "x" + name255;
  json ok = Valid();
  ok["outputs"][1]["destination"] = "out/" + name255;
  EXPECT_TRUE(ParseJobSpec(ok).ok());
  EXPECT_EQ(FieldWith("/outputs/1/destination", "out/" + name256), "outputs[1].destination");
  EXPECT_EQ(FieldWith("/outputs/1/destination", "s3://bucket/" + name256),
            "outputs[1].destination");
  EXPECT_EQ(FieldWith("/outputs/0/destination", name256 + "/hls/"), "outputs[0].destination");
  EXPECT_EQ(FieldWith("/source", "https://example.org/" + name256), "source");
  EXPECT_EQ(FieldWith("/audio", "/media/" + name256), "audio");
  EXPECT_EQ(FieldWith("/outputs/2/image", std::string(300, 'i') + ".png"), "outputs[2].image");
  // A long query string is not a file name.
  ok = Valid();
  ok["source"] = "https://example.org/in.mp4?X-Amz-Signature=" + std::string(600, 'a');
  EXPECT_TRUE(ParseJobSpec(ok).ok()) << ParseJobSpec(ok).status().ToString();
  // 4,096 bytes in all at most, in short components.
  std::string deep;
  while (deep.size() < 4100) deep += "dir/";
  EXPECT_EQ(FieldWith("/outputs/1/destination", deep + "o.mp4"), "outputs[1].destination");
  EXPECT_EQ(FieldWith("/source", "https://example.org/" + deep + "in.mp4"), "source");
  // Inline media is a data: URL far beyond 4,096 bytes, with no file name: still fine.
  ok = Valid();
  ok["source"] = {{"inline", std::string(8000, 'A')}};
  EXPECT_TRUE(ParseJobSpec(ok).ok()) << ParseJobSpec(ok).status().ToString();
  ok["source"] = {{"inline", std::string(8000, 'A') + "\n"}};  // base64 tools end with one
  EXPECT_TRUE(ParseJobSpec(ok).ok()) << ParseJobSpec(ok).status().ToString();
  EXPECT_EQ(FieldWith("/source", {{"inline", "AAAA\nAAAA"}}), "source.inline");
}

TEST(JobSpecHardening, NumbersOutOfRangeAreRefusedNotWrapped) {
  auto top = [](const char* key, json value) {
    json spec = Valid();
    spec[key] = value;
    return ErrorOf(spec).field;
  };
  EXPECT_EQ(top("priority", json::parse("18446744073709551615")), "priority");
  EXPECT_EQ(top("priority", json::parse("9223372036854775808")), "priority");
  EXPECT_EQ(top("priority", json::parse("-9223372036854775809")), "priority");
  EXPECT_EQ(top("priority", 4294967297), "priority") << "2^32 + 1 is not 1";
  EXPECT_EQ(top("priority", 1.5), "priority");
  EXPECT_EQ(top("priority", 2.0), "priority") << "an integer field takes integers";
  EXPECT_EQ(top("priority", json(std::numeric_limits<double>::infinity())), "priority");
  auto output = [](json o) {
    json spec = Valid();
    spec["outputs"][1] = o;
    return ErrorOf(spec).field;
  };
  json mp4 = {{"kind", "mp4"}, {"destination", "o.mp4"}};
  auto with = [&](const char* key, json value) {
    json o = mp4;
    o[key] = value;
    return output(o);
  };
  const json huge = json::parse("18446744073709551615");
  EXPECT_EQ(with("crf", huge), "outputs[1].crf");
  EXPECT_EQ(with("crf", 20.5), "outputs[1].crf");
  EXPECT_EQ(with("width", 4294967936), "outputs[1].width") << "2^32 + 640 is not 640";
  EXPECT_EQ(with("height", huge), "outputs[1].height");
  EXPECT_EQ(with("bitrate", huge), "outputs[1].bitrate");
  EXPECT_EQ(with("bitrate", "1e300k"), "outputs[1].bitrate");
  EXPECT_EQ(with("bitrate", "9223372036854775807000"), "outputs[1].bitrate");
  EXPECT_EQ(with("bitrate", 1e300), "outputs[1].bitrate");
  EXPECT_EQ(with("audio_bitrate", "1e30M"), "outputs[1].audio_bitrate");
  EXPECT_EQ(with("fps", json(std::numeric_limits<double>::infinity())), "outputs[1].fps");
  EXPECT_EQ(with("presign", huge), "outputs[1].presign");
  EXPECT_EQ(with("presign", 60.5), "outputs[1].presign");
  json thumb = {{"kind", "thumbnail"}, {"destination", "t.jpg"}};
  for (json at : {json("1e400"), json("inf"), json("1e400%"), json("nan"),
                  json(std::numeric_limits<double>::infinity()), json(1e300), json("0x1p99999")}) {
    json o = thumb;
    o["at"] = at;
    EXPECT_EQ(output(o), "outputs[1].at") << at.dump();
  }
  thumb["count"] = huge;
  EXPECT_EQ(output(thumb), "outputs[1].count");
  EXPECT_EQ(output({{"kind", "sprite"}, {"destination", "s.jpg"}, {"columns", 4294967306}}),
            "outputs[1].columns");
  EXPECT_EQ(output({{"kind", "preview"}, {"destination", "p.mp4"}, {"start", 1e300}}),
            "outputs[1].start");
  EXPECT_EQ(output({{"kind", "waveform"}, {"destination", "w.json"}, {"bits", 4294967304}}),
            "outputs[1].bits");
  // In range, still accepted.
  json ok = Valid();
  ok["priority"] = json::parse("100");
  ok["outputs"][1]["bitrate"] = "2.5M";
  ok["outputs"][1]["presign"] = 3600;
  EXPECT_TRUE(ParseJobSpec(ok).ok()) << ParseJobSpec(ok).status().ToString();
  EXPECT_EQ(ParseJobSpec(ok)->priority, 100);
}

TEST(JobSpecHardening, UnknownFieldsAreRefusedAtEveryLevel) {
  auto with = [](const std::string& pointer) {
    json spec = Valid();
    spec[json::json_pointer(pointer)] = 1;
    return ErrorOf(spec).field;
  };
  EXPECT_EQ(with("/extra"), "extra");
  EXPECT_EQ(with("/webhook/secret"), "webhook.secret");
  EXPECT_EQ(with("/credentials/s3/token"), "credentials.s3.token");
  EXPECT_EQ(with("/credentials/gcs"), "credentials.gcs");
  EXPECT_EQ(with("/subtitles/lang"), "subtitles.lang");
  EXPECT_EQ(with("/outputs/0/preset"), "outputs[0].preset") << "hls takes a ladder";
  EXPECT_EQ(with("/outputs/1/ladder"), "outputs[1].ladder");
  EXPECT_EQ(with("/outputs/2/crf"), "outputs[2].crf");
  json spec = Valid();
  spec["source"] = {{"url", "in.mp4"}, {"headers", 1}};
  EXPECT_EQ(ErrorOf(spec).field, "source.headers");
  spec["source"] = {{"inline", "AAAA"}, {"url", "x"}};
  EXPECT_EQ(ErrorOf(spec).field, "source.url");
}

TEST(JobSpecHardening, TypesThatWouldOnlyFailInTheWorkerAreRefused) {
  // The worker reads path_style as a boolean: a string there threw in the child.
  EXPECT_EQ(FieldWith("/credentials/s3/path_style", "yes"), "credentials.s3.path_style");
  EXPECT_EQ(FieldWith("/credentials/sealed", 5), "credentials.sealed");
  json ok = Valid();
  ok["credentials"]["s3"]["path_style"] = false;
  EXPECT_TRUE(ParseJobSpec(ok).ok());
}

TEST(JobSpec, DeinterlaceAndQualityAreBoundedAndNamedInErrors) {
  json spec = json::parse(R"({
    "source": "in.mp4", "deinterlace": "field",
    "outputs": [{"kind": "hls", "destination": "o/", "quality": true},
                {"kind": "mp4", "destination": "a.mp4", "quality": false},
                {"kind": "dash", "destination": "d/", "quality": true}]})");
  Result<JobSpec> r = ParseJobSpec(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->deinterlace, presets::Deinterlace::kField);
  EXPECT_TRUE(r->outputs[0].quality);
  EXPECT_FALSE(r->outputs[1].quality);
  EXPECT_TRUE(r->outputs[2].quality);
  r = ParseJobSpec(
      json::parse(R"({"source": "in.mp4", "outputs": [{"kind": "mp4", "destination": "a.mp4"}]})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deinterlace, presets::Deinterlace::kAuto) << "auto by default";

  for (json bad : {json("yes"), json(true), json(1), json("Frame"), json(nullptr)}) {
    json s = {{"source", "in.mp4"},
              {"deinterlace", bad},
              {"outputs", {{{"kind", "mp4"}, {"destination", "a.mp4"}}}}};
    EXPECT_EQ(ErrorOf(s).field, "deinterlace") << bad.dump();
  }
  for (json bad : {json("true"), json(1), json::object()}) {
    json s = {{"source", "in.mp4"},
              {"outputs", {{{"kind", "hls"}, {"destination", "o/"}, {"quality", bad}}}}};
    EXPECT_EQ(ErrorOf(s).field, "outputs[0].quality") << bad.dump();
  }
  for (const char* kind : {"webm", "thumbnail", "sprite", "preview", "waveform", "mezzanine"}) {
    json s = {{"source", "in.mp4"},
              {"outputs",
               {{{"kind", "mp4"}, {"destination", "a.mp4"}},
                {{"kind", kind}, {"destination", "x.jpg"}, {"quality", true}}}}};
    FieldError e = ErrorOf(s);
    EXPECT_EQ(e.field, "outputs[1].quality") << kind;
    EXPECT_EQ(e.message, "is for hls, dash and mp4 outputs") << kind;
  }
}

}  // namespace
}  // namespace reel::job

namespace reel::job {
namespace {

TEST(JobSpec, BackgroundIsAColourWaveformOrSpectrumForPictureKinds) {
  json spec = {{"source", "talk.m4a"},
               {"outputs",
                {{{"kind", "preview"}, {"destination", "p.mp4"}, {"background", "#1A2b3C"}},
                 {{"kind", "hls"}, {"destination", "hls/"}},
                 {{"kind", "thumbnail"}, {"destination", "t.jpg"}, {"background", "#1a2b3c"}}}}};
  Result<JobSpec> r = ParseJobSpec(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outputs[0].background, "#1a2b3c");
  EXPECT_EQ(r->outputs[1].background, "");
  EXPECT_EQ(r->outputs[2].background, "#1a2b3c");
  for (const char* bad : {"black", "#12345", "#12345g", "waveforms", ""}) {
    spec["outputs"][2]["background"] = bad;
    FieldError e = ErrorOf(spec);
    EXPECT_EQ(e.field, "outputs[2].background") << bad;
  }
  spec["outputs"][2]["background"] = 7;
  EXPECT_EQ(ErrorOf(spec).field, "outputs[2].background");
  // One picture is drawn per job: two outputs may not ask for different ones.
  spec["outputs"][2]["background"] = "spectrum";
  FieldError e = ErrorOf(spec);
  EXPECT_EQ(e.field, "outputs[2].background");
  EXPECT_NE(e.message.find("outputs[0].background"), std::string::npos) << e.message;
  spec["outputs"][0]["background"] = "spectrum";
  EXPECT_TRUE(ParseJobSpec(spec).ok());
  // Kinds without a picture have no background.
  spec["outputs"][2] = {{"kind", "waveform"}, {"destination", "w.json"}, {"background", "#000000"}};
  EXPECT_EQ(ErrorOf(spec).field, "outputs[2].background");
}

// Per-output S3 headers: parsed when the destination is s3://, each bounded, and a 400 names the
// exact field (a metadata entry by its name).
TEST(JobSpec, S3HeadersAreBoundedAndOnlyForS3Destinations) {
  json spec = {{"source", "in.mp4"},
               {"outputs",
                {{{"kind", "mp4"}, {"destination", "out.mp4"}},
                 {{"kind", "thumbnail"}, {"destination", "s3://media/t.jpg"}},
                 {{"kind", "hls"},
                  {"destination", "s3://media/hls/"},
                  {"acl", "public-read"},
                  {"storage_class", "STANDARD_IA"},
                  {"cache_control", "public, max-age=31536000, immutable"},
                  {"metadata", {{"owner", "team-7"}, {"asset-id", "a1"}, {"note", ""}}}}}}};
  Result<JobSpec> job = ParseJobSpec(spec);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  const S3ObjectHeaders& h = job->outputs[2].s3;
  EXPECT_EQ(h.acl, "public-read");
  EXPECT_EQ(h.storage_class, "STANDARD_IA");
  EXPECT_EQ(h.cache_control, "public, max-age=31536000, immutable");
  EXPECT_EQ(h.metadata, (std::map<std::string, std::string>{
                            {"asset-id", "a1"}, {"note", ""}, {"owner", "team-7"}}));
  EXPECT_TRUE(job->outputs[1].s3.empty());

  auto field = [&](const char* key, const json& value, int output = 2) {
    json s = spec;
    s["outputs"][output][key] = value;
    return ErrorOf(s).field;
  };
  for (const json& bad :
       {json("public"), json("PUBLIC-READ"), json("log-delivery-write"), json(""), json(1)})
    EXPECT_EQ(field("acl", bad), "outputs[2].acl") << bad;
  for (const json& bad : {json("standard"), json("COLD"), json(""), json(true)})
    EXPECT_EQ(field("storage_class", bad), "outputs[2].storage_class") << bad;
  for (const char* ok : {"STANDARD", "REDUCED_REDUNDANCY", "ONEZONE_IA", "INTELLIGENT_TIERING",
                         "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"}) {
    json s = spec;
    s["outputs"][2]["storage_class"] = ok;
    EXPECT_TRUE(ParseJobSpec(s).ok()) << ok;
  }
  for (const json& bad : {json(std::string(257, 'a')), json("max-age=1\r\nx-amz-acl: public"),
                          json("no-cache\xc3\xa9"), json(""), json(60)})
    EXPECT_EQ(field("cache_control", bad), "outputs[2].cache_control") << bad;
  json at_limit = spec;
  at_limit["outputs"][2]["cache_control"] = std::string(256, 'a');
  EXPECT_TRUE(ParseJobSpec(at_limit).ok());

  // Metadata: names [a-z0-9-] 1-64, values printable and short, 16 entries, 2 KiB in all.
  EXPECT_EQ(field("metadata", json::array()), "outputs[2].metadata");
  EXPECT_EQ(field("metadata", {{"Owner", "x"}}), "outputs[2].metadata.Owner");
  EXPECT_EQ(field("metadata", {{"a_b", "x"}}), "outputs[2].metadata.a_b");
  EXPECT_EQ(field("metadata", {{"", "x"}}), "outputs[2].metadata.");
  EXPECT_EQ(field("metadata", {{std::string(65, 'k'), "x"}}),
            "outputs[2].metadata." + std::string(64, 'k'));
  EXPECT_EQ(field("metadata", {{"owner", 7}}), "outputs[2].metadata.owner");
  EXPECT_EQ(field("metadata", {{"owner", "a\nb"}}), "outputs[2].metadata.owner");
  EXPECT_EQ(field("metadata", {{"owner", std::string(257, 'v')}}), "outputs[2].metadata.owner");
  json many = json::object(), large = json::object(), fits = json::object();
  for (int i = 0; i < 17; ++i) many[std::to_string(i) + "k"] = "v";
  EXPECT_EQ(field("metadata", many), "outputs[2].metadata");
  for (int i = 0; i < 9; ++i) large[std::to_string(i) + "k"] = std::string(254, 'v');
  FieldError e = [&] {
    json s = spec;
    s["outputs"][2]["metadata"] = large;
    return ErrorOf(s);
  }();
  EXPECT_EQ(e.field, "outputs[2].metadata");
  EXPECT_NE(e.message.find("2048 bytes"), std::string::npos) << e.message;
  for (int i = 0; i < 8; ++i) fits[std::to_string(i) + "k"] = std::string(254, 'v');  // 2,048
  json s = spec;
  s["outputs"][2]["metadata"] = fits;
  EXPECT_TRUE(ParseJobSpec(s).ok());

  // Anywhere but an s3:// destination they would be silently dropped: refused, saying why.
  e = [&] {
    json s = spec;
    s["outputs"][0]["cache_control"] = "no-cache";
    return ErrorOf(s);
  }();
  EXPECT_EQ(e.field, "outputs[0].cache_control");
  EXPECT_NE(e.message.find("s3://"), std::string::npos) << e.message;
  EXPECT_EQ(field("metadata", {{"owner", "x"}}, 0), "outputs[0].metadata");
  json loudness = spec;
  loudness["outputs"][0] = {{"kind", "loudness"}, {"acl", "private"}};
  EXPECT_EQ(ErrorOf(loudness).field, "outputs[0].acl");
  json web = spec;
  web["outputs"][0] = {
      {"kind", "mp4"}, {"destination", "https://example.com/o.mp4"}, {"acl", "private"}};
  EXPECT_EQ(ErrorOf(web).field, "outputs[0].acl");
}

TEST(JobSpec, ProgressWebhooksAreOptInWithABoundedInterval) {
  json spec = Valid();
  spec["webhook"] = {{"url", "https://example.org/hook"},
                     {"events", {"progress", "succeeded"}},
                     {"progress_interval", 5}};
  EXPECT_TRUE(ParseJobSpec(spec).ok()) << ParseJobSpec(spec).status().ToString();
  spec["webhook"]["progress_interval"] = 3600;
  EXPECT_TRUE(ParseJobSpec(spec).ok());
  spec["webhook"].erase("progress_interval");
  EXPECT_TRUE(ParseJobSpec(spec).ok()) << "the interval has a default";
  for (json bad : {json(4), json(3601), json(0), json(-5), json(7.5), json("10"), json(1e300)}) {
    spec["webhook"]["progress_interval"] = bad;
    FieldError e = ErrorOf(spec);
    EXPECT_EQ(e.field, "webhook.progress_interval") << bad.dump();
  }
  spec["webhook"]["progress_interval"] = 10;
  spec["webhook"]["events"] = json::array({"succeeded"});
  EXPECT_EQ(ErrorOf(spec).field, "webhook.progress_interval") << "an interval without progress";
  spec["webhook"].erase("progress_interval");
  for (json bad :
       {json::array({"progres"}), json::array({"progress", 1}), json::array(), json("progress"),
        json::array({"progress", "running", "succeeded", "failed", "canceled", "progress"})}) {
    spec["webhook"]["events"] = bad;
    EXPECT_EQ(ErrorOf(spec).field, "webhook.events") << bad.dump();
  }
}

}  // namespace
}  // namespace reel::job
