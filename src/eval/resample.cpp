// Nearest-neighbour resampling of a label map into another grid (for --resample-prediction).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>

#include "pulmo/eval.h"

namespace pulmo {

Volume resample_labels_nearest(const Volume& labels, const Geometry& target) {
  const Geometry& g = labels.geometry;
  // moving continuous index = physical_to_index(index_to_physical(target index)): affine in the target index.
  const Vec3 base = g.physical_to_index(target.index_to_physical({0, 0, 0}));
  Vec3 step[3];
  for (int a = 0; a < 3; ++a) {
    Vec3 unit{0, 0, 0};
    unit[a] = 1.0;
    const Vec3 p = g.physical_to_index(target.index_to_physical(unit));
    for (int k = 0; k < 3; ++k) step[a][k] = p[k] - base[k];
  }
  const at::Tensor src = labels.voxels.to(at::kFloat).contiguous();
  at::Tensor dst = at::zeros({target.size[2], target.size[1], target.size[0]}, at::kFloat);
  const float* in = src.data_ptr<float>();
  float* out = dst.data_ptr<float>();
  const int64_t nx = g.size[0], ny = g.size[1], nz = g.size[2];
  at::parallel_for(0, target.size[2], 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k)
      for (int64_t j = 0; j < target.size[1]; ++j)
        for (int64_t i = 0; i < target.size[0]; ++i) {
          int64_t m[3];
          for (int c = 0; c < 3; ++c)
            m[c] = static_cast<int64_t>(std::floor(base[c] + i * step[0][c] + j * step[1][c] + k * step[2][c] + 0.5));
          if (m[0] < 0 || m[1] < 0 || m[2] < 0 || m[0] >= nx || m[1] >= ny || m[2] >= nz) continue;
          out[(k * target.size[1] + j) * target.size[0] + i] = in[(m[2] * ny + m[1]) * nx + m[0]];
        }
  });
  Volume v;
  v.geometry = target;
  v.voxels = dst.to(labels.voxels.scalar_type());
  return v;
}

}  // namespace pulmo
