// The CXR network: a small ResNet-style CNN, a clinical MLP and a fusion head.
#include "cxr/net.h"

#include <torch/torch.h>

#include "pulmo/error.h"

namespace pulmo::cxr {

namespace F = torch::nn::functional;

ResBlockImpl::ResBlockImpl(int in, int out, int stride) {
  c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
  b1 = register_module("b1", torch::nn::BatchNorm2d(out));
  c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
  b2 = register_module("b2", torch::nn::BatchNorm2d(out));
  if (in != out || stride != 1) {
    skip = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
    bs = register_module("bs", torch::nn::BatchNorm2d(out));
  }
}

at::Tensor ResBlockImpl::forward(const at::Tensor& x) {
  at::Tensor y = torch::relu(b1(c1(x)));
  y = b2(c2(y));
  return torch::relu(y + (skip ? bs(skip(x)) : x));
}

CxrNetImpl::CxrNetImpl(const ModelOptions& o, int clinical_width) {
  if (o.variant == "fused") {
  } else if (o.variant == "image") {
    use_clinical = false;
  } else if (o.variant == "clinical") {
    use_image = false;
  } else if (o.variant == "logistic") {
    use_image = false;
    linear = true;
  } else {
    throw Error(ExitCode::BadConfig, "unknown model variant '" + o.variant + "' (valid: fused, image, clinical, logistic)");
  }
  if (o.channels.empty()) throw Error(ExitCode::BadConfig, "model.channels must list at least one stage");
  int width = 0;
  if (use_image) {
    stem = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, o.channels[0], 3).stride(2).padding(1).bias(false)));
    stem_bn = register_module("stem_bn", torch::nn::BatchNorm2d(o.channels[0]));
    stages = register_module("stages", torch::nn::ModuleList());
    int in = o.channels[0];
    for (size_t s = 0; s < o.channels.size(); ++s) {
      stages->push_back(ResBlock(in, o.channels[s], s == 0 ? 1 : 2));
      in = o.channels[s];
    }
    feature_width = in;
    width += in;
  }
  if (use_clinical && !linear) {
    clinical = register_module("clinical", torch::nn::Sequential(
        torch::nn::Linear(clinical_width, o.clinical_hidden), torch::nn::ReLU(),
        torch::nn::Linear(o.clinical_hidden, o.clinical_hidden), torch::nn::ReLU()));
    width += o.clinical_hidden;
  }
  if (linear) width = clinical_width;
  drop = register_module("drop", torch::nn::Dropout(linear ? 0.0 : o.dropout));
  head = register_module("head", torch::nn::Linear(width, 1));
}

at::Tensor CxrNetImpl::image_map(const at::Tensor& x) {
  at::Tensor y = torch::relu(stem_bn(stem((x - 0.5) * 4.0)));
  for (const auto& m : *stages) y = m->as<ResBlock>()->forward(y);
  return y;
}

at::Tensor CxrNetImpl::head_from(const at::Tensor& image_features, const at::Tensor& clinical_rows) {
  std::vector<at::Tensor> parts;
  if (use_image) parts.push_back(image_features);
  if (linear) parts.push_back(clinical_rows);
  else if (use_clinical) parts.push_back(clinical->forward(clinical_rows));
  return head(drop(torch::cat(parts, 1))).squeeze(1);
}

at::Tensor CxrNetImpl::forward(const at::Tensor& x, const at::Tensor& clinical_rows) {
  at::Tensor features;
  if (use_image) features = image_map(x).mean({2, 3});
  return head_from(features, clinical_rows);
}

std::string save_state(CxrNet& net) {
  torch::serialize::OutputArchive archive;
  net->save(archive);
  std::ostringstream os;
  archive.save_to(os);
  return os.str();
}

void load_state(CxrNet& net, const std::string& state) {
  torch::serialize::InputArchive archive;
  std::istringstream is(state);
  archive.load_from(is);
  net->load(archive);
}

}  // namespace pulmo::cxr
