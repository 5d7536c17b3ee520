// Quantification from the lung and lesion label maps: one parallel pass over the voxels gathers, per lung,
// voxel counts, lesion counts by type, HU sums and an HU histogram, and the per-slice counts (see quantify.h).
#include "pulmo/quantify.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

#include "pulmo/error.h"
#include "pulmo/labels.h"

namespace pulmo {

// ct_severity_score() is eval's (src/eval/segmentation.cpp): the same score for agreement studies and reports.

int mosmed_category(double p) {
  if (std::isnan(p)) return -1;
  if (p <= 0) return 0;
  if (p < 25) return 1;
  if (p < 50) return 2;
  if (p < 75) return 3;
  return 4;
}

std::vector<HuBand> default_hu_bands() {
  const double inf = std::numeric_limits<double>::infinity();
  return {{"emphysema_like", -inf, -950},
          {"well_aerated", -950, -700},
          {"ground_glass_range", -700, -300},
          {"consolidation_range", -300, 50}};
}

namespace {

constexpr int64_t kHuOffset = 32768;   // histogram bin of an integer HU value h: h + kHuOffset
constexpr int64_t kHuBins = 65536;     // int16 range
constexpr double kSumShift = -1000.0;  // HU sums are taken of (h - shift): lung HU sit near it

// Everything one chunk of slices contributes; merged under a mutex.
struct Tally {
  int64_t lung[2] = {0, 0};                // [right, left]
  int64_t lesion[2][2] = {{0, 0}, {0, 0}};  // [lung][ground-glass, consolidation]
  double sum[2] = {0, 0}, sum_sq[2] = {0, 0};
  std::vector<int64_t> hist[2];
  bool integer_hu = true;                  // every lung HU an integer in int16 range
  bool bad_label = false;
  Tally() : hist{std::vector<int64_t>(kHuBins, 0), std::vector<int64_t>(kHuBins, 0)} {}

  void merge(const Tally& o) {
    for (int r = 0; r < 2; ++r) {
      lung[r] += o.lung[r];
      lesion[r][0] += o.lesion[r][0];
      lesion[r][1] += o.lesion[r][1];
      sum[r] += o.sum[r];
      sum_sq[r] += o.sum_sq[r];
      for (int64_t b = 0; b < kHuBins; ++b) hist[r][b] += o.hist[r][b];
    }
    integer_hu = integer_hu && o.integer_hu;
    bad_label = bad_label || o.bad_label;
  }
};

// The 1 HU bin [b, b + 1) of a value; values beyond the int16 range go to the end bins.
// A NaN goes to the bin of 0 HU.
int64_t hu_bin(float h) {
  if (std::isnan(h)) return kHuOffset;
  return static_cast<int64_t>(std::clamp(std::floor(h), -32768.f, 32767.f)) + kHuOffset;
}

// A label map as uint8 without copying one that already is; Error(Mismatch) for values other than 0, 1, 2.
at::Tensor label_bytes(const Volume& labels, const char* what) {
  if (labels.voxels.scalar_type() == at::kByte) return labels.voxels.contiguous();
  const at::Tensor& v = labels.voxels;
  if (((v != 0) & (v != 1) & (v != 2)).any().item<bool>())
    throw Error(ExitCode::Mismatch, std::string("quantify: the ") + what + " label map holds values other than 0, 1, 2");
  return v.to(at::kByte).contiguous();
}

void check_inputs(const Volume& ct, const Volume& lungs, const Volume& lesions) {
  ct.check();
  lungs.check();
  if (!lungs.geometry.same_grid_as(ct.geometry))
    throw Error(ExitCode::Mismatch, "quantify: the lung label map is not on the CT's grid (CT " + ct.geometry.describe() +
                                        "; lungs " + lungs.geometry.describe() + ")");
  if (lesions.voxels.defined()) {
    lesions.check();
    if (!lesions.geometry.same_grid_as(ct.geometry))
      throw Error(ExitCode::Mismatch, "quantify: the lesion label map is not on the CT's grid (CT " +
                                          ct.geometry.describe() + "; lesions " + lesions.geometry.describe() + ")");
  }
}

// The pass over slices [k0, k1): per-slice counts go straight into the curve (each slice has one writer).
void tally_slices(const float* hu, const uint8_t* lung, const uint8_t* lesion, int64_t slice_voxels, int64_t k0,
                  int64_t k1, Tally& t, std::vector<int64_t>& slice_lung, std::vector<int64_t>& slice_lesion) {
  for (int64_t k = k0; k < k1; ++k) {
    int64_t n_lung = 0, n_lesion = 0;
    for (int64_t i = k * slice_voxels, end = i + slice_voxels; i < end; ++i) {
      const uint8_t l = lung[i], s = lesion ? lesion[i] : 0;
      if ((l > 2) | (s > 2)) t.bad_label = true;
      if (l == 0 || l > 2) continue;
      const int r = l - 1;
      const float h = hu[i];
      ++t.lung[r];
      ++n_lung;
      t.sum[r] += h - kSumShift;
      t.sum_sq[r] += (h - kSumShift) * (h - kSumShift);
      ++t.hist[r][hu_bin(h)];
      if (h != std::floor(h) || h < -32768.f || h > 32767.f) t.integer_hu = false;
      if (s == labels::kGroundGlass || s == labels::kConsolidation) {
        ++t.lesion[r][s - 1];
        ++n_lesion;
      }
    }
    slice_lung[k] = n_lung;
    slice_lesion[k] = n_lesion;
  }
}

// The HU of one region in 1 HU bins. Integer HU: the bins are the values. Fractional HU: the sorted values of
// the few bins that percentiles and band limits fall in are added (add_bin_values), so answers stay exact.
class Distribution {
 public:
  Distribution(const std::vector<const std::vector<int64_t>*>& hists, bool integer_hu)
      : cum_(kHuBins + 1, 0), integer_(integer_hu) {
    for (int64_t b = 0; b < kHuBins; ++b) {
      int64_t c = 0;
      for (const auto* h : hists) c += (*h)[b];
      cum_[b + 1] = cum_[b] + c;
    }
    count_ = cum_.back();
  }
  int64_t count() const { return count_; }
  // The bin holding the k-th smallest value (0-based).
  int64_t bin_of_rank(int64_t k) const { return std::upper_bound(cum_.begin(), cum_.end(), k) - cum_.begin() - 1; }
  static int64_t bin_of_limit(double x) { return hu_bin(static_cast<float>(std::clamp(x, -1e6, 1e6))); }
  // Bins whose values percentile(p) and count_below(band limits) read.
  std::vector<int64_t> bins_read(const QuantifyOptions& o) const {
    std::vector<int64_t> bins;
    for (double p : o.percentiles)
      if (count_ > 0) {
        const int64_t lo = rank_below(p);
        bins.push_back(bin_of_rank(lo));
        if (lo + 1 < count_) bins.push_back(bin_of_rank(lo + 1));
      }
    for (const HuBand& b : o.bands)
      for (double x : {b.lo, b.hi})
        if (std::isfinite(x)) bins.push_back(bin_of_limit(x));
    return bins;
  }
  void add_bin_values(int64_t bin, const std::vector<float>& values) {
    std::vector<float>& v = values_[bin];
    if (values.empty()) return;
    v.insert(v.end(), values.begin(), values.end());
    std::sort(v.begin(), v.end());
  }
  // The k-th smallest value (0-based).
  double value_at(int64_t k) const {
    const int64_t b = bin_of_rank(k);
    return integer_ ? double(b - kHuOffset) : double(values_.at(b)[k - cum_[b]]);
  }
  // Number of values < x.
  int64_t count_below(double x) const {
    if (x == -std::numeric_limits<double>::infinity()) return 0;
    if (x == std::numeric_limits<double>::infinity()) return count_;
    if (integer_) return cum_[static_cast<size_t>(std::clamp(std::ceil(x) + kHuOffset, 0.0, double(kHuBins)))];
    const int64_t b = bin_of_limit(x);
    const std::vector<float>& v = values_.at(b);
    return cum_[b] + (std::lower_bound(v.begin(), v.end(), x) - v.begin());
  }
  // numpy's default percentile: linear interpolation between order statistics.
  double percentile(double percent) const {
    const int64_t lo = rank_below(percent);
    const double frac = std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(count_ - 1) - double(lo);
    double v = value_at(lo);
    if (frac > 0 && lo + 1 < count_) v += frac * (value_at(lo + 1) - v);
    return v;
  }

 private:
  int64_t rank_below(double percent) const {
    return static_cast<int64_t>(std::floor(std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(count_ - 1)));
  }
  std::vector<int64_t> cum_;  // cum_[b] = values in bins < b
  bool integer_;
  int64_t count_ = 0;
  std::map<int64_t, std::vector<float>> values_;  // fractional HU: bin -> its values, sorted
};

// Fractional HU: the values of each lung in the bins marked in `wanted`, in one pass.
std::array<std::map<int64_t, std::vector<float>>, 2> gather_bins(const float* hu, const uint8_t* lung, int64_t n,
                                                                  const std::vector<bool>& wanted) {
  std::array<std::map<int64_t, std::vector<float>>, 2> values;
  for (int64_t i = 0; i < n; ++i) {
    if (lung[i] != labels::kRightLung && lung[i] != labels::kLeftLung) continue;
    const int64_t b = hu_bin(hu[i]);
    if (wanted[b]) values[lung[i] - 1][b].push_back(hu[i]);
  }
  return values;
}

// Mean, sample sd, percentiles and band shares of one region; an empty region has every figure 0.
Densitometry densitometry(const Distribution& d, double sum, double sum_sq, const QuantifyOptions& o) {
  Densitometry out;
  const auto n = static_cast<double>(d.count());
  for (const HuBand& band : o.bands) {
    const double share = n > 0 ? 100.0 * double(d.count_below(band.hi) - d.count_below(band.lo)) / n : 0.0;
    out.band_percent.emplace_back(band.name, std::max(0.0, share));
  }
  for (double p : o.percentiles) out.percentiles.emplace_back(p, n > 0 ? d.percentile(p) : 0.0);
  if (n == 0) return out;
  const double shifted_mean = sum / n;
  out.mean_hu = shifted_mean + kSumShift;
  out.std_hu = n > 1 ? std::sqrt(std::max(0.0, (sum_sq - n * shifted_mean * shifted_mean) / (n - 1))) : 0.0;
  return out;
}

void fill_volumes(RegionQuantification& r, int64_t lung, int64_t ggo, int64_t cons, double voxel_ml) {
  r.lung_voxels = lung;
  r.lung_ml = double(lung) * voxel_ml;
  r.ground_glass_ml = double(ggo) * voxel_ml;
  r.consolidation_ml = double(cons) * voxel_ml;
  r.lesion_ml = double(ggo + cons) * voxel_ml;
  r.involved_percent = lung > 0 ? 100.0 * double(ggo + cons) / double(lung) : 0.0;
  r.severity_score = ct_severity_score(r.involved_percent);
}

// Slice positions along the slice normal, the normal pointing towards L, P or S (LPS z for axial slices).
std::vector<SliceInvolvement> slice_curve(const Geometry& g, const std::vector<int64_t>& lung,
                                          const std::vector<int64_t>& lesion) {
  Vec3 normal = g.axis_direction(2);
  int dominant = 0;
  for (int a = 1; a < 3; ++a)
    if (std::abs(normal[a]) > std::abs(normal[dominant])) dominant = a;
  if (normal[dominant] < 0)
    for (double& c : normal) c = -c;
  std::vector<SliceInvolvement> curve(lung.size());
  for (size_t k = 0; k < lung.size(); ++k) {
    const Vec3 p = g.index_to_physical({0, 0, double(k)});
    curve[k].index = static_cast<int64_t>(k);
    curve[k].position_mm = p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2];
    curve[k].lung_ml = double(lung[k]) * g.voxel_volume_ml();
    curve[k].lesion_ml = double(lesion[k]) * g.voxel_volume_ml();
  }
  return curve;
}

}  // namespace

Quantification quantify(const Volume& ct, const Volume& lungs, const Volume& lesions, const QuantifyOptions& options) {
  check_inputs(ct, lungs, lesions);
  const Geometry& g = ct.geometry;
  const at::Tensor hu_t = ct.voxels.to(at::kFloat).contiguous();
  const at::Tensor lung_t = label_bytes(lungs, "lung");
  const at::Tensor lesion_t = lesions.voxels.defined() ? label_bytes(lesions, "lesion") : at::Tensor();
  const float* hu = hu_t.data_ptr<float>();
  const uint8_t* lung = lung_t.data_ptr<uint8_t>();
  const uint8_t* lesion = lesion_t.defined() ? lesion_t.data_ptr<uint8_t>() : nullptr;
  const int64_t nz = g.size[2], slice_voxels = g.size[0] * g.size[1];

  Tally total;
  std::mutex merge_mutex;
  std::vector<int64_t> slice_lung(nz, 0), slice_lesion(nz, 0);
  at::parallel_for(0, nz, 1, [&](int64_t k0, int64_t k1) {
    Tally t;
    tally_slices(hu, lung, lesion, slice_voxels, k0, k1, t, slice_lung, slice_lesion);
    std::lock_guard<std::mutex> lock(merge_mutex);
    total.merge(t);
  });
  if (total.bad_label)
    throw Error(ExitCode::Mismatch, "quantify: a label map holds values other than 0, 1, 2 (lungs: 1 right, 2 left; "
                                    "lesions: 1 ground-glass, 2 consolidation)");

  Quantification q;
  q.bands = options.bands;
  std::vector<Distribution> dist;
  for (int r = 0; r < 3; ++r)
    dist.emplace_back(r == kTotal ? std::vector<const std::vector<int64_t>*>{&total.hist[0], &total.hist[1]}
                                  : std::vector<const std::vector<int64_t>*>{&total.hist[r]},
                      total.integer_hu);
  if (!total.integer_hu) {
    std::vector<bool> wanted(kHuBins, false);
    for (const Distribution& d : dist)
      for (int64_t b : d.bins_read(options)) wanted[b] = true;
    const auto values = gather_bins(hu, lung, g.num_voxels(), wanted);
    for (int r = 0; r < 2; ++r)
      for (const auto& [bin, v] : values[r]) {
        dist[r].add_bin_values(bin, v);
        dist[kTotal].add_bin_values(bin, v);
      }
    for (Distribution& d : dist)  // bins with no value of this region: empty, never read
      for (int64_t b : d.bins_read(options)) d.add_bin_values(b, {});
  }
  const char* names[3] = {"right", "left", "total"};
  const double voxel_ml = g.voxel_volume_ml();
  for (int r = 0; r < 3; ++r) {
    RegionQuantification& region = q.regions[r];
    region.name = names[r];
    const bool both = r == kTotal;
    const int64_t n_lung = both ? total.lung[0] + total.lung[1] : total.lung[r];
    const int64_t ggo = both ? total.lesion[0][0] + total.lesion[1][0] : total.lesion[r][0];
    const int64_t cons = both ? total.lesion[0][1] + total.lesion[1][1] : total.lesion[r][1];
    fill_volumes(region, n_lung, ggo, cons, voxel_ml);
    const double sum = both ? total.sum[0] + total.sum[1] : total.sum[r];
    const double sum_sq = both ? total.sum_sq[0] + total.sum_sq[1] : total.sum_sq[r];
    region.density = densitometry(dist[r], sum, sum_sq, options);
  }
  q.slices = slice_curve(g, slice_lung, slice_lesion);
  q.lesions_computed = lesions.voxels.defined();
  return q;
}

}  // namespace pulmo
