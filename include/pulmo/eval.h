// Segmentation evaluation: overlap and surface metrics, exact to their published definitions.
//
// Surface metrics follow Nikolov et al. 2018 (DeepMind "surface-distance"), as LungQuant and the
// COVID-19-CT-Seg benchmark report them (docs/eval.md has every definition):
//   - surface elements ("surfels") sit on the corners of the voxel grid; a corner whose 2x2x2 (2x2) voxels are
//     neither all inside nor all outside is a border point; its area (2-D: length) is that of the
//     marching-cubes (marching-squares) surface of its neighbour code, scaled by the spacing;
//   - every border point of one mask gets its Euclidean distance (mm) to the nearest border point of the other;
//   - all surface metrics are derived from that one computation (SurfaceDistances).
// Empty masks: reference empty and prediction not (or the reverse) gives infinite distances, overlap 0 and
// surface Dice 0; both empty gives NaN Dice / surface Dice / ASD and infinite Hausdorff distances.
//
//   SurfaceDistances sd = compute_surface_distances(ref_mask, pred_mask, {0.8, 0.8, 2.0});  // [z,y,x] bool, (x,y,z) mm
//   double sdsc = surface_dice_at(sd, 5.0), hd95 = hd_at(sd, 95.0);
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "pulmo/volume.h"

namespace pulmo {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Per border point of each surface: its distance (mm) to the other surface and its area (mm^2; mm in 2-D),
// sorted by increasing distance. Distances are +infinity when the other mask is empty.
struct SurfaceDistances {
  std::vector<double> distances_ref_to_pred, areas_ref;
  std::vector<double> distances_pred_to_ref, areas_pred;
  double area_ref() const;   // total surface area of the reference (0 when empty)
  double area_pred() const;
};

// Two binary masks of the same shape, 2-D [y,x] or 3-D [z,y,x] (any dtype; nonzero = inside), with the spacing in
// ITK's (x, y, z) order as every spacing_mm of pulmo (2-D: (x, y)); the reverse of the array axes. Only the
// bounding box of the two masks is processed.
// Throws Error(Mismatch) for different shapes or a spacing of the wrong length, Error(BadDimension) for
// tensors that are neither 2-D nor 3-D, Error(Usage) for a non-positive spacing.
SurfaceDistances compute_surface_distances(const at::Tensor& reference, const at::Tensor& prediction,
                                           const std::vector<double>& spacing_mm);
// The same for two masks that must be on the same grid (Error(Mismatch) otherwise); nonzero = inside.
SurfaceDistances compute_surface_distances(const Volume& reference, const Volume& prediction);

// Fraction of each surface's area within `tolerance_mm` of the other surface: (reference, prediction).
// NaN for an empty surface, 0 when the other surface is empty.
std::pair<double, double> surface_overlap_at(const SurfaceDistances& sd, double tolerance_mm);
// Surface Dice (normalised surface distance) at `tolerance_mm`: overlapping area of both surfaces over their
// total area. NaN when both masks are empty.
double surface_dice_at(const SurfaceDistances& sd, double tolerance_mm);
// Robust Hausdorff distance at `percent` (95, 100): per direction the smallest distance at which the
// area-weighted cumulative fraction reaches percent %, then the larger of both directions. +inf when a
// mask is empty.
double hd_at(const SurfaceDistances& sd, double percent);
// Area-weighted mean distance (reference -> prediction, prediction -> reference).
std::pair<double, double> average_surface_distance(const SurfaceDistances& sd);
// Average symmetric surface distance: area-weighted mean over the border points of both surfaces.
double average_symmetric_surface_distance(const SurfaceDistances& sd);

// Volumetric Dice 2|A.B| / (|A| + |B|) of two masks of the same shape (nonzero = inside); NaN when both are empty.
double volumetric_dice(const at::Tensor& a, const at::Tensor& b);

// Metrics of one label (or a binary mask) of a reference / prediction pair.
struct LabelMetrics {
  int label = 1;
  int64_t voxels_ref = 0, voxels_pred = 0, voxels_both = 0;
  double dice = kNaN;          // 2|A.B| / (|A| + |B|); NaN when both are empty
  double jaccard = kNaN;       // |A.B| / |A+B|; NaN when both are empty
  double sensitivity = kNaN;   // |A.B| / |A| (A = reference); NaN when the reference is empty
  double specificity = kNaN;   // voxels outside both / voxels outside A (the whole grid counts); NaN when A is everything
  double precision = kNaN;     // |A.B| / |B|; NaN when the prediction is empty
  double volume_ref_ml = 0, volume_pred_ml = 0;
  double volume_diff_ml = 0;   // prediction - reference
  std::vector<std::pair<double, double>> surface_dice;  // (tolerance_mm, surface Dice), in the requested order
  double hd95 = kNaN, hd100 = kNaN;
  double asd_ref_to_pred = kNaN, asd_pred_to_ref = kNaN, assd = kNaN;
};

struct SegmentationOptions {
  std::vector<int> labels;                  // labels to evaluate; empty = every nonzero label present in either map
  std::vector<double> tolerances_mm{5.0};   // surface Dice tolerances (LungQuant: 5 mm)
  bool binary = false;                      // masks must hold only 0 and 1 (Error(Mismatch) otherwise); label 1
  bool allow_absent = false;                // a requested label empty in both maps gives the both-empty values
                                            // (NaN Dice ...) instead of an error; no label at all gives no rows
};

// Metrics per label for label maps (or binary masks) on the same grid (Error(Mismatch) for different grids,
// requested labels present in neither map, non-integer or negative label values, or non-binary values when
// options.binary). Error(NoData) when there is no label to evaluate.
std::vector<LabelMetrics> segmentation_metrics(const Volume& reference, const Volume& prediction,
                                               const SegmentationOptions& options = {});

// Nonzero labels present in a label map, ascending (Error(Mismatch) for non-integer or negative values).
std::vector<int> labels_present(const Volume& label_map);

// `labels` resampled into the grid `target` by nearest neighbour (label 0 outside `labels`' extent), same dtype.
Volume resample_labels_nearest(const Volume& labels, const Geometry& target);

// ---- several readers --------------------------------------------------------------------------------------

enum class ConsensusMethod {
  MajorityVote,  // inside where more than half of the readers mark the voxel (a tie is outside)
  Staple,        // STAPLE (Warfield et al. 2004, ITK's STAPLEImageFilter), truth probability >= 0.5
};
struct ConsensusResult {
  Volume mask;                                 // uint8 0/1 on the readers' grid
  std::vector<double> sensitivity, specificity;  // STAPLE's estimate per reader (empty for majority vote)
  int iterations = 0;                          // STAPLE EM iterations
};
// Consensus of two or more readers' binary masks (nonzero = inside) on one grid (Error(Mismatch) otherwise).
ConsensusResult consensus(const std::vector<Volume>& readers, ConsensusMethod method);

struct ReaderPairAgreement {
  int reader_a = 0, reader_b = 0;              // indices into the readers
  double dice = kNaN, surface_dice = kNaN;     // vDSC and sDSC at the tolerance
};
// vDSC and sDSC of every pair of readers.
std::vector<ReaderPairAgreement> inter_reader_agreement(const std::vector<Volume>& readers, double tolerance_mm);

// CT severity score of an involved percentage of the lung: 1: < 5 %, 2: 5-25 %, 3: 25-50 %, 4: 50-75 %,
// 5: >= 75 % (each band includes its lower bound). 0 % (no involvement) gives 1, as the table reads; NaN gives 0.
int ct_severity_score(double involved_percent);

// 100 * lesion volume / lung volume; NaN when the lung volume is 0.
double involved_percent(double lesion_ml, double lung_ml);

}  // namespace pulmo
