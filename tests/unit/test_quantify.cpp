#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "pulmo/error.h"
#include "pulmo/pipeline.h"
#include "pulmo/quantify.h"
#include "pulmo/synth.h"

using namespace pulmo;

namespace {

// 10 x 4 x 2 voxels of 2 x 2 x 2.5 mm = 0.01 mL each. CT -900 HU everywhere, labels 0.
struct Case {
  Geometry g;
  Volume ct, lungs, lesions;
  Case() {
    g.size = {10, 4, 2};
    g.spacing_mm = {2, 2, 2.5};
    ct = Volume::filled(g, -900);
    lungs = Volume::filled(g, 0, at::kByte);
    lesions = Volume::filled(g, 0, at::kByte);
  }
  void set(int64_t i, int64_t j, int64_t k, uint8_t lung, uint8_t lesion, float hu) {
    lungs.voxels[k][j][i] = lung;
    lesions.voxels[k][j][i] = lesion;
    ct.voxels[k][j][i] = hu;
  }
};

// Right lung: the 10 voxels of row j = 0 in slice 0, HU -1000, -900, ..., -100; two ground-glass, one
// consolidation. Left lung: the 20 voxels of rows 0-1 in slice 1, HU -800; five ground-glass.
// One lesion voxel outside the lungs, which is not counted.
Case known_case() {
  Case c;
  for (int i = 0; i < 10; ++i) c.set(i, 0, 0, 1, 0, -1000.f + 100.f * i);
  c.set(0, 0, 0, 1, 1, -1000.f);
  c.set(1, 0, 0, 1, 1, -900.f);
  c.set(9, 0, 0, 1, 2, -100.f);
  for (int j = 0; j < 2; ++j)
    for (int i = 0; i < 10; ++i) c.set(i, j, 1, 2, i < 5 && j == 0 ? 1 : 0, -800.f);
  c.set(5, 3, 0, 0, 1, 0.f);
  return c;
}

void expect_no_nan(const Quantification& q) {
  for (const auto& r : q.regions) {
    for (double v : {r.lung_ml, r.lesion_ml, r.ground_glass_ml, r.consolidation_ml, r.involved_percent,
                     r.density.mean_hu, r.density.std_hu})
      EXPECT_TRUE(std::isfinite(v)) << r.name;
    for (const auto& p : r.density.percentiles) EXPECT_TRUE(std::isfinite(p.second)) << r.name;
    for (const auto& b : r.density.band_percent) EXPECT_TRUE(std::isfinite(b.second)) << r.name;
  }
  for (const auto& s : q.slices) EXPECT_TRUE(std::isfinite(s.position_mm) && std::isfinite(s.lung_ml));
}

}  // namespace

TEST(Quantify, VolumesAndInvolvementEqualTheHandCountedVoxels) {
  const Case c = known_case();
  const Quantification q = quantify(c.ct, c.lungs, c.lesions);
  const auto& right = q.regions[kRight];
  const auto& left = q.regions[kLeft];
  const auto& total = q.regions[kTotal];
  EXPECT_EQ(right.name, "right");
  EXPECT_EQ(right.lung_voxels, 10);
  EXPECT_NEAR(right.lung_ml, 0.10, 1e-12);
  EXPECT_NEAR(right.ground_glass_ml, 0.02, 1e-12);
  EXPECT_NEAR(right.consolidation_ml, 0.01, 1e-12);
  EXPECT_NEAR(right.lesion_ml, 0.03, 1e-12);
  EXPECT_NEAR(right.involved_percent, 30.0, 1e-12);
  EXPECT_EQ(right.severity_score, 3);
  EXPECT_NEAR(left.lung_ml, 0.20, 1e-12);
  EXPECT_NEAR(left.involved_percent, 25.0, 1e-12);
  EXPECT_EQ(left.severity_score, 3);
  EXPECT_EQ(total.lung_voxels, 30);
  EXPECT_NEAR(total.lesion_ml, 0.08, 1e-12);  // the lesion voxel outside the lungs is not counted
  EXPECT_NEAR(total.involved_percent, 800.0 / 30.0, 1e-12);
  EXPECT_EQ(total.severity_score, 3);
}

TEST(Quantify, DensitometryMatchesClosedFormMeanSdPercentilesAndBands) {
  const Case c = known_case();
  const Quantification q = quantify(c.ct, c.lungs, c.lesions);
  const Densitometry& right = q.regions[kRight].density;  // -1000, -900, ..., -100
  EXPECT_NEAR(right.mean_hu, -550.0, 1e-9);
  EXPECT_NEAR(right.std_hu, std::sqrt(82500.0 * 10 / 9), 1e-9);  // sample sd of 100 * (0..9)
  ASSERT_EQ(right.percentiles.size(), 6u);                         // 10, 15, 25, 50, 75, 90
  EXPECT_NEAR(right.percentiles[0].second, -910.0, 1e-9);          // rank 0.9
  EXPECT_NEAR(right.percentiles[1].second, -865.0, 1e-9);          // rank 1.35
  EXPECT_NEAR(right.percentiles[3].second, -550.0, 1e-9);          // rank 4.5
  EXPECT_NEAR(right.percentiles[5].second, -190.0, 1e-9);          // rank 8.1
  // Bands [lo, hi): < -950: {-1000}; [-950, -700): {-900, -800, -700 no}; [-700, -300): -700..-400; [-300, 50): -300..-100
  ASSERT_EQ(right.band_percent.size(), 4u);
  EXPECT_NEAR(right.band_percent[0].second, 10.0, 1e-9);
  EXPECT_NEAR(right.band_percent[1].second, 20.0, 1e-9);
  EXPECT_NEAR(right.band_percent[2].second, 40.0, 1e-9);
  EXPECT_NEAR(right.band_percent[3].second, 30.0, 1e-9);
  const Densitometry& total = q.regions[kTotal].density;  // right plus 20 voxels of -800
  EXPECT_NEAR(total.mean_hu, (-5500.0 - 16000.0) / 30.0, 1e-9);
  EXPECT_NEAR(total.percentiles[3].second, -800.0, 1e-9);
  EXPECT_NEAR(total.band_percent[1].second, 100.0 * 22 / 30, 1e-9);
}

TEST(Quantify, FractionalHuGiveTheSamePercentilesAsIntegerHuShifted) {
  Case c = known_case();
  const Quantification a = quantify(c.ct, c.lungs, c.lesions);
  c.ct.voxels += 0.25f;
  const Quantification b = quantify(c.ct, c.lungs, c.lesions);
  for (int r = 0; r < 3; ++r) {
    EXPECT_NEAR(a.regions[r].density.mean_hu + 0.25, b.regions[r].density.mean_hu, 1e-9);
    for (size_t i = 0; i < a.regions[r].density.percentiles.size(); ++i)
      EXPECT_NEAR(a.regions[r].density.percentiles[i].second + 0.25, b.regions[r].density.percentiles[i].second, 1e-9);
    for (size_t i = 0; i < a.regions[r].density.band_percent.size(); ++i)
      EXPECT_NEAR(a.regions[r].density.band_percent[i].second, b.regions[r].density.band_percent[i].second, 1e-9);
  }
}

TEST(Quantify, FractionalHuAreSplitExactlyAtABandLimit) {
  Case c;
  const float hu[] = {-700.5f, -700.25f, -700.0f, -699.5f};
  for (int i = 0; i < 4; ++i) c.set(i, 0, 0, 1, 0, hu[i]);
  const Densitometry d = quantify(c.ct, c.lungs, c.lesions).regions[kRight].density;
  EXPECT_NEAR(d.band_percent[1].second, 50.0, 1e-12);  // [-950, -700): -700.5, -700.25
  EXPECT_NEAR(d.band_percent[2].second, 50.0, 1e-12);  // [-700, -300): -700, -699.5
  EXPECT_NEAR(d.percentiles[3].second, -700.125, 1e-9);  // rank 1.5
  EXPECT_NEAR(d.percentiles[0].second, -700.5 + 0.3 * 0.25, 1e-9);  // rank 0.3
}

TEST(Quantify, SeverityScoreBoundariesBelongToTheHigherScore) {
  const std::pair<double, int> table[] = {{0, 1},  {4.999, 1}, {5, 2},  {24.999, 2}, {25, 3},
                                          {49.9, 3}, {50, 4},   {74.9, 4}, {75, 5},    {100, 5}};
  for (const auto& [percent, score] : table) EXPECT_EQ(ct_severity_score(percent), score) << percent;
  EXPECT_EQ(ct_severity_score(std::nan("")), 0);
}

TEST(Quantify, MosmedCategoryIsCt0OnlyWithoutAnyInvolvement) {
  const std::pair<double, int> table[] = {{0, 0},  {0.001, 1}, {24.9, 1}, {25, 2},  {49.9, 2},
                                          {50, 3}, {74.9, 3},  {75, 4},   {100, 4}};
  for (const auto& [percent, category] : table) EXPECT_EQ(mosmed_category(percent), category) << percent;
  EXPECT_EQ(mosmed_category(std::nan("")), -1);
}

TEST(Quantify, AnEmptyLungGivesZerosAndNoNan) {
  Case c;
  for (int i = 0; i < 4; ++i) c.set(i, 1, 1, 1, 0, -850.f);
  const Quantification q = quantify(c.ct, c.lungs, c.lesions);
  EXPECT_EQ(q.regions[kLeft].lung_voxels, 0);
  EXPECT_EQ(q.regions[kLeft].involved_percent, 0);
  EXPECT_EQ(q.regions[kLeft].severity_score, 1);
  EXPECT_EQ(q.regions[kLeft].density.mean_hu, 0);
  EXPECT_NEAR(q.regions[kRight].density.mean_hu, -850, 1e-9);
  expect_no_nan(q);
  const Quantification none = quantify(c.ct, Volume::filled(c.g, 0, at::kByte), c.lesions);
  EXPECT_EQ(none.regions[kTotal].lung_ml, 0);
  expect_no_nan(none);
}

TEST(Quantify, WithoutALesionMapTheLesionFiguresAreZero) {
  const Case c = known_case();
  const Quantification q = quantify(c.ct, c.lungs, Volume{});
  EXPECT_EQ(q.regions[kTotal].lesion_ml, 0);
  EXPECT_EQ(q.regions[kTotal].involved_percent, 0);
  EXPECT_NEAR(q.regions[kTotal].lung_ml, 0.30, 1e-12);
}

TEST(Quantify, TheSliceCurveCountsEachSliceAtItsPositionAlongTheNormal) {
  Case c = known_case();
  c.g.origin_mm = {0, 0, 100};
  c.ct.geometry = c.lungs.geometry = c.lesions.geometry = c.g;
  const Quantification q = quantify(c.ct, c.lungs, c.lesions);
  ASSERT_EQ(q.slices.size(), 2u);
  EXPECT_EQ(q.slices[1].index, 1);
  EXPECT_NEAR(q.slices[0].position_mm, 100.0, 1e-9);
  EXPECT_NEAR(q.slices[1].position_mm, 102.5, 1e-9);
  EXPECT_NEAR(q.slices[0].lung_ml, 0.10, 1e-12);
  EXPECT_NEAR(q.slices[0].lesion_ml, 0.03, 1e-12);
  EXPECT_NEAR(q.slices[1].lesion_ml, 0.05, 1e-12);
  // Slices stored from superior to inferior: the position is still LPS z (superior larger).
  c.g.direction = {1, 0, 0, 0, 1, 0, 0, 0, -1};
  c.ct.geometry = c.lungs.geometry = c.lesions.geometry = c.g;
  const Quantification flipped = quantify(c.ct, c.lungs, c.lesions);
  EXPECT_NEAR(flipped.slices[1].position_mm, 97.5, 1e-9);
}

TEST(Quantify, LabelsOnAnotherGridAreRefusedAsMismatch) {
  Case c = known_case();
  Volume shifted = c.lungs;
  shifted.geometry.origin_mm = {1, 0, 0};
  try {
    quantify(c.ct, shifted, c.lesions);
    FAIL() << "expected Mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
    EXPECT_NE(std::string(e.what()).find("lung label map"), std::string::npos) << e.what();
  }
  Volume small_lesions = Volume::filled(Geometry{{5, 4, 2}, {2, 2, 2.5}}, 0, at::kByte);
  try {
    quantify(c.ct, c.lungs, small_lesions);
    FAIL() << "expected Mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
  }
}

TEST(Quantify, ALabelMapOfTheSameBoxStoredFlippedIsRefusedNotFlipped) {
  const Case c = known_case();
  Geometry g = c.g;  // the same physical box with x stored from the patient's left
  g.origin_mm = g.index_to_physical({double(g.size[0] - 1), 0, 0});
  g.direction[0] = -1;
  const Volume flipped{c.lungs.voxels.flip({2}).contiguous(), g};
  ASSERT_TRUE(flipped.geometry.same_physical_box_as(c.ct.geometry));
  try {
    quantify(c.ct, flipped, c.lesions);
    FAIL() << "expected Mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
  }
}

TEST(Quantify, LabelValuesOtherThanZeroOneTwoAreRefusedAsMismatch) {
  Case c = known_case();
  c.lesions.voxels[1][3][9] = 3;
  try {
    quantify(c.ct, c.lungs, c.lesions);
    FAIL() << "expected Mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
  }
  Case f = known_case();
  Volume fractional = f.lungs.with_voxels(f.lungs.voxels.to(at::kFloat));
  fractional.voxels[0][2][2] = 1.5f;
  try {
    quantify(f.ct, fractional, f.lesions);
    FAIL() << "expected Mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
  }
}

TEST(Quantify, LabelMapsOfAnyIntegerTypeGiveTheSameResult) {
  const Case c = known_case();
  const Quantification a = quantify(c.ct, c.lungs, c.lesions);
  const Quantification b = quantify(c.ct.with_voxels(c.ct.voxels.to(at::kShort)), c.lungs.with_voxels(c.lungs.voxels.to(at::kShort)),
                                    c.lesions.with_voxels(c.lesions.voxels.to(at::kFloat)));
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(a.regions[r].lung_voxels, b.regions[r].lung_voxels);
    EXPECT_EQ(a.regions[r].lesion_ml, b.regions[r].lesion_ml);
    EXPECT_EQ(a.regions[r].density.mean_hu, b.regions[r].density.mean_hu);
  }
}

TEST(Quantify, AgreesWithThePhantomsOwnInvolvement) {
  synth::PhantomOptions o;
  o.size = {64, 64, 40};
  o.involvement = 0.3;
  o.seed = 11;
  const synth::Phantom p = synth::make_phantom(o);
  const Quantification q = quantify(p.ct, p.lungs, p.lesions);
  EXPECT_NEAR(q.regions[kTotal].involved_percent, p.involved_percent, 1e-9);
  EXPECT_NEAR(q.regions[kTotal].lung_ml, q.regions[kRight].lung_ml + q.regions[kLeft].lung_ml, 1e-9);
  EXPECT_GT(q.regions[kRight].lung_ml, q.regions[kLeft].lung_ml);  // the phantom's right lung is larger
  double lung_ml = 0, lesion_ml = 0;
  for (const SliceInvolvement& s : q.slices) lung_ml += s.lung_ml, lesion_ml += s.lesion_ml;
  EXPECT_NEAR(lung_ml, q.regions[kTotal].lung_ml, 1e-6);
  EXPECT_NEAR(lesion_ml, q.regions[kTotal].lesion_ml, 1e-6);
}

// ---- lungs inside the body (issue 18: "refuses what is not a chest CT") ------------------------------------

namespace {

// Blocks on a 64 x 64 x 12 grid of 5 mm voxels (LPS): air, a body block, and in it (or beside it) two lung blocks.
struct Blocks {
  pulmo::Volume ct;
  at::Tensor lungs;
};
Blocks blocks(bool left_lung_outside) {
  pulmo::Geometry g;
  g.size = {64, 64, 12};
  g.spacing_mm = {5.0, 5.0, 5.0};
  pulmo::Volume ct = pulmo::Volume::filled(g, -1000.0);
  at::Tensor lungs = at::zeros({12, 64, 64}, at::kByte);
  ct.voxels.slice(1, 8, 56).slice(2, 6, left_lung_outside ? 34 : 58).fill_(40.0);  // body
  lungs.slice(0, 2, 10).slice(1, 16, 46).slice(2, 12, 29).fill_(1);                // right lung (image left)
  lungs.slice(0, 2, 10).slice(1, 16, 46).slice(2, 38, 52).fill_(2);                // left lung
  ct.voxels.masked_fill_(lungs.ne(0), -850.0);
  return {ct, lungs};
}

}  // namespace

TEST(LungsInsideBody, ThePhantomsLungsLieInsideItsBodyAndWithoutTheBodyTheyAreRefused) {
  pulmo::synth::PhantomOptions o;
  o.size = {96, 96, 24};
  o.involvement = 0.1;
  const pulmo::synth::Phantom p = pulmo::synth::make_phantom(o);
  const at::Tensor lungs = p.lungs.voxels;
  EXPECT_GE(pulmo::lungs_inside_body_share(p.ct, lungs), 0.99);
  std::vector<std::string> warnings;
  EXPECT_NO_THROW(pulmo::check_plausible_lungs(p.ct, lungs, false, warnings));
  for (const auto& w : warnings) EXPECT_EQ(w.find("inside the body"), std::string::npos) << w;
  // The same CT with its body cut away (every voxel that is not lung is air): no lung lies inside a body.
  const pulmo::Volume cut = p.ct.with_voxels(p.ct.voxels.masked_fill(lungs.eq(0), -1000.0));
  EXPECT_LT(pulmo::lungs_inside_body_share(cut, lungs), 0.01);
  try {
    std::vector<std::string> w;
    pulmo::check_plausible_lungs(cut, lungs, false, w);
    ADD_FAILURE() << "lungs outside any body were accepted";
  } catch (const pulmo::Error& e) {
    EXPECT_EQ(e.code(), pulmo::ExitCode::NoLungs) << e.what();
    EXPECT_NE(std::string(e.what()).find("of what was found as lungs lies inside the body"), std::string::npos) << e.what();
  }
  // A user's mask means what it says: the same finding is a warning.
  std::vector<std::string> mask_warnings;
  EXPECT_NO_THROW(pulmo::check_plausible_lungs(cut, lungs, true, mask_warnings));
  std::string all;
  for (const auto& w : mask_warnings) all += w + "\n";
  EXPECT_NE(all.find("lies inside the body"), std::string::npos) << all;
}

// A crop around the lungs (TotalSegmentator's pulmonary_ct_cropped is one): the field of view cuts the lungs on every
// side, so rays from lung voxels reach the image's edge through lung, not through outside air - still inside.
TEST(LungsInsideBody, ACropThatCutsTheLungsOnEverySideIsInside) {
  pulmo::synth::PhantomOptions o;
  o.size = {96, 96, 24};
  o.involvement = 0.1;
  const pulmo::synth::Phantom p = pulmo::synth::make_phantom(o);
  const at::Tensor any_lung = p.lungs.voxels.ne(0);
  const at::Tensor cols = any_lung.any(0).any(0).nonzero().view(-1), rows = any_lung.any(0).any(1).nonzero().view(-1);
  const int64_t x0 = cols.min().item<int64_t>() + 3, x1 = cols.max().item<int64_t>() - 2;
  const int64_t y0 = rows.min().item<int64_t>() + 3, y1 = rows.max().item<int64_t>() - 2;
  pulmo::Volume crop;
  crop.geometry = p.ct.geometry;
  crop.geometry.size[0] = x1 - x0;
  crop.geometry.size[1] = y1 - y0;
  crop.voxels = p.ct.voxels.slice(2, x0, x1).slice(1, y0, y1).contiguous();
  const at::Tensor lungs = p.lungs.voxels.slice(2, x0, x1).slice(1, y0, y1).contiguous();
  EXPECT_GE(pulmo::lungs_inside_body_share(crop, lungs), 0.9);
  std::vector<std::string> warnings;
  EXPECT_NO_THROW(pulmo::check_plausible_lungs(crop, lungs, false, warnings));
  for (const auto& w : warnings) EXPECT_EQ(w.find("inside the body"), std::string::npos) << w;
}

TEST(LungsInsideBody, ALungBesideTheBodyIsAWarningAndTheFieldOfViewMayCutOneSide) {
  // Both lungs in the body: inside; the body cut by the image's edge on the right (image left) keeps them inside.
  Blocks b = blocks(false);
  EXPECT_DOUBLE_EQ(pulmo::lungs_inside_body_share(b.ct, b.lungs), 1.0);
  pulmo::Volume cut_fov;
  cut_fov.geometry = b.ct.geometry;
  cut_fov.geometry.size[0] = 52;
  cut_fov.voxels = b.ct.voxels.slice(2, 12, 64).contiguous();
  const at::Tensor cut_lungs = b.lungs.slice(2, 12, 64).contiguous();
  EXPECT_DOUBLE_EQ(pulmo::lungs_inside_body_share(cut_fov, cut_lungs), 1.0);
  // The left lung (14 of 31 columns of lung) outside the body, against its side: 55 % inside - a warning, not a refusal.
  b = blocks(true);
  const double share = pulmo::lungs_inside_body_share(b.ct, b.lungs);
  EXPECT_NEAR(share, 17.0 / 31.0, 1e-9);
  std::vector<std::string> warnings;
  EXPECT_NO_THROW(pulmo::check_plausible_lungs(b.ct, b.lungs, false, warnings));
  std::string all;
  for (const auto& w : warnings) all += w + "\n";
  EXPECT_NE(all.find("only 54 % of the lungs lies inside the body"), std::string::npos) << all;
}
