#include "common/yaml.h"

#include <gtest/gtest.h>

#include <ctime>

namespace reel {
namespace {

using nlohmann::json;

TEST(Yaml, ScalarsTakeTheirJsonTypes) {
  Result<Document> d = ParseDocument(R"(# settings
workers: 4
ratio: 0.5
big: 0x10
on: true
off: False
nothing: ~
empty:
quoted: "4"
single: 'true'
word: yes
list: [a, 2, "3"]
nested:
  - name: x
    value: -7
)",
                                     "reel.yaml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->yaml);
  const json& v = d->value;
  EXPECT_EQ(v["workers"], 4);
  EXPECT_TRUE(v["workers"].is_number_integer());
  EXPECT_DOUBLE_EQ(v["ratio"].get<double>(), 0.5);
  EXPECT_EQ(v["big"], 16);
  EXPECT_EQ(v["on"], true);
  EXPECT_EQ(v["off"], false);
  EXPECT_TRUE(v["nothing"].is_null());
  EXPECT_TRUE(v["empty"].is_null());
  EXPECT_EQ(v["quoted"], "4");
  EXPECT_EQ(v["single"], "true");
  EXPECT_EQ(v["word"], "yes") << "YAML 1.2: yes is a string, not a boolean";
  EXPECT_EQ(v["list"], json::parse(R"(["a", 2, "3"])"));
  EXPECT_EQ(v["nested"][0]["value"], -7);
}

TEST(Yaml, EveryFieldHasItsLine) {
  Result<Document> d = ParseDocument(R"(ladders:
  phone:
    rungs:
      - height: 480
        bitrate: 1M
      - height: 240
        crf: 99
presets:
  small: {container: mp4, height: 360}
)",
                                     "p.yml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->LineOf("ladders"), 1);
  EXPECT_EQ(d->LineOf("ladders.phone"), 2);
  EXPECT_EQ(d->LineOf("ladders.phone.rungs[0]"), 4);
  EXPECT_EQ(d->LineOf("ladders.phone.rungs[0].bitrate"), 5);
  EXPECT_EQ(d->LineOf("ladders.phone.rungs[1].crf"), 7);
  EXPECT_EQ(d->LineOf("presets.small.height"), 9);
  // A field that is not there: its object's line.
  EXPECT_EQ(d->LineOf("ladders.phone.rungs[1].maxrate"), 6);
}

TEST(Yaml, JsonStaysJsonWithLines) {
  Result<Document> d = ParseDocument("{\n  \"a\": {\n    \"b\": 1\n  }\n}\n", "c.json");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_FALSE(d->yaml);
  EXPECT_EQ(d->value["a"]["b"], 1);
  EXPECT_EQ(d->LineOf("a.b"), 3);
  // Without an extension the content decides.
  EXPECT_FALSE(ParseDocument("{\"a\": 1}", "conf")->yaml);
  EXPECT_TRUE(ParseDocument("a: 1", "conf")->yaml);
  Result<Document> bad = ParseDocument("{\n\"a\": 1,\n}", "c.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("c.json:3: not valid JSON", 0), 0u)
      << bad.status().message();
}

std::string Error(const std::string& text) {
  Result<Document> d = ParseYaml(text, "f.yaml");
  return d.ok() ? "(accepted)" : d.status().message();
}

TEST(Yaml, RefusesWhatHasNoJsonMeaning) {
  EXPECT_EQ(Error("a: 1\nb:\n  c: 1\n  c: 2\n"), "f.yaml:4: b.c: duplicate key");
  EXPECT_EQ(Error("a: !!str 5\n"),
            "f.yaml:1: a: YAML tags (tag:yaml.org,2002:str) are not supported");
  EXPECT_EQ(Error("a: !custom {x: 1}\n").rfind("f.yaml:1: a: YAML tags", 0), 0u);
  EXPECT_EQ(Error("x: 1\nr: .inf\n"),
            "f.yaml:2: r: .inf has no JSON meaning (use a finite number)");
  EXPECT_EQ(Error("? [a, b]\n: 1\n"),
            "f.yaml:1: keys must be plain strings, not lists, maps or aliases");
  EXPECT_EQ(Error("a: 1\n---\nb: 2\n"), "f.yaml:2: more than one YAML document (one is expected)");
  EXPECT_EQ(Error("a: *nowhere\n"), "f.yaml:1: unknown alias *nowhere");
  EXPECT_EQ(Error("n: 99999999999999999999999\n"),
            "f.yaml:1: n: number 99999999999999999999999 is out of range");
  std::string syntax = Error("a: [1, 2\nb: 3\n");
  EXPECT_NE(syntax.find("not valid YAML"), std::string::npos) << syntax;
  EXPECT_EQ(syntax.rfind("f.yaml:", 0), 0u);
}

TEST(Yaml, AliasesAreExpandedWithinBounds) {
  Result<Document> d = ParseYaml(R"(base: &rung {height: 720, bitrate: 3M}
ladder:
  - *rung
  - {height: 480}
)",
                                 "f.yaml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->value["ladder"][0], d->value["base"]);
  EXPECT_EQ(d->LineOf("ladder[0].bitrate"), 3) << "inside an alias: the alias's line";
}

TEST(Yaml, AnAliasBombIsRefusedQuickly) {
  // Billion laughs: nine levels of ten aliases each would be 10^9 values.
  std::string bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string prev(1, c - 1);
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ", *" : "*") + prev;
    bomb += "]\n";
  }
  // CPU time, not wall time: the test machine's cores are shared.
  std::clock_t start = std::clock();
  std::string e = Error(bomb);
  double cpu_seconds = double(std::clock() - start) / CLOCKS_PER_SEC;
  EXPECT_NE(e.find("more than 100000 values (aliases expanded)"), std::string::npos) << e;
  EXPECT_LT(cpu_seconds, 0.5);

  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "[";
  EXPECT_NE(Error(deep).find("nested deeper than 64 levels"), std::string::npos);
  // Depth through aliases counts too.
  std::string nested = "a: &a " + std::string(40, '[') + std::string(40, ']') + "\nb:";
  for (int i = 0; i < 30; ++i) nested += " [";
  nested += "*a" + std::string(30, ']') + "\n";
  EXPECT_NE(Error(nested).find("nested deeper than 64 levels"), std::string::npos) << Error(nested);
}

TEST(Yaml, EmptyFileIsNull) {
  Result<Document> d = ParseYaml("# nothing\n", "f.yaml");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->value.is_null());
}

}  // namespace
}  // namespace reel
