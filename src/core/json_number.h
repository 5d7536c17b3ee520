// json_number(): a double for JSON output (internal). Configurations are read and written by core/schema.h.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>

namespace pulmo {

// A number for JSON output: NaN and infinities become null (JSON has no such numbers).
template <class Json = nlohmann::json>
Json json_number(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

}  // namespace pulmo
