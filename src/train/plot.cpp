// Training curves drawn into an RGB buffer (lines, axes, tick labels with a 5x7 bitmap font),
// written as PNG with ITK.
#include <itkImage.h>
#include <itkImageFileWriter.h>
#include <itkRGBPixel.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/train.h"

namespace pulmo {
namespace {

struct Rgb {
  uint8_t r, g, b;
};

// 5x7 glyphs, one byte per row, bit 4 = leftmost column.
const std::map<char, std::array<uint8_t, 7>>& font() {
  static const std::map<char, std::array<uint8_t, 7>> f = {
      {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
      {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
      {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
      {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
      {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
      {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},                {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
      {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},       {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
      {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
      {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},       {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
      {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
      {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
      {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
      {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
      {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
      {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
      {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
      {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
      {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
      {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
      {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
      {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
      {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
  };
  return f;
}

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), px_(size_t(w) * h, Rgb{255, 255, 255}) {}
  int width() const { return w_; }
  int height() const { return h_; }
  const std::vector<Rgb>& pixels() const { return px_; }

  void dot(int x, int y, Rgb c, int r = 0) {
    for (int dy = -r; dy <= r; ++dy)
      for (int dx = -r; dx <= r; ++dx)
        if (x + dx >= 0 && x + dx < w_ && y + dy >= 0 && y + dy < h_) px_[size_t(y + dy) * w_ + x + dx] = c;
  }
  void line(int x0, int y0, int x1, int y1, Rgb c, int r = 0) {  // Bresenham
    const int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    for (int err = dx + dy;;) {
      dot(x0, y0, c, r);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }
  // Text with its top-left corner at (x, y), glyphs scaled by `s`.
  void text(int x, int y, const std::string& t, Rgb c, int s = 2) {
    for (char ch : t) {
      auto it = font().find(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
      if (it != font().end())
        for (int row = 0; row < 7; ++row)
          for (int col = 0; col < 5; ++col)
            if (it->second[row] & (0x10 >> col))
              for (int a = 0; a < s; ++a)
                for (int b = 0; b < s; ++b) dot(x + col * s + b, y + row * s + a, c);
      x += 6 * s;
    }
  }
  static int text_width(const std::string& t, int s = 2) { return int(t.size()) * 6 * s; }

 private:
  int w_, h_;
  std::vector<Rgb> px_;
};

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

void write_png(const Canvas& c, const std::string& path) {
  using Image = itk::Image<itk::RGBPixel<unsigned char>, 2>;
  auto image = Image::New();
  Image::RegionType region;
  region.SetSize({static_cast<itk::SizeValueType>(c.width()), static_cast<itk::SizeValueType>(c.height())});
  image->SetRegions(region);
  image->Allocate();
  auto* buf = image->GetBufferPointer();
  for (size_t i = 0; i < c.pixels().size(); ++i) {
    buf[i][0] = c.pixels()[i].r;
    buf[i][1] = c.pixels()[i].g;
    buf[i][2] = c.pixels()[i].b;
  }
  const std::string tmp = temporary_path_for(path);
  try {
    auto writer = itk::ImageFileWriter<Image>::New();
    writer->SetFileName(tmp);
    writer->SetInput(image);
    writer->Update();
  } catch (const itk::ExceptionObject& e) {
    discard_temporary(tmp);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': " + e.GetDescription());
  }
  commit_temporary(tmp, path);  // checks the PNG is complete (disk full) before the rename
}

}  // namespace

void plot_training_curves(const std::vector<LogRow>& log, const std::string& png_path) {
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
  panel(c, 500, 0, 500, 420, "VALIDATION DICE", {dice}, dmin, 1.0, xmax);
  write_png(c, png_path);
}

}  // namespace pulmo
