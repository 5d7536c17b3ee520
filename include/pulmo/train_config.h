// The configuration of `pulmo train --config FILE` (JSON or YAML): every key, with its default,
// is listed in docs/training.md (train_config_table()). Unknown keys are refused (Error BadConfig) with the valid ones.
#pragma once

#include <cstdint>
#include <string>

#include "pulmo/train.h"
#include "pulmo/transforms.h"

namespace pulmo {

// Upper bounds of the resource settings (more only exhausts the machine; `workers: 100000` aborted).
constexpr int kMaxLoaderWorkers = 64;
constexpr int kMaxPrefetch = 256;

// How the patients are split ("holdout", "kfold", "loo" in configurations); always by patient.
enum class SplitKind : int { Holdout, KFold, LeaveOnePatientOut };

struct DataOptions {
  std::string manifest;                 // CSV or JSON manifest of the cases (docs/datasets.md)
  std::string task = "lungs";           // "lungs" (1 right, 2 left), "lesions" (1 GGO, 2 consolidation), "lung_box",
                                        // "cxr_lungs"
  SplitKind split = SplitKind::Holdout;
  int folds = 5;                        // kfold
  int fold = -1;                        // kfold / loo: the fold to train (-1 = every fold, one sub-folder each)
  double validation_fraction = 0.2;     // of the training patients
  double test_fraction = 0.0;           // holdout: patients kept out for testing
  uint64_t split_seed = 0;
  Vec3 spacing_mm{1.5, 1.5, 1.5};       // resample every case to this (x, y, z); <= 0 keeps an axis
  IntensityOptions intensity;           // HU window and normalisation
};

struct TrainConfig {
  DataOptions data;
  TrainOptions train;                   // train.output is the model folder
  int threads = 0;                      // LibTorch threads (0 = all cores)
};

// Parses JSON text, or YAML text when `yaml` is true. `where` names the source in messages.
TrainConfig parse_train_config(const std::string& text, bool yaml, const std::string& where = "config");
// Reads a file: YAML for .yaml / .yml, JSON otherwise. NotFound when missing.
TrainConfig read_train_config(const std::string& path);
// The full configuration with every key (defaults filled in), as JSON text.
std::string train_config_to_json(const TrainConfig& config);
// Every key as a Markdown table (key, type, default, allowed values, meaning): the table of docs/training.md,
// printed by `pulmo train --print-config-table`.
std::string train_config_table();

}  // namespace pulmo
