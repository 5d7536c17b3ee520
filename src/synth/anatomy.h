// Internal to src/synth: the analytic chest of a phantom, in normalised coordinates
//   u in [-1, 1] right -> left (LPS +x), v in [-1, 1] anterior -> posterior (+y), w in [0, 1] inferior -> superior,
// The body fills the in-plane field of view; the cranio-caudal axis keeps real proportions
// (w spans kHeightPerWidth times the in-plane width), with the lungs centred in the slices.
#pragma once

#include <cstdint>

#include "synth/noise.h"

namespace pulmo::synth {

struct LungShape {
  double cu, cv, au, av;  // in-plane ellipse: centre and semi-axes
  double base, dome;      // diaphragm: lowest w at the periphery, dome height at the centre
  double apex;            // w of the apex
};

struct Anatomy {
  double body_a, body_b, body_v0;  // body ellipse semi-axes (u, v) and centre v
  LungShape lung[2];               // [0] right, [1] left
  double heart_u, heart_v, heart_w, heart_au, heart_av, heart_aw;
  double rib_period, rib_phase;
  double carina_w;
};

Anatomy random_anatomy(Rng& rng);

// Lungs are about 0.75 times as tall as the chest is wide; w = 0..1 covers them with a margin.
constexpr double kHeightPerWidth = 0.72;

// Normalised coordinates <-> millimetres from the volume corner (voxel (i, j, k) centre at ((i + 0.5) * s, ...)).
struct Frame {
  double extent_mm[3];
  double w_span_mm = 0;  // millimetres of w = 0..1; 0 = real proportions (kHeightPerWidth x width)
  double height_mm() const { return w_span_mm > 0 ? w_span_mm : kHeightPerWidth * extent_mm[0]; }
  double u_to_mm(double u) const { return (u + 1.0) * 0.5 * extent_mm[0]; }
  double v_to_mm(double v) const { return (v + 1.0) * 0.5 * extent_mm[1]; }
  double w_to_mm(double w) const { return (w - 0.5) * height_mm() + 0.5 * extent_mm[2]; }
  double w_of_mm(double z_mm) const { return 0.5 + (z_mm - 0.5 * extent_mm[2]) / height_mm(); }
};

// What lies at a point: the nominal HU (no texture, no noise) and the lung label.
struct Tissue {
  float hu;
  uint8_t lung;            // 0, 1 right, 2 left
  double periph = 0;       // lungs only: 0 at the centre .. 1 at the pleura
};
Tissue tissue_at(const Anatomy& a, double u, double v, double w);

// The main bronchi and pulmonary-artery roots: hilum position of each lung (normalised).
void hilum(const Anatomy& a, int side, double* u, double* v, double* w);

}  // namespace pulmo::synth
