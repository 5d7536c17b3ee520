#include "pulmo/volume.h"

#include <ATen/ATen.h>

#include "pulmo/error.h"

namespace pulmo {

Volume Volume::filled(const Geometry& geometry, double value, at::ScalarType dtype) {
  Volume v;
  v.geometry = geometry;
  v.voxels = at::full({geometry.size[2], geometry.size[1], geometry.size[0]}, value, at::TensorOptions().dtype(dtype));
  return v;
}

Volume Volume::with_voxels(at::Tensor voxels) const {
  Volume v;
  v.geometry = geometry;
  v.voxels = voxels.contiguous();
  v.check();
  return v;
}

void Volume::require_3d(const std::string& what_for) const {
  if (!is_3d())
    throw Error(ExitCode::BadDimension, what_for + " needs a 3-D volume, but this image has a single slice (" +
                                            geometry.describe() + ")");
}

void Volume::check() const {
  if (!voxels.defined()) throw Error(ExitCode::Internal, "volume has no voxels");
  if (voxels.dim() != 3 || voxels.size(0) != geometry.size[2] || voxels.size(1) != geometry.size[1] ||
      voxels.size(2) != geometry.size[0])
    throw Error(ExitCode::Internal, "volume tensor shape does not match its geometry " + geometry.describe());
  if (!voxels.device().is_cpu() || !voxels.is_contiguous())
    throw Error(ExitCode::Internal, "volume tensor must be a contiguous CPU tensor");
}

}  // namespace pulmo
