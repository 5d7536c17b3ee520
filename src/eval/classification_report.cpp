// Classification (prognosis) sets: reading scores, and classification.json / classification.md with bootstrap
// intervals and subgroup tables (docs/eval.md).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "eval/csv.h"
#include "core/json_number.h"
#include "eval/tables.h"
#include "pulmo/error.h"
#include "pulmo/eval_set.h"
#include "pulmo/fileutil.h"

namespace pulmo {

namespace {

struct Figure {
  std::string name;
  bool higher_is_better;
  std::function<double(const ClassificationMetrics&)> get;
};

const std::vector<Figure>& figures() {
  static const std::vector<Figure> f = {
      {"roc_auc", true, [](const ClassificationMetrics& m) { return m.roc_auc; }},
      {"pr_auc", true, [](const ClassificationMetrics& m) { return m.pr_auc; }},
      {"balanced_accuracy", true, [](const ClassificationMetrics& m) { return m.balanced_accuracy; }},
      {"sensitivity", true, [](const ClassificationMetrics& m) { return m.sensitivity; }},
      {"specificity", true, [](const ClassificationMetrics& m) { return m.specificity; }},
      {"brier", false, [](const ClassificationMetrics& m) { return m.brier; }},
  };
  return f;
}

std::string num(double v) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}


// Metrics of a subset of cases (indices into set.cases).
ClassificationMetrics metrics_of(const ClassificationSet& set, const std::vector<int>& cases, double threshold) {
  std::vector<int> labels;
  std::vector<double> scores;
  for (int c : cases) {
    labels.push_back(set.cases[c].label);
    scores.push_back(set.cases[c].score);
  }
  return classification_metrics(labels, scores, threshold);
}

// Each figure's estimate and interval over `cases`.
std::vector<Interval> intervals(const ClassificationSet& set, const std::vector<int>& cases, double threshold,
                                const SetOptions& options) {
  std::vector<std::string> clusters;
  bool patients = false;
  for (int c : cases) {
    patients = patients || !set.cases[c].patient.empty();
    clusters.push_back(set.cases[c].patient.empty() ? "case:" + set.cases[c].id : set.cases[c].patient);
  }
  std::vector<Interval> out;
  for (const Figure& f : figures())
    out.push_back(bootstrap_interval(
        static_cast<int>(cases.size()),
        [&](const std::vector<int>& idx) {
          std::vector<int> mapped;
          for (int i : idx) mapped.push_back(cases[i]);
          return f.get(metrics_of(set, mapped, threshold));
        },
        options.bootstrap, patients ? clusters : std::vector<std::string>{}));
  return out;
}

std::string ci_text(const Interval& i) { return num(i.estimate) + " [" + num(i.low) + ", " + num(i.high) + "]"; }
nlohmann::json ci_json(const Interval& i) {
  return {{"value", json_number(i.estimate)}, {"ci_low", json_number(i.low)}, {"ci_high", json_number(i.high)}};
}

}  // namespace

ClassificationSet read_classification_csv(const std::string& path) {
  const eval_detail::Table t = eval_detail::read_csv(path, "classification scores file");
  for (const char* required : {"case_id", "label", "score"})
    if (t.column(required) < 0)
      throw Error(ExitCode::BadConfig, "classification scores file '" + path + "' has no column '" + required +
                                           "' (required: case_id, label, score; optional: patient_id, attributes)");
  ClassificationSet set;
  for (const auto& h : t.header)
    if (h != "case_id" && h != "label" && h != "score" && h != "patient_id") set.attribute_names.push_back(h);
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const std::string where = "classification scores file '" + path + "' line " + std::to_string(t.line_numbers[r]);
    ClassificationCase c;
    c.id = row[t.column("case_id")];
    const std::string label = row[t.column("label")], score = row[t.column("score")];
    if (label != "0" && label != "1") throw Error(ExitCode::BadConfig, where + ": label must be 0 or 1, got '" + label + "'");
    c.label = label == "1";
    try {
      size_t used = 0;
      c.score = std::stod(score, &used);
      if (used != score.size() || std::isnan(c.score)) throw std::invalid_argument(score);
    } catch (const std::exception&) {
      throw Error(ExitCode::BadConfig, where + ": score '" + score + "' is not a number");
    }
    if (t.column("patient_id") >= 0) c.patient = row[t.column("patient_id")];
    for (const auto& a : set.attribute_names) c.attributes[a] = row[t.column(a)];
    set.cases.push_back(c);
  }
  if (set.cases.empty()) throw Error(ExitCode::BadConfig, "classification scores file '" + path + "' lists no case");
  return set;
}

void write_classification_report(const ClassificationSet& set, double threshold, const std::string& threshold_source,
                                 const SetOptions& options, const std::string& folder) {
  std::vector<int> all(set.cases.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  const ClassificationMetrics overall = metrics_of(set, all, threshold);
  const std::vector<Interval> ci = intervals(set, all, threshold, options);
  nlohmann::json j;
  j["cases"] = overall.n;
  j["positives"] = overall.positives;
  j["threshold"] = threshold;
  j["threshold_source"] = threshold_source;
  j["confusion"] = {{"tp", overall.tp}, {"fp", overall.fp}, {"tn", overall.tn}, {"fn", overall.fn}};
  j["bootstrap"] = {{"resamples", options.bootstrap.resamples}, {"seed", options.bootstrap.seed},
                    {"confidence", options.bootstrap.confidence}};
  std::vector<eval_detail::TextTable> tables;
  eval_detail::TextTable t{"All cases", {"figure", "value [95 % CI]"}, {}};
  for (size_t k = 0; k < figures().size(); ++k) {
    j["metrics"][figures()[k].name] = ci_json(ci[k]);
    t.rows.push_back({figures()[k].name, ci_text(ci[k])});
  }
  t.rows.push_back({"confusion at threshold", "TP " + std::to_string(overall.tp) + ", FP " + std::to_string(overall.fp) +
                                                  ", TN " + std::to_string(overall.tn) + ", FN " + std::to_string(overall.fn)});
  tables.push_back(t);
  for (const auto& attribute : set.attribute_names) {
    std::map<std::string, std::vector<int>> groups;
    for (size_t i = 0; i < set.cases.size(); ++i) {
      const auto it = set.cases[i].attributes.find(attribute);
      groups[subgroup_of(attribute, it == set.cases[i].attributes.end() ? "" : it->second, options.age_edges)].push_back(
          static_cast<int>(i));
    }
    eval_detail::TextTable g{"Subgroups by " + attribute, {attribute, "cases", "positives"}, {}};
    for (const auto& f : figures()) g.header.push_back(f.name + " [95 % CI]");
    std::vector<double> best(figures().size(), kNaN), worst(figures().size(), kNaN);
    std::vector<std::string> best_name(figures().size()), worst_name(figures().size());
    for (const auto& [group, cases] : groups) {
      const ClassificationMetrics m = metrics_of(set, cases, threshold);
      const std::vector<Interval> gi = intervals(set, cases, threshold, options);
      std::vector<std::string> row{group, std::to_string(m.n), std::to_string(m.positives)};
      j["subgroups"][attribute]["groups"][group]["cases"] = m.n;
      j["subgroups"][attribute]["groups"][group]["positives"] = m.positives;
      for (size_t k = 0; k < figures().size(); ++k) {
        j["subgroups"][attribute]["groups"][group]["metrics"][figures()[k].name] = ci_json(gi[k]);
        row.push_back(ci_text(gi[k]));
        const double v = gi[k].estimate;
        if (std::isnan(v)) continue;
        const bool hb = figures()[k].higher_is_better;
        if (std::isnan(best[k]) || (hb ? v > best[k] : v < best[k])) best[k] = v, best_name[k] = group;
        if (std::isnan(worst[k]) || (hb ? v < worst[k] : v > worst[k])) worst[k] = v, worst_name[k] = group;
      }
      g.rows.push_back(row);
    }
    std::vector<std::string> gap_row{"gap (best - worst)", "", ""};
    for (size_t k = 0; k < figures().size(); ++k) {
      const double gap = std::fabs(best[k] - worst[k]);
      j["subgroups"][attribute]["gap"][figures()[k].name] = {{"value", json_number(gap)}, {"best", best_name[k]}, {"worst", worst_name[k]}};
      gap_row.push_back(std::isnan(gap) ? "-" : num(gap) + " (" + best_name[k] + " vs " + worst_name[k] + ")");
    }
    g.rows.push_back(gap_row);
    tables.push_back(g);
  }
  const std::string intro = std::to_string(overall.n) + " cases, " + std::to_string(overall.positives) +
                            " positive; threshold " + num(threshold) + " (" + threshold_source +
                            "); percentile bootstrap 95 % intervals (" + std::to_string(options.bootstrap.resamples) +
                            " resamples, seed " + std::to_string(options.bootstrap.seed) + ").";
  const std::filesystem::path dir(folder);
  write_text_atomic((dir / "classification.json").string(), j.dump(2) + "\n");
  write_text_atomic((dir / "classification.md").string(), eval_detail::markdown(tables, intro, "pulmo eval: classification"));
}

}  // namespace pulmo
