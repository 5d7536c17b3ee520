#include "pulmo/stats.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace pulmo {

IntensityStats intensity_stats(const Volume& volume, const std::vector<double>& percents) {
  IntensityStats s;
  at::Tensor v = volume.voxels.to(at::kDouble).contiguous().view({-1});
  s.count = v.numel();
  if (s.count == 0) return s;
  s.min = v.min().item<double>();
  s.max = v.max().item<double>();
  s.mean = v.mean().item<double>();
  s.std = s.count > 1 ? v.std().item<double>() : 0.0;
  // Exact percentiles (linear interpolation between order statistics, as numpy's default):
  // nth_element on successive sub-ranges, percents visited in increasing order.
  std::vector<double> data(v.data_ptr<double>(), v.data_ptr<double>() + s.count);
  std::vector<double> sorted_p = percents;
  std::sort(sorted_p.begin(), sorted_p.end());
  auto begin = data.begin();
  for (double p : sorted_p) {
    const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(s.count - 1);
    const auto lo = static_cast<int64_t>(std::floor(rank));
    const double frac = rank - static_cast<double>(lo);
    auto nth = data.begin() + lo;
    if (nth >= begin) std::nth_element(begin, nth, data.end());
    double value = *nth;
    if (frac > 0 && lo + 1 < s.count) {
      const double next = *std::min_element(nth + 1, data.end());
      value += frac * (next - value);
    }
    s.percentiles.emplace_back(p, value);
    begin = nth;
  }
  return s;
}

}  // namespace pulmo
