// core/schema.h: one declaration reads, writes, checks and documents an options struct.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "core/schema.h"
#include "pulmo/error.h"

using namespace pulmo;
using nlohmann::json;

namespace {

enum class Colour : int { Red, Green };

struct Window {
  double lo = -1, hi = 1;
};

struct Inner {
  int depth = 3;
  Colour colour = Colour::Red;
};

struct Toy {
  std::string name = "toy";
  int count = 2;
  uint64_t seed = 0;
  double p = 0.5;
  bool flag = true;
  std::array<int64_t, 3> size{8, 8, 8};
  std::vector<std::string> tags{"a"};
  std::map<std::string, double> metrics;
  Inner inner;
  Window window;
  int workers = 1;
  std::string note;  // written only when not empty
  std::string blob = "{}";
};

const NameTable<Colour>& colours() {
  static const NameTable<Colour> t = {{Colour::Red, "red"}, {Colour::Green, "green"}};
  return t;
}

const Schema<Toy>& toy_schema() {
  static const Schema<Window> window =
      Schema<Window>()
          .field("lo", &Window::lo, "lower end")
          .field("hi", &Window::hi, "upper end")
          .check([](const Window& w, const SchemaContext& ctx) {
            if (!(w.hi > w.lo)) ctx.fail(ctx.name("hi") + " must exceed " + ctx.name("lo"));
          });
  static const Schema<Inner> inner = Schema<Inner>()
                                         .field("depth", &Inner::depth, "levels", Bounds().min(1).max(7))
                                         .enum_field("colour", &Inner::colour, colours(), "a colour");
  static const Schema<Toy> extra = Schema<Toy>().field("workers", &Toy::workers, "threads",
                                                       Bounds().min(0).max(64, "threads (the limit)"));
  static const Schema<Toy> s =
      Schema<Toy>()
          .field("name", &Toy::name, "free | text")
          .field("count", &Toy::count, "how many", Bounds().min(1))
          .field("seed", &Toy::seed, "a seed")
          .field("p", &Toy::p, "a chance", Bounds::probability())
          .field("flag", &Toy::flag, "on or off")
          .field("size", &Toy::size, "voxels", Bounds().min(1))
          .field("tags", &Toy::tags, "labels", Choices{"a", "b"})
          .field("metrics", &Toy::metrics, "numbers")
          .section("inner", &Toy::inner, inner)
          .embed(&Toy::window, window)
          .group("extra", extra)
          .field("note", &Toy::note, "a note")
          .write_if([](const Toy& t) { return !t.note.empty(); })
          .custom(
              "blob", [](Toy& t, const json& v, const SchemaContext&) { t.blob = v.dump(); },
              [](const Toy& t) { return json::parse(t.blob); }, "object", "anything");
  return s;
}

Toy read(const std::string& text) {
  Toy t;
  toy_schema().read(json::parse(text), t, SchemaContext("toy.json"));
  return t;
}

// The message of the Error(BadConfig) that reading `text` throws.
std::string refusal(const std::string& text) {
  try {
    read(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << text;
  return "";
}

}  // namespace

TEST(Schema, ReadsEveryKindOfValueAndAbsentOrNullKeysKeepTheirValue) {
  const Toy t = read(R"({"name": "x", "count": 5, "seed": 18446744073709551615, "p": 0.25, "flag": false,
      "size": [16, 32, 4], "tags": ["b", "a"], "metrics": {"dice": 0.9}, "inner": {"depth": 2, "colour": "green"},
      "lo": -5, "hi": 7.5, "extra": {"workers": 3}, "note": "n", "blob": {"k": [1, 2]}, "count": 5})");
  EXPECT_EQ(t.name, "x");
  EXPECT_EQ(t.count, 5);
  EXPECT_EQ(t.seed, 18446744073709551615ull);
  EXPECT_EQ(t.p, 0.25);
  EXPECT_FALSE(t.flag);
  EXPECT_EQ(t.size, (std::array<int64_t, 3>{16, 32, 4}));
  EXPECT_EQ(t.tags, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(t.metrics.at("dice"), 0.9);
  EXPECT_EQ(t.inner.depth, 2);
  EXPECT_EQ(t.inner.colour, Colour::Green);
  EXPECT_EQ(t.window.lo, -5);
  EXPECT_EQ(t.window.hi, 7.5);
  EXPECT_EQ(t.workers, 3);
  EXPECT_EQ(t.note, "n");
  EXPECT_EQ(t.blob, R"({"k":[1,2]})");
  const Toy d = read(R"({"count": null, "inner": {}})");
  EXPECT_EQ(d.count, 2);
  EXPECT_EQ(d.inner.depth, 3);
  EXPECT_EQ(d.name, "toy");
}

TEST(Schema, WritesTheKeysItReadsAndReadsBackWhatItWrote) {
  Toy t;
  json j = toy_schema().write(t);
  EXPECT_EQ(j.dump(), R"({"blob":{},"count":2,"extra":{"workers":1},"flag":true,"hi":1.0,"inner":{"colour":"red",)"
                      R"("depth":3},"lo":-1.0,"metrics":{},"name":"toy","p":0.5,"seed":0,"size":[8,8,8],"tags":["a"]})");
  t.note = "kept";
  t.inner.colour = Colour::Green;
  j = toy_schema().write(t);
  EXPECT_EQ(j.at("note"), "kept");
  EXPECT_EQ(j.at("inner").at("colour"), "green");
  EXPECT_EQ(toy_schema().write(read(j.dump())).dump(), j.dump());
}

TEST(Schema, UnknownKeysAreRefusedWithTheValidOnesInDeclarationOrder) {
  std::string m = refusal(R"({"nmae": "x", "cuont": 1})");
  EXPECT_NE(m.find("toy.json: unknown key(s) 'cuont', 'nmae' (valid keys: name, count, seed, p, flag, size, tags, "
                   "metrics, inner, lo, hi, extra, note, blob)"),
            std::string::npos)
      << m;
  m = refusal(R"({"inner": {"dpeth": 2}})");
  EXPECT_NE(m.find("toy.json: inner: unknown key(s) 'dpeth' (valid keys: depth, colour)"), std::string::npos) << m;
  m = refusal(R"({"extra": {"workers": 1, "x": 0}})");
  EXPECT_NE(m.find("toy.json: extra: unknown key(s) 'x' (valid keys: workers)"), std::string::npos) << m;
}

TEST(Schema, IntegersAreIntegersOfTheirRange) {
  EXPECT_NE(refusal(R"({"count": 2.5})").find("toy.json: key 'count' must be an integer (not 2.5)"), std::string::npos);
  EXPECT_NE(refusal(R"({"seed": -1})").find("key 'seed' must be a non-negative integer (not -1)"), std::string::npos);
  EXPECT_NE(refusal(R"({"count": 3000000000})").find("key 'count' is out of range (3000000000)"), std::string::npos);
  EXPECT_NE(refusal(R"({"size": [8, 8.5, 8]})").find("key 'size' must be an integer (not 8.5)"), std::string::npos);
  EXPECT_NE(refusal(R"({"size": [8, 8]})").find("key 'size' must be a list of 3 integers (not [8,8])"), std::string::npos);
  EXPECT_NE(refusal(R"({"count": "5"})").find("key 'count' must be an integer (not \"5\")"), std::string::npos);
}

TEST(Schema, BooleansTakeYesNoOnOffAndStringsAreNotNumbers) {
  for (const char* yes : {"true", "\"yes\"", "\"on\"", "\"True\"", "\"YES\""}) EXPECT_TRUE(read(R"({"flag": )" + std::string(yes) + "}").flag) << yes;
  for (const char* no : {"false", "\"no\"", "\"off\"", "\"False\"", "\"No\""}) EXPECT_FALSE(read(R"({"flag": )" + std::string(no) + "}").flag) << no;
  EXPECT_NE(refusal(R"({"flag": 1})").find("key 'flag' must be a boolean: true/false, yes/no or on/off (not 1)"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"flag": "maybe"})").find("must be a boolean"), std::string::npos);
  EXPECT_NE(refusal(R"({"name": 2024})").find("key 'name' must be a string (not 2024); in YAML, quote it: \"2024\""),
            std::string::npos);
  EXPECT_NE(refusal(R"({"name": false})").find("key 'name' must be a string (not false)"), std::string::npos);
  EXPECT_EQ(read(R"({"name": "no"})").name, "no");
}

TEST(Schema, BoundsChoicesAndCrossFieldChecksHaveClearMessages) {
  EXPECT_NE(refusal(R"({"p": 1.5})").find("toy.json: p is a probability and must be in [0, 1] (not 1.5)"), std::string::npos);
  EXPECT_NE(refusal(R"({"inner": {"depth": 0}})").find("toy.json: inner.depth must be 1..7 (not 0)"), std::string::npos);
  EXPECT_NE(refusal(R"({"count": 0})").find("toy.json: count must be >= 1 (not 0)"), std::string::npos);
  EXPECT_NE(refusal(R"({"size": [8, 0, 8]})").find("size must be >= 1 (not 0)"), std::string::npos);
  EXPECT_NE(refusal(R"({"extra": {"workers": 100}})").find("toy.json: extra.workers 100 is more than 64 threads (the limit)"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"extra": {"workers": -1}})").find("extra.workers must be 0..64 (not -1)"), std::string::npos);
  EXPECT_NE(refusal(R"({"tags": ["a", "c"]})").find("tags must be one of a, b (not 'c')"), std::string::npos);
  EXPECT_NE(refusal(R"({"inner": {"colour": "blue"}})").find("toy.json: inner.colour must be one of red, green (not 'blue')"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"inner": {"colour": 1}})").find("inner.colour must be one of red, green (not 1)"), std::string::npos);
  EXPECT_NE(refusal(R"({"lo": 2, "hi": 1})").find("toy.json: hi must exceed lo"), std::string::npos);
  EXPECT_NE(refusal(R"({"inner": 3})").find("toy.json: key 'inner' must be an object (not number)"), std::string::npos);
  EXPECT_NE(refusal("[1]").find("toy.json: expected an object"), std::string::npos);
  // Bounds alone: NaN is out of every bound; intervals print as they are.
  EXPECT_FALSE(Bounds().min(0).ok(std::nan("")));
  EXPECT_TRUE(Bounds().ok(std::nan("")));
  EXPECT_FALSE(Bounds().finite().ok(INFINITY));
  EXPECT_EQ(Bounds().min(0).below(1).text(false), "[0, 1)");
  EXPECT_EQ(Bounds().above(0).below(1).text(false), "(0, 1)");
  EXPECT_EQ(Bounds().above(0).text(false), "> 0");
  EXPECT_EQ(Bounds().min(0).below(1).refusal("x", 1, false), "x must be in [0, 1) (not 1)");
}

TEST(Schema, OnlyKeepsSomeKeys) {
  const Schema<Toy> some = toy_schema().only({"name", "count"});
  Toy t;
  some.read(json::parse(R"({"name": "y"})"), t, SchemaContext("s"));
  EXPECT_EQ(t.name, "y");
  try {
    some.read(json::parse(R"({"seed": 1})"), t, SchemaContext("s"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(valid keys: name, count)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(some.write(t).dump(), R"({"count":2,"name":"y"})");
}

TEST(Schema, TheKeyTableListsEveryKeyWithTypeDefaultAllowedValuesAndMeaning) {
  const std::string table = toy_schema().markdown_table(Toy{});
  EXPECT_EQ(table.substr(0, table.find('\n')), "| key | type | default | allowed | meaning |");
  for (const char* row : {"| `name` | string | `toy` |  | free \\| text |",
                          "| `count` | integer | `2` | >= 1 | how many |",
                          "| `seed` | integer | `0` | >= 0 | a seed |",
                          "| `p` | number | `0.5` | [0, 1] | a chance |",
                          "| `flag` | boolean | `true` |  | on or off |",
                          "| `size` | list of 3 integers | `[8, 8, 8]` | >= 1 | voxels |",
                          "| `tags` | list of strings | `[a]` | a, b | labels |",
                          "| `inner.depth` | integer | `3` | 1..7 | levels |",
                          "| `inner.colour` | string | `red` | red, green | a colour |",
                          "| `lo` | number | `-1` |  | lower end |",
                          "| `extra.workers` | integer | `1` | 0..64 | threads |",
                          "| `note` | string | `\"\"` |  | a note |",
                          "| `blob` | object |  |  | anything |"})
    EXPECT_NE(table.find(std::string(row) + "\n"), std::string::npos) << row << "\n" << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2 + 15);  // header, rule, one row per key
}

TEST(Schema, NameTablesNameAndParseEnumValues) {
  EXPECT_EQ(name_of(colours(), Colour::Green), "green");
  EXPECT_EQ(*find_name(colours(), "red"), Colour::Red);
  EXPECT_EQ(find_name(colours(), "Red"), nullptr);
  EXPECT_EQ(names_list(colours()), "red, green");
  EXPECT_EQ(parse_name(colours(), "green", "colour"), Colour::Green);
  try {
    parse_name(colours(), "blue", "paint.colour");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig);
    EXPECT_STREQ(e.what(), "paint.colour must be one of red, green (not 'blue')");
  }
}
