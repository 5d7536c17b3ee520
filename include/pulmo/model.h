// Model folders: a trained network that describes itself (docs/model-format.md).
//
//   folder/model.json   architecture + options, input spacing, patch size, HU window and
//                       normalisation, label names, training data + config, metrics
//   folder/weights.pt   torch::save of the network's parameters and buffers
//
// Inference reads only the folder: load_model() rebuilds the network from model.json and loads the
// weights. Unknown keys in model.json are refused (Error BadConfig) with the list of valid keys.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pulmo/geometry.h"
#include "pulmo/nn.h"
#include "pulmo/transforms.h"

namespace pulmo {

// The model.json format this pulmo reads and writes. Version 2 added the lung-box frame (box_frame) and the
// BoxNet's fixed input grid; version 1 folders are refused with a message saying so.
constexpr int kModelFormatVersion = 2;

struct ModelInfo {
  int format_version = kModelFormatVersion;
  std::string name = "model";
  std::string task = "lungs";                     // "lungs", "lesions", "lung_box" or "cxr_lungs" (2-D, X-rays)
  NetworkOptions network;
  Vec3 spacing_mm{1.5, 1.5, 1.5};                 // input spacing (x, y, z) the network was trained at
  std::array<int64_t, 3> patch_size{96, 96, 96};  // (x, y, z) voxels
  IntensityOptions intensity;                     // HU window and normalisation, as training prepared the images
  std::vector<std::string> label_names{"background", "right_lung", "left_lung"};
  std::string training_json = "{}";              // free-form JSON: training data, config, history
  std::map<std::string, double> metrics;          // e.g. validation_dice
  std::string weights = "weights.pt";             // file name inside the folder
  // task "lung_box" only: how the 6 outputs place the box. "grid_fraction": (x0, y0, z0, x1, y1, z1), each the
  // fraction of the whole CT's extent along that index axis, 0 = outer edge of the first voxel, 1 = outer edge of
  // the last (the CT is resampled to network.boxnet.input_size with the same outer edges).
  std::string box_frame;
};

struct LoadedModel {
  ModelInfo info;
  std::shared_ptr<Network> network;  // in eval() mode, on CPU
};

// model.json text <-> ModelInfo. Both throw Error(BadConfig): writing when training_json is not a JSON object;
// parsing for another format_version (checked before any other key), unknown keys, wrong values, label_names
// that do not match the network's output channels, a `training` block that is not an object.
std::string model_info_to_json(const ModelInfo& info);
ModelInfo model_info_from_json(const std::string& text, const std::string& where = "model.json");

// Writes model.json and the weights (each atomically). Creates the folder. Error(BadConfig), with nothing
// written, when `info` would give a model.json that load_model refuses.
void save_model(const std::string& folder, const ModelInfo& info, Network& network);
// Reads a model folder. NotFound when model.json or weights are missing; BadConfig when invalid.
LoadedModel load_model(const std::string& folder);

// Saves / loads only the parameters and buffers of a network (atomic write).
void save_weights(Network& network, const std::string& path);
void load_weights(Network& network, const std::string& path);

}  // namespace pulmo
