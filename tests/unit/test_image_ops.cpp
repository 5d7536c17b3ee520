// Morphology, connected components, physical resampling and LPS reorientation (src/image).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "image/morphology.h"
#include "image/resample.h"
#include "pulmo/transforms.h"

namespace img = pulmo::image;

TEST(Components, AreLabelledBySizeWithFaceConnectivity) {
  at::Tensor m = at::zeros({3, 5, 5}, at::kByte);
  m.slice(0, 0, 3).slice(1, 0, 2).slice(2, 0, 2).fill_(1);  // 12 voxels
  m[1][4][4] = 1;                                            // 1 voxel
  m[2][3][3] = 1;                                            // diagonal to nothing -> its own
  const img::Components c = img::connected_components(m);
  ASSERT_EQ(c.sizes.size(), 3u);
  EXPECT_EQ(c.sizes[0], 12);
  EXPECT_EQ(c.labels[0][0][0].item<int>(), 1);
  EXPECT_EQ(c.sizes[1], 1);
  EXPECT_EQ(c.labels.gt(0).sum().item<int64_t>(), 14);
}

TEST(Components, InPlaneModeSeparatesSlices) {
  const at::Tensor m = at::ones({4, 3, 3}, at::kByte);
  EXPECT_EQ(img::connected_components(m).sizes.size(), 1u);
  const img::Components c = img::connected_components(m, /*in_plane_only=*/true);
  ASSERT_EQ(c.sizes.size(), 4u);
  EXPECT_EQ(c.sizes[3], 9);
}

TEST(Morphology, KeepLargestComponentsDropsTheSmallOnes) {
  at::Tensor m = at::zeros({1, 10, 10}, at::kByte);
  m[0].slice(0, 0, 3).slice(1, 0, 3).fill_(1);  // 9
  m[0].slice(0, 5, 7).slice(1, 5, 7).fill_(1);  // 4
  m[0][9][0] = 1;                               // 1
  const at::Tensor k = img::keep_largest_components(m, 2);
  EXPECT_EQ(k.sum().item<int64_t>(), 13);
  EXPECT_FALSE(k[0][9][0].item<bool>());
}

TEST(Morphology, FillHolesPerSliceFillsEnclosedBackgroundOnly) {
  at::Tensor m = at::zeros({2, 7, 7}, at::kByte);
  m.slice(1, 1, 6).slice(2, 1, 6).fill_(1);
  m.slice(1, 2, 5).slice(2, 2, 5).fill_(0);  // a 3x3 hole in both slices
  at::Tensor open = m.clone();
  open[1][3][1] = 0;
  // slice 1: the ring is opened at (3, 1), so its hole reaches the border
  const at::Tensor f = img::fill_holes(open, /*per_slice=*/true);
  EXPECT_TRUE(f[0][3][3].item<bool>());   // enclosed in slice 0
  EXPECT_FALSE(f[1][3][3].item<bool>());  // connected to the border in slice 1
}

TEST(Morphology, DilationAndErosionUseTheRadiusPerAxis) {
  at::Tensor m = at::zeros({9, 9, 9}, at::kByte);
  m[4][4][4] = 1;
  const at::Tensor d = img::dilate(m, {0, 2, 2});
  EXPECT_EQ(d[4].sum().item<int64_t>(), 21);  // octagon of radius 2: 5x5 minus 4 corners
  EXPECT_EQ(d.sum().item<int64_t>(), 21);     // no growth along z
  EXPECT_TRUE(img::erode(d, {0, 2, 2})[4][4][4].item<bool>());
  EXPECT_EQ(img::erode(d, {0, 2, 2}).sum().item<int64_t>(), 1);
}

TEST(Morphology, GrowLabelsStaysInsideTheMaskAndSplitsAtTheMiddle) {
  at::Tensor mask = at::ones({1, 1, 10}, at::kByte);
  at::Tensor seeds = at::zeros({1, 1, 10}, at::kByte);
  seeds[0][0][0] = 1;
  seeds[0][0][9] = 2;
  const at::Tensor g = img::grow_labels(seeds, mask);
  EXPECT_EQ(g.eq(1).sum().item<int64_t>(), 5);
  EXPECT_EQ(g.eq(2).sum().item<int64_t>(), 5);
}

TEST(Resample, LinearOntoTheSameGridIsTheIdentity) {
  pulmo::Geometry g;
  g.size = {5, 4, 3};
  g.spacing_mm = {0.7, 0.8, 2.5};
  g.origin_mm = {-10, 20, 30};
  const at::Tensor data = at::rand({2, 3, 4, 5});
  const at::Tensor out = img::resample_linear_onto(data, g, g);
  EXPECT_TRUE(at::allclose(out, data, 1e-5, 1e-5));
}

TEST(Resample, LinearOntoAFlippedGridFollowsPhysicalSpace) {
  pulmo::Geometry g;
  g.size = {6, 1, 1};
  const at::Tensor data = at::arange(6, at::kFloat).view({1, 1, 1, 6});
  pulmo::Geometry flipped = g;  // the same points, x reversed
  flipped.origin_mm = {5, 0, 0};
  flipped.direction = {-1, 0, 0, 0, 1, 0, 0, 0, 1};
  const at::Tensor out = img::resample_linear_onto(data, g, flipped);
  EXPECT_TRUE(at::allclose(out.flatten(), at::arange(5, -1, -1, at::kFloat)));
  pulmo::Geometry half = g;  // points between the voxels
  half.origin_mm = {0.5, 0, 0};
  half.size = {5, 1, 1};
  EXPECT_TRUE(at::allclose(img::resample_linear_onto(data, g, half).flatten(), at::arange(5, at::kFloat) + 0.5));
}

TEST(Reorient, AnRasVolumeBecomesLpsWithTheSameVoxelsInSpace) {
  pulmo::Volume v;
  v.geometry.size = {4, 3, 2};
  v.geometry.spacing_mm = {1, 2, 3};
  v.geometry.origin_mm = {10, 20, 30};
  v.geometry.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};  // RAS storage in LPS terms
  v.voxels = at::arange(24, at::kFloat).view({2, 3, 4});
  const pulmo::Volume r = img::reorient_to_lps(v);
  EXPECT_EQ(r.geometry.orientation_code(), "LPS");
  for (int64_t k = 0; k < 2; ++k)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t i = 0; i < 4; ++i) {
        const pulmo::Vec3 p = v.geometry.index_to_physical({double(i), double(j), double(k)});
        const pulmo::Vec3 q = r.geometry.physical_to_index(p);
        const at::Tensor value = r.voxels[std::llround(q[2])][std::llround(q[1])][std::llround(q[0])];
        EXPECT_EQ(value.item<float>(), v.voxels[k][j][i].item<float>());
      }
}

TEST(BoxFrame, MaskBoxFractionsUseOuterVoxelEdges) {
  at::Tensor m = at::zeros({10, 20, 40}, at::kByte);  // z, y, x
  m.slice(0, 2, 5).slice(1, 10, 20).slice(2, 0, 4).fill_(1);
  const std::array<double, 6> b = pulmo::mask_box_fractions(m);
  EXPECT_DOUBLE_EQ(b[0], 0.0);
  EXPECT_DOUBLE_EQ(b[3], 0.1);   // x: voxels 0..3 of 40
  EXPECT_DOUBLE_EQ(b[1], 0.5);
  EXPECT_DOUBLE_EQ(b[4], 1.0);   // y: 10..19 of 20
  EXPECT_DOUBLE_EQ(b[2], 0.2);
  EXPECT_DOUBLE_EQ(b[5], 0.5);   // z: 2..4 of 10
}
