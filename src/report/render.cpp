// Slices in the radiological convention: the index axes are matched to patient axes, each picture axis is
// resampled to square millimetre pixels (bilinear CT, nearest labels), then overlays and letters are drawn.
#include "report/render.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "pulmo/error.h"
#include "pulmo/labels.h"

namespace pulmo::report_detail {
namespace {

// One picture axis: for each pixel the two neighbouring indices along an index axis and the weight of the second.
struct Samples {
  std::vector<int64_t> lo, hi, nearest;
  std::vector<double> weight;
};

// `pixels` pixel centres spread evenly over `n` voxels, in picture order (`flip`: from the last index).
Samples sample_axis(int64_t n, int pixels, bool flip) {
  Samples s;
  for (int p = 0; p < pixels; ++p) {
    double c = (p + 0.5) * double(n) / pixels - 0.5;
    if (flip) c = double(n - 1) - c;
    c = std::clamp(c, 0.0, double(n - 1));
    const auto lo = static_cast<int64_t>(std::floor(c));
    s.lo.push_back(lo);
    s.hi.push_back(std::min(lo + 1, n - 1));
    s.weight.push_back(c - double(lo));
    s.nearest.push_back(static_cast<int64_t>(std::lround(c)));
  }
  return s;
}

int64_t stride_of(const Geometry& g, int axis) { return axis == 0 ? 1 : axis == 1 ? g.size[0] : g.size[0] * g.size[1]; }

uint8_t lung_window(double hu) {  // W1500 / L-600: -1350 HU black, +150 HU white
  const double v = (hu + 1350.0) / 1500.0 * 255.0;
  return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
}

at::Tensor as_bytes(const Volume& labels, const Geometry& grid, const char* what) {
  if (!labels.voxels.defined()) return {};
  if (!labels.geometry.same_grid_as(grid))
    throw Error(ExitCode::Mismatch, std::string("report: the ") + what + " label map is not on the CT's grid");
  return labels.voxels.to(at::kByte).contiguous();
}

void draw_letters(draw::Canvas& c, int x0, int y0, int w, int h, const PlaneAxes& axes) {
  const draw::Rgb white{255, 255, 255}, black{0, 0, 0};
  const int s = 2, lh = draw::Canvas::text_height(s), lw = draw::Canvas::text_width("R", s);
  c.text_with_halo(x0 + 4, y0 + (h - lh) / 2, axes.left, white, black, s);
  c.text_with_halo(x0 + w - 4 - lw, y0 + (h - lh) / 2, axes.right, white, black, s);
  c.text_with_halo(x0 + (w - lw) / 2, y0 + 4, axes.top, white, black, s);
  c.text_with_halo(x0 + (w - lw) / 2, y0 + h - 4 - lh, axes.bottom, white, black, s);
}

struct LegendItem { const char* text; draw::Rgb colour; bool filled; };

std::array<std::vector<LegendItem>, 2> legend_rows(bool lesion_types_known) {
  return {std::vector<LegendItem>{{"RIGHT LUNG", kRightLungColour, false}, {"LEFT LUNG", kLeftLungColour, false}},
          lesion_types_known ? std::vector<LegendItem>{{"GROUND-GLASS", kGroundGlassColour, true}, {"CONSOLIDATION", kConsolidationColour, true}}
                             : std::vector<LegendItem>{{"LESION", kLesionColour, true}}};
}

constexpr int kLegendItemPad = 20 + 24;  // swatch + gap before the text, gap after it

// The width the legend needs: a picture is at least this wide, so no label is cut off.
int legend_width(bool lesion_types_known) {
  int widest = 0;
  for (const auto& row : legend_rows(lesion_types_known)) {
    int x = 8;
    for (const LegendItem& item : row) x += kLegendItemPad + draw::Canvas::text_width(item.text, 2);
    widest = std::max(widest, x);
  }
  return widest;
}

void draw_legend(draw::Canvas& c, int y0, bool lesion_types_known) {
  const draw::Rgb grey{200, 200, 200};
  const auto rows = legend_rows(lesion_types_known);
  for (int r = 0; r < 2; ++r) {
    int x = 8;
    const int y = y0 + 6 + r * 22;
    for (const LegendItem& item : rows[size_t(r)]) {
      if (item.filled) c.fill_rect(x, y, 14, 14, item.colour);
      for (int t = 0; t < 2 && !item.filled; ++t) {  // an outline box, two pixels thick
        c.line(x + t, y + t, x + 13 - t, y + t, item.colour);
        c.line(x + t, y + 13 - t, x + 13 - t, y + 13 - t, item.colour);
        c.line(x + t, y + t, x + t, y + 13 - t, item.colour);
        c.line(x + 13 - t, y + t, x + 13 - t, y + 13 - t, item.colour);
      }
      c.text(x + 20, y, item.text, grey, 2);
      x += kLegendItemPad + draw::Canvas::text_width(item.text, 2);
    }
  }
}

}  // namespace

AxisMatch match_axes(const Geometry& g) {
  // The permutation (LPS axis -> index axis) with the largest sum of |direction components|.
  std::array<int, 3> perm{0, 1, 2}, best = perm;
  double best_score = -1;
  do {
    double score = 0;
    for (int a = 0; a < 3; ++a) score += std::abs(g.direction[3 * a + perm[a]]);
    if (score > best_score + 1e-12) {
      best_score = score;
      best = perm;
    }
  } while (std::next_permutation(perm.begin(), perm.end()));
  AxisMatch m;
  m.index_axis = best;
  for (int a = 0; a < 3; ++a) m.sign[a] = g.direction[3 * a + best[a]] >= 0 ? 1 : -1;
  return m;
}

PlaneAxes plane_axes(const Geometry& g, Plane plane) {
  // Picture axes as (LPS axis, +1 when the picture runs towards L / P / S): axial (L, P), coronal (L, -S),
  // sagittal (P, -S) - patient right on the viewer's left, anterior at the top or on the left, superior on top.
  const AxisMatch m = match_axes(g);
  PlaneAxes p;
  int h_lps = 0, v_lps = 1, n_lps = 2, v_want = 1;
  if (plane == Plane::Coronal) {
    v_lps = 2, n_lps = 1, v_want = -1;
    p.top = "S", p.bottom = "I";
  } else if (plane == Plane::Sagittal) {
    h_lps = 1, v_lps = 2, n_lps = 0, v_want = -1;
    p.left = "A", p.right = "P", p.top = "S", p.bottom = "I";
  }
  p.horizontal = m.index_axis[h_lps];
  p.vertical = m.index_axis[v_lps];
  p.normal = m.index_axis[n_lps];
  p.flip_horizontal = m.sign[h_lps] != 1;
  p.flip_vertical = m.sign[v_lps] != v_want;
  return p;
}

std::vector<int64_t> label_counts_along(const Volume& labels, int axis) {
  const at::Tensor bytes = labels.voxels.scalar_type() == at::kByte ? labels.voxels.contiguous()
                                                                     : (labels.voxels != 0).to(at::kByte);
  const uint8_t* p = bytes.data_ptr<uint8_t>();
  const auto& n = labels.geometry.size;
  std::vector<int64_t> counts(size_t(n[axis]), 0);
  for (int64_t k = 0, i = 0; k < n[2]; ++k)
    for (int64_t j = 0; j < n[1]; ++j)
      for (int64_t x = 0; x < n[0]; ++x, ++i)
        if (p[i] != 0) ++counts[size_t(axis == 0 ? x : axis == 1 ? j : k)];
  return counts;
}

draw::Canvas render_slice(const Volume& ct, const Volume& lungs, const Volume& lesions, Plane plane,
                          int64_t slice_index, const RenderOptions& o) {
  const Geometry& g = ct.geometry;
  const PlaneAxes axes = plane_axes(g, plane);
  if (slice_index < 0 || slice_index >= g.size[axes.normal])
    throw Error(ExitCode::Usage, std::string(plane_name(plane)) + " slice " + std::to_string(slice_index) +
                                     " is out of range (0.." + std::to_string(g.size[axes.normal] - 1) + ")");
  const at::Tensor hu_t = ct.voxels.to(at::kFloat).contiguous();
  const at::Tensor lung_t = as_bytes(lungs, g, "lung"), lesion_t = as_bytes(lesions, g, "lesion");
  const int64_t nh = g.size[axes.horizontal], nv = g.size[axes.vertical];
  const double ext_h = double(nh) * g.spacing_mm[axes.horizontal], ext_v = double(nv) * g.spacing_mm[axes.vertical];
  const double px_mm = std::max(ext_h, ext_v) / o.target_px;
  const int w = std::max(1, int(std::lround(ext_h / px_mm))), h = std::max(1, int(std::lround(ext_v / px_mm)));
  const Samples sh = sample_axis(nh, w, axes.flip_horizontal), sv = sample_axis(nv, h, axes.flip_vertical);
  const int64_t base = slice_index * stride_of(g, axes.normal);
  const int64_t step_h = stride_of(g, axes.horizontal), step_v = stride_of(g, axes.vertical);

  const float* hu = hu_t.data_ptr<float>();
  const uint8_t* lung = lung_t.defined() ? lung_t.data_ptr<uint8_t>() : nullptr;
  const uint8_t* lesion = lesion_t.defined() ? lesion_t.data_ptr<uint8_t>() : nullptr;
  const std::string caption = std::string(plane_name(plane)) + " SLICE " + std::to_string(slice_index) + " (0-" +
                              std::to_string(g.size[axes.normal] - 1) + ")";
  const int caption_h = o.caption ? 26 : 0, legend_h = o.legend ? 52 : 0;
  const int canvas_w = std::max({w, o.legend ? std::max(400, legend_width(o.lesion_types_known)) : 1, o.caption ? draw::Canvas::text_width(caption) + 16 : 1});
  const int x0 = (canvas_w - w) / 2, y0 = caption_h;
  draw::Canvas c(canvas_w, caption_h + h + legend_h, {0, 0, 0});
  std::vector<uint8_t> lung_px(size_t(w) * h, 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      auto at_ = [&](int64_t i, int64_t j) { return double(hu[base + i * step_h + j * step_v]); };
      const double top = at_(sh.lo[x], sv.lo[y]) * (1 - sh.weight[x]) + at_(sh.hi[x], sv.lo[y]) * sh.weight[x];
      const double bot = at_(sh.lo[x], sv.hi[y]) * (1 - sh.weight[x]) + at_(sh.hi[x], sv.hi[y]) * sh.weight[x];
      const uint8_t grey = lung_window(top * (1 - sv.weight[y]) + bot * sv.weight[y]);
      c.set(x0 + x, y0 + y, {grey, grey, grey});
      const int64_t nearest = base + sh.nearest[x] * step_h + sv.nearest[y] * step_v;
      const uint8_t l = lung ? lung[nearest] : 0, s = lesion ? lesion[nearest] : 0;
      lung_px[size_t(y) * w + x] = l;
      if (l == 0) continue;
      if (s != 0 && !o.lesion_types_known) c.blend(x0 + x, y0 + y, kLesionColour, 0.5);
      else if (s == labels::kGroundGlass) c.blend(x0 + x, y0 + y, kGroundGlassColour, 0.45);
      else if (s == labels::kConsolidation) c.blend(x0 + x, y0 + y, kConsolidationColour, 0.55);
    }
  for (int y = 0; y < h; ++y)  // outlines: lung pixels with a 4-neighbour of another label
    for (int x = 0; x < w; ++x) {
      const uint8_t l = lung_px[size_t(y) * w + x];
      if (l != labels::kRightLung && l != labels::kLeftLung) continue;
      const bool edge = x == 0 || y == 0 || x == w - 1 || y == h - 1 || lung_px[size_t(y) * w + x - 1] != l ||
                        lung_px[size_t(y) * w + x + 1] != l || lung_px[size_t(y - 1) * w + x] != l ||
                        lung_px[size_t(y + 1) * w + x] != l;
      if (edge) c.set(x0 + x, y0 + y, l == labels::kRightLung ? kRightLungColour : kLeftLungColour);
    }
  draw_letters(c, x0, y0, w, h, axes);
  if (o.caption)
    c.text(8, 6, caption, {220, 220, 220}, 2);
  if (o.legend) draw_legend(c, y0 + h, o.lesion_types_known);
  return c;
}

}  // namespace pulmo::report_detail

namespace pulmo {

const char* plane_name(Plane plane) {
  switch (plane) {
    case Plane::Axial:    return "axial";
    case Plane::Coronal:  return "coronal";
    case Plane::Sagittal: return "sagittal";
  }
  return "?";
}

int slice_axis(const Geometry& geometry, Plane plane) { return report_detail::plane_axes(geometry, plane).normal; }

int64_t slice_count(const Geometry& geometry, Plane plane) { return geometry.size[slice_axis(geometry, plane)]; }

void write_overlay_png(const std::string& path, const Volume& ct, const Volume& lungs, const Volume& lesions,
                       Plane plane, int64_t slice_index, bool lesion_types_known) {
  report_detail::RenderOptions o;
  o.lesion_types_known = lesion_types_known;
  draw::write_png(report_detail::render_slice(ct, lungs, lesions, plane, slice_index, o), path);
}

std::vector<int64_t> write_overlay_montage(const std::string& path, const Volume& ct, const Volume& lungs,
                                           const Volume& lesions, Plane plane, int count, int columns,
                                           bool lesion_types_known) {
  if (count < 1 || columns < 1)
    throw Error(ExitCode::Usage, "overlay montage: the number of slices and of columns must be at least 1");
  report_detail::as_bytes(lungs, ct.geometry, "lung");  // the grid check, before anything is drawn
  const int axis = slice_axis(ct.geometry, plane);
  // The slices that hold a lung label (all slices when none does), `count` of them evenly spread.
  const std::vector<int64_t> counts = report_detail::label_counts_along(lungs, axis);
  int64_t first = 0, last = int64_t(counts.size()) - 1;
  while (first < last && counts[size_t(first)] == 0) ++first;
  while (last > first && counts[size_t(last)] == 0) --last;
  if (counts[size_t(first)] == 0) first = 0, last = int64_t(counts.size()) - 1;
  std::vector<int64_t> picked;
  for (int i = 0; i < count; ++i) {
    const int64_t k = count == 1 ? (first + last) / 2 : first + std::llround(double(i) * double(last - first) / (count - 1));
    if (picked.empty() || picked.back() != k) picked.push_back(k);
  }
  report_detail::RenderOptions o;
  o.target_px = 300;
  o.legend = false;
  o.lesion_types_known = lesion_types_known;
  std::vector<draw::Canvas> tiles;
  int tile_w = 0, tile_h = 0;
  for (const int64_t k : picked) {
    tiles.push_back(report_detail::render_slice(ct, lungs, lesions, plane, k, o));
    tile_w = std::max(tile_w, tiles.back().width());
    tile_h = std::max(tile_h, tiles.back().height());
  }
  const int cols = std::min<int>(columns, int(tiles.size()));
  const int rows = (int(tiles.size()) + cols - 1) / cols;
  constexpr int kLegendPx = 52;
  draw::Canvas m(std::max(cols * tile_w, report_detail::legend_width(lesion_types_known)), rows * tile_h + kLegendPx, {0, 0, 0});
  for (size_t t = 0; t < tiles.size(); ++t) {
    const int x0 = int(t % cols) * tile_w, y0 = int(t / cols) * tile_h;
    for (int y = 0; y < tiles[t].height(); ++y)
      for (int x = 0; x < tiles[t].width(); ++x) m.set(x0 + x, y0 + y, tiles[t].at(x, y));
  }
  report_detail::draw_legend(m, rows * tile_h, lesion_types_known);
  draw::write_png(m, path);
  return picked;
}

}  // namespace pulmo
