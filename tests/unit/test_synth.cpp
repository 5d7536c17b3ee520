// Synthetic phantoms: determinism, target involvement, anatomy and lesion HU, lesion insertion.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/labels.h"
#include "pulmo/runtime.h"
#include "pulmo/synth.h"
#include "support/test_support.h"

using namespace pulmo;
using synth::Phantom;
using synth::PhantomOptions;

namespace {

PhantomOptions small(uint64_t seed, double involvement = 0.2) {
  PhantomOptions o;
  o.size = {96, 96, 48};
  o.seed = seed;
  o.involvement = involvement;
  return o;
}

double mean_where(const at::Tensor& values, const at::Tensor& mask) { return values.masked_select(mask).mean().item<double>(); }

}  // namespace

TEST(SynthPhantom, SameSeedGivesIdenticalTensors) {
  const Phantom a = synth::make_phantom(small(5)), b = synth::make_phantom(small(5));
  EXPECT_TRUE(a.ct.voxels.equal(b.ct.voxels));
  EXPECT_TRUE(a.lungs.voxels.equal(b.lungs.voxels));
  EXPECT_TRUE(a.lesions.voxels.equal(b.lesions.voxels));
}

TEST(SynthPhantom, DifferentSeedsGiveDifferentTensors) {
  const Phantom a = synth::make_phantom(small(5)), b = synth::make_phantom(small(6));
  EXPECT_FALSE(a.ct.voxels.equal(b.ct.voxels));
  EXPECT_FALSE(a.lungs.voxels.equal(b.lungs.voxels));
  EXPECT_FALSE(a.lesions.voxels.equal(b.lesions.voxels));
}

TEST(SynthPhantom, ThreadCountDoesNotChangeTheResult) {
  set_threads(1);
  const Phantom a = synth::make_phantom(small(9));
  set_threads(2);
  const Phantom b = synth::make_phantom(small(9));
  set_threads(0);
  EXPECT_TRUE(a.ct.voxels.equal(b.ct.voxels));
  EXPECT_TRUE(a.lesions.voxels.equal(b.lesions.voxels));
}

TEST(SynthPhantom, GeometryFollowsTheOptions) {
  PhantomOptions o = small(1);
  o.size = {64, 80, 40};
  o.spacing_mm = {0.7, 0.7, 1.25};
  const Phantom p = synth::make_phantom(o);
  for (const Volume* v : {&p.ct, &p.lungs, &p.lesions}) {
    EXPECT_EQ(v->geometry.size, o.size);
    EXPECT_EQ(v->geometry.spacing_mm, o.spacing_mm);
    EXPECT_EQ(v->geometry.orientation_code(), "LPS");
  }
  EXPECT_EQ(p.ct.voxels.scalar_type(), at::kFloat);
  EXPECT_EQ(p.lungs.voxels.scalar_type(), at::kByte);
  EXPECT_DOUBLE_EQ(p.ct.geometry.origin_mm[0], -0.5 * 63 * 0.7);  // centred field of view
}

TEST(SynthPhantom, LungsKeepRealProportionsOrSpanTheRequestedShareOfSlices) {
  struct Row { double coverage, lo, hi; };
  // 64x64x32 at 0.9/0.9/5 mm: a 58 mm wide, 160 mm tall field of view. Real proportions: lungs about
  // 0.66 x 58 mm = 38 mm tall = 24 % of the slices.
  const Row rows[] = {{0.0, 0.15, 0.35}, {0.5, 0.40, 0.55}, {0.9, 0.78, 0.95}};
  for (const Row& r : rows) {
    PhantomOptions o;
    o.size = {64, 64, 32};
    o.spacing_mm = {0.9, 0.9, 5.0};
    o.lung_z_coverage = r.coverage;
    const Phantom p = synth::make_phantom(o);
    const double slices_with_lung = p.lungs.voxels.gt(0).flatten(1).any(1).sum().item<double>() / 32.0;
    EXPECT_GE(slices_with_lung, r.lo) << r.coverage;
    EXPECT_LE(slices_with_lung, r.hi) << r.coverage;
    EXPECT_NEAR(p.involved_percent, 20.0, synth::kInvolvementTolerancePercent);
  }
}

TEST(SynthPhantom, MeasuredInvolvementMeetsTheTargetWithinTolerance) {
  for (double target : {0.0, 0.01, 0.05, 0.2, 0.35, 0.5, 0.8}) {
    const Phantom p = synth::make_phantom(small(11, target));
    const double lung = p.lungs.voxels.gt(0).sum().item<double>();
    const double lesion = p.lesions.voxels.gt(0).sum().item<double>();
    EXPECT_NEAR(p.involved_percent, 100.0 * lesion / lung, 1e-9) << "target " << target;
    EXPECT_NEAR(p.involved_percent, 100.0 * target, synth::kInvolvementTolerancePercent) << "target " << target;
  }
}

TEST(SynthPhantom, LesionsLieInsideTheLungsOnly) {
  const Phantom p = synth::make_phantom(small(3, 0.5));
  EXPECT_EQ(p.lesions.voxels.gt(0).logical_and(p.lungs.voxels.eq(0)).sum().item<int64_t>(), 0);
  EXPECT_LE(p.lesions.voxels.max().item<int>(), 2);
  EXPECT_LE(p.lungs.voxels.max().item<int>(), 2);
}

TEST(SynthPhantom, ConsolidationTakesItsShareOfTheLesionVolume) {
  for (double share : {0.0, 0.3, 0.7}) {
    PhantomOptions o = small(4, 0.3);
    o.consolidation_fraction = share;
    const Phantom p = synth::make_phantom(o);
    const double lesion = p.lesions.voxels.gt(0).sum().item<double>();
    const double cons = p.lesions.voxels.eq(labels::kConsolidation).sum().item<double>();
    EXPECT_NEAR(cons / lesion, share, 0.005) << "share " << share;
  }
}

TEST(SynthPhantom, RightLungIsLargerAndOnThePatientsRight) {
  const Phantom p = synth::make_phantom(small(2));
  const at::Tensor right = p.lungs.voxels.eq(labels::kRightLung), left = p.lungs.voxels.eq(labels::kLeftLung);
  EXPECT_GT(right.sum().item<int64_t>(), left.sum().item<int64_t>());
  const at::Tensor x = at::arange(96, at::kFloat).view({1, 1, 96}).expand_as(p.ct.voxels);
  EXPECT_LT(mean_where(x, right), 48.0);  // LPS: +x is the patient's left
  EXPECT_GT(mean_where(x, left), 48.0);
}

TEST(SynthPhantom, TissuesHaveTheirHounsfieldRanges) {
  PhantomOptions o = small(8, 0.3);
  o.noise_hu = 0;
  const Phantom p = synth::make_phantom(o);
  const at::Tensor& ct = p.ct.voxels;
  const at::Tensor healthy = p.lungs.voxels.gt(0).logical_and(p.lesions.voxels.eq(0)).logical_and(ct.lt(-600));
  const double lung_median = ct.masked_select(healthy).median().item<double>();
  EXPECT_GT(lung_median, -900);
  EXPECT_LT(lung_median, -800);
  const double ggo = mean_where(ct, p.lesions.voxels.eq(labels::kGroundGlass));
  EXPECT_GT(ggo, -700);
  EXPECT_LT(ggo, -300);
  const double cons = mean_where(ct, p.lesions.voxels.eq(labels::kConsolidation));
  EXPECT_GT(cons, -100);
  EXPECT_LT(cons, 50);
  EXPECT_NEAR(ct[0][0][0].item<double>(), -1000, 1.0);                 // air around the body
  EXPECT_GT(ct.gt(300).sum().item<int64_t>(), 100);                     // ribs, sternum and spine
  EXPECT_GT(ct.gt(-150).logical_and(ct.lt(-50)).sum().item<int64_t>(), 5000);  // fat
  EXPECT_GT(ct.gt(20).logical_and(ct.lt(70)).sum().item<int64_t>(), 5000);     // muscle, heart, vessels
  // Trachea: air inside the body at the top slice, near the middle.
  EXPECT_LT(ct[47].slice(0, 40, 56).slice(1, 40, 56).min().item<double>(), -950);
}

TEST(SynthPhantom, LesionsAreBilateralAndPreferPosteriorBases) {
  double posterior = 0, anterior = 0, lower = 0, upper = 0;
  for (uint64_t seed : {21, 22, 23}) {
    const Phantom p = synth::make_phantom(small(seed, 0.15));
    const at::Tensor lesion = p.lesions.voxels.gt(0);
    EXPECT_GT(lesion.logical_and(p.lungs.voxels.eq(labels::kRightLung)).sum().item<int64_t>(), 0) << seed;
    EXPECT_GT(lesion.logical_and(p.lungs.voxels.eq(labels::kLeftLung)).sum().item<int64_t>(), 0) << seed;
    posterior += lesion.slice(1, 48, 96).sum().item<double>();  // +y = posterior
    anterior += lesion.slice(1, 0, 48).sum().item<double>();
    lower += lesion.slice(0, 0, 24).sum().item<double>();       // +z = superior
    upper += lesion.slice(0, 24, 48).sum().item<double>();
  }
  EXPECT_GT(posterior, anterior);
  EXPECT_GT(lower, upper);
}

TEST(SynthPhantom, LesionsPreferTheLungPeriphery) {
  double periphery_lesion = 0, periphery = 0, core_lesion = 0, core = 0;
  for (uint64_t seed : {41, 42, 43}) {
    const Phantom p = synth::make_phantom(small(seed, 0.1));
    const at::Tensor lung = p.lungs.voxels.gt(0), lesion = p.lesions.voxels.gt(0);
    // Lung voxels within 3 voxels (in-plane) of a non-lung voxel form the periphery.
    const at::Tensor outside = lung.logical_not().to(at::kFloat).unsqueeze(0).unsqueeze(0);
    const at::Tensor near = at::max_pool3d(outside, {1, 7, 7}, {1, 1, 1}, {0, 3, 3}).squeeze(0).squeeze(0).gt(0);
    const at::Tensor shell = lung.logical_and(near), inner = lung.logical_and(near.logical_not());
    periphery += shell.sum().item<double>();
    periphery_lesion += shell.logical_and(lesion).sum().item<double>();
    core += inner.sum().item<double>();
    core_lesion += inner.logical_and(lesion).sum().item<double>();
  }
  EXPECT_GT(periphery_lesion / periphery, 1.5 * core_lesion / core) << periphery_lesion / periphery << " vs " << core_lesion / core;
}

TEST(SynthPhantom, CrazyPavingAddsAReticularPatternToGroundGlass) {
  PhantomOptions o = small(12, 0.4);
  o.noise_hu = 0;
  o.consolidation_fraction = 0;
  const Phantom plain = synth::make_phantom(o);
  o.crazy_paving = true;
  const Phantom paved = synth::make_phantom(o);
  EXPECT_TRUE(plain.lesions.voxels.equal(paved.lesions.voxels));  // same lesions, other texture
  const at::Tensor ggo = plain.lesions.voxels.eq(labels::kGroundGlass);
  EXPECT_GT(mean_where(paved.ct.voxels, ggo), mean_where(plain.ct.voxels, ggo) + 5);
  EXPECT_GT(paved.ct.voxels.masked_select(ggo).std().item<double>(), plain.ct.voxels.masked_select(ggo).std().item<double>());
}

TEST(SynthPhantom, NoiseSigmaIsTheRequestedOne) {
  PhantomOptions o = small(13);
  o.noise_hu = 0;
  const Phantom clean = synth::make_phantom(o);
  o.noise_hu = 40;
  const Phantom noisy = synth::make_phantom(o);
  EXPECT_NEAR((noisy.ct.voxels - clean.ct.voxels).std().item<double>(), 40.0, 0.5);
}

TEST(SynthPhantom, OptionsOutOfRangeAreUsageErrors) {
  struct Row { const char* what; void (*edit)(PhantomOptions&); };
  const Row rows[] = {
      {"involvement > 0.8", [](PhantomOptions& o) { o.involvement = 0.81; }},
      {"negative involvement", [](PhantomOptions& o) { o.involvement = -0.1; }},
      {"consolidation > 1", [](PhantomOptions& o) { o.consolidation_fraction = 1.5; }},
      {"in-plane spacing 1.0", [](PhantomOptions& o) { o.spacing_mm[0] = 1.0; }},
      {"slice spacing 6", [](PhantomOptions& o) { o.spacing_mm[2] = 6.0; }},
      {"size z 401", [](PhantomOptions& o) { o.size[2] = 401; }},
      {"size x 8", [](PhantomOptions& o) { o.size[0] = 8; }},
      {"negative noise", [](PhantomOptions& o) { o.noise_hu = -1; }},
      {"z coverage 0.1", [](PhantomOptions& o) { o.lung_z_coverage = 0.1; }},
      {"z coverage 2", [](PhantomOptions& o) { o.lung_z_coverage = 2; }},
      {"NaN involvement", [](PhantomOptions& o) { o.involvement = std::nan(""); }},
  };
  for (const Row& r : rows) {
    PhantomOptions o;
    r.edit(o);
    try {
      synth::make_phantom(o);
      ADD_FAILURE() << r.what << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage) << r.what;
    }
  }
}

TEST(SynthPhantom, CaseSeedsOfNearbySeriesDoNotOverlap) {
  EXPECT_NE(synth::case_seed(0, 1), synth::case_seed(1, 0));
  EXPECT_EQ(synth::case_seed(7, 3), synth::case_seed(7, 3));
}

// ---- lesion insertion ---------------------------------------------------------------------------

TEST(SynthInsert, MeetsTheTargetInvolvementInsideTheGivenLungs) {
  const Phantom healthy = synth::make_phantom(small(30, 0.0));
  for (double target : {0.05, 0.3, 0.6}) {
    PhantomOptions o = small(31, target);
    const Phantom p = synth::insert_lesions(healthy.ct, healthy.lungs, o);
    EXPECT_NEAR(p.involved_percent, 100.0 * target, synth::kInvolvementTolerancePercent) << target;
    EXPECT_TRUE(p.lungs.voxels.equal(healthy.lungs.voxels));
    EXPECT_EQ(p.lesions.voxels.gt(0).logical_and(p.lungs.voxels.eq(0)).sum().item<int64_t>(), 0);
    // Outside the lesions the CT is untouched; inside, nothing gets darker.
    const at::Tensor outside = p.lesions.voxels.eq(0);
    EXPECT_TRUE(p.ct.voxels.masked_select(outside).equal(healthy.ct.voxels.masked_select(outside)));
    EXPECT_TRUE(p.ct.voxels.ge(healthy.ct.voxels).all().item<bool>());
    const double ggo = mean_where(p.ct.voxels, p.lesions.voxels.eq(labels::kGroundGlass));
    EXPECT_GT(ggo, -720);
    EXPECT_LT(ggo, -300);
  }
}

// Regression (0dd12f9 to 2026-12-03): the procedural insertion faded its ground-glass over 1.0 score units instead
// of the phantom's 0.08, so inserted ground-glass was ~100 HU fainter than the phantom's own (-655 HU median in the
// real A0002, where real COVID-19 ground-glass is about -590). One density rule for both: same model, same ramp.
TEST(SynthInsert, GroundGlassIsAsDenseAsThePhantomsOwn) {
  PhantomOptions o = small(8, 0.3);
  o.noise_hu = 0;
  const Phantom own = synth::make_phantom(o);
  const Phantom healthy = synth::make_phantom(small(8, 0.0));
  const Phantom inserted = synth::insert_lesions(healthy.ct, healthy.lungs, o);
  const double own_ggo = mean_where(own.ct.voxels, own.lesions.voxels.eq(labels::kGroundGlass));
  const double ins_ggo = mean_where(inserted.ct.voxels, inserted.lesions.voxels.eq(labels::kGroundGlass));
  EXPECT_NEAR(ins_ggo, own_ggo, 50.0);  // 10 % of the underlying lung shows through an insertion (insert.cpp)
  EXPECT_GT(ins_ggo, -620);
}

TEST(SynthInsert, IsDeterministicBySeed) {
  const Phantom healthy = synth::make_phantom(small(30, 0.0));
  const Phantom a = synth::insert_lesions(healthy.ct, healthy.lungs, small(1)), b = synth::insert_lesions(healthy.ct, healthy.lungs, small(1));
  const Phantom c = synth::insert_lesions(healthy.ct, healthy.lungs, small(2));
  EXPECT_TRUE(a.ct.voxels.equal(b.ct.voxels));
  EXPECT_TRUE(a.lesions.voxels.equal(b.lesions.voxels));
  EXPECT_FALSE(a.lesions.voxels.equal(c.lesions.voxels));
}

TEST(SynthInsert, ABinaryLungMaskIsSplitIntoRightAndLeft) {
  const Phantom healthy = synth::make_phantom(small(32, 0.0));
  const Volume binary = healthy.lungs.with_voxels(healthy.lungs.voxels.gt(0).to(at::kByte));
  const Phantom p = synth::insert_lesions(healthy.ct, binary, small(1));
  const double agree = p.lungs.voxels.eq(healthy.lungs.voxels).to(at::kDouble).mean().item<double>();
  EXPECT_GT(agree, 0.999);
}

TEST(SynthInsert, RefusesAMaskOnAnotherGridOrWithoutLung) {
  const Phantom healthy = synth::make_phantom(small(33, 0.0));
  Volume shifted = healthy.lungs;
  shifted.geometry.origin_mm[0] += 5.0;
  try {
    synth::insert_lesions(healthy.ct, shifted, small(1));
    ADD_FAILURE() << "shifted mask accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
  }
  try {
    synth::insert_lesions(healthy.ct, healthy.lungs.with_voxels(at::zeros_like(healthy.lungs.voxels)), small(1));
    ADD_FAILURE() << "empty mask accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::NoData);
  }
  try {
    synth::insert_lesions(healthy.ct, healthy.lungs.with_voxels(healthy.lungs.voxels * 3), small(1));
    ADD_FAILURE() << "labels 3 and 6 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
  }
}

// ---- insertion of real lesion shapes --------------------------------------------------------------

namespace {

// A lesion mask with a ball of radius 6 mm and a 4 x 4 x 2-voxel box, far apart, on a 1 x 1 x 4 mm grid.
std::string write_shape_mask(const pulmo::test::TempDir& tmp) {
  Volume m;
  m.geometry.size = {64, 48, 12};
  m.geometry.spacing_mm = {1.0, 1.0, 4.0};
  m.voxels = at::zeros({12, 48, 64}, at::kShort);
  auto a = m.voxels.accessor<int16_t, 3>();
  for (int z = 0; z < 12; ++z)
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 64; ++x) {
        const double dx = x - 15.0, dy = y - 20.0, dz = (z - 5.0) * 4.0;
        if (dx * dx + dy * dy + dz * dz <= 36.0) a[z][y][x] = 1;
        if (x >= 50 && x < 54 && y >= 30 && y < 34 && z >= 8 && z < 10) a[z][y][x] = 1;
      }
  const std::string path = tmp.file("shapes.nii.gz");
  write_volume(m, path);
  return path;
}

}  // namespace

TEST(SynthInsertShapes, LoadsEveryComponentAsASignedDistanceOnItsOwnGrid) {
  pulmo::test::TempDir tmp;
  const auto shapes = synth::load_lesion_shapes({write_shape_mask(tmp)}, 0.0);
  ASSERT_EQ(shapes.size(), 2u);
  // Largest first: the ball (its voxels as drawn), then the box of 32 voxels of 4 uL.
  EXPECT_GT(shapes[0].volume_ml, shapes[1].volume_ml);
  EXPECT_NEAR(shapes[1].volume_ml, 32 * 4.0 / 1000.0, 1e-9);
  for (const auto& s : shapes) {
    ASSERT_EQ(s.distance_mm.size(), size_t(s.size[0] * s.size[1] * s.size[2]));
    EXPECT_EQ(s.spacing_mm, (Vec3{1.0, 1.0, 4.0}));
    // Padded by background: the crop's corner is outside, its centre region inside.
    EXPECT_LT(s.distance_mm.front(), 0.0f);
    EXPECT_GT(*std::max_element(s.distance_mm.begin(), s.distance_mm.end()), 0.0f);
  }
  EXPECT_EQ(shapes[1].size, (std::array<int64_t, 3>{4 + 4, 4 + 4, 2 + 4}));
  // A minimum volume drops the box; no component at all is NoData.
  EXPECT_EQ(synth::load_lesion_shapes({write_shape_mask(tmp)}, 0.2).size(), 1u);
  try {
    synth::load_lesion_shapes({write_shape_mask(tmp)}, 100.0);
    ADD_FAILURE() << "no shape accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::NoData);
  }
  // Not a binary mask (two lesion values, as a CT or a label map of several classes has): refused, naming the file.
  Volume two = read_volume(write_shape_mask(tmp));
  two.voxels.select(0, 9).masked_fill_(two.voxels.select(0, 9).ne(0), 2);
  write_volume(two, tmp.file("two.nii.gz"));
  try {
    synth::load_lesion_shapes({tmp.file("two.nii.gz")}, 0.0);
    ADD_FAILURE() << "a mask of values 1 and 2 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a binary mask"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("two.nii.gz"), std::string::npos) << e.what();
  }
  // 0 and 255 is binary.
  Volume bytes = read_volume(write_shape_mask(tmp));
  bytes.voxels.mul_(255);
  write_volume(bytes, tmp.file("bytes.nii.gz"));
  EXPECT_EQ(synth::load_lesion_shapes({tmp.file("bytes.nii.gz")}, 0.0).size(), 2u);
}

TEST(SynthInsertShapes, MeetTheTargetInvolvementInsideTheLungsFromLowToDense) {
  pulmo::test::TempDir tmp;
  const auto shapes = synth::load_lesion_shapes({write_shape_mask(tmp)}, 0.0);
  const Phantom healthy = synth::make_phantom(small(40, 0.0));
  for (double target : {0.03, 0.3, 0.75}) {
    PhantomOptions o = small(41, target);
    const Phantom p = synth::insert_lesion_shapes(healthy.ct, healthy.lungs, o, shapes);
    EXPECT_NEAR(p.involved_percent, 100.0 * target, synth::kInvolvementTolerancePercent) << target;
    EXPECT_EQ(p.lesions.voxels.gt(0).logical_and(p.lungs.voxels.eq(0)).sum().item<int64_t>(), 0);
    const at::Tensor outside = p.lesions.voxels.eq(0);
    EXPECT_TRUE(p.ct.voxels.masked_select(outside).equal(healthy.ct.voxels.masked_select(outside)));
    EXPECT_TRUE(p.ct.voxels.ge(healthy.ct.voxels).all().item<bool>());
    // Consolidation takes its share of the lesion volume, as in the procedural mode.
    const double lesion = p.lesions.voxels.gt(0).sum().item<double>();
    const double cons = p.lesions.voxels.eq(labels::kConsolidation).sum().item<double>();
    EXPECT_NEAR(cons / lesion, o.consolidation_fraction, 0.02) << target;
    const double ggo = mean_where(p.ct.voxels, p.lesions.voxels.eq(labels::kGroundGlass));
    EXPECT_GT(ggo, -720);
    EXPECT_LT(ggo, -300);
  }
}

TEST(SynthInsertShapes, AreDeterministicBySeedAndDifferFromProceduralLesions) {
  pulmo::test::TempDir tmp;
  const auto shapes = synth::load_lesion_shapes({write_shape_mask(tmp)}, 0.0);
  const Phantom healthy = synth::make_phantom(small(42, 0.0));
  const Phantom a = synth::insert_lesion_shapes(healthy.ct, healthy.lungs, small(1), shapes);
  const Phantom b = synth::insert_lesion_shapes(healthy.ct, healthy.lungs, small(1), shapes);
  const Phantom c = synth::insert_lesion_shapes(healthy.ct, healthy.lungs, small(2), shapes);
  const Phantom blobs = synth::insert_lesions(healthy.ct, healthy.lungs, small(1));
  EXPECT_TRUE(a.ct.voxels.equal(b.ct.voxels));
  EXPECT_TRUE(a.lesions.voxels.equal(b.lesions.voxels));
  EXPECT_FALSE(a.lesions.voxels.equal(c.lesions.voxels));
  EXPECT_FALSE(a.lesions.voxels.equal(blobs.lesions.voxels));
  try {
    synth::insert_lesion_shapes(healthy.ct, healthy.lungs, small(1), {});
    ADD_FAILURE() << "an empty shape list accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::NoData);
  }
}
