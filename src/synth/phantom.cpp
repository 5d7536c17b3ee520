// make_phantom: analytic chest anatomy, vessel trees, lesions, partial-volume blur and noise.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "pulmo/error.h"
#include "pulmo/labels.h"
#include "pulmo/synth.h"
#include "synth/anatomy.h"
#include "synth/lesions.h"
#include "synth/raster.h"

#include <cstdio>

namespace pulmo::synth {

namespace {

void check_range(const char* name, double value, double lo, double hi) {
  if (!(value >= lo && value <= hi)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, " must lie in %g..%g, got %g", lo, hi, value);
    throw Error(ExitCode::Usage, std::string("phantom option ") + name + buf);
  }
}

Geometry phantom_geometry(const PhantomOptions& o) {
  Geometry g;
  g.size = o.size;
  g.spacing_mm = o.spacing_mm;
  for (int a = 0; a < 3; ++a) g.origin_mm[a] = -0.5 * static_cast<double>(o.size[a] - 1) * o.spacing_mm[a];
  return g;
}

// Foci of the lesions: alternating lungs (bilateral), preferring the periphery and posterior bases.
std::vector<LesionFocus> place_foci(const Anatomy& a, const Frame& f, Rng& rng, double involvement) {
  std::vector<LesionFocus> foci;
  const int n = focus_count(rng, involvement);
  for (int i = 0; i < n; ++i) {
    const LungShape& l = a.lung[i % 2];
    double u = l.cu, v = l.cv, w = 0.5;
    for (int tries = 0; tries < 400; ++tries) {
      const double cu = l.cu + l.au * rng.uniform(-1, 1), cv = l.cv + l.av * rng.uniform(-1, 1);
      const double cw = rng.uniform(l.base, l.apex), accept = rng.uniform();
      const Tissue t = tissue_at(a, cu, cv, cw);
      if (t.lung != i % 2 + 1) continue;
      const double posterior = std::clamp((cv - (l.cv - l.av)) / (2 * l.av), 0.0, 1.0);
      const double basal = std::clamp(1.0 - (cw - l.base) / (l.apex - l.base), 0.0, 1.0);
      u = cu, v = cv, w = cw;
      if (accept < (0.2 + 0.8 * t.periph) * (0.3 + 0.7 * posterior) * (0.3 + 0.7 * basal)) break;
    }
    const double r = rng.uniform(0.05, 0.11) * f.extent_mm[0] * (0.7 + involvement);
    foci.push_back({f.u_to_mm(u), f.v_to_mm(v), f.w_to_mm(w), r});
  }
  return foci;
}

}  // namespace

void validate(const PhantomOptions& o) {
  check_range("size x", static_cast<double>(o.size[0]), 16, 512);
  check_range("size y", static_cast<double>(o.size[1]), 16, 512);
  check_range("size z", static_cast<double>(o.size[2]), 8, 400);
  check_range("spacing x (mm)", o.spacing_mm[0], 0.6, 0.9);
  check_range("spacing y (mm)", o.spacing_mm[1], 0.6, 0.9);
  check_range("spacing z (mm)", o.spacing_mm[2], 0.625, 5.0);
  check_range("involvement", o.involvement, 0.0, 0.8);
  check_range("consolidation_fraction", o.consolidation_fraction, 0.0, 1.0);
  check_range("noise_hu", o.noise_hu, 0.0, 200.0);
  check_range("lung_z_coverage", o.lung_z_coverage, 0.0, 1.5);
  if (o.lung_z_coverage > 0 && o.lung_z_coverage < 0.2) check_range("lung_z_coverage (0 or)", o.lung_z_coverage, 0.2, 1.5);
}

uint64_t case_seed(uint64_t seed, uint64_t index) { return hash2(seed, index + 0x51a7e) >> 1; }

Phantom make_phantom(const PhantomOptions& o) {
  validate(o);
  Phantom p;
  const Geometry g = phantom_geometry(o);
  p.ct = Volume::filled(g, 0.0, at::kFloat);
  p.lungs = Volume::filled(g, 0.0, at::kByte);
  p.lesions = Volume::filled(g, 0.0, at::kByte);
  Frame f{};
  int64_t n[3];
  double sp[3];
  for (int a = 0; a < 3; ++a) n[a] = o.size[a], sp[a] = o.spacing_mm[a], f.extent_mm[a] = o.size[a] * o.spacing_mm[a];
  f.w_span_mm = o.lung_z_coverage * f.extent_mm[2] / 0.9;  // the lungs span about 0.9 of w = 0..1

  Rng rng(hash2(o.seed, 1));
  const Anatomy anatomy = random_anatomy(rng);
  const LesionModel model(hash2(o.seed, 2), f.extent_mm, place_foci(anatomy, f, rng, o.involvement));
  const Noise3 coarse(hash2(o.seed, 3), f.extent_mm, 12.0), fine(hash2(o.seed, 4), f.extent_mm, 3.0);

  const int64_t nx = n[0], ny = n[1], nz = n[2], total = nx * ny * nz;
  float* ct = p.ct.voxels.data_ptr<float>();
  uint8_t* lungs = p.lungs.voxels.data_ptr<uint8_t>();
  std::vector<float> score(static_cast<size_t>(total), -std::numeric_limits<float>::infinity());
  std::vector<float> core(static_cast<size_t>(total), 0.0f);

#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t k = 0; k < nz; ++k) {
    const double z = (k + 0.5) * sp[2], w = f.w_of_mm(z);
    for (int64_t j = 0; j < ny; ++j) {
      const double v = (j + 0.5) / ny * 2.0 - 1.0, y = (j + 0.5) * sp[1];
      for (int64_t i = 0; i < nx; ++i) {
        const double u = (i + 0.5) / nx * 2.0 - 1.0, x = (i + 0.5) * sp[0];
        const int64_t idx = (k * ny + j) * nx + i;
        const Tissue t = tissue_at(anatomy, u, v, w);
        if (t.lung == 0) {
          ct[idx] = t.hu > -900.0f ? t.hu + 6.0f * coarse.at(x, y, z) : t.hu;
          continue;
        }
        const LungShape& l = anatomy.lung[t.lung - 1];
        const LungPosition where{t.periph, std::clamp((v - (l.cv - l.av)) / (2 * l.av), 0.0, 1.0),
                                 std::clamp(1.0 - (w - l.base) / (l.apex - l.base), 0.0, 1.0)};
        ct[idx] = static_cast<float>(-875.0 + 30.0 * where.posterior) + 14.0f * coarse.at(x, y, z) + 8.0f * fine.at(x, y, z);
        lungs[idx] = t.lung;
        const float focus = model.focus(x, y, z);
        score[idx] = model.score(x, y, z, where, focus);
        core[idx] = model.core(where, focus);
      }
    }
  }

  const LesionThresholds th = choose_thresholds(score, core, o.involvement, o.consolidation_fraction);
  uint8_t* lesions = p.lesions.voxels.data_ptr<uint8_t>();
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < nz; ++k) {
    for (int64_t idx = k * nx * ny; idx < (k + 1) * nx * ny; ++idx) {
      if (!(score[idx] >= th.lesion)) continue;
      const bool cons = core[idx] >= th.consolidation;
      lesions[idx] = cons ? labels::kConsolidation : labels::kGroundGlass;
      const int64_t i = idx % nx, j = (idx / nx) % ny;
      ct[idx] = model.hu(cons, score[idx] - th.lesion, o.crazy_paving, (i + 0.5) * sp[0], (j + 0.5) * sp[1], (k + 0.5) * sp[2]);
    }
  }
  score = {};
  core = {};

  draw_vessels(anatomy, f, sp, n, hash2(o.seed, 5), ct, lungs, lesions);
  blur_in_plane(ct, n);
  if (o.noise_hu > 0) {
    const uint64_t noise_seed = hash2(o.seed, 6);
    const float sigma = static_cast<float>(o.noise_hu);
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < nz; ++k)
      for (int64_t idx = k * nx * ny; idx < (k + 1) * nx * ny; ++idx) ct[idx] += sigma * normal_at(noise_seed, idx);
  }
  p.involved_percent = involved_percent(p.lungs, p.lesions);
  return p;
}

}  // namespace pulmo::synth
