// Random transforms: crop, flip, rotation/scaling/elastic, intensity.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <random>

#include "pulmo/error.h"
#include "pulmo/transforms.h"

namespace pulmo {
namespace {

using Rng = std::mt19937_64;

double uniform(Rng& rng, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
bool chance(Rng& rng, double p) { return uniform(rng, 0.0, 1.0) < p; }

void require_image(const Sample& s) {
  if (!s.image.defined() || s.image.dim() != 3) throw Error(ExitCode::Mismatch, "sample image must be a [z,y,x] tensor");
  if (s.label.defined() && s.label.sizes() != s.image.sizes())
    throw Error(ExitCode::Mismatch, "sample label and image shapes differ");
  if (s.valid.defined() && s.valid.sizes() != s.image.sizes())
    throw Error(ExitCode::Mismatch, "sample valid mask and image shapes differ");
}

// The [start, start+size) window of t along (z,y,x), padded with `pad` outside t.
at::Tensor extract(const at::Tensor& t, const std::array<int64_t, 3>& start, const std::array<int64_t, 3>& size, double pad) {
  at::Tensor out = at::full({size[0], size[1], size[2]}, pad, t.options());
  std::array<int64_t, 3> src0{}, src1{}, dst0{};
  for (int d = 0; d < 3; ++d) {
    src0[d] = std::max<int64_t>(0, start[d]);
    src1[d] = std::min<int64_t>(t.size(d), start[d] + size[d]);
    dst0[d] = src0[d] - start[d];
    if (src1[d] <= src0[d]) return out;
  }
  out.slice(0, dst0[0], dst0[0] + src1[0] - src0[0])
      .slice(1, dst0[1], dst0[1] + src1[1] - src0[1])
      .slice(2, dst0[2], dst0[2] + src1[2] - src0[2])
      .copy_(t.slice(0, src0[0], src1[0]).slice(1, src0[1], src1[1]).slice(2, src0[2], src1[2]));
  return out;
}

class RandomCrop : public Transform {
 public:
  explicit RandomCrop(const CropOptions& o) : o_(o) {
    for (int64_t p : o.patch)
      if (p < 1) throw Error(ExitCode::BadConfig, "crop patch sizes must be positive");
  }
  std::string name() const override { return "RandomCrop"; }
  void apply(Sample& s, uint64_t seed) const override {
    require_image(s);
    Rng rng(seed);
    const std::array<int64_t, 3> patch{o_.patch[2], o_.patch[1], o_.patch[0]};  // (z,y,x)
    const bool on_foreground = chance(rng, o_.foreground_probability);
    std::array<int64_t, 3> start{};
    std::array<int64_t, 3> centre{-1, -1, -1};
    if (on_foreground) {
      if (!s.foreground.defined()) index_foreground(s);
      if (s.foreground.defined() && s.foreground.size(0) > 0) {
        const int64_t row = std::uniform_int_distribution<int64_t>(0, s.foreground.size(0) - 1)(rng);
        for (int d = 0; d < 3; ++d) centre[d] = s.foreground[row][d].item<int64_t>();
      }
    }
    for (int d = 0; d < 3; ++d) {
      const int64_t n = s.image.size(d), lo = std::min<int64_t>(0, n - patch[d]), hi = std::max<int64_t>(0, n - patch[d]);
      start[d] = centre[d] >= 0 ? std::clamp(centre[d] - patch[d] / 2, lo, hi)
                                : std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    }
    s.image = extract(s.image, start, patch, o_.pad_value);
    if (s.label.defined()) s.label = extract(s.label, start, patch, 0);
    if (s.valid.defined()) s.valid = extract(s.valid, start, patch, 0);
    s.foreground = at::Tensor();
  }

 private:
  CropOptions o_;
};

class RandomFlip : public Transform {
 public:
  explicit RandomFlip(const FlipOptions& o) : o_(o) {}
  std::string name() const override { return "RandomFlip"; }
  void apply(Sample& s, uint64_t seed) const override {
    require_image(s);
    Rng rng(seed);
    for (int axis = 0; axis < 3; ++axis) {  // x, y, z
      if (!chance(rng, o_.probability[axis])) continue;
      const int64_t dim = 2 - axis;
      s.image = s.image.flip({dim});
      if (s.valid.defined()) s.valid = s.valid.flip({dim});
      if (s.label.defined()) {
        s.label = s.label.flip({dim});
        if (axis == 0 && !o_.swap_labels.empty()) {
          const at::Tensor before = s.label.clone();
          for (const auto& [a, b] : o_.swap_labels) {
            s.label.masked_fill_(before == a, b);
            s.label.masked_fill_(before == b, a);
          }
        }
      }
    }
    s.foreground = at::Tensor();
  }

 private:
  FlipOptions o_;
};

// Row-major rotation about x, then y, then z, by angles in radians.
std::array<double, 9> rotation(double ax, double ay, double az) {
  const double cx = std::cos(ax), sx = std::sin(ax), cy = std::cos(ay), sy = std::sin(ay), cz = std::cos(az), sz = std::sin(az);
  // Rz * Ry * Rx
  return {cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx,
          sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx,
          -sy,     cy * sx,                cy * cx};
}

class RandomSpatial : public Transform {
 public:
  explicit RandomSpatial(const SpatialOptions& o) : o_(o) {
    if (!(o.scale_min > 0) || o.scale_max < o.scale_min) throw Error(ExitCode::BadConfig, "spatial: 0 < scale_min <= scale_max");
    if (o.elastic_grid < 2) throw Error(ExitCode::BadConfig, "spatial: elastic_grid must be >= 2");
  }
  std::string name() const override { return "RandomSpatial"; }
  void apply(Sample& s, uint64_t seed) const override {
    require_image(s);
    Rng rng(seed);
    const bool affine = chance(rng, o_.probability), elastic = chance(rng, o_.elastic_probability);
    const double deg = M_PI / 180.0;
    const bool flat = s.image.size(0) == 1;  // a single slice rotates only in-plane
    const double ax = uniform(rng, -o_.rotate_degrees[0], o_.rotate_degrees[0]) * deg;
    const double ay = uniform(rng, -o_.rotate_degrees[1], o_.rotate_degrees[1]) * deg;
    const double az = uniform(rng, -o_.rotate_degrees[2], o_.rotate_degrees[2]) * deg;
    const double scale = uniform(rng, o_.scale_min, o_.scale_max);
    const uint64_t field_seed = rng();
    if (!affine && !elastic) return;
    const int64_t Z = s.image.size(0), Y = s.image.size(1), X = s.image.size(2);
    const at::Tensor extent = at::tensor({std::max(1e-6, (X - 1) / 2.0 * s.spacing_mm[0]), std::max(1e-6, (Y - 1) / 2.0 * s.spacing_mm[1]),
                                          std::max(1e-6, (Z - 1) / 2.0 * s.spacing_mm[2])}, at::kDouble);
    auto lin = [](int64_t n) { return n > 1 ? at::linspace(-1, 1, n, at::kDouble) : at::zeros({1}, at::kDouble); };
    const auto mesh = at::meshgrid({lin(Z), lin(Y), lin(X)}, "ij");           // 3 x [Z,Y,X]
    at::Tensor pts = at::stack({mesh[2], mesh[1], mesh[0]}, -1) * extent;        // [Z,Y,X,3] mm, (x,y,z)
    if (affine) {
      const auto r = flat ? rotation(0, 0, az) : rotation(ax, ay, az);
      at::Tensor m = at::tensor(std::vector<double>(r.begin(), r.end()), at::kDouble).view({3, 3}) / scale;
      pts = at::matmul(pts, m.t());                                             // [Z,Y,X,3]
    }
    if (elastic) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(field_seed);
      const int64_t g = o_.elastic_grid;
      at::Tensor field = (at::rand({1, 3, flat ? 1 : g, g, g}, gen, at::kDouble) * 2 - 1) * o_.elastic_mm;  // [1,3,g,g,g]
      if (flat) field.select(1, 2).zero_();
      field = at::upsample_trilinear3d(field, {Z, Y, X}, /*align_corners=*/true);    // [1,3,Z,Y,X]
      pts = pts + field[0].permute({1, 2, 3, 0});                                       // [Z,Y,X,3]
    }
    const at::Tensor grid = (pts / extent).to(at::kFloat).unsqueeze(0);              // [1,Z,Y,X,3] normalised
    auto sample = [&](const at::Tensor& t, bool nearest, bool border) {
      at::Tensor in = t.to(at::kFloat).unsqueeze(0).unsqueeze(0);                     // [1,1,Z,Y,X]
      return at::grid_sampler(in, grid, nearest ? 1 : 0, border ? 1 : 0, /*align_corners=*/true)[0][0];
    };
    s.image = sample(s.image, false, true);
    if (s.label.defined()) s.label = sample(s.label, true, false).round().to(s.label.scalar_type());
    if (s.valid.defined()) s.valid = sample(s.valid, true, false).round().to(s.valid.scalar_type());
    s.foreground = at::Tensor();
  }

 private:
  SpatialOptions o_;
};

// Separable Gaussian blur of [z,y,x] with sigma in voxels (edges replicated).
at::Tensor gaussian_blur(const at::Tensor& x, double sigma) {
  const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
  at::Tensor k = at::arange(-radius, radius + 1, at::kFloat);
  k = at::exp(-(k * k) / (2 * sigma * sigma));
  k = k / k.sum();
  at::Tensor y = x.unsqueeze(0).unsqueeze(0);  // [1,1,Z,Y,X]
  for (int d = 0; d < 3; ++d) {
    if (y.size(2 + d) == 1) continue;
    std::vector<int64_t> shape{1, 1, 1, 1, 1}, pad{0, 0, 0, 0, 0, 0};
    shape[2 + d] = k.numel();
    pad[2 * (2 - d)] = pad[2 * (2 - d) + 1] = radius;  // (x_l, x_r, y_l, y_r, z_l, z_r)
    const int64_t n = y.size(2 + d);
    if (n <= radius) continue;
    y = at::conv3d(at::replication_pad3d(y, pad), k.view(shape));
  }
  return y[0][0];
}

class RandomIntensity : public Transform {
 public:
  explicit RandomIntensity(const IntensityAugmentOptions& o) : o_(o) {}
  std::string name() const override { return "RandomIntensity"; }
  void apply(Sample& s, uint64_t seed) const override {
    require_image(s);
    Rng rng(seed);
    // Every draw happens whatever the outcome, so later transforms see the same stream.
    const bool do_shift = chance(rng, o_.shift_probability), do_scale = chance(rng, o_.scale_probability);
    const bool do_gamma = chance(rng, o_.gamma_probability), do_noise = chance(rng, o_.noise_probability);
    const bool do_blur = chance(rng, o_.blur_probability), do_lowres = chance(rng, o_.lowres_probability);
    const double shift = uniform(rng, -o_.shift, o_.shift), scale = uniform(rng, 1 - o_.scale, 1 + o_.scale);
    const double gamma = uniform(rng, o_.gamma_min, o_.gamma_max), noise = uniform(rng, 0, o_.noise_std);
    const double sigma = uniform(rng, o_.blur_sigma_min, o_.blur_sigma_max);
    const double zoom = uniform(rng, o_.lowres_zoom_min, o_.lowres_zoom_max);
    const uint64_t noise_seed = rng();
    at::Tensor x = s.image.to(at::kFloat);
    if (do_lowres) {
      std::vector<int64_t> small, full(x.sizes().begin(), x.sizes().end());
      for (int64_t n : full) small.push_back(std::max<int64_t>(1, std::llround(n * zoom)));
      at::Tensor t = at::upsample_nearest3d(x.unsqueeze(0).unsqueeze(0), small);
      x = at::upsample_trilinear3d(t, full, /*align_corners=*/false)[0][0];
    }
    if (do_blur) x = gaussian_blur(x, sigma);
    if (do_noise) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(noise_seed);
      x = x + at::randn(x.sizes(), gen, at::kFloat) * noise;
    }
    if (do_gamma) {
      const double lo = x.min().item<double>(), hi = x.max().item<double>();
      if (hi > lo) x = at::pow((x - lo) / (hi - lo), gamma) * (hi - lo) + lo;
    }
    if (do_scale) x = x * scale;
    if (do_shift) x = x + shift;
    s.image = x.contiguous();
  }

 private:
  IntensityAugmentOptions o_;
};

}  // namespace

std::shared_ptr<const Transform> random_crop(const CropOptions& o) { return std::make_shared<RandomCrop>(o); }
std::shared_ptr<const Transform> random_flip(const FlipOptions& o) { return std::make_shared<RandomFlip>(o); }
std::shared_ptr<const Transform> random_spatial(const SpatialOptions& o) { return std::make_shared<RandomSpatial>(o); }
std::shared_ptr<const Transform> random_intensity(const IntensityAugmentOptions& o) {
  return std::make_shared<RandomIntensity>(o);
}

}  // namespace pulmo
