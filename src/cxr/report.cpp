// pulmo cxr explain (Grad-CAM overlay + per-case HTML) and pulmo cxr eval (through the evaluation engine).
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <ostream>
#include <sstream>

#include "data/csv.h"
#include "eval/tables.h"
#include "pulmo/cxr_model.h"
#include "pulmo/error.h"
#include "pulmo/eval_set.h"
#include "pulmo/fileutil.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pulmo::cxr {
namespace {

using eval_detail::html_escape;

std::string num(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(decimals);
  os << v;
  return os.str();
}

std::string importance_table(const std::string& folder) {
  const std::string path = (fs::path(folder) / "importance.json").string();
  std::error_code ec;
  if (!fs::exists(path, ec)) return "<p>This model folder has no importance.json.</p>";
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const std::exception&) {
    return "<p>importance.json is not valid JSON.</p>";
  }
  std::string html;
  for (const auto& [variant, rows] : j.items()) {
    html += "<h3>" + html_escape(variant) + " model</h3><table><tr><th>clinical input</th><th>ROC AUC drop when permuted</th>"
            "<th>95 % interval</th></tr>";
    for (const auto& r : rows) {
      auto v = [&](const char* k) { return r.contains(k) && r[k].is_number() ? r[k].get<double>() : NAN; };
      const double w = std::max(0.0, v("auc_drop_mean")) * 600;
      html += "<tr><td>" + html_escape(r.value("feature", "")) + "</td><td><span class=bar style=\"width:" + num(w, 0) +
              "px\"></span> " + num(v("auc_drop_mean"), 3) + "</td><td>" + num(v("low"), 3) + " to " + num(v("high"), 3) +
              "</td></tr>";
    }
    html += "</table>";
  }
  return html + "<p>Out-of-fold ROC AUC drop when one clinical input (value and missing flag) is permuted across the "
                "test cases of each cross-validation fold; interval over repeats that each resample patients and "
                "draw a new permutation. Near zero: the model does not use that input.</p>";
}

}  // namespace

ExplainOutput explain_case(const CxrModel& model, const std::string& image_path,
                           const std::map<std::string, double>& clinical, const std::string& out_dir) {
  const XrayImage image = read_xray(image_path);
  ExplainOutput out;
  out.prediction = model.predict(image, clinical, true);
  const std::string stem = fs::path(image_path).stem().string();
  out.overlay_png = (fs::path(out_dir) / (stem + "_gradcam.png")).string();
  out.html = (fs::path(out_dir) / (stem + ".html")).string();
  write_heatmap_overlay(image, out.prediction, out.overlay_png, 640);
  const CxrPrediction& p = out.prediction;
  std::string inputs;
  for (const auto& f : clinical_features()) {
    auto it = clinical.find(f.name);
    const bool given = it != clinical.end() && !std::isnan(it->second);
    const std::string value = !given ? "missing (imputed, flagged)"
                              : f.name == "sex_male" ? (it->second >= 0.5 ? "M" : "F")
                                                     : num(it->second, 2) + " " + html_escape(f.unit);
    inputs += "<tr><td>" + html_escape(f.name) + "</td><td>" + value + "</td></tr>";
  }
  std::string html =
      "<!doctype html><html><head><meta charset=utf-8><title>pulmo cxr: " + html_escape(stem) +
      "</title><style>body{font-family:sans-serif;max-width:1100px;margin:20px auto;color:#222}"
      "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
      ".bar{display:inline-block;height:10px;background:#c0392b}.big{font-size:28px;font-weight:bold}"
      ".warn{background:#fff3cd;padding:6px;border:1px solid #e0c060}.flex{display:flex;gap:24px;align-items:flex-start}"
      "</style></head><body><h1>Chest X-ray prognosis: " + html_escape(stem) + "</h1>"
      "<p>Research software, not a medical device. Trained on a small single-centre dataset; read the model card "
      "(MODEL_CARD.md next to the model) before using any number on this page.</p>"
      "<div class=flex><div><img alt=\"Grad-CAM overlay\" style=\"max-width:640px\" src=\"" +
      html_escape(fs::path(out.overlay_png).filename().string()) +
      "\"><p>Grad-CAM of the image branch (last stage): where the image features that raised the score lie. "
      "It shows what the network looked at, not where the disease is.</p></div><div>"
      "<p class=big>P(severe course) = " + num(p.probability, 3) + "</p><p>class at the stored threshold " +
      num(p.threshold, 3) + ": <b>" + (p.severe ? "severe" : "not severe") + "</b></p><p>model: " + html_escape(p.variant) +
      " (" + html_escape(model.folder()) + ")</p>" +
      (p.image_only ? "<p class=warn>No clinical value was given: this is the image-only model's prediction.</p>" : "") +
      "<table><tr><th>clinical input</th><th>value</th></tr>" + inputs + "</table></div></div>"
      "<h2>Which clinical inputs the model uses</h2>" + importance_table(model.folder()) + "</body></html>\n";
  write_text_atomic(out.html, html);
  return out;
}

int evaluate_cxr(const CxrModel& model, const std::vector<CxrCase>& cases, int bootstrap, uint64_t seed,
                 const std::string& out_dir, std::ostream* progress, const std::string& variant) {
  ClassificationSet set;
  set.attribute_names = {"sex", "view", "source", "model"};
  std::ostringstream csv;
  csv << "case,patient,label,score,class,model,sex,view,source\n";
  double threshold = NAN;
  std::string threshold_source;
  bool mixed = false;
  for (const auto& c : cases) {
    if (c.severe < 0) continue;
    XrayImage x;
    try {
      x = read_xray(c.image);
    } catch (const Error& e) {
      throw e.with_context("case '" + c.case_id + "'");
    }
    const CxrPrediction p = model.predict(x, c.clinical, false, variant);
    if (std::isnan(threshold)) {
      threshold = p.threshold;
      threshold_source = p.threshold_source;
    }
    else if (std::abs(threshold - p.threshold) > 1e-12) mixed = true;
    ClassificationCase k;
    k.id = c.case_id;
    k.patient = c.patient_id;
    k.label = c.severe;
    k.score = p.probability;
    k.attributes = {{"sex", c.sex.empty() ? "unknown" : c.sex}, {"view", c.view.empty() ? "unknown" : c.view},
                    {"source", c.source.empty() ? "unknown" : c.source}, {"model", p.variant}};
    set.cases.push_back(k);
    csv << data::csv_field(c.case_id) << "," << data::csv_field(c.patient_id) << "," << c.severe << "," << p.probability
        << "," << (p.severe ? 1 : 0) << "," << p.variant << "," << c.sex << "," << c.view << "," << c.source << "\n";
    if (progress && set.cases.size() % 25 == 0) *progress << "predicted " << set.cases.size() << " cases\n";
  }
  if (set.cases.empty()) throw Error(ExitCode::NoData, "the manifest has no case with a known outcome (severe 0/1)");
  if (mixed)
    throw Error(ExitCode::Mismatch, "the cases were answered by models with different thresholds (some without clinical "
                                    "values); give every case clinical values, or none");
  SetOptions so;
  so.bootstrap.resamples = bootstrap;
  so.bootstrap.seed = seed;
  so.progress = false;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  write_classification_report(set, threshold, "the model's stored threshold: " +
                              (threshold_source.empty() ? std::string("source not recorded") : threshold_source), so, out_dir);
  write_text_atomic((fs::path(out_dir) / "predictions.csv").string(), csv.str());
  return int(set.cases.size());
}

}  // namespace pulmo::cxr
