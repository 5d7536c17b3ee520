// Resampling between grids in physical space (see resample.h).
#include "image/resample.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "pulmo/error.h"

namespace pulmo::image {

at::Tensor resample_linear_onto(const at::Tensor& data, const Geometry& from, const Geometry& to) {
  if (data.dim() != 4) throw Error(ExitCode::Internal, "resample_linear_onto: data must be [C,z,y,x]");
  const at::Tensor src = data.to(at::kFloat).unsqueeze(0).contiguous();  // [1,C,z,y,x]
  // Continuous source index of target index (i, j, k) = base + i * step[0] + j * step[1] + k * step[2].
  const Vec3 base = from.physical_to_index(to.index_to_physical({0, 0, 0}));
  Vec3 step[3];
  for (int a = 0; a < 3; ++a) {
    Vec3 unit{0, 0, 0};
    unit[a] = 1.0;
    const Vec3 p = from.physical_to_index(to.index_to_physical(unit));
    for (int c = 0; c < 3; ++c) step[a][c] = p[c] - base[c];
  }
  // grid_sample (align_corners = true): normalised = 2 * index / (n - 1) - 1; a single voxel is sampled at 0.
  double scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    const int64_t n = from.size[c];
    scale[c] = n > 1 ? 2.0 / (n - 1) : 0.0;
    shift[c] = n > 1 ? -1.0 : 0.0;
  }
  const int64_t nx = to.size[0], ny = to.size[1], nz = to.size[2];
  at::Tensor out = at::empty({data.size(0), nz, ny, nx}, at::kFloat);
  const at::Tensor ii = at::arange(nx, at::kDouble).view({1, 1, nx});
  const at::Tensor jj = at::arange(ny, at::kDouble).view({1, ny, 1});
  const int64_t slab = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, nx * ny));
  for (int64_t k0 = 0; k0 < nz; k0 += slab) {
    const int64_t k1 = std::min(nz, k0 + slab);
    const at::Tensor kk = at::arange(k0, k1, at::kDouble).view({k1 - k0, 1, 1});
    std::vector<at::Tensor> coords;
    for (int c = 0; c < 3; ++c) {  // grid_sample's last dim is (x, y, z)
      const at::Tensor idx = base[c] + ii * step[0][c] + jj * step[1][c] + kk * step[2][c];
      coords.push_back((idx * scale[c] + shift[c]).to(at::kFloat));
    }
    const at::Tensor grid = at::stack(coords, -1).unsqueeze(0);  // [1, kz, ny, nx, 3]
    const at::Tensor part = at::grid_sampler(src, grid, /*interpolation=bilinear*/ 0, /*padding=border*/ 1,
                                             /*align_corners=*/true);  // [1, C, kz, ny, nx]
    out.slice(1, k0, k1).copy_(part.squeeze(0));
  }
  return out;
}

Volume reorient_to_lps(const Volume& volume) {
  const Geometry& g = volume.geometry;
  int from[3];       // new axis a <- old axis from[a]
  bool flip[3];
  bool used[3] = {false, false, false};
  for (int a = 0; a < 3; ++a) {  // LPS axis a: the old axis with the largest component along it
    int best = -1;
    for (int b = 0; b < 3; ++b)
      if (!used[b] && (best < 0 || std::fabs(g.direction[a * 3 + b]) > std::fabs(g.direction[a * 3 + best]))) best = b;
    used[best] = true;
    from[a] = best;
    flip[a] = g.direction[a * 3 + best] < 0;
  }
  if (from[0] == 0 && from[1] == 1 && from[2] == 2 && !flip[0] && !flip[1] && !flip[2]) return volume;
  // Tensor dims are [z, y, x]: tensor dim of ITK axis a is 2 - a.
  at::Tensor t = volume.voxels.permute({2 - from[2], 2 - from[1], 2 - from[0]});
  std::vector<int64_t> dims;
  for (int a = 0; a < 3; ++a)
    if (flip[a]) dims.push_back(2 - a);
  if (!dims.empty()) t = t.flip(dims);
  Geometry n;
  Vec3 first{0, 0, 0};  // old index of the new voxel (0, 0, 0)
  for (int a = 0; a < 3; ++a) {
    n.size[a] = g.size[from[a]];
    n.spacing_mm[a] = g.spacing_mm[from[a]];
    if (flip[a]) first[from[a]] = static_cast<double>(g.size[from[a]] - 1);
    for (int r = 0; r < 3; ++r) n.direction[r * 3 + a] = g.direction[r * 3 + from[a]] * (flip[a] ? -1.0 : 1.0);
  }
  n.origin_mm = g.index_to_physical(first);
  Volume out;
  out.geometry = n;
  out.voxels = t.contiguous();
  return out;
}

}  // namespace pulmo::image
