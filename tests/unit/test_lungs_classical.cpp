// The classical lung segmentation and the lung post-processing the cascade shares with it (pipeline.h).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "image/morphology.h"
#include "pulmo/error.h"
#include "pulmo/eval.h"
#include "pulmo/io.h"
#include "pulmo/labels.h"
#include "pulmo/pipeline.h"
#include "pulmo/synth.h"
#include "support/test_support.h"

namespace {

pulmo::synth::Phantom healthy_phantom() {
  pulmo::synth::PhantomOptions o;
  o.size = {160, 160, 48};
  o.spacing_mm = {0.9, 0.9, 5.0};
  o.involvement = 0;
  o.seed = 3;
  return pulmo::synth::make_phantom(o);
}

double dice(const at::Tensor& a, const at::Tensor& b) {
  const double inter = a.logical_and(b).sum().item<double>();
  return 2 * inter / (a.sum().item<double>() + b.sum().item<double>());
}

pulmo::Volume blank(int64_t nx, int64_t ny, int64_t nz) {
  pulmo::Volume v;
  v.geometry.size = {nx, ny, nz};
  v.voxels = at::zeros({nz, ny, nx}, at::kByte);
  return v;
}

}  // namespace

TEST(ClassicalLungs, FindBothLungsOfAHealthyPhantomOnTheRightSides) {
  const pulmo::synth::Phantom p = healthy_phantom();
  const pulmo::Volume lungs = pulmo::segment_lungs_classical(p.ct);
  ASSERT_TRUE(lungs.geometry.same_grid_as(p.ct.geometry));
  for (int side : {1, 2}) {
    const double d = dice(lungs.voxels.eq(side), p.lungs.voxels.eq(side));
    EXPECT_GT(d, 0.93) << "label " << side;
  }
}

TEST(ClassicalLungs, MatchLungmaskOnTheTwoLidcSlicesWithinThreePercent) {
  PULMO_REQUIRE_SHARED_DATA("ct/lidc-lungmask");
  // lungmask R231 on these two slices: right 64752, left 36536 voxels (test_mask.py.reference).
  const pulmo::Volume ct = pulmo::read_volume(pulmo::test::shared_data_path("ct/lidc-lungmask"));
  const pulmo::Volume lungs = pulmo::segment_lungs_classical(ct);
  const double right = lungs.voxels.eq(pulmo::labels::kRightLung).sum().item<double>();
  const double left = lungs.voxels.eq(pulmo::labels::kLeftLung).sum().item<double>();
  EXPECT_NEAR(right / 64752.0, 1.0, 0.03) << right;
  EXPECT_NEAR(left / 36536.0, 1.0, 0.03) << left;
}

TEST(ClassicalLungs, RefuseVolumesWithoutLungsWithExitCode11) {
  pulmo::Volume air = blank(32, 32, 16);
  air.voxels = at::full({16, 32, 32}, -1000.0f);
  pulmo::Volume tissue = air.with_voxels(at::full({16, 32, 32}, 40.0f));
  for (const pulmo::Volume& v : {air, tissue}) {
    try {
      pulmo::segment_lungs_classical(v);
      FAIL() << "expected no lungs";
    } catch (const pulmo::Error& e) {
      EXPECT_EQ(e.code(), pulmo::ExitCode::NoLungs) << e.what();
      EXPECT_NE(std::string(e.what()).find("no lungs found"), std::string::npos);
    }
  }
}

TEST(LungPostprocess, TwoRegionsBecomeRightAndLeftByTheirPositionInThePatient) {
  pulmo::Volume m = blank(40, 20, 10);
  m.voxels.slice(2, 2, 15).slice(1, 5, 15).slice(0, 2, 8).fill_(1);   // small x = patient right (LPS)
  m.voxels.slice(2, 25, 38).slice(1, 5, 15).slice(0, 2, 8).fill_(1);
  m.voxels[5][0][39] = 1;                                             // a one-voxel fragment: dropped
  pulmo::Volume r = pulmo::postprocess_lungs(m);
  EXPECT_EQ(r.voxels[5][10][5].item<uint8_t>(), pulmo::labels::kRightLung);
  EXPECT_EQ(r.voxels[5][10][30].item<uint8_t>(), pulmo::labels::kLeftLung);
  EXPECT_EQ(r.voxels[5][0][39].item<uint8_t>(), 0);
  // The same voxels stored right-to-left (RAS-like x axis): the sides follow the patient, not the array.
  pulmo::Volume flipped = m;
  flipped.geometry.direction = {-1, 0, 0, 0, 1, 0, 0, 0, 1};
  r = pulmo::postprocess_lungs(flipped);
  EXPECT_EQ(r.voxels[5][10][5].item<uint8_t>(), pulmo::labels::kLeftLung);
}

TEST(LungPostprocess, TouchingLungsAreSplitAtTheirNarrowJunction) {
  pulmo::Volume m = blank(60, 30, 6);
  m.voxels.slice(2, 2, 28).slice(1, 2, 28).fill_(1);
  m.voxels.slice(2, 32, 58).slice(1, 2, 28).fill_(1);
  m.voxels.slice(2, 28, 32).slice(1, 14, 17).fill_(1);  // a 3-voxel-wide bridge
  const pulmo::Volume r = pulmo::postprocess_lungs(m);
  EXPECT_EQ(r.voxels.eq(1).sum().item<int64_t>() + r.voxels.eq(2).sum().item<int64_t>(), m.voxels.sum().item<int64_t>());
  EXPECT_TRUE(r.voxels.slice(2, 2, 28).eq(pulmo::labels::kRightLung).logical_or(m.voxels.slice(2, 2, 28).eq(0)).all().item<bool>());
  EXPECT_TRUE(r.voxels.slice(2, 32, 58).eq(pulmo::labels::kLeftLung).logical_or(m.voxels.slice(2, 32, 58).eq(0)).all().item<bool>());
}

TEST(LungPostprocess, HolesInsideALungAreFilled) {
  pulmo::Volume m = blank(40, 20, 3);
  m.voxels.slice(2, 2, 15).slice(1, 2, 18).fill_(1);
  m.voxels.slice(2, 25, 38).slice(1, 2, 18).fill_(2);
  m.voxels.slice(2, 6, 9).slice(1, 8, 11).fill_(0);  // a vessel
  const pulmo::Volume r = pulmo::postprocess_lungs(m);
  EXPECT_EQ(r.voxels[1][9][7].item<uint8_t>(), pulmo::labels::kRightLung);
}

TEST(ExtendLungs, LesionRegionsTouchingALungJoinThatLungAndOthersDoNot) {
  // [z, y, x] = 6 x 20 x 40: right lung x 2..11, left lung x 26..35.
  at::Tensor lungs = at::zeros({6, 20, 40}, at::kByte);
  lungs.slice(1, 2, 18).slice(2, 2, 12).fill_(1);
  lungs.slice(1, 2, 18).slice(2, 26, 36).fill_(2);
  at::Tensor lesions = at::zeros({6, 20, 40}, at::kBool);
  lesions.slice(1, 5, 10).slice(2, 9, 15).fill_(true);   // inside the right lung and beyond it, touching it
  lesions.slice(1, 5, 10).slice(2, 18, 21).fill_(true);  // apart from both lungs
  lesions.slice(1, 12, 14).slice(2, 36, 38).fill_(true); // touching the left lung from outside
  const at::Tensor out = pulmo::extend_lungs_by_lesions(lungs, lesions);
  EXPECT_EQ(out.eq(1).sum().item<int64_t>(), lungs.eq(1).sum().item<int64_t>() + 6 * 5 * 3);
  EXPECT_EQ(out.eq(2).sum().item<int64_t>(), lungs.eq(2).sum().item<int64_t>() + 6 * 2 * 2);
  EXPECT_EQ(out.slice(1, 5, 10).slice(2, 18, 21).ne(0).sum().item<int64_t>(), 0);  // the lone region stays out
  EXPECT_TRUE(at::equal(out.ne(0).logical_and(lungs.ne(0)), lungs.ne(0)));          // no lung voxel lost
  EXPECT_TRUE(at::equal(pulmo::extend_lungs_by_lesions(lungs, at::zeros_like(lesions)), lungs));
}

TEST(ClassicalLungs, AirwayFollowingDoesNotLeakIntoTheNoisyParenchymaOfASharpKernel) {
  // Noise of 150 HU (a B70f-type kernel): a third of the parenchyma lies below the -900 HU airway threshold.
  pulmo::synth::PhantomOptions o;
  o.size = {160, 160, 48};
  o.spacing_mm = {0.9, 0.9, 5.0};
  o.involvement = 0;
  o.noise_hu = 150;
  o.seed = 3;
  const pulmo::synth::Phantom p = pulmo::synth::make_phantom(o);
  const at::Tensor lung = p.lungs.voxels.ne(0);
  ASSERT_GT(p.ct.voxels.lt(-900).logical_and(lung).sum().item<double>(), 0.2 * lung.sum().item<double>());
  const pulmo::Volume lungs = pulmo::segment_lungs_classical(p.ct);
  for (int side : {1, 2}) {
    const at::Tensor truth = p.lungs.voxels.eq(side);
    // Recall: no part of a lung removed as "airway".
    EXPECT_GT(lungs.voxels.eq(side).logical_and(truth).sum().item<double>() / truth.sum().item<double>(), 0.97)
        << "label " << side;
    // Dice: the noise also turns soft-tissue voxels next to the pleura into "air" (below -250 HU).
    EXPECT_GT(dice(lungs.voxels.eq(side), truth), 0.85) << "label " << side;
  }
}

namespace {

// A "network" answer: the true lungs, one voxel wider in-plane on each side (its boundary is coarser).
at::Tensor wider_lungs(const at::Tensor& truth) {
  at::Tensor network = truth.clone();
  for (uint8_t side : {uint8_t(1), uint8_t(2)}) {
    const at::Tensor wider = pulmo::image::dilate(truth.eq(side), {0, 1, 1}).logical_and(network.eq(0));
    network.masked_fill_(wider, side);
  }
  return network;
}

pulmo::synth::Phantom phantom(double involvement, double consolidation, uint64_t seed) {
  pulmo::synth::PhantomOptions o;
  o.size = {160, 160, 48};
  o.spacing_mm = {0.9, 0.9, 5.0};
  o.involvement = involvement;
  o.consolidation_fraction = consolidation;
  o.seed = seed;
  return pulmo::synth::make_phantom(o);
}

}  // namespace

TEST(HybridLungs, DenseLungFromTheNetworkJoinsTheClassicalLungs) {
  const pulmo::synth::Phantom p = phantom(0.7, 0.6, 5);
  const at::Tensor classical = pulmo::segment_lungs_classical(p.ct).voxels;
  pulmo::HybridLungStats st;
  const at::Tensor hybrid = pulmo::combine_lungs_hybrid(p.ct, classical, wider_lungs(p.lungs.voxels), {}, &st);
  EXPECT_GT(st.added_voxels, 0);
  // Every classical lung voxel stays; the consolidation comes back; the network's wider rim does not.
  EXPECT_TRUE(at::equal(hybrid.ne(0).logical_and(classical.ne(0)), classical.ne(0)));
  const at::Tensor consolidation = p.lesions.voxels.eq(2);
  const double outside_classical = consolidation.logical_and(classical.eq(0)).sum().item<double>();
  const double outside_hybrid = consolidation.logical_and(hybrid.eq(0)).sum().item<double>();
  ASSERT_GT(outside_classical, 0.2 * consolidation.sum().item<double>());
  EXPECT_LT(outside_hybrid, 0.05 * consolidation.sum().item<double>()) << outside_classical;
  for (int side : {1, 2}) {
    const at::Tensor truth = p.lungs.voxels.eq(side);
    const double dh = dice(hybrid.eq(side), truth), dc = dice(classical.eq(side), truth);
    EXPECT_GT(dh, 0.95) << "label " << side << " classical " << dc;
    EXPECT_GT(dh, dc) << "label " << side;
  }
}

TEST(HybridLungs, ALeakOfTheNetworkUnderTheLungIsLeftOut) {
  const pulmo::synth::Phantom p = phantom(0.0, 0.3, 3);
  const at::Tensor classical = pulmo::segment_lungs_classical(p.ct).voxels;
  // The leak: the tissue under the right lung's lowest slice, 4 slices deep, in the right lung's footprint.
  const at::Tensor right = p.lungs.voxels.eq(1);
  const at::Tensor zs = at::nonzero(right.any(2).any(1)).squeeze(1);
  const int64_t zlo = zs.min().item<int64_t>();
  ASSERT_GE(zlo, 4);
  at::Tensor leak = at::zeros_like(right);
  leak.slice(0, zlo - 4, zlo).copy_(right.any(0).unsqueeze(0).expand({4, right.size(1), right.size(2)}));
  leak.logical_and_(p.ct.voxels.ge(-250).logical_and(p.ct.voxels.le(150)));
  ASSERT_GT(leak.sum().item<int64_t>(), 500);
  at::Tensor network = wider_lungs(p.lungs.voxels);
  network.masked_fill_(leak, 1);
  pulmo::HybridLungStats st;
  const at::Tensor hybrid = pulmo::combine_lungs_hybrid(p.ct, classical, network, {}, &st);
  EXPECT_GE(st.rejected_voxels, leak.sum().item<int64_t>() / 2);
  EXPECT_EQ(hybrid.ne(0).logical_and(leak).sum().item<int64_t>(), 0) << "of " << leak.sum().item<int64_t>();
  EXPECT_GT(dice(hybrid.ne(0), p.lungs.voxels.ne(0)), 0.93);
}

TEST(HybridLungs, ALungTheClassicalSegmentationLostComesFromTheNetwork) {
  at::Tensor network = at::zeros({6, 20, 40}, at::kByte);
  network.slice(1, 2, 18).slice(2, 2, 12).fill_(1);
  network.slice(1, 2, 18).slice(2, 26, 36).fill_(2);
  const at::Tensor classical = network.eq(2).to(at::kByte).mul(2);  // the right lung wholly consolidated
  pulmo::Volume ct = blank(40, 20, 6);
  ct.voxels = at::where(network.eq(1), at::full({}, 20.0f), at::where(network.eq(2), at::full({}, -850.0f), at::full({}, 40.0f)));
  pulmo::HybridLungStats st;
  const at::Tensor hybrid = pulmo::combine_lungs_hybrid(ct, classical, network, {}, &st);
  EXPECT_TRUE(at::equal(hybrid, network));
  ASSERT_EQ(st.sides_from_network.size(), 1u);
  EXPECT_EQ(st.sides_from_network[0], pulmo::labels::kRightLung);
}

TEST(HybridLungs, ClassicalRegionsTakeTheNetworksSide) {
  // The right lung wholly consolidated; the classical segmentation's "two largest regions" are two pieces of the
  // left lung, the smaller labelled right (seen on a real CT: the hybrid's right lung had a Dice of 0).
  at::Tensor network = at::zeros({6, 20, 40}, at::kByte);
  network.slice(1, 2, 18).slice(2, 2, 12).fill_(1);
  network.slice(1, 2, 18).slice(2, 26, 36).fill_(2);
  at::Tensor classical = at::zeros_like(network);
  classical.slice(1, 2, 10).slice(2, 26, 36).fill_(2);
  classical.slice(1, 11, 18).slice(2, 26, 36).fill_(1);  // the lower piece of the left lung, called right
  pulmo::Volume ct = blank(40, 20, 6);
  ct.voxels = at::where(network.eq(1), at::full({}, 20.0f), at::where(network.eq(2), at::full({}, -850.0f), at::full({}, 40.0f)));
  pulmo::HybridLungStats st;
  const at::Tensor hybrid = pulmo::combine_lungs_hybrid(ct, classical, network, {}, &st);
  EXPECT_EQ(st.relabelled_voxels, classical.eq(1).sum().item<int64_t>());
  EXPECT_EQ(hybrid.eq(2).logical_and(network.ne(2)).sum().item<int64_t>(), 0);
  EXPECT_EQ(hybrid.eq(2).logical_and(classical.ne(0)).sum().item<int64_t>(), classical.ne(0).sum().item<int64_t>());
  ASSERT_EQ(st.sides_from_network.size(), 1u);
  EXPECT_EQ(st.sides_from_network[0], pulmo::labels::kRightLung);
  EXPECT_TRUE(at::equal(hybrid.eq(1), network.eq(1)));
}

TEST(HybridLungs, AnAirRegionTheNetworkDoesNotCallLungIsDropped) {
  // Under the lung bases, the classical "two largest air regions" can be the right lung and the stomach's gas (seen on
  // a real CT of the lung bases: the stomach was the "left lung"); the network's left lung base is what is left.
  at::Tensor network = at::zeros({6, 30, 40}, at::kByte);
  network.slice(1, 2, 12).slice(2, 2, 12).fill_(1);
  network.slice(1, 2, 8).slice(2, 28, 36).fill_(2);
  at::Tensor classical = network.eq(1).to(at::kByte);
  classical.slice(1, 16, 28).slice(2, 20, 38).fill_(2);  // the stomach's gas
  pulmo::Volume ct = blank(40, 30, 6);
  ct.voxels = at::where(network.ne(0).logical_or(classical.ne(0)), at::full({}, -850.0f), at::full({}, 40.0f));
  pulmo::HybridLungStats st;
  const at::Tensor hybrid = pulmo::combine_lungs_hybrid(ct, classical, network, {}, &st);
  EXPECT_EQ(st.dropped_voxels, 12 * 18 * 6);
  EXPECT_TRUE(at::equal(hybrid, network));
  ASSERT_EQ(st.sides_from_network.size(), 1u);
  EXPECT_EQ(st.sides_from_network[0], pulmo::labels::kLeftLung);
}
