// Internal to src/synth: the lesion model shared by make_phantom and insert_lesions.
//
// Every lung voxel gets a score: a few foci (multifocal, placed with a peripheral and posterior-basal
// preference, on both lungs) modulated by a patchy noise field, plus small peripheral, posterior and
// basal terms. The lesion is the top `involvement` quantile of the scores over the lung voxels, so the
// measured involvement equals the target up to ties; consolidation is the top quantile of a core score
// (focus centres, posterior) among the lesion voxels.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "synth/noise.h"

namespace pulmo::synth {

struct LesionFocus {
  double x_mm, y_mm, z_mm, radius_mm;
};

// Where a lung voxel lies: 0..1 each (1 = at the pleura / most posterior / most basal).
struct LungPosition {
  double periph, posterior, basal;
};

class LesionModel {
 public:
  LesionModel(uint64_t seed, const double extent_mm[3], std::vector<LesionFocus> foci);
  // Focus strength in (0, 1] at a point (max over foci of 1 / (1 + d^2 / r^2)).
  float focus(double x_mm, double y_mm, double z_mm) const;
  float score(double x_mm, double y_mm, double z_mm, const LungPosition& where, float focus) const;
  float core(const LungPosition& where, float focus) const { return focus + 0.15f * static_cast<float>(where.posterior); }
  // Nominal HU of a lesion voxel (ground-glass -700..-300, consolidation -100..+50).
  float hu(bool consolidation, float score_above_threshold, bool crazy_paving, double x_mm, double y_mm, double z_mm) const;
  const std::vector<LesionFocus>& foci() const { return foci_; }

 private:
  std::vector<LesionFocus> foci_;
  Noise3 patch_, texture_, reticular_;
};

struct LesionThresholds {
  float lesion = std::numeric_limits<float>::infinity();  // lesion where score >= lesion
  float consolidation = std::numeric_limits<float>::infinity();  // consolidation where core >= this
};
// `score` holds -inf outside the lungs. Thresholds for the target fractions (exact quantiles).
LesionThresholds choose_thresholds(const std::vector<float>& score, const std::vector<float>& core, double involvement,
                                   double consolidation_fraction);

// Number of foci for a phantom: 2..8 spread over both lungs, more with higher involvement.
int focus_count(Rng& rng, double involvement);

}  // namespace pulmo::synth

namespace pulmo {
struct Volume;
}
namespace pulmo::synth {
// Lesion voxels / lung voxels * 100 (0 when there is no lung voxel).
double involved_percent(const Volume& lungs, const Volume& lesions);
}  // namespace pulmo::synth
