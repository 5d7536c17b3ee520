// Per-label overlap, volume and surface metrics of a reference / prediction pair of label maps.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
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

}  // namespace

namespace {

// Labels of a contiguous buffer in one pass (no sort, no copy): non-integer and negative values are refused.
template <typename T>
std::vector<int> labels_of(const T* p, int64_t n) {
  std::vector<uint8_t> seen(65536, 0);
  std::set<int64_t> large;
  for (int64_t i = 0; i < n; ++i) {
    const T v = p[i];
    if (v == 0) continue;
    if (std::is_floating_point<T>::value && !std::isfinite(static_cast<double>(v)))
      throw Error(ExitCode::Mismatch, "label map holds NaN or infinite values (a corrupt or probability map?)");
    if (!(v == static_cast<T>(static_cast<int64_t>(v))))
      throw Error(ExitCode::Mismatch, "label map holds non-integer values (a probability map or an image?)");
    const int64_t l = static_cast<int64_t>(v);
    if (l < 0) throw Error(ExitCode::Mismatch, "label map holds negative values");
    if (l < 65536)
      seen[l] = 1;
    else
      large.insert(l);
  }
  if (!large.empty() && *large.rbegin() > std::numeric_limits<int>::max())
    throw Error(ExitCode::Mismatch, "label map holds values too large for labels");
  std::vector<int> labels;
  for (int l = 1; l < 65536; ++l)
    if (seen[l]) labels.push_back(l);
  for (int64_t l : large) labels.push_back(static_cast<int>(l));
  return labels;
}

// Masks (uint8 0/1 viewed as bool) of `label` in two maps of the same dtype and shape, with voxel counts, in one pass.
struct LabelMasks {
  at::Tensor a, b;
  int64_t count_a = 0, count_b = 0, count_both = 0;
};

template <typename T>
void fill_masks(const T* ra, const T* rb, int64_t n, T label, LabelMasks& m) {
  bool* __restrict pa = m.a.data_ptr<bool>();
  bool* __restrict pb = m.b.data_ptr<bool>();
  int64_t ca = 0, cb = 0, cab = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool x = ra[i] == label, y = rb[i] == label;
    pa[i] = x;
    pb[i] = y;
    ca += x;
    cb += y;
    cab += x & y;
  }
  m.count_a = ca;
  m.count_b = cb;
  m.count_both = cab;
}

LabelMasks label_masks(const at::Tensor& ref, const at::Tensor& pred, int label) {
  at::Tensor a = ref.contiguous(), b = pred.contiguous();
  if (a.scalar_type() != b.scalar_type() || a.scalar_type() == at::kBool ||
      (a.scalar_type() != at::kFloat && a.scalar_type() != at::kByte && a.scalar_type() != at::kShort &&
       a.scalar_type() != at::kInt)) {
    a = a.to(at::kFloat);
    b = b.to(at::kFloat);
  }
  LabelMasks m;
  m.a = at::empty(a.sizes(), at::kBool);
  m.b = at::empty(b.sizes(), at::kBool);
  const int64_t n = a.numel();
  switch (a.scalar_type()) {
    case at::kByte:  fill_masks(a.data_ptr<uint8_t>(), b.data_ptr<uint8_t>(), n, static_cast<uint8_t>(label), m); break;
    case at::kShort: fill_masks(a.data_ptr<int16_t>(), b.data_ptr<int16_t>(), n, static_cast<int16_t>(label), m); break;
    case at::kInt:   fill_masks(a.data_ptr<int32_t>(), b.data_ptr<int32_t>(), n, static_cast<int32_t>(label), m); break;
    default:         fill_masks(a.data_ptr<float>(), b.data_ptr<float>(), n, static_cast<float>(label), m); break;
  }
  return m;
}

}  // namespace

std::vector<int> labels_present(const Volume& label_map) {
  const at::Tensor t = label_map.voxels.contiguous();
  const int64_t n = t.numel();
  switch (t.scalar_type()) {
    case at::kBool:   return t.any().item<bool>() ? std::vector<int>{1} : std::vector<int>{};
    case at::kByte:   return labels_of(t.data_ptr<uint8_t>(), n);
    case at::kChar:   return labels_of(t.data_ptr<int8_t>(), n);
    case at::kShort:  return labels_of(t.data_ptr<int16_t>(), n);
    case at::kInt:    return labels_of(t.data_ptr<int32_t>(), n);
    case at::kLong:   return labels_of(t.data_ptr<int64_t>(), n);
    case at::kFloat:  return labels_of(t.data_ptr<float>(), n);
    case at::kDouble: return labels_of(t.data_ptr<double>(), n);
    default:          return labels_present(label_map.with_voxels(t.to(at::kFloat)));
  }
}

std::vector<LabelMetrics> segmentation_metrics(const Volume& reference, const Volume& prediction,
                                               const SegmentationOptions& options) {
  if (!reference.geometry.same_grid_as(prediction.geometry))
    throw Error(ExitCode::Mismatch, "reference and prediction are on different grids: reference " +
                                        reference.geometry.describe() + ", prediction " + prediction.geometry.describe() +
                                        " (use --resample-prediction to resample the prediction)");
  std::vector<int> labels = options.labels;
  if (options.binary) {
    for (const auto& [v, what] : {std::pair<const Volume*, const char*>{&reference, "the reference"},
                                  std::pair<const Volume*, const char*>{&prediction, "the prediction"}}) {
      const std::vector<int> l = labels_present(*v);
      if (!l.empty() && (l.size() > 1 || l[0] != 1))
        throw Error(ExitCode::Mismatch, std::string(what) + " is not binary (labels " + join(l) +
                                            "; expected only 0 and 1) - pass --labels to pick labels");
    }
    labels = {1};
  } else {
    const std::vector<int> in_ref = labels_present(reference), in_pred = labels_present(prediction);
    std::vector<int> present;
    std::set_union(in_ref.begin(), in_ref.end(), in_pred.begin(), in_pred.end(), std::back_inserter(present));
    if (labels.empty()) labels = present;
    for (int l : labels)
      if (!options.allow_absent && !std::binary_search(present.begin(), present.end(), l))
        throw Error(ExitCode::Mismatch, "label " + std::to_string(l) + " is in neither the reference nor the prediction"
                                        " (labels present: " + join(present) + ")");
  }
  if (labels.empty() && !options.allow_absent) throw Error(ExitCode::NoData, "both the reference and the prediction are empty: no label to evaluate");

  const double voxel_ml = reference.geometry.voxel_volume_ml();
  std::vector<LabelMetrics> out;
  for (int label : labels) {
    const LabelMasks masks = label_masks(reference.voxels, prediction.voxels, label);
    LabelMetrics m;
    m.label = label;
    m.voxels_ref = masks.count_a;
    m.voxels_pred = masks.count_b;
    m.voxels_both = masks.count_both;
    const double na = double(m.voxels_ref), nb = double(m.voxels_pred), nab = double(m.voxels_both);
    m.dice = ratio(2.0 * nab, na + nb);
    m.jaccard = ratio(nab, na + nb - nab);
    m.sensitivity = ratio(nab, na);
    const double n = double(reference.voxels.numel());
    m.specificity = ratio(n - na - nb + nab, n - na);
    m.precision = ratio(nab, nb);
    m.volume_ref_ml = na * voxel_ml;
    m.volume_pred_ml = nb * voxel_ml;
    m.volume_diff_ml = m.volume_pred_ml - m.volume_ref_ml;
    const SurfaceDistances sd = compute_surface_distances(reference.with_voxels(masks.a), prediction.with_voxels(masks.b));
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
  const LabelMasks m = label_masks(a.ne(0).view(at::kByte), b.ne(0).view(at::kByte), 1);
  return ratio(2.0 * double(m.count_both), double(m.count_a + m.count_b));
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
