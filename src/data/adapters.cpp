// Label-convention adapters: public datasets' label maps -> pulmo's labels (labels.h).
#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/labels.h"

namespace pulmo {

namespace {

using labels::kConsolidation;
using labels::kGroundGlass;
using labels::kLeftLung;
using labels::kRightLung;

constexpr int kSplit = 255;  // "lung, side unknown": split at the mediastinal gap

struct Convention {
  const char* name;
  std::vector<std::pair<int, int>> lungs, lesions;  // (value in the file, pulmo label); 0 -> 0 implied
  bool lesion_types = true;
  int max_other = 0;  // values 1..max_other not listed map to background (TotalSegmentator's other organs)
};

const std::vector<std::pair<int, int>> kPulmoLesions = {{1, kGroundGlass}, {2, kConsolidation}};
const std::vector<std::pair<int, int>> kOneLesion = {{1, kGroundGlass}};
const std::vector<std::pair<int, int>> kBinaryLungs = {{1, kSplit}};

const std::vector<Convention>& conventions() {
  static const std::vector<Convention> table = {
      {"pulmo", {{1, kRightLung}, {2, kLeftLung}}, kPulmoLesions},
      {"covid19-ct-seg", {{1, kLeftLung}, {2, kRightLung}}, kOneLesion, false},
      {"covid19-ct-seg-combined", {{1, kLeftLung}, {2, kRightLung}, {3, kSplit}}, kOneLesion, false},
      {"medseg", kBinaryLungs, {{1, kGroundGlass}, {2, kConsolidation}, {3, 0}}},
      {"mosmed", kBinaryLungs, kOneLesion, false},
      {"covid19-20", kBinaryLungs, kOneLesion, false},
      {"lungmask", {{1, kRightLung}, {2, kLeftLung}}, kPulmoLesions},
      {"lungmask-lobes", {{1, kLeftLung}, {2, kLeftLung}, {3, kRightLung}, {4, kRightLung}, {5, kRightLung}}, kPulmoLesions},
      {"totalsegmentator", {{10, kLeftLung}, {11, kLeftLung}, {12, kRightLung}, {13, kRightLung}, {14, kRightLung}},
       kPulmoLesions, true, 117},
      {"binary", kBinaryLungs, kOneLesion, false},
  };
  return table;
}

const Convention& find_convention(const std::string& name) {
  const std::string n = name.empty() ? "pulmo" : name;
  for (const Convention& c : conventions())
    if (n == c.name) return c;
  std::string all;
  for (const Convention& c : conventions()) all += std::string(all.empty() ? "" : ", ") + c.name;
  throw Error(ExitCode::BadConfig, "unknown label convention '" + name + "'; valid: " + all);
}

// Value -> label table over 0..255 (-1 = not allowed).
std::array<int, 256> lookup(const Convention& c, LabelRole role) {
  std::array<int, 256> lut;
  lut.fill(-1);
  lut[0] = 0;
  if (role == LabelRole::Lungs)
    for (int v = 1; v <= c.max_other; ++v) lut[v] = 0;
  for (const auto& [value, label] : role == LabelRole::Lungs ? c.lungs : c.lesions) lut[value] = label;
  return lut;
}

// Applies `lut` to a label map; Mismatch lists values outside it.
at::Tensor apply_lut(const Volume& v, const std::array<int, 256>& lut, const std::string& what) {
  const at::Tensor x = v.voxels;
  const bool integral = !at::isFloatingType(x.scalar_type()) || x.eq(x.round()).all().item<bool>();
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  if (!integral || lo < 0 || hi > 255)
    throw Error(ExitCode::Mismatch, what + ": label values must be integers 0..255, found " + std::to_string(lo) + ".." +
                                        std::to_string(hi) + (integral ? "" : " with fractions"));
  const at::Tensor in = x.to(at::kByte).contiguous();
  at::Tensor out = at::empty_like(in);
  const uint8_t* src = in.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  std::array<int64_t, 256> counts{};
  for (int64_t i = 0, n = in.numel(); i < n; ++i) {
    ++counts[src[i]];
    dst[i] = static_cast<uint8_t>(lut[src[i]] < 0 ? 0 : lut[src[i]]);
  }
  std::string bad;
  for (int value = 0; value < 256; ++value)
    if (counts[value] > 0 && lut[value] < 0) bad += (bad.empty() ? "" : ", ") + std::to_string(value);
  if (!bad.empty()) throw Error(ExitCode::Mismatch, what + ": label value(s) " + bad + " not allowed");
  return out;
}

// Resolves kSplit voxels to right / left with split_lungs_left_right over all lung voxels.
Volume resolve_split(const Volume& like, at::Tensor mapped) {
  if (!mapped.eq(kSplit).any().item<bool>()) return like.with_voxels(mapped);
  const Volume sides = split_lungs_left_right(like.with_voxels(mapped.gt(0).to(at::kByte)));
  return like.with_voxels(at::where(mapped.eq(kSplit), sides.voxels, mapped));
}

}  // namespace

std::vector<std::string> label_conventions() {
  std::vector<std::string> names;
  for (const Convention& c : conventions()) names.push_back(c.name);
  return names;
}

bool is_label_convention(const std::string& name) {
  if (name.empty()) return true;
  for (const Convention& c : conventions())
    if (name == c.name) return true;
  return false;
}

std::vector<int> allowed_label_values(const std::string& convention, LabelRole role) {
  const auto lut = lookup(find_convention(convention), role);
  std::vector<int> values;
  for (int v = 0; v < 256; ++v)
    if (lut[v] >= 0) values.push_back(v);
  return values;
}

bool lesion_types_known(const std::string& convention) { return find_convention(convention).lesion_types; }

Volume adapt_lungs(const Volume& labels, const std::string& convention) {
  const Convention& c = find_convention(convention);
  at::Tensor mapped = apply_lut(labels, lookup(c, LabelRole::Lungs), std::string("lung labels (") + c.name + ")");
  return resolve_split(labels, mapped);
}

Volume adapt_lesions(const Volume& labels, const std::string& convention) {
  const Convention& c = find_convention(convention);
  if (std::string(c.name) == "covid19-ct-seg-combined") {
    Volume lungs, lesions;
    adapt_combined(labels, &lungs, &lesions);
    return lesions;
  }
  return labels.with_voxels(apply_lut(labels, lookup(c, LabelRole::Lesions), std::string("lesion labels (") + c.name + ")"));
}

void adapt_combined(const Volume& labels, Volume* lungs, Volume* lesions) {
  *lungs = adapt_lungs(labels, "covid19-ct-seg-combined");
  *lesions = labels.with_voxels(labels.voxels.eq(3).to(at::kByte) * kGroundGlass);
}

Volume split_lungs_left_right(const Volume& binary) {
  const Geometry& g = binary.geometry;
  // The index axis that runs most nearly along LPS x (patient right -> left).
  int axis = 0;
  for (int a = 1; a < 3; ++a)
    if (std::fabs(g.direction[a]) > std::fabs(g.direction[axis])) axis = a;
  const bool towards_left = g.direction[axis] > 0;
  const at::Tensor lung = binary.voxels.gt(0);
  const int dim = 2 - axis;  // tensor [z, y, x]
  std::vector<int64_t> other;
  for (int d = 0; d < 3; ++d)
    if (d != dim) other.push_back(d);
  const at::Tensor profile_t = lung.sum(other).to(at::kLong).contiguous();
  const int64_t* profile = profile_t.data_ptr<int64_t>();
  const int64_t n = profile_t.numel();
  int64_t first = 0, last = n - 1;
  while (first < n && profile[first] == 0) ++first;
  while (last >= 0 && profile[last] == 0) --last;
  if (first > last) return binary.with_voxels(at::zeros_like(binary.voxels, at::kByte));
  // The emptiest plane in the middle half of the lungs' extent (ties: nearest the middle).
  const int64_t span = last - first, lo = first + span / 4, hi = last - span / 4;
  const double middle = 0.5 * (first + last);
  int64_t cut = lo;
  for (int64_t c = lo; c <= hi; ++c)
    if (profile[c] < profile[cut] || (profile[c] == profile[cut] && std::fabs(c - middle) < std::fabs(cut - middle))) cut = c;
  std::vector<int64_t> shape(3, 1);
  shape[dim] = n;
  const at::Tensor position = at::arange(n, at::kLong).reshape(shape);
  const at::Tensor low_side = position.le(cut).expand(lung.sizes());  // smaller index along the axis
  const uint8_t low_label = towards_left ? kRightLung : kLeftLung, high_label = towards_left ? kLeftLung : kRightLung;
  const at::Tensor sides = at::where(low_side, at::full({}, low_label, at::kByte), at::full({}, high_label, at::kByte));
  return binary.with_voxels(at::where(lung, sides, at::zeros({}, at::kByte)));
}

}  // namespace pulmo
