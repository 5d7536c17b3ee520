#include "nn/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace pulmo {

void set_autocast(c10::DeviceType device, bool on, std::optional<c10::ScalarType> dtype) {
  const bool cuda = device == c10::DeviceType::CUDA;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  if (dtype) at::autocast::set_autocast_dtype(device, *dtype);
  at::autocast::set_autocast_enabled(device, on);
#else
  if (cuda) {
    if (dtype) at::autocast::set_autocast_gpu_dtype(*dtype);
    at::autocast::set_enabled(on);
  } else {
    if (dtype) at::autocast::set_autocast_cpu_dtype(*dtype);
    at::autocast::set_cpu_enabled(on);
  }
#endif
  if (!on) at::autocast::clear_cache();
}

}  // namespace pulmo
