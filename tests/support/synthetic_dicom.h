// Writes small synthetic DICOM CT series with chosen slice positions (ITK + GDCM),
// to build the bad-series corpus: missing slices, irregular gaps, gantry tilt, mixed series.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace pulmo::test {

struct SyntheticSlice {
  std::array<double, 3> position{0, 0, 0};                 // ImagePositionPatient (LPS, mm)
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};     // ImageOrientationPatient
  int rows = 16, columns = 16;
  std::string series_uid = "1.2.826.0.1.3680043.9.7777.1";
};

// One file per slice, named slice_###.dcm in `folder` (created); stored values are
// (slice index * 10 + column) - 1000 in HU, so order and rescale can be checked.
void write_synthetic_series(const std::string& folder, const std::vector<SyntheticSlice>& slices);

// Edits one tag of a DICOM file in place (GDCM): sets `value` (string VRs), or removes the tag when
// `value` is null. For the bad-series corpus: no PixelSpacing, skewed orientation, no SeriesInstanceUID.
void set_dicom_tag(const std::string& file, uint16_t group, uint16_t element, const char* value);

// Copies one element (a sequence too) of DICOM file `from` into `to` (GDCM), replacing any there.
void copy_dicom_element(const std::string& from, const std::string& to, uint16_t group, uint16_t element);

// Turns a slice written by write_synthetic_series into a colour one: Samples per Pixel 3, RGB, 8 bits, interleaved
// (a screenshot or a rendered "CT"), keeping its geometry, UIDs and Rescale Slope/Intercept.
void make_dicom_colour(const std::string& file);

// `n` axial slices at z = z0 + i * gap (i = 0..n-1), all in one series.
std::vector<SyntheticSlice> axial_stack(int n, double gap_mm, double z0 = 0.0);

}  // namespace pulmo::test
