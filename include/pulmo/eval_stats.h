// Statistics across cases: quantification agreement (involved percentage, CT severity score), classification
// metrics (prognosis), seeded bootstrap confidence intervals and subgroup (bias) tables.
// Pure functions of plain vectors; definitions in docs/eval.md.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pulmo {

// ---- quantification agreement ---------------------------------------------------------------------------

// Agreement of per-case involved percentages (reference vs prediction; cases with a NaN are left out).
struct Agreement {
  int n = 0;                                  // cases used
  double mae = 0;                             // mean |prediction - reference| (percentage points)
  double bias = 0, sd = 0;                    // Bland-Altman: mean and sample SD of (prediction - reference)
  double loa_low = 0, loa_high = 0;           // bias -/+ 1.96 sd
  std::array<std::array<int, 5>, 5> severity_confusion{};  // [reference score - 1][predicted score - 1]
  double severity_accuracy = 0;               // fraction of cases with the same score
  double severity_kappa = 0;                  // linearly weighted Cohen's kappa of the scores (NaN if undefined)
};
Agreement quantification_agreement(const std::vector<double>& reference_percent,
                                   const std::vector<double>& predicted_percent);

// Cohen's kappa with linear weights w_ij = 1 - |i - j| / (k - 1) of a k x k confusion matrix (rows: rater 1).
// NaN when the expected agreement is 1 (both raters always give the same single category).
double linear_weighted_kappa(const std::vector<std::vector<double>>& confusion);

// ---- classification (prognosis) ------------------------------------------------------------------------

struct ClassificationMetrics {
  int n = 0, positives = 0;
  double threshold = 0.5;                     // score >= threshold is predicted positive
  int tp = 0, fp = 0, tn = 0, fn = 0;
  double sensitivity = 0, specificity = 0, balanced_accuracy = 0;
  double roc_auc = 0;                         // Mann-Whitney, ties count 1/2; NaN with one class only
  double pr_auc = 0;                          // average precision (step-wise, as scikit-learn); NaN without positives
  double brier = 0;                           // mean (score - label)^2; scores must be probabilities
};
// labels 0/1, scores in any range (Brier only makes sense for probabilities). Error(Mismatch) for different
// lengths or labels other than 0/1, Error(NoData) when empty.
ClassificationMetrics classification_metrics(const std::vector<int>& labels, const std::vector<double>& scores,
                                             double threshold);
double roc_auc(const std::vector<int>& labels, const std::vector<double>& scores);
double average_precision(const std::vector<int>& labels, const std::vector<double>& scores);
// Threshold maximising Youden's J = sensitivity + specificity - 1 over the observed scores (the smallest such
// score; "score >= threshold" is positive). Choose it on validation data, then apply it to the test data.
double youden_threshold(const std::vector<int>& labels, const std::vector<double>& scores);

// ---- bootstrap ------------------------------------------------------------------------------------------

struct BootstrapOptions {
  int resamples = 1000;
  uint64_t seed = 20201;                      // same seed, same intervals
  double confidence = 0.95;
};

struct Interval {
  double estimate = 0;                        // the statistic on all cases
  double low = 0, high = 0;                   // percentile bootstrap interval (NaN when no resample was finite)
  int resamples_used = 0;                     // resamples whose statistic was not NaN
};

// The statistic of a set of case indices (indices may repeat).
using CaseStatistic = std::function<double(const std::vector<int>& cases)>;

// Percentile bootstrap of `statistic` over n cases. When `clusters` is given (one id per case, e.g. the
// patient), whole clusters are resampled, so that a patient's cases stay together.
Interval bootstrap_interval(int n, const CaseStatistic& statistic, const BootstrapOptions& options = {},
                            const std::vector<std::string>& clusters = {});

// Mean of values[cases], ignoring NaN (NaN when none is finite); infinities are kept.
double mean_of(const std::vector<double>& values, const std::vector<int>& cases);

// ---- subgroups ------------------------------------------------------------------------------------------

// Age bin label of `age` with bin edges (ascending): edges {40, 60} -> "<40", "40-59", ">=60"; NaN -> "unknown".
std::string age_bin(double age, const std::vector<double>& edges);

// The subgroup of a case for one attribute: its value ("unknown" when empty); for the attribute "age" (any
// case) the age bin of the value (a value that is not a number: "unknown").
std::string subgroup_of(const std::string& attribute, const std::string& value, const std::vector<double>& age_edges);

}  // namespace pulmo
