// Trainer: schedules, repeatability, exact resume after a simulated kill, logs and curves.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/runtime.h"
#include "pulmo/train.h"
#include "pulmo/train_config.h"
#include "support/test_support.h"
#include "train/amp.h"
#include "train/internal.h"

using namespace pulmo;

namespace {

// A dark box ("lungs": right half label 1, left half label 2) in bright surroundings, 16x16x8.
Sample box_case(int shift) {
  Sample s;
  at::Tensor label = at::zeros({8, 16, 16}, at::kByte);
  label.slice(0, 2, 6).slice(1, 3 + shift, 12).slice(2, 2, 8).fill_(1);
  label.slice(0, 2, 6).slice(1, 3 + shift, 12).slice(2, 8, 14).fill_(2);
  s.label = label;
  s.image = at::where(label > 0, at::full({}, 0.1f), at::full({}, 0.8f));
  return s;
}

TrainOptions tiny_options(const std::string& output) {
  TrainOptions o;
  o.network.unet.depth = 2;
  o.network.unet.base_width = 4;
  o.patch_size = {8, 8, 8};
  o.batch_size = 2;
  o.steps = 6;
  o.validate_every = 2;
  o.checkpoint_every = 3;
  o.workers = 1;
  o.output = output;
  o.augment.spatial.probability = 0.5;
  o.augment.intensity.noise_probability = 0.5;
  o.network.unet.dropout = 0.2;  // dropout draws must resume identically too
  return o;
}

std::vector<at::Tensor> weights_of(const std::string& folder) {
  return load_model(folder).network->parameters();
}

bool same_weights(const std::string& a, const std::string& b) {
  const auto wa = weights_of(a), wb = weights_of(b);
  if (wa.size() != wb.size()) return false;
  for (size_t i = 0; i < wa.size(); ++i)
    if (!at::equal(wa[i], wb[i])) return false;
  return true;
}

std::vector<double> losses(const TrainResult& r) {
  std::vector<double> v;
  for (const LogRow& row : r.log) v.push_back(row.train_loss);
  return v;
}

}  // namespace

TEST(Schedules, PolyCosineWarmupAndPlateauFollowTheirFormulas) {
  OptimizerOptions opt;
  opt.lr = 0.01;
  ScheduleOptions s;
  s.type = ScheduleType::Poly;
  s.poly_power = 0.9;
  EXPECT_DOUBLE_EQ(scheduled_lr(opt, s, 0, 100), 0.01);
  EXPECT_NEAR(scheduled_lr(opt, s, 50, 100), 0.01 * std::pow(0.5, 0.9), 1e-15);
  s.type = ScheduleType::Cosine;
  s.min_lr = 0.001;
  EXPECT_NEAR(scheduled_lr(opt, s, 50, 100), 0.001 + 0.5 * 0.009, 1e-15);
  EXPECT_NEAR(scheduled_lr(opt, s, 100, 100), 0.001, 1e-15);
  s.type = ScheduleType::Constant;
  s.warmup_steps = 10;
  EXPECT_NEAR(scheduled_lr(opt, s, 4, 100), 0.005, 1e-15);
  s.warmup_steps = 0;
  s.type = ScheduleType::Plateau;
  EXPECT_DOUBLE_EQ(scheduled_lr(opt, s, 70, 100, 0.25), 0.0025);
}

TEST(LossScaling, FiniteGradientsAreUnscaledAndTheScaleGrowsAfterTheGrowthInterval) {
  at::Tensor a = at::zeros({3}, at::requires_grad()), b = at::zeros({2, 2}, at::requires_grad()),
             no_grad = at::zeros({1}, at::requires_grad());
  a.mutable_grad() = at::tensor({65536.0f, -3.0f * 65536.0f, 0.5f});
  b.mutable_grad() = at::full({2, 2}, 1024.0f);
  LossScale s;
  EXPECT_TRUE(unscale_gradients({a, b, no_grad}, s));
  EXPECT_TRUE(at::equal(a.grad(), at::tensor({1.0f, -3.0f, 0.5f / 65536.0f})));  // divided in place, exactly
  EXPECT_TRUE(at::equal(b.grad(), at::full({2, 2}, 1024.0f / 65536.0f)));
  EXPECT_FALSE(no_grad.grad().defined());
  EXPECT_EQ(s.scale, 65536.0);
  EXPECT_EQ(s.good_steps, 1);
  s.good_steps = kLossScaleGrowthInterval - 1;
  EXPECT_TRUE(unscale_gradients({a}, s));
  EXPECT_EQ(s.scale, 2 * 65536.0);
}

TEST(LossScaling, AnInfOrNanInAnyGradientSkipsTheStepAndHalvesTheScale) {
  for (const float bad : {std::numeric_limits<float>::infinity(), std::nanf("")}) {
    at::Tensor a = at::zeros({4}, at::requires_grad()), b = at::zeros({4}, at::requires_grad());
    a.mutable_grad() = at::ones({4});
    b.mutable_grad() = at::ones({4});
    b.mutable_grad()[2] = bad;  // only the last parameter's gradient
    LossScale s;
    s.scale = 8;
    s.good_steps = 7;
    EXPECT_FALSE(unscale_gradients({a, b}, s));
    EXPECT_EQ(s.scale, 4);
    EXPECT_EQ(s.good_steps, 0);
    EXPECT_TRUE(at::equal(a.grad(), at::full({4}, 0.125f)));
  }
  LossScale none;
  EXPECT_TRUE(unscale_gradients({}, none));  // no gradient at all: nothing to refuse
}

TEST(Trainer, TwoRunsWithTheSameSeedGiveTheSameWeightsBitForBit) {
  set_threads(2);
  test::TempDir dir;
  const std::vector<Sample> cases{box_case(0), box_case(1)};
  const TrainResult a = train_segmentation(tiny_options(dir.file("a")), ModelInfo{}, cases, {});
  const TrainResult b = train_segmentation(tiny_options(dir.file("b")), ModelInfo{}, cases, {});
  EXPECT_EQ(a.steps_done, 6);
  EXPECT_TRUE(same_weights(dir.file("a"), dir.file("b")));
  EXPECT_EQ(losses(a), losses(b));
}

TEST(Trainer, AResumeAfterAKillContinuesExactlyLikeAnUninterruptedRun) {
  set_threads(2);
  test::TempDir dir;
  const std::vector<Sample> cases{box_case(0), box_case(1)};
  const TrainResult full = train_segmentation(tiny_options(dir.file("full")), ModelInfo{}, cases, {});
  // Dies during step 5: the last checkpoint is at step 3.
  EXPECT_TRUE(train_segmentation_killed_before(5, tiny_options(dir.file("resumed")), ModelInfo{}, cases, {}));
  EXPECT_FALSE(same_weights(dir.file("full"), dir.file("resumed")));
  TrainOptions resume = tiny_options(dir.file("resumed"));
  resume.resume = true;
  const TrainResult second = train_segmentation(resume, ModelInfo{}, cases, {});
  EXPECT_TRUE(second.resumed);
  EXPECT_EQ(second.steps_done, 6);
  EXPECT_TRUE(same_weights(dir.file("full"), dir.file("resumed")));
  EXPECT_EQ(losses(full), losses(second));
}

TEST(Trainer, WritesTheModelFolderLogAndCurves) {
  set_threads(2);
  test::TempDir dir;
  const std::vector<Sample> cases{box_case(0), box_case(1)};
  TrainOptions o = tiny_options(dir.file("m"));
  o.early_stopping_patience = 1;
  o.early_stopping_min_delta = 2.0;  // no improvement after the first validation: stops at step 4
  o.config_json = R"({"note": "copied"})";
  const TrainResult r = train_segmentation(o, ModelInfo{}, cases, {box_case(2)});
  for (const char* f : {"model.json", "weights.pt", "checkpoint.pt", "log.csv", "curves.png"})
    EXPECT_TRUE(std::filesystem::exists(dir.file(std::string("m/") + f))) << f;
  const std::string csv = read_text_file(dir.file("m/log.csv"));
  EXPECT_EQ(csv.rfind("step,lr,train_loss,validation_dice", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + static_cast<long>(r.log.size()));
  EXPECT_EQ(r.best_step, 2);
  EXPECT_TRUE(r.early_stopped);
  EXPECT_EQ(r.steps_done, 4);
  const LoadedModel m = load_model(dir.file("m"));
  EXPECT_EQ(m.info.metrics.at("validation_dice"), r.best_validation_dice);
  EXPECT_NE(model_info_to_json(m.info).find("copied"), std::string::npos);
}

TEST(Trainer, ALabelValueWithoutAnOutputChannelIsABadConfigNotAnIndexError) {
  test::TempDir dir;
  TrainOptions o = tiny_options(dir.file("m"));
  o.network.unet.out_channels = 2;  // background + one label; the cases hold 1 and 2
  Sample a = box_case(0), b = box_case(1);
  a.id = "a";
  b.id = "b";
  try {
    train_segmentation(o, ModelInfo{}, {a}, {b});
    FAIL() << "trained";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig);
    EXPECT_NE(std::string(e.what()).find("case 'a' holds the label value 2, but the network's 2 output channels take "
                                         "the labels 0..1"),
              std::string::npos)
        << e.what();
  }
}

TEST(TrainConfig, EveryDefaultSurvivesARoundTripThroughJson) {
  const TrainConfig c = parse_train_config("{}", false);
  const std::string text = train_config_to_json(c);
  EXPECT_EQ(train_config_to_json(parse_train_config(text, false)), text);
}

TEST(TrainConfig, YamlAndJsonGiveTheSameConfiguration) {
  const TrainConfig y = parse_train_config("optimizer:\n  type: sgd\n  lr: 0.01\ntraining:\n  patch_size: [64, 64, 32]\n"
                                           "output: out\n", true);
  const TrainConfig j = parse_train_config(
      R"({"optimizer": {"type": "sgd", "lr": 0.01}, "training": {"patch_size": [64, 64, 32]}, "output": "out"})", false);
  EXPECT_EQ(train_config_to_json(y), train_config_to_json(j));
  EXPECT_EQ(y.train.optimizer.type, OptimizerType::Sgd);
  EXPECT_EQ(y.train.patch_size[2], 32);
}

TEST(TrainConfig, UnknownKeysAreRefusedWithTheValidOnes) {
  try {
    parse_train_config(R"({"optimizer": {"learning_rate": 0.1}})", false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig);
    EXPECT_NE(std::string(e.what()).find("learning_rate"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("weight_decay"), std::string::npos) << e.what();
  }
}

TEST(TrainConfig, APatchSizeTheNetworkCannotTakeIsRefused) {
  try {
    parse_train_config(R"({"training": {"patch_size": [96, 96, 20]}})", false);  // depth 4 needs multiples of 8
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig);
  }
}

TEST(TrainConfig, ATwoDimensionalNetworkIsRefusedByTheTrainer) {
  try {
    parse_train_config(R"({"network": {"type": "unet", "unet": {"dims": 2}}})", false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig);
  }
}

TEST(BoxTrainer, LearnsWhereTheLungsAreAndWritesABoxModelFolder) {
  test::TempDir dir;
  std::vector<Sample> cases;
  for (int shift = 0; shift < 4; ++shift) {
    Sample s = box_case(shift);
    s.image = at::where(s.label > 0, at::full({}, -850.0f), at::full({}, 40.0f));  // HU
    cases.push_back(s);
  }
  TrainOptions o;
  o.network.type = "boxnet";
  o.network.boxnet.levels = 2;
  o.network.boxnet.base_width = 4;
  o.network.boxnet.input_size = {16, 16, 16};
  o.network.boxnet.hidden = 16;
  o.patch_size = o.network.boxnet.input_size;
  o.batch_size = 4;
  o.steps = 150;
  o.validate_every = 50;
  o.optimizer.lr = 3e-3;
  o.output = dir.file("box");
  ModelInfo info;
  info.intensity.hu_min = -1024;
  info.intensity.hu_max = 400;
  const TrainResult r = train_lung_box(o, info, {cases[0], cases[1], cases[3]}, {cases[2]});
  EXPECT_EQ(r.steps_done, 150);
  EXPECT_GT(r.best_validation_dice, 0.6) << "validation box IoU";
  const LoadedModel m = load_model(dir.file("box"));
  EXPECT_EQ(m.info.task, "lung_box");
  EXPECT_EQ(m.info.box_frame, "grid_fraction");
  EXPECT_TRUE(std::filesystem::exists(dir.file("box/curves.png")));
}

TEST(BoxTrainer, BoxIouIsOneForTheSameBoxAndZeroForDisjointBoxes) {
  const std::array<double, 6> a{0, 0, 0, 0.5, 0.5, 0.5}, b{0.5, 0.5, 0.5, 1, 1, 1}, c{0, 0, 0, 0.5, 0.5, 1};
  EXPECT_DOUBLE_EQ(box_iou(a, a), 1.0);
  EXPECT_DOUBLE_EQ(box_iou(a, b), 0.0);
  EXPECT_DOUBLE_EQ(box_iou(a, c), 0.5);
}

TEST(Trainer, LogsTheTrainingLossAtEveryCheckpointBetweenValidations) {
  set_threads(2);
  test::TempDir dir;
  TrainOptions o = tiny_options(dir.file("m"));
  o.validate_every = 6;  // one validation, at the end
  o.checkpoint_every = 2;
  const TrainResult r = train_segmentation(o, ModelInfo{}, {box_case(0), box_case(1)}, {box_case(2)});
  ASSERT_EQ(r.log.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.log[i].step, int64_t(2 * (i + 1)));
    EXPECT_TRUE(std::isfinite(r.log[i].train_loss)) << i;
  }
  EXPECT_TRUE(std::isnan(r.log[0].validation_dice));
  EXPECT_TRUE(std::isnan(r.log[1].validation_dice));
  EXPECT_TRUE(std::isfinite(r.log[2].validation_dice));
  const std::string csv = read_text_file(dir.file("m/log.csv"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
}
