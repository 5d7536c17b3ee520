// Evaluating every case of a manifest, with progress and ETA on stderr.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>

#include "pulmo/error.h"
#include "pulmo/eval_set.h"
#include "pulmo/io.h"

namespace pulmo {

namespace {

Volume read_case_volume(const std::string& path, const std::string& what) {
  try {
    return read_volume(path);
  } catch (const Error& e) {
    throw e.with_context("reading the " + what + " '" + path + "'");
  }
}

// `v` on the reference grid: unchanged, resampled (when allowed), or Error(Mismatch).
Volume on_reference_grid(Volume v, const Volume& reference, bool resample, const std::string& what) {
  if (reference.geometry.same_grid_as(v.geometry)) return v;
  if (!resample)
    throw Error(ExitCode::Mismatch, what + " is on another grid than the reference: " + v.geometry.describe() +
                                        " vs " + reference.geometry.describe() +
                                        " (--resample-prediction resamples it, nearest neighbour)");
  return resample_labels_nearest(v, reference.geometry);
}

double nonzero_ml(const Volume& v) { return v.voxels.ne(0).sum().item<double>() * v.geometry.voxel_volume_ml(); }

CaseResult evaluate_case(const EvalCase& c, const SetOptions& options) {
  CaseResult r;
  r.source = &c;
  const Volume ref = read_case_volume(c.reference, "reference");
  const Volume pred = on_reference_grid(read_case_volume(c.prediction, "prediction"), ref, options.resample_prediction,
                                        "the prediction");
  SegmentationOptions seg = options.segmentation;
  seg.allow_absent = true;  // a healthy case (no lesion in either map) is a both-empty case, not an error
  r.labels = segmentation_metrics(ref, pred, seg);
  if (!c.lung_reference.empty()) {
    const Volume lung_ref = on_reference_grid(read_case_volume(c.lung_reference, "reference lung mask"), ref,
                                              options.resample_prediction, "the reference lung mask");
    const Volume lung_pred =
        c.lung_prediction.empty()
            ? lung_ref
            : on_reference_grid(read_case_volume(c.lung_prediction, "predicted lung mask"), ref,
                                options.resample_prediction, "the predicted lung mask");
    r.involved_ref_percent = involved_percent(nonzero_ml(ref), nonzero_ml(lung_ref));
    r.involved_pred_percent = involved_percent(nonzero_ml(pred), nonzero_ml(lung_pred));
  }
  return r;
}

// Without --labels each case reports the labels present in its own maps, so a case where a label of the
// set is absent from both maps (a healthy case, no lesion anywhere) would drop out of cases.csv and of
// the both-empty count. Give every case every label of the set; an absent one gets the both-empty
// conventions of segmentation_metrics (computed on an empty 1-voxel pair, so the conventions live in one place).
void add_both_empty_labels(std::vector<CaseResult>& results, const SetOptions& options) {
  std::set<int> all;
  for (const CaseResult& r : results)
    for (const LabelMetrics& m : r.labels) all.insert(m.label);
  Geometry g;
  g.size = {1, 1, 1};
  const Volume empty = Volume::filled(g, 0, at::kByte);
  for (CaseResult& r : results) {
    for (int label : all) {
      bool present = false;
      for (const LabelMetrics& m : r.labels) present = present || m.label == label;
      if (present) continue;
      SegmentationOptions seg = options.segmentation;
      seg.labels = {label};
      seg.allow_absent = true;
      const std::vector<LabelMetrics> m = segmentation_metrics(empty, empty, seg);
      r.labels.insert(r.labels.end(), m.begin(), m.end());
    }
    std::sort(r.labels.begin(), r.labels.end(),
              [](const LabelMetrics& a, const LabelMetrics& b) { return a.label < b.label; });
  }
}

}  // namespace

std::vector<CaseResult> evaluate_cases(const EvalManifest& manifest, const SetOptions& options) {
  std::vector<CaseResult> results;
  const auto start = std::chrono::steady_clock::now();
  const size_t n = manifest.cases.size();
  for (size_t i = 0; i < n; ++i) {
    const EvalCase& c = manifest.cases[i];
    try {
      results.push_back(evaluate_case(c, options));
    } catch (const Error& e) {
      throw e.with_context("case '" + c.id + "'");
    }
    if (options.progress) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double eta = elapsed / double(i + 1) * double(n - i - 1);
      char buf[160];
      std::snprintf(buf, sizeof buf, "pulmo: eval %zu/%zu cases (%s), %.1f s elapsed, ETA %.1f s\n", i + 1, n,
                    c.id.c_str(), elapsed, eta);
      std::cerr << buf;
    }
  }
  add_both_empty_labels(results, options);
  return results;
}

}  // namespace pulmo
