// Loading a case (image + adapted label maps) and checking a whole manifest.
#include <ATen/ATen.h>

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

Volume read_labels(const std::string& path, const Volume& image, const std::string& what) {
  Volume v = read_volume(path);
  if (!v.geometry.same_grid_as(image.geometry)) {
    const bool flipped = v.geometry.same_physical_box_as(image.geometry);
    throw Error(ExitCode::Mismatch, what + " '" + path + "' is on another grid than the image: " + v.geometry.describe() +
                                        " vs " + image.geometry.describe() +
                                        (flipped ? " (same box, axes stored in another order; resample it onto the image grid)" : ""));
  }
  return v;
}

}  // namespace

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
    if (!c.lesions.empty()) {
      out.lesions = adapt_lesions(read_labels(c.lesions, out.image, "lesion labels"), c.convention);
      out.has_lesions = true;
    }
    return out;
  } catch (const Error& e) {
    throw e.with_context("case '" + c.case_id + "'");
  }
}

namespace {

void check_labels(const Case& c, const std::string& path, LabelRole role, const Volume* image,
                  std::vector<ManifestProblem>* problems) {
  const std::string what = role == LabelRole::Lungs ? "lungs" : "lesions";
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    problems->push_back({c.case_id, what + " file '" + path + "' does not exist"});
    return;
  }
  try {
    const Volume v = image ? read_labels(path, *image, what) : read_volume(path);
    if (role == LabelRole::Lungs && c.convention != "covid19-ct-seg-combined")
      (void)adapt_lungs(v, c.convention);
    else
      (void)adapt_lesions(v, c.convention);
  } catch (const Error& e) {
    problems->push_back({c.case_id, what + ": " + e.what()});
  }
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
  if (!c.lungs.empty()) check_labels(c, c.lungs, LabelRole::Lungs, have_image ? &image : nullptr, problems);
  if (!c.lesions.empty()) check_labels(c, c.lesions, LabelRole::Lesions, have_image ? &image : nullptr, problems);
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
