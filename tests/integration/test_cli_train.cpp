// pulmo train: configuration errors, a short training run, resume.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/io.h"
#include "pulmo/job.h"
#include "pulmo/model.h"
#include "pulmo/runtime.h"
#include "support/test_support.h"

using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {

// Three small cases (three patients): a dark "lung" pair in soft tissue, written as NIfTI, plus a manifest.
void write_cases(const TempDir& dir, int count = 3) {
  std::string csv = "case_id,patient_id,dataset,image,lungs,lesions,convention\n";
  for (int i = 0; i < count; ++i) {
    pulmo::Geometry g;
    g.size = {16, 16, 8};
    g.spacing_mm = {1.5, 1.5, 1.5};
    pulmo::Volume ct = pulmo::Volume::filled(g, 40.0), lungs = pulmo::Volume::filled(g, 0, at::kByte);
    lungs.voxels.slice(0, 2, 6).slice(1, 3 + i, 12).slice(2, 2, 8).fill_(1);
    lungs.voxels.slice(0, 2, 6).slice(1, 3 + i, 12).slice(2, 8, 14).fill_(2);
    ct.voxels.masked_fill_(lungs.voxels > 0, -850.0);
    const std::string id = "c" + std::to_string(i);
    pulmo::write_volume(ct, dir.file(id + "_ct.nii.gz"));
    pulmo::write_volume(lungs, dir.file(id + "_lungs.nii.gz"));
    csv += id + ",p" + std::to_string(i) + ",test," + id + "_ct.nii.gz," + id + "_lungs.nii.gz,,pulmo\n";
  }
  pulmo::write_text_atomic(dir.file("manifest.csv"), csv);
}

const char* kTinyConfig = R"({
  "data": {"manifest": "manifest.csv", "validation_fraction": 0.34, "spacing_mm": [1.5, 1.5, 1.5]},
  "network": {"type": "unet", "unet": {"depth": 2, "base_width": 4}},
  "training": {"patch_size": [8, 8, 8], "steps": 4, "validate_every": 2, "checkpoint_every": 2, "workers": 1},
  "output": "model"
})";

}  // namespace

TEST(CliTrain, AShortRunWritesTheModelFolderWithItsConfigCopy) {
  TempDir dir;
  write_cases(dir);
  pulmo::write_text_atomic(dir.file("train.json"), kTinyConfig);
  const auto r = run_pulmo("--threads 2 train --config '" + dir.file("train.json") + "' --output '" + dir.file("model") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"model.json", "weights.pt", "checkpoint.pt", "log.csv", "curves.png", "config.json"})
    EXPECT_TRUE(std::filesystem::exists(dir.file(std::string("model/") + f))) << f;
  EXPECT_NE(r.out.find("4 steps"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("ETA"), std::string::npos) << r.err;
  EXPECT_EQ(pulmo::read_text_file(dir.file("model/config.json")), kTinyConfig);
  const auto again = run_pulmo("--threads 2 train --resume --config '" + dir.file("train.json") + "' --output '" + dir.file("model") + "'");
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("(resumed)"), std::string::npos) << again.out;
}

TEST(CliTrain, AMissingConfigIsNotFound) {
  TempDir dir;
  EXPECT_EQ(run_pulmo("train --config '" + dir.file("none.json") + "'").exit_code, 3);
}

TEST(CliTrain, PrintConfigTablePrintsTheKeyTableAndAConfigIsOtherwiseRequired) {
  for (const std::string& command : {"train", "cxr train"}) {
    const auto table = run_pulmo(command + " --print-config-table");
    EXPECT_EQ(table.exit_code, 0) << table.err;
    EXPECT_EQ(table.out.rfind("| key | type | default | allowed | meaning |\n", 0), 0u) << table.out;
    EXPECT_NE(table.out.find("| `optimizer.lr` | number | `0.001` | > 0 |"), std::string::npos) << table.out;
    const auto none = run_pulmo(command);
    EXPECT_EQ(none.exit_code, 2) << none.err;
    EXPECT_NE(none.err.find("--config is required"), std::string::npos) << none.err;
  }
}

TEST(CliTrain, AnUnknownKeyIsABadConfigListingTheValidKeys) {
  TempDir dir;
  pulmo::write_text_atomic(dir.file("c.yaml"), "training:\n  stepz: 3\n");
  const auto r = run_pulmo("train --config '" + dir.file("c.yaml") + "'");
  EXPECT_EQ(r.exit_code, 10) << r.err;
  EXPECT_NE(r.err.find("validate_every"), std::string::npos) << r.err;
}

TEST(CliTrain, AnEmptyManifestIsNoData) {
  TempDir dir;
  pulmo::write_text_atomic(dir.file("manifest.csv"), "case_id,patient_id,dataset,image,lungs,lesions,convention\n");
  pulmo::write_text_atomic(dir.file("train.json"), kTinyConfig);
  const auto r = run_pulmo("train --config '" + dir.file("train.json") + "'");
  EXPECT_EQ(r.exit_code, 8) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("model/model.json")));
}

TEST(CliTrain, AMissingImageIsNotFound) {
  TempDir dir;
  write_cases(dir);
  std::filesystem::remove(dir.file("c1_ct.nii.gz"));
  pulmo::write_text_atomic(dir.file("train.json"), kTinyConfig);
  EXPECT_EQ(run_pulmo("train --config '" + dir.file("train.json") + "'").exit_code, 3);
}

TEST(CliTrain, LabelsOnAnotherGridAreAMismatch) {
  TempDir dir;
  write_cases(dir);
  pulmo::Geometry g;
  g.size = {16, 16, 9};
  pulmo::write_volume(pulmo::Volume::filled(g, 0, at::kByte), dir.file("c0_lungs.nii.gz"));
  pulmo::write_text_atomic(dir.file("train.json"), kTinyConfig);
  EXPECT_EQ(run_pulmo("train --config '" + dir.file("train.json") + "'").exit_code, 9);
}

TEST(CliTrain, AnOutputFolderThatCannotBeCreatedIsAWriteFailure) {
  TempDir dir;
  write_cases(dir);
  pulmo::write_text_atomic(dir.file("blocker"), "a file, not a folder");
  pulmo::write_text_atomic(dir.file("train.json"), kTinyConfig);
  const auto r = run_pulmo("train --config '" + dir.file("train.json") + "' --output '" + dir.file("blocker/model") + "'");
  EXPECT_EQ(r.exit_code, 7) << r.err;
}

TEST(CliTrain, WithoutConfigItIsAUsageError) {
  EXPECT_EQ(run_pulmo("train").exit_code, 2);
}

// The library call behind `pulmo train`: k-fold gives a model folder per fold, or only the fold asked for.
TEST(TrainJob, TrainsEveryFoldOfAKFoldConfigurationOrOnlyTheOneAsked) {
  TempDir dir;
  write_cases(dir);
  pulmo::write_text_atomic(dir.file("train.json"), R"({
  "data": {"manifest": "manifest.csv", "split": "kfold", "folds": 3, "spacing_mm": [1.5, 1.5, 1.5]},
  "network": {"type": "unet", "unet": {"depth": 2, "base_width": 4}},
  "training": {"patch_size": [8, 8, 8], "steps": 2, "validate_every": 2, "checkpoint_every": 2, "workers": 1},
  "output": "model"
})");
  pulmo::TrainJobOptions job;
  job.config = dir.file("train.json");
  job.output = dir.file("out");
  std::vector<std::string> notes;
  std::vector<int> done;
  job.note = [&](const std::string& line) { notes.push_back(line); };
  job.fold_done = [&](const pulmo::FoldOutcome& f) { done.push_back(f.fold); };
  const std::vector<pulmo::FoldOutcome> all = pulmo::train_from_config(job);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(done, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(notes.size(), 3u + 3u);  // 3 cases prepared, 3 folds started
  for (const pulmo::FoldOutcome& f : all) {
    EXPECT_EQ(f.output, dir.file("out/fold_" + std::to_string(f.fold)));
    EXPECT_EQ(f.task, "lungs");
    EXPECT_EQ(f.result.steps_done, 2);
    EXPECT_FALSE(f.result.resumed);
    EXPECT_TRUE(std::filesystem::exists(f.output + "/config.json"));
    const pulmo::LoadedModel m = pulmo::load_model(f.output);
    EXPECT_EQ(m.info.name, "fold_" + std::to_string(f.fold));
    EXPECT_EQ(m.info.task, "lungs");
    EXPECT_EQ(m.info.label_names, (std::vector<std::string>{"background", "right_lung", "left_lung"}));
    EXPECT_NE(m.info.training_json.find("\"fold\":" + std::to_string(f.fold)), std::string::npos);
  }
  job.resume = true;  // every fold again: each resumes from its checkpoint
  done.clear();
  for (const pulmo::FoldOutcome& f : pulmo::train_from_config(job)) EXPECT_TRUE(f.result.resumed) << f.fold;
  EXPECT_EQ(done, (std::vector<int>{0, 1, 2}));
  job.resume = false;
  job.fold = 1;
  job.output = dir.file("one");
  done.clear();
  const std::vector<pulmo::FoldOutcome> one = pulmo::train_from_config(job);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].output, dir.file("one/fold_1"));
  EXPECT_EQ(done, std::vector<int>{1});
  EXPECT_FALSE(std::filesystem::exists(dir.file("one/fold_0")));
  job.fold = 3;
  try {
    pulmo::train_from_config(job);
    ADD_FAILURE() << "fold 3 of 3 accepted";
  } catch (const pulmo::Error& e) {
    EXPECT_EQ(e.code(), pulmo::ExitCode::BadConfig);
    EXPECT_NE(std::string(e.what()).find("data.fold 3 does not exist (3 folds)"), std::string::npos) << e.what();
  }
}

// training.threads is applied where training starts (it was only checked); pulmo --threads overrides it for the run,
// while the model's stored configuration keeps the file's value (model.json as before).
TEST(TrainJob, TrainingThreadsSetsTheThreadCountAndTheOverrideWins) {
  TempDir dir;
  write_cases(dir);
  std::string config = kTinyConfig;
  const std::string workers = "\"workers\": 1";
  config.replace(config.find(workers), workers.size(), workers + ", \"threads\": 1");
  pulmo::write_text_atomic(dir.file("train.json"), config);
  pulmo::TrainJobOptions job;
  job.config = dir.file("train.json");
  job.output = dir.file("one");
  std::vector<std::string> notes;
  job.note = [&](const std::string& line) { notes.push_back(line); };
  pulmo::set_threads(2);
  pulmo::train_from_config(job);
  EXPECT_EQ(at::get_num_threads(), 1);
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes.back().find(", on 1 thread(s)"), std::string::npos) << notes.back();
  auto stored_threads = [](const std::string& folder) {
    const auto training = nlohmann::json::parse(pulmo::load_model(folder).info.training_json);
    return training.at("config").at("training").at("threads").get<int>();
  };
  EXPECT_EQ(stored_threads(dir.file("one")), 1);
  job.output = dir.file("two");
  job.threads = 2;
  pulmo::train_from_config(job);
  EXPECT_EQ(at::get_num_threads(), 2);
  EXPECT_NE(notes.back().find(", on 2 thread(s)"), std::string::npos) << notes.back();
  EXPECT_EQ(stored_threads(dir.file("two")), 1);
  job.threads = -1;
  EXPECT_THROW(pulmo::train_from_config(job), pulmo::Error);
  // The command line: --threads overrides the configuration's 1.
  const auto r = run_pulmo("--threads 2 train --config '" + dir.file("train.json") + "' --output '" + dir.file("cli") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(", on 2 thread(s)"), std::string::npos) << r.err;
  const auto plain = run_pulmo("train --config '" + dir.file("train.json") + "' --output '" + dir.file("cli1") + "'");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.err.find(", on 1 thread(s)"), std::string::npos) << plain.err;
  pulmo::set_threads(0);
}

// pulmo train --resume --fold N after an all-folds run continues that fold (it was refused: data.fold -1 -> N).
TEST(CliTrain, ResumingOneFoldOfAnAllFoldsRunContinuesThatFold) {
  TempDir dir;
  write_cases(dir);
  std::string config = kTinyConfig;
  const std::string data = "\"validation_fraction\": 0.34";
  config.replace(config.find(data), data.size(), "\"split\": \"kfold\", \"folds\": 3");
  pulmo::write_text_atomic(dir.file("train.json"), config);
  const std::string args = "-q --threads 2 train --config '" + dir.file("train.json") + "' --output '" + dir.file("m") + "'";
  const auto all = run_pulmo(args);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const auto one = run_pulmo(args + " --resume --fold 1");
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("fold 1: 4 steps (resumed)"), std::string::npos) << one.out;
  EXPECT_EQ(one.out.find("fold 0"), std::string::npos) << one.out;
  const auto back = run_pulmo(args + " --resume");  // all folds again, after one was resumed alone
  EXPECT_EQ(back.exit_code, 0) << back.err;
  for (const char* line : {"fold 0: 4 steps (resumed)", "fold 1: 4 steps (resumed)", "fold 2: 4 steps (resumed)"})
    EXPECT_NE(back.out.find(line), std::string::npos) << back.out;
}

// Labels 1 and 2 with a network of 2 output channels ended in an internal LibTorch error (exit 1).
TEST(CliTrain, LabelValuesTheNetworkHasNoChannelForAreABadConfigNamingTheKey) {
  TempDir dir;
  write_cases(dir);  // lung labels 1 and 2
  std::string config = kTinyConfig;
  const std::string unet = "\"base_width\": 4";
  config.replace(config.find(unet), unet.size(), unet + ", \"out_channels\": 2");
  pulmo::write_text_atomic(dir.file("train.json"), config);
  pulmo::test::expect_refused_command("-q --threads 2 train --config '" + dir.file("train.json") + "' --output '" +
                                          dir.file("model") + "'",
                                      10, "lung labels hold the value 2 (1 right lung, 2 left lung), but "
                                          "network.unet.out_channels 2 takes the labels 0..1 only: set "
                                          "network.unet.out_channels to 3",
                                      dir.file("model"));
}

// training.init_from (fine-tuning): the run starts from another model folder's weights - after one step at a learning
// rate of 1e-12 they are still those weights, where a random initialisation would differ everywhere - and a folder
// of another network, a missing folder or a lung_box configuration is refused before any case is prepared.
TEST(TrainJob, InitFromStartsFromAnotherModelsWeightsAndRefusesWhatDoesNotMatch) {
  TempDir dir;
  write_cases(dir);
  pulmo::write_text_atomic(dir.file("train.json"), kTinyConfig);
  pulmo::TrainJobOptions job;
  job.config = dir.file("train.json");
  job.output = dir.file("base");
  pulmo::train_from_config(job);
  auto with = [](std::string config, const std::string& key, const std::string& inserted) {
    const size_t at = config.find(key);
    return config.insert(at, inserted);
  };
  std::string tuned = with(kTinyConfig, "\"steps\": 4", "\"init_from\": \"base\", ");
  tuned.replace(tuned.find("\"steps\": 4"), 10, "\"steps\": 1");
  tuned = with(tuned, "\"network\"", "\"optimizer\": {\"type\": \"adam\", \"lr\": 1e-12},\n  ");
  pulmo::write_text_atomic(dir.file("tune.json"), tuned);
  job.config = dir.file("tune.json");
  job.output = dir.file("tuned");
  std::vector<std::string> notes;
  job.note = [&](const std::string& line) { notes.push_back(line); };
  pulmo::train_from_config(job);
  const pulmo::LoadedModel base = pulmo::load_model(dir.file("base")), after = pulmo::load_model(dir.file("tuned"));
  const auto p = base.network->named_parameters(), q = after.network->named_parameters();
  ASSERT_EQ(p.size(), q.size());
  ASSERT_GT(p.size(), 0u);
  for (const auto& item : p) EXPECT_LT((item.value() - q[item.key()]).abs().max().item<double>(), 1e-6) << item.key();
  // The same configuration without init_from: another starting point.
  std::string fresh = tuned;
  fresh.erase(fresh.find("\"init_from\": \"base\", "), 21);
  pulmo::write_text_atomic(dir.file("fresh.json"), fresh);
  job.config = dir.file("fresh.json");
  job.output = dir.file("fresh");
  pulmo::train_from_config(job);
  const pulmo::LoadedModel random = pulmo::load_model(dir.file("fresh"));
  double largest = 0;
  for (const auto& item : p) largest = std::max(largest, (item.value() - random.network->named_parameters()[item.key()]).abs().max().item<double>());
  EXPECT_GT(largest, 1e-3);
  // Refused, with nothing prepared: another network, a folder without a model, a lung_box task.
  struct Row {
    std::string from, to, message;
    pulmo::ExitCode code;
  };
  for (const Row& row : std::vector<Row>{
           {"\"base_width\": 4", "\"base_width\": 8", "does not match this configuration: network", pulmo::ExitCode::BadConfig},
           {"\"init_from\": \"base\"", "\"init_from\": \"nowhere\"", "is not a model folder (no model.json)", pulmo::ExitCode::NotFound},
       }) {
    std::string config = tuned;
    config.replace(config.find(row.from), row.from.size(), row.to);
    pulmo::write_text_atomic(dir.file("bad.json"), config);
    job.config = dir.file("bad.json");
    job.output = dir.file("bad");
    notes.clear();
    try {
      pulmo::train_from_config(job);
      ADD_FAILURE() << row.to << " accepted";
    } catch (const pulmo::Error& e) {
      EXPECT_EQ(e.code(), row.code) << e.what();
      EXPECT_NE(std::string(e.what()).find(row.message), std::string::npos) << e.what();
    }
    EXPECT_TRUE(notes.empty()) << row.to << ": " << notes.front();
    EXPECT_FALSE(std::filesystem::exists(dir.file("bad"))) << row.to;
  }
  // From the command line, a mismatch is exit 10 (bad configuration).
  std::string mismatch = tuned;
  mismatch.replace(mismatch.find("\"base_width\": 4"), 15, "\"base_width\": 8");
  pulmo::write_text_atomic(dir.file("bad.json"), mismatch);
  const auto r = run_pulmo("train --config '" + dir.file("bad.json") + "' --output '" + dir.file("bad") + "'");
  EXPECT_EQ(r.exit_code, static_cast<int>(pulmo::ExitCode::BadConfig)) << r.err;
  EXPECT_NE(r.err.find("training.init_from"), std::string::npos) << r.err;
}
