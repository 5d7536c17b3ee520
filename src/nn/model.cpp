// Model folders: model.json + weights.
#include <torch/serialize.h>

#include <filesystem>
#include <sstream>

#include "core/json_fields.h"
#include "nn/network_json.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/model.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pulmo {
namespace {

Norm parse_norm(const std::string& s, const std::string& where) {
  if (s == "instance") return Norm::Instance;
  if (s == "batch") return Norm::Batch;
  throw Error(ExitCode::BadConfig, where + ": norm must be 'instance' or 'batch', not '" + s + "'");
}

}  // namespace

json network_to_json(const NetworkOptions& o) {
  const UNetOptions& u = o.unet;
  const BoxNetOptions& b = o.boxnet;
  json j = {{"type", o.type}};
  if (o.type == "boxnet")
    j["boxnet"] = {{"in_channels", b.in_channels}, {"levels", b.levels}, {"base_width", b.base_width},
                   {"norm", norm_name(b.norm)}, {"leaky_slope", b.leaky_slope}, {"input_size", b.input_size},
                   {"hidden", b.hidden}, {"coord_channels", b.coord_channels}};
  else
    j["unet"] = {{"dims", u.dims}, {"in_channels", u.in_channels}, {"out_channels", u.out_channels},
                 {"depth", u.depth}, {"base_width", u.base_width}, {"max_width", u.max_width},
                 {"norm", norm_name(u.norm)}, {"leaky_slope", u.leaky_slope}, {"residual", u.residual},
                 {"deep_supervision", u.deep_supervision}, {"dropout", u.dropout}};
  return j;
}

NetworkOptions network_from_json(const json& j, const std::string& where) {
  NetworkOptions o;
  JsonFields f(j, where);
  f.get("type", o.type);
  const json uj = f.object("unet"), bj = f.object("boxnet");
  f.finish();
  JsonFields u(uj, where + ".unet");
  std::string norm = norm_name(o.unet.norm);
  u.get("dims", o.unet.dims);
  u.get("in_channels", o.unet.in_channels);
  u.get("out_channels", o.unet.out_channels);
  u.get("depth", o.unet.depth);
  u.get("base_width", o.unet.base_width);
  u.get("max_width", o.unet.max_width);
  u.get("norm", norm);
  u.get("leaky_slope", o.unet.leaky_slope);
  u.get("residual", o.unet.residual);
  u.get("deep_supervision", o.unet.deep_supervision);
  u.get("dropout", o.unet.dropout);
  u.finish();
  o.unet.norm = parse_norm(norm, where + ".unet");
  JsonFields b(bj, where + ".boxnet");
  norm = norm_name(o.boxnet.norm);
  b.get("in_channels", o.boxnet.in_channels);
  b.get("levels", o.boxnet.levels);
  b.get("base_width", o.boxnet.base_width);
  b.get("norm", norm);
  b.get("leaky_slope", o.boxnet.leaky_slope);
  b.get("input_size", o.boxnet.input_size);
  b.get("hidden", o.boxnet.hidden);
  b.get("coord_channels", o.boxnet.coord_channels);
  b.finish();
  o.boxnet.norm = parse_norm(norm, where + ".boxnet");
  if (o.type != "unet" && o.type != "boxnet")
    throw Error(ExitCode::BadConfig, where + ": unknown network type '" + o.type + "' (valid: unet, boxnet)");
  return o;
}

IntensityOptions intensity_options(const ModelInfo& m) {
  IntensityOptions o;
  o.hu_min = m.hu_min;
  o.hu_max = m.hu_max;
  o.normalisation = m.normalisation;
  o.mean = m.norm_mean;
  o.std = m.norm_std;
  return o;
}

std::string model_info_to_json(const ModelInfo& m) {
  json training;
  try {
    training = json::parse(m.training_json.empty() ? "{}" : m.training_json);
  } catch (const json::parse_error& e) {
    throw Error(ExitCode::BadConfig, "model '" + m.name + "': the training block is not valid JSON: " + e.what());
  }
  if (!training.is_object())
    throw Error(ExitCode::BadConfig, "model '" + m.name + "': the training block must be a JSON object, not " +
                                         std::string(training.type_name()));
  json j = {{"format_version", m.format_version},
            {"name", m.name},
            {"task", m.task},
            {"network", network_to_json(m.network)},
            {"input", {{"spacing_mm", m.spacing_mm}, {"patch_size", m.patch_size}}},
            {"intensity", {{"hu_min", m.hu_min}, {"hu_max", m.hu_max}, {"normalisation", m.normalisation},
                           {"mean", m.norm_mean}, {"std", m.norm_std}}},
            {"label_names", m.label_names},
            {"training", training},
            {"metrics", m.metrics},
            {"weights", m.weights}};
  if (!m.box_frame.empty()) j["box_frame"] = m.box_frame;
  return j.dump(2) + "\n";
}

ModelInfo model_info_from_json(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(ExitCode::BadConfig, where + ": not valid JSON: " + e.what());
  }
  ModelInfo m;
  // The version first: a folder of another version gets that message, not a list of unknown keys.
  if (!j.is_object()) throw Error(ExitCode::BadConfig, where + ": expected an object");
  if (!j.contains("format_version") || !j["format_version"].is_number_integer())
    throw Error(ExitCode::BadConfig, where + ": no integer format_version");
  m.format_version = j["format_version"].get<int>();
  if (m.format_version != kModelFormatVersion)
    throw Error(ExitCode::BadConfig, where + ": format_version " + std::to_string(m.format_version) +
                                         " is not supported: this pulmo reads model folders of format_version " +
                                         std::to_string(kModelFormatVersion) +
                                         " (docs/model-format.md lists the changes); retrain the model with this pulmo");
  JsonFields f(j, where);
  f.get("format_version", m.format_version);
  f.get("name", m.name);
  f.get("task", m.task);
  m.network = network_from_json(f.object("network"), where + ": network");
  {
    JsonFields in(f.object("input"), where + ": input");
    in.get("spacing_mm", m.spacing_mm);
    in.get("patch_size", m.patch_size);
    in.finish();
  }
  {
    JsonFields in(f.object("intensity"), where + ": intensity");
    in.get("hu_min", m.hu_min);
    in.get("hu_max", m.hu_max);
    in.get("normalisation", m.normalisation);
    in.get("mean", m.norm_mean);
    in.get("std", m.norm_std);
    in.finish();
  }
  f.get("label_names", m.label_names);
  m.training_json = f.object("training").dump();
  f.get("metrics", m.metrics);
  f.get("weights", m.weights);
  f.get("box_frame", m.box_frame);
  f.finish();
  if (m.task == "lung_box") {
    if (m.network.type != "boxnet") throw Error(ExitCode::BadConfig, where + ": a lung_box model needs network.type boxnet");
    if (m.box_frame != "grid_fraction")
      throw Error(ExitCode::BadConfig, where + ": box_frame must be 'grid_fraction' for a lung_box model, not '" + m.box_frame + "'");
  } else if (!m.box_frame.empty()) {
    throw Error(ExitCode::BadConfig, where + ": box_frame is for lung_box models only");
  }
  if (m.network.type == "unet" && static_cast<int>(m.label_names.size()) != std::max(2, m.network.unet.out_channels))
    throw Error(ExitCode::BadConfig, where + ": label_names has " + std::to_string(m.label_names.size()) +
                                         " names for " + std::to_string(m.network.unet.out_channels) + " output channels");
  if (m.task != "lungs" && m.task != "lesions" && m.task != "lung_box" && m.task != "cxr_lungs")
    throw Error(ExitCode::BadConfig, where + ": task must be lungs, lesions, lung_box or cxr_lungs, not '" + m.task + "'");
  if (m.normalisation != "window01" && m.normalisation != "zscore")
    throw Error(ExitCode::BadConfig, where + ": normalisation must be window01 or zscore");
  if (!(m.hu_max > m.hu_min)) throw Error(ExitCode::BadConfig, where + ": hu_max must exceed hu_min");
  for (int a = 0; a < 3; ++a)
    if (!(m.spacing_mm[a] > 0) || m.patch_size[a] < 1)
      throw Error(ExitCode::BadConfig, where + ": spacing_mm and patch_size must be positive");
  if (m.weights.empty() || m.weights.find('/') != std::string::npos)
    throw Error(ExitCode::BadConfig, where + ": weights must be a file name inside the folder");
  return m;
}

void save_weights(Network& network, const std::string& path) {
  // Serialised in memory, then written with checked writes: LibTorch's file writer throws from its
  // destructor when the disk is full, which aborts the process (std::terminate) instead of exit 7.
  std::ostringstream bytes;
  try {
    torch::serialize::OutputArchive archive;
    network.save(archive);
    archive.save_to(bytes);
  } catch (const std::exception& e) {
    throw Error(ExitCode::WriteFailed, "cannot write weights '" + path + "': " + e.what());
  }
  write_bytes_atomic(path, bytes.str());  // checks the archive is complete (disk full) before the rename
}

void load_weights(Network& network, const std::string& path) {
  if (!fs::exists(path)) throw Error(ExitCode::NotFound, "weights file '" + path + "' does not exist");
  // Module::load replaces tensors whatever their shape: compare shapes before and after.
  auto shapes = [&network]() {
    std::map<std::string, std::vector<int64_t>> s;
    for (const auto& p : network.named_parameters()) s[p.key()] = p.value().sizes().vec();
    for (const auto& b : network.named_buffers()) s[b.key()] = b.value().sizes().vec();
    return s;
  };
  const auto expected = shapes();
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    network.load(archive);
  } catch (const c10::Error& e) {
    throw Error(ExitCode::BadConfig, "weights '" + path + "' do not fit the network of model.json: " +
                                         e.what_without_backtrace());
  }
  const auto loaded = shapes();
  for (const auto& [name, shape] : expected)
    if (loaded.at(name) != shape)
      throw Error(ExitCode::BadConfig, "weights '" + path + "' do not fit the network of model.json: tensor '" + name +
                                           "' has another shape");
}

void save_model(const std::string& folder, const ModelInfo& info, Network& network) {
  // Checked before anything is written: what is saved loads back.
  const std::string text = model_info_to_json(info);
  model_info_from_json(text, (fs::path(folder) / "model.json").string());
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw Error(ExitCode::WriteFailed, "cannot create model folder '" + folder + "': " + ec.message());
  save_weights(network, (fs::path(folder) / info.weights).string());
  write_text_atomic((fs::path(folder) / "model.json").string(), text);
}

LoadedModel load_model(const std::string& folder) {
  const fs::path json_path = fs::path(folder) / "model.json";
  if (!fs::exists(json_path)) throw Error(ExitCode::NotFound, "model folder '" + folder + "' has no model.json");
  LoadedModel m;
  m.info = model_info_from_json(read_text_file(json_path.string()), json_path.string());
  m.network = make_network(m.info.network);
  load_weights(*m.network, (fs::path(folder) / m.info.weights).string());
  m.network->eval();
  return m;
}

}  // namespace pulmo
