// Each loss against closed-form values.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "pulmo/error.h"
#include "pulmo/losses.h"

using namespace pulmo;

namespace {
// Two classes, logits equal everywhere: p = 0.5 for both; target all class 1. [1,2,4,4,4]
at::Tensor uniform_logits() { return at::zeros({1, 2, 4, 4, 4}); }
at::Tensor all_ones() { return at::ones({1, 4, 4, 4}, at::kLong); }
}  // namespace

TEST(Losses, SoftDiceOfHalfProbabilityAgainstFullTargetIsOneThird) {
  // dice = 2*0.5N / (0.5N + N) = 2/3 -> loss 1/3
  LossOptions o;
  o.smooth = 0;
  EXPECT_NEAR(soft_dice_loss(uniform_logits(), all_ones(), o).item<double>(), 1.0 / 3.0, 1e-6);
}

TEST(Losses, SoftDiceOfAPerfectConfidentPredictionIsZero) {
  at::Tensor target = at::zeros({2, 4, 4, 4}, at::kLong);
  target.slice(1, 0, 2).fill_(1);
  const at::Tensor logits = at::one_hot(target, 2).movedim(-1, 1).to(at::kFloat) * 100.0;
  EXPECT_NEAR(soft_dice_loss(logits, target).item<double>(), 0.0, 1e-6);
}

TEST(Losses, BatchDiceAndVolumeDiceDifferWhenVolumesDiffer) {
  // Volume 0: perfect; volume 1: empty target, predicts foreground everywhere (dice 0 with smooth 0 ... so use smooth 1).
  at::Tensor target = at::zeros({2, 2, 2, 2}, at::kLong);
  target[0].fill_(1);
  const at::Tensor logits = at::stack({at::full({2, 2, 2}, -100.0), at::full({2, 2, 2}, 100.0)}, 0).unsqueeze(0).repeat({2, 1, 1, 1, 1});
  // Every voxel predicted as class 1 with p = 1. Volume-wise (smooth 1): v0 dice = (16+1)/(16+1) = 1,
  // v1 dice = (0+1)/(8+0+1) = 1/9 -> loss 1 - (1 + 1/9)/2 = 4/9.
  // Batch-wise: inter 8, sums 16 + 8 -> (16+1)/(24+1) = 17/25 -> loss 8/25.
  LossOptions o;
  o.smooth = 1;
  EXPECT_NEAR(soft_dice_loss(logits.clone(), target, o).item<double>(), 4.0 / 9.0, 1e-5);
  o.batch_dice = true;
  EXPECT_NEAR(soft_dice_loss(logits.clone(), target, o).item<double>(), 8.0 / 25.0, 1e-5);
}

TEST(Losses, CrossEntropyOfUniformTwoClassLogitsIsLogTwo) {
  EXPECT_NEAR(ce_loss(uniform_logits(), all_ones()).item<double>(), std::log(2.0), 1e-6);
}

TEST(Losses, BinaryCrossEntropyOfZeroLogitIsLogTwo) {
  EXPECT_NEAR(ce_loss(at::zeros({1, 1, 3, 3}), at::ones({1, 3, 3}, at::kLong)).item<double>(), std::log(2.0), 1e-6);
}

TEST(Losses, BinaryCrossEntropyMatchesTheClosedFormAtLogitOne) {
  // target 1, logit 1: -log(sigmoid(1)) = log(1 + e^-1)
  EXPECT_NEAR(ce_loss(at::ones({1, 1, 2, 2}), at::ones({1, 2, 2}, at::kLong)).item<double>(),
              std::log(1.0 + std::exp(-1.0)), 1e-6);
}

TEST(Losses, FocalLossAtHalfProbabilityIsAQuarterOfLogTwoForGammaTwo) {
  LossOptions o;
  o.focal_gamma = 2;
  EXPECT_NEAR(focal_loss(uniform_logits(), all_ones(), o).item<double>(), 0.25 * std::log(2.0), 1e-6);
  o.focal_gamma = 0;  // gamma 0 is cross-entropy
  EXPECT_NEAR(focal_loss(uniform_logits(), all_ones(), o).item<double>(), std::log(2.0), 1e-6);
}

TEST(Losses, TverskyAtHalfProbabilityWeighsFalseNegativesByBeta) {
  // TP = 0.5N, FP = 0, FN = 0.5N -> index 0.5 / (0.5 + beta*0.5) = 1 / (1 + beta)
  LossOptions o;
  o.smooth = 0;
  o.tversky_alpha = 0.3;
  o.tversky_beta = 0.7;
  EXPECT_NEAR(tversky_loss(uniform_logits(), all_ones(), o).item<double>(), 1.0 - 1.0 / 1.7, 1e-6);
}

TEST(Losses, TverskyWithHalfWeightsEqualsDice) {
  LossOptions o;
  o.smooth = 0;
  o.tversky_alpha = o.tversky_beta = 0.5;
  at::Tensor logits = at::randn({2, 3, 4, 4, 4});
  at::Tensor target = at::randint(0, 3, {2, 4, 4, 4}, at::kLong);
  EXPECT_NEAR(tversky_loss(logits, target, o).item<double>(), soft_dice_loss(logits, target, o).item<double>(), 1e-5);
}

TEST(Losses, DiceCEIsTheWeightedSumOfItsParts) {
  LossOptions o;
  o.smooth = 0;
  o.dice_weight = 2;
  o.ce_weight = 0.5;
  EXPECT_NEAR(segmentation_loss(uniform_logits(), all_ones(), o).item<double>(), 2.0 / 3.0 + 0.5 * std::log(2.0), 1e-6);
}

TEST(Losses, IgnoredVoxelsDoNotChangeAnyLoss) {
  // Half the voxels are confidently wrong but ignored; the rest are uniform (p = 0.5).
  at::Tensor logits = uniform_logits();
  logits.select(4, 0).select(1, 0).fill_(100.0);  // x = 0: predicts class 0, target is 1
  at::Tensor valid = at::ones({1, 4, 4, 4}, at::kBool);
  valid.select(3, 0).fill_(false);
  LossOptions o;
  o.smooth = 0;
  EXPECT_NEAR(soft_dice_loss(logits, all_ones(), o, valid).item<double>(), 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(ce_loss(logits, all_ones(), valid).item<double>(), std::log(2.0), 1e-6);
  EXPECT_NEAR(focal_loss(logits, all_ones(), o, valid).item<double>(), 0.25 * std::log(2.0), 1e-6);
  EXPECT_NEAR(tversky_loss(logits, all_ones(), o, valid).item<double>(), 1.0 - 1.0 / 1.7, 1e-6);
}

TEST(Losses, GradientsFlowToTheLogits) {
  at::Tensor logits = at::randn({1, 3, 4, 4, 4}).set_requires_grad(true);
  segmentation_loss(logits, at::randint(0, 3, {1, 4, 4, 4}, at::kLong)).backward();
  ASSERT_TRUE(logits.grad().defined());
  EXPECT_GT(logits.grad().abs().sum().item<double>(), 0.0);
}

TEST(Losses, HardDiceCountsOverlapOfArgMaxPerClass) {
  // Target: class 1 on 4 voxels; prediction: class 1 on 2 of them and 2 other voxels -> 2*2/(4+4) = 0.5
  at::Tensor target = at::zeros({1, 1, 2, 4}, at::kLong);
  target.select(3, 0).fill_(1);
  target.select(3, 1).fill_(1);
  at::Tensor pred = at::zeros({1, 1, 2, 4}, at::kLong);
  pred.select(3, 1).fill_(1);
  pred.select(3, 2).fill_(1);
  const at::Tensor logits = at::one_hot(pred, 2).movedim(-1, 1).to(at::kFloat);
  EXPECT_NEAR(hard_dice(logits, target), 0.5, 1e-12);
}

TEST(Losses, HardDiceOfTwoEmptyMasksIsNaN) {
  EXPECT_TRUE(std::isnan(hard_dice(at::zeros({1, 2, 2, 2, 2}), at::zeros({1, 2, 2, 2}, at::kLong))));
}

TEST(Losses, UnknownLossNameIsABadConfig) {
  try {
    parse_loss_kind("l2");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig);
  }
}
