// pulmo cxr train configuration (YAML or JSON), read strictly: unknown keys are refused.
#include <filesystem>

#include "core/json_fields.h"
#include "pulmo/cxr_model.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "train/internal.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pulmo::cxr {

CxrTrainConfig read_cxr_train_config(const std::string& path) {
  const std::string text = read_text_file(path);
  const std::string ext = fs::path(path).extension().string();
  const json j = parse_yaml_or_json(text, ext != ".json", "'" + path + "'");
  CxrTrainConfig c;
  c.config_text = text;
  const std::string where = "'" + path + "'";
  JsonFields f(j, where);
  const fs::path base = fs::path(path).parent_path();
  auto resolve = [&](std::string& p) {
    if (!p.empty() && fs::path(p).is_relative()) p = (base / p).lexically_normal().string();
  };
  {
    JsonFields g(f.object("data"), where + ": data");
    g.get("manifest", c.manifest);
    g.get("hannover", c.hannover);
    g.get("ieee8023", c.ieee8023);
    g.get("severe_within_days", c.hannover_options.severe_within_days);
    g.get("exclude_from_icu_admission", c.hannover_options.exclude_from_icu_admission);
    g.finish();
  }
  {
    JsonFields g(f.object("model"), where + ": model");
    g.get("image_size", c.model.image_size);
    g.get("channels", c.model.channels);
    g.get("clinical_hidden", c.model.clinical_hidden);
    g.get("dropout", c.model.dropout);
    g.get("lung_crop", c.model.lung_crop);
    g.get("lung_crop_margin", c.model.lung_crop_margin);
    g.finish();
  }
  {
    JsonFields g(f.object("optimizer"), where + ": optimizer");
    g.get("type", c.optimizer.type);
    g.get("lr", c.optimizer.lr);
    g.get("weight_decay", c.optimizer.weight_decay);
    g.finish();
  }
  {
    JsonFields g(f.object("augment"), where + ": augment");
    g.get("enabled", c.augment.enabled);
    g.get("rotation_deg", c.augment.rotation_deg);
    g.get("scale", c.augment.scale);
    g.get("translate", c.augment.translate);
    g.get("brightness", c.augment.brightness);
    g.get("contrast", c.augment.contrast);
    g.get("local_contrast", c.augment.local_contrast);
    g.finish();
  }
  {
    JsonFields g(f.object("training"), where + ": training");
    g.get("variants", c.variants);
    g.get("folds", c.folds);
    g.get("validation_fraction", c.validation_fraction);
    g.get("epochs", c.epochs);
    g.get("batch_size", c.batch_size);
    g.get("patience", c.patience);
    g.get("seed", c.seed);
    g.get("bootstrap", c.bootstrap);
    g.get("permutation_repeats", c.permutation_repeats);
    g.finish();
  }
  f.get("output", c.output);
  f.finish();
  resolve(c.manifest);
  resolve(c.hannover);
  resolve(c.ieee8023);
  resolve(c.output);
  resolve(c.model.lung_crop);
  auto bad = [&](const std::string& m) { throw Error(ExitCode::BadConfig, where + ": " + m); };
  if (c.manifest.empty() && c.hannover.empty() && c.ieee8023.empty())
    bad("data needs a manifest, or the hannover and/or ieee8023 folders");
  if (c.model.image_size < 32 || c.model.image_size > 1024) bad("model.image_size must be in [32, 1024]");
  if (!(c.model.lung_crop_margin >= 0 && c.model.lung_crop_margin <= 1)) bad("model.lung_crop_margin must be in [0, 1]");
  if (c.folds < 2) bad("training.folds must be >= 2");
  if (!(c.validation_fraction > 0 && c.validation_fraction < 1)) bad("training.validation_fraction must be in (0, 1)");
  if (c.epochs < 1 || c.batch_size < 2 || c.patience < 1) bad("training.epochs >= 1, batch_size >= 2, patience >= 1");
  if (c.variants.empty()) bad("training.variants lists none of fused, image, clinical, logistic");
  for (const auto& v : c.variants)
    if (v != "fused" && v != "image" && v != "clinical" && v != "logistic")
      bad("unknown variant '" + v + "' (valid: fused, image, clinical, logistic)");
  if (c.output.empty()) bad("output (the model folder) is missing");
  return c;
}

}  // namespace pulmo::cxr
