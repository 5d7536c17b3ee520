#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include "pulmo/runtime.h"
#include "pulmo/stats.h"

using namespace pulmo;

TEST(IntensityStats, PercentilesInterpolateLinearlyLikeNumpy) {
  Geometry g;
  g.size = {5, 1, 1};
  const Volume v = Volume::filled(g, 0).with_voxels(at::tensor({10.f, 40.f, 20.f, 50.f, 30.f}).view({1, 1, 5}));
  const IntensityStats s = intensity_stats(v, {0, 25, 50, 90, 100});
  // numpy.percentile([10,20,30,40,50], [0,25,50,90,100]) = [10, 20, 30, 46, 50]
  const double expected[] = {10, 20, 30, 46, 50};
  ASSERT_EQ(s.percentiles.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(s.percentiles[i].second, expected[i]);
  EXPECT_DOUBLE_EQ(s.min, 10);
  EXPECT_DOUBLE_EQ(s.max, 50);
  EXPECT_DOUBLE_EQ(s.mean, 30);
}

TEST(IntensityStats, IntegerAndFractionalDataGiveTheSamePercentilesByBothMethods) {
  Geometry g;
  g.size = {1000, 1, 1};
  at::manual_seed(3);
  const at::Tensor ints = at::randint(-1024, 3000, {1, 1, 1000}).to(at::kFloat);
  const Volume a = Volume::filled(g, 0).with_voxels(ints);                 // counting path
  const Volume b = Volume::filled(g, 0).with_voxels(ints + 0.25f);          // selection path
  const auto sa = intensity_stats(a, {0.5, 5, 33.3, 50, 99.5});
  const auto sb = intensity_stats(b, {0.5, 5, 33.3, 50, 99.5});
  const at::Tensor sorted = std::get<0>(ints.flatten().to(at::kDouble).sort());
  for (size_t i = 0; i < sa.percentiles.size(); ++i) {
    EXPECT_NEAR(sa.percentiles[i].second + 0.25, sb.percentiles[i].second, 1e-9);
    const double rank = sa.percentiles[i].first / 100.0 * 999;
    const auto lo = static_cast<int64_t>(std::floor(rank));
    const double want = sorted[lo].item<double>() + (rank - lo) * (sorted[std::min<int64_t>(lo + 1, 999)].item<double>() - sorted[lo].item<double>());
    EXPECT_NEAR(sa.percentiles[i].second, want, 1e-9) << sa.percentiles[i].first;
  }
}

TEST(Runtime, SetThreadsAppliesTheRequestedCountToLibTorch) {
  EXPECT_EQ(set_threads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_EQ(set_threads(0), available_cores());
  EXPECT_EQ(at::get_num_threads(), available_cores());
}
