// The chest X-ray prognosis model: a small ResNet-style CNN on the X-ray (image branch), an MLP on the clinical
// values (clinical branch), fused into one logit (sigmoid = probability of a severe course). The variants
// "fused", "image", "clinical" and "logistic" (a logistic regression on the clinical values) share one code path.
// Training is patient-level k-fold cross-validation (kfold_splits) with class-weighted BCE, Adam (the training
// engine's make_optimizer), seeded augmentation and early stopping; the threshold of each fold is chosen on its
// validation patients (Youden), never on its test fold. docs/cxr.md.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pulmo/cxr.h"
#include "pulmo/eval_stats.h"
#include "pulmo/train.h"

namespace pulmo::cxr {

// ---- the 2-D lung segmenter (optional lung cropping) ------------------------------------------------------

// A training sample of the X-ray lung segmenter (`pulmo train`, data.task cxr_lungs): the X-ray (read_xray) and its
// lung mask (read_lung_mask) letterboxed to size x size, as a [1, size, size] volume: label 1 where at least half
// of a pixel is lung, valid = false where at least half is "ignore" (devices). Errors name the files.
Sample lung_training_sample(const std::string& image, const std::string& mask, int size);

struct LungCrop {
  bool found = false;      // false: no lungs found (the whole image is used)
  PixelBox box;            // the lungs' bounding box widened by the margin, in image pixels (the whole image when !found)
  double lung_fraction = 0;  // predicted lung share of the letterboxed picture
};

// A 2-D U-Net lung segmenter for chest X-rays: a pulmo model folder (model.json task "cxr_lungs" + weights.pt).
class CxrLungSegmenter {
 public:
  // Error(NotFound / BadConfig), also for a model folder of another task.
  static CxrLungSegmenter load(const std::string& folder);
  ~CxrLungSegmenter();
  CxrLungSegmenter(CxrLungSegmenter&&) noexcept;
  CxrLungSegmenter& operator=(CxrLungSegmenter&&) noexcept;
  int size() const;  // the letterboxed square side the network works on
  // The lung mask (0/1) on the letterboxed square size() x size(): probability >= 0.5, then the (at most two)
  // connected components of at least a fifth of the largest one's area.
  std::vector<uint8_t> segment(const XrayImage& image) const;
  // The lungs' bounding box in image pixels, widened by `margin` (a fraction of its width / height) on each side
  // and clipped to the image. Not found (the whole image) when the mask covers less than 5 % of the picture.
  LungCrop lung_box(const XrayImage& image, double margin) const;
  // Dice of segment() against a lung mask (read_lung_mask) on the letterboxed square, "ignore" pixels left out;
  // NaN when both are empty.
  double dice(const XrayImage& image, const std::string& mask_path) const;

 private:
  CxrLungSegmenter();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ModelOptions {
  std::string variant = "fused";          // "fused", "image", "clinical", "logistic"
  int image_size = 128;                   // letterboxed square side
  // Lung cropping: a CxrLungSegmenter folder ("" = off). The X-ray is cropped to the predicted lungs' box widened
  // by lung_crop_margin before letterboxing, in training and prediction alike; the model folder keeps a copy of
  // the segmenter (lung_segmenter/).
  std::string lung_crop;
  double lung_crop_margin = 0.05;
  std::vector<int> channels{8, 16, 32, 64};  // one residual stage each; every stage after the first halves the size
  int clinical_hidden = 16;
  double dropout = 0.3;
};

struct CxrAugment {
  bool enabled = true;
  double rotation_deg = 10;      // uniform +-
  double scale = 0.1;            // uniform 1 +- scale
  double translate = 0.05;       // fraction of the side, uniform +-
  double brightness = 0.1;       // additive, uniform +-
  double contrast = 0.2;         // multiplicative about the mean, uniform 1 +-
  double local_contrast = 0.5;   // local contrast equalisation: x + a (x - local mean), a uniform in [0, this]
};

struct CxrTrainConfig {
  // data: a manifest, or the shared folders (joined by join_sources)
  std::string manifest, hannover, ieee8023;
  HannoverOptions hannover_options;
  ModelOptions model;
  std::vector<std::string> variants{"fused", "image", "clinical", "logistic"};
  int folds = 5;
  double validation_fraction = 0.2;
  int epochs = 40, batch_size = 16, patience = 8;
  OptimizerOptions optimizer;             // the training engine's optimiser options (Adam 1e-3 by default)
  CxrAugment augment;
  uint64_t seed = 42;
  int bootstrap = 1000;
  int permutation_repeats = 30;
  std::string output;                     // the model folder
  std::string config_text;                // the configuration as given (stored in model.json)
  // Continue an interrupted run from the checkpoints in output/checkpoints/ (`pulmo cxr train --resume`): finished
  // fits are taken as they are, an interrupted one continues from its last epoch; the result is the one an
  // uninterrupted run gives (same thread count). Not a configuration key.
  bool resume = false;
};
// Reads a YAML configuration; unknown keys are refused (Error BadConfig, the valid keys listed). Relative
// paths are resolved against the configuration's folder.
CxrTrainConfig read_cxr_train_config(const std::string& path);
// Every key of that configuration as a Markdown table (docs/cxr.md; `pulmo cxr train --print-config-table`).
std::string cxr_train_config_table();

struct MetricSummary {
  std::string name;              // "balanced_accuracy", "roc_auc", "sensitivity", "specificity"
  double fold_mean = 0, fold_sd = 0;
  Interval pooled;               // on the pooled out-of-fold predictions, patient-clustered bootstrap 95 % CI
};
struct VariantResult {
  std::string variant;           // also "majority"
  std::vector<MetricSummary> metrics;
  std::vector<double> scores;    // out-of-fold probability per case
  std::vector<int> predicted;    // out-of-fold class per case (the fold's validation threshold)
  std::vector<double> thresholds;  // per fold
};
struct CvResult {
  std::vector<CxrCase> cases;    // labelled cases used
  std::vector<int> fold_of;      // test fold of each case
  std::vector<VariantResult> variants;
  std::vector<std::vector<float>> embeddings;  // image features of every case from the shipped fused (else image) model
  double seconds = 0;            // of this run (a resumed run: since the resume)
  int fits = 0, fits_resumed = 0;  // models trained (folds x variants + shipped ones); how many came from checkpoints
};

// Cross-validates every variant of `c`, then trains the shipped models (fused and image-only, when listed)
// on all patients (a validation share kept for early stopping and the threshold) and writes c.output:
// model.json, fused.pt / image.pt, cv.json, cv_predictions.csv, features.csv (the shipped model's image features
// per case, for the shortcut probe), importance.json (permutation importance of the clinical inputs), manifest.csv.
// While it trains, c.output/checkpoints/ holds one checkpoint per model (c.resume continues from them; removed when
// the run is done). The outputs are written only at the end, model.json last (an earlier model.json is removed
// first), so an interrupted run never leaves a model.json next to outputs of another run.
CvResult train_cxr(const CxrTrainConfig& c, std::ostream* progress = nullptr);

struct CxrPrediction {
  double probability = 0, threshold = 0.5;
  std::string threshold_source;  // how the stored threshold was chosen (model.json)
  bool severe = false;
  std::string variant;           // the model used ("fused" or "image")
  bool image_only = false;       // no clinical value was given: the image-only model answered
  std::vector<std::string> missing;  // clinical inputs not given (imputed, flagged to the model)
  std::vector<float> heatmap;    // Grad-CAM on the letterboxed square (image_size^2, 0..1), when asked
  int heatmap_size = 0;
  PixelBox crop;                 // the part of the X-ray the image branch saw (the lung box, or the whole image)
  bool lungs_found = true;       // lung cropping: false when the segmenter found no lungs (the whole image was used)
};

class CxrModel {
 public:
  // Loads a model folder (model.json + fused.pt/image.pt). Error(NotFound / BadConfig).
  static CxrModel load(const std::string& folder);
  ~CxrModel();
  CxrModel(CxrModel&&) noexcept;
  CxrModel& operator=(CxrModel&&) noexcept;
  // `variant` "" chooses: "fused" when any clinical value is given, else "image" (the image-only model).
  // "fused" / "image" force one (Error(Usage) when the folder lacks it).
  CxrPrediction predict(const XrayImage& image, const std::map<std::string, double>& clinical, bool heatmap,
                        const std::string& variant = "") const;
  const std::string& folder() const;
  int image_size() const;

 private:
  CxrModel();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The X-ray with the Grad-CAM heatmap blended over it (longest side `max_side`), as an RGB PNG (atomic write).
void write_heatmap_overlay(const XrayImage& image, const CxrPrediction& p, const std::string& png_path, int max_side = 512);

// ---- shortcut probe --------------------------------------------------------------------------------------
// A linear probe (L2 logistic regression) predicting a binary attribute from per-case features, with
// patient-level k-fold CV; the pooled out-of-fold ROC AUC with a patient-clustered bootstrap 95 % CI.
struct ProbeResult {
  std::string attribute, positive;  // the attribute and the value taken as 1
  int n = 0, positives = 0;
  Interval auc;
};
ProbeResult linear_probe(const std::vector<std::vector<float>>& features, const std::vector<std::string>& values,
                         const std::vector<std::string>& patients, const std::string& attribute, int folds,
                         uint64_t seed, int bootstrap = 1000);

}  // namespace pulmo::cxr

namespace pulmo::cxr {

// ---- explanation and evaluation ---------------------------------------------------------------------------
struct ExplainOutput {
  CxrPrediction prediction;
  std::string overlay_png, html;   // the written files
};
// Grad-CAM overlay (<out>/<stem>_gradcam.png) and a per-case page (<out>/<stem>.html): probability, class,
// the clinical inputs used / missing, and the model's permutation importance of the clinical inputs with CIs
// (importance.json of the model folder, when present). Both written atomically.
ExplainOutput explain_case(const CxrModel& model, const std::string& image_path,
                           const std::map<std::string, double>& clinical, const std::string& out_dir);

// Predicts every labelled case of `cases` and writes through the evaluation engine (write_classification_report)
// classification.json / classification.md with subgroups sex, view (AP/PA) and source, at the model's stored
// threshold, plus predictions.csv. Every case is answered by `variant` ("fused" or "image"; "" = each case as
// predict chooses, an error when that mixes variants). Returns the number of cases evaluated.
int evaluate_cxr(const CxrModel& model, const std::vector<CxrCase>& cases, int bootstrap, uint64_t seed,
                 const std::string& out_dir, std::ostream* progress = nullptr, const std::string& variant = "fused");

}  // namespace pulmo::cxr

namespace pulmo::cxr {

// A per-case feature file (CSV): a "case_id" (or "case") column, an optional "patient_id" (or "patient") column,
// attribute columns, and feature columns named f0, f1, ... (any CT or CXR model's features). Runs linear_probe
// for each of `attributes`; an attribute without exactly two values gives an Error(NoData) naming it.
std::vector<ProbeResult> probe_feature_file(const std::string& path, const std::vector<std::string>& attributes,
                                            int folds, uint64_t seed, int bootstrap);

}  // namespace pulmo::cxr
