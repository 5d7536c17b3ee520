// Chest X-ray prognosis: X-ray readers, the case table (manifest) joining images with clinical values, adapters
// for the Hannover (mhh-covid19) and COVID-19 image data collection (ieee8023) tables, missing-value handling,
// and the model (CNN image branch + clinical MLP, fused) with patient-level cross-validation. docs/cxr.md.
//
//   pulmo::cxr::XrayImage x = pulmo::cxr::read_xray("chest.png");       // refuses what is not a frontal CXR
//   std::vector<float> s = pulmo::cxr::letterbox(x, 128);                 // 128 x 128, aspect kept, zero padded
//   auto cases = pulmo::cxr::hannover_cases("../shared/data/cxr/mhh-covid19", 30);
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pulmo::cxr {

// ---- images ------------------------------------------------------------------------------------------------

struct XrayImage {
  int width = 0, height = 0;
  std::vector<float> pixels;  // row-major, 0..1, brighter = more attenuating (bone white), whatever the file stored
  int bits = 8;               // bits per stored sample (8 or 16; DICOM: BitsStored)
  std::string format;         // "png", "jpeg", "dicom", ...
  std::string view;           // view from the file's metadata (DICOM ViewPosition), "" when unknown
  std::string modality;       // DICOM Modality, "" for PNG/JPEG
  std::string photometric;    // DICOM PhotometricInterpretation as stored ("MONOCHROME1" comes back inverted)
  bool windowed = false;      // a DICOM VOI transform (a window or a VOI LUT) was applied
  std::string voi;            // which: "LINEAR window", "LINEAR_EXACT window", "SIGMOID window", "VOI LUT" or ""
};

// Reads a chest radiograph: PNG/JPEG (8/16 bit, grey or grey stored as RGB) or a DICOM file (CR/DX/RG/DR/PX)
// through the DICOM grayscale pipeline: stored values -> Modality LUT (rescale slope/intercept or the Modality LUT
// Sequence) -> VOI LUT (the VOI LUT Sequence, else the first Window Center/Width with the VOI LUT Function LINEAR,
// LINEAR_EXACT or SIGMOID) -> MONOCHROME1 inverted. Intensities are then mapped to 0..1 between the 0.5th and
// 99.5th percentile (of the VOI output, when there is one). docs/cxr.md.
// Refusals (pulmo::Error): NotFound - no such file; Unreadable - not an image, a DICOM whose LUT descriptor does not
// match its data, a Window Width <= 0, an unknown VOI LUT Function; BadDimension - a colour picture or colour DICOM,
// a 3-D volume or multi-frame file; NotAChestXray - an image of a single value, a lateral view (DICOM
// ViewPosition LL/RL/LAT), a DICOM of another modality (CT, MR, US, ...).
XrayImage read_xray(const std::string& path);

// True for view names of lateral projections ("L", "LL", "RL", "LAT", "Lateral", ...), case-insensitive.
bool is_lateral_view(const std::string& view);
// "AP", "PA" or "" from a free-text view ("AP Supine", "ap", "PA erect" ...).
std::string frontal_view(const std::string& view);

// The image scaled to fit `size` x `size` with its aspect kept (area averaging), centred, zero padded.
std::vector<float> letterbox(const XrayImage& image, int size);
// Where the picture lies in the letterboxed square: x0, y0, width, height (pixels of the square).
std::array<int, 4> letterbox_box(int width, int height, int size);

// A rectangle of image pixels: the columns x0 .. x0 + width - 1, rows y0 .. y0 + height - 1.
struct PixelBox {
  int x0 = 0, y0 = 0, width = 0, height = 0;
  bool empty() const { return width <= 0 || height <= 0; }
};
// The part of `image` inside `box` (clipped to the image); the metadata kept. Error(Usage) for an empty box.
XrayImage crop_xray(const XrayImage& image, const PixelBox& box);

// A lung mask PNG as the v7labs masks of ../shared/data/cxr store them: 255 lung, 127 "ignore" (devices), 0
// background; lung = 1 and ignore = 1 come back as two 0/1 images of the mask's size (format "mask").
// Error(NotFound / Unreadable / BadDimension) as read_xray; Mismatch for a value other than 0, 127 and 255.
struct LungMask {
  XrayImage lung, ignore;
};
LungMask read_lung_mask(const std::string& path);

// ---- cases and clinical values -----------------------------------------------------------------------------

// The clinical inputs of the model, in this order. Ranges (checked on every input; outside = error):
struct ClinicalFeature {
  std::string name, unit;
  double min, max;
};
const std::vector<ClinicalFeature>& clinical_features();
// Parses "key=value" clinical inputs (keys of clinical_features(); sex also as F/M). Error(Usage) for an
// unknown key (the valid ones listed), a value that is not a number or lies out of range.
std::map<std::string, double> parse_clinical(const std::vector<std::string>& key_values);
// The same from a CSV (header + one row) or JSON object file. Error(BadConfig).
std::map<std::string, double> read_clinical_file(const std::string& path);

struct CxrCase {
  std::string case_id, patient_id, source, image;  // source: "hannover", "ieee8023"; image: a path
  std::string sex, view;                           // "F"/"M"/"" ; "AP"/"PA"/""
  int severe = -1;                                 // 1 severe course, 0 not, -1 unknown
  std::map<std::string, double> clinical;          // values of clinical_features() (absent or NaN = missing)
};

struct HannoverOptions {
  int severe_within_days = 30;      // ICU admission or death within this many days after the image = severe
  // An image taken on or after the day of ICU admission shows a course already severe (and often ICU devices:
  // tubes, lines - a shortcut). true: such images get severe = -1 (unknown: left out of training and
  // evaluation); false: they count as severe.
  bool exclude_from_icu_admission = true;
};
// The Hannover mhh-covid19 folder (data.csv + png/): one case per image, patient ids "mhh:<patient_id>".
std::vector<CxrCase> hannover_cases(const std::string& folder, const HannoverOptions& options = {});
// The ieee8023 folder (metadata.csv + images/): frontal X-rays only; severe = went_icu, intubated or died
// (survival N); not severe = all three known and negative. Patient ids "ieee:<patientid>".
std::vector<CxrCase> ieee8023_cases(const std::string& folder);
// Joins the two sources: an ieee8023 image that is a Hannover image (same file stem) is dropped as a duplicate
// and every ieee8023 patient holding such an image gets the Hannover patient id, so that no patient can be in
// two folds. Returns the union; `merged_patients` gets the number of ieee8023 patients recognised.
std::vector<CxrCase> join_sources(const std::vector<CxrCase>& hannover, const std::vector<CxrCase>& ieee,
                                  int* merged_patients = nullptr);

// The training manifest of the 2-D X-ray lung segmenter: a pulmo manifest (docs/datasets.md; columns case_id,
// patient_id, dataset, image, lungs, convention) of every ieee8023 frontal X-ray with a v7labs lung mask
// (`<ieee8023>/lung_masks_v7labs/<stem>_lungmask.png`) that read_xray accepts (colour figures left out), absolute
// paths. Patients as join_sources: an ieee8023 patient holding a Hannover image (`hannover`, optional) is that one.
std::string lung_mask_manifest_csv(const std::string& ieee8023, const std::string& hannover);

// The CXR manifest: CSV with case_id, patient_id, source, image, severe, sex, view and one column per clinical
// feature (empty = missing). Image paths relative to the manifest's folder are resolved.
std::string cxr_manifest_csv(const std::vector<CxrCase>& cases);
std::vector<CxrCase> read_cxr_manifest(const std::string& path);

// Missing values: each feature is standardised with the mean/sd of the training cases, a missing value is
// replaced by the training mean (0 after standardising) and a 0/1 indicator says it was missing.
struct Imputer {
  std::vector<std::string> names;
  std::vector<double> mean, sd;
  // Fits on `cases` (the training folds only).
  static Imputer fit(const std::vector<CxrCase>& cases, const std::vector<int>& rows);
  // 2 * names.size() values: standardised value (0 when missing), then the missing indicators.
  std::vector<float> transform(const std::map<std::string, double>& clinical) const;
  int width() const { return int(names.size()) * 2; }
};

}  // namespace pulmo::cxr
