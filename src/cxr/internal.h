// Internal to src/cxr: shared pieces of training, prediction and probing.
#pragma once

#include <nlohmann/json.hpp>

#include <iosfwd>
#include <random>
#include <string>
#include <vector>

#include "cxr/net.h"
#include "pulmo/cxr_model.h"

namespace pulmo::cxr {

// The folder inside a CXR model folder that holds its copy of the lung segmenter (lung cropping).
inline constexpr const char* kLungSegmenterFolder = "lung_segmenter";

// Letterboxed images [N, 1, S, S] of the cases (read_xray; errors name the case). With `lungs`, each X-ray is first
// cropped to its lung box (CxrLungSegmenter::lung_box with `margin`); `lungs_missed` gets the cases where no lungs
// were found (the whole image used).
at::Tensor images_tensor(const std::vector<CxrCase>& cases, int size, std::ostream* progress,
                         const CxrLungSegmenter* lungs = nullptr, double margin = 0,
                         std::vector<std::string>* lungs_missed = nullptr);
// The X-ray the image branch sees: cropped to the lung box when the model crops (`crop` gets the box), else whole.
XrayImage branch_input(const XrayImage& x, const CxrLungSegmenter* lungs, double margin, PixelBox* crop, bool* found);
// Imputed clinical rows [rows, imputer width].
at::Tensor clinical_tensor(const std::vector<CxrCase>& cases, const std::vector<int>& rows, const Imputer& im);
// Seeded augmentation of a batch [B, 1, S, S]: rotation, scale, shift, local contrast, contrast, brightness.
at::Tensor augment_batch(const at::Tensor& x, const CxrAugment& a, std::mt19937_64& rng);

struct FitResult {
  CxrNet net{nullptr};
  Imputer imputer;
  double threshold = 0.5, best_validation_loss = 0;
  std::string threshold_source = "0.5 (no validation set)";
  int epochs_run = 0, best_epoch = 0;
  bool early_stopped = false;
  std::vector<double> validation_scores;
};
// Where a fit keeps its checkpoint (docs/cxr.md, "Checkpoints and --resume"). Written after every epoch (weights,
// Adam moments, the best weights so far, the loop's counters) and, once the fit is done, replaced by the finished
// fit (its best weights, threshold and validation scores), all through the training engine's checkpoint I/O
// (train/checkpoint.h).
struct FitCheckpoint {
  std::string path;         // the checkpoint file
  std::string config_json;  // what must not change on --resume: the configuration, the fit, its cases, the data
  bool resume = false;      // continue from `path` when it exists (else start afresh)
  // Test hook (train_cxr_killed_after): epochs left before the run stops as a kill would; < 0 = never.
  int* epochs_left = nullptr;
  bool* resumed = nullptr;  // set when the fit was continued or taken from its checkpoint
};
// Thrown by fit_model when FitCheckpoint::epochs_left reaches 0 (after that epoch's checkpoint is written).
struct StoppedForTest {};

// Trains one variant on `train`, early stopping on the weighted BCE of `validation` (best weights kept),
// threshold by Youden's J on `validation` (0.5 when it lacks a class). Each epoch draws its shuffle and
// augmentation from (seed, epoch) alone, and dropout from LibTorch's generator, whose state each epoch's checkpoint
// holds, so a fit resumed at an epoch boundary continues exactly.
FitResult fit_model(const CxrTrainConfig& c, const std::string& variant, const std::vector<CxrCase>& cases,
                    const at::Tensor& images, const std::vector<int>& train, const std::vector<int>& validation,
                    uint64_t seed, std::ostream* progress, const std::string& label,
                    const FitCheckpoint* checkpoint = nullptr);

// The configuration with every default filled in, as JSON (stored in each checkpoint; paths included).
nlohmann::json cxr_train_config_json(const CxrTrainConfig& c);

// A test hook: train_cxr() that stops abruptly after `epochs` epochs in all (counted over every fit), writing nothing
// more, as a kill would (the checkpoints written before stay). True when it stopped (false when training ended first).
bool train_cxr_killed_after(int epochs, const CxrTrainConfig& c);
// Probabilities of `rows`; image features appended to `embeddings` when given (image variants).
std::vector<double> predict_rows(FitResult& r, const std::vector<CxrCase>& cases, const at::Tensor& images,
                                 const std::vector<int>& rows, std::vector<std::vector<float>>* embeddings = nullptr);
nlohmann::json model_options_json(const ModelOptions& m);

}  // namespace pulmo::cxr
