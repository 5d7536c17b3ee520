// Configuration schemas: the training configuration, model.json and the YAML reader.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/model.h"
#include "pulmo/train_config.h"
#include "support/test_support.h"

using namespace pulmo;
namespace fs = std::filesystem;

namespace {
std::string models_path(const std::string& relative) { return test::data_path("../models/" + relative); }
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
