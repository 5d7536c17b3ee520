// Pieces of the training engine shared by its loops (segmentation, lung box); internal to src/train.
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

#include "core/duration.h"
#include "pulmo/train.h"

namespace pulmo {

// The optimiser `o` names over `params`. Throws Error(BadConfig) for an unknown type.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& o, std::vector<at::Tensor> params);


}  // namespace pulmo
