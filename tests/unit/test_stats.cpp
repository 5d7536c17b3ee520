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

TEST(Runtime, SetThreadsAppliesTheRequestedCountToLibTorch) {
  EXPECT_EQ(set_threads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_EQ(set_threads(0), available_cores());
  EXPECT_EQ(at::get_num_threads(), available_cores());
}
