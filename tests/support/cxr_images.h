// Small synthetic chest X-ray files for the CXR tests (written with ITK; nothing downloaded).
#pragma once

#include <array>
#include <string>

#include "support/test_support.h"

namespace pulmo::test {

// A grey image whose value grows with x and y (an "X-ray"), or 100 everywhere when `constant`.
template <typename T>
void write_grey(const std::string& path, int w, int h, bool constant = false, double max_value = 255);
// An RGB PNG: grey stored as RGB, or a colour picture.
void write_rgb(const std::string& path, int w, int h, bool colour);
// A single-frame 16-bit DICOM (64 x 48, value 40 x + y) with Modality, ViewPosition, PhotometricInterpretation
// and, when `window` is "center,width", a VOI window.
void write_dicom(const std::string& path, const std::string& modality, const std::string& view,
                 const std::string& photometric = "MONOCHROME2", const std::string& window = "");
// 24 cases of 12 patients (40 x 48 PNGs; severe ones with a bright blob and a higher CRP), manifest.csv and a
// tiny train.yaml (32 px, 3 folds, 3 epochs, output "model") in `t`. Returns the config path.
std::string write_tiny_dataset(const TempDir& t);
// A synthetic "X-ray" (8-bit PNG, w x h: bright body, two dark lung rectangles placed by `seed`) and its lung
// mask PNG (255 lung, 127 an "ignore" patch, 0 background). Returns the lungs' bounding box (x0, y0, x1, y1),
// end exclusive.
std::array<int, 4> write_synthetic_lungs(const std::string& image, const std::string& mask, int w, int h, int seed);

}  // namespace pulmo::test
