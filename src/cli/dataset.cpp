// pulmo dataset check MANIFEST | pulmo dataset split MANIFEST: validate a manifest; patient-level splits.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"

namespace pulmo::cli {

namespace {

struct DatasetArgs {
  std::string manifest, out;
  bool json = false, leave_one_out = false, csv = false;
  int k = 0;
  double validation = 0.2, test = 0.0;
  uint64_t seed = 0;
  // import
  std::string format, root, input_window, set;
  bool overwrite = false;
};

// A progress callback that notes "VERB done/total NOUN, ETA" on stderr at most every 2 s (and at the end).
std::function<void(int, int)> progress_note(const GlobalOptions& global, const char* verb, const char* noun) {
  const auto start = std::chrono::steady_clock::now();
  auto last = std::make_shared<std::chrono::steady_clock::time_point>(start);
  return [&global, verb, noun, start, last](int done, int total) {
    const auto now = std::chrono::steady_clock::now();
    if (done < total && std::chrono::duration<double>(now - *last).count() < 2.0) return;
    *last = now;
    const double elapsed = std::chrono::duration<double>(now - start).count();
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s %d/%d %s, ETA %.0f s", verb, done, total, noun, elapsed / done * (total - done));
    note(global, buf);
  };
}

int run_check(const DatasetArgs& a, const GlobalOptions& global) {
  const Manifest m = read_manifest(a.manifest);
  std::vector<ManifestProblem> warnings;
  const auto problems = check_manifest(m, &warnings, progress_note(global, "checked", "cases"));
  if (a.json) {
    nlohmann::json j = {{"manifest", a.manifest}, {"cases", m.cases.size()}, {"problems", nlohmann::json::array()},
                        {"warnings", nlohmann::json::array()}};
    for (const auto& p : problems) j["problems"].push_back({{"case_id", p.case_id}, {"message", p.message}});
    for (const auto& w : warnings) j["warnings"].push_back({{"case_id", w.case_id}, {"message", w.message}});
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& p : problems) std::cout << "problem  " << (p.case_id.empty() ? "(manifest)" : p.case_id) << ": " << p.message << "\n";
    for (const auto& w : warnings) std::cout << "warning  " << w.case_id << ": " << w.message << "\n";
    std::cout << m.cases.size() << " case(s), " << problems.size() << " problem(s), " << warnings.size() << " warning(s)\n";
  }
  if (!problems.empty())
    throw Error(ExitCode::BadConfig, "manifest '" + a.manifest + "' has " + std::to_string(problems.size()) + " problem(s), listed above");
  return 0;
}

nlohmann::json split_json(const Manifest& m, const Split& s) {
  nlohmann::json j;
  for (const auto& [name, set] : {std::pair<const char*, const std::vector<int>*>{"train", &s.train},
                                  {"validation", &s.validation}, {"test", &s.test}}) {
    j[name] = nlohmann::json::array();
    for (int i : *set) j[name].push_back(m.cases[i].case_id);
  }
  return j;
}

int run_split(const DatasetArgs& a, const GlobalOptions& global) {
  const Manifest m = read_manifest(a.manifest);
  nlohmann::json j = {{"manifest", a.manifest}, {"seed", a.seed}, {"validation_fraction", a.validation}};
  std::vector<Split> splits;
  if (a.leave_one_out) {
    j["method"] = "leave-one-patient-out";
    splits = leave_one_patient_out(m, a.validation, a.seed);
  } else if (a.k > 0) {
    j["method"] = "k-fold";
    j["k"] = a.k;
    splits = kfold_splits(m, a.k, a.validation, a.seed);
  } else {
    j["method"] = "holdout";
    j["test_fraction"] = a.test;
    splits = {holdout_split(m, a.validation, a.test, a.seed)};
  }
  j["folds"] = nlohmann::json::array();
  for (const Split& s : splits) j["folds"].push_back(split_json(m, s));
  std::string text = j.dump(2) + "\n";
  if (a.csv) {  // one row per fold and case: for shell scripts
    text = "fold,set,case_id\n";
    for (size_t f = 0; f < splits.size(); ++f)
      for (const auto& [name, set] : {std::pair<const char*, const std::vector<int>*>{"train", &splits[f].train},
                                      {"validation", &splits[f].validation}, {"test", &splits[f].test}})
        for (int i : *set) text += std::to_string(f + 1) + "," + name + "," + m.cases[i].case_id + "\n";
  }
  if (a.out.empty()) {
    std::cout << text;
  } else {
    write_text_atomic(a.out, text);
    note(global, "wrote " + std::to_string(splits.size()) + " split(s) to " + a.out);
  }
  return 0;
}

int run_import(const DatasetArgs& a, const GlobalOptions& global) {
  if (a.format != "covid-semiseg")
    throw Error(ExitCode::Usage, "dataset import: unknown layout '" + a.format + "' (known: covid-semiseg)");
  ImportOptions o;
  o.window = parse_input_window(a.input_window);
  o.overwrite = a.overwrite;
  o.only_set = a.set;
  const Manifest m = import_covid_semiseg(a.root, a.out, o, progress_note(global, "imported", "slices"));
  int expert = 0;
  for (const Case& c : m.cases) expert += c.attributes.at("set") == "expert";
  std::cout << "imported " << m.cases.size() << " slice(s) (" << expert << " expert, " << m.cases.size() - expert
            << " pseudo-labelled) into " << a.out << "\nmanifest: " << m.path << "\n";
  return 0;
}

}  // namespace

Action register_dataset(CLI::App& app, const GlobalOptions& global) {
  auto a = std::make_shared<DatasetArgs>();
  CLI::App* sub = app.add_subcommand("dataset", "Check a dataset manifest, or split it by patient (docs/datasets.md)");
  sub->require_subcommand(1);
  CLI::App* check = sub->add_subcommand("check", "List every problem of a manifest; exit 10 when there is any");
  check->add_option("manifest", a->manifest, "manifest (.csv or .json)")->required();
  check->add_flag("--json", a->json, "print JSON instead of text");
  CLI::App* split = sub->add_subcommand("split", "Patient-level train/validation/test splits as JSON (case ids)");
  split->add_option("manifest", a->manifest, "manifest (.csv or .json)")->required();
  auto* k = split->add_option("--k", a->k, "k-fold cross-validation with k folds")->check(CLI::Range(2, 1000000));
  auto* loo = split->add_flag("--leave-one-out", a->leave_one_out, "one fold per patient");
  split->add_option("--test", a->test, "holdout: fraction of patients for testing")->check(finite_number())->check(CLI::Range(0.0, 0.99))->capture_default_str();
  split->add_option("--validation", a->validation, "fraction of the non-test patients for validation")
      ->check(finite_number())->check(CLI::Range(0.0, 0.99))->capture_default_str();
  split->add_option("--seed", a->seed, "shuffling seed")->capture_default_str();
  split->add_option("--out", a->out, "write the JSON here (atomically) instead of stdout");
  split->add_flag("--csv", a->csv, "CSV rows fold,set,case_id (folds numbered from 1) instead of JSON");
  k->excludes(loo);
  CLI::App* import = sub->add_subcommand("import", "Convert a public dataset's layout into pulmo cases and a manifest "
                                                   "(covid-semiseg: 8-bit slices -> approximate HU NIfTI)");
  import->add_option("layout", a->format, "the dataset's layout: covid-semiseg")->required();
  import->add_option("root", a->root, "the dataset's folder (e.g. ../shared/data/ct/covid-semiseg)")->required();
  import->add_option("--out", a->out, "output folder (images/, lesions/, manifest.csv)")->required();
  import->add_option("--input-window", a->input_window,
                     "LO,HI: the slices' export window in HU; auto (default): calibrate each slice from its lung and "
                     "soft-tissue peaks (docs/datasets.md)");
  import->add_option("--set", a->set, "only this set: expert or pseudo (default both)");
  import->add_flag("--overwrite", a->overwrite, "redo an earlier import into the same folder");
  return [a, check, import, &global]() {
    if (check->parsed()) return run_check(*a, global);
    if (import->parsed()) return run_import(*a, global);
    return run_split(*a, global);
  };
}

}  // namespace pulmo::cli
