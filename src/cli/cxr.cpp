// pulmo cxr train|predict|explain|eval|probe: chest X-ray prognosis (docs/cxr.md). Thin: parsing only.
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "pulmo/cxr_model.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"

namespace fs = std::filesystem;

namespace pulmo::cli {
namespace {

struct CxrArgs {
  std::string config, image, model = "models/cxr", clinical_file, heatmap, out_dir, manifest, features, variant;
  std::vector<std::string> clinical, attributes{"sex", "view", "source"};
  bool json = false;
  int bootstrap = 1000, folds = 5;
  uint64_t seed = 20201;
};

std::map<std::string, double> clinical_of(const CxrArgs& a) {
  std::map<std::string, double> c = a.clinical_file.empty() ? std::map<std::string, double>{} : cxr::read_clinical_file(a.clinical_file);
  for (const auto& [k, v] : cxr::parse_clinical(a.clinical)) c[k] = v;
  return c;
}

int run_train(const CxrArgs& a, const GlobalOptions& g) {
  const cxr::CxrTrainConfig c = cxr::read_cxr_train_config(a.config);
  const cxr::CvResult r = cxr::train_cxr(c, g.quiet ? nullptr : &std::cerr);
  std::printf("%-10s %-30s %-30s %-30s %-30s\n", "variant", "balanced accuracy", "ROC AUC", "sensitivity", "specificity");
  for (const auto& v : r.variants) {
    std::printf("%-10s", v.variant.c_str());
    for (const auto& m : v.metrics)
      std::printf(" %.3f [%.3f, %.3f] (%.3f+-%.3f)", m.pooled.estimate, m.pooled.low, m.pooled.high, m.fold_mean, m.fold_sd);
    std::printf("\n");
  }
  note(g, "wrote the model and cross-validation results to " + c.output + " (" + std::to_string(int(r.seconds)) + " s)");
  return 0;
}

int run_predict(const CxrArgs& a, const GlobalOptions& g) {
  const auto clinical = clinical_of(a);
  const cxr::CxrModel model = cxr::CxrModel::load(a.model);
  const cxr::XrayImage image = cxr::read_xray(a.image);
  const cxr::CxrPrediction p = model.predict(image, clinical, !a.heatmap.empty(), a.variant);
  if (!a.heatmap.empty()) cxr::write_heatmap_overlay(image, p, a.heatmap);
  if (p.image_only && a.variant.empty()) warn("no clinical values given: the image-only model answered");
  if (a.json) {
    nlohmann::json j = {{"image", a.image}, {"probability", p.probability}, {"threshold", p.threshold},
                        {"threshold_source", p.threshold_source},
                        {"class", p.severe ? "severe" : "not severe"}, {"severe", p.severe}, {"model", model.folder()},
                        {"variant", p.variant}, {"image_only", p.image_only}, {"missing_clinical", p.missing}};
    if (!a.heatmap.empty()) j["heatmap"] = a.heatmap;
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("%s: P(severe) %.3f -> %s (threshold %.3f, %s model%s)\n", a.image.c_str(), p.probability,
                p.severe ? "severe" : "not severe", p.threshold, p.variant.c_str(), p.image_only ? ", image only" : "");
  }
  return 0;
}

int run_explain(const CxrArgs& a, const GlobalOptions& g) {
  const auto clinical = clinical_of(a);
  const cxr::CxrModel model = cxr::CxrModel::load(a.model);
  const cxr::ExplainOutput o = cxr::explain_case(model, a.image, clinical, a.out_dir);
  if (a.json)
    std::cout << nlohmann::json{{"probability", o.prediction.probability}, {"variant", o.prediction.variant},
                                {"heatmap", o.overlay_png}, {"html", o.html}}.dump(2) << "\n";
  note(g, "wrote " + o.html + " and " + o.overlay_png);
  return 0;
}

int run_eval(const CxrArgs& a, const GlobalOptions& g) {
  const auto cases = cxr::read_cxr_manifest(a.manifest);
  const cxr::CxrModel model = cxr::CxrModel::load(a.model);
  const int n = cxr::evaluate_cxr(model, cases, a.bootstrap, a.seed, a.out_dir, g.quiet ? nullptr : &std::cerr,
                                  a.variant.empty() ? "fused" : a.variant);
  note(g, "evaluated " + std::to_string(n) + " case(s); wrote classification.json, classification.md, predictions.csv to " + a.out_dir);
  return 0;
}

}  // namespace

Action register_cxr(CLI::App& app, const GlobalOptions& global) {
  auto a = std::make_shared<CxrArgs>();
  CLI::App* sub = app.add_subcommand("cxr", "Chest X-ray prognosis: severe COVID-19 course from an X-ray + clinical values (docs/cxr.md)");
  sub->require_subcommand(1);
  CLI::App* train = sub->add_subcommand("train", "Cross-validate the CXR variants and train the model (YAML config)");
  train->add_option("--config", a->config, "training configuration (YAML/JSON)")->required()->check(CLI::ExistingFile);
  auto add_inputs = [&](CLI::App* s) {
    s->add_option("image", a->image, "chest X-ray (PNG, JPEG, DICOM)")->required();
    s->add_option("--model", a->model, "model folder")->capture_default_str();
    s->add_option("--clinical", a->clinical_file, "clinical values: CSV (header + one row) or JSON object");
    s->add_option("clinical_values", a->clinical, "clinical values as key=value (age=63 sex=M crp=120 ...)");
  };
  CLI::App* predict = sub->add_subcommand("predict", "Probability of a severe course for one X-ray");
  add_inputs(predict);
  predict->add_option("--heatmap", a->heatmap, "also write the Grad-CAM overlay PNG here");
  predict->add_flag("--json", a->json, "print JSON");
  predict->add_option("--variant", a->variant, "force the fused or the image-only model (default: fused when clinical "
                      "values are given, else image)")->check(CLI::IsMember({"fused", "image"}));
  CLI::App* explain = sub->add_subcommand("explain", "Grad-CAM overlay + per-case HTML with the clinical inputs' importance");
  add_inputs(explain);
  explain->add_option("--output-dir,-o", a->out_dir, "folder for the PNG and HTML")->required();
  explain->add_flag("--json", a->json, "print JSON");
  CLI::App* eval = sub->add_subcommand("eval", "Evaluate a model on a CXR manifest (subgroups sex, view, source)");
  eval->add_option("--manifest", a->manifest, "CXR manifest CSV (case_id, patient_id, image, severe, ...)")->required();
  eval->add_option("--model", a->model, "model folder")->capture_default_str();
  eval->add_option("--output-dir,-o", a->out_dir, "folder for the reports")->required();
  eval->add_option("--bootstrap", a->bootstrap, "bootstrap resamples")->capture_default_str();
  eval->add_option("--seed", a->seed, "bootstrap seed")->capture_default_str();
  eval->add_option("--variant", a->variant, "the model variant answering every case: fused (default) or image")
      ->check(CLI::IsMember({"fused", "image"}));
  return [a, train, predict, explain, &global]() {
    if (train->parsed()) return run_train(*a, global);
    if (predict->parsed()) return run_predict(*a, global);
    if (explain->parsed()) return run_explain(*a, global);
    return run_eval(*a, global);
  };
}

}  // namespace pulmo::cli
