// Internal to src/synth: the analytic chest of a phantom, in normalised coordinates
//   u in [-1, 1] right -> left (LPS +x), v in [-1, 1] anterior -> posterior (+y), w in [0, 1] inferior -> superior,
// so the thorax fills the field of view whatever the voxel size.
#pragma once

#include <cstdint>

#include "synth/random.h"

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
