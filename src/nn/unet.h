// The LibTorch modules behind make_network(): internal to src/nn (include pulmo/nn.h instead).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "pulmo/nn.h"

namespace pulmo::nn {

struct BlockOptions {
  int dims = 3, in = 1, out = 8, stride = 1;
  Norm norm = Norm::Instance;
  double leaky_slope = 0.01, dropout = 0.0;
  bool residual = false;
};

// conv3x3(stride) - norm - lrelu - [dropout] - conv3x3 - norm (+ projected input) - lrelu
class ConvBlockImpl : public torch::nn::Module {
 public:
  explicit ConvBlockImpl(const BlockOptions& o);
  at::Tensor forward(const at::Tensor& x);

 private:
  BlockOptions o_;
  torch::nn::AnyModule conv1_, norm1_, conv2_, norm2_, skip_;
  torch::nn::Dropout drop_{nullptr};
};
TORCH_MODULE(ConvBlock);

class UNetImpl : public Network {
 public:
  explicit UNetImpl(const UNetOptions& o);
  std::vector<at::Tensor> forward_all(const at::Tensor& x) override;

 private:
  UNetOptions o_;
  std::vector<ConvBlock> encoder_, decoder_;     // encoder_[i] works at level i; decoder_[i] too (i < depth-1)
  std::vector<torch::nn::AnyModule> up_, heads_; // up_[i]: level i+1 -> i; heads_[i]: 1x1 conv at level i
};
TORCH_MODULE(UNet);

class BoxNetImpl : public Network {
 public:
  explicit BoxNetImpl(const BoxNetOptions& o);
  std::vector<at::Tensor> forward_all(const at::Tensor& x) override;

 private:
  BoxNetOptions o_;
  std::vector<ConvBlock> blocks_;
  torch::nn::Linear fc1_{nullptr}, fc_{nullptr};
};
TORCH_MODULE(BoxNet);

}  // namespace pulmo::nn
