// Internal to src/synth: vessel trees and the in-plane partial-volume blur of a phantom.
#pragma once

#include <cstdint>

#include "synth/anatomy.h"

namespace pulmo::synth {

// Pulmonary vessels (~40 HU): a trunk from the heart to each hilum and a seeded branching tree inside
// each lung, drawn with partial-volume edges into `ct` ([z, y, x] floats). Vessels are drawn inside
// the lungs (not over consolidation) and, for the trunks, in mediastinal soft tissue.
void draw_vessels(const Anatomy& anatomy, const Frame& frame, const double spacing_mm[3], const int64_t size[3], uint64_t seed, float* ct,
                  const uint8_t* lungs, const uint8_t* lesions);

// A [1 2 1] / 4 blur along x and along y (the scanner's in-plane point spread).
void blur_in_plane(float* ct, const int64_t size[3]);

}  // namespace pulmo::synth
