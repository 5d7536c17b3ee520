// Intensity statistics of a volume.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "pulmo/volume.h"

namespace pulmo {

struct IntensityStats {
  double min = 0, max = 0, mean = 0, std = 0;
  int64_t count = 0;
  std::vector<std::pair<double, double>> percentiles;  // (percent, value), exact (linear interpolation)
};

// Statistics of all voxels; percentiles in percent (0..100).
IntensityStats intensity_stats(const Volume& volume,
                               const std::vector<double>& percents = {0.5, 1, 5, 25, 50, 75, 95, 99, 99.5});

}  // namespace pulmo
