// Checkpoints of the segmentation trainer (output/checkpoint.pt): weights, optimiser moments, the loop's state and
// the configuration they were made with, for an exact resume. Private to src/train.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pulmo/train.h"
#include "train/amp.h"

namespace pulmo {

// Everything besides weights and optimiser moments that a resumed run needs.
struct LoopState {
  int64_t step = 0;                  // steps done
  double best_dice = -1;
  int64_t best_step = -1;
  int bad_validations = 0;           // early stopping counter
  double plateau_scale = 1.0;
  int plateau_bad = 0;
  double loss_sum = 0;               // since the last validation
  int64_t loss_count = 0;
  double wait_ms = 0, build_ms = 0, step_ms = 0;  // since the last validation
  LossScale amp;                     // mixed precision's loss scale
  double elapsed_s = 0;              // of earlier runs
  bool finished = false;
  std::vector<LogRow> log;
};

// Writes `path` atomically: the weights of `net`, the moments of `optimizer`, `state` and `config_json`
// (TrainOptions::config_json). Error(WriteFailed) when it cannot.
void save_checkpoint(const std::string& path, const torch::nn::Module& net, const torch::optim::Optimizer& optimizer,
                     const LoopState& state, const std::string& config_json);

// Loads `path` into `net`, `optimizer` and `state` (mapped onto `device`). False when there is no such file.
// Error(BadConfig) when the stored configuration differs from `config_json` in a key that may not change on resume
// (resume_config_changes), when the weights or moments do not fit, or when the state is unreadable.
bool load_checkpoint(const std::string& path, const at::Device& device, const std::string& config_json,
                     torch::nn::Module& net, torch::optim::Optimizer& optimizer, LoopState& state);

}  // namespace pulmo
