// The files of `pulmo eval --manifest`: cases.csv, summary.json, summary.md, summary.html (docs/eval.md).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "data/csv.h"
#include "core/json_number.h"
#include "eval/tables.h"
#include "pulmo/error.h"
#include "pulmo/eval_set.h"
#include "pulmo/fileutil.h"

namespace pulmo {

namespace eval_detail {

std::string markdown(const std::vector<TextTable>& tables, const std::string& intro, const std::string& title) {
  std::ostringstream o;
  o << "# " << title << "\n\n" << intro << "\n";
  for (const auto& t : tables) {
    o << "\n## " << t.title << "\n\n|";
    for (const auto& h : t.header) o << " " << h << " |";
    o << "\n|";
    for (size_t i = 0; i < t.header.size(); ++i) o << " --- |";
    o << "\n";
    for (const auto& r : t.rows) {
      o << "|";
      for (const auto& c : r) o << " " << c << " |";
      o << "\n";
    }
  }
  return o.str();
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string html(const std::vector<TextTable>& tables, const std::string& intro, const std::string& title) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << html_escape(title) << "</title>\n"
    << "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
    << "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
    << "td:first-child{text-align:left}</style></head><body>\n<h1>" << html_escape(title) << "</h1>\n<p>" << html_escape(intro)
    << "</p>\n";
  for (const auto& t : tables) {
    o << "<h2>" << html_escape(t.title) << "</h2>\n<table>\n<tr>";
    for (const auto& h : t.header) o << "<th>" << html_escape(h) << "</th>";
    o << "</tr>\n";
    for (const auto& r : t.rows) {
      o << "<tr>";
      for (const auto& c : r) o << "<td>" << html_escape(c) << "</td>";
      o << "</tr>\n";
    }
    o << "</table>\n";
  }
  o << "</body></html>\n";
  return o.str();
}

}  // namespace eval_detail

namespace {

using eval_detail::TextTable;


struct Metric {
  std::string name;
  bool higher_is_better;
  std::function<double(const LabelMetrics&)> get;
};

std::string num(double v, const char* f = "%.6g") {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}


std::vector<Metric> metrics_of(const SetOptions& options) {
  std::vector<Metric> m = {
      {"dice", true, [](const LabelMetrics& x) { return x.dice; }},
      {"jaccard", true, [](const LabelMetrics& x) { return x.jaccard; }},
      {"sensitivity", true, [](const LabelMetrics& x) { return x.sensitivity; }},
      {"specificity", true, [](const LabelMetrics& x) { return x.specificity; }},
      {"precision", true, [](const LabelMetrics& x) { return x.precision; }},
  };
  for (size_t i = 0; i < options.segmentation.tolerances_mm.size(); ++i)
    m.push_back({"surface_dice_" + num(options.segmentation.tolerances_mm[i], "%g") + "mm", true,
                 [i](const LabelMetrics& x) { return x.surface_dice[i].second; }});
  m.push_back({"hd95", false, [](const LabelMetrics& x) { return x.hd95; }});
  m.push_back({"hd100", false, [](const LabelMetrics& x) { return x.hd100; }});
  m.push_back({"assd", false, [](const LabelMetrics& x) { return x.assd; }});
  m.push_back({"abs_volume_diff_ml", false, [](const LabelMetrics& x) { return std::fabs(x.volume_diff_ml); }});
  return m;
}

const LabelMetrics* find_label(const CaseResult& r, int label) {
  for (const auto& m : r.labels)
    if (m.label == label) return &m;
  return nullptr;
}

using data::csv_field;  // the project's one CSV writer

// Everything the summary files show, computed once.
struct Summary {
  std::vector<int> labels;
  std::vector<Metric> metrics;
  std::vector<std::string> clusters;                  // patient per case ("" everywhere: none)
  bool has_patients = false, has_agreement = false;
  std::vector<std::vector<std::vector<double>>> values;  // [label][metric][case]
};

Summary prepare(const EvalManifest& manifest, const std::vector<CaseResult>& results, const SetOptions& options) {
  Summary s;
  s.metrics = metrics_of(options);
  std::set<int> labels;
  for (const auto& r : results)
    for (const auto& m : r.labels) labels.insert(m.label);
  s.labels.assign(labels.begin(), labels.end());
  for (const auto& r : results) {
    s.has_patients = s.has_patients || !r.source->patient.empty();
    s.has_agreement = s.has_agreement || !std::isnan(r.involved_ref_percent);
  }
  if (s.has_patients)
    for (const auto& r : results) s.clusters.push_back(r.source->patient.empty() ? "case:" + r.source->id : r.source->patient);
  for (int label : s.labels) {
    s.values.emplace_back();
    for (const auto& metric : s.metrics) {
      std::vector<double> v;
      for (const auto& r : results) {
        const LabelMetrics* m = find_label(r, label);
        const bool both_empty = m && m->voxels_ref == 0 && m->voxels_pred == 0;  // counted apart
        v.push_back(m && !both_empty ? metric.get(*m) : kNaN);
      }
      s.values.back().push_back(v);
    }
  }
  (void)manifest;
  return s;
}

// Bootstrap interval of the mean of values over `cases` (a subset of all cases).
Interval mean_interval(const std::vector<double>& values, const std::vector<int>& cases, const Summary& s,
                       const SetOptions& options) {
  std::vector<std::string> clusters;
  for (int c : cases) clusters.push_back(s.has_patients ? s.clusters[c] : std::to_string(c));
  return bootstrap_interval(
      static_cast<int>(cases.size()),
      [&](const std::vector<int>& idx) {
        std::vector<int> mapped;
        for (int i : idx) mapped.push_back(cases[i]);
        return mean_of(values, mapped);
      },
      options.bootstrap, clusters);
}

int count_finite_or_inf(const std::vector<double>& values, const std::vector<int>& cases) {
  int n = 0;
  for (int c : cases) n += !std::isnan(values[c]);
  return n;
}

// Subgroup key of each case for an attribute ("age" is binned).
std::vector<std::string> group_keys(const std::vector<CaseResult>& results, const std::string& attribute,
                                    const SetOptions& options) {
  std::vector<std::string> keys;
  for (const auto& r : results) {
    const auto it = r.source->attributes.find(attribute);
    keys.push_back(subgroup_of(attribute, it == r.source->attributes.end() ? "" : it->second, options.age_edges));
  }
  return keys;
}

std::string ci_text(const Interval& i, int n) {
  if (n == 0) return "-";
  return num(i.estimate, "%.4g") + " [" + num(i.low, "%.4g") + ", " + num(i.high, "%.4g") + "]";
}

nlohmann::json interval_json(const Interval& i, int n) {
  return {{"n", n}, {"mean", json_number(i.estimate)}, {"ci_low", json_number(i.low)}, {"ci_high", json_number(i.high)}};
}

std::string cases_csv(const EvalManifest& manifest, const std::vector<CaseResult>& results, const Summary& s) {
  std::ostringstream o;
  o << "case,patient";
  for (const auto& a : manifest.attribute_names) o << "," << csv_field(a);
  o << ",label,voxels_ref,voxels_pred,volume_ref_ml,volume_pred_ml,volume_diff_ml,asd_ref_to_pred,asd_pred_to_ref";
  for (const auto& m : s.metrics) o << "," << m.name;
  if (s.has_agreement) o << ",involved_ref_percent,involved_pred_percent,severity_ref,severity_pred";
  o << "\n";
  for (const auto& r : results)
    for (const auto& m : r.labels) {
      o << csv_field(r.source->id) << "," << csv_field(r.source->patient);
      for (const auto& a : manifest.attribute_names) {
        const auto it = r.source->attributes.find(a);
        o << "," << csv_field(it == r.source->attributes.end() ? "" : it->second);
      }
      o << "," << m.label << "," << m.voxels_ref << "," << m.voxels_pred << "," << num(m.volume_ref_ml) << ","
        << num(m.volume_pred_ml) << "," << num(m.volume_diff_ml) << "," << num(m.asd_ref_to_pred) << ","
        << num(m.asd_pred_to_ref);
      for (const auto& metric : s.metrics) o << "," << num(metric.get(m));
      if (s.has_agreement)
        o << "," << num(r.involved_ref_percent) << "," << num(r.involved_pred_percent) << ","
          << ct_severity_score(r.involved_ref_percent) << "," << ct_severity_score(r.involved_pred_percent);
      o << "\n";
    }
  return o.str();
}

}  // namespace

void write_set_report(const EvalManifest& manifest, const std::vector<CaseResult>& results, const SetOptions& options,
                      const std::string& folder) {
  const Summary s = prepare(manifest, results, options);
  std::vector<int> all(results.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  nlohmann::json j;
  std::set<std::string> patients(s.clusters.begin(), s.clusters.end());
  j["cases"] = results.size();
  j["patients"] = s.has_patients ? patients.size() : results.size();
  j["bootstrap"] = {{"resamples", options.bootstrap.resamples},
                    {"seed", options.bootstrap.seed},
                    {"confidence", options.bootstrap.confidence},
                    {"resampled_by", s.has_patients ? "patient" : "case"}};
  j["tolerances_mm"] = options.segmentation.tolerances_mm;
  std::vector<TextTable> tables;

  // Overall, per label.
  for (size_t l = 0; l < s.labels.size(); ++l) {
    int both_empty = 0;
    for (const auto& r : results) {
      const LabelMetrics* m = find_label(r, s.labels[l]);
      both_empty += m && m->voxels_ref == 0 && m->voxels_pred == 0;
    }
    j["labels"][std::to_string(s.labels[l])]["both_empty_cases"] = both_empty;
    TextTable t{"Label " + std::to_string(s.labels[l]) + ": all cases (" + std::to_string(both_empty) +
                    " with the label in neither map, left out of the means)",
                {"metric", "n", "mean [95 % CI]"}, {}};
    for (size_t k = 0; k < s.metrics.size(); ++k) {
      const int n = count_finite_or_inf(s.values[l][k], all);
      const Interval iv = mean_interval(s.values[l][k], all, s, options);
      j["labels"][std::to_string(s.labels[l])][s.metrics[k].name] = interval_json(iv, n);
      t.rows.push_back({s.metrics[k].name, std::to_string(n), ci_text(iv, n)});
    }
    tables.push_back(t);
  }

  // Quantification agreement.
  if (s.has_agreement) {
    std::vector<double> ref, pred;
    for (const auto& r : results) {
      ref.push_back(r.involved_ref_percent);
      pred.push_back(r.involved_pred_percent);
    }
    auto agreement_of = [&](const std::vector<int>& idx) {
      std::vector<double> a, b;
      for (int i : idx) {
        a.push_back(ref[i]);
        b.push_back(pred[i]);
      }
      return quantification_agreement(a, b);
    };
    const Agreement overall = agreement_of(all);
    auto ci = [&](std::function<double(const Agreement&)> f) {
      return bootstrap_interval(
          static_cast<int>(all.size()), [&](const std::vector<int>& idx) { return f(agreement_of(idx)); },
          options.bootstrap, s.has_patients ? s.clusters : std::vector<std::string>{});
    };
    const Interval mae = ci([](const Agreement& a) { return a.mae; }), bias = ci([](const Agreement& a) { return a.bias; });
    const Interval acc = ci([](const Agreement& a) { return a.severity_accuracy; });
    const Interval kappa = ci([](const Agreement& a) { return a.severity_kappa; });
    nlohmann::json a;
    a["n"] = overall.n;
    a["mae_percent"] = interval_json(mae, overall.n);
    a["bias_percent"] = interval_json(bias, overall.n);
    a["limits_of_agreement_percent"] = {json_number(overall.loa_low), json_number(overall.loa_high)};
    a["severity_accuracy"] = interval_json(acc, overall.n);
    a["severity_kappa_linear"] = interval_json(kappa, overall.n);
    a["severity_confusion"] = overall.severity_confusion;
    j["agreement"] = a;
    TextTable t{"Involved percentage and CT severity score (reference vs prediction)", {"figure", "value [95 % CI]"}, {}};
    t.rows.push_back({"cases", std::to_string(overall.n)});
    t.rows.push_back({"MAE (percentage points)", ci_text(mae, overall.n)});
    t.rows.push_back({"Bland-Altman bias", ci_text(bias, overall.n)});
    t.rows.push_back({"95 % limits of agreement", num(overall.loa_low, "%.4g") + " to " + num(overall.loa_high, "%.4g")});
    t.rows.push_back({"severity score accuracy", ci_text(acc, overall.n)});
    t.rows.push_back({"severity linearly weighted kappa", ci_text(kappa, overall.n)});
    tables.push_back(t);
    TextTable c{"CT severity score confusion (rows: reference, columns: prediction)", {"reference \\ prediction", "1", "2", "3", "4", "5"}, {}};
    for (int r = 0; r < 5; ++r) {
      std::vector<std::string> row{std::to_string(r + 1)};
      for (int p = 0; p < 5; ++p) row.push_back(std::to_string(overall.severity_confusion[r][p]));
      c.rows.push_back(row);
    }
    tables.push_back(c);
  }

  // Subgroups.
  for (const auto& attribute : manifest.attribute_names) {
    const std::vector<std::string> keys = group_keys(results, attribute, options);
    std::map<std::string, std::vector<int>> groups;
    for (size_t i = 0; i < keys.size(); ++i) groups[keys[i]].push_back(static_cast<int>(i));
    nlohmann::json& ja = j["subgroups"][attribute];
    for (size_t l = 0; l < s.labels.size(); ++l) {
      TextTable t{"Subgroups by " + attribute + ", label " + std::to_string(s.labels[l]), {attribute, "cases"}, {}};
      for (const auto& m : s.metrics) t.header.push_back(m.name + " [95 % CI]");
      std::vector<double> best(s.metrics.size(), kNaN), worst(s.metrics.size(), kNaN);
      std::vector<std::string> best_name(s.metrics.size()), worst_name(s.metrics.size());
      for (const auto& [group, cases] : groups) {
        std::vector<std::string> row{group, std::to_string(cases.size())};
        ja["groups"][group]["cases"] = cases.size();
        for (size_t k = 0; k < s.metrics.size(); ++k) {
          const int n = count_finite_or_inf(s.values[l][k], cases);
          const Interval iv = mean_interval(s.values[l][k], cases, s, options);
          ja["groups"][group]["labels"][std::to_string(s.labels[l])][s.metrics[k].name] = interval_json(iv, n);
          row.push_back(ci_text(iv, n));
          if (std::isnan(iv.estimate)) continue;
          const bool hb = s.metrics[k].higher_is_better;
          if (std::isnan(best[k]) || (hb ? iv.estimate > best[k] : iv.estimate < best[k])) {
            best[k] = iv.estimate;
            best_name[k] = group;
          }
          if (std::isnan(worst[k]) || (hb ? iv.estimate < worst[k] : iv.estimate > worst[k])) {
            worst[k] = iv.estimate;
            worst_name[k] = group;
          }
        }
        t.rows.push_back(row);
      }
      std::vector<std::string> gap_row{"gap (best - worst)", ""};
      for (size_t k = 0; k < s.metrics.size(); ++k) {
        const double gap = std::fabs(best[k] - worst[k]);
        ja["gap"][std::to_string(s.labels[l])][s.metrics[k].name] = {
            {"value", json_number(gap)}, {"best", best_name[k]}, {"worst", worst_name[k]}};
        gap_row.push_back(std::isnan(gap) ? "-" : num(gap, "%.4g") + " (" + best_name[k] + " vs " + worst_name[k] + ")");
      }
      t.rows.push_back(gap_row);
      tables.push_back(t);
    }
  }

  const std::string intro =
      std::to_string(results.size()) + " cases" +
      (s.has_patients ? " of " + std::to_string(patients.size()) + " patients (resampled by patient)" : "") +
      "; means with percentile bootstrap " + num(100 * options.bootstrap.confidence, "%g") + " % intervals (" +
      std::to_string(options.bootstrap.resamples) + " resamples, seed " + std::to_string(options.bootstrap.seed) +
      "); distances in mm, volumes in mL. Per-case values: cases.csv.";
  const std::filesystem::path dir(folder);
  write_text_atomic((dir / "cases.csv").string(), cases_csv(manifest, results, s));
  write_text_atomic((dir / "summary.json").string(), j.dump(2) + "\n");
  write_text_atomic((dir / "summary.md").string(), eval_detail::markdown(tables, intro));
  write_text_atomic((dir / "summary.html").string(), eval_detail::html(tables, intro));
}

}  // namespace pulmo
