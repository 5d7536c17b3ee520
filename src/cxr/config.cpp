// pulmo cxr train configuration (YAML or JSON), read strictly: unknown keys are refused. Every key is declared once
// (cxr_train_config_schema()), which also renders the key table of docs/cxr.md.
#include <filesystem>

#include "core/config_text.h"
#include "core/schema.h"
#include "cxr/internal.h"
#include "pulmo/cxr_model.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "train/schemas.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pulmo::cxr {
namespace {

const Schema<CxrTrainConfig>& cxr_train_config_schema() {
  using C = CxrTrainConfig;
  static const Schema<C> data =
      Schema<C>()
          .field("manifest", &C::manifest, "a CXR manifest (cxr_manifest_csv); or the two folders below")
          .field("hannover", &C::hannover, "the Hannover mhh-covid19 folder (data.csv + png/)")
          .field("ieee8023", &C::ieee8023, "the ieee8023 folder (metadata.csv + images/)")
          .field("severe_within_days", member(&C::hannover_options, &HannoverOptions::severe_within_days),
                 "Hannover: ICU admission or death within this many days after the image = severe", Bounds().min(0))
          .field("exclude_from_icu_admission", member(&C::hannover_options, &HannoverOptions::exclude_from_icu_admission),
                 "Hannover: leave out images taken on or after the day of ICU admission (else they count as severe)");
  static const Schema<ModelOptions> model =
      Schema<ModelOptions>()
          .field("image_size", &ModelOptions::image_size, "letterboxed square side (pixels)", Bounds().min(32).max(1024))
          .field("channels", &ModelOptions::channels,
                 "one residual stage each; every stage after the first halves the size", Bounds().min(1))
          .field("clinical_hidden", &ModelOptions::clinical_hidden, "width of the clinical MLP", Bounds().min(1))
          .field("dropout", &ModelOptions::dropout, "dropout probability", Bounds().min(0).below(1))
          .field("lung_crop", &ModelOptions::lung_crop,
                 "a lung segmenter folder (models/cxr_lungs), relative to the configuration; \"\" = no cropping")
          .field("lung_crop_margin", &ModelOptions::lung_crop_margin,
                 "widen the lungs' box by this fraction of its width / height on each side", Bounds().min(0).max(1));
  static const Schema<CxrAugment> augment =
      Schema<CxrAugment>()
          .field("enabled", &CxrAugment::enabled, "augment the training images")
          .field("rotation_deg", &CxrAugment::rotation_deg, "rotation, uniform +- degrees", Bounds().finite())
          .field("scale", &CxrAugment::scale, "zoom, uniform 1 +- scale", Bounds().finite())
          .field("translate", &CxrAugment::translate, "shift, a fraction of the side, uniform +-", Bounds().finite())
          .field("brightness", &CxrAugment::brightness, "additive, uniform +-", Bounds().finite())
          .field("contrast", &CxrAugment::contrast, "multiplicative about the mean, uniform 1 +-", Bounds().finite())
          .field("local_contrast", &CxrAugment::local_contrast,
                 "local contrast equalisation: x + a (x - local mean), a uniform in [0, this]", Bounds().finite());
  static const Schema<C> training =
      Schema<C>()
          .field("variants", &C::variants, "the model variants to cross-validate",
                 Choices{"fused", "image", "clinical", "logistic"})
          .field("folds", &C::folds, "patient-level cross-validation folds", Bounds().min(2))
          .field("validation_fraction", &C::validation_fraction,
                 "share of the training patients kept for early stopping and the threshold", Bounds().above(0).below(1))
          .field("epochs", &C::epochs, "largest number of epochs", Bounds().min(1))
          .field("batch_size", &C::batch_size, "images per step", Bounds().min(2))
          .field("patience", &C::patience, "epochs without improvement before stopping", Bounds().min(1))
          .field("seed", &C::seed, "splits, initialisation, augmentation")
          .field("bootstrap", &C::bootstrap, "bootstrap resamples of the confidence intervals", Bounds().min(0))
          .field("permutation_repeats", &C::permutation_repeats, "repeats of the permutation importance", Bounds().min(0));
  static const Schema<C> schema =
      Schema<C>()
          .group("data", data)
          .section("model", &C::model, model)
          .section("optimizer", &C::optimizer, optimizer_schema().only({"type", "lr", "weight_decay"}))
          .section("augment", &C::augment, augment)
          .group("training", training)
          .field("output", &C::output, "the model folder, relative to the configuration");
  return schema;
}

}  // namespace

CxrTrainConfig read_cxr_train_config(const std::string& path) {
  const std::string text = read_text_file(path);
  const std::string ext = fs::path(path).extension().string();
  const json j = parse_yaml_or_json(text, ext != ".json", "'" + path + "'");
  CxrTrainConfig c;
  c.config_text = text;
  const std::string where = "'" + path + "'";
  cxr_train_config_schema().read(j, c, SchemaContext(where));
  const fs::path base = fs::path(path).parent_path();
  auto resolve = [&](std::string& p) {
    if (!p.empty() && fs::path(p).is_relative()) p = (base / p).lexically_normal().string();
  };
  resolve(c.manifest);
  resolve(c.hannover);
  resolve(c.ieee8023);
  resolve(c.output);
  resolve(c.model.lung_crop);
  auto bad = [&](const std::string& m) { throw Error(ExitCode::BadConfig, where + ": " + m); };
  if (c.manifest.empty() && c.hannover.empty() && c.ieee8023.empty())
    bad("data needs a manifest, or the hannover and/or ieee8023 folders");
  if (c.variants.empty()) bad("training.variants lists none of fused, image, clinical, logistic");
  if (c.output.empty()) bad("output (the model folder) is missing");
  return c;
}

std::string cxr_train_config_table() { return cxr_train_config_schema().markdown_table(CxrTrainConfig{}); }

// Every key of the schema, written by the schema: one declaration of what the configuration holds.
json cxr_train_config_json(const CxrTrainConfig& c) { return cxr_train_config_schema().write(c); }

}  // namespace pulmo::cxr
