// 8-bit windowed CT exports (JPEG/PNG slices, 0..255 volumes) -> approximate Hounsfield units: one rule for every
// reader (pulmo quantify --input-window, pulmo dataset import). docs/datasets.md, "8-bit windowed exports".
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "pulmo/dataset.h"
#include "pulmo/error.h"

namespace pulmo {

namespace {

std::string number(double v) {
  std::ostringstream s;
  s.precision(4);
  s << v;
  return s.str();
}

}  // namespace

GreyToHu grey_to_hu_from_window(double lo, double hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi > lo))
    throw Error(ExitCode::Usage, "an input window needs two finite numbers LO,HI with LO < HI (got " + number(lo) + "," +
                                     number(hi) + ")");
  GreyToHu m;
  m.slope = (hi - lo) / 255.0;
  m.intercept = lo;
  m.hu_min = lo;
  m.hu_max = hi;
  m.method = "window " + number(lo) + ".." + number(hi) + " HU";
  return m;
}

GreyToHu calibrate_grey_to_hu(const at::Tensor& grey, const std::string& what) {
  if (!grey.defined() || grey.numel() == 0) throw Error(ExitCode::NoData, what + ": no voxels to calibrate");
  const at::Tensor g = grey.to(at::kFloat);
  const auto [min_t, max_t] = at::aminmax(g);
  const double lo = min_t.item<double>(), hi = max_t.item<double>();
  if (lo < 0 || hi > 255)
    throw Error(ExitCode::Mismatch, what + ": values " + number(lo) + ".." + number(hi) +
                                        " are not an 8-bit export (0..255 expected); it needs no grey-to-HU mapping");
  // Histogram of the rounded grey levels.
  const at::Tensor h = at::bincount(g.round().to(at::kLong).flatten(), {}, 256).to(at::kDouble);
  const double* c = h.data_ptr<double>();
  auto mode = [&](int a, int b) {
    int best = a;
    for (int i = a; i <= b; ++i)
      if (c[i] > c[best]) best = i;
    return best;
  };
  int lung = mode(kLungGreyRange[0], kLungGreyRange[1]);
  int soft = mode(kSoftGreyRange[0], kSoftGreyRange[1]);
  if (soft <= kSoftGreyRange[0] + kEdgeGrey) {
    // The soft-tissue "peak" sits on the lower edge of its range: this export's soft tissue lies below grey 128 (a
    // wide window). Split lung from soft tissue at the deepest valley between the two highest peaks of the smoothed
    // histogram that lie at least 30 grey levels apart, and take the modes on either side.
    const int r = 4, first = kLungGreyRange[0];
    std::vector<double> smooth(256, 0.0);
    for (int i = first; i < 256; ++i)
      for (int j = std::max(first, i - r); j <= std::min(255, i + r); ++j) smooth[i] += c[j];
    std::vector<int> peaks;
    for (int i = first; i < 256; ++i) {
      bool top = smooth[i] > 0;
      for (int j = std::max(first, i - r); top && j <= std::min(255, i + r); ++j) top = smooth[i] >= smooth[j];
      if (top) peaks.push_back(i);
    }
    std::stable_sort(peaks.begin(), peaks.end(), [&](int a, int b) { return smooth[a] > smooth[b]; });
    int other = -1;
    for (size_t k = 1; k < peaks.size() && other < 0; ++k)
      if (std::abs(peaks[k] - peaks[0]) >= 30) other = peaks[k];
    if (other < 0)
      throw Error(ExitCode::Mismatch, what + ": the grey-level histogram has a single peak: no lung and soft tissue to "
                                          "calibrate against; give the export's window (--input-window LO,HI)");
    const int a = std::min(peaks[0], other), b = std::max(peaks[0], other);
    int valley = a;
    for (int i = a; i <= b; ++i)
      if (smooth[i] < smooth[valley]) valley = i;
    lung = mode(first, std::max(first, valley - 1));
    soft = mode(valley, 255);
  }
  const double n = double(g.numel());
  // Both peaks must be real: at least 0.1 % of the voxels each (an image without aerated lung or without soft tissue
  // cannot be calibrated this way; give its window instead).
  if (c[lung] < 0.001 * n || c[soft] < 0.001 * n)
    throw Error(ExitCode::Mismatch, what + ": no " + std::string(c[lung] < 0.001 * n ? "lung-parenchyma" : "soft-tissue") +
                                        " peak in the grey-level histogram to calibrate against; give the export's window "
                                        "(--input-window LO,HI)");
  if (soft <= lung)
    throw Error(ExitCode::Mismatch, what + ": no soft-tissue peak above the lung peak; give the export's window (--input-window LO,HI)");
  const double soft_hu = soft >= kSaturatedGrey ? kSaturatedSoftTissueHu : kSoftTissueHu;
  GreyToHu m;
  m.slope = (soft_hu - kLungParenchymaHu) / double(soft - lung);
  m.intercept = kLungParenchymaHu - m.slope * lung;
  m.hu_min = kCalibratedHuRange[0];
  m.hu_max = kCalibratedHuRange[1];
  m.lung_peak = lung;
  m.soft_tissue_peak = soft;
  m.method = "calibrated: lung peak grey " + std::to_string(lung) + " = " + number(kLungParenchymaHu) +
             " HU; soft-tissue peak grey " + std::to_string(soft) + " = " + number(soft_hu) + " HU";
  return m;
}

at::Tensor apply_grey_to_hu(const at::Tensor& grey, const GreyToHu& m) {
  return grey.to(at::kFloat).mul(m.slope).add(m.intercept).clamp(m.hu_min, m.hu_max);
}

InputWindow parse_input_window(const std::string& text) {
  InputWindow w;
  if (text.empty()) return w;
  if (text == "auto") {
    w.mode = InputWindow::Mode::Automatic;
    return w;
  }
  const size_t comma = text.find(',');
  double v[2];
  bool ok = comma != std::string::npos && text.find(',', comma + 1) == std::string::npos;
  for (int i = 0; ok && i < 2; ++i) {
    const std::string part = i == 0 ? text.substr(0, comma) : text.substr(comma + 1);
    try {
      size_t used = 0;
      v[i] = std::stod(part, &used);
      ok = used == part.size() && std::isfinite(v[i]);
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok || !(v[1] > v[0]))
    throw Error(ExitCode::Usage, "--input-window '" + text + "': give LO,HI in HU with LO < HI (e.g. -1350,150), or auto");
  w.mode = InputWindow::Mode::Window;
  w.lo = v[0];
  w.hi = v[1];
  return w;
}

GreyToHu grey_to_hu_for(const InputWindow& w, const at::Tensor& grey, const std::string& what) {
  if (w.mode == InputWindow::Mode::Window) {
    const auto [min_t, max_t] = at::aminmax(grey.to(at::kFloat));
    const double lo = min_t.item<double>(), hi = max_t.item<double>();
    if (lo < 0 || hi > 255)
      throw Error(ExitCode::Mismatch, what + ": values " + number(lo) + ".." + number(hi) +
                                          " are not an 8-bit export (0..255 expected)");
    return grey_to_hu_from_window(w.lo, w.hi);
  }
  return calibrate_grey_to_hu(grey, what);
}

}  // namespace pulmo
