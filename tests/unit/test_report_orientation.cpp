// The pictures of a report show the patient the same way whatever the storage order of the volume.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "image/canvas.h"
#include "pulmo/report.h"
#include "report/render.h"

using namespace pulmo;
using report_detail::RenderOptions;

namespace {

// A 12 x 10 x 6 LPS volume of 1 x 1.5 x 2 mm whose every voxel differs, with a bright marker in the patient's
// right, anterior, superior corner (index 0, 0, 5), a right lung (label 1) on the right half and a left lung
// on the left half, lesions in a few voxels.
struct Scene {
  Volume ct, lungs, lesions;
};

Scene lps_scene() {
  Geometry g;
  g.size = {12, 10, 6};
  g.spacing_mm = {1, 1.5, 2};
  g.origin_mm = {-6, -7, 20};
  const at::Tensor k = at::arange(6, at::kFloat).view({6, 1, 1}), j = at::arange(10, at::kFloat).view({1, 10, 1}),
                   i = at::arange(12, at::kFloat).view({1, 1, 12});
  Scene s;
  s.ct = Volume::filled(g, 0).with_voxels((-1000 + 7 * i + 31 * j + 3 * k).contiguous());
  s.ct.voxels[5][0][0] = 150.f;  // marker: patient right, anterior, superior
  s.lungs = Volume::filled(g, 0, at::kByte);
  s.lungs.voxels.narrow(1, 2, 6).narrow(2, 1, 5).fill_(1);
  s.lungs.voxels.narrow(1, 2, 6).narrow(2, 6, 5).fill_(2);
  s.lesions = Volume::filled(g, 0, at::kByte);
  s.lesions.voxels.narrow(1, 3, 2).narrow(2, 2, 2).fill_(1);
  s.lesions.voxels.narrow(1, 6, 2).narrow(2, 8, 2).fill_(2);
  return s;
}

// The same patient stored with index axes x and/or y reversed (RAS: both; LAS: y only).
Volume flipped(const Volume& v, bool flip_x, bool flip_y) {
  Geometry g = v.geometry;
  std::vector<int64_t> dims;
  if (flip_x) dims.push_back(2);
  if (flip_y) dims.push_back(1);
  const Vec3 far_corner = g.index_to_physical({flip_x ? double(g.size[0] - 1) : 0, flip_y ? double(g.size[1] - 1) : 0, 0});
  g.origin_mm = far_corner;
  if (flip_x) g.direction[0] = -g.direction[0], g.direction[3] = -g.direction[3], g.direction[6] = -g.direction[6];
  if (flip_y) g.direction[1] = -g.direction[1], g.direction[4] = -g.direction[4], g.direction[7] = -g.direction[7];
  return Volume{v.voxels.flip(dims).contiguous(), g};
}

// The same patient stored with index axes x and y exchanged (rows run left-right).
Volume transposed(const Volume& v) {
  Geometry g = v.geometry;
  std::swap(g.size[0], g.size[1]);
  std::swap(g.spacing_mm[0], g.spacing_mm[1]);
  g.direction = {0, 1, 0, 1, 0, 0, 0, 0, 1};
  return Volume{v.voxels.transpose(1, 2).contiguous(), g};
}

Scene apply(const Scene& s, const std::function<Volume(const Volume&)>& f) { return {f(s.ct), f(s.lungs), f(s.lesions)}; }

draw::Canvas picture(const Scene& s, Plane plane, int64_t k) {
  RenderOptions o;
  o.caption = false;  // the caption names the storage index
  return report_detail::render_slice(s.ct, s.lungs, s.lesions, plane, k, o);
}

}  // namespace

TEST(ReportOrientation, TheStorageOrderDoesNotChangeThePictures) {
  const Scene lps = lps_scene();
  const Scene ras = apply(lps, [](const Volume& v) { return flipped(v, true, true); });
  const Scene las = apply(lps, [](const Volume& v) { return flipped(v, false, true); });
  const Scene plsish = apply(lps, transposed);
  ASSERT_EQ(ras.ct.geometry.orientation_code(), "RAS");
  ASSERT_EQ(las.ct.geometry.orientation_code(), "LAS");
  ASSERT_TRUE(ras.ct.geometry.same_physical_box_as(lps.ct.geometry));
  for (int64_t k : {0, 3, 5}) {
    const auto want = picture(lps, Plane::Axial, k).pixels();
    EXPECT_TRUE(picture(ras, Plane::Axial, k).pixels() == want) << "RAS axial " << k;
    EXPECT_TRUE(picture(las, Plane::Axial, k).pixels() == want) << "LAS axial " << k;
    EXPECT_TRUE(picture(plsish, Plane::Axial, k).pixels() == want) << "transposed axial " << k;
  }
  for (int64_t j : {2, 7}) {  // coronal slices count along y, which RAS and LAS store reversed
    const auto want = picture(lps, Plane::Coronal, j).pixels();
    EXPECT_TRUE(picture(ras, Plane::Coronal, 9 - j).pixels() == want) << "RAS coronal " << j;
    EXPECT_TRUE(picture(las, Plane::Coronal, 9 - j).pixels() == want) << "LAS coronal " << j;
    EXPECT_TRUE(picture(plsish, Plane::Coronal, j).pixels() == want) << "transposed coronal " << j;
  }
  const auto sagittal = picture(lps, Plane::Sagittal, 4).pixels();
  EXPECT_TRUE(picture(ras, Plane::Sagittal, 7).pixels() == sagittal);
}

TEST(ReportOrientation, AxialShowsThePatientsRightOnTheLeftAndAnteriorAtTheTop) {
  const Scene lps = lps_scene();
  RenderOptions o;
  o.caption = o.legend = false;
  const draw::Canvas axial = report_detail::render_slice(lps.ct, lps.lungs, lps.lesions, Plane::Axial, 5, o);
  // 12 mm x 15 mm: 336 x 420 pixels; the marker voxel (right, anterior) is the top-left 28 x 28 pixels.
  ASSERT_EQ(axial.width(), 336);
  ASSERT_EQ(axial.height(), 420);
  EXPECT_EQ(axial.at(5, 5).r, 255);                    // 150 HU: white in the lung window
  EXPECT_LT(axial.at(axial.width() - 5, 5).r, 130);   // the patient's left, anterior: grey (at most -629 HU)
  EXPECT_LT(axial.at(5, axial.height() - 5).r, 130);  // right, posterior: grey
}

TEST(ReportOrientation, CoronalShowsSuperiorAtTheTopWithPixelsSquareInMillimetres) {
  const Scene lps = lps_scene();
  RenderOptions o;
  o.caption = o.legend = false;
  const draw::Canvas coronal = report_detail::render_slice(lps.ct, lps.lungs, lps.lesions, Plane::Coronal, 0, o);
  // 12 mm wide, 12 mm tall (6 slices of 2 mm): square.
  EXPECT_EQ(coronal.width(), coronal.height());
  EXPECT_EQ(coronal.at(5, 5).r, 255);                      // right, superior corner holds the marker
  EXPECT_LT(coronal.at(5, coronal.height() - 5).r, 130);   // right, inferior: grey
}

TEST(ReportOrientation, LettersNameThePatientSidesOfEachPlane) {
  const Geometry g = lps_scene().ct.geometry;
  const auto axial = report_detail::plane_axes(g, Plane::Axial);
  EXPECT_STREQ(axial.left, "R");
  EXPECT_STREQ(axial.top, "A");
  const auto coronal = report_detail::plane_axes(g, Plane::Coronal);
  EXPECT_STREQ(coronal.left, "R");
  EXPECT_STREQ(coronal.top, "S");
  EXPECT_TRUE(coronal.flip_vertical);  // LPS z grows superior; the picture runs down
  EXPECT_EQ(slice_axis(g, Plane::Coronal), 1);
}

TEST(ReportOrientation, AnObliqueVolumeIsShownAlongItsClosestPatientAxes) {
  Geometry g = lps_scene().ct.geometry;
  const double c = std::cos(0.5), s = std::sin(0.5);  // 28.6 degrees about the slice normal, then x reversed
  g.direction = {-c, -s, 0, -s, c, 0, 0, 0, 1};
  const report_detail::AxisMatch m = report_detail::match_axes(g);
  EXPECT_EQ(m.index_axis[0], 0);  // L <- x, reversed
  EXPECT_EQ(m.sign[0], -1);
  EXPECT_EQ(m.index_axis[1], 1);  // P <- y
  EXPECT_EQ(m.sign[1], 1);
  const auto axial = report_detail::plane_axes(g, Plane::Axial);
  EXPECT_TRUE(axial.flip_horizontal);
  EXPECT_FALSE(axial.flip_vertical);
}
