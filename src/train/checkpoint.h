// Checkpoints of the training engine: weights, optimiser moments, the loop's state and the configuration they were
// made with, for an exact resume. The file format and the configuration check are shared by the segmentation trainer
// (output/checkpoint.pt, the LoopState below) and the chest X-ray trainer (src/cxr/train.cpp, one file per fit).
// Internal to libpulmo.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pulmo/train.h"
#include "train/amp.h"

namespace pulmo {

// What a resumed run may change in the configuration stored with its checkpoint.
struct ResumeRules {
  std::vector<std::string> keys;  // JSON paths in the config_json that may differ ("config.training.steps")
  std::string listed;             // how a refusal names them for the user
};
// The rules of the segmentation trainer (kResumeMayChange, docs/training.md).
const ResumeRules& segmentation_resume_rules();

// resume_config_changes (pulmo/train.h) with the keys of `rules`.
std::vector<std::string> resume_config_changes(const std::string& stored_json, const std::string& current_json,
                                               const ResumeRules& rules);

// What a checkpoint holds besides the weights and the optimiser: the loop's own state (JSON text) and named blobs
// of bytes (e.g. the serialised best weights so far).
struct CheckpointData {
  std::string state_json = "{}";
  std::map<std::string, std::string> blobs;
  bool has_optimizer = false;  // set by load_checkpoint_file
};

// Writes `path` atomically (a temporary name, checked, then renamed; a SIGINT removes the temporary): the weights of
// `net`, the moments of `optimizer` (none when nullptr), `data` and `config_json`. Error(WriteFailed) when it cannot.
void save_checkpoint_file(const std::string& path, const torch::nn::Module& net, const torch::optim::Optimizer* optimizer,
                          const CheckpointData& data, const std::string& config_json);

// Loads `path` into `net`, `optimizer` (when the file has moments and `optimizer` is given) and `data` (mapped onto
// `device`). False when there is no such file. Error(BadConfig) when the stored configuration differs from
// `config_json` in a key `rules` does not allow (every changed key named with its old and new value), when the
// weights or moments do not fit, or when the file is unreadable.
bool load_checkpoint_file(const std::string& path, const at::Device& device, const std::string& config_json,
                          const ResumeRules& rules, torch::nn::Module& net, torch::optim::Optimizer* optimizer,
                          CheckpointData& data);

// ---- the segmentation trainer ------------------------------------------------------------------------------

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

// save_checkpoint_file with `state` and the optimiser.
void save_checkpoint(const std::string& path, const torch::nn::Module& net, const torch::optim::Optimizer& optimizer,
                     const LoopState& state, const std::string& config_json);

// load_checkpoint_file with segmentation_resume_rules(); Error(BadConfig) also when the file has no optimiser moments.
bool load_checkpoint(const std::string& path, const at::Device& device, const std::string& config_json,
                     torch::nn::Module& net, torch::optim::Optimizer& optimizer, LoopState& state);

}  // namespace pulmo
