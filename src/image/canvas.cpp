#include "image/canvas.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>

#include "pulmo/error.h"
#include "pulmo/fileutil.h"

namespace pulmo::draw {
namespace {

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
      {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},
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

const std::array<uint8_t, 7>* glyph(char ch) {
  auto it = font().find(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  return it == font().end() ? nullptr : &it->second;
}

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}

// A PNG chunk: length, type, data, CRC of type + data.
void put_chunk(std::string& out, const char* type, const std::string& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  const std::string body = std::string(type, 4) + data;
  out += body;
  put_u32(out, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(body.data()), body.size())));
}

}  // namespace

Canvas::Canvas(int width, int height, Rgb background)
    : w_(width), h_(height), px_(size_t(width) * size_t(height), background) {}

void Canvas::blend(int x, int y, Rgb c, double alpha) {
  if (x < 0 || x >= w_ || y < 0 || y >= h_) return;
  Rgb& p = px_[size_t(y) * w_ + x];
  auto mix = [alpha](uint8_t under, uint8_t over) {
    return static_cast<uint8_t>(std::lround(under * (1 - alpha) + over * alpha));
  };
  p = {mix(p.r, c.r), mix(p.g, c.g), mix(p.b, c.b)};
}

void Canvas::dot(int x, int y, Rgb c, int r) {
  for (int dy = -r; dy <= r; ++dy)
    for (int dx = -r; dx <= r; ++dx) set(x + dx, y + dy, c);
}

void Canvas::line(int x0, int y0, int x1, int y1, Rgb c, int r) {
  const int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  for (int err = dx + dy;;) {
    dot(x0, y0, c, r);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
}

void Canvas::fill_rect(int x, int y, int w, int h, Rgb c) {
  for (int yy = y; yy < y + h; ++yy)
    for (int xx = x; xx < x + w; ++xx) set(xx, yy, c);
}

void Canvas::text(int x, int y, const std::string& t, Rgb c, int s) {
  for (char ch : t) {
    if (const auto* g = glyph(ch))
      for (int row = 0; row < 7; ++row)
        for (int col = 0; col < 5; ++col)
          if ((*g)[row] & (0x10 >> col)) fill_rect(x + col * s, y + row * s, s, s, c);
    x += 6 * s;
  }
}

void Canvas::text_with_halo(int x, int y, const std::string& t, Rgb c, Rgb halo, int s) {
  for (int dy = -s; dy <= s; dy += s)
    for (int dx = -s; dx <= s; dx += s)
      if (dx != 0 || dy != 0) text(x + dx, y + dy, t, halo, s);
  text(x, y, t, c, s);
}

namespace {

// One row filtered with PNG filter `type` (0 none, 1 sub, 2 up) into `out`, preceded by the type byte.
void filter_row(const std::string& row, const std::string& above, int type, std::string& out) {
  out += static_cast<char>(type);
  for (size_t i = 0; i < row.size(); ++i) {
    const uint8_t left = i >= 3 ? uint8_t(row[i - 3]) : 0, up = above.empty() ? 0 : uint8_t(above[i]);
    const uint8_t predictor = type == 1 ? left : type == 2 ? up : 0;
    out += static_cast<char>(uint8_t(row[i]) - predictor);
  }
}

// The filtered rows: per row the filter with the smallest sum of |bytes| (the heuristic libpng uses).
std::string filtered_rows(const Canvas& c) {
  std::string out, row, above, candidate;
  for (int y = 0; y < c.height(); ++y) {
    row.clear();
    for (int x = 0; x < c.width(); ++x) {
      const Rgb p = c.at(x, y);
      row += static_cast<char>(p.r);
      row += static_cast<char>(p.g);
      row += static_cast<char>(p.b);
    }
    std::string best;
    int64_t best_cost = -1;
    for (int type = 0; type <= 2; ++type) {
      candidate.clear();
      filter_row(row, above, type, candidate);
      int64_t cost = 0;
      for (size_t i = 1; i < candidate.size(); ++i) cost += std::abs(int(static_cast<int8_t>(candidate[i])));
      if (best_cost < 0 || cost < best_cost) best_cost = cost, best = candidate;
    }
    out += best;
    above = row;
  }
  return out;
}

}  // namespace

std::string encode_png(const Canvas& c) {
  const std::string raw = filtered_rows(c);
  uLongf packed_size = compressBound(raw.size());
  std::string packed(packed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size, reinterpret_cast<const Bytef*>(raw.data()),
                raw.size(), 6) != Z_OK)
    throw Error(ExitCode::Internal, "PNG encoding: zlib compression failed");
  packed.resize(packed_size);
  std::string header;
  put_u32(header, static_cast<uint32_t>(c.width()));
  put_u32(header, static_cast<uint32_t>(c.height()));
  header += std::string("\x08\x02\x00\x00\x00", 5);  // 8 bits, RGB, deflate, no filter method, no interlace
  std::string png("\x89PNG\r\n\x1a\n", 8);
  put_chunk(png, "IHDR", header);
  put_chunk(png, "IDAT", packed);
  put_chunk(png, "IEND", "");
  return png;
}

void write_png(const Canvas& canvas, const std::string& path) { write_text_atomic(path, encode_png(canvas)); }

}  // namespace pulmo::draw
