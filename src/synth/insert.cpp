// insert_lesions: synthetic lesions in a real CT's lungs (the label-free approach of Yao et al., TMI 2021).
#include <ATen/ATen.h>
#include <itkSignedMaurerDistanceMapImageFilter.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>

#include "image/morphology.h"
#include "io/itk_bridge.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/labels.h"
#include "pulmo/synth.h"
#include "synth/lesions.h"

namespace pulmo::synth {

namespace {

// Signed distance (mm) of every voxel to the mask's boundary, positive inside (ITK's Maurer map).
std::vector<float> signed_distance_mm(const Volume& mask) {
  using Mask = itk::Image<uint8_t, 3>;
  using Dist = itk::Image<float, 3>;
  Mask::Pointer m = io::to_itk<uint8_t>(mask.with_voxels(mask.voxels.gt(0).to(at::kByte)));
  auto filter = itk::SignedMaurerDistanceMapImageFilter<Mask, Dist>::New();
  filter->SetInput(m);
  filter->SetUseImageSpacing(true);
  filter->SetSquaredDistance(false);
  filter->SetInsideIsPositive(true);
  filter->Update();
  const Dist* d = filter->GetOutput();
  const size_t n = static_cast<size_t>(mask.geometry.num_voxels());
  return std::vector<float>(d->GetBufferPointer(), d->GetBufferPointer() + n);
}

// Distance (mm) from each lung voxel to the nearest non-lung voxel; 0 outside.
std::vector<float> inside_distance_mm(const Volume& lungs) {
  std::vector<float> out = signed_distance_mm(lungs);
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

// The shape's signed distance (mm) at continuous crop index u (x, y, z); -inf outside the crop.
float sample_trilinear(const LesionShape& s, const double u[3]) {
  int64_t i0[3];
  double w[3];
  for (int a = 0; a < 3; ++a) {
    if (!(u[a] >= 0) || u[a] > double(s.size[a] - 1)) return -std::numeric_limits<float>::infinity();
    i0[a] = std::min<int64_t>(static_cast<int64_t>(u[a]), s.size[a] - 2 < 0 ? 0 : s.size[a] - 2);
    w[a] = u[a] - double(i0[a]);
  }
  double v = 0;
  for (int dz = 0; dz < 2; ++dz)
    for (int dy = 0; dy < 2; ++dy)
      for (int dx = 0; dx < 2; ++dx) {
        const int64_t x = std::min(i0[0] + dx, s.size[0] - 1), y = std::min(i0[1] + dy, s.size[1] - 1),
                      z = std::min(i0[2] + dz, s.size[2] - 1);
        const double wt = (dx ? w[0] : 1 - w[0]) * (dy ? w[1] : 1 - w[1]) * (dz ? w[2] : 1 - w[2]);
        v += wt * s.distance_mm[static_cast<size_t>(x + s.size[0] * (y + s.size[1] * z))];
      }
  return static_cast<float>(v);
}

// What the two insertion modes share: the checked inputs, the lung frame, and each lung voxel's place in it.
struct Insertion {
  Phantom p;
  LungFrame frame;
  std::vector<float> depth;
  float max_depth = 0;
  double extent[3] = {0, 0, 0};

  Insertion(const Volume& ct, const Volume& lung_mask, const PhantomOptions& o) {
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
    p.lungs = lung_labels(lung_mask);
    p.ct = ct.with_voxels(ct.voxels.to(at::kFloat).clone());
    p.lesions = Volume::filled(ct.geometry, 0.0, at::kByte);
    const Geometry& g = ct.geometry;
    frame = lung_frame(p.lungs);
    depth = inside_distance_mm(p.lungs);
    max_depth = *std::max_element(depth.begin(), depth.end());
    for (int a = 0; a < 3; ++a) extent[a] = g.size[a] * g.spacing_mm[a];
  }
  const Geometry& g() const { return p.ct.geometry; }
  // Index along `axis` -> local mm (voxel centres from 0.5 * spacing; the lesion models' own frame).
  double local_mm(int64_t idx, int axis) const {
    const auto& s = g().size;
    const int64_t i = axis == 0 ? idx % s[0] : axis == 1 ? (idx / s[0]) % s[1] : idx / (s[0] * s[1]);
    return (i + 0.5) * g().spacing_mm[axis];
  }
  LungPosition where_at(int64_t idx) const {
    const Vec3 pt = g().index_to_physical({local_mm(idx, 0) / g().spacing_mm[0] - 0.5, local_mm(idx, 1) / g().spacing_mm[1] - 0.5,
                                           local_mm(idx, 2) / g().spacing_mm[2] - 0.5});
    return LungPosition{1.0 - depth[idx] / std::max(max_depth, 1e-3f),
                        (pt[1] - frame.y_lo) / std::max(frame.y_hi - frame.y_lo, 1e-3),
                        1.0 - (pt[2] - frame.z_lo) / std::max(frame.z_hi - frame.z_lo, 1e-3)};
  }
  // A lung voxel of lung `side` (1 right, 2 left), preferring the periphery and the posterior bases.
  int64_t pick_voxel(Rng& rng, int side) const {
    const uint8_t* lungs = p.lungs.voxels.data_ptr<uint8_t>();
    int64_t pick = frame.voxels[rng.below(static_cast<int>(frame.voxels.size()))];
    for (int tries = 0; tries < 400; ++tries) {
      const int64_t idx = frame.voxels[rng.below(static_cast<int>(frame.voxels.size()))];
      const double accept = rng.uniform();
      if (lungs[idx] != side) continue;
      const LungPosition w = where_at(idx);
      pick = idx;
      if (accept < (0.2 + 0.8 * w.periph) * (0.3 + 0.7 * w.posterior) * (0.3 + 0.7 * w.basal)) break;
    }
    return pick;
  }
  // Lesions where score >= the involvement quantile, consolidation where core is in its top quantile among them;
  // their HU from `model` (ground-glass fainter within `ramp` score units of the edge), noise inside lesions.
  Phantom finish(const std::vector<float>& score, const std::vector<float>& core, const LesionModel& model,
                 const PhantomOptions& o, float ramp) {
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
      const float above = (score[idx] - th.lesion) * 0.08f / ramp;
      const float target = model.hu(cons, above, o.crazy_paving, local_mm(idx, 0), local_mm(idx, 1), local_mm(idx, 2)) +
                           sigma * normal_at(noise_seed, idx);
      // Vessels and other dense structures stay visible through ground-glass (never darken a voxel).
      if (target > out[idx]) out[idx] += (cons ? 1.0f : 0.9f) * (target - out[idx]);
    }
    p.involved_percent = involved_percent(p.lungs, p.lesions);
    return std::move(p);
  }
};

}  // namespace

Phantom insert_lesions(const Volume& ct, const Volume& lung_mask, const PhantomOptions& o) {
  Insertion in(ct, lung_mask, o);
  // Foci: alternate lungs, prefer the periphery and the posterior bases.
  Rng rng(hash2(o.seed, 11));
  std::vector<LesionFocus> foci;
  const int n_foci = focus_count(rng, o.involvement);
  const double width = in.frame.x_hi - in.frame.x_lo;
  for (int f = 0; f < n_foci; ++f) {
    const int64_t pick = in.pick_voxel(rng, f % 2 + 1);
    foci.push_back({in.local_mm(pick, 0), in.local_mm(pick, 1), in.local_mm(pick, 2),
                    rng.uniform(0.05, 0.11) * 1.25 * width * (0.7 + o.involvement)});
  }
  const LesionModel model(hash2(o.seed, 12), in.extent, foci);
  std::vector<float> score(static_cast<size_t>(in.g().num_voxels()), -std::numeric_limits<float>::infinity());
  std::vector<float> core(score.size(), 0.0f);
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < in.frame.voxels.size(); ++n) {
    const int64_t idx = in.frame.voxels[n];
    const double x = in.local_mm(idx, 0), y = in.local_mm(idx, 1), z = in.local_mm(idx, 2);
    const LungPosition w = in.where_at(idx);
    const float focus = model.focus(x, y, z);
    score[idx] = model.score(x, y, z, w, focus);
    core[idx] = model.core(w, focus);
  }
  return in.finish(score, core, model, o, /*ramp: score units, as the phantom*/ 0.08f);
}

std::vector<LesionShape> load_lesion_shapes(const std::vector<std::string>& mask_files, double min_volume_ml) {
  std::vector<LesionShape> shapes;
  for (const std::string& file : mask_files) {
    ReadOptions ro;
    ro.require_3d = true;
    const Volume mask = read_volume(file, ro);
    const Geometry& g = mask.geometry;
    if (mask.voxels.is_floating_point() && !at::isfinite(mask.voxels).all().item<bool>())
      throw Error(ExitCode::Mismatch, "lesion mask '" + file + "' holds NaN or infinite values");
    // A binary mask: 0 and one lesion value (1, 255, ...). A CT, a probability map or a label map of several
    // classes given by mistake would otherwise be read as "lesion wherever it is not 0".
    const at::Tensor values = std::get<0>(at::_unique(mask.voxels.flatten(), /*sorted=*/true));
    const at::Tensor lesion_values = values.masked_select(values.ne(0)).to(at::kDouble);
    if (lesion_values.numel() > 1) {
      std::string listed;
      for (int64_t i = 0; i < std::min<int64_t>(lesion_values.numel(), 4); ++i)
        listed += (i ? ", " : "") + std::to_string(lesion_values[i].item<double>()).substr(0, 8);
      throw Error(ExitCode::Mismatch, "lesion mask '" + file + "' is not a binary mask: it holds " +
                                          std::to_string(lesion_values.numel()) + " non-zero values (" + listed +
                                          (lesion_values.numel() > 4 ? ", ..." : "") +
                                          "); --shapes takes masks of 0 and one lesion value (a CT or a label map of "
                                          "several classes?)");
    }
    const at::Tensor lesion = mask.voxels.ne(0).contiguous();  // [z, y, x]
    const image::Components cc = image::connected_components(lesion);
    const double voxel_ml = g.spacing_mm[0] * g.spacing_mm[1] * g.spacing_mm[2] / 1000.0;
    const at::Tensor labels = cc.labels.contiguous();
    // Every component's box (z, y, x) in one pass.
    const size_t n = cc.sizes.size();
    std::vector<std::array<int64_t, 6>> box(n, {INT64_MAX, INT64_MAX, INT64_MAX, -1, -1, -1});
    const int32_t* lab = labels.data_ptr<int32_t>();
    const int64_t nz = labels.size(0), ny = labels.size(1), nx = labels.size(2);
    for (int64_t z = 0, i = 0; z < nz; ++z)
      for (int64_t y = 0; y < ny; ++y)
        for (int64_t x = 0; x < nx; ++x, ++i) {
          if (lab[i] <= 0) continue;
          auto& b = box[static_cast<size_t>(lab[i] - 1)];
          const int64_t p[3] = {z, y, x};
          for (int a = 0; a < 3; ++a) b[a] = std::min(b[a], p[a]), b[3 + a] = std::max(b[3 + a], p[a]);
        }
    for (size_t c = 0; c < n; ++c) {
      if (double(cc.sizes[c]) * voxel_ml < min_volume_ml) break;  // sizes decrease
      const auto& b = box[c];
      const at::Tensor mine = labels.slice(0, b[0], b[3] + 1).slice(1, b[1], b[4] + 1).slice(2, b[2], b[5] + 1).eq(static_cast<int>(c) + 1);
      // The component's box, padded by 2 voxels of background on every side.
      const int64_t pad = 2;
      Volume crop;
      crop.geometry.spacing_mm = g.spacing_mm;
      for (int a = 0; a < 3; ++a) crop.geometry.size[a] = mine.size(2 - a) + 2 * pad;
      crop.voxels = at::zeros({crop.geometry.size[2], crop.geometry.size[1], crop.geometry.size[0]}, at::kByte);
      crop.voxels.slice(0, pad, pad + mine.size(0)).slice(1, pad, pad + mine.size(1)).slice(2, pad, pad + mine.size(2)).copy_(mine);
      LesionShape s;
      s.size = crop.geometry.size;
      s.spacing_mm = g.spacing_mm;
      // ITK puts the object's boundary voxels at 0: shift by half the finest spacing so that every drawn voxel is
      // inside (> 0) and the zero level lies between a boundary voxel and its outside neighbour (one-slice lesions
      // of 8 mm series stay).
      s.distance_mm = signed_distance_mm(crop);
      const float half = 0.5f * static_cast<float>(std::min({g.spacing_mm[0], g.spacing_mm[1], g.spacing_mm[2]}));
      for (float& d : s.distance_mm) d += half;
      s.volume_ml = double(cc.sizes[c]) * voxel_ml;
      s.source = file;
      shapes.push_back(std::move(s));
    }
  }
  if (shapes.empty())
    throw Error(ExitCode::NoData, "no lesion component of at least " + std::to_string(min_volume_ml) + " mL in " +
                                      std::to_string(mask_files.size()) + " lesion mask file(s)");
  return shapes;
}

Phantom insert_lesion_shapes(const Volume& ct, const Volume& lung_mask, const PhantomOptions& o,
                             const std::vector<LesionShape>& shapes) {
  if (shapes.empty()) throw Error(ExitCode::NoData, "no lesion shape to insert");
  Insertion in(ct, lung_mask, o);
  const Geometry& g = in.g();
  const uint8_t* lungs = in.p.lungs.voxels.data_ptr<uint8_t>();
  // Uncovered lung: far below any shape's depth, so the quantile takes shape voxels first.
  constexpr float kUncovered = -1e6f;
  std::vector<float> score(static_cast<size_t>(g.num_voxels()), -std::numeric_limits<float>::infinity());
  for (int64_t idx : in.frame.voxels) score[idx] = kUncovered;
  const double lung_voxels = static_cast<double>(in.frame.voxels.size());
  // Cover 15 % more than the target (at least 30 lung voxels more), so the even erosion to the exact involvement
  // keeps every placed shape's form.
  const double needed = std::min(lung_voxels, o.involvement * lung_voxels * 1.15 + (o.involvement > 0 ? 30.0 : 0.0));
  double covered = 0;
  Rng rng(hash2(o.seed, 21));
  std::vector<LesionFocus> foci;
  const int max_placements = 5000;
  for (int placed = 0; covered < needed && placed < max_placements; ++placed) {
    const LesionShape& s = shapes[rng.below(static_cast<int>(shapes.size()))];
    const bool mirror = rng.uniform() < 0.5;
    const double scale = rng.uniform(0.8, 1.25) * (1.0 + placed / 60.0);  // larger as the lungs fill
    const int64_t centre = in.pick_voxel(rng, placed % 2 + 1);
    const double c[3] = {in.local_mm(centre, 0), in.local_mm(centre, 1), in.local_mm(centre, 2)};
    double half[3];
    for (int a = 0; a < 3; ++a) half[a] = 0.5 * s.size[a] * s.spacing_mm[a] * scale;
    foci.push_back({c[0], c[1], c[2], scale * std::cbrt(s.volume_ml * 1000.0)});
    int64_t lo[3], hi[3];
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::max<int64_t>(0, static_cast<int64_t>(std::floor((c[a] - half[a]) / g.spacing_mm[a])));
      hi[a] = std::min<int64_t>(g.size[a] - 1, static_cast<int64_t>(std::ceil((c[a] + half[a]) / g.spacing_mm[a])));
    }
    for (int64_t k = lo[2]; k <= hi[2]; ++k)
      for (int64_t j = lo[1]; j <= hi[1]; ++j)
        for (int64_t i = lo[0]; i <= hi[0]; ++i) {
          const int64_t idx = i + g.size[0] * (j + g.size[1] * k);
          if (!lungs[idx]) continue;
          // Continuous index in the shape's crop (its centre on the chosen voxel), then trilinear distance.
          double u[3];
          const int64_t ijk[3] = {i, j, k};
          for (int a = 0; a < 3; ++a) {
            double d = ((ijk[a] + 0.5) * g.spacing_mm[a] - c[a]) / scale;
            if (a == 0 && mirror) d = -d;
            u[a] = d / s.spacing_mm[a] + 0.5 * (s.size[a] - 1);
          }
          const float d = sample_trilinear(s, u);
          if (!(d > 0)) continue;
          const float depth = d * static_cast<float>(scale);
          if (score[idx] == kUncovered) ++covered;
          score[idx] = std::max(score[idx], depth);
        }
  }
  if (covered < needed && o.involvement > 0)
    throw Error(ExitCode::NoData, "could not cover " + std::to_string(100.0 * o.involvement) + " % of the lungs with " +
                                      std::to_string(shapes.size()) + " lesion shape(s) in " + std::to_string(max_placements) +
                                      " placements");
  // Ties (shapes sampled at the same depths) would make the quantile take too many voxels: a deterministic jitter of
  // at most 1 um of depth breaks them without changing any shape.
  const uint64_t tie_seed = hash2(o.seed, 23);
  for (int64_t idx : in.frame.voxels)
    if (score[idx] != kUncovered) score[idx] += 1e-3f * static_cast<float>(to_unit(hash2(tie_seed, static_cast<uint64_t>(idx))));
  // Consolidation: the deepest part of the lesions, a little more so posteriorly (dependent).
  std::vector<float> core(score.size(), 0.0f);
  for (int64_t idx : in.frame.voxels)
    core[idx] = std::max(score[idx], 0.0f) + 0.5f * static_cast<float>(in.where_at(idx).posterior);
  const LesionModel model(hash2(o.seed, 22), in.extent, foci);
  return in.finish(score, core, model, o, /*ramp: mm of depth*/ 3.0f);
}

}  // namespace pulmo::synth
