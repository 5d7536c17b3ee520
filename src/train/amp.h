// Mixed precision for the segmentation trainer (CUDA): dynamic loss scaling as
// torch.cuda.amp.GradScaler does it. Private to src/train.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace pulmo {

// The dynamic loss scale: the loss is multiplied by `scale` before backward; the scale halves after a step
// with an inf/nan gradient (that step is skipped) and doubles after every kLossScaleGrowthInterval finite steps.
struct LossScale {
  double scale = 65536.0;
  int64_t good_steps = 0;  // finite steps since the scale last changed, or since the start
};
constexpr int64_t kLossScaleGrowthInterval = 2000;

// Divides the gradients of `params` (those defined) by s.scale in place and checks them for inf/nan in one fused
// operation with a single device synchronisation (on CUDA, at::_amp_foreach_non_finite_check_and_unscale_, which
// LibTorch 1.13 and 2.x both have; elsewhere one stacked all-finite reduction). Then updates `s`. True when every
// gradient is finite and the optimiser step should be applied.
bool unscale_gradients(const std::vector<at::Tensor>& params, LossScale& s);

}  // namespace pulmo
