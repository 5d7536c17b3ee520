// Training configuration: JSON or YAML -> TrainConfig, strictly.
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/json_fields.h"
#include "nn/network_json.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/runtime.h"
#include "pulmo/train_config.h"
#include "train/internal.h"

using nlohmann::json;

namespace pulmo {
namespace {

json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json j = json::object();
      for (const auto& kv : n) {
        const std::string key = kv.first.as<std::string>();
        if (j.contains(key))
          throw Error(ExitCode::BadConfig, "duplicate key '" + key + "' (line " + std::to_string(kv.first.Mark().line + 1) +
                                               "): which value was meant is unclear");
        j[key] = yaml_to_json(kv.second);
      }
      return j;
    }
    case YAML::NodeType::Sequence: {
      json j = json::array();
      for (const auto& v : n) j.push_back(yaml_to_json(v));
      return j;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted
      if (s == "true" || s == "True" || s == "yes") return true;
      if (s == "false" || s == "False" || s == "no") return false;
      try {
        size_t used = 0;
        const long long i = std::stoll(s, &used);
        if (used == s.size()) return i;
        const double d = std::stod(s, &used);
        if (used == s.size()) return d;
      } catch (const std::exception&) {
      }
      return s;
    }
    default: return nullptr;
  }
}

// nlohmann keeps the last of two equal keys without a word: refuse duplicates in every object.
json parse_json_without_duplicates(const std::string& text) {
  std::vector<std::set<std::string>> keys;
  json::parser_callback_t cb = [&keys](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    else if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    else if (event == json::parse_event_t::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
      throw Error(ExitCode::BadConfig, "duplicate key '" + parsed.get<std::string>() + "': which value was meant is unclear");
    return true;
  };
  return json::parse(text, cb);
}

void read_data(JsonFields& f, DataOptions& d) {
  f.get("manifest", d.manifest);
  f.get("task", d.task);
  f.get("split", d.split);
  f.get("folds", d.folds);
  f.get("fold", d.fold);
  f.get("validation_fraction", d.validation_fraction);
  f.get("test_fraction", d.test_fraction);
  f.get("split_seed", d.split_seed);
  f.get("spacing_mm", d.spacing_mm);
  f.get("hu_min", d.intensity.hu_min);
  f.get("hu_max", d.intensity.hu_max);
  f.get("normalisation", d.intensity.normalisation);
  f.get("mean", d.intensity.mean);
  f.get("std", d.intensity.std);
  f.finish();
}

void read_loss(JsonFields& f, LossOptions& l) {
  std::string type = loss_name(l.kind);
  f.get("type", type);
  l.kind = parse_loss_kind(type);
  f.get("batch_dice", l.batch_dice);
  f.get("include_background", l.include_background);
  f.get("smooth", l.smooth);
  f.get("dice_weight", l.dice_weight);
  f.get("ce_weight", l.ce_weight);
  f.get("focal_gamma", l.focal_gamma);
  f.get("tversky_alpha", l.tversky_alpha);
  f.get("tversky_beta", l.tversky_beta);
  f.finish();
}

void read_optimizer(JsonFields& f, OptimizerOptions& o) {
  f.get("type", o.type);
  f.get("lr", o.lr);
  f.get("weight_decay", o.weight_decay);
  f.get("beta1", o.beta1);
  f.get("beta2", o.beta2);
  f.get("momentum", o.momentum);
  f.get("nesterov", o.nesterov);
  f.finish();
}

void read_schedule(JsonFields& f, ScheduleOptions& s) {
  f.get("type", s.type);
  f.get("warmup_steps", s.warmup_steps);
  f.get("poly_power", s.poly_power);
  f.get("min_lr", s.min_lr);
  f.get("plateau_factor", s.plateau_factor);
  f.get("plateau_patience", s.plateau_patience);
  f.finish();
}

void read_augment(JsonFields& f, AugmentOptions& a) {
  f.get("enabled", a.enabled);
  f.get("flip_probability", a.flip.probability);
  f.get("rotate_scale_probability", a.spatial.probability);
  f.get("rotate_degrees", a.spatial.rotate_degrees);
  f.get("scale_min", a.spatial.scale_min);
  f.get("scale_max", a.spatial.scale_max);
  f.get("elastic_probability", a.spatial.elastic_probability);
  f.get("elastic_mm", a.spatial.elastic_mm);
  f.get("elastic_grid", a.spatial.elastic_grid);
  IntensityAugmentOptions& i = a.intensity;
  f.get("shift_probability", i.shift_probability);
  f.get("shift", i.shift);
  f.get("scale_probability", i.scale_probability);
  f.get("scale", i.scale);
  f.get("gamma_probability", i.gamma_probability);
  f.get("gamma_min", i.gamma_min);
  f.get("gamma_max", i.gamma_max);
  f.get("noise_probability", i.noise_probability);
  f.get("noise_std", i.noise_std);
  f.get("blur_probability", i.blur_probability);
  f.get("blur_sigma_min", i.blur_sigma_min);
  f.get("blur_sigma_max", i.blur_sigma_max);
  f.get("lowres_probability", i.lowres_probability);
  f.get("lowres_zoom_min", i.lowres_zoom_min);
  f.get("lowres_zoom_max", i.lowres_zoom_max);
  f.finish();
}

void read_training(JsonFields& f, TrainOptions& t, int& threads) {
  f.get("patch_size", t.patch_size);
  f.get("foreground_probability", t.foreground_probability);
  f.get("batch_size", t.batch_size);
  f.get("steps", t.steps);
  f.get("validate_every", t.validate_every);
  f.get("checkpoint_every", t.checkpoint_every);
  f.get("early_stopping_patience", t.early_stopping_patience);
  f.get("early_stopping_min_delta", t.early_stopping_min_delta);
  f.get("grad_clip_norm", t.grad_clip_norm);
  f.get("amp", t.amp);
  f.get("device", t.device);
  f.get("seed", t.seed);
  f.get("workers", t.workers);
  f.get("prefetch", t.prefetch);
  f.get("threads", threads);
  f.finish();
}

void validate(const TrainConfig& c, const std::string& where) {
  auto bad = [&](const std::string& m) { throw Error(ExitCode::BadConfig, where + ": " + m); };
  const DataOptions& d = c.data;
  if (d.task != "lungs" && d.task != "lesions" && d.task != "lung_box" && d.task != "cxr_lungs")
    bad("data.task must be lungs, lesions, lung_box or cxr_lungs");
  if (d.split != "holdout" && d.split != "kfold" && d.split != "loo") bad("data.split must be holdout, kfold or loo");
  if (d.split == "kfold" && d.folds < 2) bad("data.folds must be >= 2");
  if (d.validation_fraction < 0 || d.validation_fraction >= 1) bad("data.validation_fraction must be in [0, 1)");
  if (d.test_fraction < 0 || d.test_fraction + d.validation_fraction >= 1) bad("data.test_fraction must be in [0, 1 - validation_fraction)");
  if (!(d.intensity.hu_max > d.intensity.hu_min)) bad("data.hu_max must exceed data.hu_min");
  const TrainOptions& t = c.train;
  if (t.steps < 1 || t.batch_size < 1 || t.validate_every < 1) bad("training.steps, batch_size and validate_every must be >= 1");
  if (t.checkpoint_every < 0 || t.workers < 0 || t.prefetch < 1) bad("training.checkpoint_every/workers must be >= 0, prefetch >= 1");
  if (!(t.optimizer.lr > 0)) bad("optimizer.lr must be > 0");
  if (t.optimizer.type != "adam" && t.optimizer.type != "adamw" && t.optimizer.type != "sgd")
    bad("optimizer.type must be adam, adamw or sgd");
  const std::string& s = t.schedule.type;
  if (s != "constant" && s != "poly" && s != "cosine" && s != "plateau") bad("schedule.type must be constant, poly, cosine or plateau");
  if (d.task == "lung_box") {
    if (t.network.type != "boxnet") bad("network.type must be boxnet for data.task lung_box");
    if (t.patch_size != t.network.boxnet.input_size)
      bad("training.patch_size must equal network.boxnet.input_size for a lung_box model (the whole CT is resampled to it)");
    if (c.threads < 0) bad("training.threads must be >= 0");
    return;
  }
  if (t.network.type != "unet") bad("network.type must be unet for segmentation training");
  const bool flat = d.task == "cxr_lungs";  // chest X-rays: a 2-D U-Net on patches of depth 1
  if (flat && t.network.unet.dims != 2) bad("network.unet.dims must be 2 for data.task cxr_lungs (chest X-rays are 2-D)");
  if (!flat && t.network.unet.dims != 3) bad("network.unet.dims must be 3 for CT tasks (2-D U-Nets: data.task cxr_lungs)");
  if (flat && t.network.unet.out_channels != 2) bad("network.unet.out_channels must be 2 (background, lung) for data.task cxr_lungs");
  if (flat && t.patch_size[2] != 1) bad("training.patch_size must be [size, size, 1] for data.task cxr_lungs");
  if (flat && t.patch_size[0] != t.patch_size[1])
    bad("training.patch_size must be square for data.task cxr_lungs (the X-ray is letterboxed to size x size)");
  if (t.network.unet.out_channels != 3 && t.network.unet.out_channels != 2)
    bad("network.unet.out_channels must be 3 (background + 2 labels) or 2 (background + any label)");
  const UNetOptions& u = t.network.unet;
  if (u.depth < 1 || u.depth > 7) bad("network.unet.depth must be 1..7 (not " + std::to_string(u.depth) + ")");
  if (u.base_width < 1 || u.max_width < 1) bad("network.unet.base_width and max_width must be >= 1");
  auto probability = [&](const char* name, double p) {
    if (!(p >= 0 && p <= 1)) bad(std::string(name) + " is a probability and must be in [0, 1] (not " + std::to_string(p) + ")");
  };
  const AugmentOptions& a = t.augment;
  for (double p : a.flip.probability) probability("augment.flip_probability", p);
  probability("augment.rotate_scale_probability", a.spatial.probability);
  probability("augment.elastic_probability", a.spatial.elastic_probability);
  probability("augment.shift_probability", a.intensity.shift_probability);
  probability("augment.scale_probability", a.intensity.scale_probability);
  probability("augment.gamma_probability", a.intensity.gamma_probability);
  probability("augment.noise_probability", a.intensity.noise_probability);
  probability("augment.blur_probability", a.intensity.blur_probability);
  probability("augment.lowres_probability", a.intensity.lowres_probability);
  probability("training.foreground_probability", t.foreground_probability);
  if (!(u.dropout >= 0 && u.dropout < 1)) bad("network.unet.dropout must be in [0, 1)");
  if (t.workers > kMaxLoaderWorkers)
    bad("training.workers " + std::to_string(t.workers) + " is more than " + std::to_string(kMaxLoaderWorkers) +
        " loader threads (pulmo's limit; 2-8 keep a GPU busy)");
  if (t.prefetch > kMaxPrefetch) bad("training.prefetch must be <= " + std::to_string(kMaxPrefetch));
  const int max_threads = kMaxThreadsPerCore * available_cores();
  if (c.threads > max_threads)
    bad("training.threads " + std::to_string(c.threads) + " is more than " + std::to_string(kMaxThreadsPerCore) +
        " per available core (at most " + std::to_string(max_threads) + " here; 0 = every core)");
  for (int a2 = 0; a2 < 3; ++a2)
    if (!std::isfinite(d.spacing_mm[a2])) bad("data.spacing_mm must be finite");
  const int64_t div = network_divisor(t.network);
  for (int a2 = 0; a2 < (flat ? 2 : 3); ++a2)
    if (t.patch_size[a2] < 1 || t.patch_size[a2] % div != 0)
      bad("training.patch_size entries must be positive multiples of " + std::to_string(div));
  if (c.threads < 0) bad("training.threads must be >= 0");
}

}  // namespace

json parse_yaml_or_json(const std::string& text, bool yaml, const std::string& where) {
  try {
    return yaml ? yaml_to_json(YAML::Load(text)) : parse_json_without_duplicates(text);
  } catch (const Error& e) {
    throw e.with_context(where);
  } catch (const YAML::Exception& e) {
    throw Error(ExitCode::BadConfig, where + ": not valid YAML: " + e.what());
  } catch (const json::parse_error& e) {
    throw Error(ExitCode::BadConfig, where + ": not valid JSON: " + e.what());
  }
}

TrainConfig parse_train_config(const std::string& text, bool yaml, const std::string& where) {
  json j = parse_yaml_or_json(text, yaml, where);
  TrainConfig c;
  JsonFields f(j, where);
  {
    JsonFields g(f.object("data"), where + ": data");
    read_data(g, c.data);
  }
  if (f.has("network")) c.train.network = network_from_json(f.object("network"), where + ": network");
  else f.object("network");
  {
    JsonFields g(f.object("loss"), where + ": loss");
    read_loss(g, c.train.loss);
  }
  {
    JsonFields g(f.object("optimizer"), where + ": optimizer");
    read_optimizer(g, c.train.optimizer);
  }
  {
    JsonFields g(f.object("schedule"), where + ": schedule");
    read_schedule(g, c.train.schedule);
  }
  {
    JsonFields g(f.object("augment"), where + ": augment");
    read_augment(g, c.train.augment);
  }
  {
    JsonFields g(f.object("training"), where + ": training");
    read_training(g, c.train, c.threads);
  }
  f.get("output", c.train.output);
  f.finish();
  // GGO / consolidation have no side; X-ray lungs are one label (1 lung)
  if (c.data.task == "lesions" || c.data.task == "cxr_lungs") c.train.augment.flip.swap_labels.clear();
  validate(c, where);
  return c;
}

TrainConfig read_train_config(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(ExitCode::NotFound, "config file '" + path + "' does not exist");
  const std::string ext = std::filesystem::path(path).extension().string();
  return parse_train_config(read_text_file(path), ext == ".yaml" || ext == ".yml", path);
}

std::string train_config_to_json(const TrainConfig& c) {
  const DataOptions& d = c.data;
  const TrainOptions& t = c.train;
  const LossOptions& l = t.loss;
  const AugmentOptions& a = t.augment;
  const IntensityAugmentOptions& i = a.intensity;
  json j;
  j["data"] = {{"manifest", d.manifest}, {"task", d.task}, {"split", d.split}, {"folds", d.folds}, {"fold", d.fold},
               {"validation_fraction", d.validation_fraction}, {"test_fraction", d.test_fraction},
               {"split_seed", d.split_seed}, {"spacing_mm", d.spacing_mm}, {"hu_min", d.intensity.hu_min},
               {"hu_max", d.intensity.hu_max}, {"normalisation", d.intensity.normalisation},
               {"mean", d.intensity.mean}, {"std", d.intensity.std}};
  j["network"] = network_to_json(t.network);
  j["loss"] = {{"type", loss_name(l.kind)}, {"batch_dice", l.batch_dice}, {"include_background", l.include_background},
               {"smooth", l.smooth}, {"dice_weight", l.dice_weight}, {"ce_weight", l.ce_weight},
               {"focal_gamma", l.focal_gamma}, {"tversky_alpha", l.tversky_alpha}, {"tversky_beta", l.tversky_beta}};
  j["optimizer"] = {{"type", t.optimizer.type}, {"lr", t.optimizer.lr}, {"weight_decay", t.optimizer.weight_decay},
                    {"beta1", t.optimizer.beta1}, {"beta2", t.optimizer.beta2}, {"momentum", t.optimizer.momentum},
                    {"nesterov", t.optimizer.nesterov}};
  j["schedule"] = {{"type", t.schedule.type}, {"warmup_steps", t.schedule.warmup_steps},
                   {"poly_power", t.schedule.poly_power}, {"min_lr", t.schedule.min_lr},
                   {"plateau_factor", t.schedule.plateau_factor}, {"plateau_patience", t.schedule.plateau_patience}};
  j["augment"] = {{"enabled", a.enabled}, {"flip_probability", a.flip.probability},
                  {"rotate_scale_probability", a.spatial.probability}, {"rotate_degrees", a.spatial.rotate_degrees},
                  {"scale_min", a.spatial.scale_min}, {"scale_max", a.spatial.scale_max},
                  {"elastic_probability", a.spatial.elastic_probability}, {"elastic_mm", a.spatial.elastic_mm},
                  {"elastic_grid", a.spatial.elastic_grid}, {"shift_probability", i.shift_probability},
                  {"shift", i.shift}, {"scale_probability", i.scale_probability}, {"scale", i.scale},
                  {"gamma_probability", i.gamma_probability}, {"gamma_min", i.gamma_min}, {"gamma_max", i.gamma_max},
                  {"noise_probability", i.noise_probability}, {"noise_std", i.noise_std},
                  {"blur_probability", i.blur_probability}, {"blur_sigma_min", i.blur_sigma_min},
                  {"blur_sigma_max", i.blur_sigma_max}, {"lowres_probability", i.lowres_probability},
                  {"lowres_zoom_min", i.lowres_zoom_min}, {"lowres_zoom_max", i.lowres_zoom_max}};
  j["training"] = {{"patch_size", t.patch_size}, {"foreground_probability", t.foreground_probability},
                   {"batch_size", t.batch_size}, {"steps", t.steps}, {"validate_every", t.validate_every},
                   {"checkpoint_every", t.checkpoint_every}, {"early_stopping_patience", t.early_stopping_patience},
                   {"early_stopping_min_delta", t.early_stopping_min_delta}, {"grad_clip_norm", t.grad_clip_norm},
                   {"amp", t.amp}, {"device", t.device}, {"seed", t.seed}, {"workers", t.workers},
                   {"prefetch", t.prefetch}, {"threads", c.threads}};
  j["output"] = t.output;
  return j.dump(2) + "\n";
}

}  // namespace pulmo
