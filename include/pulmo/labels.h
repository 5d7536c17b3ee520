// pulmo's label conventions (every dataset adapter maps to these).
#pragma once

#include <cstdint>

namespace pulmo::labels {

// Lung label map.
constexpr uint8_t kBackground = 0;
constexpr uint8_t kRightLung  = 1;
constexpr uint8_t kLeftLung   = 2;

// Lesion label map.
constexpr uint8_t kGroundGlass   = 1;
constexpr uint8_t kConsolidation = 2;

}  // namespace pulmo::labels
