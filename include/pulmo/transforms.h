// Preprocessing and augmentation of training samples (MONAI-style pipeline of small transforms).
//
// A Sample holds an image and the masks that must stay aligned with it. Every random draw of a
// transform happens once per sample and is applied to the image and every mask alike, so they
// never drift apart. A transform is a pure function of (sample, seed): the same seed always gives
// the same result; Compose seeds its children from one seed. A failure names the transform.
//
// Tensors here are [z, y, x] (no batch, no channel); spacing is (x, y, z) mm as in geometry.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pulmo/geometry.h"
#include "pulmo/volume.h"

namespace pulmo {

struct Sample {
  at::Tensor image;       // [z,y,x] float, normalised intensities
  at::Tensor label;       // [z,y,x] uint8 class map (may be undefined)
  at::Tensor valid;       // [z,y,x] bool: false = ignored by the loss (may be undefined)
  at::Tensor foreground;  // [N,3] int64 (z,y,x) sample of label > 0 voxels for crops (see index_foreground)
  Vec3 spacing_mm{1, 1, 1};
  std::string id;
};

// Stores up to `max_points` foreground voxel positions (label > 0), evenly spread, for fast crops.
void index_foreground(Sample& sample, int64_t max_points = 20000);

// ---- preprocessing (deterministic) ----------------------------------------------------------

enum class Normalisation : int {
  Window01,  // "window01": [hu_min, hu_max] -> [0, 1]
  ZScore,    // "zscore": (x - mean) / std
};

struct IntensityOptions {
  double hu_min = -1024, hu_max = 600;  // clip window
  Normalisation normalisation = Normalisation::Window01;
  double mean = 0, std = 1;             // zscore
};
// Clips and normalises HU (returns float).
at::Tensor normalise_intensity(const at::Tensor& hu, const IntensityOptions& o);

// Resamples to `spacing_mm` (x, y, z), keeping the physical field of view: linear for images,
// nearest neighbour for label maps (label = true). The new geometry keeps the first voxel's outer
// corner in place. Spacing <= 0 on an axis keeps that axis.
Volume resample_to_spacing(const Volume& volume, const Vec3& spacing_mm, bool label);

// The input of a segmentation network: `hu` stored in LPS axis order (axes permuted and flipped, no interpolation),
// resampled to `spacing_mm` (resample_to_spacing, linear), clipped and normalised (float voxels, the new geometry).
// Training and inference both prepare images here; label maps for training go through prepare_labels.
Volume prepare_image(const Volume& hu, const Vec3& spacing_mm, const IntensityOptions& o);
Volume prepare_hu(const Volume& hu, const Vec3& spacing_mm);  // the same without clipping and normalisation
Volume prepare_labels(const Volume& labels, const Vec3& spacing_mm);

// The input of a lung-box network: the HU image [z, y, x] resampled to `input_size` (x, y, z) voxels with the
// outer edges of the first and last voxels kept (linear, align_corners = false), then clipped and normalised.
// Training and inference both build it here. Returns float [gz, gy, gx].
at::Tensor box_network_input(const at::Tensor& hu, const std::array<int64_t, 3>& input_size, const IntensityOptions& o);

// The bounding box of the non-zero voxels of `mask` [z, y, x] in the "grid_fraction" frame of model.h:
// (x0, y0, z0, x1, y1, z1), x0 = first voxel / nx, x1 = (last voxel + 1) / nx. All zero for an empty mask.
std::array<double, 6> mask_box_fractions(const at::Tensor& mask);

// ---- transforms -------------------------------------------------------------------------------

class Transform {
 public:
  virtual ~Transform() = default;
  virtual std::string name() const = 0;
  virtual void apply(Sample& sample, uint64_t seed) const = 0;
};

// Applies its children in order; child i gets its own seed, a pure function of (seed, i) (SplitMix64). Errors are
// rethrown naming the child.
class Compose : public Transform {
 public:
  void add(std::shared_ptr<const Transform> t) { children_.push_back(std::move(t)); }
  std::string name() const override { return "Compose"; }
  void apply(Sample& sample, uint64_t seed) const override;
  size_t size() const { return children_.size(); }

 private:
  std::vector<std::shared_ptr<const Transform>> children_;
};

// A patch of `patch` (x, y, z) voxels; with probability foreground_probability centred on a random
// foreground voxel, otherwise anywhere. Pads (image with pad_value, masks with 0/false) when smaller.
struct CropOptions {
  std::array<int64_t, 3> patch{96, 96, 96};
  double foreground_probability = 0.33;
  double pad_value = 0.0;
};
std::shared_ptr<const Transform> random_crop(const CropOptions& o);

// Mirrors each axis with probability p[axis] (x, y, z). Mirroring x (left-right) swaps the label
// pairs in swap_labels (e.g. {1,2}: right and left lung).
struct FlipOptions {
  std::array<double, 3> probability{0.5, 0.0, 0.0};
  std::vector<std::pair<int, int>> swap_labels{{1, 2}};
};
std::shared_ptr<const Transform> random_flip(const FlipOptions& o);

// Rotation, scaling and elastic deformation in millimetres, one resampling of image (linear, edge
// values outside) and masks (nearest, background outside).
struct SpatialOptions {
  double probability = 0.2;
  std::array<double, 3> rotate_degrees{15, 15, 15};  // uniform in +-value about the x, y, z axes
  double scale_min = 0.85, scale_max = 1.15;          // isotropic zoom
  double elastic_probability = 0.0;                   // chance of an elastic deformation
  double elastic_mm = 4.0;                            // largest control-point displacement
  int elastic_grid = 4;                               // control points per axis (smooth field)
};
std::shared_ptr<const Transform> random_spatial(const SpatialOptions& o);

// Intensity augmentations (image only).
struct IntensityAugmentOptions {
  double shift_probability = 0.15, shift = 0.1;          // x + U(-shift, shift)
  double scale_probability = 0.15, scale = 0.1;          // x * U(1-scale, 1+scale)
  double gamma_probability = 0.15;                       // gamma on the [min,max]-rescaled image
  double gamma_min = 0.7, gamma_max = 1.5;
  double noise_probability = 0.1, noise_std = 0.05;      // Gaussian noise, std U(0, noise_std)
  double blur_probability = 0.1;                         // Gaussian blur, sigma U(min,max) voxels
  double blur_sigma_min = 0.5, blur_sigma_max = 1.0;
  double lowres_probability = 0.1;                       // down by U(min,max), back up (linear)
  double lowres_zoom_min = 0.5, lowres_zoom_max = 1.0;
};
std::shared_ptr<const Transform> random_intensity(const IntensityAugmentOptions& o);

}  // namespace pulmo
