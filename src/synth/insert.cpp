// insert_lesions: synthetic lesions in a real CT's lungs (the label-free approach of Yao et al., TMI 2021).
#include <ATen/ATen.h>
#include <itkSignedMaurerDistanceMapImageFilter.h>

#include <algorithm>
#include <cmath>

#include "io/itk_bridge.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/labels.h"
#include "pulmo/synth.h"
#include "synth/lesions.h"

namespace pulmo::synth {

namespace {

// Distance (mm) from each lung voxel to the nearest non-lung voxel; 0 outside.
std::vector<float> inside_distance_mm(const Volume& lungs) {
  using Mask = itk::Image<uint8_t, 3>;
  using Dist = itk::Image<float, 3>;
  Mask::Pointer mask = io::to_itk<uint8_t>(lungs.with_voxels(lungs.voxels.gt(0).to(at::kByte)));
  auto filter = itk::SignedMaurerDistanceMapImageFilter<Mask, Dist>::New();
  filter->SetInput(mask);
  filter->SetUseImageSpacing(true);
  filter->SetSquaredDistance(false);
  filter->SetInsideIsPositive(true);
  filter->Update();
  const Dist* d = filter->GetOutput();
  const size_t n = static_cast<size_t>(lungs.geometry.num_voxels());
  std::vector<float> out(d->GetBufferPointer(), d->GetBufferPointer() + n);
  for (float& v : out) v = std::max(v, 0.0f);
  return out;
}

// pulmo lung labels from a mask with 0/1/2 (kept) or 0/1 (split into right and left).
Volume lung_labels(const Volume& mask) {
  const at::Tensor v = mask.voxels;
  const double lo = v.min().item<double>(), hi = v.max().item<double>();
  if (lo < 0 || hi > 2 || !v.eq(v.round()).all().item<bool>())
    throw Error(ExitCode::Mismatch, "lung mask must hold 0 background and 1 right / 2 left lung (or 1 = lung), found values " +
                                        std::to_string(lo) + ".." + std::to_string(hi) +
                                        "; convert other conventions first (docs/datasets.md)");
  if (hi == 0) throw Error(ExitCode::NoData, "lung mask has no lung voxel");
  const Volume labels = mask.with_voxels(v.to(at::kByte));
  if (hi == 1) return split_lungs_left_right(labels);
  return labels;
}

struct LungFrame {
  std::vector<int64_t> voxels;  // lung voxel indices
  double y_lo = 1e300, y_hi = -1e300, z_lo = 1e300, z_hi = -1e300, x_lo = 1e300, x_hi = -1e300;
};

LungFrame lung_frame(const Volume& lungs) {
  LungFrame f;
  const Geometry& g = lungs.geometry;
  const uint8_t* l = lungs.voxels.data_ptr<uint8_t>();
  for (int64_t idx = 0; idx < g.num_voxels(); ++idx) {
    if (!l[idx]) continue;
    f.voxels.push_back(idx);
    const Vec3 p = g.index_to_physical({double(idx % g.size[0]), double((idx / g.size[0]) % g.size[1]),
                                        double(idx / (g.size[0] * g.size[1]))});
    f.x_lo = std::min(f.x_lo, p[0]), f.x_hi = std::max(f.x_hi, p[0]);
    f.y_lo = std::min(f.y_lo, p[1]), f.y_hi = std::max(f.y_hi, p[1]);
    f.z_lo = std::min(f.z_lo, p[2]), f.z_hi = std::max(f.z_hi, p[2]);
  }
  return f;
}

}  // namespace

Phantom insert_lesions(const Volume& ct, const Volume& lung_mask, const PhantomOptions& o) {
  PhantomOptions check = o;
  check.size = {16, 16, 8};
  check.spacing_mm = {0.8, 0.8, 1.0};
  validate(check);  // only the lesion options matter here
  ct.check();
  lung_mask.check();
  if (lung_mask.voxels.is_floating_point() && !at::isfinite(lung_mask.voxels).all().item<bool>())
    throw Error(ExitCode::Mismatch, "the lung mask holds NaN or infinite values; a label map holds integers");
  if (!lung_mask.geometry.same_grid_as(ct.geometry))
    throw Error(ExitCode::Mismatch, "lung mask grid (" + lung_mask.geometry.describe() + ") differs from the CT grid (" +
                                        ct.geometry.describe() + ")");
  Phantom p;
  p.lungs = lung_labels(lung_mask);
  p.ct = ct.with_voxels(ct.voxels.to(at::kFloat).clone());
  p.lesions = Volume::filled(ct.geometry, 0.0, at::kByte);
  const Geometry& g = ct.geometry;
  const LungFrame frame = lung_frame(p.lungs);
  const std::vector<float> depth = inside_distance_mm(p.lungs);
  const float max_depth = *std::max_element(depth.begin(), depth.end());
  const double extent[3] = {g.size[0] * g.spacing_mm[0], g.size[1] * g.spacing_mm[1], g.size[2] * g.spacing_mm[2]};
  const uint8_t* lungs = p.lungs.voxels.data_ptr<uint8_t>();
  auto local_mm = [&](int64_t idx, int axis) {
    const int64_t i = axis == 0 ? idx % g.size[0] : axis == 1 ? (idx / g.size[0]) % g.size[1] : idx / (g.size[0] * g.size[1]);
    return (i + 0.5) * g.spacing_mm[axis];
  };
  auto where_at = [&](int64_t idx) {
    const Vec3 pt = g.index_to_physical({local_mm(idx, 0) / g.spacing_mm[0] - 0.5, local_mm(idx, 1) / g.spacing_mm[1] - 0.5,
                                         local_mm(idx, 2) / g.spacing_mm[2] - 0.5});
    return LungPosition{1.0 - depth[idx] / std::max(max_depth, 1e-3f),
                        (pt[1] - frame.y_lo) / std::max(frame.y_hi - frame.y_lo, 1e-3),
                        1.0 - (pt[2] - frame.z_lo) / std::max(frame.z_hi - frame.z_lo, 1e-3)};
  };

  // Foci: alternate lungs, prefer the periphery and the posterior bases.
  Rng rng(hash2(o.seed, 11));
  std::vector<LesionFocus> foci;
  const int n_foci = focus_count(rng, o.involvement);
  const double width = frame.x_hi - frame.x_lo;
  for (int f = 0; f < n_foci; ++f) {
    int64_t pick = frame.voxels[rng.below(static_cast<int>(frame.voxels.size()))];
    for (int tries = 0; tries < 400; ++tries) {
      const int64_t idx = frame.voxels[rng.below(static_cast<int>(frame.voxels.size()))];
      const double accept = rng.uniform();
      if (lungs[idx] != f % 2 + 1) continue;
      const LungPosition w = where_at(idx);
      pick = idx;
      if (accept < (0.2 + 0.8 * w.periph) * (0.3 + 0.7 * w.posterior) * (0.3 + 0.7 * w.basal)) break;
    }
    foci.push_back({local_mm(pick, 0), local_mm(pick, 1), local_mm(pick, 2),
                    rng.uniform(0.05, 0.11) * 1.25 * width * (0.7 + o.involvement)});
  }
  const LesionModel model(hash2(o.seed, 12), extent, foci);

  std::vector<float> score(static_cast<size_t>(g.num_voxels()), -std::numeric_limits<float>::infinity());
  std::vector<float> core(score.size(), 0.0f);
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < frame.voxels.size(); ++n) {
    const int64_t idx = frame.voxels[n];
    const double x = local_mm(idx, 0), y = local_mm(idx, 1), z = local_mm(idx, 2);
    const LungPosition w = where_at(idx);
    const float focus = model.focus(x, y, z);
    score[idx] = model.score(x, y, z, w, focus);
    core[idx] = model.core(w, focus);
  }
  const LesionThresholds th = choose_thresholds(score, core, o.involvement, o.consolidation_fraction);
  float* out = p.ct.voxels.data_ptr<float>();
  uint8_t* lesions = p.lesions.voxels.data_ptr<uint8_t>();
  const uint64_t noise_seed = hash2(o.seed, 13);
  const float sigma = static_cast<float>(o.noise_hu);
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < frame.voxels.size(); ++n) {
    const int64_t idx = frame.voxels[n];
    if (!(score[idx] >= th.lesion)) continue;
    const bool cons = core[idx] >= th.consolidation;
    lesions[idx] = cons ? labels::kConsolidation : labels::kGroundGlass;
    const float target =
        model.hu(cons, score[idx] - th.lesion, o.crazy_paving, local_mm(idx, 0), local_mm(idx, 1), local_mm(idx, 2)) +
        sigma * normal_at(noise_seed, idx);
    // Vessels and other dense structures stay visible through ground-glass (never darken a voxel).
    if (target > out[idx]) out[idx] += (cons ? 1.0f : 0.9f) * (target - out[idx]);
  }
  p.involved_percent = involved_percent(p.lungs, p.lesions);
  return p;
}

}  // namespace pulmo::synth
