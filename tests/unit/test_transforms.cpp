// Transforms keep image and masks aligned, and are seeded.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "pulmo/error.h"
#include "pulmo/loader.h"
#include "pulmo/transforms.h"

using namespace pulmo;

namespace {

// A sample whose image encodes its label: image = 100 * label (+ a gradient on background-free voxels
// would break this; keep it exact). Labels: a right "lung" box (1) and a left one (2).
Sample boxes_sample() {
  Sample s;
  at::Tensor label = at::zeros({16, 24, 32}, at::kByte);
  label.slice(0, 4, 12).slice(1, 6, 18).slice(2, 4, 12).fill_(1);
  label.slice(0, 4, 12).slice(1, 6, 18).slice(2, 18, 28).fill_(2);
  s.label = label;
  s.image = label.to(at::kFloat) * 100.0;
  s.valid = at::ones({16, 24, 32}, at::kBool);
  s.spacing_mm = {1.0, 1.0, 2.0};
  return s;
}

// Fraction of voxels where the label read back from the image agrees with the label.
double agreement(const Sample& s) {
  const at::Tensor from_image = (s.image / 100.0).round().clamp(0, 2).to(at::kByte);
  return (from_image == s.label).to(at::kFloat).mean().item<double>();
}

double centroid_x(const at::Tensor& mask) {
  const at::Tensor idx = at::nonzero(mask).to(at::kDouble);
  return idx.select(1, 2).mean().item<double>();
}

// Centroid (z,y,x) of a non-negative weight map.
std::array<double, 3> centroid(const at::Tensor& w) {
  const at::Tensor f = w.to(at::kDouble);
  const double total = f.sum().item<double>();
  std::array<double, 3> c{};
  for (int d = 0; d < 3; ++d) {
    std::vector<int64_t> shape{1, 1, 1};
    shape[d] = f.size(d);
    c[d] = (f * at::arange(f.size(d), at::kDouble).view(shape)).sum().item<double>() / total;
  }
  return c;
}

bool same(const Sample& a, const Sample& b) {
  return at::equal(a.image, b.image) && at::equal(a.label, b.label) && at::equal(a.valid, b.valid);
}

}  // namespace

TEST(Transforms, ACropCutsTheSameWindowFromImageAndMasks) {
  CropOptions o;
  o.patch = {8, 8, 8};
  o.foreground_probability = 0.5;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sample s = boxes_sample();
    random_crop(o)->apply(s, seed);
    ASSERT_EQ(s.image.sizes(), (at::IntArrayRef{8, 8, 8}));
    EXPECT_EQ(agreement(s), 1.0) << "seed " << seed;
  }
}

TEST(Transforms, ACropLargerThanTheImagePadsImageAndMasksAlike) {
  CropOptions o;
  o.patch = {40, 24, 20};  // x larger than 32, z larger than 16
  o.pad_value = 0;
  Sample s = boxes_sample();
  random_crop(o)->apply(s, 3);
  ASSERT_EQ(s.image.sizes(), (at::IntArrayRef{20, 24, 40}));
  EXPECT_EQ(agreement(s), 1.0);
  EXPECT_EQ(s.label.eq(1).sum().item<int64_t>(), boxes_sample().label.eq(1).sum().item<int64_t>());
}

TEST(Transforms, ForegroundOversamplingAlwaysCentresOnForegroundWhenItsProbabilityIsOne) {
  CropOptions o;
  o.patch = {4, 4, 4};
  o.foreground_probability = 1.0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sample s = boxes_sample();
    random_crop(o)->apply(s, seed);
    EXPECT_GT(s.label.gt(0).sum().item<int64_t>(), 0) << "seed " << seed;
  }
}

TEST(Transforms, ALeftRightFlipSwapsTheLeftAndRightLungLabels) {
  FlipOptions o;
  o.probability = {1.0, 0.0, 0.0};
  Sample s = boxes_sample();
  const double right_before = centroid_x(s.label == 1);
  random_flip(o)->apply(s, 0);
  // The box that was label 1 at x ~ 7.5 is now at x = 31 - 7.5 and carries label 2 (the image keeps 100).
  EXPECT_DOUBLE_EQ(centroid_x(s.label == 2), 31.0 - right_before);
  EXPECT_TRUE(at::equal(s.image > 0, s.label > 0));
  EXPECT_EQ(s.label.eq(1).sum().item<int64_t>(), boxes_sample().label.eq(2).sum().item<int64_t>());
}

TEST(Transforms, FlipsOfOtherAxesKeepTheLabelValues) {
  FlipOptions o;
  o.probability = {0.0, 1.0, 1.0};
  Sample s = boxes_sample();
  random_flip(o)->apply(s, 0);
  EXPECT_EQ(agreement(s), 1.0);
  EXPECT_DOUBLE_EQ(centroid_x(s.label == 1), centroid_x(boxes_sample().label == 1));
}

TEST(Transforms, RotationScalingAndElasticDeformationMoveImageAndMasksTogether) {
  SpatialOptions o;
  o.probability = 1.0;
  o.elastic_probability = 1.0;
  o.rotate_degrees = {20, 20, 20};
  for (uint64_t seed = 0; seed < 5; ++seed) {
    Sample s = boxes_sample();
    random_spatial(o)->apply(s, seed);
    EXPECT_FALSE(at::equal(s.label, boxes_sample().label)) << "seed " << seed;
    // Linear (image) and nearest (label) interpolation differ only on a one-voxel rim around each box,
    // and both boxes' centres move together (a one-voxel misalignment would move them by 1).
    EXPECT_GT(agreement(s), 0.93) << "seed " << seed;
    for (int label = 1; label <= 2; ++label) {
      const auto from_label = centroid(s.label == label);
      const auto from_image = centroid(at::where(s.image > 50, s.image, at::zeros_like(s.image)) *
                                       (at::max_pool3d(((s.label == label).to(at::kFloat)).unsqueeze(0), 3, 1, 1)[0] > 0));
      for (int d = 0; d < 3; ++d) EXPECT_NEAR(from_label[d], from_image[d], 0.35) << "seed " << seed << " axis " << d;
    }
  }
}

TEST(Transforms, EveryTransformGivesTheSameResultForTheSameSeedAndAnotherForAnother) {
  Compose c;
  CropOptions crop;
  crop.patch = {16, 16, 8};
  c.add(random_crop(crop));
  c.add(random_flip({}));
  SpatialOptions sp;
  sp.probability = 1.0;
  sp.elastic_probability = 1.0;
  c.add(random_spatial(sp));
  IntensityAugmentOptions in;
  in.shift_probability = in.scale_probability = in.gamma_probability = in.noise_probability = in.blur_probability =
      in.lowres_probability = 1.0;
  c.add(random_intensity(in));
  Sample a = boxes_sample(), b = boxes_sample(), d = boxes_sample();
  c.apply(a, 42);
  c.apply(b, 42);
  c.apply(d, 43);
  EXPECT_TRUE(same(a, b));
  EXPECT_FALSE(same(a, d));
}

TEST(Transforms, IntensityAugmentationsChangeTheImageOnlyNeverTheMasks) {
  IntensityAugmentOptions in;
  in.shift_probability = in.scale_probability = in.gamma_probability = in.noise_probability = in.blur_probability =
      in.lowres_probability = 1.0;
  Sample s = boxes_sample();
  random_intensity(in)->apply(s, 7);
  EXPECT_FALSE(at::equal(s.image, boxes_sample().image));
  EXPECT_TRUE(at::equal(s.label, boxes_sample().label));
  EXPECT_TRUE(at::equal(s.valid, boxes_sample().valid));
}

TEST(Transforms, AFailingTransformIsNamedInTheError) {
  Compose c;
  c.add(random_flip({}));
  Sample s;
  s.image = at::zeros({4, 4});  // 2-D: refused
  try {
    c.apply(s, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RandomFlip"), std::string::npos) << e.what();
  }
}

TEST(Preprocessing, HuWindowMapsToZeroOneAndClips) {
  IntensityOptions o;
  o.hu_min = -1000;
  o.hu_max = 1000;
  const at::Tensor y = normalise_intensity(at::tensor({-2000.0, -1000.0, 0.0, 500.0, 3000.0}), o);
  EXPECT_TRUE(at::allclose(y, at::tensor({0.0f, 0.0f, 0.5f, 0.75f, 1.0f})));
}

TEST(Preprocessing, ResamplingHalvesTheSizeAtDoubleSpacingAndKeepsTheFieldOfView) {
  Geometry g;
  g.size = {32, 24, 16};
  g.spacing_mm = {1, 1, 2};
  g.origin_mm = {10, 20, 30};
  Volume v = Volume::filled(g, 0, at::kByte);
  v.voxels.slice(2, 0, 16).fill_(1);  // x < 16
  const Volume r = resample_to_spacing(v, {2, 2, 2}, /*label=*/true);
  EXPECT_EQ(r.geometry.size, (std::array<int64_t, 3>{16, 12, 16}));
  EXPECT_EQ(r.geometry.spacing_mm, (Vec3{2, 2, 2}));
  // The first voxel's outer corner stays at origin - spacing/2: 10 - 0.5 = 9.5 -> new origin 9.5 + 1 = 10.5.
  EXPECT_DOUBLE_EQ(r.geometry.origin_mm[0], 10.5);
  EXPECT_DOUBLE_EQ(r.geometry.origin_mm[2], 30.0);
  EXPECT_EQ(r.voxels.sum().item<int64_t>(), 8 * 12 * 16);  // half of the x range, exactly
}

TEST(Loader, BatchesDependOnlyOnSeedAndStepWhateverTheWorkers) {
  std::vector<Sample> cases{boxes_sample(), boxes_sample()};
  cases[1].image = cases[1].image + 1;
  auto pipe = std::make_shared<Compose>();
  CropOptions crop;
  crop.patch = {8, 8, 8};
  pipe->add(random_crop(crop));
  pipe->add(random_flip({}));
  LoaderOptions o;
  o.batch_size = 2;
  o.seed = 5;
  o.workers = 0;
  BatchLoader serial(cases, pipe, o);
  o.workers = 2;
  BatchLoader threaded(cases, pipe, o);
  BatchLoader resumed(cases, pipe, o, /*first_step=*/3);
  std::vector<Batch> a, b;
  for (int i = 0; i < 6; ++i) {
    a.push_back(serial.next());
    b.push_back(threaded.next());
  }
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(at::equal(a[i].image, b[i].image)) << i;
    EXPECT_TRUE(at::equal(a[i].label, b[i].label)) << i;
  }
  EXPECT_EQ(a[0].image.sizes(), (at::IntArrayRef{2, 1, 8, 8, 8}));
  const Batch r = resumed.next();
  EXPECT_EQ(r.step, 3);
  EXPECT_TRUE(at::equal(r.image, a[3].image));
  EXPECT_FALSE(at::equal(a[0].image, a[1].image));
}
