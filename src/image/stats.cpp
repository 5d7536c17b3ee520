#include "pulmo/stats.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace pulmo {

IntensityStats intensity_stats(const Volume& volume, const std::vector<double>& percents) {
  IntensityStats s;
  // One float copy of the voxels (exact for integer HU and for float images); sums in double.
  at::Tensor v = volume.voxels.to(at::kFloat).contiguous().view({-1});
  s.count = v.numel();
  if (s.count == 0) return s;
  s.min = v.min().item<double>();
  s.max = v.max().item<double>();
  s.mean = v.sum(at::kDouble).item<double>() / static_cast<double>(s.count);
  if (s.count > 1) {
    double ss = 0;
    const float* p = v.data_ptr<float>();
    for (int64_t i = 0; i < s.count; ++i) ss += (p[i] - s.mean) * (p[i] - s.mean);
    s.std = std::sqrt(ss / static_cast<double>(s.count - 1));
  }
  // Exact percentiles (linear interpolation between order statistics, as numpy's default).
  const float* p = v.data_ptr<float>();
  std::vector<double> sorted_p = percents;
  std::sort(sorted_p.begin(), sorted_p.end());
  auto rank_of = [&](double percent, int64_t* lo, double* frac) {
    const double rank = std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(s.count - 1);
    *lo = static_cast<int64_t>(std::floor(rank));
    *frac = rank - static_cast<double>(*lo);
  };
  // Integer values in int16 range (CT in HU, label maps): one counting pass.
  if (s.min >= -32768 && s.max <= 32767 && at::equal(v, v.round())) {
    const int64_t offset = 32768;
    std::vector<int64_t> hist(65536, 0);
    for (int64_t i = 0; i < s.count; ++i) ++hist[static_cast<int64_t>(p[i]) + offset];
    auto value_at = [&](int64_t k) {  // k-th smallest (0-based)
      int64_t seen = 0;
      for (int64_t b = 0; b < 65536; ++b) {
        seen += hist[b];
        if (seen > k) return static_cast<double>(b - offset);
      }
      return s.max;
    };
    for (double q : sorted_p) {
      int64_t lo;
      double frac;
      rank_of(q, &lo, &frac);
      double value = value_at(lo);
      if (frac > 0 && lo + 1 < s.count) value += frac * (value_at(lo + 1) - value);
      s.percentiles.emplace_back(q, value);
    }
    return s;
  }
  // Otherwise nth_element on successive sub-ranges, percents visited in increasing order.
  std::vector<float> data(p, p + s.count);
  auto begin = data.begin();
  for (double q : sorted_p) {
    int64_t lo;
    double frac;
    rank_of(q, &lo, &frac);
    auto nth = data.begin() + lo;
    if (nth >= begin) std::nth_element(begin, nth, data.end());
    double value = static_cast<double>(*nth);
    if (frac > 0 && lo + 1 < s.count) {
      const double next = *std::min_element(nth + 1, data.end());
      value += frac * (next - value);
    }
    s.percentiles.emplace_back(q, value);
    begin = nth;
  }
  return s;
}

}  // namespace pulmo
