// Volume: voxels plus the geometry that places them in the patient.
//
// AXIS ORDER (stated once, here): `voxels` is a CPU tensor of shape [z, y, x] =
// [geometry.size[2], geometry.size[1], geometry.size[0]], so voxels[k][j][i] is the
// voxel at ITK index (i, j, k). Geometry arrays are in (x, y, z) order.
// A 2-D image is a Volume with one slice (size[2] == 1).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "pulmo/geometry.h"

namespace pulmo {

struct Volume {
  at::Tensor voxels;  // [z, y, x], CPU, contiguous
  Geometry geometry;

  // A volume of `geometry`'s size filled with `value`, of the given dtype.
  static Volume filled(const Geometry& geometry, double value, at::ScalarType dtype = at::kFloat);
  // The same geometry around new voxels (shape must be [z, y, x] of this grid).
  Volume with_voxels(at::Tensor voxels) const;

  bool is_3d() const { return geometry.size[2] > 1; }
  // Throws Error(BadDimension) naming `what_for` when the volume has a single slice.
  void require_3d(const std::string& what_for) const;
  // Throws Error(Internal) when voxels and geometry disagree in shape, or voxels is not CPU/contiguous.
  void check() const;
};

}  // namespace pulmo
