// Training of segmentation networks: optimiser, LR schedule, early stopping, gradient clipping,
// mixed precision (CUDA), checkpoints with exact resume, log CSV, curve plot, progress with ETA.
//
//   pulmo::TrainOptions o;                      // defaults: Adam 1e-3, poly schedule, Dice+CE
//   o.output = "models/lungs";                  // the model folder (model.json + weights.pt)
//   pulmo::ModelInfo info;                      // task, spacing, HU window, labels of the model
//   pulmo::TrainResult r = pulmo::train_segmentation(o, info, train_samples, validation_samples);
//
// A whole configuration file (manifest, splits, folds), as `pulmo train` runs it: train_from_config() in pulmo/job.h.
//
// Repeatable: with a fixed seed a CPU run gives the same weights bit for bit (same thread count),
// and a run killed after a checkpoint and resumed gives the same weights as an uninterrupted one:
// batches depend only on (seed, step) (loader.h) and dropout is reseeded every step.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "pulmo/losses.h"
#include "pulmo/model.h"
#include "pulmo/transforms.h"

namespace pulmo {

enum class OptimizerType : int { Adam, AdamW, Sgd };     // "adam", "adamw", "sgd" in configurations
enum class ScheduleType : int { Constant, Poly, Cosine, Plateau };  // "constant", "poly", "cosine", "plateau"

struct OptimizerOptions {
  OptimizerType type = OptimizerType::Adam;
  double lr = 1e-3;             // initial (peak) learning rate
  double weight_decay = 0.0;    // L2 (adam, sgd) or decoupled (adamw)
  double beta1 = 0.9, beta2 = 0.999;
  double momentum = 0.99;       // sgd
  bool nesterov = true;         // sgd
};

struct ScheduleOptions {
  ScheduleType type = ScheduleType::Poly;
  int64_t warmup_steps = 0;     // linear warm-up from 0
  double poly_power = 0.9;      // poly: lr * (1 - step/steps)^power
  double min_lr = 0.0;          // cosine: floor
  double plateau_factor = 0.5;  // plateau: lr *= factor after `plateau_patience` validations without improvement
  int plateau_patience = 3;
};

struct AugmentOptions {
  bool enabled = true;
  FlipOptions flip;
  SpatialOptions spatial;
  IntensityAugmentOptions intensity;
};

struct TrainOptions {
  NetworkOptions network;
  LossOptions loss;
  OptimizerOptions optimizer;
  ScheduleOptions schedule;
  AugmentOptions augment;
  std::array<int64_t, 3> patch_size{96, 96, 96};  // (x, y, z) voxels; multiples of network_divisor()
  double foreground_probability = 0.33;          // crops centred on foreground
  int batch_size = 2;
  int64_t steps = 1000;                 // optimiser steps in total
  int64_t validate_every = 50;          // steps between validations (and log rows)
  int64_t checkpoint_every = 100;       // steps between checkpoints (0 = only at the end)
  int early_stopping_patience = 0;      // validations without improvement before stopping (0 = never)
  double early_stopping_min_delta = 0.0;
  double grad_clip_norm = 12.0;         // max global gradient norm (0 = no clipping)
  bool amp = true;                      // mixed precision when training on CUDA
  std::string device = "auto";          // "auto" (CUDA when available), "cpu", "cuda"
  uint64_t seed = 0;
  int workers = 2;                      // loader threads
  int prefetch = 4;                     // batches built ahead
  std::string output;                   // model folder; checkpoint.pt, log.csv and curves.png go there too
  bool resume = false;                  // continue from output/checkpoint.pt
  std::string init_from;                // model folder whose weights start the training (fine-tuning); "" = random
  std::string config_json = "{}";       // the full configuration, stored in model.json "training"
  std::ostream* progress = nullptr;     // progress lines (e.g. &std::cerr); nullptr = silent
  double progress_interval_s = 5.0;
};

struct LogRow {
  int64_t step = 0;           // steps done
  double lr = 0, train_loss = 0, validation_dice = 0, best_validation_dice = 0;
  double step_ms = 0, loader_wait_ms = 0, loader_build_ms = 0, elapsed_s = 0;
};

struct TrainResult {
  int64_t steps_done = 0;
  int64_t best_step = -1;
  double best_validation_dice = 0;
  bool early_stopped = false;
  bool resumed = false;
  std::vector<LogRow> log;
};

// Trains on `train` (preprocessed samples: image normalised, label uint8) and validates on
// `validation` (whole volumes, sliding window) with hard Dice of the foreground classes. Writes
// o.output/{model.json, weights.pt} (best validation Dice; the last weights when there is no
// validation set), checkpoint.pt, log.csv and curves.png. `info` describes the model (task,
// spacing, HU window, labels); its network and patch size are taken from `o`.
TrainResult train_segmentation(const TrainOptions& o, ModelInfo info, const std::vector<Sample>& train,
                               const std::vector<Sample>& validation);

// Learning rate at `step` (0-based) of `steps` for schedules that depend only on the step;
// plateau returns lr * plateau_scale.
double scheduled_lr(const OptimizerOptions& opt, const ScheduleOptions& s, int64_t step, int64_t steps,
                    double plateau_scale = 1.0);

// `pulmo train --resume` refuses a configuration that changed since the checkpoint (Error BadConfig):
// the changed keys, "key old -> new", of the stored and the current TrainOptions::config_json, except
// those of kResumeMayChange (docs/training.md). Empty when nothing that matters changed.
std::vector<std::string> resume_config_changes(const std::string& stored_json, const std::string& current_json);
extern const char* const kResumeMayChange[7];

// The log as CSV text (header + one row per validation).
std::string log_csv(const std::vector<LogRow>& log);

// Draws training loss and the validation metric (Dice; box IoU for lung-box models) against steps into an RGB
// PNG (atomic write).
void plot_training_curves(const std::vector<LogRow>& log, const std::string& png_path,
                          const std::string& metric_title = "VALIDATION DICE");

// Trains a lung-box network (task "lung_box", network type boxnet): each step draws `batch_size` random crops of
// the training cases' fields of view (never cutting into the lungs in-plane; up to 30 % of the lungs' height cut
// away in z in a quarter of them), mirrors them left-right with probability augment.flip probability[0], builds
// the network input with box_network_input() and regresses the lungs' box in the grid_fraction frame with an L1
// loss. Samples hold HU images (not normalised) and lung label maps, on any grid. Validation: mean box IoU of the
// whole validation images; stored in LogRow::validation_dice and TrainResult::best_validation_dice. Writes
// model.json, weights.pt (best IoU), log.csv, curves.png; no checkpoint (a run takes minutes).
TrainResult train_lung_box(const TrainOptions& o, ModelInfo info, const std::vector<Sample>& train,
                           const std::vector<Sample>& validation);

// Box IoU of two boxes (x0, y0, z0, x1, y1, z1).
double box_iou(const std::array<double, 6>& a, const std::array<double, 6>& b);

}  // namespace pulmo
