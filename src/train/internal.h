// Internal to libpulmo: pieces of the training engine shared by the segmentation trainer (trainer.cpp)
// and the chest X-ray trainer (src/cxr/).
#pragma once

#include <nlohmann/json.hpp>
#include <torch/optim.h>

#include <memory>
#include <vector>

#include "pulmo/train.h"

namespace pulmo {

// The optimiser of `o` ("adam", "adamw", "sgd") over `params`. Throws Error(BadConfig) for another type.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& o, std::vector<at::Tensor> params);

// YAML (yaml = true) or JSON text as JSON (YAML scalars typed: numbers, booleans, quoted strings stay strings).
// Error(BadConfig) naming `where` when it does not parse.
nlohmann::json parse_yaml_or_json(const std::string& text, bool yaml, const std::string& where);

}  // namespace pulmo
