// train_from_config(): what `pulmo train` runs - a training configuration's cases prepared once, its patient-level
// splits, and one model folder per fold (docs/training.md). In app/ because the cxr_lungs task prepares its samples
// with the chest X-ray readers (src/cxr).
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "pulmo/cxr_model.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/job.h"
#include "pulmo/runtime.h"
#include "pulmo/train.h"
#include "pulmo/train_config.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

std::string gib(double bytes) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1) << bytes / double(1ull << 30) << " GiB";
  return o.str();
}

// A lower bound of the memory one training step needs: the activations the U-Net keeps for the
// backward pass (about 8 float tensors of each level's width and size), for a whole batch. Refusing
// only what cannot fit in the machine's memory even at this bound leaves every sane configuration alone.
double training_step_bytes(const TrainOptions& t) {
  const UNetOptions& u = t.network.unet;
  double voxels = 1;
  for (int64_t p : t.patch_size) voxels *= static_cast<double>(p);
  double floats = 0;
  for (int l = 0; l < u.depth; ++l)
    floats += 8.0 * std::min<double>(double(u.base_width) * std::pow(2.0, l), u.max_width) * voxels / std::pow(8.0, l);
  return floats * 4.0 * t.batch_size;
}

// Every prepared case stays in memory while training (image float32, label uint8, and the float
// label resampling on the way): about 12 bytes per resampled voxel.
double prepared_case_bytes(const Geometry& g, const Vec3& spacing_mm) {
  double voxels = 1;
  for (int a = 0; a < 3; ++a)
    voxels *= spacing_mm[a] > 0 ? std::ceil(double(g.size[a]) * g.spacing_mm[a] / spacing_mm[a]) : double(g.size[a]);
  return voxels * 12.0;
}

// Resampled, normalised image and the task's label map, ready for the trainer. `budget` is the memory
// left for prepared cases; it shrinks by what this case takes.
Sample prepare_case(const Case& c, const DataOptions& d, const TrainOptions& t, double* budget) {
  if (d.task == "cxr_lungs") {  // a chest X-ray and its lung mask, letterboxed to the (square) patch
    if (c.lungs.empty()) throw Error(ExitCode::NoData, "case '" + c.case_id + "' has no lung mask (lungs column)");
    Sample s = cxr::lung_training_sample(c.image, c.lungs, int(t.patch_size[0]));
    s.id = c.case_id;
    if (budget) *budget -= double(s.image.numel()) * 6.0;
    return s;
  }
  LabelledCase lc = load_case(c);
  const double need = prepared_case_bytes(lc.image.geometry, d.spacing_mm);
  if (budget && need > *budget)
    throw Error(ExitCode::BadConfig, "data.spacing_mm (" + std::to_string(d.spacing_mm[0]) + ", " +
                                         std::to_string(d.spacing_mm[1]) + ", " + std::to_string(d.spacing_mm[2]) +
                                         ") resamples case '" + c.case_id + "' to " + gib(need) +
                                         "; with the cases before it that is more than this machine's memory (" +
                                         gib(double(physical_memory_bytes())) + "): use a coarser spacing");
  if (budget) *budget -= need;
  if (d.task == "lungs" && !lc.has_lungs) throw Error(ExitCode::NoData, "case '" + c.case_id + "' has no lung labels");
  if (d.task == "lung_box" && !lc.has_lungs) throw Error(ExitCode::NoData, "case '" + c.case_id + "' has no lung labels");
  if (d.task == "lesions" && !lc.has_lesions)
    throw Error(ExitCode::NoData, "case '" + c.case_id + "' has no lesion labels");
  const Volume label = prepare_labels(d.task == "lesions" ? lc.lesions : lc.lungs, d.spacing_mm);
  Sample s;
  Volume image;
  if (d.task == "lung_box") {  // HU kept: the box trainer crops, then builds the network input (box_network_input)
    image = prepare_hu(lc.image, d.spacing_mm);
    s.image = image.voxels.to(at::kFloat);
  } else {
    image = prepare_image(lc.image, d.spacing_mm, d.intensity);
    s.image = image.voxels;
  }
  s.label = label.voxels.to(at::kByte);
  // out_channels 2 is one foreground label: a case with labels 1 and 2 would end in an index error inside the loss.
  const int channels = t.network.unet.out_channels;
  const int64_t top = d.task == "lung_box" ? 0 : s.label.max().item<int64_t>();
  if (top >= std::max(2, channels)) {
    const bool lesions = d.task == "lesions";
    throw Error(ExitCode::BadConfig,
                std::string(lesions ? "its lesion labels" : "its lung labels") + " hold the value " + std::to_string(top) +
                    (lesions ? " (1 ground-glass, 2 consolidation)" : " (1 right lung, 2 left lung)") +
                    ", but network.unet.out_channels " + std::to_string(channels) + " takes the labels 0.." +
                    std::to_string(std::max(2, channels) - 1) + " only: set network.unet.out_channels to 3" +
                    (lesions ? ", or give the cases a manifest convention with one lesion label (binary, mosmed, covid19-20)"
                             : " (pulmo's lung labels always name the side)"));
  }
  s.spacing_mm = image.geometry.spacing_mm;
  s.id = c.case_id;
  index_foreground(s);
  return s;
}

// The manifest attribute `repeat` (an integer 1..10000; default 1).
int case_repeat(const Case& c) {
  const auto it = c.attributes.find("repeat");
  if (it == c.attributes.end() || it->second.empty()) return 1;
  int n = 0;
  size_t used = 0;
  try {
    n = std::stoi(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != it->second.size() || n < 1 || n > 10000)
    throw Error(ExitCode::BadConfig, "case '" + c.case_id + "': repeat '" + it->second +
                                         "' must be an integer from 1 to 10000 (how many times as often the case is drawn)");
  return n;
}

std::vector<Split> make_splits(const Manifest& m, const DataOptions& d) {
  switch (d.split) {
    case SplitKind::KFold: return kfold_splits(m, d.folds, d.validation_fraction, d.split_seed);
    case SplitKind::LeaveOnePatientOut: return leave_one_patient_out(m, d.validation_fraction, d.split_seed);
    case SplitKind::Holdout: break;
  }
  return {holdout_split(m, d.validation_fraction, d.test_fraction, d.split_seed)};
}

nlohmann::json case_ids(const Manifest& m, const std::vector<int>& idx) {
  nlohmann::json a = nlohmann::json::array();
  for (int i : idx) a.push_back(m.cases[i].case_id);
  return a;
}

// What model.json says of a model trained with `cfg`, named `name`: task, spacing, HU window and normalisation,
// label names (network, patch size and training block: the trainer fills them in).
ModelInfo model_info(const TrainConfig& cfg, const std::string& name) {
  ModelInfo info;
  info.name = name;
  info.task = cfg.data.task;
  info.spacing_mm = cfg.data.spacing_mm;
  info.intensity = cfg.data.intensity;
  info.label_names = cfg.data.task == "lesions" ? std::vector<std::string>{"background", "ground_glass", "consolidation"}
                                                : std::vector<std::string>{"background", "right_lung", "left_lung"};
  if (cfg.data.task == "lung_box") info.label_names = {"x0", "y0", "z0", "x1", "y1", "z1"};
  else if (cfg.data.task == "cxr_lungs") info.label_names = {"background", "lung"};
  else if (cfg.train.network.unet.out_channels == 2) info.label_names.resize(2);
  return info;
}

// training.init_from (fine-tuning): the folder must be a model of the network, task, input spacing, HU window and
// labels this configuration trains - its weights are the starting point, nothing else of it is used. Checked before
// any case is prepared.
void check_init_model(const TrainConfig& cfg) {
  const std::string& folder = cfg.train.init_from;
  const fs::path json_path = fs::path(folder) / "model.json";
  if (!fs::is_regular_file(json_path))
    throw Error(ExitCode::NotFound, "training.init_from: '" + folder + "' is not a model folder (no model.json)");
  const ModelInfo from = model_info_from_json(read_text_file(json_path.string()), json_path.string());
  if (!fs::is_regular_file(fs::path(folder) / from.weights))
    throw Error(ExitCode::NotFound, "training.init_from: '" + folder + "' has no weights file '" + from.weights + "'");
  ModelInfo here = model_info(cfg, from.name);
  here.network = cfg.train.network;
  const nlohmann::json a = nlohmann::json::parse(model_info_to_json(from)), b = nlohmann::json::parse(model_info_to_json(here));
  std::string diffs;
  auto compare = [&](const std::string& what, const nlohmann::json& x, const nlohmann::json& y) {
    if (x != y) diffs += (diffs.empty() ? "" : "; ") + what + " " + x.dump() + " there, " + y.dump() + " here";
  };
  for (const char* key : {"task", "network", "intensity", "label_names"}) compare(key, a.value(key, nlohmann::json()), b.value(key, nlohmann::json()));
  compare("spacing_mm", a["input"].value("spacing_mm", nlohmann::json()), b["input"].value("spacing_mm", nlohmann::json()));
  if (!diffs.empty())
    throw Error(ExitCode::BadConfig, "training.init_from: the model in '" + folder + "' does not match this configuration: " + diffs);
}

}  // namespace

std::vector<FoldOutcome> train_from_config(const TrainJobOptions& job) {
  const auto note = [&job](const std::string& message) {
    if (job.note) job.note(message);
  };
  TrainConfig cfg = read_train_config(job.config);
  if (!job.output.empty()) cfg.train.output = job.output;
  if (job.fold) cfg.data.fold = *job.fold;
  if (job.threads) {
    const int max_threads = kMaxThreadsPerCore * available_cores();
    if (*job.threads < 0 || *job.threads > max_threads)
      throw Error(ExitCode::BadConfig, "threads " + std::to_string(*job.threads) + " must be 0..." +
                                           std::to_string(max_threads) + " (at most " + std::to_string(kMaxThreadsPerCore) +
                                           " per available core; 0 = every core)");
  }
  // Before any case is prepared: resampling runs on these threads too. The stored configuration keeps the file's
  // training.threads (model.json stays as it was), the progress notes name the count used.
  const int threads = set_threads(job.threads ? *job.threads : cfg.threads);
  if (cfg.train.output.empty()) throw Error(ExitCode::BadConfig, job.config + ": no output folder (key 'output' or --output)");
  if (cfg.data.manifest.empty()) throw Error(ExitCode::BadConfig, job.config + ": no data.manifest");
  if (!cfg.train.init_from.empty()) {
    if (cfg.data.task == "lung_box")
      throw Error(ExitCode::BadConfig, job.config + ": training.init_from is for segmentation models, not lung_box");
    fs::path init(cfg.train.init_from);
    if (init.is_relative()) init = fs::path(job.config).parent_path() / init;
    cfg.train.init_from = init.lexically_normal().string();
    check_init_model(cfg);
  }
  fs::path manifest_path(cfg.data.manifest);
  if (manifest_path.is_relative()) manifest_path = fs::path(job.config).parent_path() / manifest_path;
  const Manifest manifest = read_manifest(manifest_path.string());
  if (manifest.cases.empty()) throw Error(ExitCode::NoData, "manifest '" + manifest_path.string() + "' lists no case");
  const std::vector<Split> splits = make_splits(manifest, cfg.data);
  std::vector<int> folds;
  if (cfg.data.fold >= 0) {
    if (cfg.data.fold >= static_cast<int>(splits.size()))
      throw Error(ExitCode::BadConfig, "data.fold " + std::to_string(cfg.data.fold) + " does not exist (" +
                                           std::to_string(splits.size()) + " folds)");
    folds.push_back(cfg.data.fold);
  } else {
    for (size_t i = 0; i < splits.size(); ++i) folds.push_back(static_cast<int>(i));
  }
  for (const Case& c : manifest.cases) (void)case_repeat(c);  // a bad repeat is refused before any preparation
  // Load every case a chosen fold needs, once.
  std::set<int> needed;
  for (int f : folds) {
    needed.insert(splits[f].train.begin(), splits[f].train.end());
    needed.insert(splits[f].validation.begin(), splits[f].validation.end());
  }
  // Resources before any work: a patch or batch whose activations alone exceed the machine's memory
  // would end in an allocation failure after minutes of preparation.
  const double memory = double(physical_memory_bytes());
  const double step_bytes = training_step_bytes(cfg.train);
  if (memory > 0 && step_bytes > memory)
    throw Error(ExitCode::BadConfig, job.config + ": training.patch_size " + std::to_string(cfg.train.patch_size[0]) +
                                         "x" + std::to_string(cfg.train.patch_size[1]) + "x" +
                                         std::to_string(cfg.train.patch_size[2]) + " with batch_size " +
                                         std::to_string(cfg.train.batch_size) + " needs at least " + gib(step_bytes) +
                                         " per training step, more than this machine's memory (" + gib(memory) +
                                         "): use a smaller patch_size or batch_size");
  double budget = memory > 0 ? memory - step_bytes : 1e300;
  std::map<int, Sample> samples;
  int done = 0;
  for (int i : needed) {
    try {
      samples[i] = prepare_case(manifest.cases[i], cfg.data, cfg.train, &budget);
    } catch (const Error& e) {
      throw e.with_context("preparing case '" + manifest.cases[i].case_id + "'");
    }
    note("prepared case " + std::to_string(++done) + "/" + std::to_string(needed.size()) + " (" +
         manifest.cases[i].case_id + ")");
  }
  const std::string config_text = read_text_file(job.config);
  const std::string ext = fs::path(job.config).extension().string();
  std::vector<FoldOutcome> outcomes;
  for (int f : folds) {
    const Split& split = splits[f];
    TrainOptions o = cfg.train;
    if (splits.size() > 1 || cfg.data.split != SplitKind::Holdout) o.output = (fs::path(cfg.train.output) / ("fold_" + std::to_string(f))).string();
    o.resume = job.resume;
    o.progress = job.progress;
    nlohmann::json training = {{"config", nlohmann::json::parse(train_config_to_json(cfg))},
                               {"manifest", manifest_path.string()},
                               {"fold", f},
                               {"folds", splits.size()},
                               {"cases", {{"train", case_ids(manifest, split.train)},
                                          {"validation", case_ids(manifest, split.validation)},
                                          {"test", case_ids(manifest, split.test)}}}};
    o.config_json = training.dump();
    std::vector<Sample> train, validation;
    for (int i : split.train)  // a case with the attribute repeat = N is drawn N times as often (listed N times, loaded once)
      for (int k = 0; k < case_repeat(manifest.cases[i]); ++k) train.push_back(samples.at(i));
    for (int i : split.validation) validation.push_back(samples.at(i));
    if (train.empty()) throw Error(ExitCode::NoData, "fold " + std::to_string(f) + " has no training case");
    const ModelInfo info = model_info(cfg, fs::path(o.output).filename().string());
    std::error_code ec;
    fs::create_directories(o.output, ec);
    if (ec) throw Error(ExitCode::WriteFailed, "cannot create output folder '" + o.output + "': " + ec.message());
    write_text_atomic((fs::path(o.output) / ("config" + (ext.empty() ? std::string(".json") : ext))).string(), config_text);
    note("fold " + std::to_string(f) + ": " + std::to_string(train.size()) + " training, " +
         std::to_string(validation.size()) + " validation, " + std::to_string(split.test.size()) +
         " test case(s) -> " + o.output + ", on " + std::to_string(threads) + " thread(s)");
    FoldOutcome outcome;
    outcome.fold = f;
    outcome.output = o.output;
    outcome.task = cfg.data.task;
    outcome.result = cfg.data.task == "lung_box" ? train_lung_box(o, info, train, validation)
                                                 : train_segmentation(o, info, train, validation);
    if (job.fold_done) job.fold_done(outcome);
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

}  // namespace pulmo
