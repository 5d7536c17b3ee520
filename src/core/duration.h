// A duration for progress lines and ETAs (internal): "1h05m", "3m07s".
#pragma once

#include <string>

namespace pulmo {

std::string duration_text(double seconds);

}  // namespace pulmo
