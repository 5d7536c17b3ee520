// Binary morphology and connected components (see morphology.h).
#include "image/morphology.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "pulmo/error.h"

namespace pulmo::image {
namespace {

at::Tensor as_u8(const at::Tensor& mask) {
  if (mask.dim() != 3) throw Error(ExitCode::Internal, "morphology: mask must be [z,y,x]");
  return mask.ne(0).to(at::kByte).contiguous();
}

int32_t find_root(std::vector<int32_t>& parent, int32_t a) {
  while (parent[a] != a) {
    parent[a] = parent[parent[a]];
    a = parent[a];
  }
  return a;
}

void unite(std::vector<int32_t>& parent, int32_t a, int32_t b) {
  a = find_root(parent, a);
  b = find_root(parent, b);
  if (a == b) return;
  if (a < b) parent[b] = a;
  else parent[a] = b;
}

// `t` moved by `step` (+1 / -1) along `dim`; the vacated border takes `fill`.
at::Tensor shifted(const at::Tensor& t, int64_t dim, int step, uint8_t fill) {
  const int64_t n = t.size(dim);
  at::Tensor out = at::full_like(t, fill);
  if (n < 2) return out;
  if (step > 0) out.slice(dim, 1, n).copy_(t.slice(dim, 0, n - 1));
  else out.slice(dim, 0, n - 1).copy_(t.slice(dim, 1, n));
  return out;
}

// One step of dilation (grow = true, OR) or erosion (AND) on the axes in `axes`; outside the volume is `outside`.
at::Tensor morph_step(const at::Tensor& m, const std::vector<int64_t>& axes, bool box, bool grow, uint8_t outside) {
  auto combine = [grow](at::Tensor& acc, const at::Tensor& other) {
    if (grow) acc.bitwise_or_(other);
    else acc.bitwise_and_(other);
  };
  at::Tensor out = m.clone();
  if (box) {
    for (int64_t d : axes) {
      const at::Tensor cur = out.clone();
      combine(out, shifted(cur, d, +1, outside));
      combine(out, shifted(cur, d, -1, outside));
    }
  } else {
    for (int64_t d : axes) {
      combine(out, shifted(m, d, +1, outside));
      combine(out, shifted(m, d, -1, outside));
    }
  }
  return out;
}

at::Tensor morph(const at::Tensor& mask, const std::array<int64_t, 3>& radius, bool grow, uint8_t outside) {
  at::Tensor m = as_u8(mask);
  const int64_t steps = std::max({radius[0], radius[1], radius[2], int64_t{0}});
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<int64_t> axes;
    for (int64_t d = 0; d < 3; ++d)
      if (s < radius[d]) axes.push_back(d);
    m = morph_step(m, axes, /*box=*/s % 2 == 1, grow, outside);
  }
  return m.to(at::kBool);
}

}  // namespace

Components connected_components(const at::Tensor& mask, bool in_plane_only) {
  const at::Tensor m = as_u8(mask);
  const int64_t nz = m.size(0), ny = m.size(1), nx = m.size(2);
  const uint8_t* in = m.data_ptr<uint8_t>();
  at::Tensor labels_t = at::zeros({nz, ny, nx}, at::kInt);
  int32_t* lab = labels_t.data_ptr<int32_t>();
  std::vector<int32_t> parent{0};
  const int64_t plane = ny * nx;
  for (int64_t z = 0; z < nz; ++z)
    for (int64_t y = 0; y < ny; ++y)
      for (int64_t x = 0; x < nx; ++x) {
        const int64_t i = z * plane + y * nx + x;
        if (!in[i]) continue;
        int32_t l = 0;
        const int32_t nb[3] = {x > 0 ? lab[i - 1] : 0, y > 0 ? lab[i - nx] : 0,
                               (z > 0 && !in_plane_only) ? lab[i - plane] : 0};
        for (int32_t n : nb) {
          if (n == 0) continue;
          if (l == 0) l = n;
          else if (n != l) unite(parent, l, n);
        }
        if (l == 0) {
          l = static_cast<int32_t>(parent.size());
          parent.push_back(l);
        }
        lab[i] = l;
      }
  // Resolve roots, count, order by size.
  const int32_t provisional = static_cast<int32_t>(parent.size());
  std::vector<int32_t> root_index(provisional, -1);
  std::vector<int64_t> sizes;
  std::vector<int64_t> first_voxel;
  const int64_t total = nz * plane;
  for (int64_t i = 0; i < total; ++i) {
    if (!lab[i]) continue;
    const int32_t r = find_root(parent, lab[i]);
    if (root_index[r] < 0) {
      root_index[r] = static_cast<int32_t>(sizes.size());
      sizes.push_back(0);
      first_voxel.push_back(i);
    }
    lab[i] = root_index[r] + 1;
    ++sizes[root_index[r]];
  }
  std::vector<int32_t> order(sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return sizes[a] > sizes[b]; });
  std::vector<int32_t> rank(sizes.size());
  Components c;
  for (size_t k = 0; k < order.size(); ++k) {
    rank[order[k]] = static_cast<int32_t>(k + 1);
    c.sizes.push_back(sizes[order[k]]);
  }
  for (int64_t i = 0; i < total; ++i)
    if (lab[i]) lab[i] = rank[lab[i] - 1];
  c.labels = labels_t;
  return c;
}

at::Tensor keep_largest_components(const at::Tensor& mask, int k) {
  const Components c = connected_components(mask);
  return c.labels.gt(0).logical_and(c.labels.le(k));
}

at::Tensor fill_holes(const at::Tensor& mask, bool per_slice, int64_t max_hole_voxels) {
  const at::Tensor m = as_u8(mask);
  const Components bg = connected_components(m.eq(0), per_slice);
  if (bg.sizes.empty()) return m.to(at::kBool);
  // Background components that touch the border (in-plane border per slice, or any face in 3-D).
  at::Tensor border = at::zeros_like(m, at::kBool);
  border.select(1, 0).fill_(true);
  border.select(1, m.size(1) - 1).fill_(true);
  border.select(2, 0).fill_(true);
  border.select(2, m.size(2) - 1).fill_(true);
  if (!per_slice) {
    border.select(0, 0).fill_(true);
    border.select(0, m.size(0) - 1).fill_(true);
  }
  at::Tensor touching = at::zeros({static_cast<int64_t>(bg.sizes.size()) + 1}, at::kBool);
  const at::Tensor ids = bg.labels.masked_select(border).to(at::kLong);
  touching.index_put_({ids}, at::ones({}, at::kBool));
  touching[0] = true;  // foreground stays as is below
  if (max_hole_voxels > 0)
    for (size_t i = 0; i < bg.sizes.size(); ++i)
      if (bg.sizes[i] > max_hole_voxels) touching[static_cast<int64_t>(i) + 1] = true;  // too large: not filled
  const at::Tensor hole = touching.logical_not().index({bg.labels.to(at::kLong)});
  return m.to(at::kBool).logical_or(hole);
}

std::array<int64_t, 3> radius_voxels(double radius_mm, const Vec3& spacing_mm) {
  return {static_cast<int64_t>(std::floor(radius_mm / spacing_mm[2] + 0.5)),
          static_cast<int64_t>(std::floor(radius_mm / spacing_mm[1] + 0.5)),
          static_cast<int64_t>(std::floor(radius_mm / spacing_mm[0] + 0.5))};
}

at::Tensor dilate(const at::Tensor& mask, const std::array<int64_t, 3>& radius) { return morph(mask, radius, true, 0); }
at::Tensor erode(const at::Tensor& mask, const std::array<int64_t, 3>& radius) { return morph(mask, radius, false, 0); }
at::Tensor close(const at::Tensor& mask, const std::array<int64_t, 3>& radius) {
  return morph(morph(mask, radius, true, 0), radius, false, 1);  // outside = foreground: closing never removes a voxel
}

at::Tensor grow_labels(const at::Tensor& seeds, const at::Tensor& mask, int64_t max_steps) {
  at::Tensor lab = seeds.to(at::kByte).contiguous().clone();
  const at::Tensor allowed = mask.ne(0);
  lab.mul_(allowed.to(at::kByte));
  for (int64_t s = 0; s < max_steps; ++s) {
    // Smallest non-zero neighbour label (255 = none).
    at::Tensor best = at::full_like(lab, 255);
    const at::Tensor as_candidate = at::where(lab.eq(0), at::full({}, 255, at::kByte), lab);
    for (int64_t d = 0; d < 3; ++d)
      for (int step : {+1, -1}) best = at::minimum(best, shifted(as_candidate, d, step, 255));
    const at::Tensor take = lab.eq(0).logical_and(allowed).logical_and(best.ne(255));
    if (!take.any().item<bool>()) break;
    lab = at::where(take, best, lab);
  }
  return lab;
}

}  // namespace pulmo::image
