// pulmo cxr train|predict|explain|eval|probe: chest X-ray prognosis (docs/cxr.md). Thin: parsing only.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "pulmo/cxr_model.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"

namespace fs = std::filesystem;

namespace pulmo::cli {
namespace {

struct CxrArgs {
  std::string config, image, model = "models/cxr", clinical_file, heatmap, out_dir, manifest, features, variant;
  std::string ieee8023, hannover, output, lung_model = "models/cxr_lungs", cases = "test";
  std::vector<std::string> clinical, attributes{"sex", "view", "source"};
  bool json = false, print_config_table = false, resume = false;
  int bootstrap = 1000, folds = 5;
  uint64_t seed = 20201;
};

std::map<std::string, double> clinical_of(const CxrArgs& a) {
  std::map<std::string, double> c = a.clinical_file.empty() ? std::map<std::string, double>{} : cxr::read_clinical_file(a.clinical_file);
  for (const auto& [k, v] : cxr::parse_clinical(a.clinical)) c[k] = v;
  return c;
}

int run_train(const CxrArgs& a, const GlobalOptions& g) {
  if (a.print_config_table) {
    std::cout << cxr::cxr_train_config_table();
    return 0;
  }
  if (a.config.empty()) throw Error(ExitCode::Usage, "--config is required");
  cxr::CxrTrainConfig c = cxr::read_cxr_train_config(a.config);
  c.resume = a.resume;
  const cxr::CvResult r = cxr::train_cxr(c, g.quiet ? nullptr : &std::cerr);
  std::printf("%-10s %-30s %-30s %-30s %-30s\n", "variant", "balanced accuracy", "ROC AUC", "sensitivity", "specificity");
  for (const auto& v : r.variants) {
    std::printf("%-10s", v.variant.c_str());
    for (const auto& m : v.metrics)
      std::printf(" %.3f [%.3f, %.3f] (%.3f+-%.3f)", m.pooled.estimate, m.pooled.low, m.pooled.high, m.fold_mean, m.fold_sd);
    std::printf("\n");
  }
  note(g, "wrote the model and cross-validation results to " + c.output + " (" + std::to_string(int(r.seconds)) + " s" +
               (a.resume ? "; " + std::to_string(r.fits_resumed) + " of " + std::to_string(r.fits) +
                               " models continued or taken from their checkpoints" : std::string()) + ")");
  return 0;
}

int run_predict(const CxrArgs& a, const GlobalOptions& g) {
  const auto clinical = clinical_of(a);
  const cxr::CxrModel model = cxr::CxrModel::load(a.model);
  const cxr::XrayImage image = cxr::read_xray(a.image);
  const cxr::CxrPrediction p = model.predict(image, clinical, !a.heatmap.empty(), a.variant);
  if (!a.heatmap.empty()) cxr::write_heatmap_overlay(image, p, a.heatmap);
  if (p.image_only && a.variant.empty()) warn("no clinical values given: the image-only model answered");
  if (!p.lungs_found) warn("lung cropping: no lungs found in the X-ray, the whole image was used");
  if (a.json) {
    nlohmann::json j = {{"image", a.image}, {"probability", p.probability}, {"threshold", p.threshold},
                        {"threshold_source", p.threshold_source},
                        {"class", p.severe ? "severe" : "not severe"}, {"severe", p.severe}, {"model", model.folder()},
                        {"variant", p.variant}, {"image_only", p.image_only}, {"missing_clinical", p.missing}};
    if (!a.heatmap.empty()) j["heatmap"] = a.heatmap;
    std::error_code ec;
    if (fs::exists(fs::path(model.folder()) / "lung_segmenter", ec))  // the model crops to the lungs
      j["lung_crop"] = {{"lungs_found", p.lungs_found}, {"box", {p.crop.x0, p.crop.y0, p.crop.width, p.crop.height}}};
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

int run_lung_manifest(const CxrArgs& a, const GlobalOptions& g) {
  const std::string csv = cxr::lung_mask_manifest_csv(a.ieee8023, a.hannover);
  write_text_atomic(a.output, csv);
  note(g, "wrote " + a.output + " (" + std::to_string(std::count(csv.begin(), csv.end(), '\n') - 1) + " X-rays with lung masks)");
  return 0;
}

// Dice of the lung segmenter on the manifest's cases: those its training held out ("test", from model.json), the
// validation ones, or all.
int run_lung_eval(const CxrArgs& a, const GlobalOptions& g) {
  const cxr::CxrLungSegmenter seg = cxr::CxrLungSegmenter::load(a.lung_model);
  const Manifest m = read_manifest(a.manifest);
  std::set<std::string> wanted;
  if (a.cases != "all") {
    const nlohmann::json j = nlohmann::json::parse(read_text_file((fs::path(a.lung_model) / "model.json").string()));
    const nlohmann::json ids = j.value("training", nlohmann::json::object()).value("cases", nlohmann::json::object()).value(a.cases, nlohmann::json::array());
    for (const auto& id : ids) wanted.insert(id.get<std::string>());
    if (wanted.empty()) throw Error(ExitCode::NoData, "'" + a.lung_model + "/model.json' lists no " + a.cases + " case");
  }
  std::ostringstream csv;
  csv << "case_id,patient_id,dice\n";
  std::vector<double> d;
  std::set<std::string> patients;
  for (const Case& c : m.cases) {
    if (a.cases != "all" && !wanted.count(c.case_id)) continue;
    if (c.lungs.empty()) continue;
    const double v = seg.dice(cxr::read_xray(c.image), c.lungs);
    csv << c.case_id << "," << c.patient_id << "," << v << "\n";
    if (std::isfinite(v)) d.push_back(v);
    patients.insert(c.patient_id);
  }
  if (d.empty()) throw Error(ExitCode::NoData, "no " + a.cases + " case of '" + a.manifest + "' has a lung mask");
  double mean = 0, ss = 0;
  for (double v : d) mean += v / double(d.size());
  for (double v : d) ss += (v - mean) * (v - mean);
  std::sort(d.begin(), d.end());
  nlohmann::json j = {{"cases", d.size()}, {"patients", patients.size()}, {"set", a.cases}, {"mean_dice", mean},
                      {"sd_dice", d.size() > 1 ? std::sqrt(ss / double(d.size() - 1)) : 0.0}, {"min_dice", d.front()},
                      {"median_dice", d[d.size() / 2]}, {"model", a.lung_model}};
  if (!a.out_dir.empty()) {
    fs::create_directories(a.out_dir);
    write_text_atomic((fs::path(a.out_dir) / "lung_dice.csv").string(), csv.str());
    write_text_atomic((fs::path(a.out_dir) / "lung_dice.json").string(), j.dump(2) + "\n");
  }
  std::cout << j.dump(2) << "\n";
  (void)g;
  return 0;
}

}  // namespace

Action register_cxr(CLI::App& app, const GlobalOptions& global) {
  auto a = std::make_shared<CxrArgs>();
  CLI::App* sub = app.add_subcommand("cxr", "Chest X-ray prognosis: severe COVID-19 course from an X-ray + clinical values (docs/cxr.md)");
  sub->require_subcommand(1);
  CLI::App* train = sub->add_subcommand("train", "Cross-validate the CXR variants and train the model (YAML config)");
  train->add_option("--config", a->config, "training configuration (YAML/JSON)")->check(CLI::ExistingFile);
  train->add_flag("--print-config-table", a->print_config_table,
                  "print every configuration key as the Markdown table of docs/cxr.md, and exit");
  train->add_flag("--resume", a->resume,
                  "continue an interrupted run (Ctrl-C, kill) from the checkpoints in OUTPUT/checkpoints/: models "
                  "finished before are taken as they are, the interrupted one continues after its last epoch; the "
                  "result is that of an uninterrupted run (same --threads). Refused (exit 10) when the configuration "
                  "or the data changed; starts afresh when there is no checkpoint. docs/cxr.md");
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
  CLI::App* lman = sub->add_subcommand("lung-manifest", "Write the training manifest of the X-ray lung segmenter "
                                       "(ieee8023 X-rays with v7labs lung masks)");
  lman->add_option("--ieee8023", a->ieee8023, "the ieee8023-permissive folder (metadata.csv, images/, lung_masks_v7labs/)")
      ->required()->check(CLI::ExistingDirectory);
  lman->add_option("--hannover", a->hannover, "the mhh-covid19 folder (data.csv): its patients are recognised")
      ->check(CLI::ExistingDirectory);
  lman->add_option("--output,-o", a->output, "manifest CSV to write")->required();
  CLI::App* leval = sub->add_subcommand("lung-eval", "Dice of the X-ray lung segmenter on a lung manifest's held-out cases");
  leval->add_option("--manifest", a->manifest, "lung manifest (pulmo cxr lung-manifest)")->required();
  leval->add_option("--lung-model", a->lung_model, "lung segmenter folder")->capture_default_str();
  leval->add_option("--cases", a->cases, "test or validation (the model's held-out cases, from its model.json) or all")
      ->check(CLI::IsMember({"test", "validation", "all"}))->capture_default_str();
  leval->add_option("--output-dir,-o", a->out_dir, "also write lung_dice.csv and lung_dice.json here");
  return [a, train, predict, explain, lman, leval, &global]() {
    if (lman->parsed()) return run_lung_manifest(*a, global);
    if (leval->parsed()) return run_lung_eval(*a, global);
    if (train->parsed()) return run_train(*a, global);
    if (predict->parsed()) return run_predict(*a, global);
    if (explain->parsed()) return run_explain(*a, global);
    return run_eval(*a, global);
  };
}

}  // namespace pulmo::cli
