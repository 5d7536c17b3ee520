// Patient-level cross-validation of the CXR variants, the shipped models, permutation importance.
#include <torch/torch.h>
#include <ATen/CPUGeneratorImpl.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <mutex>
#include <numeric>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <cstring>

#include "core/hash.h"
#include "core/json_number.h"
#include "cxr/internal.h"
#include "cxr/net.h"
#include "data/csv.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/model.h"
#include "train/checkpoint.h"
#include "train/internal.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pulmo::cxr {

namespace F = torch::nn::functional;

XrayImage branch_input(const XrayImage& x, const CxrLungSegmenter* lungs, double margin, PixelBox* crop, bool* found) {
  if (crop) *crop = {0, 0, x.width, x.height};
  if (found) *found = true;
  if (!lungs) return x;
  const LungCrop lc = lungs->lung_box(x, margin);
  if (crop) *crop = lc.box;
  if (found) *found = lc.found;
  return lc.found ? crop_xray(x, lc.box) : x;
}

at::Tensor images_tensor(const std::vector<CxrCase>& cases, int size, std::ostream* progress,
                         const CxrLungSegmenter* lungs, double margin, std::vector<std::string>* lungs_missed) {
  at::Tensor t = torch::zeros({int64_t(cases.size()), 1, size, size});
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < cases.size(); ++i) {
    XrayImage x;
    try {
      x = read_xray(cases[i].image);
    } catch (const Error& e) {
      throw e.with_context("case '" + cases[i].case_id + "'");
    }
    bool found = true;
    const std::vector<float> s = letterbox(branch_input(x, lungs, margin, nullptr, &found), size);
    if (!found && lungs_missed) lungs_missed->push_back(cases[i].case_id);
    std::memcpy(t[int64_t(i)].data_ptr<float>(), s.data(), s.size() * sizeof(float));
    if (progress && (i + 1) % 50 == 0)
      *progress << "read " << i + 1 << "/" << cases.size() << " images ("
                << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s)\n";
  }
  return t;
}

at::Tensor clinical_tensor(const std::vector<CxrCase>& cases, const std::vector<int>& rows, const Imputer& im) {
  at::Tensor t = torch::zeros({int64_t(rows.size()), im.width()});
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<float> v = im.transform(cases[rows[r]].clinical);
    std::memcpy(t[int64_t(r)].data_ptr<float>(), v.data(), v.size() * sizeof(float));
  }
  return t;
}

at::Tensor augment_batch(const at::Tensor& x, const CxrAugment& a, std::mt19937_64& rng) {
  if (!a.enabled) return x;
  const int64_t b = x.size(0);
  std::uniform_real_distribution<double> u(-1.0, 1.0), u01(0.0, 1.0);
  at::Tensor theta = torch::zeros({b, 2, 3});
  at::Tensor bright = torch::zeros({b, 1, 1, 1}), contrast = torch::ones({b, 1, 1, 1}), local = torch::zeros({b, 1, 1, 1});
  auto th = theta.accessor<float, 3>();
  for (int64_t i = 0; i < b; ++i) {
    const double r = a.rotation_deg * u(rng) * M_PI / 180.0, s = 1.0 + a.scale * u(rng);
    th[i][0][0] = float(std::cos(r) / s);
    th[i][0][1] = float(-std::sin(r) / s);
    th[i][1][0] = float(std::sin(r) / s);
    th[i][1][1] = float(std::cos(r) / s);
    th[i][0][2] = float(2 * a.translate * u(rng));
    th[i][1][2] = float(2 * a.translate * u(rng));
    bright[i].fill_(a.brightness * u(rng));
    contrast[i].fill_(1.0 + a.contrast * u(rng));
    local[i].fill_(a.local_contrast * u01(rng));
  }
  const at::Tensor grid = F::affine_grid(theta, {b, 1, x.size(2), x.size(3)}, false);
  at::Tensor y = F::grid_sample(x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false));
  const int k = std::max<int>(3, int(x.size(2) / 8) | 1);
  const at::Tensor blur = F::avg_pool2d(y, F::AvgPool2dFuncOptions(k).stride(1).padding(k / 2).count_include_pad(false));
  y = y + local * (y - blur);
  const at::Tensor mean = y.mean({1, 2, 3}, true);
  y = (y - mean) * contrast + mean + bright;
  return y.clamp(0.0, 1.0);
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

at::Tensor labels_of(const std::vector<CxrCase>& cases, const std::vector<int>& rows) {
  at::Tensor y = torch::zeros({int64_t(rows.size())});
  for (size_t r = 0; r < rows.size(); ++r) y[int64_t(r)] = float(cases[rows[r]].severe);
  return y;
}

at::Tensor rows_tensor(const std::vector<int>& rows) {
  std::vector<int64_t> v(rows.begin(), rows.end());
  return torch::tensor(v, torch::kLong);
}

std::vector<double> to_vector(const at::Tensor& t) {
  at::Tensor c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

namespace {

// What `pulmo cxr train --resume` may change (docs/cxr.md): where things are - the cases, their images, labels and
// clinical values are compared through the case ids and a digest instead - and what is computed after training.
const ResumeRules& cxr_resume_rules() {
  static const ResumeRules rules{
      {"config.output", "config.data.manifest", "config.data.hannover", "config.data.ieee8023", "config.model.lung_crop",
       "config.training.bootstrap", "config.training.permutation_repeats"},
      "output, data.manifest, data.hannover, data.ieee8023, model.lung_crop (folders may move; the cases, their "
      "images, labels and clinical values must stay the same), training.bootstrap, training.permutation_repeats "
      "(used only after training)"};
  return rules;
}

// Infinite / NaN numbers (no validation loss yet) are stored as null.
double number_or(const json& j, double if_null) { return j.is_null() ? if_null : j.get<double>(); }

// The state of LibTorch's CPU generator (dropout draws from it), as bytes for a checkpoint, and back.
std::string torch_generator_state() {
  at::Generator g = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(g.mutex());
  const at::Tensor t = g.get_state().contiguous();
  return std::string(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), size_t(t.numel()));
}

void set_torch_generator_state(const std::string& bytes) {
  at::Tensor t = at::empty({int64_t(bytes.size())}, at::kByte);
  std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  at::Generator g = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(t);
}

}  // namespace

FitResult fit_model(const CxrTrainConfig& c, const std::string& variant, const std::vector<CxrCase>& cases,
                    const at::Tensor& images, const std::vector<int>& train, const std::vector<int>& validation,
                    uint64_t seed, std::ostream* progress, const std::string& label, const FitCheckpoint* checkpoint) {
  FitResult r;
  r.imputer = Imputer::fit(cases, train);
  ModelOptions mo = c.model;
  mo.variant = variant;
  torch::manual_seed(seed);
  r.net = CxrNet(mo, r.imputer.width());
  auto opt = make_optimizer(c.optimizer, r.net->parameters());
  const at::Tensor x_train = images.index_select(0, rows_tensor(train));
  const at::Tensor c_train = clinical_tensor(cases, train, r.imputer);
  const at::Tensor y_train = labels_of(cases, train);
  const at::Tensor x_val = validation.empty() ? at::Tensor() : images.index_select(0, rows_tensor(validation));
  const at::Tensor c_val = validation.empty() ? at::Tensor() : clinical_tensor(cases, validation, r.imputer);
  const at::Tensor y_val = validation.empty() ? at::Tensor() : labels_of(cases, validation);
  const double positives = y_train.sum().item<double>();
  const double negatives = double(train.size()) - positives;
  const at::Tensor pos_weight = torch::full({1}, positives > 0 ? negatives / positives : 1.0);
  const bool uses_image = variant == "fused" || variant == "image";
  const int64_t n = int64_t(train.size());
  const int64_t steps_per_epoch = (n + c.batch_size - 1) / c.batch_size;
  const int64_t total_steps = steps_per_epoch * c.epochs;
  ScheduleOptions schedule;
  schedule.type = ScheduleType::Cosine;
  schedule.min_lr = c.optimizer.lr * 0.05;
  double best = INFINITY;
  int bad = 0, first_epoch = 0;
  int64_t step = 0;
  std::string best_state = save_state(r.net);
  if (checkpoint && checkpoint->resume) {
    CheckpointData data;
    if (load_checkpoint_file(checkpoint->path, at::Device(at::kCPU), checkpoint->config_json, cxr_resume_rules(), *r.net,
                             opt.get(), data)) {
      if (checkpoint->resumed) *checkpoint->resumed = true;
      try {
        const json st = json::parse(data.state_json);
        if (st.at("finished").get<bool>()) {  // the finished fit: its best weights, threshold and scores
          r.net->eval();
          r.epochs_run = st.at("epochs_run");
          r.best_epoch = st.at("best_epoch");
          r.early_stopped = st.at("early_stopped");
          r.best_validation_loss = number_or(st.at("best_validation_loss"), INFINITY);
          r.threshold = number_or(st.at("threshold"), NAN);
          r.threshold_source = st.at("threshold_source");
          for (const json& v : st.at("validation_scores")) r.validation_scores.push_back(number_or(v, NAN));
          if (progress) *progress << label << ": done before, taken from " << checkpoint->path << "\n";
          return r;
        }
        if (!data.has_optimizer || !data.blobs.count("best_model") || !data.blobs.count("torch_generator"))
          throw Error(ExitCode::BadConfig, "checkpoint '" + checkpoint->path + "' lacks the optimiser state, the best "
                                           "weights or the random generator of an unfinished fit");
        first_epoch = st.at("epoch");
        step = st.at("step");
        best = number_or(st.at("best"), INFINITY);
        bad = st.at("bad");
        r.best_epoch = st.at("best_epoch");
        r.epochs_run = st.at("epochs_run");
        best_state = data.blobs.at("best_model");
        set_torch_generator_state(data.blobs.at("torch_generator"));
      } catch (const json::exception& e) {
        throw Error(ExitCode::BadConfig, "checkpoint '" + checkpoint->path + "' has an invalid state: " + e.what());
      } catch (const c10::Error& e) {
        throw Error(ExitCode::BadConfig, "checkpoint '" + checkpoint->path + "' has an invalid random generator state: " +
                                             e.what_without_backtrace());
      }
      if (progress) *progress << label << ": resumed after epoch " << first_epoch << "/" << c.epochs << "\n";
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int epoch = first_epoch; epoch < c.epochs; ++epoch) {
    r.net->train();
    // The shuffle and augmentation of an epoch come from (seed, epoch) alone; dropout from LibTorch's generator,
    // seeded once per fit (above) and part of each epoch's checkpoint. A fit resumed after epoch k runs epoch k + 1
    // exactly as it would have run.
    std::mt19937_64 rng(seed * 1000003ULL + uint64_t(epoch));
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    double loss_sum = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s, ++step) {
      const int64_t b0 = s * c.batch_size, b1 = std::min(n, b0 + c.batch_size);
      if (b1 - b0 < 2 && uses_image) continue;  // batch norm needs two samples
      const at::Tensor idx = torch::tensor(std::vector<int64_t>(order.begin() + b0, order.begin() + b1), torch::kLong);
      at::Tensor xb = uses_image ? augment_batch(x_train.index_select(0, idx), c.augment, rng) : at::Tensor();
      const at::Tensor logits = r.net->forward(xb, c_train.index_select(0, idx));
      const at::Tensor loss = F::binary_cross_entropy_with_logits(
          logits, y_train.index_select(0, idx), F::BinaryCrossEntropyWithLogitsFuncOptions().pos_weight(pos_weight));
      const double lr = scheduled_lr(c.optimizer, schedule, step, total_steps);
      for (auto& group : opt->param_groups()) group.options().set_lr(lr);
      opt->zero_grad();
      loss.backward();
      opt->step();
      loss_sum += loss.item<double>() * double(b1 - b0);
    }
    r.epochs_run = epoch + 1;
    if (!validation.empty()) {
      r.net->eval();
      torch::NoGradGuard no_grad;
      const at::Tensor logits = r.net->forward(x_val, c_val);
      const double val_loss = F::binary_cross_entropy_with_logits(
          logits, y_val, F::BinaryCrossEntropyWithLogitsFuncOptions().pos_weight(pos_weight)).item<double>();
      if (val_loss < best - 1e-4) {
        best = val_loss;
        best_state = save_state(r.net);
        r.best_epoch = epoch + 1;
        bad = 0;
      } else if (++bad >= c.patience) {
        r.early_stopped = true;
        break;
      }
      if (progress)
        *progress << label << " epoch " << epoch + 1 << "/" << c.epochs << " train loss " << std::fixed
                  << std::setprecision(4) << loss_sum / double(n) << " val loss " << val_loss << " ("
                  << std::setprecision(1) << seconds_since(t0) << " s)\n" << std::defaultfloat;
    }
    if (checkpoint) {
      CheckpointData data;
      data.state_json = json{{"finished", false}, {"epoch", epoch + 1}, {"step", step}, {"best", json_number(best)},
                             {"bad", bad}, {"best_epoch", r.best_epoch}, {"epochs_run", r.epochs_run}}.dump();
      data.blobs["best_model"] = best_state;
      data.blobs["torch_generator"] = torch_generator_state();
      save_checkpoint_file(checkpoint->path, *r.net, opt.get(), data, checkpoint->config_json);
      if (checkpoint->epochs_left && *checkpoint->epochs_left > 0 && --*checkpoint->epochs_left == 0) throw StoppedForTest{};
    }
  }
  if (!validation.empty()) load_state(r.net, best_state);
  r.net->eval();
  r.best_validation_loss = best;
  if (!validation.empty()) {
    r.validation_scores = predict_rows(r, cases, images, validation);
    std::vector<int> labels;
    for (int i : validation) labels.push_back(cases[i].severe);
    const bool both = std::count(labels.begin(), labels.end(), 1) > 0 && std::count(labels.begin(), labels.end(), 0) > 0;
    r.threshold = both ? youden_threshold(labels, r.validation_scores) : 0.5;
    r.threshold_source = both ? "Youden's J on the validation patients"
                              : "0.5: the validation patients hold one class only, Youden's J is undefined";
  }
  if (checkpoint) {  // the finished fit replaces the last epoch's checkpoint
    CheckpointData data;
    json scores = json::array();
    for (double v : r.validation_scores) scores.push_back(json_number(v));
    data.state_json = json{{"finished", true}, {"epochs_run", r.epochs_run}, {"best_epoch", r.best_epoch},
                           {"early_stopped", r.early_stopped}, {"best_validation_loss", json_number(best)},
                           {"threshold", json_number(r.threshold)}, {"threshold_source", r.threshold_source},
                           {"validation_scores", scores}}.dump();
    save_checkpoint_file(checkpoint->path, *r.net, nullptr, data, checkpoint->config_json);
  }
  return r;
}

std::vector<double> predict_rows(FitResult& r, const std::vector<CxrCase>& cases, const at::Tensor& images,
                                 const std::vector<int>& rows, std::vector<std::vector<float>>* embeddings) {
  torch::NoGradGuard no_grad;
  r.net->eval();
  const at::Tensor c = clinical_tensor(cases, rows, r.imputer);
  at::Tensor features;
  if (r.net->use_image) {
    features = r.net->image_map(images.index_select(0, rows_tensor(rows))).mean({2, 3});
    if (embeddings) {
      at::Tensor f = features.contiguous();
      for (int64_t i = 0; i < f.size(0); ++i)
        embeddings->emplace_back(f[i].data_ptr<float>(), f[i].data_ptr<float>() + f.size(1));
    }
  }
  return to_vector(torch::sigmoid(r.net->head_from(features, c)));
}

namespace {

MetricSummary summarise(const std::string& name, const std::vector<double>& per_fold, const std::vector<int>& labels,
                        const std::vector<double>& scores, const std::vector<int>& predicted,
                        const std::vector<std::string>& patients, const BootstrapOptions& bo) {
  MetricSummary m;
  m.name = name;
  std::vector<double> finite;
  for (double v : per_fold)
    if (std::isfinite(v)) finite.push_back(v);
  m.fold_mean = finite.empty() ? NAN : std::accumulate(finite.begin(), finite.end(), 0.0) / double(finite.size());
  double ss = 0;
  for (double v : finite) ss += (v - m.fold_mean) * (v - m.fold_mean);
  m.fold_sd = finite.size() > 1 ? std::sqrt(ss / double(finite.size() - 1)) : NAN;
  auto statistic = [&](const std::vector<int>& idx) -> double {
    std::vector<int> l;
    std::vector<double> s, p;
    for (int i : idx) {
      l.push_back(labels[i]);
      s.push_back(scores[i]);
      p.push_back(double(predicted[i]));
    }
    const int pos = int(std::count(l.begin(), l.end(), 1));
    if (pos == 0 || pos == int(l.size())) return NAN;
    if (name == "roc_auc") return roc_auc(l, s);
    const ClassificationMetrics cm = classification_metrics(l, p, 0.5);
    if (name == "sensitivity") return cm.sensitivity;
    if (name == "specificity") return cm.specificity;
    return cm.balanced_accuracy;
  };
  m.pooled = bootstrap_interval(int(labels.size()), statistic, bo, patients);
  return m;
}

json interval_json(const Interval& i) {
  return {{"estimate", json_number(i.estimate)}, {"low", json_number(i.low)}, {"high", json_number(i.high)},
          {"resamples_used", i.resamples_used}};
}

json metric_json(const MetricSummary& m) {
  return {{"fold_mean", json_number(m.fold_mean)}, {"fold_sd", json_number(m.fold_sd)}, {"pooled", interval_json(m.pooled)}};
}

// Serialised in memory, then written atomically: torch::save to a file would name the archive's root folder after
// the temporary file (".fused.pt.tmp-PID-N"), so two runs that trained the same weights would differ in bytes.
void save_net(CxrNet& net, const std::string& path) {
  std::string bytes;
  try {
    bytes = save_state(net);
  } catch (const c10::Error& e) {
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': " + e.what_without_backtrace());
  }
  write_bytes_atomic(path, bytes);
}

}  // namespace

json model_options_json(const ModelOptions& m) {
  json j = {{"image_size", m.image_size}, {"channels", m.channels}, {"clinical_hidden", m.clinical_hidden},
            {"dropout", m.dropout}};
  if (!m.lung_crop.empty()) j["lung_crop"] = {{"segmenter", kLungSegmenterFolder}, {"margin", m.lung_crop_margin}};
  return j;
}

namespace {

// A digest of what every fit trains and is tested on: the letterboxed (and lung-cropped) images and every value of
// each case but the image path (folders may move).
std::string data_digest(const std::vector<CxrCase>& cases, const at::Tensor& images) {
  const at::Tensor t = images.contiguous();
  std::string bytes(reinterpret_cast<const char*>(t.data_ptr<float>()), size_t(t.numel()) * sizeof(float));
  std::ostringstream text;
  text.precision(17);
  for (const CxrCase& k : cases) {
    text << k.case_id << '\t' << k.patient_id << '\t' << k.source << '\t' << k.sex << '\t' << k.view << '\t'
         << k.severe;
    for (const auto& [name, v] : k.clinical) text << '\t' << name << '=' << v;
    text << '\n';
  }
  bytes += text.str();
  return sha256_hex(bytes);
}

json case_ids(const std::vector<CxrCase>& cases, const std::vector<int>& rows) {
  json a = json::array();
  for (int i : rows) a.push_back(cases[size_t(i)].case_id);
  return a;
}

CvResult run_training(const CxrTrainConfig& c, std::ostream* progress, int* epochs_left) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<CxrCase> all;
  int merged = 0;
  if (!c.manifest.empty()) {
    all = read_cxr_manifest(c.manifest);
  } else {
    std::vector<CxrCase> h, i;
    if (!c.hannover.empty()) h = hannover_cases(c.hannover, c.hannover_options);
    if (!c.ieee8023.empty()) i = ieee8023_cases(c.ieee8023);
    all = join_sources(h, i, &merged);
  }
  CvResult res;
  for (const auto& k : all)
    if (k.severe >= 0) res.cases.push_back(k);
  const auto& cases = res.cases;
  if (cases.size() < 10) throw Error(ExitCode::NoData, "only " + std::to_string(cases.size()) + " labelled case(s); at least 10 are needed");
  if (c.output.empty()) throw Error(ExitCode::BadConfig, "no output folder (output:)");
  std::error_code ec;
  fs::create_directories(c.output, ec);
  if (ec) throw Error(ExitCode::WriteFailed, "cannot create '" + c.output + "': " + ec.message());
  int positives = 0;
  for (const auto& k : cases) positives += k.severe;
  if (progress)
    *progress << cases.size() << " labelled cases (" << positives << " severe) of "
              << [&] { std::set<std::string> p; for (auto& k : cases) p.insert(k.patient_id); return p.size(); }()
              << " patients; " << merged << " ieee8023 patient(s) recognised as Hannover patients\n";
  // Images the reader refuses (a colour figure, a lateral view ...) are left out, each named.
  std::vector<std::string> excluded;
  {
    std::vector<CxrCase> kept;
    for (auto& k : res.cases) {
      try {
        (void)read_xray(k.image);
        kept.push_back(k);
      } catch (const Error& e) {
        if (e.code() != ExitCode::NotAChestXray && e.code() != ExitCode::BadDimension) throw e.with_context("case '" + k.case_id + "'");
        excluded.push_back(k.case_id + ": " + e.what());
        if (progress) *progress << "left out " << k.case_id << ": " << e.what() << "\n";
      }
    }
    res.cases = kept;
  }
  const int n = int(cases.size());
  positives = 0;
  for (const auto& k : cases) positives += k.severe;
  // Lung cropping: the segmenter is copied into the model folder (lung_segmenter/, with the outputs at the end), so
  // the folder predicts alone.
  std::unique_ptr<CxrLungSegmenter> lungs;
  std::vector<std::string> lungs_missed;
  if (!c.model.lung_crop.empty()) lungs = std::make_unique<CxrLungSegmenter>(CxrLungSegmenter::load(c.model.lung_crop));
  const at::Tensor images = images_tensor(cases, c.model.image_size, progress, lungs.get(), c.model.lung_crop_margin,
                                          &lungs_missed);
  if (lungs && progress)
    *progress << "lung cropping: lungs found in " << cases.size() - lungs_missed.size() << " of " << cases.size()
              << " X-rays (the others are used whole)\n";
  // Checkpoints (one per fit) of this run; a run that does not resume starts with none.
  const fs::path checkpoints = fs::path(c.output) / "checkpoints";
  if (!c.resume) {
    fs::remove_all(checkpoints, ec);
    if (ec) throw Error(ExitCode::WriteFailed, "cannot remove the old checkpoints '" + checkpoints.string() + "': " + ec.message());
  } else if (progress) {
    *progress << (fs::is_directory(checkpoints) ? "resuming from the checkpoints in " + checkpoints.string()
                                                : "no checkpoint in " + checkpoints.string() + ", starting afresh")
              << "\n";
  }
  fs::create_directories(checkpoints, ec);
  if (ec) throw Error(ExitCode::WriteFailed, "cannot create '" + checkpoints.string() + "': " + ec.message());
  const json config_json = cxr_train_config_json(c);
  const std::string digest = data_digest(cases, images);
  // Where fit `name` (cv_<variant>_fold<k>, final_<variant>) keeps its checkpoint, and what it must find there.
  std::vector<std::unique_ptr<bool>> resumed_flags;
  auto checkpoint_of = [&](const std::string& name, uint64_t seed, const std::vector<int>& train,
                           const std::vector<int>& validation) {
    FitCheckpoint ck;
    ck.path = (checkpoints / (name + ".pt")).string();
    ck.config_json = json{{"config", config_json}, {"fit", name}, {"seed", seed},
                          {"cases", {{"train", case_ids(cases, train)}, {"validation", case_ids(cases, validation)}}},
                          {"data_sha256", digest}}.dump();
    ck.resume = c.resume;
    ck.epochs_left = epochs_left;
    resumed_flags.push_back(std::make_unique<bool>(false));
    ck.resumed = resumed_flags.back().get();
    return ck;
  };

  Manifest m;
  for (const auto& k : cases) {
    Case mc;
    mc.case_id = k.case_id;
    mc.patient_id = k.patient_id;
    m.cases.push_back(mc);
  }
  const std::vector<Split> splits = kfold_splits(m, c.folds, c.validation_fraction, c.seed);
  res.fold_of.assign(size_t(n), -1);
  for (size_t f = 0; f < splits.size(); ++f)
    for (int i : splits[f].test) res.fold_of[size_t(i)] = int(f);
  std::vector<int> labels;
  std::vector<std::string> patients;
  for (const auto& k : cases) {
    labels.push_back(k.severe);
    patients.push_back(k.patient_id);
  }
  BootstrapOptions bo;
  bo.resamples = c.bootstrap;
  bo.seed = c.seed;

  auto add_result = [&](VariantResult v, const std::vector<std::vector<double>>& fold_values) {
    const char* names[] = {"balanced_accuracy", "roc_auc", "sensitivity", "specificity"};
    for (int k = 0; k < 4; ++k) {
      std::vector<double> per_fold;
      for (const auto& fv : fold_values) per_fold.push_back(fv[size_t(k)]);
      v.metrics.push_back(summarise(names[k], per_fold, labels, v.scores, v.predicted, patients, bo));
    }
    res.variants.push_back(std::move(v));
  };
  auto fold_metrics = [&](const VariantResult& v, const Split& s, double threshold) {
    std::vector<int> l;
    std::vector<double> sc;
    for (int i : s.test) {
      l.push_back(labels[size_t(i)]);
      sc.push_back(v.scores[size_t(i)]);
    }
    const ClassificationMetrics cm = classification_metrics(l, sc, threshold);
    return std::vector<double>{cm.balanced_accuracy, cm.roc_auc, cm.sensitivity, cm.specificity};
  };

  // Baseline: the majority class of each training fold, a constant score (its prevalence).
  {
    VariantResult v;
    v.variant = "majority";
    v.scores.assign(size_t(n), 0);
    v.predicted.assign(size_t(n), 0);
    std::vector<std::vector<double>> fv;
    for (const Split& s : splits) {
      std::vector<int> fit = s.train;
      fit.insert(fit.end(), s.validation.begin(), s.validation.end());
      double prevalence = 0;
      for (int i : fit) prevalence += labels[size_t(i)];
      prevalence /= double(fit.size());
      // One constant score for every case (ROC AUC 1/2 by construction); the class is the training majority.
      for (int i : s.test) {
        v.scores[size_t(i)] = 0.5;
        v.predicted[size_t(i)] = prevalence >= 0.5 ? 1 : 0;
      }
      v.thresholds.push_back(prevalence >= 0.5 ? 0.0 : 1.0);
      fv.push_back(fold_metrics(v, s, prevalence >= 0.5 ? 0.0 : 1.0));
    }
    add_result(std::move(v), fv);
  }

  // Permutation importance data: fold models of the variants that read clinical values.
  struct FoldModel { FitResult fit; std::vector<int> test; std::vector<std::vector<float>> embeddings; };
  std::map<std::string, std::vector<FoldModel>> fold_models;
  for (const std::string& variant : c.variants) {
    VariantResult v;
    v.variant = variant;
    v.scores.assign(size_t(n), NAN);
    v.predicted.assign(size_t(n), 0);
    std::vector<std::vector<double>> fv;
    const bool probe_source = variant == "fused" ||
                              (variant == "image" && std::find(c.variants.begin(), c.variants.end(), "fused") == c.variants.end());
    if (probe_source) res.embeddings.assign(size_t(n), {});
    for (size_t f = 0; f < splits.size(); ++f) {
      const Split& s = splits[f];
      const auto tf = std::chrono::steady_clock::now();
      const uint64_t seed = c.seed + 7919 * (f + 1);
      const FitCheckpoint ck =
          checkpoint_of("cv_" + variant + "_fold" + std::to_string(f + 1), seed, s.train, s.validation);
      FitResult fit = fit_model(c, variant, cases, images, s.train, s.validation, seed, nullptr,
                                variant + " fold " + std::to_string(f + 1), &ck);
      std::vector<std::vector<float>> emb;
      const std::vector<double> scores = predict_rows(fit, cases, images, s.test, &emb);
      for (size_t t = 0; t < s.test.size(); ++t) {
        const size_t i = size_t(s.test[t]);
        v.scores[i] = scores[t];
        v.predicted[i] = scores[t] >= fit.threshold ? 1 : 0;
        if (probe_source) res.embeddings[i] = emb[t];
      }
      v.thresholds.push_back(fit.threshold);
      fv.push_back(fold_metrics(v, s, fit.threshold));
      if (progress)
        *progress << variant << " fold " << f + 1 << "/" << splits.size() << ": " << fit.epochs_run << " epochs (best "
                  << fit.best_epoch << "), threshold " << std::setprecision(3) << fit.threshold << ", test AUC "
                  << fv.back()[1] << ", balanced accuracy " << fv.back()[0] << " (" << std::setprecision(1) << std::fixed
                  << seconds_since(tf) << " s" << (*ck.resumed ? ", from its checkpoint" : "") << ")\n"
                  << std::defaultfloat;
      if (variant == "fused" || variant == "clinical" || variant == "logistic")
        fold_models[variant].push_back({std::move(fit), s.test, std::move(emb)});
    }
    add_result(std::move(v), fv);
  }

  // Permutation importance of the clinical inputs (value and missing indicator permuted together across the
  // test cases of each fold), as the drop of the pooled out-of-fold ROC AUC; CI over repeats that each
  // resample patients and draw a new permutation.
  json importance = json::object();
  for (auto& [variant, models] : fold_models) {
    std::vector<std::string> names = models.front().fit.imputer.names;
    json rows = json::array();
    std::mt19937_64 rng(c.seed + 17);
    for (size_t k = 0; k < names.size(); ++k) {
      std::vector<double> drops;
      for (int rep = 0; rep < c.permutation_repeats; ++rep) {
        std::vector<double> orig(static_cast<size_t>(n)), perm(static_cast<size_t>(n));
        for (auto& fm : models) {
          torch::NoGradGuard no_grad;
          const at::Tensor cl = clinical_tensor(cases, fm.test, fm.fit.imputer);
          at::Tensor feats;
          if (fm.fit.net->use_image) {
            feats = torch::zeros({int64_t(fm.test.size()), int64_t(fm.embeddings.front().size())});
            for (size_t t = 0; t < fm.test.size(); ++t)
              std::memcpy(feats[int64_t(t)].data_ptr<float>(), fm.embeddings[t].data(), fm.embeddings[t].size() * sizeof(float));
          }
          std::vector<int64_t> p(fm.test.size());
          std::iota(p.begin(), p.end(), 0);
          std::shuffle(p.begin(), p.end(), rng);
          at::Tensor cp = cl.clone();
          const at::Tensor pi = torch::tensor(p, torch::kLong);
          cp.select(1, int64_t(k)).copy_(cl.select(1, int64_t(k)).index_select(0, pi));
          cp.select(1, int64_t(names.size() + k)).copy_(cl.select(1, int64_t(names.size() + k)).index_select(0, pi));
          const std::vector<double> so = to_vector(torch::sigmoid(fm.fit.net->head_from(feats, cl)));
          const std::vector<double> sp = to_vector(torch::sigmoid(fm.fit.net->head_from(feats, cp)));
          for (size_t t = 0; t < fm.test.size(); ++t) {
            orig[size_t(fm.test[t])] = so[t];
            perm[size_t(fm.test[t])] = sp[t];
          }
        }
        // A patient-clustered resample of the cases.
        std::map<std::string, std::vector<int>> by_patient;
        for (int i = 0; i < n; ++i) by_patient[patients[size_t(i)]].push_back(i);
        std::vector<const std::vector<int>*> groups;
        for (auto& [p, g] : by_patient) groups.push_back(&g);
        std::uniform_int_distribution<size_t> pick(0, groups.size() - 1);
        std::vector<int> l;
        std::vector<double> a, b;
        for (size_t g = 0; g < groups.size(); ++g)
          for (int i : *groups[pick(rng)]) {
            l.push_back(labels[size_t(i)]);
            a.push_back(orig[size_t(i)]);
            b.push_back(perm[size_t(i)]);
          }
        const int pos = int(std::count(l.begin(), l.end(), 1));
        if (pos == 0 || pos == int(l.size())) continue;
        drops.push_back(roc_auc(l, a) - roc_auc(l, b));
      }
      std::sort(drops.begin(), drops.end());
      auto q = [&](double p) { return drops.empty() ? NAN : drops[size_t(std::lround(p * double(drops.size() - 1)))]; };
      const double mean = drops.empty() ? NAN : std::accumulate(drops.begin(), drops.end(), 0.0) / double(drops.size());
      rows.push_back({{"feature", names[k]}, {"auc_drop_mean", mean}, {"low", q(0.025)}, {"high", q(0.975)},
                      {"repeats", drops.size()}});
    }
    importance[variant] = rows;
  }

  // Shipped models: fused and image-only, trained on all patients but a validation share (early stopping,
  // threshold).
  const Split holdout = holdout_split(m, c.validation_fraction, 0.0, c.seed);
  json model = {{"format", "pulmo-cxr-model"}, {"version", 1}, {"model", model_options_json(c.model)},
                {"variants", json::object()}, {"training_config", c.config_text},
                {"features", json::array()}, {"cases", n}, {"positives", positives}};
  for (const auto& f : clinical_features()) model["features"].push_back({{"name", f.name}, {"unit", f.unit}, {"min", f.min}, {"max", f.max}});
  std::vector<std::pair<std::string, FitResult>> shipped;
  for (const std::string variant : {"fused", "image"}) {
    if (std::find(c.variants.begin(), c.variants.end(), variant) == c.variants.end()) continue;
    const FitCheckpoint ck = checkpoint_of("final_" + variant, c.seed + 1, holdout.train, holdout.validation);
    FitResult fit = fit_model(c, variant, cases, images, holdout.train, holdout.validation, c.seed + 1, progress,
                              std::string("final ") + variant, &ck);
    // The shortcut probe reads the image features of one model (one feature space) for every case: the shipped
    // fused model (else the image-only one). Out-of-fold features come from five different models whose feature
    // spaces differ, and a probe whose folds coincide with theirs learns the differences (measured: AUC far below
    // 0.5), so they are not used.
    if (variant == std::string("fused") ||
        std::find(c.variants.begin(), c.variants.end(), "fused") == c.variants.end()) {
      std::vector<int> all_rows(static_cast<size_t>(n));
      std::iota(all_rows.begin(), all_rows.end(), 0);
      res.embeddings.clear();
      predict_rows(fit, cases, images, all_rows, &res.embeddings);
    }
    const std::string file = variant + std::string(".pt");
    model["variants"][variant] = {{"weights", file}, {"threshold", fit.threshold}, {"threshold_source", fit.threshold_source},
                                  {"validation_cases", holdout.validation.size()}, {"epochs", fit.epochs_run},
                                  {"best_epoch", fit.best_epoch},
                                  {"imputer", {{"names", fit.imputer.names}, {"mean", fit.imputer.mean}, {"sd", fit.imputer.sd}}}};
    if (progress) *progress << "final " << variant << ": " << fit.epochs_run << " epochs, threshold " << fit.threshold << "\n";
    shipped.emplace_back(file, std::move(fit));
  }

  // Cross-validation results, out-of-fold predictions, image features.
  json cv = {{"cases", n}, {"positives", positives}, {"folds", c.folds}, {"seed", c.seed},
             {"patients", [&] { std::set<std::string> p(patients.begin(), patients.end()); return p.size(); }()},
             {"bootstrap_resamples", c.bootstrap}, {"variants", json::object()}, {"excluded_images", excluded}};
  if (lungs) cv["lung_crop"] = {{"segmenter", c.model.lung_crop}, {"margin", c.model.lung_crop_margin},
                                {"lungs_not_found", lungs_missed}};
  for (const auto& v : res.variants) {
    json j = json::object();
    for (const auto& mm : v.metrics) j[mm.name] = metric_json(mm);
    j["thresholds"] = v.thresholds;
    cv["variants"][v.variant] = j;
  }
  std::ostringstream pred;
  pred << "case_id,patient_id,source,sex,view,severe,fold";
  for (const auto& v : res.variants) pred << ",score_" << v.variant << ",class_" << v.variant;
  pred << "\n";
  std::ostringstream feats;
  feats << "case_id,patient_id,source,sex,view,severe";
  const size_t width = res.embeddings.empty() || res.embeddings.front().empty() ? 0 : res.embeddings.front().size();
  for (size_t k = 0; k < width; ++k) feats << ",f" << k;
  feats << "\n";
  for (int i = 0; i < n; ++i) {
    const auto& k = cases[size_t(i)];
    const std::string head = data::csv_field(k.case_id) + "," + data::csv_field(k.patient_id) + "," + k.source + "," +
                             k.sex + "," + k.view + "," + std::to_string(k.severe);
    pred << head << "," << res.fold_of[size_t(i)];
    for (const auto& v : res.variants) pred << "," << v.scores[size_t(i)] << "," << v.predicted[size_t(i)];
    pred << "\n";
    if (width) {
      feats << head;
      for (float x : res.embeddings[size_t(i)]) feats << "," << x;
      feats << "\n";
    }
  }
  // Shortcut probe: do the image features predict what must not drive the prediction?
  cv["shortcut_probe"] = json::object();
  if (width) {
    for (const std::string attribute : {"sex", "view", "source"}) {
      std::vector<std::string> values;
      for (const auto& k : cases) values.push_back(attribute == "sex" ? k.sex : attribute == "view" ? k.view : k.source);
      try {
        const ProbeResult p = linear_probe(res.embeddings, values, patients, attribute, c.folds, c.seed, c.bootstrap);
        cv["shortcut_probe"][attribute] = {{"positive", p.positive}, {"n", p.n}, {"positives", p.positives},
                                           {"roc_auc", interval_json(p.auc)}};
        if (progress)
          *progress << std::setprecision(3) << "shortcut probe " << attribute << " (" << p.positive << "): AUC " << p.auc.estimate << " ["
                    << p.auc.low << ", " << p.auc.high << "]\n";
      } catch (const Error& e) {
        cv["shortcut_probe"][attribute] = {{"not_measured", e.what()}};
      }
    }
  }
  res.fits = int(resumed_flags.size());
  for (const auto& r : resumed_flags) res.fits_resumed += *r ? 1 : 0;
  res.seconds = seconds_since(t0);
  cv["seconds"] = res.seconds;

  // The outputs, only now: an interrupted run leaves the folder's earlier outputs as they were (a later --resume
  // continues from the checkpoints). model.json goes first and comes back last, so that a run interrupted while
  // writing them leaves no model.json next to a mix of old and new files.
  const fs::path out(c.output);
  fs::remove(out / "model.json", ec);
  if (ec) throw Error(ExitCode::WriteFailed, "cannot replace '" + (out / "model.json").string() + "': " + ec.message());
  if (!lungs) fs::remove_all(out / kLungSegmenterFolder, ec);  // an earlier run's, which this model does not use
  if (!width) fs::remove(out / "features.csv", ec);
  if (lungs) {
    const fs::path to = out / kLungSegmenterFolder;
    fs::create_directories(to, ec);
    if (ec) throw Error(ExitCode::WriteFailed, "cannot create '" + to.string() + "': " + ec.message());
    const ModelInfo info = load_model(c.model.lung_crop).info;
    for (const std::string& file : {std::string("model.json"), info.weights})
      write_bytes_atomic((to / file).string(), read_text_file((fs::path(c.model.lung_crop) / file).string()));
  }
  {
    // The manifest's image paths relative to the model folder, where read_cxr_manifest resolves them.
    std::vector<CxrCase> relative = cases;
    for (auto& k : relative) k.image = fs::proximate(fs::absolute(k.image), fs::absolute(c.output)).string();
    write_text_atomic((out / "manifest.csv").string(), cxr_manifest_csv(relative));
  }
  write_text_atomic((out / "importance.json").string(), importance.dump(2) + "\n");
  for (auto& [file, fit] : shipped) save_net(fit.net, (out / file).string());
  write_text_atomic((out / "cv_predictions.csv").string(), pred.str());
  if (width) write_text_atomic((out / "features.csv").string(), feats.str());
  write_text_atomic((out / "cv.json").string(), cv.dump(2) + "\n");
  write_text_atomic((out / "model.json").string(), model.dump(2) + "\n");
  fs::remove_all(checkpoints, ec);  // the run is complete; its outputs are the result
  return res;
}

}  // namespace

CvResult train_cxr(const CxrTrainConfig& c, std::ostream* progress) { return run_training(c, progress, nullptr); }

bool train_cxr_killed_after(int epochs, const CxrTrainConfig& c) {
  int left = epochs;
  try {
    run_training(c, nullptr, &left);
  } catch (const StoppedForTest&) {
    return true;
  }
  return false;
}

}  // namespace pulmo::cxr
