#include "core/duration.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <sstream>

namespace pulmo {

std::string duration_text(double s) {
  std::ostringstream os;
  const int64_t t = std::llround(std::max(0.0, s));
  if (t >= 3600) os << t / 3600 << "h" << std::setw(2) << std::setfill('0') << (t % 3600) / 60 << "m";
  else os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
  return os.str();
}

}  // namespace pulmo
