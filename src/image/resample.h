// Resampling between grids in physical space (internal to libpulmo).
#pragma once

#include <ATen/core/Tensor.h>

#include "pulmo/geometry.h"
#include "pulmo/volume.h"

namespace pulmo::image {

// Linear interpolation of `data` [C, z, y, x] (float), which lies on grid `from`, at the voxel centres of grid
// `to` (any spacing, origin and direction on either side). Points outside `from` take the nearest edge value.
// Works slab by slab over `to` so memory stays near the size of the output. Returns float [C, z', y', x'].
at::Tensor resample_linear_onto(const at::Tensor& data, const Geometry& from, const Geometry& to);

// The same voxels stored in the axis order and direction closest to LPS identity (axes permuted and flipped,
// no interpolation): index axis 0 runs towards patient left, 1 towards posterior, 2 towards superior. Oblique
// volumes keep their residual rotation in the direction matrix.
Volume reorient_to_lps(const Volume& volume);

}  // namespace pulmo::image
