// Surface distances between two binary masks (definition: include/pulmo/eval.h, docs/eval.md).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "eval/surfels.h"
#include "pulmo/error.h"
#include "pulmo/eval.h"

namespace pulmo {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string shape_string(const at::Tensor& t) {
  std::ostringstream s;
  for (int64_t d = 0; d < t.dim(); ++d) s << (d ? "x" : "") << t.size(d);
  return s.str();
}

// A uint8 0/1 view of a mask (no copy for bool and uint8 input), contiguous, as [n0, n1, n2].
at::Tensor as_bytes_3d(const at::Tensor& mask) {
  at::Tensor m = mask;
  if (m.scalar_type() == at::kBool)
    m = m.contiguous().view(at::kByte);
  else if (m.scalar_type() != at::kByte)
    m = m.ne(0).contiguous().view(at::kByte);
  m = m.contiguous();
  return m.dim() == 2 ? m.unsqueeze(0) : m;
}

struct Box {
  std::array<int64_t, 3> lo{0, 0, 0}, hi{-1, -1, -1};  // inclusive; empty when hi < lo
  bool empty() const { return hi[0] < lo[0]; }
};

// Bounding box of the voxels that are nonzero in a or b.
Box union_box(const uint8_t* a, const uint8_t* b, const std::array<int64_t, 3>& n) {
  Box box;
  box.lo = {n[0], n[1], n[2]};
  for (int64_t z = 0; z < n[0]; ++z)
    for (int64_t y = 0; y < n[1]; ++y) {
      const uint8_t* ra = a + (z * n[1] + y) * n[2];
      const uint8_t* rb = b + (z * n[1] + y) * n[2];
      int64_t first = -1, last = -1;
      for (int64_t x = 0; x < n[2]; ++x)
        if (ra[x] | rb[x]) {
          first = x;
          break;
        }
      if (first < 0) continue;
      for (int64_t x = n[2] - 1; x >= first; --x)
        if (ra[x] | rb[x]) {
          last = x;
          break;
        }
      box.lo = {std::min(box.lo[0], z), std::min(box.lo[1], y), std::min(box.lo[2], first)};
      box.hi = {std::max(box.hi[0], z), std::max(box.hi[1], y), std::max(box.hi[2], last)};
    }
  if (box.hi[0] < 0) box = Box{};
  return box;
}

// The neighbour code of every corner of the box (corner grid `corners`), for one mask.
// 3-D: corner p sees voxels box.lo + p - 1 + (i, j, k); 2-D (is_2d): a single slice, corners in y and x only.
// Voxels outside the box count as 0 (the zero padding). Each thread copies the four voxel rows around a row of
// corners into zero-padded 0/1 row buffers, so no padded copy of the volume is made.
std::vector<uint8_t> neighbour_codes(const uint8_t* m, const std::array<int64_t, 3>& n, const Box& box,
                                     const std::array<int64_t, 3>& corners, bool is_2d) {
  std::vector<uint8_t> codes(static_cast<size_t>(corners[0] * corners[1] * corners[2]));
  const int64_t width = box.hi[2] - box.lo[2] + 1;  // voxels per row in the box; corners[2] == width + 1
  at::parallel_for(0, corners[0], 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> rows(4 * static_cast<size_t>(width + 2), 0);
    // Row buffer r (= 2i + j) holds voxel row (z, y) at positions 1..width, zeros at 0 and width + 1.
    auto load = [&](int r, int64_t z, int64_t y) {
      uint8_t* __restrict dst = rows.data() + r * (width + 2) + 1;
      if (z < box.lo[0] || z > box.hi[0] || y < box.lo[1] || y > box.hi[1]) {
        std::fill(dst, dst + width, 0);
        return;
      }
      const uint8_t* __restrict src = m + (z * n[1] + y) * n[2] + box.lo[2];
      for (int64_t x = 0; x < width; ++x) dst[x] = src[x] != 0;
    };
    for (int64_t p0 = begin; p0 < end; ++p0)
      for (int64_t p1 = 0; p1 < corners[1]; ++p1) {
        const int64_t y = box.lo[1] + p1 - 1;
        uint8_t* __restrict out = codes.data() + (p0 * corners[1] + p1) * corners[2];
        if (is_2d) {
          load(0, box.lo[0], y);
          load(1, box.lo[0], y + 1);
          const uint8_t* __restrict a = rows.data();
          const uint8_t* __restrict b = a + (width + 2);
          for (int64_t k = 0; k < corners[2]; ++k)  // 2-D bit 3 - (2j + k)
            out[k] = static_cast<uint8_t>((a[k] << 3) | (a[k + 1] << 2) | (b[k] << 1) | b[k + 1]);
          continue;
        }
        const int64_t z = box.lo[0] + p0 - 1;
        load(0, z, y);
        load(1, z, y + 1);
        load(2, z + 1, y);
        load(3, z + 1, y + 1);
        const uint8_t* __restrict a = rows.data();
        const uint8_t* __restrict b = a + (width + 2);
        const uint8_t* __restrict c = b + (width + 2);
        const uint8_t* __restrict d = c + (width + 2);
        for (int64_t k = 0; k < corners[2]; ++k)  // 3-D bit 7 - (4i + 2j + k)
          out[k] = static_cast<uint8_t>((a[k] << 7) | (a[k + 1] << 6) | (b[k] << 5) | (b[k + 1] << 4) | (c[k] << 3) |
                                        (c[k + 1] << 2) | (d[k] << 1) | d[k + 1]);
      }
  });
  return codes;
}

bool is_border(uint8_t code, bool is_2d) { return code != 0 && code != (is_2d ? 15 : 255); }

// Distances from the border points of `from` to the border of `to`, with their areas, sorted by distance.
void directed_distances(const std::vector<uint8_t>& from, const std::vector<uint8_t>& to,
                        const std::array<int64_t, 3>& corners, const std::array<double, 3>& spacing, bool is_2d,
                        const std::vector<double>& area_of_code, std::vector<double>& distances,
                        std::vector<double>& areas) {
  std::vector<int64_t> queries;
  for (size_t i = 0; i < from.size(); ++i)
    if (is_border(from[i], is_2d)) queries.push_back(static_cast<int64_t>(i));
  const std::vector<double> d = eval_detail::nearest_border_distances(to.data(), is_2d ? 15 : 255, corners, spacing, queries);
  std::vector<std::pair<double, double>> pairs(queries.size());
  for (size_t q = 0; q < queries.size(); ++q) pairs[q] = {d[q], area_of_code[from[queries[q]]]};
  std::sort(pairs.begin(), pairs.end());
  distances.resize(pairs.size());
  areas.resize(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    distances[i] = pairs[i].first;
    areas[i] = pairs[i].second;
  }
}

double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

double overlap_area(const std::vector<double>& distances, const std::vector<double>& areas, double tolerance) {
  double a = 0.0;
  for (size_t i = 0; i < distances.size() && distances[i] <= tolerance; ++i) a += areas[i];
  return a;
}

double percentile_distance(const std::vector<double>& distances, const std::vector<double>& areas, double percent) {
  if (distances.empty()) return kInf;
  const double total = sum(areas), target = percent / 100.0;
  double cum = 0.0;
  for (size_t i = 0; i < distances.size(); ++i) {
    cum += areas[i];
    if (cum / total >= target) return distances[i];
  }
  return distances.back();
}

double weighted_sum(const std::vector<double>& distances, const std::vector<double>& areas) {
  double s = 0.0;
  for (size_t i = 0; i < distances.size(); ++i) s += distances[i] * areas[i];
  return s;
}

}  // namespace

double SurfaceDistances::area_ref() const { return sum(areas_ref); }
double SurfaceDistances::area_pred() const { return sum(areas_pred); }

SurfaceDistances compute_surface_distances(const at::Tensor& reference, const at::Tensor& prediction,
                                           const std::vector<double>& spacing_mm) {
  if (reference.dim() != prediction.dim() || reference.sizes() != prediction.sizes())
    throw Error(ExitCode::Mismatch, "surface distances: masks of different shapes (" + shape_string(reference) +
                                        " and " + shape_string(prediction) + ")");
  if (reference.dim() != 2 && reference.dim() != 3)
    throw Error(ExitCode::BadDimension,
                "surface distances: masks must be 2-D or 3-D, not " + std::to_string(reference.dim()) + "-D");
  if (static_cast<int64_t>(spacing_mm.size()) != reference.dim())
    throw Error(ExitCode::Mismatch, "surface distances: " + std::to_string(spacing_mm.size()) + " spacing values for " +
                                        std::to_string(reference.dim()) + "-D masks");
  for (double s : spacing_mm)
    if (!(s > 0.0) || !std::isfinite(s))
      throw Error(ExitCode::Usage, "surface distances: spacing must be positive, got " + std::to_string(s));
  const bool is_2d = reference.dim() == 2;
  const at::Tensor a = as_bytes_3d(reference.cpu()), b = as_bytes_3d(prediction.cpu());
  const std::array<int64_t, 3> n{a.size(0), a.size(1), a.size(2)};
  // In the array's axis order [z, y, x] from here on (spacing_mm is (x, y, z), or (x, y) in 2-D).
  const std::array<double, 3> spacing =
      is_2d ? std::array<double, 3>{1.0, spacing_mm[1], spacing_mm[0]} : std::array<double, 3>{spacing_mm[2], spacing_mm[1], spacing_mm[0]};

  SurfaceDistances sd;
  const Box box = union_box(a.data_ptr<uint8_t>(), b.data_ptr<uint8_t>(), n);
  if (box.empty()) return sd;
  const std::array<int64_t, 3> corners{is_2d ? 1 : box.hi[0] - box.lo[0] + 2, box.hi[1] - box.lo[1] + 2,
                                       box.hi[2] - box.lo[2] + 2};
  std::vector<double> area_of_code;
  if (is_2d) {
    const auto t = eval_detail::surfel_length_table_2d({spacing[1], spacing[2]});
    area_of_code.assign(t.begin(), t.end());
  } else {
    const auto t = eval_detail::surfel_area_table_3d(spacing);
    area_of_code.assign(t.begin(), t.end());
  }
  const std::vector<uint8_t> codes_a = neighbour_codes(a.data_ptr<uint8_t>(), n, box, corners, is_2d);
  const std::vector<uint8_t> codes_b = neighbour_codes(b.data_ptr<uint8_t>(), n, box, corners, is_2d);
  directed_distances(codes_a, codes_b, corners, spacing, is_2d, area_of_code, sd.distances_ref_to_pred, sd.areas_ref);
  directed_distances(codes_b, codes_a, corners, spacing, is_2d, area_of_code, sd.distances_pred_to_ref, sd.areas_pred);
  return sd;
}

SurfaceDistances compute_surface_distances(const Volume& reference, const Volume& prediction) {
  if (!reference.geometry.same_grid_as(prediction.geometry))
    throw Error(ExitCode::Mismatch, "surface distances: masks on different grids (" + reference.geometry.describe() +
                                        " and " + prediction.geometry.describe() + ")");
  const Vec3& s = reference.geometry.spacing_mm;
  if (!reference.is_3d())
    return compute_surface_distances(reference.voxels[0], prediction.voxels[0], {s[0], s[1]});
  return compute_surface_distances(reference.voxels, prediction.voxels, {s[0], s[1], s[2]});
}

std::pair<double, double> surface_overlap_at(const SurfaceDistances& sd, double tolerance_mm) {
  return {overlap_area(sd.distances_ref_to_pred, sd.areas_ref, tolerance_mm) / sd.area_ref(),
          overlap_area(sd.distances_pred_to_ref, sd.areas_pred, tolerance_mm) / sd.area_pred()};
}

double surface_dice_at(const SurfaceDistances& sd, double tolerance_mm) {
  const double overlap = overlap_area(sd.distances_ref_to_pred, sd.areas_ref, tolerance_mm) +
                         overlap_area(sd.distances_pred_to_ref, sd.areas_pred, tolerance_mm);
  return overlap / (sd.area_ref() + sd.area_pred());
}

double hd_at(const SurfaceDistances& sd, double percent) {
  return std::max(percentile_distance(sd.distances_ref_to_pred, sd.areas_ref, percent),
                  percentile_distance(sd.distances_pred_to_ref, sd.areas_pred, percent));
}

std::pair<double, double> average_surface_distance(const SurfaceDistances& sd) {
  return {weighted_sum(sd.distances_ref_to_pred, sd.areas_ref) / sd.area_ref(),
          weighted_sum(sd.distances_pred_to_ref, sd.areas_pred) / sd.area_pred()};
}

double average_symmetric_surface_distance(const SurfaceDistances& sd) {
  return (weighted_sum(sd.distances_ref_to_pred, sd.areas_ref) + weighted_sum(sd.distances_pred_to_ref, sd.areas_pred)) /
         (sd.area_ref() + sd.area_pred());
}

}  // namespace pulmo
