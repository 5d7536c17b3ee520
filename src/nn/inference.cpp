// Sliding-window inference over a whole volume.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>

#include "nn/autocast.h"
#include "pulmo/error.h"
#include "pulmo/nn.h"

namespace pulmo {
namespace {

std::vector<int64_t> window_starts(int64_t n, int64_t p, double overlap) {
  if (n <= p) return {0};
  const int64_t stride = std::max<int64_t>(1, static_cast<int64_t>(p * (1.0 - overlap)));
  std::vector<int64_t> starts;
  for (int64_t s = 0; s + p < n; s += stride) starts.push_back(s);
  starts.push_back(n - p);
  return starts;
}

// bfloat16 autocast on `device` for its lifetime (when `on`).
class BFloat16Autocast {
 public:
  BFloat16Autocast(bool on, const at::Device& device) : on_(on), type_(device.type()) {
    if (on_) set_autocast(type_, true, at::kBFloat16);
  }
  ~BFloat16Autocast() {
    if (on_) set_autocast(type_, false);
  }
  BFloat16Autocast(const BFloat16Autocast&) = delete;
  BFloat16Autocast& operator=(const BFloat16Autocast&) = delete;

 private:
  bool on_;
  c10::DeviceType type_;
};

}  // namespace

bool cpu_supports_bfloat16() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

// Gaussian importance map of a patch [pz, py, px], sigma = 1/8 of each side, peak 1, floored away from 0.
static at::Tensor gaussian_weights(const std::array<int64_t, 3>& p) {
  at::Tensor w = at::ones({1}, at::kFloat);
  for (int d = 0; d < 3; ++d) {
    const double sigma = std::max(1.0, p[d] / 8.0), centre = (p[d] - 1) / 2.0;
    const at::Tensor x = at::arange(p[d], at::kFloat);
    const at::Tensor g = at::exp(-(x - centre).pow(2) / (2 * sigma * sigma));
    std::vector<int64_t> shape{1, 1, 1};
    shape[d] = p[d];
    w = w * g.view(shape);
  }
  return w.clamp_min(1e-3).contiguous();
}

at::Tensor sliding_window_probabilities(Network& network, const at::Tensor& image, const std::array<int64_t, 3>& patch,
                                        const SlidingWindowOptions& o) {
  if (image.dim() != 3) throw Error(ExitCode::BadDimension, "sliding window: image must be [z,y,x]");
  if (o.overlap < 0 || o.overlap >= 1) throw Error(ExitCode::BadConfig, "sliding window: overlap must be in [0, 1)");
  at::NoGradGuard no_grad;
  const bool was_training = network.is_training();
  if (o.mc_dropout) enable_mc_dropout(network);
  else network.eval();
  const auto params = network.parameters();
  const at::Device device = params.empty() ? at::Device(at::kCPU) : params.front().device();
  if (o.bfloat16 && device.is_cpu() && !cpu_supports_bfloat16())
    throw Error(ExitCode::Usage, "sliding window: bfloat16 needs a CPU with AVX-512 (BW, VL, DQ)");
  const std::array<int64_t, 3> p{patch[2], patch[1], patch[0]};  // (z,y,x)
  std::array<int64_t, 3> padded{};
  std::vector<int64_t> pad;  // (x_l, x_r, y_l, y_r, z_l, z_r)
  for (int d = 2; d >= 0; --d) {
    padded[d] = std::max(image.size(d), p[d]);
    pad.push_back(0);
    pad.push_back(padded[d] - image.size(d));
  }
  at::Tensor x = image.to(at::kFloat);
  if (padded[0] != image.size(0) || padded[1] != image.size(1) || padded[2] != image.size(2)) {
    if (o.replicate_padding)
      x = at::replication_pad3d(x.unsqueeze(0).unsqueeze(0), pad).squeeze(0).squeeze(0);
    else
      x = at::constant_pad_nd(x, pad, x.min().item<double>());
  }
  const at::Tensor weight = o.gaussian ? gaussian_weights(p) : at::ones({p[0], p[1], p[2]}, at::kFloat);
  at::Tensor sum, count = at::zeros({padded[0], padded[1], padded[2]}, at::kFloat);
  std::vector<std::array<int64_t, 3>> starts;  // (z, y, x) of every window
  for (int64_t z : window_starts(padded[0], p[0], o.overlap))
    for (int64_t y : window_starts(padded[1], p[1], o.overlap))
      for (int64_t xx : window_starts(padded[2], p[2], o.overlap)) starts.push_back({z, y, xx});
  const size_t batch = static_cast<size_t>(std::max(1, o.batch));
  const BFloat16Autocast autocast(o.bfloat16, device);
  for (size_t first = 0; first < starts.size(); first += batch) {
    const size_t n = std::min(batch, starts.size() - first);
    std::vector<at::Tensor> tiles;
    for (size_t i = first; i < first + n; ++i) {
      const auto& s = starts[i];
      tiles.push_back(x.slice(0, s[0], s[0] + p[0]).slice(1, s[1], s[1] + p[1]).slice(2, s[2], s[2] + p[2]));
    }
    const at::Tensor input = at::stack(tiles).unsqueeze(1).to(device);  // [n,1,pz,py,px]
    const at::Tensor logits = network.forward(input).to(at::kFloat);    // [n,K,pz,py,px]
    const at::Tensor probs = (logits.size(1) == 1 ? at::sigmoid(logits) : at::softmax(logits, 1)).to(at::kCPU);
    for (size_t i = 0; i < n; ++i) {
      const auto& s = starts[first + i];
      const at::Tensor prob = probs[static_cast<int64_t>(i)] * weight;
      if (!sum.defined()) sum = at::zeros({prob.size(0), padded[0], padded[1], padded[2]}, at::kFloat);
      sum.slice(1, s[0], s[0] + p[0]).slice(2, s[1], s[1] + p[1]).slice(3, s[2], s[2] + p[2]).add_(prob);
      count.slice(0, s[0], s[0] + p[0]).slice(1, s[1], s[1] + p[1]).slice(2, s[2], s[2] + p[2]).add_(weight);
    }
  }
  network.train(was_training);
  const at::Tensor out = sum / count.unsqueeze(0);
  return out.slice(1, 0, image.size(0)).slice(2, 0, image.size(1)).slice(3, 0, image.size(2)).contiguous();
}

}  // namespace pulmo
