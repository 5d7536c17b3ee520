// Internal: an RGB picture to draw on (dots, lines, rectangles, text in a 5x7 bitmap font) and its PNG
// encoding - the one PNG encoder of pulmo (training curves, report images).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pulmo::draw {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = {255, 255, 255});
  int width() const { return w_; }
  int height() const { return h_; }
  const std::vector<Rgb>& pixels() const { return px_; }
  Rgb at(int x, int y) const { return px_[size_t(y) * w_ + x]; }

  void set(int x, int y, Rgb c) {
    if (x >= 0 && x < w_ && y >= 0 && y < h_) px_[size_t(y) * w_ + x] = c;
  }
  // `c` over the pixel with opacity `alpha` (0..1).
  void blend(int x, int y, Rgb c, double alpha);
  void dot(int x, int y, Rgb c, int r = 0);                        // a (2r+1)-pixel square
  void line(int x0, int y0, int x1, int y1, Rgb c, int r = 0);     // Bresenham, thickness 2r+1
  void fill_rect(int x, int y, int w, int h, Rgb c);
  // Text with its top-left corner at (x, y), glyphs scaled by `s`; letters are drawn upper-case.
  void text(int x, int y, const std::string& t, Rgb c, int s = 2);
  // The same with a one-pixel-per-scale outline in `halo` around each glyph (readable on any image).
  void text_with_halo(int x, int y, const std::string& t, Rgb c, Rgb halo, int s = 2);
  static int text_width(const std::string& t, int s = 2) { return int(t.size()) * 6 * s; }
  static int text_height(int s = 2) { return 7 * s; }

 private:
  int w_, h_;
  std::vector<Rgb> px_;
};

// The PNG file (8-bit RGB, zlib-compressed, no interlace) as bytes.
std::string encode_png(const Canvas& canvas);
// encode_png written atomically (write_text_atomic). Throws Error(WriteFailed).
void write_png(const Canvas& canvas, const std::string& path);

}  // namespace pulmo::draw
