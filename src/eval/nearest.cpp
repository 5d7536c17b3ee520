// Exact distance from query grid points to the nearest seed point, fast when the two surfaces are close.
//
// 1. Local search: neighbour offsets within a radius (a few thousand offsets), sorted by their
//    physical length; the first offset that lands on a seed gives the exact nearest distance. Work grows with
//    the cube of the distance, so it stops when its total work passes a budget (about ten visits per grid point).
// 2. Queries with no seed within the radius: an exact branch-and-bound over cubes of seed points; when the
//    budget ran out (many queries far from the other surface), the exact distance transform of the whole grid.
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "eval/surfels.h"

namespace pulmo::eval_detail {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kMaxOffsets = 8000;

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

// Seed points bucketed in cubes of kCell^3 grid points, with each cube's bounding box in mm: an exact
// branch-and-bound search for the few queries with no seed near them.
constexpr int64_t kCell = 8;
struct SeedCells {
  std::vector<std::array<double, 6>> boxes;    // lo0, lo1, lo2, hi0, hi1, hi2 (mm) of the seeds in the cell
  std::vector<int64_t> begin;                  // points of cell c: [begin[c], begin[c + 1])
  std::vector<std::array<double, 3>> points;   // seed positions (mm), grouped by cell
};

SeedCells seed_cells(const uint8_t* codes, uint8_t full, const std::array<int64_t, 3>& shape,
                     const std::array<double, 3>& s) {
  const int64_t n1 = shape[1], n2 = shape[2], total = shape[0] * n1 * n2;
  const int64_t c1 = (n1 + kCell - 1) / kCell, c2 = (n2 + kCell - 1) / kCell;
  std::vector<std::pair<int64_t, int64_t>> keyed;  // (cell, point)
  for (int64_t i = 0; i < total; ++i)
    if (codes[i] != 0 && codes[i] != full) {
      const int64_t p0 = i / (n1 * n2), p1 = (i / n2) % n1, p2 = i % n2;
      keyed.emplace_back(((p0 / kCell) * c1 + p1 / kCell) * c2 + p2 / kCell, i);
    }
  std::sort(keyed.begin(), keyed.end());
  SeedCells cells;
  for (size_t k = 0; k < keyed.size(); ++k) {
    const int64_t i = keyed[k].second;
    const std::array<double, 3> x{double(i / (n1 * n2)) * s[0], double((i / n2) % n1) * s[1], double(i % n2) * s[2]};
    if (k == 0 || keyed[k].first != keyed[k - 1].first) {
      cells.begin.push_back(static_cast<int64_t>(k));
      cells.boxes.push_back({x[0], x[1], x[2], x[0], x[1], x[2]});
    }
    auto& b = cells.boxes.back();
    for (int a = 0; a < 3; ++a) {
      b[a] = std::min(b[a], x[a]);
      b[a + 3] = std::max(b[a + 3], x[a]);
    }
    cells.points.push_back(x);
  }
  cells.begin.push_back(static_cast<int64_t>(keyed.size()));
  return cells;
}

// Squared distance from x to the nearest seed: lower bounds of every cell, the best cell first, then every
// cell whose lower bound is below the best distance so far. `lower` is scratch of one entry per cell.
double nearest_in_cells(const SeedCells& cells, const std::array<double, 3>& x, std::vector<double>& lower) {
  size_t first = 0;
  for (size_t c = 0; c < cells.boxes.size(); ++c) {
    const auto& b = cells.boxes[c];
    double lb = 0;
    for (int a = 0; a < 3; ++a) {
      const double d = std::max({0.0, b[a] - x[a], x[a] - b[a + 3]});
      lb += d * d;
    }
    lower[c] = lb;
    if (lb < lower[first]) first = c;
  }
  double best = kInf;
  auto scan = [&](size_t c) {
    for (int64_t k = cells.begin[c]; k < cells.begin[c + 1]; ++k) {
      const auto& p = cells.points[k];
      const double a = p[0] - x[0], b = p[1] - x[1], d = p[2] - x[2];
      best = std::min(best, a * a + b * b + d * d);
    }
  };
  scan(first);
  for (size_t c = 0; c < cells.boxes.size(); ++c)
    if (c != first && lower[c] < best) scan(c);
  return best;
}

}  // namespace

std::vector<double> nearest_border_distances(const uint8_t* codes, uint8_t full, const std::array<int64_t, 3>& shape,
                                             const std::array<double, 3>& spacing_mm, const std::vector<int64_t>& queries) {
  const int64_t n1 = shape[1], n2 = shape[2], total = shape[0] * shape[1] * shape[2];
  std::vector<double> out(queries.size(), -1.0);  // -1: not found yet
  const auto is_seed = [codes, full](int64_t i) { return codes[i] != 0 && codes[i] != full; };
  int64_t count = 0;
  for (int64_t i = 0; i < total; ++i) count += is_seed(i);
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
        if (is_seed((i * n1 + j) * n2 + k)) break;
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
  if (!over_budget) {
    const SeedCells cells = seed_cells(codes, full, shape, spacing_mm);
    if (double(unresolved.size()) * double(cells.boxes.size()) <= 2e9) {
      at::parallel_for(0, static_cast<int64_t>(unresolved.size()), 4, [&](int64_t begin, int64_t end) {
        std::vector<double> lower(cells.boxes.size());
        for (int64_t u = begin; u < end; ++u) {
          const int64_t p = queries[unresolved[u]];
          const std::array<double, 3> x{double(p / (n1 * n2)) * spacing_mm[0], double((p / n2) % n1) * spacing_mm[1],
                                        double(p % n2) * spacing_mm[2]};
          out[unresolved[u]] = std::sqrt(nearest_in_cells(cells, x, lower));
        }
      });
      return out;
    }
  }
  std::vector<uint8_t> seed(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) seed[i] = is_seed(i);
  std::vector<double> sq;
  squared_distance_transform(seed.data(), shape, spacing_mm, sq);
  for (int64_t u : unresolved) out[u] = std::sqrt(sq[queries[u]]);
  return out;
}

}  // namespace pulmo::eval_detail
