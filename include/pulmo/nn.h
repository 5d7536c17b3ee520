// Networks of pulmo: U-Nets (2-D and 3-D) and the coarse 3-D CNN that regresses the lung
// bounding box for the LungQuant cascade. Every network is built from an option struct;
// NetworkOptions names the architecture so a model folder (model.h) can rebuild it.
//
//   pulmo::NetworkOptions o;                 // 3-D U-Net, 1 input channel, 3 classes
//   o.unet.depth = 3; o.unet.base_width = 8;
//   auto net = pulmo::make_network(o);       // std::shared_ptr<pulmo::Network>
//   at::Tensor logits = net->forward(x);     // [B,1,D,H,W] -> [B,3,D,H,W]
//
// Tensors are [B, C, z, y, x] (3-D) or [B, C, y, x] (2-D). A 2-D U-Net also takes one slice as a volume,
// [B, C, 1, y, x] -> [B, K, 1, y, x], so the training engine and the sliding window (both [z, y, x]) drive it with
// a patch of depth 1. Spatial sizes must be divisible by network_divisor(options) (a U-Net halves them depth-1
// times; the depth 1 of a 2-D patch excepted).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace pulmo {

enum class Norm : int { Instance, Batch };
const char* norm_name(Norm norm);

struct UNetOptions {
  int dims = 3;                  // 2 or 3
  int in_channels = 1;
  int out_channels = 3;          // classes (softmax); 1 = a single sigmoid output
  int depth = 4;                 // resolution levels (3 levels halve the size twice)
  int base_width = 16;           // channels of the first level, doubled per level
  int max_width = 320;           // cap on channels per level
  Norm norm = Norm::Instance;
  double leaky_slope = 0.01;     // LeakyReLU negative slope
  bool residual = false;         // residual (ResNet-style) convolution blocks
  bool deep_supervision = false; // extra 1x1 heads on the lower decoder levels (training only)
  double dropout = 0.0;          // dropout probability in each block (> 0 allows MC dropout)
};

struct BoxNetOptions {
  int in_channels = 1;
  int levels = 4;                // stride-2 conv blocks (64^3 input -> 4^3 feature map)
  int base_width = 8;
  Norm norm = Norm::Instance;
  double leaky_slope = 0.01;
  std::array<int64_t, 3> input_size{64, 64, 64};  // (x, y, z) voxels of the fixed coarse grid; multiples of 2^levels
  int hidden = 64;               // width of the fully connected layer before the 6 outputs
  bool coord_channels = true;    // append 3 coordinate channels (CoordConv) so positions are easy to read
};

struct NetworkOptions {
  std::string type = "unet";     // "unet" or "boxnet"
  UNetOptions unet;
  BoxNetOptions boxnet;
};

// The common interface of pulmo's networks.
class Network : public torch::nn::Module {
 public:
  // All outputs: [0] is the full-resolution output; with deep supervision the lower-resolution
  // heads follow (training mode only), coarsest last.
  virtual std::vector<at::Tensor> forward_all(const at::Tensor& x) = 0;
  at::Tensor forward(const at::Tensor& x) { return forward_all(x).front(); }
};

// Builds the network `options.type` names. Throws Error(BadConfig) on invalid options.
std::shared_ptr<Network> make_network(const NetworkOptions& options);

// Spatial sizes the network accepts are multiples of this.
int64_t network_divisor(const NetworkOptions& options);

// Number of trainable parameters.
int64_t count_parameters(const torch::nn::Module& module);

// Turns on the dropout layers only (for MC-dropout sampling) while norms stay in eval mode.
void enable_mc_dropout(Network& network);

}  // namespace pulmo

namespace pulmo {

struct SlidingWindowOptions {
  double overlap = 0.5;           // share of a window that its neighbour covers again (0..<1)
  bool gaussian = true;           // weight each window by a Gaussian (sigma = 1/8 of the patch, as nnU-Net) - no seams
  bool replicate_padding = false; // pad an image smaller than the patch with its edge values (thin stacks, single
                                  // slices), else with its minimum (outside air after normalisation)
  bool mc_dropout = false;        // keep the dropout layers sampling (one MC-dropout pass); norms stay in eval mode
  int batch = 4;                  // windows per forward pass; on a CPU, 4 windows of 48x48x32 cost about what 1 does
                                  // (fixed cost per convolution call; bench/bench_cascade). Results do not depend on it.
  bool bfloat16 = false;          // convolutions in bfloat16 (autocast; on CPUs with AVX-512-BF16/AMX about 2x
                                  // faster); probabilities differ from float32 by up to ~0.04
};

// Whether this CPU runs bfloat16 convolutions natively (oneDNN needs AVX-512 BW/VL/DQ; AVX-512-BF16 or AMX make it
// fast). Without it, SlidingWindowOptions::bfloat16 should not be asked for: callers fall back to float32.
bool cpu_supports_bfloat16();

// Class probabilities [K, z, y, x] of a whole [z, y, x] image (normalised intensities), by sliding a window of
// `patch` (x, y, z) voxels and blending; the image is padded as needed. Runs in eval mode without gradients on the
// network's device; returns a CPU tensor.
at::Tensor sliding_window_probabilities(Network& network, const at::Tensor& image, const std::array<int64_t, 3>& patch,
                                        const SlidingWindowOptions& options = {});

}  // namespace pulmo
