// One grayscale DICOM image (a radiograph) through the DICOM grayscale pipeline of PS3.3 C.11: stored values ->
// Modality LUT (Rescale Slope/Intercept, or the Modality LUT Sequence) -> VOI LUT (the VOI LUT Sequence, else
// Window Center/Width with the VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID) -> MONOCHROME1 inversion.
// Internal to libpulmo (src/cxr reads X-rays with it); GDCM stays inside src/io.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace pulmo::io {

// What the header of a single-image DICOM file says (read before the pixel data are decoded).
struct DicomImageHeader {
  std::string modality, photometric, view;  // Modality, PhotometricInterpretation, ViewPosition (trimmed)
  int columns = 0, rows = 0, frames = 1, samples_per_pixel = 1;
  int bits_allocated = 0, bits_stored = 0, high_bit = 0;
  bool signed_pixels = false;               // PixelRepresentation 1 (two's complement)
};

struct DicomGreyImage {
  DicomImageHeader header;
  // Row-major, columns x rows. With a VOI transform: its output in 0..1, then inverted (1 - y) for MONOCHROME1.
  // Without one: the Modality LUT output, for MONOCHROME1 mirrored within its own range (min + max - v). Either
  // way a higher value is displayed brighter.
  std::vector<float> pixels;
  double modality_min = 0, modality_max = 0;  // range of the Modality LUT output over the image
  std::string modality_lut;  // "rescale" (slope/intercept, 1/0 when absent) or "table" (Modality LUT Sequence)
  std::string voi;           // "table" (VOI LUT Sequence), "LINEAR", "LINEAR_EXACT", "SIGMOID", or "" (none)
  double window_center = NAN, window_width = NAN;  // the window used (the first of several), NaN for a table/none
};

// Reads a single-image grayscale DICOM file and applies the grayscale pipeline above. `check_header`, when given,
// is called with the header before the pixel data are decoded (to refuse an image early: a lateral view, another
// modality). Errors (pulmo::Error): Unreadable - not DICOM, no or corrupt pixel data, a LUT whose descriptor does
// not match its data (length, bits), an empty LUT, a Window Width <= 0, a window centre without a width (or the
// reverse), an unknown VOI LUT Function, High Bit other than Bits Stored - 1, a LUT in a big-endian file;
// BadDimension - several frames, or not MONOCHROME1/MONOCHROME2 with one sample per pixel (a colour DICOM).
DicomGreyImage read_dicom_grey(const std::string& path,
                               const std::function<void(const DicomImageHeader&)>& check_header = nullptr);

}  // namespace pulmo::io
