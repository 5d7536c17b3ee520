// Datasets: a manifest of cases, label-convention adapters, and patient-level splits (docs/datasets.md).
//
//   pulmo::Manifest m = pulmo::read_manifest("data/manifest.csv");
//   for (const pulmo::Split& s : pulmo::kfold_splits(m, 5, 0.2, 42))       // no patient in two sets
//     for (int i : s.train) { pulmo::LabelledCase c = pulmo::load_case(m.cases[i]); ... }
//
// A manifest is CSV (header row; columns case_id, patient_id, dataset, image, lungs, lesions,
// convention; any other column is an attribute) or JSON ({"cases": [{...}]}, or a bare array).
// Paths are relative to the manifest's folder unless absolute.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pulmo/volume.h"

namespace pulmo {

// A `lesions` value of "none" declares a lesion-free case: its lesion labels are all background (a CT without
// COVID-19, to teach a lesion model what normal lung looks like) without a label file.
constexpr const char* kLesionFree = "none";

struct Case {
  std::string case_id, patient_id, dataset, image, lungs, lesions;  // image/lungs/lesions: resolved paths ("" = none)
  std::string convention;                                            // label convention, see label_conventions()
  std::map<std::string, std::string> attributes;
};

struct Manifest {
  std::vector<Case> cases;
  std::string path;
};

// Reads a CSV (.csv) or JSON (.json) manifest. Throws NotFound (missing file) or BadConfig (unparsable,
// no case_id or image column) with the line. Empty or wrong values are kept for check_manifest to list.
Manifest read_manifest(const std::string& path);
// The CSV text of a manifest whose files lie under `folder` (paths written relative to it).
std::string manifest_csv(const Manifest& manifest, const std::string& folder);

// ---- label conventions -------------------------------------------------------------------------
// Names accepted in Case::convention ("" = "pulmo"):
//   pulmo                    lungs 1 right 2 left; lesions 1 ground-glass 2 consolidation
//   covid19-ct-seg           lungs 1 left 2 right; infection 1 (Zenodo 3757476, Ma et al.)
//   covid19-ct-seg-combined  one file (the lungs column): 1 left 2 right 3 infection
//   medseg                   lesions 1 ground-glass 2 consolidation 3 pleural effusion (-> not lesion); lungs binary
//   mosmed                   lesions 1 lesion; lungs binary
//   covid19-20               lesions 1 lesion; lungs binary
//   lungmask                 lungs 1 right 2 left (lesions as pulmo)
//   lungmask-lobes           lungs 1 LUL 2 LLL 3 RUL 4 RML 5 RLL
//   totalsegmentator         lungs 10 LUL 11 LLL 12 RUL 13 RML 14 RLL (other organs -> background)
//   binary                   lungs 1 lung (split into right and left at the mediastinal gap); lesions 1 lesion
// A lesion label without ground-glass/consolidation distinction maps to 1 (ground-glass) and the
// case reports lesion_types_known = false: involvement counts every lesion label alike.
std::vector<std::string> label_conventions();
bool is_label_convention(const std::string& name);

enum class LabelRole { Lungs, Lesions };
// Label values allowed in a file of `role` under `convention` (0 included).
std::vector<int> allowed_label_values(const std::string& convention, LabelRole role);
// Maps a label map of `convention` to pulmo's labels (uint8, same geometry). Throws Mismatch
// listing values the convention does not allow, BadConfig for an unknown convention.
Volume adapt_lungs(const Volume& labels, const std::string& convention);
Volume adapt_lesions(const Volume& labels, const std::string& convention);
// covid19-ct-seg-combined: lungs (infection voxels given to the nearer side) and lesions.
void adapt_combined(const Volume& labels, Volume* lungs, Volume* lesions);
// Splits a binary lung mask (non-zero = lung) into 1 right / 2 left at the emptiest sagittal
// plane between the lungs (LPS: right lung at smaller x).
Volume split_lungs_left_right(const Volume& binary);
// True when the lesion labels of `convention` tell ground-glass from consolidation.
bool lesion_types_known(const std::string& convention);

struct LabelledCase {
  Volume image, lungs, lesions;
  bool has_lungs = false, has_lesions = false;
  bool lesion_types_known = true;      // false: every lesion is labelled 1 (see above)
  bool intensity_is_hu = true;         // false: e.g. radiopaedia cases windowed to 0..255
  std::vector<std::string> warnings;
};
// Reads the image and label maps of a case and applies its convention's adapter. A label map holding the
// image's voxels in another axis order (e.g. LAS vs LPS) is reordered onto the image grid.
// Throws with the case id as context (NotFound, Unreadable, Mismatch for a different grid).
LabelledCase load_case(const Case& c);

// `labels` on `grid`: as is when on the same grid; reordered when it holds the same voxels in another axis order
// or direction (e.g. LAS vs LPS); else Error(Mismatch) naming `what` and both grids.
Volume align_labels(const Volume& labels, const Geometry& grid, const std::string& what);

// Every problem of a manifest at once: empty or duplicate case ids, missing patient ids, unknown
// conventions, files that are missing or do not open, label maps on another grid than their image,
// label values the convention does not allow, intensities that are not plausible HU (unless the case
// says intensity=windowed). `warnings` gets what is odd but allowed. `progress(done, total)` after each case.
struct ManifestProblem {
  std::string case_id, message;
};
std::vector<ManifestProblem> check_manifest(const Manifest& m, std::vector<ManifestProblem>* warnings = nullptr,
                                            const std::function<void(int, int)>& progress = {});

// ---- 8-bit windowed exports -> approximate Hounsfield units ---------------------------------------------------
// One rule everywhere (pulmo quantify --input-window, pulmo dataset import; docs/datasets.md):
//   - the window is known (LO,HI): grey g in 0..255 -> LO + g (HI - LO) / 255 HU;
//   - it is not ("auto"): the image calibrates itself: the mode of the grey levels 5..127 is aerated lung
//     parenchyma (-850 HU), the mode of 128..255 soft tissue (+40 HU, or +150 HU when that peak is saturated at
//     >= 245, as in lung-window exports whose soft tissue is all white); linear through both, clipped to
//     -1024..400 HU. This is the rule the COVID-SemiSeg NIfTI files of ../shared were made with (tested). When the
//     soft-tissue mode sits on the lower edge of its range (<= 132: a wide-window export whose soft tissue lies
//     below 128), the two ranges are split instead at the deepest valley between the histogram's two main peaks.
//     Slices of one exported volume share its window: calibrate them together (their voxels pooled).
constexpr int kLungGreyRange[2] = {5, 127};
constexpr int kSoftGreyRange[2] = {128, 255};
constexpr int kSaturatedGrey = 245;
constexpr int kEdgeGrey = 4;  // a soft-tissue mode at <= 128 + this lies on its range's edge
constexpr double kLungParenchymaHu = -850, kSoftTissueHu = 40, kSaturatedSoftTissueHu = 150;
constexpr double kCalibratedHuRange[2] = {-1024, 400};

struct GreyToHu {
  double slope = 1, intercept = 0;            // HU = slope * grey + intercept, then clipped to [hu_min, hu_max]
  double hu_min = -1024, hu_max = 3071;
  double lung_peak = -1, soft_tissue_peak = -1;  // grey levels of the calibration (-1: a given window)
  std::string method;                          // "window -1350..150 HU" or "calibrated: lung peak grey 96 = ..."
};
struct InputWindow {
  enum class Mode { None, Window, Automatic } mode = Mode::None;
  double lo = 0, hi = 0;
};
// "LO,HI" or "auto" ("" = None). Error(Usage) for anything else, LO >= HI, non-finite numbers.
InputWindow parse_input_window(const std::string& text);
GreyToHu grey_to_hu_from_window(double lo, double hi);
// The automatic calibration of `grey` (any shape, values 0..255). Error(Mismatch) naming `what` when the values are
// not 8-bit or a peak is missing (under 0.1 % of the voxels).
GreyToHu calibrate_grey_to_hu(const at::Tensor& grey, const std::string& what);
// The mapping `w` selects for `grey` (checked to be 0..255 either way).
GreyToHu grey_to_hu_for(const InputWindow& w, const at::Tensor& grey, const std::string& what);
// float32 HU (not rounded).
at::Tensor apply_grey_to_hu(const at::Tensor& grey, const GreyToHu& m);

// ---- dataset import -------------------------------------------------------------------------------------------
// The COVID-SemiSeg training split (Fan et al., IEEE TMI 2020: ../shared/data/ct/covid-semiseg) as pulmo cases:
// every slice of ROOT/manifest.csv (8-bit JPEG, rotated with anterior at the left edge) becomes a one-slice NIfTI
// in approximate HU (rotated back to anterior-up, LPS, 0.75 x 0.75 x 5 mm as the source assumes) under
// OUT/images, its lesion labels under OUT/lesions (expert slices: GT-classes, convention medseg: 1 ground-glass,
// 2 consolidation; pseudo slices: the binary infection mask, convention binary), and OUT/manifest.csv (attributes:
// set = expert | pseudo, hu_calibration); expert slices also get the benchmark's binary infection mask (GT/) under
// OUT/infection. Expert slices are their own patients (the source gives no patient ids);
// pseudo slices take their volume's name. `window` None = automatic calibration: per slice for the expert set, per
// volume (its slices' pixels pooled: one export, one window) for the pseudo set.
struct ImportOptions {
  InputWindow window;
  bool overwrite = false;
  std::string only_set;  // "expert", "pseudo" or "" for both
};
Manifest import_covid_semiseg(const std::string& root, const std::string& out_folder, const ImportOptions& options,
                              const std::function<void(int, int)>& progress = {});

// ---- patient-level splits ----------------------------------------------------------------------
// Every split puts all cases of a patient into one set; patients are shuffled with `seed`
// (the same seed gives the same split on every platform). A case without patient_id is refused
// (Error BadConfig): give it its own id to make it its own patient.
struct Split {
  std::vector<int> train, validation, test;  // indices into Manifest::cases, ascending
};
// k folds over patients (k >= 2, at most the number of patients); fold i tests on the i-th group,
// validates on `validation_fraction` of the remaining patients and trains on the rest.
std::vector<Split> kfold_splits(const Manifest& m, int k, double validation_fraction, uint64_t seed);
// One fold per patient.
std::vector<Split> leave_one_patient_out(const Manifest& m, double validation_fraction, uint64_t seed);
// A single train / validation / test split of the patients.
Split holdout_split(const Manifest& m, double validation_fraction, double test_fraction, uint64_t seed);

}  // namespace pulmo
