// Losses: plain ATen ops, so autograd records them.
#include "pulmo/losses.h"

#include "pulmo/eval.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "nn/schemas.h"
#include "pulmo/error.h"

namespace pulmo {
namespace {

void check_shapes(const at::Tensor& logits, const at::Tensor& target, const at::Tensor& valid) {
  if (logits.dim() < 3 || target.dim() != logits.dim() - 1)
    throw Error(ExitCode::Mismatch, "loss: logits must be [B,K,...] and target [B,...]");
  for (int64_t d = 0; d < target.dim(); ++d)
    if (target.size(d) != logits.size(d == 0 ? 0 : d + 1))
      throw Error(ExitCode::Mismatch, "loss: logits and target shapes differ");
  if (valid.defined() && valid.sizes() != target.sizes())
    throw Error(ExitCode::Mismatch, "loss: the valid mask must have the target's shape");
}

// Probabilities and one-hot target, both [B,K,...]; for K == 1 a single foreground channel.
std::pair<at::Tensor, at::Tensor> probs_and_onehot(const at::Tensor& logits, const at::Tensor& target) {
  const int64_t k = logits.size(1);
  at::Tensor t = target.to(at::kLong);
  if (k == 1) return {at::sigmoid(logits), t.unsqueeze(1).to(logits.scalar_type())};
  at::Tensor onehot = at::one_hot(t, k).movedim(-1, 1).to(logits.scalar_type());  // [B,K,...]
  return {at::softmax(logits, 1), onehot};
}

at::Tensor valid_weights(const at::Tensor& logits, const at::Tensor& valid) {
  if (!valid.defined()) return {};
  return valid.to(logits.scalar_type()).unsqueeze(1);  // [B,1,...]
}

// Sums over spatial dims (and batch when batch_dice) -> [B,K] or [1,K].
at::Tensor reduce(const at::Tensor& x, bool batch) {
  std::vector<int64_t> dims;
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  at::Tensor s = x.sum(dims);  // [B,K]
  return batch ? s.sum(0, /*keepdim=*/true) : s;
}

at::Tensor select_classes(const at::Tensor& score, bool include_background) {
  if (score.size(1) == 1 || include_background) return score;
  return score.slice(1, 1);  // drop class 0
}

// Per-voxel mean of `per_voxel` [B,...] over valid voxels.
at::Tensor masked_mean(const at::Tensor& per_voxel, const at::Tensor& valid) {
  if (!valid.defined()) return per_voxel.mean();
  at::Tensor w = valid.to(per_voxel.scalar_type());
  return (per_voxel * w).sum() / w.sum().clamp_min(1.0);
}

}  // namespace

const char* loss_name(LossKind kind) { return name_of(loss_kind_names(), kind).c_str(); }

LossKind parse_loss_kind(const std::string& name) {
  if (const LossKind* k = find_name(loss_kind_names(), name)) return *k;
  throw Error(ExitCode::BadConfig, "unknown loss '" + name + "' (valid: " + names_list(loss_kind_names()) + ")");
}

at::Tensor soft_dice_loss(const at::Tensor& logits, const at::Tensor& target, const LossOptions& o, const at::Tensor& valid) {
  check_shapes(logits, target, valid);
  auto [p, t] = probs_and_onehot(logits, target);
  if (at::Tensor w = valid_weights(logits, valid); w.defined()) {
    p = p * w;
    t = t * w;
  }
  const at::Tensor inter = reduce(p * t, o.batch_dice);                     // [B|1,K]
  const at::Tensor denom = reduce(p, o.batch_dice) + reduce(t, o.batch_dice);
  const at::Tensor dice = (2.0 * inter + o.smooth) / (denom + o.smooth);
  return 1.0 - select_classes(dice, o.include_background).mean();
}

at::Tensor tversky_loss(const at::Tensor& logits, const at::Tensor& target, const LossOptions& o, const at::Tensor& valid) {
  check_shapes(logits, target, valid);
  auto [p, t] = probs_and_onehot(logits, target);
  if (at::Tensor w = valid_weights(logits, valid); w.defined()) {
    p = p * w;
    t = t * w;
  }
  const at::Tensor tp = reduce(p * t, o.batch_dice);
  const at::Tensor fp = reduce(p * (1.0 - t), o.batch_dice);
  const at::Tensor fn = reduce((1.0 - p) * t, o.batch_dice);
  const at::Tensor index = (tp + o.smooth) / (tp + o.tversky_alpha * fp + o.tversky_beta * fn + o.smooth);
  return 1.0 - select_classes(index, o.include_background).mean();
}

at::Tensor ce_loss(const at::Tensor& logits, const at::Tensor& target, const at::Tensor& valid) {
  check_shapes(logits, target, valid);
  at::Tensor per_voxel;  // [B,...]
  if (logits.size(1) == 1) {
    const at::Tensor x = logits.squeeze(1), t = target.to(logits.scalar_type());
    per_voxel = at::clamp_min(x, 0) - x * t + at::log1p(at::exp(-x.abs()));  // stable BCE with logits
  } else {
    per_voxel = -at::log_softmax(logits, 1).gather(1, target.to(at::kLong).unsqueeze(1)).squeeze(1);
  }
  return masked_mean(per_voxel, valid);
}

at::Tensor focal_loss(const at::Tensor& logits, const at::Tensor& target, const LossOptions& o, const at::Tensor& valid) {
  check_shapes(logits, target, valid);
  at::Tensor log_pt;  // [B,...] log probability of the true class
  if (logits.size(1) == 1) {
    const at::Tensor x = logits.squeeze(1), t = target.to(logits.scalar_type());
    log_pt = t * at::log_sigmoid(x) + (1.0 - t) * at::log_sigmoid(-x);
  } else {
    log_pt = at::log_softmax(logits, 1).gather(1, target.to(at::kLong).unsqueeze(1)).squeeze(1);
  }
  const at::Tensor per_voxel = -at::pow(1.0 - at::exp(log_pt), o.focal_gamma) * log_pt;
  return masked_mean(per_voxel, valid);
}

at::Tensor segmentation_loss(const at::Tensor& logits, const at::Tensor& target, const LossOptions& o, const at::Tensor& valid) {
  switch (o.kind) {
    case LossKind::Dice: return soft_dice_loss(logits, target, o, valid);
    case LossKind::CrossEntropy: return ce_loss(logits, target, valid);
    case LossKind::DiceCE:
      return o.dice_weight * soft_dice_loss(logits, target, o, valid) + o.ce_weight * ce_loss(logits, target, valid);
    case LossKind::Focal: return focal_loss(logits, target, o, valid);
    case LossKind::Tversky: return tversky_loss(logits, target, o, valid);
  }
  throw Error(ExitCode::Internal, "unknown loss kind");
}

double hard_dice(const at::Tensor& logits, const at::Tensor& target) {
  const int64_t k = logits.size(1);
  const at::Tensor pred = k == 1 ? (logits.squeeze(1) > 0).to(at::kLong) : logits.argmax(1);
  const at::Tensor t = target.to(at::kLong);
  double sum = 0;
  int n = 0;
  for (int64_t c = 1; c < std::max<int64_t>(k, 2); ++c) {
    const double d = volumetric_dice(t == c, pred == c);  // the evaluation engine's Dice
    if (std::isnan(d)) continue;                           // class absent from both: not counted
    sum += d;
    ++n;
  }
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / n;
}

}  // namespace pulmo
