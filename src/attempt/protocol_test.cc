#include "attempt/protocol.h"

#include <gtest/gtest.h>

namespace reel::attempt {
namespace {

using nlohmann::json;

TEST(Protocol, EveryMessageRoundTrips) {
  Message progress = ProgressMessage{0.25, 1.5, 29.97, 2.5, 0.6, "", 0};
  Result<Message> p = Decode(Encode(progress));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const auto& pm = std::get<ProgressMessage>(*p);
  EXPECT_EQ(pm.fraction, 0.25);
  EXPECT_EQ(pm.media_seconds, 1.5);
  EXPECT_EQ(pm.fps, 29.97);
  EXPECT_EQ(pm.speed, 2.5);
  EXPECT_EQ(pm.elapsed, 0.6);

  Result<Message> t = Decode(Encode(TransferMessage{int64_t{5} << 32}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(std::get<TransferMessage>(*t).bytes, int64_t{5} << 32);

  json result = {{"source_duration", 2.0}, {"outputs", json::array({{{"index", 0}}})}};
  Result<Message> r = Decode(Encode(ResultMessage{result}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<ResultMessage>(*r).result, result);

  for (StatusCode code :
       {StatusCode::kInvalidArgument, StatusCode::kNotFound, StatusCode::kUnavailable,
        StatusCode::kDeadlineExceeded, StatusCode::kFailedPrecondition, StatusCode::kCanceled,
        StatusCode::kInternal}) {
    ErrorMessage sent = ErrorMessage::From(Status(code, "it \"broke\"\nbadly"));
    Result<Message> e = Decode(Encode(sent));
    ASSERT_TRUE(e.ok()) << StatusCodeName(code);
    const auto& em = std::get<ErrorMessage>(*e);
    EXPECT_EQ(em.code, code);
    EXPECT_EQ(em.retry, sent.retry);
    EXPECT_EQ(em.message, "it \"broke\"\nbadly");
  }
}

// Work before the encode (the per-title pre-pass) travels as a phase with its own fraction; a
// phase the worker does not know is refused rather than stored and shown.
TEST(Protocol, AProgressLineMayNameAPhase) {
  ProgressMessage sent{0, 0, 0, 0, 1.5, "analysis", 0.4};
  EXPECT_EQ(sent.ToJson()["phase"], "analysis");
  Result<Message> p = Decode(Encode(sent));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(std::get<ProgressMessage>(*p).phase, "analysis");
  EXPECT_EQ(std::get<ProgressMessage>(*p).phase_fraction, 0.4);
  ProgressMessage encoding{0.5, 1, 30, 1, 1, "", 0};
  EXPECT_FALSE(encoding.ToJson().contains("phase")) << "no phase while encoding";
  json line = json::parse(Encode(sent));
  line["phase"] = "mining";
  EXPECT_FALSE(Decode(line.dump()).ok());
  line["phase"] = "analysis";
  line["phase_fraction"] = 2;
  EXPECT_FALSE(Decode(line.dump()).ok());
}

TEST(Protocol, AFanOutCarriesItsTasks) {
  FanOutMessage sent{{{"main", 0, 3, {{"outputs", {0}}}},
                      {"thumbnail", 0, 1, {{"outputs", {1}}}},
                      {"stitch", 0, 0.5, json::object()}}};
  Result<Message> m = Decode(Encode(sent));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& back = std::get<FanOutMessage>(*m);
  ASSERT_EQ(back.tasks.size(), 3u);
  EXPECT_EQ(back.tasks[0].kind, "main");
  EXPECT_EQ(back.tasks[0].weight, 3);
  EXPECT_EQ(back.tasks[0].payload, json({{"outputs", {0}}}));
  EXPECT_EQ(back.tasks[1].kind, "thumbnail");
  EXPECT_EQ(back.tasks[2].kind, "stitch");
  EXPECT_EQ(back.tasks[2].weight, 0.5);
}

TEST(Protocol, TheChildDecidesWhatIsWorthRetrying) {
  EXPECT_EQ(Classify(StatusCode::kInvalidArgument), Retry::kPermanent);
  EXPECT_EQ(Classify(StatusCode::kNotFound), Retry::kPermanent);
  EXPECT_EQ(Classify(StatusCode::kFailedPrecondition), Retry::kPermanent);
  EXPECT_EQ(Classify(StatusCode::kUnavailable), Retry::kRetryable);
  EXPECT_EQ(Classify(StatusCode::kInternal), Retry::kRetryable);
  EXPECT_EQ(Classify(StatusCode::kDeadlineExceeded), Retry::kRetryable);
  // The classification travels: the worker reads it, not the code.
  Result<Message> m =
      Decode(R"({"event":"error","code":"internal","retry":"permanent","message":"x"})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<ErrorMessage>(*m).retry, Retry::kPermanent);
}

// The wire format is what `reel transcode --progress json` prints too: it must not drift.
TEST(Protocol, LinesAreTheDocumentedJson) {
  EXPECT_EQ(Encode(ProgressMessage{0.5, 1, 30, 2, 0.5, "", 0}),
            R"({"elapsed":0.5,"event":"progress","fps":30.0,"fraction":0.5,"media_seconds":1.0,)"
            R"("speed":2.0})");
  EXPECT_EQ(Encode(TransferMessage{42}), R"({"bytes":42,"event":"transfer"})");
  EXPECT_EQ(Encode(ResultMessage{{{"outputs", json::array()}}}),
            R"({"event":"result","outputs":[]})");
  EXPECT_EQ(Encode(ErrorMessage::From(NotFound("gone"))),
            R"({"code":"not_found","event":"error","message":"gone","retry":"permanent"})");
  EXPECT_EQ(Encode(FanOutMessage{{{"thumbnail", 1, 1, {{"outputs", {2}}}}}}),
            R"({"event":"fan_out","tasks":[{"kind":"thumbnail","ordinal":1,"payload":)"
            R"({"outputs":[2]},"weight":1.0}]})");
}

TEST(Protocol, MalformedLinesAreRefused) {
  for (const char* line : {
           "",
           "progress 50%",
           "[1,2]",
           "\"event\"",
           R"({"fraction":0.5})",
           R"({"event":7})",
           R"({"event":"hello"})",
           R"({"event":"progress","fraction":"half","media_seconds":1,"fps":1,"speed":1,)"
           R"("elapsed":1})",
           R"({"event":"progress","fraction":0.5})",
           R"({"event":"transfer"})",
           R"({"event":"transfer","bytes":-1})",
           R"({"event":"transfer","bytes":1.5})",
           R"({"event":"error","code":"internal","message":"no retry field"})",
           R"({"event":"error","code":"internal","retry":"maybe","message":"x"})",
           R"({"event":"error","code":"exploded","retry":"retryable","message":"x"})",
           R"({"event":"error","code":"ok","retry":"retryable","message":"x"})",
           R"({"event":"error","code":"internal","retry":"retryable","message":3})",
           R"({"event":"progress",)",
           R"({"event":"fan_out"})",
           R"({"event":"fan_out","tasks":[]})",
           R"({"event":"fan_out","tasks":[{"kind":"main","ordinal":0,"weight":1}]})",
           R"({"event":"fan_out","tasks":[{"kind":"","ordinal":0,"weight":1,"payload":{}}]})",
           R"({"event":"fan_out","tasks":[{"kind":"main","ordinal":-1,"weight":1,"payload":{}}]})",
           R"({"event":"fan_out","tasks":[{"kind":"main","ordinal":0,"weight":-1,"payload":{}}]})",
           R"({"event":"fan_out","tasks":[7]})",
           R"({"event":"fan_out","tasks":[{"kind":"main","ordinal":0,"weight":1,"payload":{}},)"
           R"({"kind":"main","ordinal":0,"weight":1,"payload":{}}]})",
       }) {
    EXPECT_FALSE(Decode(line).ok()) << line;
  }
}

// Names from media tags and file systems are not always UTF-8 (a Latin-1 subtitle title, a
// file name): a line still encodes, with those bytes replaced, instead of throwing and losing
// the attempt's result.
TEST(Protocol, BytesThatAreNotUtf8AreReplacedNotFatal) {
  ResultMessage r{{{"outputs", {{{"name", std::string("caf\xe9 \xff")}}}}}};
  std::string line;
  ASSERT_NO_THROW(line = Encode(r));
  Result<Message> back = Decode(line);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(std::get<ResultMessage>(*back).result["outputs"][0]["name"],
            "caf\xEF\xBF\xBD \xEF\xBF\xBD");
  ErrorMessage e{StatusCode::kInvalidArgument, Retry::kPermanent, "cannot open /in/\xe9.mp4"};
  ASSERT_NO_THROW(line = Encode(e));
  EXPECT_TRUE(Decode(line).ok());
}

}  // namespace
}  // namespace reel::attempt
