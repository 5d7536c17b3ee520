#include "synth/anatomy.h"

#include <algorithm>
#include <cmath>

#include "pulmo/labels.h"

namespace pulmo::synth {

namespace {

double sq(double x) { return x * x; }

// Distance from (u, v, w) to the segment a-b, in normalised units with w scaled by `ws`.
double segment_distance(double u, double v, double w, const double a[3], const double b[3], double ws) {
  const double d[3] = {b[0] - a[0], b[1] - a[1], (b[2] - a[2]) * ws};
  const double p[3] = {u - a[0], v - a[1], (w - a[2]) * ws};
  const double len2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  const double t = len2 > 0 ? std::clamp((p[0] * d[0] + p[1] * d[1] + p[2] * d[2]) / len2, 0.0, 1.0) : 0.0;
  return std::sqrt(sq(p[0] - t * d[0]) + sq(p[1] - t * d[1]) + sq(p[2] - t * d[2]));
}

// Lung membership: periph in [0, 1] when inside, < 0 outside.
double lung_periph(const LungShape& l, double u, double v, double w, double body_e) {
  if (w > l.apex || body_e > 0.79) return -1;  // inside the ribcage only
  const double r2 = sq((u - l.cu) / l.au) + sq((v - l.cv) / l.av);
  const double mid = 0.55;
  const double t = w > mid ? (w - mid) / (l.apex - mid) : 0.0;
  const double s = std::sqrt(std::max(0.0, 1.0 - t * t));
  if (r2 >= s * s) return -1;
  if (w < l.base + l.dome * std::max(0.0, 1.0 - r2)) return -1;  // below the diaphragm dome
  return std::max(std::sqrt(r2) / std::max(s, 1e-6), body_e / 0.79);
}

}  // namespace

Anatomy random_anatomy(Rng& rng) {
  Anatomy a;
  a.body_a = rng.uniform(0.86, 0.93);
  a.body_b = rng.uniform(0.72, 0.80);
  a.body_v0 = -0.05;
  const double lv = rng.uniform(-0.02, 0.04);
  a.lung[0] = {-0.37 + rng.uniform(-0.02, 0.02), lv, rng.uniform(0.31, 0.34), rng.uniform(0.47, 0.52),
               rng.uniform(0.10, 0.14), rng.uniform(0.18, 0.24), rng.uniform(0.95, 0.99)};
  a.lung[1] = {0.39 + rng.uniform(-0.02, 0.02), lv, rng.uniform(0.28, 0.30), rng.uniform(0.46, 0.50),
               rng.uniform(0.06, 0.10), rng.uniform(0.14, 0.20), rng.uniform(0.94, 0.98)};
  a.heart_u = rng.uniform(0.06, 0.12);
  a.heart_v = rng.uniform(-0.24, -0.16);
  a.heart_w = rng.uniform(0.28, 0.34);
  a.heart_au = rng.uniform(0.28, 0.32);
  a.heart_av = rng.uniform(0.26, 0.30);
  a.heart_aw = rng.uniform(0.20, 0.24);
  a.rib_period = rng.uniform(0.080, 0.095);
  a.rib_phase = rng.uniform(0.0, 1.0);
  a.carina_w = rng.uniform(0.64, 0.70);
  return a;
}

void hilum(const Anatomy& a, int side, double* u, double* v, double* w) {
  *u = side == 0 ? -0.22 : 0.23;
  *v = 0.0;
  *w = a.carina_w - (side == 0 ? 0.09 : 0.11);
}

Tissue tissue_at(const Anatomy& a, double u, double v, double w) {
  const double body_e = std::sqrt(sq(u / a.body_a) + sq((v - a.body_v0) / a.body_b));
  if (body_e > 1.0) return {-1000.0f, 0};
  // Airways: trachea above the carina, main bronchi to the hila (lumen air, thin wall).
  const double carina[3] = {0.0, -0.05, a.carina_w};
  const double top[3] = {0.0, -0.05, 3.0};
  double airway = 2.0;  // in lumen radii; only computed near the airways (the costly part of this function)
  if (std::fabs(u) < 0.12 && std::fabs(v + 0.05) < 0.12 && w > a.carina_w - 0.1) airway = segment_distance(u, v, w, carina, top, 1.0) / 0.065;
  if (std::fabs(u) < 0.32 && std::fabs(v) < 0.2 && std::fabs(w - a.carina_w) < 0.25) {
    for (int side = 0; side < 2; ++side) {
      double h[3];
      hilum(a, side, &h[0], &h[1], &h[2]);
      airway = std::min(airway, segment_distance(u, v, w, carina, h, 1.0) / 0.045);
    }
  }
  if (airway < 1.0) return {-1000.0f, 0};
  if (airway < 1.3) return {25.0f, 0};
  // Spine: vertebral body (cancellous bone, cortex, discs), canal, posterior arch, spinous process.
  const double vb = std::sqrt(sq(u / 0.11) + sq((v - 0.38) / 0.10));
  const bool disc = std::fmod(w / 0.09 + 10.0, 1.0) < 0.16;
  if (vb < 1.0) return {disc ? 85.0f : (vb > 0.8 ? 750.0f : 260.0f), 0};
  const double canal = std::sqrt(sq(u) + sq(v - 0.53)) / 0.04;
  if (canal < 1.0) return {15.0f, 0};
  if (!disc && ((canal < 1.8 && v > 0.49) || (std::fabs(u) < 0.025 && v > 0.53 && v < 0.64))) return {650.0f, 0};
  // Aorta (ascending, arch, descending) and heart with its fat.
  const double asc0[3] = {0.04, -0.12, a.heart_w}, asc1[3] = {0.04, -0.12, 0.76};
  const double desc0[3] = {0.12, 0.25, -0.2}, desc1[3] = {0.12, 0.25, 0.76};
  double aorta = 2.0;
  if (std::fabs(u - 0.08) < 0.2 && v > -0.3 && v < 0.4 && w > -0.3 && w < 0.9)
    aorta = std::min({segment_distance(u, v, w, asc0, asc1, 1.0) / 0.07, segment_distance(u, v, w, asc1, desc1, 1.0) / 0.06,
                      segment_distance(u, v, w, desc0, desc1, 1.0) / 0.06});
  if (aorta < 1.0) return {42.0f, 0};
  const double heart = std::sqrt(sq((u - a.heart_u) / a.heart_au) + sq((v - a.heart_v) / a.heart_av) +
                                 sq((w - a.heart_w) / a.heart_aw));
  if (heart < 1.0) return {heart > 0.93 ? 20.0f : 40.0f, 0};
  // Lungs (inside the ribcage, outside heart and mediastinum).
  const bool mediastinum = std::fabs(u - 0.02) < 0.11 && v < 0.32 && v > -0.72;
  if (!mediastinum && heart > 1.08 && aorta > 1.25) {
    for (int side = 0; side < 2; ++side) {
      const double p = lung_periph(a.lung[side], u, v, w, body_e);
      if (p >= 0) return {-860.0f, side == 0 ? labels::kRightLung : labels::kLeftLung, p};
    }
  }
  // Sternum and ribs.
  if (std::fabs(u) < 0.08 && std::fabs(v + 0.74) < 0.035 && w > 0.2) return {450.0f, 0};
  if (body_e > 0.80 && body_e < 0.86 && !(v < -0.1 && std::fabs(u) < 0.2)) {
    const double q = w / a.rib_period + 2.6 * (0.5 - 0.5 * v) + a.rib_phase;  // ribs fall anteriorly
    const double f = std::fmod(q + 100.0, 1.0);
    if (f < 0.34) {
      const double edge = std::fabs(body_e - 0.83) / 0.03;
      return {static_cast<float>(320.0 + 480.0 * edge * edge), 0};
    }
  }
  if (heart < 1.08) return {-95.0f, 0};   // pericardial fat
  if (body_e > 0.91) return {-105.0f, 0};  // subcutaneous fat
  if (body_e > 0.79) return {48.0f, 0};    // chest-wall muscle
  // Below the lungs: liver on the right, stomach and spleen on the left.
  const bool abdomen = w < 0.35 && v < 0.3;
  if (abdomen && u < 0.15) return {58.0f, 0};
  if (mediastinum) return {30.0f, 0};
  return {abdomen ? 38.0f : -60.0f, 0};  // remaining tissue: abdomen, or fat-rich mediastinum
}

}  // namespace pulmo::synth
