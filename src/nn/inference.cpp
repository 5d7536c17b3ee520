// Sliding-window inference over a whole volume.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>

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

}  // namespace

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
  for (int64_t z : window_starts(padded[0], p[0], o.overlap))
    for (int64_t y : window_starts(padded[1], p[1], o.overlap))
      for (int64_t xx : window_starts(padded[2], p[2], o.overlap)) {
        at::Tensor tile = x.slice(0, z, z + p[0]).slice(1, y, y + p[1]).slice(2, xx, xx + p[2]);
        tile = tile.unsqueeze(0).unsqueeze(0).to(device);                 // [1,1,pz,py,px]
        at::Tensor logits = network.forward(tile)[0].to(at::kFloat);      // [K,pz,py,px]
        at::Tensor prob = logits.size(0) == 1 ? at::sigmoid(logits) : at::softmax(logits, 0);
        prob = prob.to(at::kCPU) * weight;
        if (!sum.defined()) sum = at::zeros({prob.size(0), padded[0], padded[1], padded[2]}, at::kFloat);
        sum.slice(1, z, z + p[0]).slice(2, y, y + p[1]).slice(3, xx, xx + p[2]).add_(prob);
        count.slice(0, z, z + p[0]).slice(1, y, y + p[1]).slice(2, xx, xx + p[2]).add_(weight);
      }
  network.train(was_training);
  const at::Tensor out = sum / count.unsqueeze(0);
  return out.slice(1, 0, image.size(0)).slice(2, 0, image.size(1)).slice(3, 0, image.size(2)).contiguous();
}

}  // namespace pulmo
