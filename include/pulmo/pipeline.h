// The LungQuant cascade and the classical lung segmentation (docs/quantify.md).
//
//   pulmo::Volume ct = pulmo::read_volume("ct.nii.gz");                 // HU, any orientation
//   pulmo::CascadeOptions o;                                            // default models in models/
//   pulmo::CascadeResult r = pulmo::run_cascade(ct, o);                 // lungs 1 right 2 left, lesions 1 GGO 2 cons.
//   pulmo::Quantification q = pulmo::quantify(ct, r.lungs, r.lesions);  // quantify.h
//
// Stage 1 (lung box): the box network on a fixed coarse grid of the whole CT gives the lungs' bounding box,
// widened by a margin. Stage 2 (lungs): the lung U-Net on that box at its model's spacing. Stage 3 (lesions): the
// lesion U-Net on the lungs' box, kept inside the lungs. Probabilities are brought back to the input's exact
// grid before thresholding. The stages, their model folders, margins and thresholds are data: cascade.json in
// the models folder (docs/model-format.md); each model's spacing, patch and HU window come from its model.json.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "pulmo/volume.h"

namespace pulmo {

// ---- lung post-processing and the classical segmentation -----------------------------------------------

struct LungPostprocessOptions {
  double min_component_fraction = 0.1;  // a second region is a lung when it holds >= this share of the largest
  bool fill_holes = true;               // vessels and lesions enclosed in a lung are lung (per axial slice)
  double close_radius_mm = 0.0;         // in-plane morphological closing of each lung before hole filling (0 = none)
  double max_hole_mm2 = 0.0;            // fill only holes up to this in-plane area (0 = all): keeps a diaphragm dome
                                        // seen as an island inside a lung out of it
};

// A binary or labelled lung mask made into two lungs: the two largest regions (a region under
// min_component_fraction of the largest is dropped), split into right (1) and left (2) by their centroids, or
// - when the lungs touch - by eroding until they part and growing the parts back; holes filled.
Volume postprocess_lungs(const Volume& lungs, const LungPostprocessOptions& options = {});

struct ClassicalLungOptions {
  double air_threshold_hu = -250;          // lung candidates lie below this (partial-volume voxels at the pleura
                                           // included: the two LIDC slices then match lungmask R231 within 1.5 %)
  double outside_air_max_mean_hu = -950;   // a region touching the in-plane border with a lower mean (three sides:
                                           // 70 HU more), or touching all four sides, is outside air
  double lung_min_mean_hu = -985;          // a region with a lower mean is gas (trachea above the lungs, bowel), not lung
  double min_lung_ml = 0.05;               // smaller regions are noise
  bool remove_airways = true;              // trachea and main bronchi removed (axial volumes)
  double airway_threshold_hu = -900;       // airway lumens are followed below this
  double trachea_max_area_mm2 = 700;       // largest cross-section of an airway followed down from the trachea
  double trachea_max_offset_mm = 30;       // the trachea starts this close to the midline
  double trachea_follow_mm = 15;           // an airway region's centre moves at most this far from one slice to the next
  double airway_smooth_mm = 2.5;           // the airway threshold applies to HU averaged in-plane over this width
                                           // (noisy parenchyma of sharp kernels stays above it; 0 = off)
  int airway_max_regions = 8;              // following stops at a slice with more airway regions than this
  double airway_max_area_jump = 2.0;       // ... or with a total airway area above this times the largest so far
                                           // (and above trachea_max_area_mm2)
  LungPostprocessOptions post{0.1, true, 5.0, 500.0};  // closing of 5 mm: hilar vessels open to the mediastinum are lung (as lungmask)
};

// Lungs by thresholding (docs/quantify.md): air below the threshold, minus the outside air and the airways,
// two lungs split right (1) / left (2), holes filled. Dense lesions touching the pleura are missed: this is a
// baseline and a label generator for normal lungs, not a COVID-19 segmentation. Throws Error(NoLungs).
Volume segment_lungs_classical(const Volume& ct, const ClassicalLungOptions& options = {},
                               std::vector<std::string>* warnings = nullptr);

// Air regions (below air_threshold_hu) outside the body: touching the in-plane border with a mean below
// outside_air_max_mean_hu (70 HU more on three sides), or - with `four_sides_rule`, for whole images - touching all
// four sides. Returns a bool mask; `lung_candidates` (optional) gets the other air regions that are not pure gas.
// The cascade removes predicted lung voxels there: lungs lie inside the body.
at::Tensor air_outside_the_body(const at::Tensor& hu, const ClassicalLungOptions& options, bool four_sides_rule,
                                at::Tensor* lung_candidates = nullptr);

// Lungs (uint8 [z, y, x]: 1 right, 2 left) with the lesion regions that touch them added: a component of `lesions`
// (bool) outside the lungs (6-connected) that has a face neighbour in a lung joins the lung it touches (grown voxel
// by voxel inside the component, so a region touching both lungs is shared along the way); enclosed 2-D holes of
// each lung filled again. The cascade does this with "extend_lungs" in cascade.json: dense, consolidated lung that
// the lung model left out comes back as lung.
at::Tensor extend_lungs_by_lesions(const at::Tensor& lungs, const at::Tensor& lesions);

// Whether what was found as lungs (`lungs` != 0 on `ct`'s grid) can be lungs (docs/quantify.md, "Not a chest CT"):
// Error(NoLungs) when their mean is above -100 HU (not aerated) or they hold more than 12 L (no human lungs do);
// a warning in `warnings` when merely unusual (a mean above -500 HU, more than 8 L, under 300 mL of a CT that is
// not a thin stack). With `warn_only` (a user's lung mask, which means what it says) the refusals are warnings too.
// Lungs outside the body are refused the same way (under half of the lung voxels inside the body:
// lungs_inside_body_share; a warning under 90 %).
void check_plausible_lungs(const Volume& ct, const at::Tensor& lungs, bool warn_only, std::vector<std::string>& warnings);

// The share (0..1) of the lung voxels (`lungs` != 0 on `ct`'s grid) that lie inside the body: in their axial plane
// (LPS order), at least 3 of their 4 sides (right, left, anterior, posterior) are enclosed: body tissue - above -500
// HU and not lung - lies beyond the voxel on that side, or no outside air (-500 HU and below, not lung) does (the field
// of view cuts the lung there, as in a crop around the lungs; a field of view may also cut the body on one side).
// 1 when there are no lung voxels.
double lungs_inside_body_share(const Volume& ct, const at::Tensor& lungs);

// The hybrid lungs (`--lungs hybrid`, docs/quantify.md): the classical segmentation's boundary where the lung is
// aerated, the network's where it is dense. Dense voxels (HU in [dense_min_hu, dense_max_hu]) that the network calls
// lung and the classical segmentation does not are opened in-plane by rim_mm (the thin disagreement along the
// pleura is not added) and join the classical lungs (grown from them, 2-D holes up to the classical max_hole_mm2
// filled) when a 3-D region of them touches a
// classical lung, has a mean of at most leak_max_mean_hu (liver and muscle are denser than a consolidated lung with
// its partial-volume rim) and faces the classical lung with at least min_contact_share of its surface voxels (a
// leak into the mediastinum, the liver or the chest wall touches the lung on one face only). A side the classical
// segmentation lost (under side_min_share of the network's volume on that side: a fully consolidated lung) comes
// from the network.
struct HybridLungOptions {
  double dense_min_hu = -250;       // = ClassicalLungOptions::air_threshold_hu: below, the classical lungs decide
  double dense_max_hu = 150;        // denser voxels (bone, contrast-filled vessels) are never added
  double rim_mm = 2.0;
  double leak_max_mean_hu = 60;
  double min_contact_share = 0.15;
  double side_min_share = 0.25;
  double min_network_share = 0.1;   // a classical lung region under this share of network lung voxels is dropped
};
struct HybridLungStats {
  int64_t added_voxels = 0, rejected_voxels = 0;
  int added_regions = 0, rejected_regions = 0;
  int64_t relabelled_voxels = 0;        // classical lung voxels whose side the network changed
  int64_t dropped_voxels = 0;           // classical lung voxels in regions the network does not call lung
  std::vector<int> sides_from_network;  // labels::kRightLung / kLeftLung taken whole from the network
};
// `classical` and `network`: uint8 lung labels on `ct`'s grid. Returns uint8 labels (1 right, 2 left).
at::Tensor combine_lungs_hybrid(const Volume& ct, const at::Tensor& classical, const at::Tensor& network,
                                const HybridLungOptions& options = {}, HybridLungStats* stats = nullptr);

// ---- the cascade -------------------------------------------------------------------------------------

struct CascadeOptions {
  std::string models_dir;          // folder with cascade.json ("" = default_models_dir())
  std::string lungs;               // "" (the models folder's choice: cascade.json lungs.method, else "cascade"),
                                   // "cascade" (stages 1-2), "classical", "hybrid" (combine_lungs_hybrid of the
                                   // two), or "mask" (lung_mask below)
  Volume lung_mask;                // lungs = "mask": a lung mask on the CT's grid, labels 1 right / 2 left, taken as
                                   // they are (a binary mask: adapt_lungs(mask, "binary") splits it first)
  bool lesions = true;             // run stage 3
  bool tta_flip = false;           // test-time augmentation: average with the left-right mirrored prediction
  int mc_dropout = 0;              // > 0: this many MC-dropout passes of the lesion model (needs dropout in it)
  bool bfloat16 = false;           // networks' convolutions in bfloat16 (SlidingWindowOptions::bfloat16); on a CPU
                                   // without support (cpu_supports_bfloat16), float32 with a warning
  std::function<void(const std::string&)> progress;  // one line per stage, with its time
};

struct StageRecord {
  std::string stage;               // "lung_box", "lungs", "lesions", "postprocess", ...
  double seconds = 0;
  std::string model_name, model_folder, weights_sha256;  // empty for a stage without a model
  int format_version = 0;
};

struct CascadeResult {
  Volume lungs;                    // uint8 on the input grid: 1 right, 2 left
  std::string lung_method;         // what found them: "cascade", "classical", "hybrid", "mask" (thin stacks: "classical")
  Volume lesions;                  // uint8 on the input grid: 1 ground-glass, 2 consolidation (undefined without stage 3)
  bool lesion_types_known = true;  // false: the lesion model has one lesion class
  std::string precision = "float32";  // what the networks ran in: "float32" or "bfloat16"
  bool has_box = false;            // stage 1 ran (lungs = "cascade" on a volume)
  std::array<double, 6> box_mm{};  // stage 1: LPS bounding box (x0, y0, z0, x1, y1, z1) of the lungs, margin included
  std::vector<StageRecord> stages;
  std::vector<std::string> warnings;
  // With tta_flip or mc_dropout: the involved percentage (right, left, total) of each pass, for its sd.
  std::vector<std::array<double, 3>> pass_involvement;
};

// The folder of the shipped default models: $PULMO_MODELS when set, else the first of
// <executable>/../models, <executable>/../share/pulmo/models, ./models that holds cascade.json.
std::string default_models_dir();

// Runs the cascade on a CT in HU. Throws Error(NoLungs) when no lungs are found, Error(BadConfig) or
// Error(NotFound) for a bad models folder, Error(Mismatch) for a lung mask on another grid.
CascadeResult run_cascade(const Volume& ct, const CascadeOptions& options);

// ---- one model on its own ------------------------------------------------------------------------------
// Runs one segmentation model folder (model.json + weights.pt; a lungs, lesions or any U-Net task) on the whole of
// `image` (HU): resampled to the model's spacing and HU window, sliding windows as in the cascade, probabilities
// brought back to the image's exact grid; a voxel takes the most probable foreground label where the foreground
// probabilities sum to >= threshold. No lung mask, box or HU rule is applied: this is the model alone, e.g. to
// judge a lesion model on whole slices the way the COVID-SemiSeg benchmark does (pulmo segment; docs/cli.md).
// Throws Error(BadConfig / NotFound) for a bad model folder.
struct SegmentOptions {
  double threshold = 0.5;
  double overlap = 0.25;
  bool tta_flip = false;     // average with the left-right mirrored prediction
  bool merge_labels = false; // every foreground label becomes 1 (e.g. "infection" = ground-glass + consolidation)
};
Volume segment_with_model(const Volume& image, const std::string& model_folder, const SegmentOptions& options = {});

}  // namespace pulmo
