#include <gtest/gtest.h>

#include "pulmo/geometry.h"

using pulmo::Geometry;
using pulmo::Vec3;

namespace {
Geometry oblique() {
  Geometry g;
  g.size = {10, 20, 30};
  g.spacing_mm = {0.5, 0.75, 2.0};
  g.origin_mm = {-100.0, 50.0, 12.5};
  // 30 degrees about z, then the slice axis reversed: a non-identity, left-handed direction.
  const double c = std::cos(M_PI / 6), s = std::sin(M_PI / 6);
  g.direction = {c, -s, 0, s, c, 0, 0, 0, -1};
  return g;
}
}  // namespace

TEST(Geometry, IndexToPhysicalFollowsItkFormula) {
  const Geometry g = oblique();
  const Vec3 p = g.index_to_physical({2, 3, 4});
  // origin + D * diag(spacing) * index
  const double c = std::cos(M_PI / 6), s = std::sin(M_PI / 6);
  EXPECT_NEAR(p[0], -100.0 + c * 1.0 - s * 2.25, 1e-12);
  EXPECT_NEAR(p[1], 50.0 + s * 1.0 + c * 2.25, 1e-12);
  EXPECT_NEAR(p[2], 12.5 - 8.0, 1e-12);
}

TEST(Geometry, PhysicalToIndexInvertsIndexToPhysical) {
  const Geometry g = oblique();
  const Vec3 idx{1.25, -3.5, 17.0};
  const Vec3 back = g.physical_to_index(g.index_to_physical(idx));
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(back[k], idx[k], 1e-10);
}

TEST(Geometry, VoxelVolumeIsInMillilitres) {
  Geometry g;
  g.spacing_mm = {0.5, 0.5, 4.0};
  EXPECT_DOUBLE_EQ(g.voxel_volume_ml(), 0.001);
}

TEST(Geometry, OrientationCodeNamesWhereEachAxisPoints) {
  Geometry g;
  EXPECT_EQ(g.orientation_code(), "LPS");
  g.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
  EXPECT_EQ(g.orientation_code(), "RAS");
  g.direction = {1, 0, 0, 0, -1, 0, 0, 0, 1};
  EXPECT_EQ(g.orientation_code(), "LAS");
  g.direction = {1, 0, 0, 0, 0, 1, 0, -1, 0};  // coronal DICOM slice: rows L, columns I
  EXPECT_EQ(g.orientation_code(), "LIP");
}

TEST(Geometry, FlippedStorageIsTheSameBoxButNotTheSameGrid) {
  Geometry a;
  a.size = {4, 5, 6};
  a.spacing_mm = {1, 2, 3};
  Geometry b = a;
  b.direction = {1, 0, 0, 0, -1, 0, 0, 0, 1};
  b.origin_mm = {0, 2.0 * 4, 0};  // y reversed: index 0 of b is index 4 of a
  EXPECT_FALSE(a.same_grid_as(b));
  EXPECT_TRUE(a.same_physical_box_as(b));
  EXPECT_TRUE(a.same_grid_as(a));
  EXPECT_TRUE(oblique().direction_is_orthonormal());
}
