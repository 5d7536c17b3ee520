// Internal to src/cxr: the CXR network (image CNN + clinical MLP + fusion head) and its (de)serialisation.
#pragma once

#include <torch/nn.h>
#include <torch/serialize.h>

#include <sstream>
#include <string>

#include "pulmo/cxr_model.h"

namespace pulmo::cxr {

struct ResBlockImpl : torch::nn::Module {
  torch::nn::Conv2d c1{nullptr}, c2{nullptr}, skip{nullptr};
  torch::nn::BatchNorm2d b1{nullptr}, b2{nullptr}, bs{nullptr};
  ResBlockImpl(int in, int out, int stride);
  at::Tensor forward(const at::Tensor& x);
};
TORCH_MODULE(ResBlock);

struct CxrNetImpl : torch::nn::Module {
  bool use_image = true, use_clinical = true, linear = false;
  int feature_width = 0;  // image features after pooling
  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  torch::nn::ModuleList stages{nullptr};
  torch::nn::Sequential clinical{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::nn::Linear head{nullptr};

  CxrNetImpl(const ModelOptions& o, int clinical_width);
  // The last stage's feature map [B, C, h, w] of images [B, 1, S, S] in 0..1.
  at::Tensor image_map(const at::Tensor& x);
  // Logits [B] from pooled image features [B, C] (undefined for clinical-only) and clinical rows [B, W].
  at::Tensor head_from(const at::Tensor& image_features, const at::Tensor& clinical_rows);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& clinical_rows);
};
TORCH_MODULE(CxrNet);

std::string save_state(CxrNet& net);
void load_state(CxrNet& net, const std::string& state);

}  // namespace pulmo::cxr
