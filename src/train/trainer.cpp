// The training loop of segmentation networks: batches from the loader, optimiser step, validation, early stopping,
// checkpoints (train/checkpoint.cpp), mixed precision (train/amp.cpp), log and curves.
#include <torch/types.h>  // before clip_grad.h, which does not include what it uses
#include <torch/cuda.h>
#include <torch/optim.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "core/random.h"
#include "nn/autocast.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/loader.h"
#include "pulmo/model.h"
#include "pulmo/train.h"
#include "train/amp.h"
#include "train/checkpoint.h"
#include "train/internal.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Loss over all outputs; lower-resolution deep-supervision heads see a strided target, weights 1, 1/2, 1/4 ...
at::Tensor total_loss(const std::vector<at::Tensor>& outs, const Batch& b, const LossOptions& lo) {
  at::Tensor loss;
  double weight_sum = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    const int64_t stride = b.label.size(-1) / outs[i].size(-1);  // x: a 2-D patch keeps its depth 1
    at::Tensor t = b.label, v = b.valid;
    for (int64_t d = 1; d < t.dim() && stride > 1; ++d) {
      if (t.size(d) == outs[i].size(d + 1)) continue;  // not downsampled along d (depth 1 of a 2-D patch)
      t = t.slice(d, 0, t.size(d), stride);
      if (v.defined()) v = v.slice(d, 0, v.size(d), stride);
    }
    const double w = 1.0 / double(int64_t(1) << i);
    at::Tensor l = segmentation_loss(outs[i].to(at::kFloat), t, lo, v) * w;
    loss = loss.defined() ? loss + l : l;
    weight_sum += w;
  }
  return loss / weight_sum;
}

double validate(Network& net, const std::vector<Sample>& validation, const std::array<int64_t, 3>& patch) {
  double sum = 0;
  int n = 0;
  for (const Sample& s : validation) {
    at::Tensor prob = sliding_window_probabilities(net, s.image, patch);  // [K,z,y,x]
    if (prob.size(0) == 1) prob = at::cat({1 - prob, prob}, 0);
    const double d = hard_dice(prob.unsqueeze(0), s.label.unsqueeze(0));
    if (!std::isnan(d)) {
      sum += d;
      ++n;
    }
  }
  return n ? sum / n : std::nan("");
}

class Trainer {
 public:
  Trainer(const TrainOptions& o, ModelInfo info, const std::vector<Sample>& train, const std::vector<Sample>& validation,
          int64_t stop_after_step = -1)
      : o_(o), info_(std::move(info)), train_(train), validation_(validation), stop_after_step_(stop_after_step) {}
  TrainResult run();
  bool stopped() const { return stopped_; }

 private:
  void setup();
  void step_once(const Batch& batch);
  void after_validation_point();
  void log_training_point();
  LogRow interval_row() const;
  void push_log_row(const LogRow& row);
  void write_checkpoint();
  bool resume_from_checkpoint();
  void report_progress(bool force);

  const TrainOptions& o_;
  ModelInfo info_;
  const std::vector<Sample>& train_;
  const std::vector<Sample>& validation_;
  const int64_t stop_after_step_;  // the test hook of train_segmentation_killed_before (train/internal.h)
  bool stopped_ = false;
  std::shared_ptr<Network> net_;
  std::unique_ptr<torch::optim::Optimizer> opt_;
  at::Device device_{at::kCPU};
  bool amp_ = false;
  LoopState st_;
  TrainResult result_;
  Clock::time_point start_ = Clock::now(), last_report_ = Clock::now();
  int64_t first_step_ = 0;
  double last_loss_ = 0;
};

void Trainer::setup() {
  if (o_.output.empty()) throw Error(ExitCode::BadConfig, "train: no output folder");
  if (o_.steps < 1 || o_.validate_every < 1 || o_.batch_size < 1)
    throw Error(ExitCode::BadConfig, "train: steps, validate_every and batch_size must be >= 1");
  const int64_t div = network_divisor(o_.network);
  const bool flat = o_.network.type == "unet" && o_.network.unet.dims == 2;  // 2-D U-Net: patches of depth 1
  if (flat && o_.patch_size[2] != 1) throw Error(ExitCode::BadConfig, "train: a 2-D U-Net needs patch_size z = 1");
  for (int a = 0; a < (flat ? 2 : 3); ++a)
    if (o_.patch_size[a] < 1 || o_.patch_size[a] % div != 0)
      throw Error(ExitCode::BadConfig, "train: patch_size entries must be positive multiples of " + std::to_string(div));
  // A label value the network has no channel for ends in an index error deep inside the loss.
  const int labels = o_.network.type == "unet" ? std::max(2, o_.network.unet.out_channels) : 0;
  for (const std::vector<Sample>* set : {&train_, &validation_})
    for (const Sample& s : *set)
      if (labels > 0 && s.label.defined() && s.label.numel() > 0 && s.label.max().item<int64_t>() >= labels)
        throw Error(ExitCode::BadConfig, "train: case '" + s.id + "' holds the label value " +
                                             std::to_string(s.label.max().item<int64_t>()) + ", but the network's " +
                                             std::to_string(o_.network.unet.out_channels) +
                                             " output channels take the labels 0.." + std::to_string(labels - 1));
  const bool cuda = torch::cuda::is_available();
  if (o_.device == "cuda" && !cuda) throw Error(ExitCode::BadConfig, "train: device 'cuda' requested but CUDA is not available");
  if (o_.device != "auto" && o_.device != "cpu" && o_.device != "cuda")
    throw Error(ExitCode::BadConfig, "train: device must be auto, cpu or cuda");
  device_ = (o_.device == "cuda" || (o_.device == "auto" && cuda)) ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  amp_ = o_.amp && device_.is_cuda();
  torch::manual_seed(o_.seed);
  net_ = make_network(o_.network);
  // Fine-tuning: the weights of another model folder (checked against this network by train_from_config) start
  // the run; a --resume checkpoint read after this replaces them.
  if (!o_.init_from.empty()) {
    const fs::path folder(o_.init_from);
    const ModelInfo from = model_info_from_json(read_text_file((folder / "model.json").string()), (folder / "model.json").string());
    load_weights(*net_, (folder / from.weights).string());
  }
  net_->to(device_);
  opt_ = make_optimizer(o_.optimizer, net_->parameters());
  std::error_code ec;
  fs::create_directories(o_.output, ec);
  if (ec) throw Error(ExitCode::WriteFailed, "cannot create output folder '" + o_.output + "': " + ec.message());
  info_.network = o_.network;
  info_.patch_size = o_.patch_size;
  info_.training_json = o_.config_json;
}

void Trainer::step_once(const Batch& batch) {
  const auto t0 = Clock::now();
  const double lr = scheduled_lr(o_.optimizer, o_.schedule, st_.step, o_.steps, st_.plateau_scale);
  for (auto& group : opt_->param_groups()) group.options().set_lr(lr);
  torch::manual_seed(mix_seed(o_.seed, static_cast<uint64_t>(st_.step)));  // dropout draws depend on the step only
  net_->train();
  opt_->zero_grad();
  Batch b = batch;
  b.image = b.image.to(device_);
  b.label = b.label.to(device_);
  if (b.valid.defined()) b.valid = b.valid.to(device_);
  if (amp_) set_autocast(at::kCUDA, true);
  std::vector<at::Tensor> outs = net_->forward_all(b.image);  // [B,K,S], deep supervision heads after
  if (amp_) set_autocast(at::kCUDA, false);
  at::Tensor loss = total_loss(outs, b, o_.loss);
  last_loss_ = loss.item<double>();
  if (!std::isfinite(last_loss_) && !amp_)
    throw Error(ExitCode::Internal, "train: the loss became " + std::to_string(last_loss_) + " at step " +
                                        std::to_string(st_.step) + " (lower the learning rate?)");
  bool apply = true;
  if (amp_) {  // dynamic loss scaling, as torch.cuda.amp.GradScaler
    (loss * st_.amp.scale).backward();
    apply = unscale_gradients(net_->parameters(), st_.amp);
  } else {
    loss.backward();
  }
  if (apply) {
    if (o_.grad_clip_norm > 0) torch::nn::utils::clip_grad_norm_(net_->parameters(), o_.grad_clip_norm);
    opt_->step();
  }
  if (std::isfinite(last_loss_)) {
    st_.loss_sum += last_loss_;
    st_.loss_count++;
  }
  st_.step++;
  st_.step_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  st_.build_ms += batch.build_ms;
}

// The training loss and timings since the previous log row.
LogRow Trainer::interval_row() const {
  LogRow row;
  row.step = st_.step;
  row.lr = scheduled_lr(o_.optimizer, o_.schedule, st_.step - 1, o_.steps, st_.plateau_scale);
  const int64_t n = std::max<int64_t>(1, st_.loss_count);
  row.train_loss = st_.loss_count ? st_.loss_sum / st_.loss_count : std::nan("");
  row.step_ms = st_.step_ms / n;
  row.loader_wait_ms = st_.wait_ms / n;
  row.loader_build_ms = st_.build_ms / (n * o_.batch_size);
  row.elapsed_s = st_.elapsed_s + seconds_since(start_);
  return row;
}

void Trainer::push_log_row(const LogRow& row) {
  st_.log.push_back(row);
  st_.loss_sum = st_.wait_ms = st_.build_ms = st_.step_ms = 0;
  st_.loss_count = 0;
  write_text_atomic((fs::path(o_.output) / "log.csv").string(), log_csv(st_.log));
  plot_training_curves(st_.log, (fs::path(o_.output) / "curves.png").string());
}

// A log row without validation (the training curve between validations, which cost minutes and may be few).
void Trainer::log_training_point() {
  LogRow row = interval_row();
  row.validation_dice = std::nan("");
  row.best_validation_dice = st_.best_dice;
  push_log_row(row);
}

void Trainer::after_validation_point() {
  LogRow row = interval_row();
  const bool has_validation = !validation_.empty();
  row.validation_dice = has_validation ? validate(*net_, validation_, o_.patch_size) : std::nan("");
  const bool improved = has_validation && std::isfinite(row.validation_dice) &&
                        (st_.best_step < 0 || row.validation_dice > st_.best_dice + o_.early_stopping_min_delta);
  if (improved || !has_validation) {
    if (has_validation) {
      st_.best_dice = row.validation_dice;
      st_.best_step = st_.step;
      info_.metrics["validation_dice"] = row.validation_dice;
    }
    info_.metrics["steps"] = static_cast<double>(st_.step);
    info_.metrics["train_loss"] = row.train_loss;
    save_model(o_.output, info_, *net_);
    st_.bad_validations = 0;
    st_.plateau_bad = 0;
  } else {
    st_.bad_validations++;
    if (o_.schedule.type == ScheduleType::Plateau && ++st_.plateau_bad >= o_.schedule.plateau_patience) {
      st_.plateau_scale *= o_.schedule.plateau_factor;
      st_.plateau_bad = 0;
    }
  }
  row.best_validation_dice = st_.best_dice;
  push_log_row(row);
}

void Trainer::write_checkpoint() {
  LoopState s = st_;
  s.elapsed_s = st_.elapsed_s + seconds_since(start_);
  pulmo::save_checkpoint((fs::path(o_.output) / "checkpoint.pt").string(), *net_, *opt_, s, o_.config_json);
}

bool Trainer::resume_from_checkpoint() {
  if (!pulmo::load_checkpoint((fs::path(o_.output) / "checkpoint.pt").string(), device_, o_.config_json, *net_, *opt_,
                              st_))
    return false;
  // More steps than the finished run had (training.steps may change on --resume): train on, unless early stopping
  // ended it.
  const bool stopped_early = o_.early_stopping_patience > 0 && st_.bad_validations >= o_.early_stopping_patience;
  if (st_.finished && st_.step < o_.steps && !stopped_early) st_.finished = false;
  return true;
}

void Trainer::report_progress(bool force) {
  if (!o_.progress) return;
  if (!force && seconds_since(last_report_) < o_.progress_interval_s) return;
  last_report_ = Clock::now();
  const double run_s = seconds_since(start_);
  const int64_t done_here = st_.step - first_step_;
  const double rate = done_here > 0 ? done_here / run_s : 0;
  std::ostringstream os;
  os << std::fixed << "pulmo train: step " << st_.step << "/" << o_.steps << " (" << std::setprecision(1)
     << 100.0 * st_.step / o_.steps << "%)  loss " << std::setprecision(4) << last_loss_ << "  lr "
     << std::scientific << std::setprecision(2) << scheduled_lr(o_.optimizer, o_.schedule, st_.step, o_.steps, st_.plateau_scale)
     << std::fixed;
  if (!st_.log.empty() && std::isfinite(st_.log.back().validation_dice))
    os << "  val Dice " << std::setprecision(3) << st_.log.back().validation_dice << " (best " << st_.best_dice << " @"
       << st_.best_step << ")";
  os << "  " << std::setprecision(2) << rate << " steps/s";
  if (done_here > 0) os << "  ETA " << duration_text((o_.steps - st_.step) / std::max(rate, 1e-9));
  *o_.progress << os.str() << std::endl;
}

TrainResult Trainer::run() {
  setup();
  if (o_.resume) {
    result_.resumed = resume_from_checkpoint();
    if (!result_.resumed && o_.progress) *o_.progress << "pulmo train: no checkpoint in " << o_.output << ", starting afresh\n";
  }
  first_step_ = st_.step;
  if (!st_.finished && st_.step < o_.steps) {
    std::vector<Sample> train = train_;
    for (Sample& s : train)
      if (!s.foreground.defined()) index_foreground(s);
    auto pipeline = std::make_shared<Compose>();
    CropOptions crop;
    crop.patch = o_.patch_size;
    crop.foreground_probability = o_.foreground_probability;
    crop.pad_value = 0;
    pipeline->add(random_crop(crop));
    if (o_.augment.enabled) {
      pipeline->add(random_flip(o_.augment.flip));
      pipeline->add(random_spatial(o_.augment.spatial));
      pipeline->add(random_intensity(o_.augment.intensity));
    }
    LoaderOptions lo;
    lo.batch_size = o_.batch_size;
    lo.workers = o_.workers;
    lo.prefetch = o_.prefetch;
    lo.seed = o_.seed;
    BatchLoader loader(train, pipeline, lo, st_.step);
    while (st_.step < o_.steps) {
      if (stop_after_step_ >= 0 && st_.step >= stop_after_step_) {
        stopped_ = true;
        break;
      }
      const Batch batch = loader.next();
      st_.wait_ms += loader.last_wait_ms();
      step_once(batch);
      const bool last = st_.step == o_.steps;
      if (st_.step % o_.validate_every == 0 || last) {
        after_validation_point();
        if (o_.early_stopping_patience > 0 && st_.bad_validations >= o_.early_stopping_patience) {
          result_.early_stopped = true;
          st_.finished = true;
        }
      } else if (o_.checkpoint_every > 0 && st_.step % o_.checkpoint_every == 0) {
        log_training_point();  // the training curve between validations (which may be few: they cost minutes)
      }
      if (last) st_.finished = true;
      if ((o_.checkpoint_every > 0 && st_.step % o_.checkpoint_every == 0) || st_.finished) write_checkpoint();
      report_progress(st_.finished);
      if (st_.finished) break;
    }
  }
  result_.steps_done = st_.step;
  result_.best_step = st_.best_step;
  result_.best_validation_dice = st_.best_dice;
  result_.log = st_.log;
  return result_;
}

}  // namespace

std::string log_csv(const std::vector<LogRow>& log) {
  std::ostringstream os;
  os << "step,lr,train_loss,validation_dice,best_validation_dice,step_ms,loader_wait_ms,loader_build_ms_per_sample,elapsed_s\n";
  os << std::setprecision(6);
  for (const LogRow& r : log)
    os << r.step << "," << r.lr << "," << r.train_loss << "," << r.validation_dice << "," << r.best_validation_dice << ","
       << r.step_ms << "," << r.loader_wait_ms << "," << r.loader_build_ms << "," << r.elapsed_s << "\n";
  return os.str();
}

TrainResult train_segmentation(const TrainOptions& o, ModelInfo info, const std::vector<Sample>& train,
                               const std::vector<Sample>& validation) {
  if (train.empty()) throw Error(ExitCode::NoData, "train: no training cases");
  Trainer t(o, std::move(info), train, validation);
  return t.run();
}

bool train_segmentation_killed_before(int64_t step, const TrainOptions& o, ModelInfo info,
                                      const std::vector<Sample>& train, const std::vector<Sample>& validation) {
  if (train.empty()) throw Error(ExitCode::NoData, "train: no training cases");
  Trainer t(o, std::move(info), train, validation, step);
  t.run();
  return t.stopped();
}

}  // namespace pulmo
