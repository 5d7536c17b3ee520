// Mixed precision: dynamic loss scaling with one fused inf/nan check over all gradients.
#include "train/amp.h"

#include <torch/version.h>

namespace pulmo {

namespace {

// Unscales `grads` in place; true when all are finite. One host-device synchronisation, whatever their number.
bool unscale_and_check(const std::vector<at::Tensor>& grads, double scale) {
  if (grads.empty()) return true;
  const at::Device device = grads.front().device();
  bool same_device = true;
  for (const at::Tensor& g : grads) same_device = same_device && g.device() == device;
  if (device.is_cuda() && same_device) {
    // The fused kernel multiplies by 1/scale: the same bits as a division, the scale being a power of two.
    const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat).device(device);
    at::Tensor found_inf = at::zeros({1}, f32);
    const at::Tensor inv_scale = at::full({1}, 1.0 / scale, f32);
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale);
    return found_inf.item<float>() == 0.0f;
  }
  // The fused CUDA kernel has no CPU version in LibTorch 1.13: per-gradient checks, reduced on the device.
  std::vector<at::Tensor> finite;
  finite.reserve(grads.size());
  for (const at::Tensor& g : grads) {
    at::Tensor t = g;  // shares the gradient's storage
    t.div_(scale);
    finite.push_back(at::isfinite(t).all().to(device));
  }
  return at::stack(finite).all().item<bool>();
}

}  // namespace

bool unscale_gradients(const std::vector<at::Tensor>& params, LossScale& s) {
  std::vector<at::Tensor> grads;
  grads.reserve(params.size());
  for (const at::Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  const bool finite = unscale_and_check(grads, s.scale);
  if (!finite) {
    s.scale /= 2;
    s.good_steps = 0;
  } else if (++s.good_steps % kLossScaleGrowthInterval == 0) {
    s.scale *= 2;
  }
  return finite;
}

}  // namespace pulmo
