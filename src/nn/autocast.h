// Autocast on and off, the one place that knows how LibTorch spells it (the API moved in LibTorch 2.4).
// Internal to libpulmo: the trainer's mixed precision (CUDA, float16) and bfloat16 inference use it.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include <optional>

namespace pulmo {

// Turns autocast for `device` (kCPU or kCUDA) on or off; `dtype` (when given) is the lower precision it casts to.
// Turning it off also clears the autocast weight cache.
void set_autocast(c10::DeviceType device, bool on, std::optional<c10::ScalarType> dtype = std::nullopt);

}  // namespace pulmo
