// Internal to src/synth: smooth noise fields for the phantoms (a pure function of the seed; core/random.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/random.h"

namespace pulmo::synth {

// Value noise on a lattice of `cell_mm`, smoothstep-interpolated: a smooth field in [-1, 1]
// over a box of extent_mm (x, y, z) starting at 0.
class Noise3 {
 public:
  Noise3(uint64_t seed, const double extent_mm[3], double cell_mm) : cell_(cell_mm) {
    for (int a = 0; a < 3; ++a) n_[a] = static_cast<int>(std::ceil(extent_mm[a] / cell_mm)) + 2;
    values_.resize(static_cast<size_t>(n_[0]) * n_[1] * n_[2]);
    for (size_t i = 0; i < values_.size(); ++i) values_[i] = static_cast<float>(2.0 * to_unit(hash2(seed, i)) - 1.0);
  }
  float at(double x_mm, double y_mm, double z_mm) const {
    const double fx = clampf(x_mm / cell_, 0), fy = clampf(y_mm / cell_, 1), fz = clampf(z_mm / cell_, 2);
    const int ix = static_cast<int>(fx), iy = static_cast<int>(fy), iz = static_cast<int>(fz);
    const float tx = smooth(fx - ix), ty = smooth(fy - iy), tz = smooth(fz - iz);
    const size_t sx = 1, sy = n_[0], sz = static_cast<size_t>(n_[0]) * n_[1];
    const float* p = values_.data() + ix * sx + iy * sy + iz * sz;
    const float c00 = p[0] + tx * (p[sx] - p[0]), c10 = p[sy] + tx * (p[sy + sx] - p[sy]);
    const float c01 = p[sz] + tx * (p[sz + sx] - p[sz]), c11 = p[sz + sy] + tx * (p[sz + sy + sx] - p[sz + sy]);
    const float c0 = c00 + ty * (c10 - c00), c1 = c01 + ty * (c11 - c01);
    return c0 + tz * (c1 - c0);
  }

 private:
  static float smooth(double t) { return static_cast<float>(t * t * (3.0 - 2.0 * t)); }
  double clampf(double f, int axis) const { return std::min(std::max(f, 0.0), n_[axis] - 2.000001); }
  double cell_;
  int n_[3];
  std::vector<float> values_;
};

}  // namespace pulmo::synth
