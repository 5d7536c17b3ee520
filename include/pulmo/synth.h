// Synthetic chest CT phantoms with exact ground truth, deterministic by seed (docs/synth.md).
//
//   pulmo::synth::PhantomOptions o;            // 160x160x96 voxels, 0.8x0.8x2.5 mm, 20 % involvement
//   o.seed = 7;
//   pulmo::synth::Phantom p = pulmo::synth::make_phantom(o);
//   pulmo::write_volume(p.ct, "ct.nii.gz");    // float HU; p.lungs / p.lesions are uint8 label maps
//
// The body fills the in-plane field of view; the cranio-caudal axis keeps real proportions with the lungs
// centred in the slices (or spans lung_z_coverage of them): body (fat, muscle), ribs, sternum and spine, two lungs (right larger)
// with parenchymal texture, trachea and main bronchi, branching vessels, heart, aorta and mediastinum.
// Lesions are patchy, multifocal, bilateral, with a peripheral and posterior-basal preference; their
// volume is chosen by a quantile so the measured involvement meets the target within
// kInvolvementTolerancePercent.
// Physical space: LPS, identity direction (+x = patient left, +y = posterior, +z = superior).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pulmo/geometry.h"
#include "pulmo/volume.h"

namespace pulmo::synth {

struct PhantomOptions {
  std::array<int64_t, 3> size{160, 160, 96};  // voxels x, y, z; 16..512 in-plane, 8..400 slices
  Vec3 spacing_mm{0.8, 0.8, 2.5};              // (x, y, z); in-plane 0.6-0.9, slices 0.625-5 allowed
  double involvement = 0.2;                    // target lesion fraction of lung volume, 0..0.8
  double consolidation_fraction = 0.3;         // share of lesion volume that is consolidation, 0..1
  bool crazy_paving = false;                   // reticular pattern over the ground-glass
  double noise_hu = 15.0;                      // Gaussian noise sigma, 0..200
  uint64_t seed = 0;
  // 0: real proportions - the lungs are about 0.7 x the field-of-view width tall, centred in the slices.
  // 0.2..1.5: the lungs span about this fraction of the slices' extent (stretched or squeezed in z), e.g.
  // 0.9 to fill thick-slice or few-slice volumes with lung for fast training.
  double lung_z_coverage = 0.0;
};

// |measured involvement - target| in percentage points that make_phantom / insert_lesions meet (tested from
// 16x16x8 up). The lesion threshold is an exact quantile of a continuous score: rounding costs at most half a
// voxel (50 / lung voxels points), so masks of fewer than ~100 lung voxels may miss it; ties are rare.
constexpr double kInvolvementTolerancePercent = 0.5;

struct Phantom {
  Volume ct;        // float HU
  Volume lungs;     // uint8: 1 right, 2 left (labels.h)
  Volume lesions;   // uint8: 1 ground-glass, 2 consolidation (inside the lungs only)
  double involved_percent = 0;  // measured on the generated masks (lesion voxels / lung voxels * 100)
};

// Throws Error(Usage) naming the first option out of its allowed range.
void validate(const PhantomOptions& options);

// A whole synthetic chest CT. Deterministic: the same options give identical tensors on any thread count.
Phantom make_phantom(const PhantomOptions& options);

// Lesion-insertion mode (Yao et al., IEEE TMI 2021): synthetic lesions into a real CT's lungs given its
// lung mask. `lung_mask` must share the CT's grid (else Error(Mismatch)); labels 1 right / 2 left are
// kept, a binary mask (only 1) is split into right and left at the mediastinal gap. Only involvement,
// consolidation_fraction, crazy_paving, noise_hu (added inside lesions) and seed are used.
// Throws Error(NoData) when the mask has no lung voxel.
Phantom insert_lesions(const Volume& ct, const Volume& lung_mask, const PhantomOptions& options);

// Real lesion shapes, e.g. the radiologists' 3-D masks of MosMedData (../shared/data/ct/mosmed-masks): every
// face-connected lesion component of a binary mask, kept on its own grid as a
// signed distance (mm, positive inside) so it can be placed, mirrored and scaled smoothly into another CT.
struct LesionShape {
  std::array<int64_t, 3> size{0, 0, 0};  // x, y, z of the padded crop
  Vec3 spacing_mm{1, 1, 1};
  std::vector<float> distance_mm;         // [z][y][x], positive inside the lesion
  double volume_ml = 0;                   // of the component as drawn
  std::string source;                     // file it came from
};
// Loads the components of at least `min_volume_ml` from each mask (any non-zero voxel is lesion). Files must be
// readable 3-D binary masks (0 and one lesion value, else Error(Mismatch)); a file without any component is skipped;
// none at all -> Error(NoData).
std::vector<LesionShape> load_lesion_shapes(const std::vector<std::string>& mask_files, double min_volume_ml = 0.05);

// insert_lesions with real shapes instead of procedural blobs: shapes drawn at random (seeded), mirrored at
// random, scaled 0.8-1.25 (more as the lungs fill), centred on lung voxels with the same peripheral, posterior and
// basal preference, clipped to the lungs, until they cover the target; then eroded evenly (by their own depth) to
// the exact involvement. Consolidation is the deepest part of the lesions (`consolidation_fraction`).
Phantom insert_lesion_shapes(const Volume& ct, const Volume& lung_mask, const PhantomOptions& options,
                             const std::vector<LesionShape>& shapes);

// Seed of case `index` of a series started from `seed` (a hash: series from nearby seeds do not overlap).
uint64_t case_seed(uint64_t seed, uint64_t index);

}  // namespace pulmo::synth
