// Segmentation losses, differentiable (autograd flows through them).
//
// logits: [B, K, ...spatial] raw network outputs. K > 1: classes, softmax;
//         K == 1: one foreground class, sigmoid.
// target: [B, ...spatial] class indices (any integer dtype; values 0..K-1, or 0/1 when K == 1).
// valid:  optional [B, ...spatial] mask (bool or 0/1): voxels where it is 0 are ignored
//         by every loss (an "ignore region", e.g. outside the lungs or unlabelled).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace pulmo {

enum class LossKind : int { Dice, CrossEntropy, DiceCE, Focal, Tversky };
const char* loss_name(LossKind kind);
LossKind parse_loss_kind(const std::string& name);  // "dice", "ce", "dice_ce", "focal", "tversky"; BadConfig otherwise

struct LossOptions {
  LossKind kind = LossKind::DiceCE;
  bool batch_dice = false;          // Dice/Tversky sums over the whole batch (true) or per volume, then averages
  bool include_background = false;  // K > 1: class 0 counts in Dice/Tversky
  double smooth = 1e-5;             // added to numerator and denominator of Dice/Tversky
  double dice_weight = 1.0;         // DiceCE = dice_weight * Dice + ce_weight * CE
  double ce_weight = 1.0;
  double focal_gamma = 2.0;         // focal: mean of -(1-p_t)^gamma log p_t
  double tversky_alpha = 0.3;       // Tversky index TP / (TP + alpha FP + beta FN)
  double tversky_beta = 0.7;
};

// 1 - mean soft Dice over the foreground classes (and volumes unless batch_dice).
at::Tensor soft_dice_loss(const at::Tensor& logits, const at::Tensor& target, const LossOptions& o = {},
                          const at::Tensor& valid = {});
// 1 - mean Tversky index.
at::Tensor tversky_loss(const at::Tensor& logits, const at::Tensor& target, const LossOptions& o = {},
                        const at::Tensor& valid = {});
// Mean cross-entropy (K > 1) or binary cross-entropy (K == 1) over the valid voxels.
at::Tensor ce_loss(const at::Tensor& logits, const at::Tensor& target, const at::Tensor& valid = {});
// Mean focal loss over the valid voxels.
at::Tensor focal_loss(const at::Tensor& logits, const at::Tensor& target, const LossOptions& o = {},
                      const at::Tensor& valid = {});
// The loss o.kind selects.
at::Tensor segmentation_loss(const at::Tensor& logits, const at::Tensor& target, const LossOptions& o = {},
                             const at::Tensor& valid = {});

// Hard Dice of the arg-max prediction per foreground class, averaged over classes present in
// either mask (NaN when no class is present anywhere), each computed by the evaluation engine
// (pulmo::volumetric_dice). For validation and early stopping.
double hard_dice(const at::Tensor& logits, const at::Tensor& target);

}  // namespace pulmo
