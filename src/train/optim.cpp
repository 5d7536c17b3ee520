// The optimiser and learning-rate schedule factory, shared by the segmentation, lung-box and chest X-ray trainers.
#include <torch/optim.h>

#include <algorithm>
#include <cmath>

#include "pulmo/error.h"
#include "pulmo/train.h"
#include "train/internal.h"

namespace pulmo {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& o, std::vector<at::Tensor> params) {
  switch (o.type) {
    case OptimizerType::Adam:
      return std::make_unique<torch::optim::Adam>(
          params, torch::optim::AdamOptions(o.lr).betas(std::make_tuple(o.beta1, o.beta2)).weight_decay(o.weight_decay));
    case OptimizerType::AdamW:
      return std::make_unique<torch::optim::AdamW>(
          params, torch::optim::AdamWOptions(o.lr).betas(std::make_tuple(o.beta1, o.beta2)).weight_decay(o.weight_decay));
    case OptimizerType::Sgd:
      return std::make_unique<torch::optim::SGD>(
          params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov).weight_decay(o.weight_decay));
  }
  throw Error(ExitCode::BadConfig, "unknown optimizer (" + std::to_string(static_cast<int>(o.type)) + ")");
}

double scheduled_lr(const OptimizerOptions& opt, const ScheduleOptions& s, int64_t step, int64_t steps, double plateau_scale) {
  double lr = opt.lr;
  if (s.warmup_steps > 0 && step < s.warmup_steps) return lr * double(step + 1) / double(s.warmup_steps);
  const double t = steps > s.warmup_steps ? double(step - s.warmup_steps) / double(steps - s.warmup_steps) : 1.0;
  switch (s.type) {
    case ScheduleType::Constant: return lr;
    case ScheduleType::Poly: return lr * std::pow(std::max(0.0, 1.0 - t), s.poly_power);
    case ScheduleType::Cosine: return s.min_lr + 0.5 * (lr - s.min_lr) * (1.0 + std::cos(M_PI * std::min(1.0, t)));
    case ScheduleType::Plateau: return lr * plateau_scale;
  }
  throw Error(ExitCode::BadConfig, "unknown schedule (" + std::to_string(static_cast<int>(s.type)) + ")");
}

}  // namespace pulmo
