// Pieces of the training engine shared by its loops (segmentation, lung box) and by the chest X-ray trainer
// (src/cxr/); internal to libpulmo.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

#include "core/duration.h"
#include "pulmo/train.h"

namespace pulmo {

// The optimiser `o` names over `params` (train/optim.cpp, with scheduled_lr). Throws Error(BadConfig) for an unknown
// type.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& o, std::vector<at::Tensor> params);

// A test hook: train_segmentation() that stops abruptly before `step`, writing nothing more, as a kill would (the
// checkpoints written before stay). True when it stopped there (false when training ended first).
bool train_segmentation_killed_before(int64_t step, const TrainOptions& o, ModelInfo info,
                                      const std::vector<Sample>& train, const std::vector<Sample>& validation);

}  // namespace pulmo
