// Agreement, classification metrics, bootstrap intervals and age bins (include/pulmo/eval_stats.h).
#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "pulmo/error.h"
#include "pulmo/eval.h"
#include "pulmo/eval_stats.h"

namespace pulmo {

namespace {

void check_binary_labels(const std::vector<int>& labels, const std::vector<double>& scores) {
  if (labels.size() != scores.size())
    throw Error(ExitCode::Mismatch, std::to_string(labels.size()) + " labels but " + std::to_string(scores.size()) + " scores");
  if (labels.empty()) throw Error(ExitCode::NoData, "classification metrics: no case");
  for (int l : labels)
    if (l != 0 && l != 1) throw Error(ExitCode::Mismatch, "classification labels must be 0 or 1, got " + std::to_string(l));
  for (double s : scores)
    if (std::isnan(s)) throw Error(ExitCode::Mismatch, "classification scores must not be NaN");
}

// Percentile (numpy's linear interpolation) of sorted values, q in [0, 1].
double quantile_sorted(const std::vector<double>& v, double q) {
  if (v.empty()) return kNaN;
  const double pos = q * (v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
  if (v[lo] == v[hi]) return v[lo];  // equal neighbours (also two infinities: no inf - inf)
  return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}

}  // namespace

double linear_weighted_kappa(const std::vector<std::vector<double>>& confusion) {
  const size_t k = confusion.size();
  if (k < 2) return kNaN;
  double total = 0;
  std::vector<double> rows(k, 0), cols(k, 0);
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < k; ++j) {
      total += confusion[i][j];
      rows[i] += confusion[i][j];
      cols[j] += confusion[i][j];
    }
  if (total <= 0) return kNaN;
  double po = 0, pe = 0;
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < k; ++j) {
      const double w = 1.0 - std::fabs(double(i) - double(j)) / double(k - 1);
      po += w * confusion[i][j] / total;
      pe += w * rows[i] * cols[j] / (total * total);
    }
  return pe >= 1.0 - 1e-12 ? kNaN : (po - pe) / (1.0 - pe);
}

Agreement quantification_agreement(const std::vector<double>& reference_percent,
                                   const std::vector<double>& predicted_percent) {
  if (reference_percent.size() != predicted_percent.size())
    throw Error(ExitCode::Mismatch, "agreement: " + std::to_string(reference_percent.size()) + " reference values but " +
                                        std::to_string(predicted_percent.size()) + " predicted");
  Agreement a;
  std::vector<double> diff;
  std::vector<std::vector<double>> confusion(5, std::vector<double>(5, 0.0));
  for (size_t i = 0; i < reference_percent.size(); ++i) {
    const double r = reference_percent[i], p = predicted_percent[i];
    if (std::isnan(r) || std::isnan(p)) continue;
    diff.push_back(p - r);
    const int sr = ct_severity_score(r), sp = ct_severity_score(p);
    a.severity_confusion[sr - 1][sp - 1]++;
    confusion[sr - 1][sp - 1] += 1.0;
    if (sr == sp) a.severity_accuracy += 1.0;
  }
  a.n = static_cast<int>(diff.size());
  if (a.n == 0) {
    a.mae = a.bias = a.sd = a.loa_low = a.loa_high = a.severity_accuracy = a.severity_kappa = kNaN;
    return a;
  }
  for (double d : diff) {
    a.mae += std::fabs(d) / a.n;
    a.bias += d / a.n;
  }
  double ss = 0;
  for (double d : diff) ss += (d - a.bias) * (d - a.bias);
  a.sd = a.n > 1 ? std::sqrt(ss / (a.n - 1)) : kNaN;
  a.loa_low = a.bias - 1.96 * a.sd;
  a.loa_high = a.bias + 1.96 * a.sd;
  a.severity_accuracy /= a.n;
  a.severity_kappa = linear_weighted_kappa(confusion);
  return a;
}

double roc_auc(const std::vector<int>& labels, const std::vector<double>& scores) {
  check_binary_labels(labels, scores);
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0, positives = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double mid_rank = 0.5 * (double(i + 1) + double(j));  // ranks i+1 .. j share their mean
    for (size_t k = i; k < j; ++k)
      if (labels[order[k]] == 1) {
        rank_sum += mid_rank;
        positives += 1;
      }
    i = j;
  }
  const double negatives = double(n) - positives;
  if (positives == 0 || negatives == 0) return kNaN;
  return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives);
}

double average_precision(const std::vector<int>& labels, const std::vector<double>& scores) {
  check_binary_labels(labels, scores);
  const size_t n = scores.size();
  const double positives = std::count(labels.begin(), labels.end(), 1);
  if (positives == 0) return kNaN;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  double tp = 0, fp = 0, prev_recall = 0, ap = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) {
      (labels[order[j]] == 1 ? tp : fp) += 1;
      ++j;
    }
    const double recall = tp / positives, precision = tp / (tp + fp);
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
    i = j;
  }
  return ap;
}

double youden_threshold(const std::vector<int>& labels, const std::vector<double>& scores) {
  check_binary_labels(labels, scores);
  std::vector<double> candidates = scores;
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  double best_j = -2, best_t = candidates.front();
  for (double t : candidates) {
    const ClassificationMetrics m = classification_metrics(labels, scores, t);
    const double j = (std::isnan(m.sensitivity) ? 0 : m.sensitivity) + (std::isnan(m.specificity) ? 0 : m.specificity) - 1;
    if (j > best_j + 1e-12) {
      best_j = j;
      best_t = t;
    }
  }
  return best_t;
}

ClassificationMetrics classification_metrics(const std::vector<int>& labels, const std::vector<double>& scores,
                                             double threshold) {
  check_binary_labels(labels, scores);
  ClassificationMetrics m;
  m.n = static_cast<int>(labels.size());
  m.threshold = threshold;
  double brier = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const bool predicted = scores[i] >= threshold, actual = labels[i] == 1;
    m.positives += actual;
    if (predicted && actual) ++m.tp;
    if (predicted && !actual) ++m.fp;
    if (!predicted && !actual) ++m.tn;
    if (!predicted && actual) ++m.fn;
    brier += (scores[i] - labels[i]) * (scores[i] - labels[i]);
  }
  m.sensitivity = m.tp + m.fn > 0 ? double(m.tp) / (m.tp + m.fn) : kNaN;
  m.specificity = m.tn + m.fp > 0 ? double(m.tn) / (m.tn + m.fp) : kNaN;
  m.balanced_accuracy = 0.5 * (m.sensitivity + m.specificity);
  m.roc_auc = roc_auc(labels, scores);
  m.pr_auc = average_precision(labels, scores);
  m.brier = brier / m.n;
  return m;
}

double mean_of(const std::vector<double>& values, const std::vector<int>& cases) {
  double s = 0;
  int n = 0;
  for (int c : cases)
    if (!std::isnan(values[c])) {
      s += values[c];
      ++n;
    }
  return n ? s / n : kNaN;
}

Interval bootstrap_interval(int n, const CaseStatistic& statistic, const BootstrapOptions& options,
                            const std::vector<std::string>& clusters) {
  if (!clusters.empty() && static_cast<int>(clusters.size()) != n)
    throw Error(ExitCode::Mismatch, "bootstrap: " + std::to_string(clusters.size()) + " cluster ids for " +
                                        std::to_string(n) + " cases");
  // Cases grouped by cluster (each case its own cluster when none are given), in order of first appearance.
  std::vector<std::vector<int>> groups;
  std::map<std::string, size_t> group_of;
  for (int i = 0; i < n; ++i) {
    if (clusters.empty()) {
      groups.push_back({i});
      continue;
    }
    auto [it, added] = group_of.emplace(clusters[i], groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  std::vector<int> all(n);
  std::iota(all.begin(), all.end(), 0);
  Interval out;
  out.estimate = n > 0 ? statistic(all) : kNaN;
  out.low = out.high = kNaN;
  if (groups.empty()) return out;
  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<size_t> pick(0, groups.size() - 1);
  std::vector<double> values;
  std::vector<int> sample;
  for (int r = 0; r < options.resamples; ++r) {
    sample.clear();
    for (size_t g = 0; g < groups.size(); ++g) {
      const std::vector<int>& chosen = groups[pick(rng)];
      sample.insert(sample.end(), chosen.begin(), chosen.end());
    }
    const double v = statistic(sample);
    if (!std::isnan(v)) values.push_back(v);
  }
  out.resamples_used = static_cast<int>(values.size());
  std::sort(values.begin(), values.end());
  const double alpha = 1.0 - options.confidence;
  out.low = quantile_sorted(values, alpha / 2);
  out.high = quantile_sorted(values, 1.0 - alpha / 2);
  return out;
}

std::string age_bin(double age, const std::vector<double>& edges) {
  if (std::isnan(age)) return "unknown";
  auto fmt = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return std::string(buf);
  };
  if (edges.empty() || age < edges.front()) return edges.empty() ? "all" : "<" + fmt(edges.front());
  for (size_t i = 0; i + 1 < edges.size(); ++i)
    if (age < edges[i + 1]) {
      const bool integral = edges[i + 1] == std::floor(edges[i + 1]);
      return fmt(edges[i]) + "-" + (integral ? fmt(edges[i + 1] - 1) : "<" + fmt(edges[i + 1]));
    }
  return ">=" + fmt(edges.back());
}

std::string subgroup_of(const std::string& attribute, const std::string& value, const std::vector<double>& age_edges) {
  std::string lower = attribute;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower != "age") return value.empty() ? "unknown" : value;
  double age = kNaN;
  try {
    size_t used = 0;
    age = std::stod(value, &used);
    if (used != value.size()) age = kNaN;
  } catch (const std::exception&) {
    age = kNaN;  // not a number: the "unknown" bin
  }
  return age_bin(age, age_edges);
}

}  // namespace pulmo
