// U-Net (2-D / 3-D) and bounding-box CNN.
#include "nn/unet.h"

#include <torch/nn/functional.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/instancenorm.h>
#include <ATen/ATen.h>

#include <algorithm>

#include "nn/schemas.h"
#include "pulmo/error.h"

namespace pulmo {
namespace nn {
namespace {

using torch::nn::AnyModule;

AnyModule conv(int dims, int in, int out, int kernel, int stride) {
  if (dims == 3)
    return AnyModule(torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false)));
  return AnyModule(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false)));
}

AnyModule head(int dims, int in, int out) {
  if (dims == 3) return AnyModule(torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, 1)));
  return AnyModule(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1)));
}

AnyModule up_conv(int dims, int in, int out) {
  if (dims == 3) return AnyModule(torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(in, out, 2).stride(2).bias(false)));
  return AnyModule(torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 2).stride(2).bias(false)));
}

AnyModule norm(int dims, Norm kind, int channels) {
  if (kind == Norm::Batch) {
    if (dims == 3) return AnyModule(torch::nn::BatchNorm3d(channels));
    return AnyModule(torch::nn::BatchNorm2d(channels));
  }
  if (dims == 3) return AnyModule(torch::nn::InstanceNorm3d(torch::nn::InstanceNorm3dOptions(channels).affine(true)));
  return AnyModule(torch::nn::InstanceNorm2d(torch::nn::InstanceNorm2dOptions(channels).affine(true)));
}

}  // namespace

ConvBlockImpl::ConvBlockImpl(const BlockOptions& o) : o_(o) {
  conv1_ = conv(o.dims, o.in, o.out, 3, o.stride);
  norm1_ = norm(o.dims, o.norm, o.out);
  conv2_ = conv(o.dims, o.out, o.out, 3, 1);
  norm2_ = norm(o.dims, o.norm, o.out);
  register_module("conv1", conv1_.ptr());
  register_module("norm1", norm1_.ptr());
  register_module("conv2", conv2_.ptr());
  register_module("norm2", norm2_.ptr());
  if (o.dropout > 0) drop_ = register_module("dropout", torch::nn::Dropout(o.dropout));
  if (o.residual) {
    skip_ = conv(o.dims, o.in, o.out, 1, o.stride);
    register_module("skip", skip_.ptr());
  }
}

at::Tensor ConvBlockImpl::forward(const at::Tensor& x) {
  // [B,in,S] -> [B,out,S/stride]   (S = spatial dims)
  at::Tensor h = at::leaky_relu(norm1_.forward(conv1_.forward(x)), o_.leaky_slope);
  if (drop_) h = drop_->forward(h);
  h = norm2_.forward(conv2_.forward(h));  // [B,out,S/stride]
  if (o_.residual) h = h + skip_.forward(x);
  return at::leaky_relu(h, o_.leaky_slope);
}

UNetImpl::UNetImpl(const UNetOptions& o) : o_(o) {
  auto width = [&](int level) { return std::min(o.max_width, o.base_width << level); };
  BlockOptions b;
  b.dims = o.dims;
  b.norm = o.norm;
  b.leaky_slope = o.leaky_slope;
  b.dropout = o.dropout;
  b.residual = o.residual;
  for (int i = 0; i < o.depth; ++i) {
    b.in = i == 0 ? o.in_channels : width(i - 1);
    b.out = width(i);
    b.stride = i == 0 ? 1 : 2;
    encoder_.push_back(register_module("encoder" + std::to_string(i), ConvBlock(b)));
  }
  b.stride = 1;
  for (int i = 0; i + 1 < o.depth; ++i) {
    up_.push_back(up_conv(o.dims, width(i + 1), width(i)));
    register_module("up" + std::to_string(i), up_.back().ptr());
    b.in = 2 * width(i);
    b.out = width(i);
    decoder_.push_back(register_module("decoder" + std::to_string(i), ConvBlock(b)));
    if (i == 0 || o.deep_supervision) {
      heads_.push_back(head(o.dims, width(i), o.out_channels));
      register_module("head" + std::to_string(i), heads_.back().ptr());
    }
  }
  if (o.depth == 1) {
    heads_.push_back(head(o.dims, width(0), o.out_channels));
    register_module("head0", heads_.back().ptr());
  }
}

std::vector<at::Tensor> UNetImpl::forward_all(const at::Tensor& x_in) {
  // A 2-D U-Net also takes a single slice as a volume [B,C,1,H,W] (the training engine's and the sliding
  // window's layout) and answers [B,K,1,H,W].
  if (o_.dims == 2 && x_in.dim() == 5 && x_in.size(2) == 1) {
    std::vector<at::Tensor> out = forward_all(x_in.squeeze(2));
    for (at::Tensor& t : out) t = t.unsqueeze(2);
    return out;
  }
  const at::Tensor& x = x_in;
  if (x.dim() != o_.dims + 2)
    throw Error(ExitCode::Mismatch, "U-Net (" + std::to_string(o_.dims) + "-D) needs a [B,C" +
                                        (o_.dims == 3 ? ",D,H,W" : ",H,W or [B,C,1,H,W]") + "] input, got " + std::to_string(x.dim()) + " dims");
  const int64_t divisor = int64_t(1) << (o_.depth - 1);
  for (int d = 2; d < x.dim(); ++d)
    if (x.size(d) % divisor != 0)
      throw Error(ExitCode::Mismatch, "U-Net input size " + std::to_string(x.size(d)) + " is not a multiple of " +
                                          std::to_string(divisor));
  std::vector<at::Tensor> skips;
  at::Tensor h = x;  // [B,Cin,S]
  for (int i = 0; i < o_.depth; ++i) {
    h = encoder_[i]->forward(h);  // [B,w_i,S/2^i]
    if (i + 1 < o_.depth) skips.push_back(h);
  }
  std::vector<at::Tensor> lower;  // deep-supervision outputs, finest first
  for (int i = o_.depth - 2; i >= 0; --i) {
    h = up_[i].forward(h);                   // [B,w_{i+1},S/2^{i+1}] -> [B,w_i,S/2^i]
    h = at::cat({skips[i], h}, 1);           // [B,2w_i,S/2^i]
    h = decoder_[i]->forward(h);             // [B,w_i,S/2^i]
    if (i > 0 && o_.deep_supervision && is_training()) lower.insert(lower.begin(), heads_[i].forward(h));  // [B,K,S/2^i]
  }
  std::vector<at::Tensor> out{heads_[0].forward(h)};  // [B,K,S]
  out.insert(out.end(), lower.begin(), lower.end());
  return out;
}

BoxNetImpl::BoxNetImpl(const BoxNetOptions& o) : o_(o) {
  BlockOptions b;
  b.dims = 3;
  b.norm = o.norm;
  b.leaky_slope = o.leaky_slope;
  int width = o.base_width, in = o.in_channels + (o.coord_channels ? 3 : 0);
  for (int i = 0; i < o.levels; ++i) {
    b.in = in;
    b.out = std::min(256, width);
    b.stride = 2;
    blocks_.push_back(register_module("block" + std::to_string(i), ConvBlock(b)));
    in = b.out;
    width *= 2;
  }
  int64_t cells = 1;
  for (int a = 0; a < 3; ++a) cells *= o.input_size[a] >> o.levels;
  fc1_ = register_module("fc1", torch::nn::Linear(in * cells, o.hidden));
  fc_ = register_module("fc", torch::nn::Linear(o.hidden, 6));
}

std::vector<at::Tensor> BoxNetImpl::forward_all(const at::Tensor& x) {
  if (x.dim() != 5) throw Error(ExitCode::Mismatch, "BoxNet needs a [B,C,D,H,W] input, got " + std::to_string(x.dim()) + " dims");
  const std::array<int64_t, 3> want{o_.input_size[2], o_.input_size[1], o_.input_size[0]};
  for (int d = 0; d < 3; ++d)
    if (x.size(2 + d) != want[d])
      throw Error(ExitCode::Mismatch, "BoxNet: input must be " + std::to_string(o_.input_size[0]) + "x" +
                                          std::to_string(o_.input_size[1]) + "x" + std::to_string(o_.input_size[2]) + " voxels");
  at::Tensor h = x;                                  // [B,C,D,H,W]
  if (o_.coord_channels) {                           // [B,C,D,H,W] -> [B,C+3,D,H,W], coordinates in [-1, 1]
    const auto opts = x.options();
    std::vector<at::Tensor> coords;
    for (int d = 0; d < 3; ++d) {
      std::vector<int64_t> shape{1, 1, 1, 1, 1};
      shape[2 + d] = x.size(2 + d);
      const at::Tensor c = at::linspace(-1, 1, x.size(2 + d), opts).reshape(shape);
      coords.push_back(c.expand({x.size(0), 1, x.size(2), x.size(3), x.size(4)}));
    }
    h = at::cat({x, coords[2], coords[1], coords[0]}, 1);  // channels: image, x, y, z
  }
  for (auto& block : blocks_) h = block->forward(h); // [B,w,D/2^L,H/2^L,W/2^L]
  h = at::leaky_relu(fc1_->forward(h.flatten(1)), o_.leaky_slope);  // [B,hidden]
  return {at::sigmoid(fc_->forward(h))};             // [B,6]: (x0,y0,z0,x1,y1,z1) in [0,1]
}

}  // namespace nn

const char* norm_name(Norm norm) { return name_of(norm_names(), norm).c_str(); }

std::shared_ptr<Network> make_network(const NetworkOptions& options) {
  if (options.type == "unet") {
    const UNetOptions& u = options.unet;
    if (u.dims != 2 && u.dims != 3) throw Error(ExitCode::BadConfig, "unet.dims must be 2 or 3");
    if (u.depth < 1 || u.depth > 7) throw Error(ExitCode::BadConfig, "unet.depth must be 1..7");
    if (u.base_width < 1 || u.in_channels < 1 || u.out_channels < 1)
      throw Error(ExitCode::BadConfig, "unet widths and channel counts must be positive");
    if (u.dropout < 0 || u.dropout >= 1) throw Error(ExitCode::BadConfig, "unet.dropout must be in [0, 1)");
    return std::make_shared<nn::UNetImpl>(u);
  }
  if (options.type == "boxnet") {
    const BoxNetOptions& b = options.boxnet;
    if (b.levels < 1 || b.levels > 8 || b.base_width < 1 || b.in_channels < 1 || b.hidden < 1)
      throw Error(ExitCode::BadConfig, "boxnet needs 1..8 levels and positive widths");
    for (int a = 0; a < 3; ++a)
      if (b.input_size[a] < (int64_t(1) << b.levels) || b.input_size[a] % (int64_t(1) << b.levels) != 0 || b.input_size[a] > 512)
        throw Error(ExitCode::BadConfig, "boxnet.input_size must be multiples of 2^levels = " +
                                             std::to_string(int64_t(1) << b.levels) + ", at most 512");
    return std::make_shared<nn::BoxNetImpl>(b);
  }
  throw Error(ExitCode::BadConfig, "unknown network type '" + options.type + "' (valid: unet, boxnet)");
}

int64_t network_divisor(const NetworkOptions& options) {
  if (options.type == "boxnet") return int64_t(1) << options.boxnet.levels;
  return int64_t(1) << (options.unet.depth - 1);
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

void enable_mc_dropout(Network& network) {
  network.eval();
  for (const auto& m : network.modules(/*include_self=*/false))
    if (std::dynamic_pointer_cast<torch::nn::DropoutImpl>(m)) m->train(true);
}

}  // namespace pulmo
