// Training of the lung-box network (stage 1 of the cascade): random field-of-view crops, L1 box regression.
#include <torch/optim.h>
#include <torch/types.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <ostream>
#include <random>
#include <sstream>

#include "core/random.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/train.h"
#include "train/internal.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

using Clock = std::chrono::steady_clock;

struct Crop {
  std::array<int64_t, 3> lo, hi;  // tensor dims (z, y, x), [lo, hi)
};

// Extent [first, last] of the mask along tensor dim d.
std::pair<int64_t, int64_t> extent(const at::Tensor& mask, int d) {
  std::vector<int64_t> others;
  for (int e = 0; e < 3; ++e)
    if (e != d) others.push_back(e);
  const at::Tensor idx = at::nonzero(mask.any(others[1]).any(others[0])).squeeze(1);
  if (idx.numel() == 0) return {0, mask.size(d) - 1};
  return {idx.min().item<int64_t>(), idx.max().item<int64_t>()};
}

Crop random_crop_of(const at::Tensor& mask, std::mt19937_64& rng) {
  Crop c;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const bool cut_z = u(rng) < 0.25;
  for (int d = 0; d < 3; ++d) {
    const int64_t n = mask.size(d);
    auto [first, last] = extent(mask, d);
    if (u(rng) < 0.3) {  // keep the whole axis
      c.lo[d] = 0;
      c.hi[d] = n;
      continue;
    }
    int64_t lo = static_cast<int64_t>(u(rng) * first), hi = last + 1 + static_cast<int64_t>(u(rng) * (n - last - 1));
    if (d == 0 && cut_z) {  // cut into the lungs from one end (partial coverage)
      const int64_t cut = static_cast<int64_t>(u(rng) * 0.3 * (last - first + 1));
      if (u(rng) < 0.5) lo = first + cut;
      else hi = last + 1 - cut;
    }
    c.lo[d] = std::clamp<int64_t>(lo, 0, n - 1);
    c.hi[d] = std::clamp<int64_t>(hi, c.lo[d] + 1, n);
  }
  return c;
}

at::Tensor apply_crop(const at::Tensor& t, const Crop& c) {
  return t.slice(0, c.lo[0], c.hi[0]).slice(1, c.lo[1], c.hi[1]).slice(2, c.lo[2], c.hi[2]);
}

at::Tensor box_tensor(const std::array<double, 6>& b) {
  return at::tensor(std::vector<float>(b.begin(), b.end()), at::kFloat);
}

}  // namespace

double box_iou(const std::array<double, 6>& a, const std::array<double, 6>& b) {
  double inter = 1, va = 1, vb = 1;
  for (int k = 0; k < 3; ++k) {
    inter *= std::max(0.0, std::min(a[3 + k], b[3 + k]) - std::max(a[k], b[k]));
    va *= std::max(0.0, a[3 + k] - a[k]);
    vb *= std::max(0.0, b[3 + k] - b[k]);
  }
  const double uni = va + vb - inter;
  return uni > 0 ? inter / uni : 0.0;
}

TrainResult train_lung_box(const TrainOptions& o, ModelInfo info, const std::vector<Sample>& train,
                           const std::vector<Sample>& validation) {
  if (train.empty()) throw Error(ExitCode::NoData, "train: no training cases");
  if (o.network.type != "boxnet") throw Error(ExitCode::BadConfig, "train: task lung_box needs network.type boxnet");
  if (o.output.empty()) throw Error(ExitCode::BadConfig, "train: no output folder");
  if (o.steps < 1 || o.validate_every < 1 || o.batch_size < 1)
    throw Error(ExitCode::BadConfig, "train: steps, validate_every and batch_size must be >= 1");
  for (const Sample& s : train)
    if (!s.label.defined() || !s.label.ne(0).any().item<bool>())
      throw Error(ExitCode::NoData, "train: case '" + s.id + "' has no lung voxel (a lung box needs lungs)");
  const IntensityOptions& intensity = info.intensity;
  const std::array<int64_t, 3> grid = o.network.boxnet.input_size;
  torch::manual_seed(o.seed);
  std::shared_ptr<Network> net = make_network(o.network);
  auto opt = make_optimizer(o.optimizer, net->parameters());
  std::error_code ec;
  fs::create_directories(o.output, ec);
  if (ec) throw Error(ExitCode::WriteFailed, "cannot create output folder '" + o.output + "': " + ec.message());
  info.network = o.network;
  info.patch_size = grid;
  info.task = "lung_box";
  info.box_frame = "grid_fraction";
  info.training_json = o.config_json;

  TrainResult result;
  std::vector<LogRow> log;
  double best = -1, loss_sum = 0, step_ms = 0;
  int64_t loss_count = 0;
  const auto start = Clock::now();
  auto last_report = start;
  for (int64_t step = 0; step < o.steps; ++step) {
    const auto t0 = Clock::now();
    std::vector<at::Tensor> inputs, targets;
    for (int b = 0; b < o.batch_size; ++b) {
      std::mt19937_64 rng(mix_seed(o.seed, static_cast<uint64_t>(step * o.batch_size + b)));
      const Sample& s = train[rng() % train.size()];
      const Crop c = random_crop_of(s.label, rng);
      at::Tensor image = apply_crop(s.image, c), label = apply_crop(s.label, c);
      if (std::uniform_real_distribution<double>(0, 1)(rng) < o.augment.flip.probability[0]) {
        image = image.flip({2});
        label = label.flip({2});
      }
      inputs.push_back(box_network_input(image, grid, intensity).unsqueeze(0));
      targets.push_back(box_tensor(mask_box_fractions(label)));
    }
    const at::Tensor x = at::stack(inputs), y = at::stack(targets);  // [B,1,gz,gy,gx], [B,6]
    const double lr = scheduled_lr(o.optimizer, o.schedule, step, o.steps);
    for (auto& group : opt->param_groups()) group.options().set_lr(lr);
    net->train();
    opt->zero_grad();
    const at::Tensor loss = (net->forward(x) - y).abs().mean();
    loss.backward();
    opt->step();
    loss_sum += loss.item<double>();
    ++loss_count;
    step_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const bool last = step + 1 == o.steps;
    if ((step + 1) % o.validate_every == 0 || last) {
      LogRow row;
      row.step = step + 1;
      row.lr = lr;
      row.train_loss = loss_sum / loss_count;
      row.step_ms = step_ms / loss_count;
      row.validation_dice = std::nan("");
      if (!validation.empty()) {
        at::NoGradGuard no_grad;
        net->eval();
        double iou = 0;
        for (const Sample& s : validation) {
          const at::Tensor p = net->forward(box_network_input(s.image, grid, intensity).unsqueeze(0).unsqueeze(0))[0];
          std::array<double, 6> pb{};
          for (int k = 0; k < 6; ++k) pb[k] = p[k].item<double>();
          iou += box_iou(pb, mask_box_fractions(s.label));
        }
        row.validation_dice = iou / validation.size();
      }
      const bool improved = validation.empty() || row.validation_dice > best;
      if (improved) {
        if (!validation.empty()) {
          best = row.validation_dice;
          result.best_step = row.step;
          info.metrics["validation_box_iou"] = best;
        }
        info.metrics["steps"] = static_cast<double>(row.step);
        info.metrics["train_loss"] = row.train_loss;
        save_model(o.output, info, *net);
      }
      row.best_validation_dice = best;
      row.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
      log.push_back(row);
      write_text_atomic((fs::path(o.output) / "log.csv").string(), log_csv(log));
      plot_training_curves(log, (fs::path(o.output) / "curves.png").string(), "VALIDATION BOX IOU");
      loss_sum = step_ms = 0;
      loss_count = 0;
    }
    if (o.progress && (last || std::chrono::duration<double>(Clock::now() - last_report).count() >= o.progress_interval_s)) {
      last_report = Clock::now();
      const double run_s = std::chrono::duration<double>(Clock::now() - start).count();
      const double rate = (step + 1) / std::max(run_s, 1e-9);
      std::ostringstream os;
      os << std::fixed << "pulmo train: step " << step + 1 << "/" << o.steps << "  loss " << std::setprecision(4)
         << loss.item<double>();
      if (!log.empty() && std::isfinite(log.back().validation_dice))
        os << "  val box IoU " << std::setprecision(3) << log.back().validation_dice << " (best " << best << ")";
      os << "  ETA " << duration_text((o.steps - step - 1) / rate);
      *o.progress << os.str() << std::endl;
    }
  }
  result.steps_done = o.steps;
  result.best_validation_dice = best;
  result.log = log;
  return result;
}

}  // namespace pulmo
