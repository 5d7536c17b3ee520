// Loading a case (image + adapted label maps) and checking a whole manifest.
#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/io.h"

namespace fs = std::filesystem;

namespace pulmo {

namespace {

bool declared_windowed(const Case& c) {
  const auto it = c.attributes.find("intensity");
  return it != c.attributes.end() && it->second == "windowed";
}

bool looks_windowed(const Volume& image) {
  return image.voxels.min().item<double>() >= 0 && image.voxels.max().item<double>() <= 255;
}

// `labels` stored with its axes permuted or reversed relative to `grid` (the same voxels in another
// storage order, e.g. LAS vs LPS): the voxels reordered onto `grid`. Undefined when it is not such a case.
Volume reorder_onto(const Volume& labels, const Geometry& grid) {
  const Geometry& g = labels.geometry;
  int from[3];
  bool flip[3];
  for (int a = 0; a < 3; ++a) {  // target axis a <- label axis from[a]
    from[a] = -1;
    const Vec3 t = grid.axis_direction(a);
    for (int b = 0; b < 3; ++b) {
      const Vec3 d = g.axis_direction(b);
      const double dot = t[0] * d[0] + t[1] * d[1] + t[2] * d[2];
      if (std::fabs(std::fabs(dot) - 1.0) < 1e-4 && g.size[b] == grid.size[a] && std::fabs(g.spacing_mm[b] - grid.spacing_mm[a]) < 1e-4) {
        from[a] = b;
        flip[a] = dot < 0;
      }
    }
    if (from[a] < 0) return {};
  }
  // Tensor dims are [z, y, x]: tensor dim of ITK axis a is 2 - a.
  at::Tensor t = labels.voxels.permute({2 - from[2], 2 - from[1], 2 - from[0]});
  std::vector<int64_t> dims;
  for (int a = 0; a < 3; ++a)
    if (flip[a]) dims.push_back(2 - a);
  if (!dims.empty()) t = t.flip(dims);
  Volume out;
  out.geometry = grid;
  out.voxels = t.contiguous();
  // Accept only when opposite corner voxels keep their physical positions.
  for (int corner = 0; corner < 2; ++corner) {
    Vec3 target{}, source{};
    for (int a = 0; a < 3; ++a) {
      target[a] = corner ? static_cast<double>(grid.size[a] - 1) : 0.0;
      source[from[a]] = flip[a] ? static_cast<double>(grid.size[a] - 1) - target[a] : target[a];
    }
    const Vec3 p = grid.index_to_physical(target), q = g.index_to_physical(source);
    if (std::hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]) > 1e-2) return {};
  }
  return out;
}

Volume read_labels(const std::string& path, const Volume& image, const std::string& what) {
  Volume v = read_volume(path);
  if (v.voxels.is_floating_point() && !at::isfinite(v.voxels).all().item<bool>())
    throw Error(ExitCode::Mismatch, what + " '" + path + "' holds NaN or infinite values; a label map holds integers");
  return align_labels(v, image.geometry, what + " '" + path + "'");
}

}  // namespace

Volume align_labels(const Volume& labels, const Geometry& grid, const std::string& what) {
  if (labels.geometry.same_grid_as(grid)) return labels;
  if (labels.geometry.same_physical_box_as(grid)) {
    Volume reordered = reorder_onto(labels, grid);
    if (reordered.voxels.defined()) return reordered;
  }
  throw Error(ExitCode::Mismatch, what + " is on another grid than the image: " + labels.geometry.describe() + " vs " +
                                      grid.describe());
}

LabelledCase load_case(const Case& c) {
  try {
    if (!is_label_convention(c.convention)) (void)allowed_label_values(c.convention, LabelRole::Lungs);  // throws BadConfig
    LabelledCase out;
    out.image = read_volume(c.image);
    out.intensity_is_hu = !looks_windowed(out.image);
    for (const auto& w : hu_plausibility_warnings(out.image)) out.warnings.push_back(w);
    out.lesion_types_known = lesion_types_known(c.convention);
    if (c.convention == "covid19-ct-seg-combined") {
      if (c.lungs.empty()) throw Error(ExitCode::BadConfig, "convention covid19-ct-seg-combined needs the combined file in 'lungs'");
      adapt_combined(read_labels(c.lungs, out.image, "combined labels"), &out.lungs, &out.lesions);
      out.has_lungs = out.has_lesions = true;
      return out;
    }
    if (!c.lungs.empty()) {
      out.lungs = adapt_lungs(read_labels(c.lungs, out.image, "lung labels"), c.convention);
      out.has_lungs = true;
    }
    if (c.lesions == kLesionFree) {
      out.lesions = out.image.with_voxels(at::zeros_like(out.image.voxels, at::kByte));
      out.has_lesions = true;
    } else if (!c.lesions.empty()) {
      out.lesions = adapt_lesions(read_labels(c.lesions, out.image, "lesion labels"), c.convention);
      out.has_lesions = true;
    }
    return out;
  } catch (const Error& e) {
    throw e.with_context("case '" + c.case_id + "'");
  }
}

namespace {

// The adapted label map, or an undefined Volume after recording the problem.
Volume check_labels(const Case& c, const std::string& path, LabelRole role, const Volume* image,
                    std::vector<ManifestProblem>* problems) {
  const std::string what = role == LabelRole::Lungs ? "lungs" : "lesions";
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    problems->push_back({c.case_id, what + " file '" + path + "' does not exist"});
    return {};
  }
  try {
    const Volume v = image ? read_labels(path, *image, what) : read_volume(path);
    if (role == LabelRole::Lungs && c.convention != "covid19-ct-seg-combined") return adapt_lungs(v, c.convention);
    return adapt_lesions(v, c.convention);
  } catch (const Error& e) {
    problems->push_back({c.case_id, what + ": " + e.what()});
  }
  return {};
}

void check_case(const Case& c, std::vector<ManifestProblem>* problems, std::vector<ManifestProblem>* warnings) {
  if (c.patient_id.empty()) problems->push_back({c.case_id, "no patient_id (needed for patient-level splits)"});
  if (!is_label_convention(c.convention)) {
    std::string all;
    for (const auto& n : label_conventions()) all += (all.empty() ? "" : ", ") + n;
    problems->push_back({c.case_id, "unknown convention '" + c.convention + "' (valid: " + all + ")"});
    return;
  }
  if (c.image.empty()) {
    problems->push_back({c.case_id, "no image"});
    return;
  }
  std::error_code ec;
  Volume image;
  bool have_image = false;
  if (!fs::exists(c.image, ec)) {
    problems->push_back({c.case_id, "image '" + c.image + "' does not exist"});
  } else {
    try {
      image = read_volume(c.image);
      have_image = true;
      for (const auto& w : hu_plausibility_warnings(image))
        (declared_windowed(c) ? warnings : problems)->push_back({c.case_id, "image: " + w});
    } catch (const Error& e) {
      problems->push_back({c.case_id, std::string("image: ") + e.what()});
    }
  }
  if (c.convention == "covid19-ct-seg-combined" && c.lungs.empty())
    problems->push_back({c.case_id, "convention covid19-ct-seg-combined needs the combined label file in 'lungs'"});
  Volume lungs, lesions;
  if (!c.lungs.empty()) lungs = check_labels(c, c.lungs, LabelRole::Lungs, have_image ? &image : nullptr, problems);
  if (!c.lesions.empty() && c.lesions != kLesionFree) lesions = check_labels(c, c.lesions, LabelRole::Lesions, have_image ? &image : nullptr, problems);
  if (lungs.voxels.defined() && lesions.voxels.defined() && c.convention != "covid19-ct-seg-combined" &&
      lungs.geometry.same_grid_as(lesions.geometry)) {
    const int64_t outside = lesions.voxels.gt(0).logical_and(lungs.voxels.eq(0)).sum().item<int64_t>();
    if (outside > 0)
      warnings->push_back({c.case_id, std::to_string(outside) + " lesion voxel(s) lie outside the lung mask "
                                      "(pulmo counts involvement inside the lungs only)"});
  }
  if (c.lungs.empty() && c.lesions.empty()) warnings->push_back({c.case_id, "no label map (image only)"});
}

}  // namespace

std::vector<ManifestProblem> check_manifest(const Manifest& m, std::vector<ManifestProblem>* warnings,
                                            const std::function<void(int, int)>& progress) {
  std::vector<ManifestProblem> problems, ignored;
  if (!warnings) warnings = &ignored;
  if (m.cases.empty()) problems.push_back({"", "the manifest lists no case"});
  std::map<std::string, int> seen;
  for (size_t i = 0; i < m.cases.size(); ++i) {
    const Case& c = m.cases[i];
    const std::string label = c.case_id.empty() ? "row " + std::to_string(i + 1) : c.case_id;
    if (c.case_id.empty()) problems.push_back({label, "no case_id"});
    else if (seen.count(c.case_id)) problems.push_back({label, "duplicate case_id (first used by case #" + std::to_string(seen[c.case_id] + 1) + ")"});
    else seen[c.case_id] = static_cast<int>(i);
    Case named = c;
    named.case_id = label;
    check_case(named, &problems, warnings);
    if (progress) progress(static_cast<int>(i + 1), static_cast<int>(m.cases.size()));
  }
  return problems;
}

}  // namespace pulmo
