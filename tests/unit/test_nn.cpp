// Networks: output shapes, options, model folders.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <filesystem>
#include <fstream>

#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/model.h"
#include "pulmo/nn.h"
#include "pulmo/runtime.h"
#include "support/test_support.h"

using namespace pulmo;

namespace {
NetworkOptions tiny_unet(int dims) {
  NetworkOptions o;
  o.unet.dims = dims;
  o.unet.depth = 3;
  o.unet.base_width = 4;
  o.unet.out_channels = 3;
  return o;
}
}  // namespace

TEST(Networks, A3dUNetMapsAVolumeToClassLogitsOfTheSameSize) {
  set_threads(2);
  auto net = make_network(tiny_unet(3));
  const at::Tensor y = net->forward(at::randn({2, 1, 8, 16, 12}));
  EXPECT_EQ(y.sizes(), (at::IntArrayRef{2, 3, 8, 16, 12}));
}

TEST(Networks, A2dUNetMapsAnImageToClassLogitsOfTheSameSize) {
  auto net = make_network(tiny_unet(2));
  EXPECT_EQ(net->forward(at::randn({1, 1, 16, 8})).sizes(), (at::IntArrayRef{1, 3, 16, 8}));
}

TEST(Networks, DeepSupervisionAddsLowerResolutionHeadsOnlyInTraining) {
  NetworkOptions o = tiny_unet(3);
  o.unet.deep_supervision = true;
  o.unet.residual = true;
  o.unet.norm = Norm::Batch;
  auto net = make_network(o);
  auto outs = net->forward_all(at::randn({2, 1, 8, 8, 8}));
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[1].sizes(), (at::IntArrayRef{2, 3, 4, 4, 4}));
  net->eval();
  EXPECT_EQ(net->forward_all(at::randn({2, 1, 8, 8, 8})).size(), 1u);
}

TEST(Networks, McDropoutMakesRepeatedPredictionsDiffer) {
  NetworkOptions o = tiny_unet(3);
  o.unet.dropout = 0.5;
  auto net = make_network(o);
  const at::Tensor x = at::randn({1, 1, 8, 8, 8});
  net->eval();
  EXPECT_TRUE(at::equal(net->forward(x), net->forward(x)));
  enable_mc_dropout(*net);
  EXPECT_FALSE(at::equal(net->forward(x), net->forward(x)));
}

TEST(SlidingWindow, WindowsInBatchesGiveTheProbabilitiesOfWindowsOneByOne) {
  set_threads(2);
  torch::manual_seed(3);
  auto net = make_network(tiny_unet(3));
  const at::Tensor image = at::rand({21, 37, 29});  // [z, y, x], not a multiple of the patch
  const std::array<int64_t, 3> patch{16, 16, 8};     // (x, y, z)
  SlidingWindowOptions one;
  one.overlap = 0.5;
  one.batch = 1;
  const at::Tensor reference = sliding_window_probabilities(*net, image, patch, one);
  ASSERT_EQ(reference.sizes(), (std::vector<int64_t>{3, 21, 37, 29}));
  EXPECT_LT((reference.sum(0) - 1).abs().max().item<double>(), 1e-5);
  for (int batch : {2, 4, 7, 1000}) {
    SlidingWindowOptions o = one;
    o.batch = batch;
    const at::Tensor p = sliding_window_probabilities(*net, image, patch, o);
    EXPECT_LT((p - reference).abs().max().item<double>(), 1e-5) << "batch " << batch;
  }
}

TEST(SlidingWindow, BFloat16ProbabilitiesStayCloseToFloat32) {
  if (!cpu_supports_bfloat16()) GTEST_SKIP() << "this CPU has no AVX-512 for bfloat16 convolutions";
  set_threads(2);
  torch::manual_seed(4);
  auto net = make_network(tiny_unet(3));
  const at::Tensor image = at::rand({16, 32, 32});
  SlidingWindowOptions o;
  const at::Tensor f32 = sliding_window_probabilities(*net, image, {16, 16, 16}, o);
  o.bfloat16 = true;
  const at::Tensor bf16 = sliding_window_probabilities(*net, image, {16, 16, 16}, o);
  EXPECT_EQ(bf16.scalar_type(), at::kFloat);
  EXPECT_LT((bf16 - f32).abs().max().item<double>(), 0.05);
  EXPECT_GT((bf16 - f32).abs().max().item<double>(), 0.0);  // it did run in bfloat16
}

TEST(Networks, AnInputSizeNotDivisibleByTheDownsamplingIsRefused) {
  auto net = make_network(tiny_unet(3));
  EXPECT_EQ(network_divisor(tiny_unet(3)), 4);
  try {
    net->forward(at::randn({1, 1, 8, 10, 8}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
  }
}

TEST(Networks, TheBoxNetRegressesSixNormalisedCoordinates) {
  NetworkOptions o;
  o.type = "boxnet";
  o.boxnet.levels = 3;
  o.boxnet.base_width = 4;
  o.boxnet.input_size = {16, 16, 16};
  const at::Tensor y = make_network(o)->forward(at::randn({2, 1, 16, 16, 16}));
  EXPECT_EQ(y.sizes(), (at::IntArrayRef{2, 6}));
  EXPECT_GE(y.min().item<double>(), 0.0);
  EXPECT_LE(y.max().item<double>(), 1.0);
}

TEST(ModelFolder, ASavedModelLoadsBackWithIdenticalOutputs) {
  test::TempDir dir;
  ModelInfo info;
  info.network = tiny_unet(3);
  info.metrics["validation_dice"] = 0.93;
  auto net = make_network(info.network);
  net->eval();
  save_model(dir.file("m"), info, *net);
  const LoadedModel loaded = load_model(dir.file("m"));
  const at::Tensor x = at::randn({1, 1, 8, 8, 8});
  EXPECT_TRUE(at::equal(net->forward(x), loaded.network->forward(x)));
  EXPECT_EQ(loaded.info.metrics.at("validation_dice"), 0.93);
  EXPECT_EQ(model_info_to_json(loaded.info), model_info_to_json(info));
}

TEST(ModelFolder, AnotherFormatVersionIsRefusedBeforeItsKeysAreRead) {
  for (const int version : {1, kModelFormatVersion + 1}) {  // older and newer
    const std::string v = std::to_string(version);
    try {
      model_info_from_json(R"({"format_version": )" + v + R"(, "name": "x", "new_key": 3})");
      FAIL() << "version " << v;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::BadConfig);
      EXPECT_NE(std::string(e.what()).find("format_version " + v + " is not supported"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("new_key"), std::string::npos) << e.what();
    }
  }
}

// Error(BadConfig) whose message holds `part`, from f().
template <class F>
void expect_bad_config(F f, const std::string& part) {
  try {
    f();
    FAIL() << "no error; expected one about " << part;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(ModelFolder, LabelNamesThatDoNotMatchTheOutputChannelsAreRefused) {
  ModelInfo info;
  info.network = tiny_unet(3);  // 3 output channels
  EXPECT_EQ(model_info_from_json(model_info_to_json(info)).label_names.size(), 3u);
  info.label_names = {"background", "lungs"};
  expect_bad_config([&] { model_info_from_json(model_info_to_json(info)); }, "label_names has 2 names for 3 output channels");
  // save_model checks it too, and writes nothing.
  test::TempDir dir;
  auto net = make_network(info.network);
  expect_bad_config([&] { save_model(dir.file("m"), info, *net); }, "label_names has 2 names");
  EXPECT_FALSE(std::filesystem::exists(dir.file("m")));
}

TEST(ModelFolder, ACorruptTrainingBlockIsABadConfigNotAnInternalError) {
  ModelInfo info;
  info.network = tiny_unet(3);
  std::string text = model_info_to_json(info);
  const std::string block = R"("training": {})";
  ASSERT_NE(text.find(block), std::string::npos) << text;
  for (const std::string& corrupt : {R"("training": "steps=100")", R"("training": [1, 2])", R"("training": 3)"}) {
    std::string bad = text;
    bad.replace(bad.find(block), block.size(), corrupt);
    expect_bad_config([&] { model_info_from_json(bad); }, "'training' must be an object");
  }
  // Written from a library caller's ModelInfo: refused before anything is written.
  test::TempDir dir;
  auto net = make_network(info.network);
  info.training_json = "{\"steps\": 10";
  expect_bad_config([&] { save_model(dir.file("m"), info, *net); }, "the training block is not valid JSON");
  info.training_json = "[10]";
  expect_bad_config([&] { model_info_to_json(info); }, "the training block must be a JSON object, not array");
  EXPECT_FALSE(std::filesystem::exists(dir.file("m")));
}

TEST(ModelFolder, ALungBoxModelStatesItsBoxFrame) {
  const std::string base = R"({"format_version": 2, "task": "lung_box",
    "network": {"type": "boxnet", "boxnet": {"input_size": [32, 32, 32], "levels": 3}}, "input": {"patch_size": [32, 32, 32]},
    "label_names": ["x0", "y0", "z0", "x1", "y1", "z1"])";
  EXPECT_EQ(model_info_from_json(base + R"(, "box_frame": "grid_fraction"})").box_frame, "grid_fraction");
  for (const std::string& bad : {base + "}", base + R"(, "box_frame": "millimetres"})"}) {
    try {
      model_info_from_json(bad);
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::BadConfig);
      EXPECT_NE(std::string(e.what()).find("box_frame"), std::string::npos) << e.what();
    }
  }
}

TEST(ModelFolder, UnknownKeysAreRefusedWithTheListOfValidKeys) {
  const std::string text = R"({"format_version": 2, "name": "x", "netwrok": {}})";
  try {
    model_info_from_json(text);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig);
    EXPECT_NE(std::string(e.what()).find("'netwrok'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("label_names"), std::string::npos) << e.what();
  }
}

TEST(ModelFolder, UnknownNetworkOptionsAreRefused) {
  try {
    model_info_from_json(R"({"format_version": 2, "network": {"type": "unet", "unet": {"depht": 3}}})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig);
    EXPECT_NE(std::string(e.what()).find("base_width"), std::string::npos) << e.what();
  }
}

TEST(ModelFolder, WeightsOfAnotherArchitectureAreABadConfig) {
  test::TempDir dir;
  ModelInfo info;
  info.network = tiny_unet(3);
  auto net = make_network(info.network);
  save_model(dir.file("m"), info, *net);
  info.network.unet.base_width = 8;
  write_text_atomic(dir.file("m/model.json"), model_info_to_json(info));
  try {
    load_model(dir.file("m"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadConfig);
  }
}

TEST(ModelFolder, AFolderWithoutModelJsonIsNotFound) {
  test::TempDir dir;
  try {
    load_model(dir.path().string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::NotFound);
  }
}
