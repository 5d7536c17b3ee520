// Surface distances: every case of shared/reference/surface-distance-cases.md (tolerance 1e-3), the surfel
// tables, and the distance transform against brute force. The reference gives spacings in DeepMind's array order
// (z, y, x); pulmo takes them in (x, y, z) like every spacing_mm, so each spacing here is the reference's reversed.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "eval/surfels.h"
#include "pulmo/error.h"
#include "pulmo/eval.h"

using namespace pulmo;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTol = 1e-3;

// Expected values of one reference row; NaN / inf compare as themselves.
struct Expected {
  double asd_ref, asd_pred, hd100, hd95, overlap_ref, overlap_pred, sdsc, vdsc;
};

void expect_value(double expected, double actual, const char* what) {
  if (std::isnan(expected))
    EXPECT_TRUE(std::isnan(actual)) << what << ": expected NaN, got " << actual;
  else if (std::isinf(expected))
    EXPECT_EQ(actual, expected) << what;
  else
    EXPECT_NEAR(actual, expected, kTol) << what;
}

void expect_case(const at::Tensor& gt, const at::Tensor& pred, const std::vector<double>& spacing, const Expected& e) {
  const SurfaceDistances sd = compute_surface_distances(gt, pred, spacing);
  const auto [asd_ref, asd_pred] = average_surface_distance(sd);
  const auto [ov_ref, ov_pred] = surface_overlap_at(sd, 1.0);
  expect_value(e.asd_ref, asd_ref, "ASD gt->pred");
  expect_value(e.asd_pred, asd_pred, "ASD pred->gt");
  expect_value(e.hd100, hd_at(sd, 100), "HD100");
  expect_value(e.hd95, hd_at(sd, 95), "HD95");
  expect_value(e.overlap_ref, ov_ref, "overlap gt");
  expect_value(e.overlap_pred, ov_pred, "overlap pred");
  expect_value(e.sdsc, surface_dice_at(sd, 1.0), "sDSC@1mm");
  expect_value(e.vdsc, volumetric_dice(gt, pred), "vDSC");
}

at::Tensor zeros(std::vector<int64_t> shape) { return at::zeros(shape, at::kBool); }

}  // namespace

TEST(SurfaceDistance, TwoPixelsTwoColumnsApartIn2DMatchTheReference) {
  at::Tensor gt = zeros({128, 128}), pred = zeros({128, 128});
  gt[50][70] = true;
  pred[50][72] = true;
  expect_case(gt, pred, {1, 2}, {1.5, 1.5, 2.0, 2.0, 0.5, 0.5, 0.5, 0.0});
}

TEST(SurfaceDistance, OnePixelHasFourCornerSurfelsAndDistancesOneOneTwoTwo) {
  at::Tensor gt = zeros({128, 128}), pred = zeros({128, 128});
  gt[50][70] = true;
  pred[50][72] = true;
  const SurfaceDistances sd = compute_surface_distances(gt, pred, {1, 2});
  ASSERT_EQ(sd.areas_ref.size(), 4u);
  for (double a : sd.areas_ref) EXPECT_NEAR(a, 0.5 * std::sqrt(5.0), 1e-9);
  const std::vector<double> expected{1, 1, 2, 2};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(sd.distances_ref_to_pred[i], expected[i], 1e-9);
}

TEST(SurfaceDistance, TwoVoxelsTwoColumnsApartIn3DMatchTheReference) {
  at::Tensor gt = zeros({128, 128, 128}), pred = zeros({128, 128, 128});
  gt[50][60][70] = true;
  pred[50][60][72] = true;
  expect_case(gt, pred, {1, 2, 3}, {1.5, 1.5, 2.0, 2.0, 0.5, 0.5, 0.5, 0.0});
}

TEST(SurfaceDistance, HalfSpacesTouchingTheImageBorderMatchTheReference) {
  at::Tensor gt = zeros({100, 100, 100}), pred = zeros({100, 100, 100});
  gt.slice(0, 0, 50).fill_(true);
  pred.slice(0, 0, 51).fill_(true);
  expect_case(gt, pred, {1, 1, 2}, {0.322, 0.339, 2.0, 2.0, 0.842, 0.830, 0.836, 0.990});
}

TEST(SurfaceDistance, OneVoxelAgainstAnEmptyMaskGivesInfiniteDistancesAndZeroDice) {
  at::Tensor gt2 = zeros({16, 16}), gt3 = zeros({16, 16, 16});
  gt2[5][7] = true;
  gt3[5][6][7] = true;
  const Expected e{kInf, kNaN, kInf, kInf, 0.0, kNaN, 0.0, 0.0};
  expect_case(gt2, zeros({16, 16}), {2, 3}, e);
  expect_case(gt3, zeros({16, 16, 16}), {1, 2, 3}, e);
}

TEST(SurfaceDistance, AnEmptyReferenceAgainstOneVoxelIsTheMirrorCase) {
  at::Tensor pred2 = zeros({16, 16}), pred3 = zeros({16, 16, 16});
  pred2[5][7] = true;
  pred3[5][6][7] = true;
  const Expected e{kNaN, kInf, kInf, kInf, kNaN, 0.0, 0.0, 0.0};
  expect_case(zeros({16, 16}), pred2, {2, 3}, e);
  expect_case(zeros({16, 16, 16}), pred3, {1, 2, 3}, e);
}

TEST(SurfaceDistance, TwoEmptyMasksGiveNaNAndInfiniteHausdorff) {
  const Expected e{kNaN, kNaN, kInf, kInf, kNaN, kNaN, kNaN, kNaN};
  expect_case(zeros({16, 16}), zeros({16, 16}), {2, 3}, e);
  expect_case(zeros({16, 16, 16}), zeros({16, 16, 16}), {1, 2, 3}, e);
}

TEST(SurfaceDistance, SixBySixSquaresHaveTheReferenceSurfelsAndDistances) {
  at::Tensor gt = zeros({6, 6}), pred = zeros({6, 6});
  gt.slice(0, 1, 3).slice(1, 1, 3).fill_(true);
  pred.slice(0, 1, 4).slice(1, 1, 3).fill_(true);
  const SurfaceDistances sd = compute_surface_distances(gt, pred, {1, 2});
  const double d = 0.5 * std::sqrt(5.0);
  auto sorted = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  const std::vector<double> gt_areas{1, 1, d, d, d, d, 2, 2}, pred_areas{1, 1, d, d, d, d, 2, 2, 2, 2};
  const std::vector<double> gt_dist{0, 0, 0, 0, 0, 0, 0, 1}, pred_dist{0, 0, 0, 0, 0, 0, 0, 2, 2, 2};
  ASSERT_EQ(sd.areas_ref.size(), gt_areas.size());
  ASSERT_EQ(sd.areas_pred.size(), pred_areas.size());
  for (size_t i = 0; i < gt_areas.size(); ++i) {
    EXPECT_NEAR(sorted(sd.areas_ref)[i], gt_areas[i], 1e-9);
    EXPECT_NEAR(sd.distances_ref_to_pred[i], gt_dist[i], 1e-9);
  }
  for (size_t i = 0; i < pred_areas.size(); ++i) {
    EXPECT_NEAR(sorted(sd.areas_pred)[i], pred_areas[i], 1e-9);
    EXPECT_NEAR(sd.distances_pred_to_ref[i], pred_dist[i], 1e-9);
  }
}

TEST(SurfaceDistance, MasksOfDifferentShapesAreAMismatch) {
  try {
    compute_surface_distances(zeros({8, 8}), zeros({8, 9}), {1, 1});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
  }
}

TEST(SurfaceDistance, MasksThatAreNeither2DNor3DAreRefused) {
  try {
    compute_surface_distances(zeros({2, 4, 4, 4}), zeros({2, 4, 4, 4}), {1, 1, 1, 1});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadDimension);
  }
  EXPECT_THROW(compute_surface_distances(zeros({8}), zeros({8}), {1}), Error);
}

TEST(SurfaceDistance, ASpacingOfTheWrongLengthIsAMismatch) {
  EXPECT_THROW(compute_surface_distances(zeros({8, 8}), zeros({8, 8}), {1, 1, 1}), Error);
}

// Unit-spacing areas of the marching-cubes surface of one code of each kind (DeepMind's table gives the same).
TEST(SurfelTable, UnitSpacingAreasOfEachKindOfCode) {
  const auto t = eval_detail::surfel_area_table_3d({1, 1, 1});
  const double corner = std::sqrt(3.0) / 8.0;
  const struct {
    int code;
    double area;
  } cases[] = {
      {0, 0.0},                                       // outside
      {255, 0.0},                                     // inside
      {1, corner},                                    // one corner: a triangle
      {3, std::sqrt(0.5)},                            // an edge: a rectangle 1 x sqrt(0.5)
      {6, 2 * corner},                                // a face diagonal: two separate triangles
      {15, 1.0},                                      // a face: a unit square
      {7, 0.5 + 3 * corner},                          // three corners of a face: flat triangle + planar quad
      {23, 6 * corner},                               // a corner and its three neighbours: regular hexagon
      {27, 2 * std::sqrt(0.125) + 4 * corner},        // four corners in a zig-zag
      {105, 4 * corner},                              // the checkerboard: four separate triangles
      {60, 4 * std::sqrt(0.125)},                     // two parallel edges on opposite faces: two rectangles
  };
  for (const auto& c : cases) EXPECT_NEAR(t[c.code], c.area, 1e-5) << "code " << c.code;
}

TEST(SurfelTable, ACodeAndItsComplementHaveTheSameArea) {
  const auto t = eval_detail::surfel_area_table_3d({3, 2, 1.3});
  for (int c = 0; c < 256; ++c) EXPECT_NEAR(t[c], t[255 - c], 1e-12) << "code " << c;
}

TEST(SurfelTable, APlaneScalesWithTheSpacingOfItsTwoInPlaneAxes) {
  const auto t = eval_detail::surfel_area_table_3d({3, 2, 1});
  EXPECT_NEAR(t[15], 2 * 1, 1e-12);   // voxels with i = 1: plane normal to axis 0
  EXPECT_NEAR(t[51], 3 * 1, 1e-12);   // voxels with j = 1: normal to axis 1
  EXPECT_NEAR(t[85], 3 * 2, 1e-12);   // voxels with k = 1: normal to axis 2
}

TEST(SurfelTable, TwoDimensionalLengthsAreMarchingSquaresSegments) {
  const auto t = eval_detail::surfel_length_table_2d({2, 1});
  const double diag = 0.5 * std::sqrt(5.0);
  const double expected[16] = {0, diag, diag, 1, diag, 2, 2 * diag, diag, diag, 2 * diag, 2, diag, 1, diag, diag, 0};
  for (int c = 0; c < 16; ++c) EXPECT_NEAR(t[c], expected[c], 1e-12) << "code " << c;
}

TEST(DistanceTransform, MatchesBruteForceWithAnisotropicSpacing) {
  const std::array<int64_t, 3> shape{5, 7, 6};
  const std::array<double, 3> spacing{2.5, 0.7, 1.3};
  std::vector<uint8_t> seed(5 * 7 * 6, 0);
  const int seeds[][3] = {{0, 0, 0}, {4, 6, 5}, {2, 3, 1}, {1, 5, 4}};
  for (const auto& s : seeds) seed[(s[0] * 7 + s[1]) * 6 + s[2]] = 1;
  std::vector<double> sq;
  eval_detail::squared_distance_transform(seed.data(), shape, spacing, sq);
  for (int z = 0; z < 5; ++z)
    for (int y = 0; y < 7; ++y)
      for (int x = 0; x < 6; ++x) {
        double best = kInf;
        for (const auto& s : seeds) {
          const double dz = (z - s[0]) * spacing[0], dy = (y - s[1]) * spacing[1], dx = (x - s[2]) * spacing[2];
          best = std::min(best, dz * dz + dy * dy + dx * dx);
        }
        EXPECT_NEAR(sq[(z * 7 + y) * 6 + x], best, 1e-9) << z << "," << y << "," << x;
      }
}

TEST(DistanceTransform, NoSeedGivesInfinityEverywhere) {
  std::vector<uint8_t> seed(24, 0);
  std::vector<double> sq;
  eval_detail::squared_distance_transform(seed.data(), {2, 3, 4}, {1, 1, 1}, sq);
  for (double v : sq) EXPECT_EQ(v, kInf);
}

namespace {

// Brute-force nearest distance from every query to the points with code 1.
std::vector<double> brute_force(const std::vector<uint8_t>& codes, const std::array<int64_t, 3>& n,
                                const std::array<double, 3>& s, const std::vector<int64_t>& queries) {
  std::vector<double> out;
  for (int64_t q : queries) {
    double best = kInf;
    for (int64_t i = 0; i < static_cast<int64_t>(codes.size()); ++i)
      if (codes[i] == 1) {
        const double a = (i / (n[1] * n[2]) - q / (n[1] * n[2])) * s[0], b = ((i / n[2]) % n[1] - (q / n[2]) % n[1]) * s[1],
                     c = (i % n[2] - q % n[2]) * s[2];
        best = std::min(best, a * a + b * b + c * c);
      }
    out.push_back(std::sqrt(best));
  }
  return out;
}

}  // namespace

TEST(NearestBorder, NearAndFarQueriesAreExact) {
  // Seeds on a small sphere-like shell and one far corner; queries everywhere on a coarse lattice, so that
  // some find a seed in the neighbourhood and others need the search over cells.
  const std::array<int64_t, 3> n{30, 70, 90};
  const std::array<double, 3> s{2.0, 0.7, 0.9};
  std::vector<uint8_t> codes(30 * 70 * 90, 0);
  for (int z = 0; z < 30; ++z)
    for (int y = 0; y < 70; ++y)
      for (int x = 0; x < 90; ++x) {
        const int r2 = (z - 10) * (z - 10) + (y - 20) * (y - 20) + (x - 20) * (x - 20);
        if (r2 >= 16 && r2 <= 25) codes[(z * 70 + y) * 90 + x] = 1;
      }
  codes[(29 * 70 + 69) * 90 + 89] = 1;
  std::vector<int64_t> queries;
  for (int64_t i = 0; i < static_cast<int64_t>(codes.size()); i += 97) queries.push_back(i);
  const std::vector<double> got = eval_detail::nearest_border_distances(codes.data(), 255, n, s, queries);
  const std::vector<double> expected = brute_force(codes, n, s, queries);
  for (size_t q = 0; q < queries.size(); ++q) EXPECT_NEAR(got[q], expected[q], 1e-9) << "query " << queries[q];
}

TEST(NearestBorder, ManyFarQueriesFallBackToTheDistanceTransformExactly) {
  // One seed and a quarter of a million queries: the neighbourhood search runs out of budget.
  const std::array<int64_t, 3> n{64, 64, 64};
  const std::array<double, 3> s{1.5, 1.0, 0.5};
  std::vector<uint8_t> codes(64 * 64 * 64, 0);
  codes[(3 * 64 + 5) * 64 + 7] = 1;
  std::vector<int64_t> queries(codes.size());
  for (size_t i = 0; i < queries.size(); ++i) queries[i] = static_cast<int64_t>(i);
  const std::vector<double> got = eval_detail::nearest_border_distances(codes.data(), 255, n, s, queries);
  for (int64_t q : {int64_t(0), int64_t(12345), int64_t(262143)}) {
    const double a = (q / 4096 - 3) * 1.5, b = ((q / 64) % 64 - 5) * 1.0, c = (q % 64 - 7) * 0.5;
    EXPECT_NEAR(got[q], std::sqrt(a * a + b * b + c * c), 1e-9);
  }
}
