// Per-label overlap, volume and surface metrics of a reference / prediction pair of label maps.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "pulmo/error.h"
#include "pulmo/eval.h"

namespace pulmo {

namespace {

std::string join(const std::vector<int>& v) {
  std::ostringstream s;
  for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
  return v.empty() ? "none" : s.str();
}

double ratio(double num, double den) { return den > 0 ? num / den : kNaN; }

void check_binary(const Volume& v, const std::string& what) {
  const at::Tensor& t = v.voxels;
  if (t.scalar_type() == at::kBool) return;
  if (t.ne(0).logical_and(t.ne(1)).any().item<bool>()) {
    const double mx = t.max().item<double>(), mn = t.min().item<double>();
    throw Error(ExitCode::Mismatch, what + " is not binary (values from " + std::to_string(mn) + " to " +
                                        std::to_string(mx) + "; expected only 0 and 1) - pass --labels to pick labels");
  }
}

}  // namespace

std::vector<int> labels_present(const Volume& label_map) {
  const at::Tensor& t = label_map.voxels;
  if (t.is_floating_point() && t.ne(t.round()).any().item<bool>())
    throw Error(ExitCode::Mismatch, "label map holds non-integer values (a probability map or an image?)");
  if (t.scalar_type() != at::kBool && t.lt(0).any().item<bool>())
    throw Error(ExitCode::Mismatch, "label map holds negative values");
  const at::Tensor u = std::get<0>(at::_unique(t.to(at::kLong).flatten(), /*sorted=*/true));
  std::vector<int> labels;
  const int64_t* p = u.data_ptr<int64_t>();
  for (int64_t i = 0; i < u.numel(); ++i)
    if (p[i] != 0) labels.push_back(static_cast<int>(p[i]));
  return labels;
}

std::vector<LabelMetrics> segmentation_metrics(const Volume& reference, const Volume& prediction,
                                               const SegmentationOptions& options) {
  if (!reference.geometry.same_grid_as(prediction.geometry))
    throw Error(ExitCode::Mismatch, "reference and prediction are on different grids: reference " +
                                        reference.geometry.describe() + ", prediction " + prediction.geometry.describe() +
                                        " (use --resample-prediction to resample the prediction)");
  std::vector<int> labels = options.labels;
  if (options.binary) {
    check_binary(reference, "the reference");
    check_binary(prediction, "the prediction");
    labels = {1};
  } else {
    const std::vector<int> in_ref = labels_present(reference), in_pred = labels_present(prediction);
    std::vector<int> present;
    std::set_union(in_ref.begin(), in_ref.end(), in_pred.begin(), in_pred.end(), std::back_inserter(present));
    if (labels.empty()) labels = present;
    for (int l : labels)
      if (!std::binary_search(present.begin(), present.end(), l))
        throw Error(ExitCode::Mismatch, "label " + std::to_string(l) + " is in neither the reference nor the prediction"
                                        " (labels present: " + join(present) + ")");
  }
  if (labels.empty()) throw Error(ExitCode::NoData, "both the reference and the prediction are empty: no label to evaluate");

  const double voxel_ml = reference.geometry.voxel_volume_ml();
  std::vector<LabelMetrics> out;
  for (int label : labels) {
    const at::Tensor a = reference.voxels.eq(label), b = prediction.voxels.eq(label);
    LabelMetrics m;
    m.label = label;
    m.voxels_ref = a.sum().item<int64_t>();
    m.voxels_pred = b.sum().item<int64_t>();
    m.voxels_both = a.logical_and(b).sum().item<int64_t>();
    const double na = double(m.voxels_ref), nb = double(m.voxels_pred), nab = double(m.voxels_both);
    m.dice = ratio(2.0 * nab, na + nb);
    m.jaccard = ratio(nab, na + nb - nab);
    m.sensitivity = ratio(nab, na);
    m.precision = ratio(nab, nb);
    m.volume_ref_ml = na * voxel_ml;
    m.volume_pred_ml = nb * voxel_ml;
    m.volume_diff_ml = m.volume_pred_ml - m.volume_ref_ml;
    const SurfaceDistances sd = compute_surface_distances(reference.with_voxels(a), prediction.with_voxels(b));
    for (double t : options.tolerances_mm) m.surface_dice.emplace_back(t, surface_dice_at(sd, t));
    m.hd95 = hd_at(sd, 95.0);
    m.hd100 = hd_at(sd, 100.0);
    std::tie(m.asd_ref_to_pred, m.asd_pred_to_ref) = average_surface_distance(sd);
    m.assd = average_symmetric_surface_distance(sd);
    out.push_back(m);
  }
  return out;
}

double volumetric_dice(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) throw Error(ExitCode::Mismatch, "volumetric Dice: masks of different shapes");
  const at::Tensor ma = a.ne(0), mb = b.ne(0);
  const double na = ma.sum().item<double>(), nb = mb.sum().item<double>();
  return ratio(2.0 * ma.logical_and(mb).sum().item<double>(), na + nb);
}

int ct_severity_score(double involved_percent) {
  if (std::isnan(involved_percent)) return 0;
  if (involved_percent < 5.0) return 1;
  if (involved_percent < 25.0) return 2;
  if (involved_percent < 50.0) return 3;
  if (involved_percent < 75.0) return 4;
  return 5;
}

double involved_percent(double lesion_ml, double lung_ml) { return lung_ml > 0 ? 100.0 * lesion_ml / lung_ml : kNaN; }

}  // namespace pulmo
