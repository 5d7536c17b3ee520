// Evaluating a set of cases from a manifest: per-case metrics, summaries with bootstrap intervals,
// subgroup (bias) tables, and the files `pulmo eval --manifest` writes (docs/eval.md).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pulmo/eval.h"
#include "pulmo/eval_stats.h"

namespace pulmo {

struct EvalCase {
  std::string id;                                  // column "case_id" (or the older "case")
  std::string reference, prediction;               // label maps (paths resolved against the manifest's folder)
  std::string patient;                             // column "patient_id" (or "patient"; "" = its own patient)
  std::string lung_reference, lung_prediction;     // optional lung masks: involved % = lesion / lung volume
  std::map<std::string, std::string> attributes;   // every other column (sex, age, site, scanner, ...)
};

struct EvalManifest {
  std::vector<EvalCase> cases;
  std::vector<std::string> attribute_names;        // in column order
};

// Reads a manifest CSV (header row; columns case, reference, prediction required; patient, lung_reference,
// lung_prediction optional; any other column is an attribute). Error(NotFound) for a missing file,
// Error(BadConfig) for missing columns, ragged rows, empty or duplicate case ids, no cases.
EvalManifest read_eval_manifest(const std::string& path);
// Adds the attribute columns of a CSV keyed by "case_id" or "case" (Error(BadConfig) for unknown case ids / no
// case column).
void merge_attributes(EvalManifest& manifest, const std::string& attributes_csv);

struct SetOptions {
  SegmentationOptions segmentation;
  bool resample_prediction = false;                // else predictions on another grid are an Error(Mismatch)
  BootstrapOptions bootstrap;
  std::vector<double> age_edges{40, 50, 60, 70, 80};  // bins of the "age" attribute
  bool progress = true;                            // a line per case with ETA on stderr
};

struct CaseResult {
  const EvalCase* source = nullptr;
  std::vector<LabelMetrics> labels;
  double involved_ref_percent = kNaN, involved_pred_percent = kNaN;  // when lung masks are given
};

// Evaluates every case; a failing case stops the run with the case id in the message.
std::vector<CaseResult> evaluate_cases(const EvalManifest& manifest, const SetOptions& options);

// Writes cases.csv, summary.json, summary.md and summary.html into `folder` (each atomically).
void write_set_report(const EvalManifest& manifest, const std::vector<CaseResult>& results, const SetOptions& options,
                      const std::string& folder);

// ---- classification (prognosis) sets ----------------------------------------------------------------------

struct ClassificationCase {
  std::string id, patient;                         // columns "case_id", optional "patient_id" (or "case", "patient")
  int label = 0;                                   // column "label": 0 or 1 (the outcome)
  double score = 0;                                // column "score": the predicted probability
  std::map<std::string, std::string> attributes;   // every other column
};
struct ClassificationSet {
  std::vector<ClassificationCase> cases;
  std::vector<std::string> attribute_names;
};
// Reads a CSV of case, label, score [, patient, attributes...]. Error(NotFound) for a missing file,
// Error(BadConfig) for missing columns, labels other than 0/1, scores that are not numbers, no cases.
ClassificationSet read_classification_csv(const std::string& path);

// Writes classification.json and classification.md into `folder`: metrics at `threshold` with bootstrap
// intervals (by patient when given), and per subgroup of every attribute with the best-worst gaps.
// `threshold_source` says where the threshold came from ("fixed", "youden on validation.csv", ...).
void write_classification_report(const ClassificationSet& set, double threshold, const std::string& threshold_source,
                                 const SetOptions& options, const std::string& folder);

}  // namespace pulmo
