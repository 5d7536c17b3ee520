#include "synth/raster.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "pulmo/labels.h"

namespace pulmo::synth {

namespace {

struct Segment {
  double a[3], b[3];  // mm from the volume corner
  double radius_mm;
  bool trunk;         // drawn in soft tissue outside the lungs too
};

struct Grid {
  Frame f;
  double s[3];
  int64_t n[3];
  double extent(int axis) const { return f.extent_mm[axis]; }
  void to_mm(double u, double v, double w, double out[3]) const {
    out[0] = f.u_to_mm(u);
    out[1] = f.v_to_mm(v);
    out[2] = f.w_to_mm(w);
  }
};

void normalize(double d[3]) {
  const double len = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
  for (int a = 0; a < 3; ++a) d[a] /= len > 0 ? len : 1.0;
}

// A direction at `angle` from `d`, turned about a random axis perpendicular to it.
void deflect(const double d[3], double angle, Rng& rng, double out[3]) {
  double r[3] = {rng.normal(), rng.normal(), rng.normal()};
  const double dot = r[0] * d[0] + r[1] * d[1] + r[2] * d[2];
  for (int a = 0; a < 3; ++a) r[a] -= dot * d[a];
  normalize(r);
  for (int a = 0; a < 3; ++a) out[a] = std::cos(angle) * d[a] + std::sin(angle) * r[a];
}

// A vessel segment and, while it ends inside its lung, two thinner children.
struct Tree {
  const Anatomy& anatomy;
  const Frame& frame;
  int label;  // lung label the tree grows in
  double min_radius;
  bool inside(const double p[3]) const {
    const double u = p[0] / frame.extent_mm[0] * 2.0 - 1.0, v = p[1] / frame.extent_mm[1] * 2.0 - 1.0;
    return tissue_at(anatomy, u, v, frame.w_of_mm(p[2])).lung == label;
  }
};

void branch(const Tree& tree, const double start[3], const double dir[3], double length, double radius, int depth, Rng& rng,
            std::vector<Segment>* out) {
  Segment s{};
  for (int a = 0; a < 3; ++a) s.a[a] = start[a], s.b[a] = start[a] + dir[a] * length;
  s.radius_mm = radius;
  out->push_back(s);
  const double angle[2] = {rng.uniform(0.3, 0.65), rng.uniform(0.3, 0.65)};
  const double scale[2][2] = {{rng.uniform(0.62, 0.82), rng.uniform(0.66, 0.78)}, {rng.uniform(0.62, 0.82), rng.uniform(0.66, 0.78)}};
  if (depth >= 7 || radius * 0.72 < tree.min_radius || (depth > 0 && !tree.inside(s.b))) return;
  for (int c = 0; c < 2; ++c) {
    double d[3];
    deflect(dir, angle[c], rng, d);
    branch(tree, s.b, d, length * scale[c][0], radius * scale[c][1], depth + 1, rng, out);
  }
}

std::vector<Segment> vessel_tree(const Anatomy& an, const Grid& g, Rng& rng) {
  std::vector<Segment> segs;
  const double min_radius = 0.35 * std::min(g.s[0], g.s[1]);
  const double root_radius = std::max(0.014 * g.extent(0), 2.0 * min_radius);
  double heart[3];
  g.to_mm(an.heart_u - 0.05, an.heart_v + 0.05, an.heart_w + 0.6 * an.heart_aw, heart);
  for (int side = 0; side < 2; ++side) {
    const LungShape& l = an.lung[side];
    double h[3], hu, hv, hw;
    hilum(an, side, &hu, &hv, &hw);
    g.to_mm(hu, hv + 0.06, hw - 0.02, h);
    segs.push_back({{heart[0], heart[1], heart[2]}, {h[0], h[1], h[2]}, root_radius * 1.3, true});
    const double mid = 0.5 * (l.base + l.dome + l.apex);
    std::vector<std::array<double, 3>> targets = {{l.cu, l.cv, l.apex - 0.05},
                                                  {l.cu + (side == 0 ? -0.8 : 0.8) * l.au, l.cv, mid},
                                                  {l.cu, l.cv + 0.6 * l.av, l.base + 0.6 * l.dome},
                                                  {l.cu, l.cv - 0.6 * l.av, l.base + 0.7 * l.dome},
                                                  {l.cu, l.cv - 0.5 * l.av, 0.5 * (mid + l.apex)}};
    for (int extra = 0; extra < 4; ++extra)
      targets.push_back({l.cu + 0.7 * l.au * rng.uniform(-1, 1), l.cv + 0.7 * l.av * rng.uniform(-1, 1),
                         rng.uniform(l.base + l.dome, l.apex - 0.1)});
    for (const auto& t : targets) {
      double tm[3], d[3];
      g.to_mm(t[0], t[1], t[2], tm);
      for (int a = 0; a < 3; ++a) d[a] = tm[a] - h[a];
      const double dist = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
      normalize(d);
      branch(Tree{an, g.f, side + 1, min_radius}, h, d, 0.34 * dist, root_radius, 0, rng, &segs);
    }
  }
  return segs;
}

void draw_segment(const Segment& s, const Grid& g, float* ct, const uint8_t* lungs, const uint8_t* lesions) {
  int64_t lo[3], hi[3];
  const double pad = s.radius_mm + std::max({g.s[0], g.s[1], g.s[2]});
  for (int a = 0; a < 3; ++a) {
    lo[a] = std::max<int64_t>(0, static_cast<int64_t>(std::floor((std::min(s.a[a], s.b[a]) - pad) / g.s[a])));
    hi[a] = std::min<int64_t>(g.n[a] - 1, static_cast<int64_t>(std::ceil((std::max(s.a[a], s.b[a]) + pad) / g.s[a])));
  }
  const double d[3] = {s.b[0] - s.a[0], s.b[1] - s.a[1], s.b[2] - s.a[2]};
  const double len2 = std::max(d[0] * d[0] + d[1] * d[1] + d[2] * d[2], 1e-12);
  const double soft = std::min(g.s[0], g.s[1]);
#pragma omp parallel for schedule(static) if ((hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]) > 20000)
  for (int64_t k = lo[2]; k <= hi[2]; ++k)
    for (int64_t j = lo[1]; j <= hi[1]; ++j)
      for (int64_t i = lo[0]; i <= hi[0]; ++i) {
        const double p[3] = {(i + 0.5) * g.s[0] - s.a[0], (j + 0.5) * g.s[1] - s.a[1], (k + 0.5) * g.s[2] - s.a[2]};
        const double t = std::clamp((p[0] * d[0] + p[1] * d[1] + p[2] * d[2]) / len2, 0.0, 1.0);
        const double e[3] = {p[0] - t * d[0], p[1] - t * d[1], p[2] - t * d[2]};
        const double dist = std::sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]);
        const double weight = std::clamp((s.radius_mm - dist) / soft + 0.5, 0.0, 1.0);
        if (weight <= 0) continue;
        const int64_t idx = (k * g.n[1] + j) * g.n[0] + i;
        const bool ok = lungs[idx] ? lesions[idx] != labels::kConsolidation : (s.trunk && ct[idx] > -200 && ct[idx] < 100);
        if (ok && ct[idx] < 40.0f) ct[idx] += static_cast<float>(weight) * (40.0f - ct[idx]);
      }
}

}  // namespace

void draw_vessels(const Anatomy& anatomy, const Frame& frame, const double spacing_mm[3], const int64_t size[3],
                  uint64_t seed, float* ct, const uint8_t* lungs, const uint8_t* lesions) {
  Grid g{};
  g.f = frame;
  for (int a = 0; a < 3; ++a) g.s[a] = spacing_mm[a], g.n[a] = size[a];
  Rng rng(seed);
  for (const Segment& s : vessel_tree(anatomy, g, rng)) draw_segment(s, g, ct, lungs, lesions);
}

void blur_in_plane(float* ct, const int64_t size[3]) {
  const int64_t nx = size[0], ny = size[1], nz = size[2];
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < nz; ++k) {
    std::vector<float> line(static_cast<size_t>(std::max(nx, ny)));
    float* slice = ct + k * nx * ny;
    for (int64_t j = 0; j < ny; ++j) {
      float* row = slice + j * nx;
      std::copy(row, row + nx, line.begin());
      for (int64_t i = 1; i + 1 < nx; ++i) row[i] = 0.25f * line[i - 1] + 0.5f * line[i] + 0.25f * line[i + 1];
    }
    for (int64_t i = 0; i < nx; ++i) {
      for (int64_t j = 0; j < ny; ++j) line[j] = slice[j * nx + i];
      for (int64_t j = 1; j + 1 < ny; ++j) slice[j * nx + i] = 0.25f * line[j - 1] + 0.5f * line[j] + 0.25f * line[j + 1];
    }
  }
}

}  // namespace pulmo::synth
