// The configurations read through their schemas: the training configuration, model.json, and the YAML typing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <sstream>
#include <vector>

#include "core/config_text.h"
#include "pulmo/cxr_model.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/model.h"
#include "pulmo/train_config.h"
#include "support/test_support.h"

using namespace pulmo;
namespace fs = std::filesystem;

namespace {
std::string models_path(const std::string& relative) { return std::string(PULMO_SOURCE_DIR) + "/models/" + relative; }
}  // namespace

// What the shipped model folders hold was written by earlier pulmo versions: reading and writing them again gives
// the same bytes, model.json and its stored training configuration alike.
TEST(ConfigSchema, ShippedModelJsonAndTrainingConfigsAreRewrittenByteForByte) {
  int checked = 0;
  for (const std::string name : {"lungs", "lesions", "lung_box", "cxr_lungs"}) {
    const std::string path = models_path(name + "/model.json");
    const std::string text = read_text_file(path);
    const ModelInfo info = model_info_from_json(text, path);
    EXPECT_EQ(model_info_to_json(info), text) << path;
    const nlohmann::json stored = nlohmann::json::parse(info.training_json).at("config");
    const std::string config = stored.dump(2) + "\n";
    EXPECT_EQ(train_config_to_json(parse_train_config(config, false, path)), config) << path;
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}

// ---- YAML scalars keep the type they are written with ------------------------------------------------------------

TEST(YamlScalars, APlainScalarIsANumberBooleanOrNullOnlyAsTheYaml12CoreSchemaSays) {
  using nlohmann::json;
  const std::vector<std::pair<std::string, json>> cases = {
      {"12", 12}, {"-3", -3}, {"+7", 7}, {"0x1f", 31}, {"0o17", 15}, {"18446744073709551615", 18446744073709551615ull},
      {"1.5", 1.5}, {"1e-5", 1e-5}, {"1.0e-5", 1e-5}, {".5", 0.5}, {"-2.", -2.0}, {"true", true}, {"False", false},
      {"TRUE", true}, {"fAlSe", false}, {"null", nullptr}, {"~", nullptr}, {"", nullptr},
      // strings: YAML 1.1 booleans, numbers with separators, dates, hex-looking words
      {"yes", "yes"}, {"no", "no"}, {"on", "on"}, {"off", "off"}, {"y", "y"}, {"1_000", "1_000"},
      {"2024-01-01", "2024-01-01"}, {"0x", "0x"}, {"1.2.3", "1.2.3"}, {"nan", "nan"}, {"inf", "inf"}, {"cuda:0", "cuda:0"}};
  for (const auto& [text, expected] : cases) {
    const json got = yaml_plain_scalar(text);
    EXPECT_EQ(got, expected) << "'" << text << "' -> " << got.dump();
    EXPECT_EQ(got.type(), expected.type()) << "'" << text << "'";
  }
  EXPECT_TRUE(std::isinf(yaml_plain_scalar(".inf").get<double>()));
  EXPECT_LT(yaml_plain_scalar("-.Inf").get<double>(), 0);
  EXPECT_TRUE(std::isnan(yaml_plain_scalar(".nan").get<double>()));
  // Quoted and block scalars are strings, whatever they hold.
  const json j = parse_yaml_or_json("a: \"12\"\nb: 'true'\nc: !!str 3\nd: |\n  7\ne: 0.5\n", true, "t");
  EXPECT_EQ(j.at("a"), "12");
  EXPECT_EQ(j.at("b"), "true");
  EXPECT_EQ(j.at("c"), "3");
  EXPECT_EQ(j.at("d"), "7\n");
  EXPECT_EQ(j.at("e"), 0.5);
}

TEST(YamlScalars, ABooleanKeyTakesYesNoOnOffAndAStringKeyKeepsThemAsText) {
  const TrainConfig off = parse_train_config("training:\n  amp: no\naugment:\n  enabled: off\nloss:\n  batch_dice: Yes\n", true);
  EXPECT_FALSE(off.train.amp);
  EXPECT_FALSE(off.train.augment.enabled);
  EXPECT_TRUE(off.train.loss.batch_dice);
  EXPECT_FALSE(parse_train_config("training:\n  amp: \"no\"\n", true).train.amp);
  EXPECT_TRUE(parse_train_config("training:\n  amp: on\n", true).train.amp);
  EXPECT_TRUE(parse_train_config("training:\n  amp: TRUE\n", true).train.amp);
  // The folder "no" and the manifest "yes" (a YAML 1.1 reader made them booleans).
  const TrainConfig named = parse_train_config("output: no\ndata:\n  manifest: yes\n", true);
  EXPECT_EQ(named.train.output, "no");
  EXPECT_EQ(named.data.manifest, "yes");
  EXPECT_EQ(parse_train_config("output: \"2024\"\n", true).train.output, "2024");
  EXPECT_EQ(parse_train_config("data:\n  split_seed: 18446744073709551615\n", true).data.split_seed, 18446744073709551615ull);
  EXPECT_EQ(parse_train_config("training:\n  seed: 0x10\n", true).train.seed, 16u);
  EXPECT_DOUBLE_EQ(parse_train_config("optimizer:\n  lr: 1e-3\n", true).train.optimizer.lr, 1e-3);
  auto refused = [](const std::string& yaml, const std::string& part) {
    try {
      parse_train_config(yaml, true, "c.yaml");
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::BadConfig) << e.what();
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  refused("output: 2024\n", "c.yaml: key 'output' must be a string (not 2024); in YAML, quote it: \"2024\"");
  refused("training:\n  device: 1\n", "c.yaml: training: key 'device' must be a string (not 1)");
  refused("training:\n  device: \"1\"\n", "c.yaml: training.device must be one of auto, cpu, cuda (not '1')");
  refused("training:\n  amp: 1\n", "key 'amp' must be a boolean: true/false, yes/no or on/off (not 1)");
  refused("training:\n  amp: maybe\n", "key 'amp' must be a boolean");
  refused("training:\n  steps: \"5\"\n", "key 'steps' must be an integer (not \"5\")");
  refused("augment:\n  gamma_probability: .nan\n", "augment.gamma_probability is a probability and must be in [0, 1] (not nan)");
}

// ---- the key tables of the docs are the schemas' -----------------------------------------------------------------

namespace {

// The lines between the "BEGIN config-table" and "END config-table" comments of a docs file.
std::string generated_table(const std::string& path) {
  const std::string text = read_text_file(path);
  const size_t begin = text.find("\n<!-- BEGIN config-table");
  const size_t end = text.find("\n<!-- END config-table");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return "(no BEGIN/END config-table markers)";
  const size_t first = text.find('\n', begin + 1) + 1;
  return text.substr(first, end + 1 - first);
}

// Line by line: "- " what the docs hold and the schema does not, "+ " the reverse.
std::string line_difference(const std::string& docs, const std::string& schema) {
  auto lines = [](const std::string& t) {
    std::vector<std::string> v;
    std::istringstream in(t);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  };
  const auto a = lines(docs), b = lines(schema);
  std::string out;
  for (const auto& l : a)
    if (std::find(b.begin(), b.end(), l) == b.end()) out += "- " + l + "\n";
  for (const auto& l : b)
    if (std::find(a.begin(), a.end(), l) == a.end()) out += "+ " + l + "\n";
  return out.empty() ? "(the same lines in another order)\n" : out;
}

void expect_docs_table(const std::string& docs, const std::string& table) {
  const std::string in_docs = generated_table(std::string(PULMO_SOURCE_DIR) + "/" + docs);
  EXPECT_TRUE(in_docs == table) << docs << " and the configuration schema disagree (- docs, + schema):\n"
                            << line_difference(in_docs, table)
                            << "Refresh the table after building: scripts/refresh-config-tables.sh build/pulmo";
}

}  // namespace

TEST(ConfigTables, DocsTrainingAndCxrHoldTheTablesTheSchemasRender) {
  expect_docs_table("docs/training.md", train_config_table());
  expect_docs_table("docs/cxr.md", cxr::cxr_train_config_table());
}

TEST(ConfigTables, TheTrainingTableHasARowForEveryKeyTheWriterWrites) {
  const std::string table = train_config_table();
  // Every leaf of the written configuration (both network architectures: only one is written at a time).
  TrainConfig box;
  box.train.network.type = "boxnet";
  int leaves = 0;
  std::function<void(const nlohmann::json&, const std::string&)> walk = [&](const nlohmann::json& j, const std::string& key) {
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) walk(it.value(), key.empty() ? it.key() : key + "." + it.key());
      return;
    }
    ++leaves;
    EXPECT_NE(table.find("| `" + key + "` |"), std::string::npos) << key;
  };
  TrainConfig unet;
  unet.train.init_from = "models/lesions";  // written only when set
  walk(nlohmann::json::parse(train_config_to_json(unet)), "");
  walk(nlohmann::json::parse(train_config_to_json(box)).at("network"), "network");
  EXPECT_EQ(static_cast<long>(std::count(table.begin(), table.end(), '\n')), 2 + leaves - 1);  // network.type twice
  EXPECT_NE(table.find("| `optimizer.type` | string | `adam` | adam, adamw, sgd |"), std::string::npos) << table;
  EXPECT_NE(table.find("| `training.workers` | integer | `2` | 0..64 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| `data.hu_min` | number | `-1024` |"), std::string::npos) << table;
}
