// Geometry of a voxel grid in physical space, exactly as ITK defines it.
//
// Physical space is LPS (DICOM patient space): +x towards the patient's Left,
// +y towards Posterior, +z towards Superior, in millimetres.
// All per-axis arrays here are in ITK index order (x, y, z) = (column, row, slice).
// (The voxel tensor of a Volume is stored the other way round, [z, y, x]; see volume.h.)
//
//   physical = origin_mm + direction * diag(spacing_mm) * index
//
// `direction` is row-major; its column j is the unit vector of index axis j in LPS.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace pulmo {

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<double, 9>;  // row-major 3x3

struct Geometry {
  std::array<int64_t, 3> size{0, 0, 0};  // voxels along x, y, z
  Vec3 spacing_mm{1.0, 1.0, 1.0};
  Vec3 origin_mm{0.0, 0.0, 0.0};         // LPS position of the centre of voxel (0, 0, 0)
  Mat3 direction{1, 0, 0, 0, 1, 0, 0, 0, 1};

  int64_t num_voxels() const { return size[0] * size[1] * size[2]; }
  double voxel_volume_ml() const { return spacing_mm[0] * spacing_mm[1] * spacing_mm[2] / 1000.0; }

  // Continuous index (x, y, z) -> LPS point in mm, and back.
  Vec3 index_to_physical(const Vec3& index) const;
  Vec3 physical_to_index(const Vec3& point_mm) const;

  // Unit vector of index axis `axis` (0 = x, 1 = y, 2 = z) in LPS.
  Vec3 axis_direction(int axis) const { return {direction[axis], direction[3 + axis], direction[6 + axis]}; }

  // Three letters naming where each index axis points *towards* (the nibabel /
  // DICOM convention): identity direction -> "LPS"; a NIfTI with a diagonal
  // positive RAS affine -> "RAS". Oblique axes take their dominant component.
  std::string orientation_code() const;

  // True when every voxel centre of both grids lies at the same physical point
  // (within tol_mm) - grids stored with flipped axes are *not* the same grid.
  bool same_grid_as(const Geometry& other, double tol_mm = 1e-3) const;

  // The 8 corner voxel centres of the grid agree (within tol_mm), in any order:
  // the same physical box, possibly stored with axes flipped or permuted.
  bool same_physical_box_as(const Geometry& other, double tol_mm = 1e-3) const;

  // Determinant-free check that direction is orthonormal (within tol).
  bool direction_is_orthonormal(double tol = 1e-4) const;

  // One line: "512x512x20 voxels, 0.977x0.977x2 mm, LPS, origin (-249.5, -437.5, -804.5)".
  std::string describe() const;
};

}  // namespace pulmo
