// Model folders: model.json + weights.
#include <torch/serialize.h>

#include <filesystem>
#include <sstream>

#include "core/schema.h"
#include "data/schemas.h"
#include "nn/schemas.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/model.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pulmo {
namespace {

// model.json (docs/model-format.md); format_version is checked before this reads anything.
const Schema<ModelInfo>& model_schema() {
  static const Schema<ModelInfo> input =
      Schema<ModelInfo>()
          .field("spacing_mm", &ModelInfo::spacing_mm, "(x, y, z) spacing the network was trained at; 0 keeps the input's spacing on that axis (a 2-D model, slice by slice)", Bounds().min(0))
          .field("patch_size", &ModelInfo::patch_size, "(x, y, z) sliding-window size", Bounds().min(1));
  static const Schema<ModelInfo> schema =
      Schema<ModelInfo>()
          .field("format_version", &ModelInfo::format_version, "the model.json format")
          .field("name", &ModelInfo::name, "free text")
          .field("task", &ModelInfo::task, "what the network does", Choices{"lungs", "lesions", "lung_box", "cxr_lungs"})
          .section("network", &ModelInfo::network, network_schema())
          .group("input", input)
          .section("intensity", &ModelInfo::intensity, intensity_schema())
          .field("label_names", &ModelInfo::label_names, "name of each output channel")
          .custom(
              "training",
              [](ModelInfo& m, const json& v, const SchemaContext& ctx) {
                if (!v.is_object()) ctx.fail_key("training", "must be an object");
                m.training_json = v.dump();
              },
              [](const ModelInfo& m) {
                json training;
                try {
                  training = json::parse(m.training_json.empty() ? "{}" : m.training_json);
                } catch (const json::parse_error& e) {
                  throw Error(ExitCode::BadConfig, "model '" + m.name + "': the training block is not valid JSON: " + e.what());
                }
                if (!training.is_object())
                  throw Error(ExitCode::BadConfig, "model '" + m.name + "': the training block must be a JSON object, not " +
                                                       std::string(training.type_name()));
                return training;
              },
              "object", "free-form: the training configuration, manifest, fold and cases")
          .field("metrics", &ModelInfo::metrics, "numbers measured on the validation set")
          .field("weights", &ModelInfo::weights, "file name of the weights inside the folder")
          .field("box_frame", &ModelInfo::box_frame, "lung_box models: how the outputs place the box")
          .write_if([](const ModelInfo& m) { return !m.box_frame.empty(); });
  return schema;
}

}  // namespace

std::string model_info_to_json(const ModelInfo& m) { return model_schema().write(m).dump(2) + "\n"; }

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
  model_schema().read(j, m, SchemaContext(where));
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
