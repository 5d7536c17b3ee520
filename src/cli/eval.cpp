// pulmo eval: segmentation metrics of one reference / prediction pair, or of a set of cases from a manifest.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "core/json_number.h"
#include "pulmo/cxr_model.h"
#include "pulmo/error.h"
#include "pulmo/eval.h"
#include "pulmo/eval_set.h"
#include "pulmo/fileutil.h"
#include "pulmo/io.h"

namespace pulmo::cli {

namespace {

struct Options {
  std::string reference, prediction, manifest, attributes, output_dir;
  std::vector<std::string> readers;
  std::string consensus_out, consensus_method = "staple";
  std::string classification, threshold = "0.5", threshold_from;
  std::string probe;
  std::vector<std::string> probe_attributes{"sex"};
  int probe_folds = 5;
  std::vector<int> labels;
  std::vector<double> tolerances{5.0};
  std::vector<double> age_edges{40, 50, 60, 70, 80};
  bool binary = false, resample = false, json = false;
  int bootstrap = 1000;
  uint64_t seed = 20201;
};

std::string tolerance_key(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", t);
  return buf;
}


nlohmann::json label_json(const LabelMetrics& m) {
  nlohmann::json j;
  j["dice"] = json_number(m.dice);
  for (const auto& [t, v] : m.surface_dice) j["surface_dice"][tolerance_key(t)] = json_number(v);
  j["hd95"] = json_number(m.hd95);
  j["hd100"] = json_number(m.hd100);
  j["assd"] = json_number(m.assd);
  j["asd_ref_to_pred"] = json_number(m.asd_ref_to_pred);
  j["asd_pred_to_ref"] = json_number(m.asd_pred_to_ref);
  j["jaccard"] = json_number(m.jaccard);
  j["sensitivity"] = json_number(m.sensitivity);
  j["specificity"] = json_number(m.specificity);
  j["precision"] = json_number(m.precision);
  j["volume_ref_ml"] = json_number(m.volume_ref_ml);
  j["volume_pred_ml"] = json_number(m.volume_pred_ml);
  j["volume_diff_ml"] = json_number(m.volume_diff_ml);
  j["voxels_ref"] = m.voxels_ref;
  j["voxels_pred"] = m.voxels_pred;
  j["voxels_both"] = m.voxels_both;
  return j;
}

std::string fmt(double v, const char* f = "%.4f") {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

void print_text(const std::vector<LabelMetrics>& metrics) {
  for (const auto& m : metrics) {
    std::cout << "Label " << m.label << "\n"
              << "  Dice            " << fmt(m.dice) << "   Jaccard " << fmt(m.jaccard) << "\n"
              << "  sensitivity     " << fmt(m.sensitivity) << "   precision " << fmt(m.precision) << "   specificity "
              << fmt(m.specificity) << "\n";
    for (const auto& [t, v] : m.surface_dice) std::cout << "  surface Dice @" << tolerance_key(t) << " mm  " << fmt(v) << "\n";
    std::cout << "  HD95 / HD100    " << fmt(m.hd95, "%.3f") << " / " << fmt(m.hd100, "%.3f") << " mm\n"
              << "  ASD ref->pred   " << fmt(m.asd_ref_to_pred, "%.3f") << " mm, pred->ref " << fmt(m.asd_pred_to_ref, "%.3f")
              << " mm, symmetric " << fmt(m.assd, "%.3f") << " mm\n"
              << "  volume          reference " << fmt(m.volume_ref_ml, "%.2f") << " mL, prediction "
              << fmt(m.volume_pred_ml, "%.2f") << " mL, difference " << fmt(m.volume_diff_ml, "%+.2f") << " mL\n";
  }
}

Volume read_labels(const std::string& path, const std::string& what) {
  try {
    return read_volume(path);
  } catch (const Error& e) {
    throw e.with_context("reading the " + what);
  }
}

int run_pair(const Options& opt, const GlobalOptions& global) {
  const Volume ref = read_labels(opt.reference, "reference");
  Volume pred = read_labels(opt.prediction, "prediction");
  if (!ref.geometry.same_grid_as(pred.geometry)) {
    if (!opt.resample)
      throw Error(ExitCode::Mismatch, "the prediction is on another grid than the reference: reference " +
                                          ref.geometry.describe() + ", prediction " + pred.geometry.describe() +
                                          " (--resample-prediction resamples it, nearest neighbour)");
    note(global, "resampling the prediction into the reference grid (nearest neighbour)");
    pred = resample_labels_nearest(pred, ref.geometry);
  }
  SegmentationOptions so;
  so.labels = opt.labels;
  so.tolerances_mm = opt.tolerances;
  so.binary = opt.binary;
  const std::vector<LabelMetrics> metrics = segmentation_metrics(ref, pred, so);
  if (opt.json) {
    nlohmann::json j;
    j["reference"] = opt.reference;
    j["prediction"] = opt.prediction;
    j["tolerances_mm"] = opt.tolerances;
    j["labels"] = nlohmann::json::object();
    for (const auto& m : metrics) j["labels"][std::to_string(m.label)] = label_json(m);
    std::cout << j.dump(2) << "\n";
  } else {
    print_text(metrics);
  }
  return 0;
}

int run_set(const Options& opt, const GlobalOptions& global) {
  if (opt.output_dir.empty()) throw Error(ExitCode::Usage, "--manifest needs --output-dir");
  EvalManifest manifest = read_eval_manifest(opt.manifest);
  if (!opt.attributes.empty()) merge_attributes(manifest, opt.attributes);
  SetOptions so;
  so.segmentation.labels = opt.labels;
  so.segmentation.tolerances_mm = opt.tolerances;
  so.segmentation.binary = opt.binary;
  so.resample_prediction = opt.resample;
  so.bootstrap.resamples = opt.bootstrap;
  so.bootstrap.seed = opt.seed;
  so.age_edges = opt.age_edges;
  so.progress = !global.quiet;
  const std::vector<CaseResult> results = evaluate_cases(manifest, so);
  write_set_report(manifest, results, so, opt.output_dir);
  note(global, "wrote cases.csv, summary.json, summary.md and summary.html to " + opt.output_dir);
  return 0;
}

int run_classification(const Options& opt, const GlobalOptions& global) {
  if (opt.output_dir.empty()) throw Error(ExitCode::Usage, "--classification needs --output-dir");
  ClassificationSet set = read_classification_csv(opt.classification);
  if (!opt.attributes.empty()) {
    // Attributes keyed by case, as for manifests.
    EvalManifest keyed;
    for (const auto& c : set.cases) keyed.cases.push_back({c.id, "", "", c.patient, "", "", c.attributes});
    keyed.attribute_names = set.attribute_names;
    merge_attributes(keyed, opt.attributes);
    for (size_t i = 0; i < set.cases.size(); ++i) set.cases[i].attributes = keyed.cases[i].attributes;
    set.attribute_names = keyed.attribute_names;
  }
  double threshold = 0.5;
  std::string source = "fixed";
  auto youden_of = [](const ClassificationSet& s) {
    std::vector<int> labels;
    std::vector<double> scores;
    for (const auto& c : s.cases) {
      labels.push_back(c.label);
      scores.push_back(c.score);
    }
    return youden_threshold(labels, scores);
  };
  if (!opt.threshold_from.empty()) {
    threshold = youden_of(read_classification_csv(opt.threshold_from));
    source = "Youden on " + opt.threshold_from;
  } else if (opt.threshold == "youden") {
    threshold = youden_of(set);
    source = "Youden on these cases (optimistic: choose it on validation data with --threshold-from)";
    warn("the Youden threshold is chosen on the evaluated cases themselves; use --threshold-from validation.csv");
  } else {
    try {
      size_t used = 0;
      threshold = std::stod(opt.threshold, &used);
      if (used != opt.threshold.size() || !std::isfinite(threshold)) throw std::invalid_argument(opt.threshold);
    } catch (const std::exception&) {
      throw Error(ExitCode::Usage, "--threshold must be a number or 'youden', got '" + opt.threshold + "'");
    }
  }
  SetOptions so;
  so.bootstrap.resamples = opt.bootstrap;
  so.bootstrap.seed = opt.seed;
  so.age_edges = opt.age_edges;
  write_classification_report(set, threshold, source, so, opt.output_dir);
  note(global, "wrote classification.json and classification.md to " + opt.output_dir + " (threshold " +
                   std::to_string(threshold) + ", " + source + ")");
  return 0;
}

// Shortcut probe: can a linear model on the per-case features predict attributes that must not drive a model?
int run_probe(const Options& opt, const GlobalOptions& global) {
  const auto results = cxr::probe_feature_file(opt.probe, opt.probe_attributes, opt.probe_folds, opt.seed, opt.bootstrap);
  nlohmann::json j = {{"features", opt.probe}, {"folds", opt.probe_folds}, {"seed", opt.seed}, {"probes", nlohmann::json::array()}};
  for (const auto& r : results)
    j["probes"].push_back({{"attribute", r.attribute}, {"positive", r.positive}, {"n", r.n}, {"positives", r.positives},
                           {"roc_auc", json_number(r.auc.estimate)}, {"low", json_number(r.auc.low)}, {"high", json_number(r.auc.high)}});
  if (!opt.output_dir.empty()) {
    write_text_atomic((std::filesystem::path(opt.output_dir) / "probe.json").string(), j.dump(2) + "\n");
    note(global, "wrote " + opt.output_dir + "/probe.json");
  }
  if (opt.json || opt.output_dir.empty()) {
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& r : results)
      std::printf("%-12s %s=1  n=%d  cross-validated AUC %.3f [%.3f, %.3f]\n", r.attribute.c_str(), r.positive.c_str(), r.n,
                  r.auc.estimate, r.auc.low, r.auc.high);
  }
  return 0;
}

int run_readers(const Options& opt, const GlobalOptions& global) {
  std::vector<Volume> readers;
  for (size_t i = 0; i < opt.readers.size(); ++i) readers.push_back(read_labels(opt.readers[i], "mask of reader " + std::to_string(i + 1)));
  const double tolerance = opt.tolerances.front();
  const std::vector<ReaderPairAgreement> pairs = inter_reader_agreement(readers, tolerance);
  ConsensusResult c;
  const bool want_consensus = !opt.consensus_out.empty();
  if (want_consensus) {
    c = consensus(readers, opt.consensus_method == "majority" ? ConsensusMethod::MajorityVote : ConsensusMethod::Staple);
    write_volume(c.mask, opt.consensus_out);
    note(global, "wrote the " + opt.consensus_method + " consensus to " + opt.consensus_out);
  }
  nlohmann::json j;
  j["readers"] = opt.readers;
  j["tolerance_mm"] = tolerance;
  for (const auto& p : pairs)
    j["pairs"].push_back({{"reader_a", p.reader_a + 1}, {"reader_b", p.reader_b + 1}, {"dice", json_number(p.dice)},
                          {"surface_dice", json_number(p.surface_dice)}});
  if (want_consensus) {
    j["consensus"] = {{"method", opt.consensus_method}, {"path", opt.consensus_out}};
    if (!c.sensitivity.empty()) {
      j["consensus"]["staple_sensitivity"] = c.sensitivity;
      j["consensus"]["staple_specificity"] = c.specificity;
      j["consensus"]["staple_iterations"] = c.iterations;
    }
  }
  if (opt.json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "Inter-reader agreement (surface Dice at " << tolerance_key(tolerance) << " mm)\n";
  for (const auto& p : pairs)
    std::cout << "  readers " << p.reader_a + 1 << " and " << p.reader_b + 1 << ": Dice " << fmt(p.dice)
              << ", surface Dice " << fmt(p.surface_dice) << "\n";
  for (size_t i = 0; i < c.sensitivity.size(); ++i)
    std::cout << "  STAPLE reader " << i + 1 << ": sensitivity " << fmt(c.sensitivity[i]) << ", specificity "
              << fmt(c.specificity[i], "%.6f") << "\n";
  return 0;
}

}  // namespace

Action register_eval(CLI::App& app, const GlobalOptions& global) {
  auto opt = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Evaluate segmentations (Dice, surface Dice, Hausdorff, volumes) of one pair or a manifest of cases; "
      "readers' agreement and consensus; prognosis scores");
  auto* ref = sub->add_option("--reference,-r", opt->reference, "reference label map (one pair)");
  auto* pred = sub->add_option("--prediction,-p", opt->prediction, "predicted label map (one pair)");
  auto* man = sub->add_option("--manifest", opt->manifest,
                              "CSV of cases: case, reference, prediction [, patient, lung_reference, lung_prediction, "
                              "attributes...]");
  ref->needs(pred);
  pred->needs(ref);
  auto* readers = sub->add_option("--readers", opt->readers, "several readers' binary masks of one case: pairwise "
                                  "agreement, and a consensus with --consensus-out")->delimiter(',');
  man->excludes(ref)->excludes(pred);
  readers->excludes(ref)->excludes(pred)->excludes(man);
  auto* cls = sub->add_option("--classification", opt->classification,
                              "CSV of case, label (0/1), score [, patient, attributes...]: prognosis metrics with "
                              "CIs and subgroups into --output-dir");
  cls->excludes(ref)->excludes(pred)->excludes(man)->excludes(readers);
  sub->add_option("--threshold", opt->threshold, "classification: a number (default 0.5) or 'youden'")->needs(cls);
  sub->add_option("--threshold-from", opt->threshold_from,
                  "classification: choose the Youden threshold on this validation CSV and apply it")
      ->needs(cls);
  auto* probe = sub->add_option("--probe", opt->probe,
                                "per-case feature CSV (case_id, patient_id, attributes, f0, f1, ...): linear probe "
                                "predicting --probe-attributes, patient-level cross-validated AUC with 95 % CI");
  probe->excludes(ref)->excludes(pred)->excludes(man)->excludes(readers)->excludes(cls);
  sub->add_option("--probe-attributes", opt->probe_attributes, "probe: attribute columns (default sex)")
      ->delimiter(',')->needs(probe);
  sub->add_option("--probe-folds", opt->probe_folds, "probe: cross-validation folds (default 5)")
      ->check(CLI::Range(2, 1000))->needs(probe);
  sub->add_option("--consensus-out", opt->consensus_out, "readers: write the consensus mask here")->needs(readers);
  sub->add_option("--consensus-method", opt->consensus_method, "readers: staple (default) or majority")
      ->check(CLI::IsMember({"staple", "majority"}))
      ->needs(readers);
  sub->add_option("--labels", opt->labels, "labels to evaluate, e.g. 1,2 (default: every label present)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  sub->add_option("--tolerance-mm", opt->tolerances, "surface Dice tolerance(s) in mm (default 5)")
      ->delimiter(',')
      ->check(finite_number())
      ->check(CLI::PositiveNumber);
  sub->add_flag("--binary", opt->binary, "the masks are binary (only 0 and 1 allowed)");
  sub->add_flag("--resample-prediction", opt->resample,
                "resample a prediction on another grid into the reference grid (nearest neighbour)");
  sub->add_flag("--json", opt->json, "one pair or --readers: print JSON (NaN and infinity as null)");
  sub->add_option("--output-dir,-o", opt->output_dir, "manifest / classification: folder for the output files");
  sub->add_option("--attributes", opt->attributes, "manifest / classification: CSV of case attributes (column case + attributes)");
  sub->add_option("--age-bins", opt->age_edges, "manifest / classification: edges of the age bins (default 40,50,60,70,80)")
      ->delimiter(',');
  sub->add_option("--bootstrap", opt->bootstrap, "manifest / classification: bootstrap resamples for the 95 % intervals (default 1000)")
      ->check(CLI::Range(0, 1000000));
  sub->add_option("--seed", opt->seed, "manifest / classification: bootstrap seed (default 20201)");
  return [opt, sub, &global]() {
    if (!opt->manifest.empty()) return run_set(*opt, global);
    if (!opt->readers.empty()) return run_readers(*opt, global);
    if (!opt->classification.empty()) return run_classification(*opt, global);
    if (!opt->probe.empty()) return run_probe(*opt, global);
    if (opt->reference.empty())
      throw Error(ExitCode::Usage, "pulmo eval needs --reference and --prediction, --manifest, --readers or --classification\n" + sub->help());
    return run_pair(*opt, global);
  };
}

}  // namespace pulmo::cli
