#include "synth/lesions.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace pulmo::synth {

LesionModel::LesionModel(uint64_t seed, const double extent_mm[3], std::vector<LesionFocus> foci)
    : foci_(std::move(foci)),
      patch_(hash2(seed, 101), extent_mm, 9.0),
      texture_(hash2(seed, 102), extent_mm, 4.0),
      reticular_(hash2(seed, 103), extent_mm, 7.0) {}

float LesionModel::focus(double x, double y, double z) const {
  float best = 0.0f;
  for (const LesionFocus& f : foci_) {
    const double dx = x - f.x_mm, dy = y - f.y_mm, dz = z - f.z_mm;
    const double q = (dx * dx + dy * dy + dz * dz) / (f.radius_mm * f.radius_mm);
    best = std::max(best, static_cast<float>(1.0 / (1.0 + q)));
  }
  return best;
}

float LesionModel::score(double x, double y, double z, const LungPosition& where, float focus) const {
  const float patch = patch_.at(x, y, z);
  return focus * (0.55f + 0.45f * patch) + 0.25f * static_cast<float>(where.periph) +
         0.12f * static_cast<float>(where.posterior) + 0.12f * static_cast<float>(where.basal);
}

float LesionModel::hu(bool consolidation, float above, bool crazy_paving, double x, double y, double z) const {
  const float tex = texture_.at(x, y, z);
  if (consolidation) return std::clamp(-25.0f + 35.0f * tex, -100.0f, 50.0f);
  const float alpha = std::min(1.0f, above / 0.08f);  // faint at the lesion's edge
  float v = -700.0f + (-560.0f + 70.0f * tex + 700.0f) * (0.35f + 0.65f * alpha);
  if (crazy_paving && std::fabs(reticular_.at(x, y, z)) < 0.09f) v += 220.0f;  // thickened septa
  return std::clamp(v, -700.0f, -300.0f);
}

namespace {

// The k-th largest finite value of `values` where `keep` holds (k >= 1), or +inf when k == 0.
float kth_largest(std::vector<float> values, int64_t k) {
  if (k <= 0 || values.empty()) return std::numeric_limits<float>::infinity();
  k = std::min<int64_t>(k, static_cast<int64_t>(values.size()));
  std::nth_element(values.begin(), values.begin() + (k - 1), values.end(), std::greater<float>());
  return values[k - 1];
}

}  // namespace

LesionThresholds choose_thresholds(const std::vector<float>& score, const std::vector<float>& core, double involvement,
                                   double consolidation_fraction) {
  LesionThresholds t;
  std::vector<float> lung;
  for (float s : score)
    if (std::isfinite(s)) lung.push_back(s);
  t.lesion = kth_largest(lung, std::llround(involvement * static_cast<double>(lung.size())));
  if (!std::isfinite(t.lesion)) return t;
  std::vector<float> cores;
  for (size_t i = 0; i < score.size(); ++i)
    if (std::isfinite(score[i]) && score[i] >= t.lesion) cores.push_back(core[i]);
  t.consolidation = kth_largest(cores, std::llround(consolidation_fraction * static_cast<double>(cores.size())));
  return t;
}

int focus_count(Rng& rng, double involvement) {
  return std::clamp(2 + static_cast<int>(involvement * 6.0) + rng.below(3), 2, 8);
}

}  // namespace pulmo::synth

#include <ATen/ATen.h>

#include "pulmo/volume.h"

namespace pulmo::synth {

double involved_percent(const Volume& lungs, const Volume& lesions) {
  const double lung = lungs.voxels.gt(0).sum().item<double>();
  if (lung == 0) return 0.0;
  return 100.0 * lesions.voxels.gt(0).logical_and(lungs.voxels.gt(0)).sum().item<double>() / lung;
}

}  // namespace pulmo::synth
