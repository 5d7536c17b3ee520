// Checkpoint I/O of the training engine (segmentation and chest X-ray trainers), and the check that a resumed run
// keeps its configuration.
#include "train/checkpoint.h"

#include <torch/serialize.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>

#include "core/json_number.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pulmo {
namespace {

// NaN (e.g. no validation) is stored as null.
json number(double x) { return json_number(x); }
double number(const json& j) { return j.is_null() ? std::nan("") : j.get<double>(); }

json state_to_json(const LoopState& s) {
  json rows = json::array();
  for (const LogRow& r : s.log)
    rows.push_back({r.step, number(r.lr), number(r.train_loss), number(r.validation_dice), number(r.best_validation_dice),
                    number(r.step_ms), number(r.loader_wait_ms), number(r.loader_build_ms), number(r.elapsed_s)});
  return {{"step", s.step}, {"best_dice", s.best_dice}, {"best_step", s.best_step}, {"bad_validations", s.bad_validations},
          {"plateau_scale", s.plateau_scale}, {"plateau_bad", s.plateau_bad}, {"loss_sum", s.loss_sum},
          {"loss_count", s.loss_count}, {"wait_ms", s.wait_ms}, {"build_ms", s.build_ms}, {"step_ms", s.step_ms},
          {"amp_scale", s.amp.scale}, {"amp_good_steps", s.amp.good_steps}, {"elapsed_s", s.elapsed_s},
          {"finished", s.finished}, {"log", rows}};
}

LoopState state_from_json(const json& j) {
  LoopState s;
  s.step = j.at("step");
  s.best_dice = j.at("best_dice");
  s.best_step = j.at("best_step");
  s.bad_validations = j.at("bad_validations");
  s.plateau_scale = j.at("plateau_scale");
  s.plateau_bad = j.at("plateau_bad");
  s.loss_sum = j.at("loss_sum");
  s.loss_count = j.at("loss_count");
  s.wait_ms = j.at("wait_ms");
  s.build_ms = j.at("build_ms");
  s.step_ms = j.at("step_ms");
  s.amp.scale = j.at("amp_scale");
  s.amp.good_steps = j.at("amp_good_steps");
  s.elapsed_s = j.at("elapsed_s");
  s.finished = j.at("finished");
  for (const json& r : j.at("log"))
    s.log.push_back({r[0].get<int64_t>(), number(r[1]), number(r[2]), number(r[3]), number(r[4]), number(r[5]),
                     number(r[6]), number(r[7]), number(r[8])});
  return s;
}

}  // namespace

const char* const kResumeMayChange[] = {
    "training.steps", "training.workers", "training.prefetch", "training.threads", "output",
    "data.manifest (the cases of each split must stay the same)",
    "data.fold (which folds a run trains; each fold folder keeps its fold number and cases)"};

const ResumeRules& segmentation_resume_rules() {
  static const ResumeRules rules = [] {
    ResumeRules r;
    // The configuration sits under "config" next to the split (fold, folds, cases); "manifest" is the manifest's
    // resolved path. One list gives both the keys and the message.
    r.keys = {"manifest"};
    for (const char* k : kResumeMayChange) {
      const std::string key = k;
      r.keys.push_back("config." + key.substr(0, key.find(" (")));
      r.listed += (r.listed.empty() ? "" : ", ") + key;
    }
    return r;
  }();
  return rules;
}

void save_checkpoint_file(const std::string& path, const torch::nn::Module& net, const torch::optim::Optimizer* optimizer,
                          const CheckpointData& data, const std::string& config_json) {
  std::ostringstream bytes;
  try {
    torch::serialize::OutputArchive archive, model;
    net.save(model);
    archive.write("model", model);
    if (optimizer) {
      torch::serialize::OutputArchive optim;
      optimizer->save(optim);
      archive.write("optimizer", optim);
    }
    archive.write("state", c10::IValue(data.state_json));
    archive.write("config", c10::IValue(config_json));
    json names = json::array();
    for (const auto& [name, blob] : data.blobs) {
      at::Tensor t = at::empty({int64_t(blob.size())}, at::kByte);
      if (!blob.empty()) std::memcpy(t.data_ptr<uint8_t>(), blob.data(), blob.size());
      archive.write("blob." + name, t, /*is_buffer=*/true);
      names.push_back(name);
    }
    archive.write("blobs", c10::IValue(names.dump()));
    // In memory, then checked writes: LibTorch's file writer aborts the process on a full disk.
    archive.save_to(bytes);
  } catch (const std::exception& e) {
    throw Error(ExitCode::WriteFailed, "cannot write checkpoint '" + path + "': " + e.what());
  }
  write_bytes_atomic(path, bytes.str());  // checks the archive is complete (disk full) before the rename
}

bool load_checkpoint_file(const std::string& path, const at::Device& device, const std::string& config_json,
                          const ResumeRules& rules, torch::nn::Module& net, torch::optim::Optimizer* optimizer,
                          CheckpointData& data) {
  if (!fs::exists(path)) return false;
  try {
    torch::serialize::InputArchive archive, model, optim;
    archive.load_from(path, device);
    c10::IValue stored;
    if (archive.try_read("config", stored) && stored.isString()) {
      const std::vector<std::string> changed = resume_config_changes(stored.toStringRef(), config_json, rules);
      if (!changed.empty()) {
        std::string list;
        for (const std::string& c : changed) list += (list.empty() ? "" : "; ") + c;
        throw Error(ExitCode::BadConfig, "cannot resume from '" + path + "': the configuration changed since the "
                                         "checkpoint (" + list + "); restore it, or train into a new output folder. "
                                         "Only these may change on --resume: " + rules.listed);
      }
    }
    archive.read("model", model);
    net.load(model);
    data.has_optimizer = archive.try_read("optimizer", optim);
    if (data.has_optimizer && optimizer) optimizer->load(optim);
    c10::IValue stored_state;
    archive.read("state", stored_state);
    data.state_json = stored_state.toStringRef();
    json::parse(data.state_json);  // a state that is not JSON: refused here, not later
    data.blobs.clear();
    c10::IValue names;
    if (archive.try_read("blobs", names) && names.isString())
      for (const json& name : json::parse(names.toStringRef())) {
        at::Tensor t;
        archive.read("blob." + name.get<std::string>(), t, /*is_buffer=*/true);
        t = t.to(at::kCPU).contiguous();
        data.blobs[name.get<std::string>()] =
            std::string(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), size_t(t.numel()));
      }
  } catch (const c10::Error& e) {
    throw Error(ExitCode::BadConfig, "checkpoint '" + path + "' does not fit this configuration: " + e.what_without_backtrace());
  } catch (const json::exception& e) {
    throw Error(ExitCode::BadConfig, "checkpoint '" + path + "' has an invalid state: " + e.what());
  }
  return true;
}

void save_checkpoint(const std::string& path, const torch::nn::Module& net, const torch::optim::Optimizer& optimizer,
                     const LoopState& state, const std::string& config_json) {
  CheckpointData data;
  data.state_json = state_to_json(state).dump();
  save_checkpoint_file(path, net, &optimizer, data, config_json);
}

bool load_checkpoint(const std::string& path, const at::Device& device, const std::string& config_json,
                     torch::nn::Module& net, torch::optim::Optimizer& optimizer, LoopState& state) {
  CheckpointData data;
  if (!load_checkpoint_file(path, device, config_json, segmentation_resume_rules(), net, &optimizer, data)) return false;
  if (!data.has_optimizer)
    throw Error(ExitCode::BadConfig, "checkpoint '" + path + "' holds no optimiser state; it is not a training checkpoint");
  try {
    state = state_from_json(json::parse(data.state_json));
  } catch (const json::exception& e) {
    throw Error(ExitCode::BadConfig, "checkpoint '" + path + "' has an invalid state: " + e.what());
  }
  return true;
}

std::vector<std::string> resume_config_changes(const std::string& stored_json, const std::string& current_json) {
  return resume_config_changes(stored_json, current_json, segmentation_resume_rules());
}

std::vector<std::string> resume_config_changes(const std::string& stored_json, const std::string& current_json,
                                               const ResumeRules& rules) {
  json a, b;
  try {
    a = json::parse(stored_json);
    b = json::parse(current_json);
  } catch (const json::exception&) {
    return {"the stored configuration is unreadable"};
  }
  // The configuration sits under "config" next to what the run trains on (fold, folds, cases); other layouts are
  // compared whole. The split's own "fold" and "cases" stay compared: data.fold only chooses the folds to train, so
  // `--resume --fold 1` continues fold_1 of an all-folds run (and the reverse), never another fold's training.
  const std::set<std::string> may_change(rules.keys.begin(), rules.keys.end());
  std::vector<std::string> out;
  std::function<void(const json&, const json&, const std::string&)> diff = [&](const json& x, const json& y,
                                                                               const std::string& key) {
    if (may_change.count(key)) return;
    if (x.is_object() && y.is_object()) {
      std::set<std::string> keys;
      for (auto it = x.begin(); it != x.end(); ++it) keys.insert(it.key());
      for (auto it = y.begin(); it != y.end(); ++it) keys.insert(it.key());
      for (const std::string& k : keys) {
        const std::string sub = key.empty() ? k : key + "." + k;
        if (!x.contains(k) || !y.contains(k)) {
          if (!may_change.count(sub)) out.push_back(sub + " (added or removed)");
        } else {
          diff(x.at(k), y.at(k), sub);
        }
      }
      return;
    }
    if (x == y) return;
    std::string name = key.rfind("config.", 0) == 0 ? key.substr(7) : key;
    if (name == "cases.train" || name == "cases.validation" || name == "cases.test") {
      out.push_back(name + " (the split's cases differ)");
      return;
    }
    if (name == "data_sha256") {  // a digest of what the run trains on (the chest X-ray trainer)
      out.push_back("data (the cases' images, labels or clinical values differ)");
      return;
    }
    std::string from = x.dump(), to = y.dump();
    if (from.size() > 60) from = from.substr(0, 57) + "...";
    if (to.size() > 60) to = to.substr(0, 57) + "...";
    out.push_back(name + " " + from + " -> " + to);
  };
  diff(a, b, "");
  return out;
}

}  // namespace pulmo
