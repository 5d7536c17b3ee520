// Exact distance from query grid points to the nearest seed point, fast when the two surfaces are close.
//
// 1. Local search: neighbour offsets within a radius (a few tens of thousands of offsets), sorted by their
//    physical length; the first offset that lands on a seed gives the exact nearest distance. Work grows with
//    the cube of the distance, so it stops when its total work passes a budget (about ten visits per grid point).
// 2. Queries with no seed within the radius: brute force over the seed points when they are few, otherwise
//    (and when the budget ran out) the exact distance transform of the whole grid.
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "eval/surfels.h"

namespace pulmo::eval_detail {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kMaxOffsets = 30000;

struct Offset {
  int32_t d0, d1, d2;
  double sq;  // squared length in mm^2
};

// Offsets within radius_mm sorted by length; 2-D grids (shape[0] == 1) only move along axes 1 and 2.
std::vector<Offset> sorted_offsets(const std::array<int64_t, 3>& shape, const std::array<double, 3>& s, double& radius_mm) {
  const bool flat = shape[0] == 1;
  // Radius whose ball (disc) holds about kMaxOffsets grid points.
  radius_mm = flat ? std::sqrt(kMaxOffsets * s[1] * s[2] / M_PI) : std::cbrt(kMaxOffsets * s[0] * s[1] * s[2] * 3.0 / (4.0 * M_PI));
  int32_t r[3];
  for (int a = 0; a < 3; ++a)
    r[a] = static_cast<int32_t>(std::min<double>(std::floor(radius_mm / s[a]), double(shape[a] - 1)));
  if (flat) r[0] = 0;
  std::vector<Offset> out;
  const double r2 = radius_mm * radius_mm;
  for (int32_t i = -r[0]; i <= r[0]; ++i)
    for (int32_t j = -r[1]; j <= r[1]; ++j)
      for (int32_t k = -r[2]; k <= r[2]; ++k) {
        const double sq = (i * s[0]) * (i * s[0]) + (j * s[1]) * (j * s[1]) + (k * s[2]) * (k * s[2]);
        if (sq <= r2) out.push_back({i, j, k, sq});
      }
  std::sort(out.begin(), out.end(), [](const Offset& a, const Offset& b) { return a.sq < b.sq; });
  return out;
}

}  // namespace

std::vector<double> nearest_border_distances(const uint8_t* codes, uint8_t full, const std::array<int64_t, 3>& shape,
                                             const std::array<double, 3>& spacing_mm, const std::vector<int64_t>& queries) {
  const int64_t n1 = shape[1], n2 = shape[2], total = shape[0] * shape[1] * shape[2];
  std::vector<double> out(queries.size(), -1.0);  // -1: not found yet
  // Border flags, 0/1 (a byte per point keeps the search a single load).
  std::vector<uint8_t> border(static_cast<size_t>(total));
  int64_t count = 0;
  {
    uint8_t* __restrict f = border.data();
    for (int64_t i = 0; i < total; ++i) {
      f[i] = codes[i] != 0 && codes[i] != full;
      count += f[i];
    }
  }
  const uint8_t* seed = border.data();
  if (count == 0) {
    std::fill(out.begin(), out.end(), kInf);
    return out;
  }
  double radius_mm = 0;
  const std::vector<Offset> offsets = sorted_offsets(shape, spacing_mm, radius_mm);
  const int64_t budget = std::max<int64_t>(10 * total, 50'000'000);
  std::atomic<int64_t> work{0};
  std::atomic<bool> over_budget{false};
  at::parallel_for(0, static_cast<int64_t>(queries.size()), 1024, [&](int64_t begin, int64_t end) {
    int64_t local = 0;
    for (int64_t q = begin; q < end && !over_budget.load(std::memory_order_relaxed); ++q) {
      const int64_t p = queries[q], p0 = p / (n1 * n2), p1 = (p / n2) % n1, p2 = p % n2;
      size_t o = 0;
      for (; o < offsets.size(); ++o) {
        const Offset& f = offsets[o];
        const int64_t i = p0 + f.d0, j = p1 + f.d1, k = p2 + f.d2;
        if (i < 0 || j < 0 || k < 0 || i >= shape[0] || j >= n1 || k >= n2) continue;
        if (seed[(i * n1 + j) * n2 + k]) break;
      }
      local += static_cast<int64_t>(o) + 1;
      if (o < offsets.size()) out[q] = std::sqrt(offsets[o].sq);
      if (local > 1'000'000) {
        if (work.fetch_add(local) + local > budget) over_budget = true;
        local = 0;
      }
    }
    work.fetch_add(local);
  });
  std::vector<int64_t> unresolved;
  for (size_t q = 0; q < queries.size(); ++q)
    if (over_budget || out[q] < 0) unresolved.push_back(static_cast<int64_t>(q));
  if (unresolved.empty()) return out;
  if (!over_budget && double(unresolved.size()) * double(count) <= 3e8) {
    std::vector<int64_t> seeds;
    for (int64_t i = 0; i < total; ++i)
      if (seed[i]) seeds.push_back(i);
    std::vector<std::array<double, 3>> seed_mm(seeds.size());
    for (size_t i = 0; i < seeds.size(); ++i)
      seed_mm[i] = {double(seeds[i] / (n1 * n2)) * spacing_mm[0], double((seeds[i] / n2) % n1) * spacing_mm[1],
                    double(seeds[i] % n2) * spacing_mm[2]};
    at::parallel_for(0, static_cast<int64_t>(unresolved.size()), 16, [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const int64_t p = queries[unresolved[u]];
        const double x0 = double(p / (n1 * n2)) * spacing_mm[0], x1 = double((p / n2) % n1) * spacing_mm[1],
                     x2 = double(p % n2) * spacing_mm[2];
        double best = kInf;
        for (const auto& s : seed_mm) {
          const double a = s[0] - x0, b = s[1] - x1, c = s[2] - x2;
          best = std::min(best, a * a + b * b + c * c);
        }
        out[unresolved[u]] = std::sqrt(best);
      }
    });
    return out;
  }
  std::vector<double> sq;
  squared_distance_transform(seed, shape, spacing_mm, sq);
  for (int64_t u : unresolved) out[u] = std::sqrt(sq[queries[u]]);
  return out;
}

}  // namespace pulmo::eval_detail
