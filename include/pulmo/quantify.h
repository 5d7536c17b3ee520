// Quantification of a chest CT from its lung and lesion label maps: volumes, involvement, CT severity
// score and densitometry, per lung and in total (docs/quantify.md states every definition).
//
//   pulmo::Volume ct = pulmo::read_volume("ct.nii.gz");
//   pulmo::Quantification q = pulmo::quantify(ct, lungs, lesions);     // labels on ct's grid
//   q.regions[pulmo::kTotal].involved_percent;                          // lesion / lung volume * 100
//
// Label maps: lungs 1 right / 2 left, lesions 1 ground-glass / 2 consolidation (labels.h). A lesion voxel
// outside the lungs is not counted (the cascade never produces one).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pulmo/volume.h"

namespace pulmo {

// CT severity score of LungQuant (Lizzi et al. 2021): 1: < 5 %, 2: 5-25 %, 3: 25-50 %, 4: 50-75 %, 5: >= 75 %;
// a boundary belongs to the higher score (5 % -> 2); NaN -> 0. (The same function as eval.h's.)
int ct_severity_score(double involved_percent);
// MosMedData's CT-0..CT-4 from the involved percentage: CT-0 none (0 %), CT-1 < 25 %, CT-2 25-50 %, CT-3 50-75 %,
// CT-4 >= 75 % (Morozov et al. 2020). Returns 0..4; NaN -> -1.
int mosmed_category(double involved_percent);

// HU bands of densitometry, [lo, hi) in HU. Defaults: well-aerated -950..-700 (Colombi et al., Radiology
// 2020), ground-glass range -700..-300 and consolidation range -300..+50 (Lessmann et al., Radiology 2021 use
// the same split), and the emphysema-like share below -950 (LAA-950).
struct HuBand {
  std::string name;
  double lo = 0, hi = 0;
};
std::vector<HuBand> default_hu_bands();

struct QuantifyOptions {
  std::vector<HuBand> bands = default_hu_bands();
  std::vector<double> percentiles{10, 15, 25, 50, 75, 90};  // HU percentiles of the lung (percent)
};

// HU statistics of every lung voxel of a region (lesions included), exact. An empty region has every figure 0
// (check lung_voxels; the reports write them as null). Nothing in a Quantification is ever NaN.
struct Densitometry {
  double mean_hu = 0, std_hu = 0;
  std::vector<std::pair<double, double>> percentiles;       // (percent, HU)
  std::vector<std::pair<std::string, double>> band_percent;  // (band name, % of lung volume in [lo, hi))
};

// One region: the right lung, the left lung, or both.
struct RegionQuantification {
  std::string name;                   // "right", "left", "total"
  int64_t lung_voxels = 0;
  double lung_ml = 0;                 // lung volume, lesions included
  double lesion_ml = 0;               // ground-glass + consolidation inside this lung
  double ground_glass_ml = 0, consolidation_ml = 0;
  double involved_percent = 0;        // lesion_ml / lung_ml * 100 (0 when the lung is empty)
  double involved_percent_sd = -1;    // sd over test-time augmentation / MC-dropout passes; < 0 = not computed
  int severity_score = 1;             // ct_severity_score(involved_percent)
  Densitometry density;
};

enum RegionIndex { kRight = 0, kLeft = 1, kTotal = 2 };

// One axial slice of the per-slice involvement curve (the slices of the input, superior last as stored).
struct SliceInvolvement {
  int64_t index = 0;                  // slice index k along the input's third axis
  double position_mm = 0;             // physical coordinate of the slice centre along the slice normal (LPS z for axial)
  double lung_ml = 0, lesion_ml = 0;
};

struct Quantification {
  std::array<RegionQuantification, 3> regions;  // kRight, kLeft, kTotal
  bool lesion_types_known = true;               // false: the lesion model does not separate GGO and consolidation
  bool lesions_computed = true;                 // false: no lesion map (densitometry only): lesion figures, involvement and
                                                // severity are not known - reports write them as null / empty / "not computed"
                                                // (quantify() leaves it true; the caller who knows sets it)
  std::vector<SliceInvolvement> slices;         // per-slice curve
  std::vector<HuBand> bands;                    // the bands used
};

// Computes every number above. `ct` in HU; `lungs` and `lesions` on ct's grid (else Error Mismatch).
// `lesions` may be undefined (densitometry only: lesion figures are 0).
Quantification quantify(const Volume& ct, const Volume& lungs, const Volume& lesions, const QuantifyOptions& options = {});

}  // namespace pulmo
