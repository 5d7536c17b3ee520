// Deterministic preprocessing: HU normalisation, resampling to a spacing, foreground index.
#include <ATen/ATen.h>

#include <cmath>

#include "core/random.h"
#include "image/resample.h"
#include "pulmo/error.h"
#include "pulmo/transforms.h"

namespace pulmo {

at::Tensor normalise_intensity(const at::Tensor& hu, const IntensityOptions& o) {
  if (!(o.hu_max > o.hu_min)) throw Error(ExitCode::BadConfig, "intensity window: hu_max must exceed hu_min");
  at::Tensor x = hu.to(at::kFloat).clamp(o.hu_min, o.hu_max);
  if (o.normalisation == Normalisation::Window01) return (x - o.hu_min) / (o.hu_max - o.hu_min);
  if (!(o.std > 0)) throw Error(ExitCode::BadConfig, "intensity: zscore needs std > 0");
  return (x - o.mean) / o.std;
}

Volume resample_to_spacing(const Volume& volume, const Vec3& spacing_mm, bool label) {
  volume.check();
  Geometry g = volume.geometry;
  std::array<int64_t, 3> size = g.size;
  Vec3 spacing = g.spacing_mm;
  for (int a = 0; a < 3; ++a) {
    if (!(spacing_mm[a] > 0)) continue;
    size[a] = std::max<int64_t>(1, std::llround(g.size[a] * g.spacing_mm[a] / spacing_mm[a]));
    spacing[a] = spacing_mm[a];
  }
  if (size == g.size && spacing == g.spacing_mm) return volume;
  // Keep the outer corner of voxel 0: origin moves by (new - old) / 2 spacing along each axis.
  Vec3 shift_index{};
  for (int a = 0; a < 3; ++a) shift_index[a] = (spacing[a] / g.spacing_mm[a] - 1.0) / 2.0;
  const Vec3 new_origin = g.index_to_physical(shift_index);
  at::Tensor x = volume.voxels.to(at::kFloat).unsqueeze(0).unsqueeze(0);  // [1,1,z,y,x]
  const std::vector<int64_t> out{size[2], size[1], size[0]};
  at::Tensor y = label ? at::upsample_nearest3d(x, out) : at::upsample_trilinear3d(x, out, /*align_corners=*/false);
  y = y.squeeze(0).squeeze(0);
  if (label || volume.voxels.scalar_type() != at::kFloat) y = (label ? y : y.round()).to(volume.voxels.scalar_type());
  Volume r;
  r.voxels = y.contiguous();
  r.geometry = g;
  r.geometry.size = size;
  r.geometry.spacing_mm = spacing;
  r.geometry.origin_mm = new_origin;
  return r;
}

Volume prepare_image(const Volume& hu, const Vec3& spacing_mm, const IntensityOptions& o) {
  Volume v = prepare_hu(hu, spacing_mm);
  v.voxels = normalise_intensity(v.voxels, o).contiguous();
  return v;
}

Volume prepare_hu(const Volume& hu, const Vec3& spacing_mm) {
  Volume v = image::reorient_to_lps(hu);
  if (v.voxels.scalar_type() != at::kFloat) v.voxels = v.voxels.to(at::kFloat);
  return resample_to_spacing(v, spacing_mm, false);
}

Volume prepare_labels(const Volume& labels, const Vec3& spacing_mm) {
  return resample_to_spacing(image::reorient_to_lps(labels), spacing_mm, true);
}

at::Tensor box_network_input(const at::Tensor& hu, const std::array<int64_t, 3>& input_size, const IntensityOptions& o) {
  if (hu.dim() != 3) throw Error(ExitCode::BadDimension, "box input: image must be [z,y,x]");
  at::Tensor x = hu.to(at::kFloat).unsqueeze(0).unsqueeze(0);  // [1,1,z,y,x]
  x = at::upsample_trilinear3d(x, {input_size[2], input_size[1], input_size[0]}, /*align_corners=*/false);
  return normalise_intensity(x.squeeze(0).squeeze(0), o).contiguous();
}

std::array<double, 6> mask_box_fractions(const at::Tensor& mask) {
  std::array<double, 6> box{};
  const at::Tensor m = mask.ne(0);
  for (int d = 0; d < 3; ++d) {  // tensor dim d <-> ITK axis 2 - d
    std::vector<int64_t> others;
    for (int e = 0; e < 3; ++e)
      if (e != d) others.push_back(e);
    const at::Tensor idx = at::nonzero(m.any(others[1]).any(others[0])).squeeze(1);
    if (idx.numel() == 0) return std::array<double, 6>{};
    const double n = static_cast<double>(m.size(d));
    box[2 - d] = idx.min().item<double>() / n;
    box[3 + 2 - d] = (idx.max().item<double>() + 1) / n;
  }
  return box;
}

void index_foreground(Sample& sample, int64_t max_points) {
  if (!sample.label.defined()) return;
  at::Tensor idx = at::nonzero(sample.label > 0);  // [N,3]
  if (idx.size(0) > max_points) {
    const int64_t step = (idx.size(0) + max_points - 1) / max_points;
    idx = idx.slice(0, 0, idx.size(0), step).contiguous();
  }
  sample.foreground = idx;
}

void Compose::apply(Sample& sample, uint64_t seed) const {
  for (size_t i = 0; i < children_.size(); ++i) {
    try {
      children_[i]->apply(sample, mix_seed(seed, i));
    } catch (const Error& e) {
      throw e.with_context("augmentation '" + children_[i]->name() + "'");
    } catch (const std::exception& e) {
      throw Error(ExitCode::Internal, "augmentation '" + children_[i]->name() + "': " + e.what());
    }
  }
}

}  // namespace pulmo
