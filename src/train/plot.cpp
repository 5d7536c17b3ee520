// Training curves drawn on a canvas (lines, axes, tick labels with the 5x7 bitmap font of image/canvas.h),
// written as PNG.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "image/canvas.h"
#include "pulmo/train.h"

namespace pulmo {
namespace {

using draw::Canvas;
using draw::Rgb;

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

struct Series {
  std::vector<std::pair<double, double>> points;  // (step, value), finite only
  Rgb colour;
};

// One panel: axes with 5 ticks each, the series, a title.
void panel(Canvas& c, int x0, int y0, int w, int h, const std::string& title, const std::vector<Series>& series,
           double ymin, double ymax, double xmax) {
  const Rgb black{0, 0, 0}, grey{220, 220, 220};
  const int left = x0 + 80, right = x0 + w - 20, top = y0 + 40, bottom = y0 + h - 50;
  c.text(left + (right - left - Canvas::text_width(title)) / 2, y0 + 10, title, black);
  auto px = [&](double step) { return left + int(std::lround((right - left) * step / xmax)); };
  auto py = [&](double v) { return bottom - int(std::lround((bottom - top) * (v - ymin) / (ymax - ymin))); };
  for (int i = 0; i <= 4; ++i) {
    const double xv = xmax * i / 4, yv = ymin + (ymax - ymin) * i / 4;
    c.line(px(xv), top, px(xv), bottom, grey);
    c.line(left, py(yv), right, py(yv), grey);
    const std::string xl = tick_label(xv), yl = tick_label(yv);
    c.line(px(xv), bottom, px(xv), bottom + 5, black);
    c.text(px(xv) - Canvas::text_width(xl) / 2, bottom + 10, xl, black);
    c.line(left - 5, py(yv), left, py(yv), black);
    c.text(left - 10 - Canvas::text_width(yl), py(yv) - 7, yl, black);
  }
  c.line(left, top, left, bottom, black, 1);
  c.line(left, bottom, right, bottom, black, 1);
  c.text(left + (right - left - Canvas::text_width("STEP")) / 2, bottom + 30, "STEP", black);
  for (const Series& s : series) {
    for (size_t i = 0; i < s.points.size(); ++i) {
      const int x = px(s.points[i].first), y = py(std::clamp(s.points[i].second, ymin, ymax));
      c.dot(x, y, s.colour, 3);
      if (i > 0)
        c.line(px(s.points[i - 1].first), py(std::clamp(s.points[i - 1].second, ymin, ymax)), x, y, s.colour, 1);
    }
  }
}

}  // namespace

void plot_training_curves(const std::vector<LogRow>& log, const std::string& png_path, const std::string& metric_title) {
  Series loss{{}, {31, 119, 180}}, dice{{}, {214, 39, 40}};
  double xmax = 1, lmax = 0;
  for (const LogRow& r : log) {
    xmax = std::max(xmax, double(r.step));
    if (std::isfinite(r.train_loss)) {
      loss.points.push_back({double(r.step), r.train_loss});
      lmax = std::max(lmax, r.train_loss);
    }
    if (std::isfinite(r.validation_dice)) dice.points.push_back({double(r.step), r.validation_dice});
  }
  double dmin = 1;
  for (const auto& p : dice.points) dmin = std::min(dmin, p.second);
  dmin = std::min(0.8, std::floor(dmin * 10) / 10);
  Canvas c(1000, 420);
  panel(c, 0, 0, 500, 420, "TRAINING LOSS", {loss}, 0, lmax > 0 ? lmax * 1.05 : 1, xmax);
  panel(c, 500, 0, 500, 420, metric_title, {dice}, dmin, 1.0, xmax);
  draw::write_png(c, png_path);
}

}  // namespace pulmo
