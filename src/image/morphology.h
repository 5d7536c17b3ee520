// Binary morphology and connected components on [z, y, x] masks (internal to libpulmo).
// Masks are bool or uint8 tensors (non-zero = foreground), CPU, contiguous; results are bool unless stated.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

#include "pulmo/geometry.h"

namespace pulmo::image {

// Connected components with 6-connectivity (face neighbours) in 3-D; `in_plane_only` labels each axial
// slice (first tensor dimension) on its own with 4-connectivity. Labels are int32, 0 = background,
// 1..n ordered by decreasing size (ties: first voxel in memory order first).
struct Components {
  at::Tensor labels;            // int32 [z, y, x]
  std::vector<int64_t> sizes;   // sizes[i] = voxels of label i + 1
};
Components connected_components(const at::Tensor& mask, bool in_plane_only = false);

// The union of the `k` largest components (6-connectivity).
at::Tensor keep_largest_components(const at::Tensor& mask, int k);

// Holes filled: background regions not connected to the border. `per_slice`: each axial slice on its own
// (2-D holes, the usual way to fill vessels in lung masks); otherwise in 3-D.
// `max_hole_voxels` > 0 fills only holes of at most that many voxels.
at::Tensor fill_holes(const at::Tensor& mask, bool per_slice, int64_t max_hole_voxels = 0);

// Radius in voxels per tensor dimension (z, y, x) of `radius_mm` for a geometry's spacing (x, y, z).
std::array<int64_t, 3> radius_voxels(double radius_mm, const Vec3& spacing_mm);

// Dilation / erosion by an octagon-like structuring element of `radius` voxels per dimension (z, y, x):
// alternate face-neighbour and full 3x3x3 steps, an axis taking part only while its radius lasts.
// Outside the volume counts as background for both. close(): dilate, then erode with the outside counted as
// foreground, so a closing never removes a voxel (also where a mask touches the image border).
at::Tensor dilate(const at::Tensor& mask, const std::array<int64_t, 3>& radius);
at::Tensor erode(const at::Tensor& mask, const std::array<int64_t, 3>& radius);
at::Tensor close(const at::Tensor& mask, const std::array<int64_t, 3>& radius);

// Grows the labels of `seeds` (uint8, 0 = none) into `mask` one face-neighbour step at a time (geodesic,
// no step leaves the mask), until nothing changes or `max_steps` steps; a voxel reached by two labels at
// the same step takes the smaller label. Returns uint8; mask voxels never reached stay 0.
at::Tensor grow_labels(const at::Tensor& seeds, const at::Tensor& mask, int64_t max_steps = 1 << 30);

}  // namespace pulmo::image
