// Small synthetic chest X-ray files for the CXR tests (written with ITK and GDCM; nothing downloaded).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace pulmo::test {

// A grey image whose value grows with x and y (an "X-ray"), or 100 everywhere when `constant`.
template <typename T>
void write_grey(const std::string& path, int w, int h, bool constant = false, double max_value = 255);
// An RGB PNG: grey stored as RGB, or a colour picture.
void write_rgb(const std::string& path, int w, int h, bool colour);
// A lookup table of a Modality or VOI LUT Sequence item as written: the three descriptor values (number of entries,
// 0 = 65536; first mapped value as a 16-bit pattern; bits per entry), the descriptor's VR ("US" or "SS") and the
// data, one byte per entry when `bytes` (8-bit tables), else one 16-bit word per entry.
struct DicomLut {
  uint16_t entries = 0, first = 0, bits = 16;
  std::string descriptor_vr = "US";
  std::vector<uint16_t> data;
  bool bytes = false;
};
// A single-frame grayscale DICOM radiograph (explicit VR little endian, written with GDCM's writer): every element
// as given, "" leaves it out.
struct DicomSpec {
  std::string modality = "CR", view = "AP", photometric = "MONOCHROME2";
  int width = 64, height = 48;
  int bits_allocated = 16, bits_stored = 12;
  bool is_signed = false;
  std::vector<int32_t> stored;   // width x height stored values (default: 40 x + y)
  uint32_t unused_bits = 0;      // OR-ed into the bits above Bits Stored of every sample (overlay garbage)
  std::string rescale_slope, rescale_intercept, window_center, window_width, voi_function;
  std::optional<DicomLut> voi_lut, modality_lut;
};
void write_dicom_file(const std::string& path, const DicomSpec& spec);
// A single-frame 12-bit DICOM (64 x 48, value 40 x + y) with Modality, ViewPosition, PhotometricInterpretation
// and, when `window` is "center,width", a VOI window (write_dicom_file).
void write_dicom(const std::string& path, const std::string& modality, const std::string& view,
                 const std::string& photometric = "MONOCHROME2", const std::string& window = "");
// 24 cases of 12 patients (40 x 48 PNGs; severe ones with a bright blob and a higher CRP), manifest.csv and a
// tiny train.yaml (32 px, 3 folds, 3 epochs, output "model") in `t`. Returns the config path.
std::string write_tiny_dataset(const TempDir& t);
// Checks (gtest) that two folders written by `pulmo cxr train` hold the same outputs byte for byte: model.json,
// fused.pt, image.pt, cv_predictions.csv, features.csv, importance.json, manifest.csv, and cv.json but its "seconds".
void expect_same_cxr_outputs(const std::string& a, const std::string& b);
// A synthetic "X-ray" (8-bit PNG, w x h: bright body, two dark lung rectangles placed by `seed`) and its lung
// mask PNG (255 lung, 127 an "ignore" patch, 0 background). Returns the lungs' bounding box (x0, y0, x1, y1),
// end exclusive.
std::array<int, 4> write_synthetic_lungs(const std::string& image, const std::string& mask, int w, int h, int seed);

}  // namespace pulmo::test
