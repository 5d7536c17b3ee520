// Internal to src/report: slices of a CT drawn in the radiological convention with label overlays.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "image/canvas.h"
#include "pulmo/report.h"

namespace pulmo::report_detail {

// Which index axis runs along each LPS axis (0 = L, 1 = P, 2 = S), and whether the index increases towards
// it (+1) or away from it (-1): the permutation of index axes closest to the direction matrix.
struct AxisMatch {
  std::array<int, 3> index_axis{0, 1, 2};
  std::array<int, 3> sign{1, 1, 1};
};
AxisMatch match_axes(const Geometry& geometry);

// How the pixels of a plane run over the index axes.
struct PlaneAxes {
  int horizontal = 0, vertical = 1, normal = 2;  // index axes
  bool flip_horizontal = false, flip_vertical = false;  // true: the picture runs against increasing index
  const char* left = "R";                       // orientation letters at the picture's edges
  const char* right = "L";
  const char* top = "A";
  const char* bottom = "P";
};
PlaneAxes plane_axes(const Geometry& geometry, Plane plane);

// Overlay colours (shared by the pictures and the HTML legend).
constexpr draw::Rgb kRightLungColour{0, 200, 255};
constexpr draw::Rgb kLeftLungColour{60, 220, 60};
constexpr draw::Rgb kGroundGlassColour{255, 215, 0};
constexpr draw::Rgb kConsolidationColour{235, 40, 40};
constexpr draw::Rgb kLesionColour{255, 140, 0};  // lesions of a model that does not separate the types

struct RenderOptions {
  int target_px = 420;   // the longer side of the picture, in pixels
  bool caption = true;   // a strip above with the plane and slice number
  bool legend = true;    // a strip below with the colours
  bool lesion_types_known = true;  // false: every lesion label in one colour, "LESION" in the legend
};

// The slice drawn at square millimetre pixels: CT in W1500 / L-600, lesions (inside the lungs) filled,
// lung outlines, orientation letters. Labels on ct's grid (else Error Mismatch); `lesions` may be undefined.
draw::Canvas render_slice(const Volume& ct, const Volume& lungs, const Volume& lesions, Plane plane,
                          int64_t slice_index, const RenderOptions& options = {});

// Voxels with a non-zero label in each slice along index axis `axis`.
std::vector<int64_t> label_counts_along(const Volume& labels, int axis);

}  // namespace pulmo::report_detail
