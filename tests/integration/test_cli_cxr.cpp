// pulmo cxr train / predict / explain / eval and pulmo eval --probe, on a tiny synthetic dataset (seconds).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "pulmo/fileutil.h"
#include "support/cxr_images.h"
#include "support/test_support.h"

namespace fs = std::filesystem;

namespace pulmo::test {

class CliCxr : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string config = write_tiny_dataset(*dir_);
    const RunResult r = run_pulmo("--threads 1 -q cxr train --config " + config);
    train_exit_ = r.exit_code;
    train_out_ = r.out + r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string model() { return dir_->file("model"); }
  static TempDir* dir_;
  static int train_exit_;
  static std::string train_out_;
};
TempDir* CliCxr::dir_ = nullptr;
int CliCxr::train_exit_ = -1;
std::string CliCxr::train_out_;

TEST_F(CliCxr, TrainPredictExplainEvalAndProbeRunEndToEnd) {
  ASSERT_EQ(train_exit_, 0) << train_out_;
  EXPECT_NE(train_out_.find("majority"), std::string::npos) << train_out_;
  EXPECT_NE(train_out_.find("logistic"), std::string::npos) << train_out_;

  // No clinical value: the image-only model answers, and says so.
  RunResult r = run_pulmo("--threads 1 cxr predict " + dir_->file("x0.png") + " --model " + model() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["variant"], "image");
  EXPECT_EQ(j["image_only"], true);
  EXPECT_NE(r.err.find("image-only"), std::string::npos) << r.err;
  const double p = j["probability"];
  EXPECT_GE(p, 0.0);
  EXPECT_LE(p, 1.0);

  // Clinical values as key=value: the fused model, with the Grad-CAM overlay on request.
  const std::string heat = dir_->file("heat.png");
  r = run_pulmo("--threads 1 cxr predict " + dir_->file("x0.png") + " --model " + model() + " crp=150 sex=F --json --heatmap " + heat);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["variant"], "fused");
  EXPECT_EQ(j["image_only"], false);
  EXPECT_EQ(j["heatmap"], heat);
  EXPECT_TRUE(j["class"] == "severe" || j["class"] == "not severe");
  EXPECT_GT(fs::file_size(heat), 100u);

  r = run_pulmo("--threads 1 -q cxr explain " + dir_->file("x2.png") + " --model " + model() + " crp=40 -o " + dir_->file("explain"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir_->path() / "explain" / "x2.html"));
  EXPECT_TRUE(fs::exists(dir_->path() / "explain" / "x2_gradcam.png"));

  r = run_pulmo("--threads 1 -q cxr eval --manifest " + dir_->file("manifest.csv") + " --model " + model() +
                " --bootstrap 50 -o " + dir_->file("eval"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json c = nlohmann::json::parse(read_text_file(dir_->file("eval/classification.json")));
  EXPECT_EQ(c["cases"], 24) << c.dump().substr(0, 400);
  EXPECT_TRUE(c["subgroups"].contains("view"));
  const std::string md = read_text_file(dir_->file("eval/classification.md"));
  for (const char* attribute : {"sex", "view", "source"}) EXPECT_NE(md.find(attribute), std::string::npos) << attribute;

  // The image-only variant through the same evaluation engine.
  r = run_pulmo("--threads 1 -q cxr eval --manifest " + dir_->file("manifest.csv") + " --model " + model() +
                " --variant image --bootstrap 50 -o " + dir_->file("eval-image"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_text_file(dir_->file("eval-image/predictions.csv")).find(",image,"), std::string::npos);

  r = run_pulmo("eval --probe " + model() + "/features.csv --probe-attributes sex,view --probe-folds 3 --bootstrap 50 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["probes"].size(), 2u);
  EXPECT_EQ(j["probes"][0]["attribute"], "sex");
  EXPECT_EQ(j["probes"][0]["n"], 24);
}

// Ctrl-C in the middle of `pulmo cxr train`: exit 130, no temporary file, no output written (the checkpoints
// stay); `--resume` then ends with the outputs of the fixture's uninterrupted run (same data and --threads), byte
// for byte, and removes the checkpoints.
TEST_F(CliCxr, AnInterruptedTrainingResumesToTheOutputsOfAnUninterruptedOne) {
  ASSERT_EQ(train_exit_, 0) << train_out_;
  TempDir t;
  const std::string config = write_tiny_dataset(t);
  const fs::path checkpoints = t.path() / "model" / "checkpoints";
  const pid_t pid = spawn_pulmo({"--threads", "1", "cxr", "train", "--config", config});
  ASSERT_GT(pid, 0);
  auto finished_checkpoints = [&] {
    int n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(checkpoints, ec))
      if (e.path().extension() == ".pt" && e.path().filename().string().find(".tmp-") == std::string::npos) ++n;
    return n;
  };
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (finished_checkpoints() < 2 && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_GE(finished_checkpoints(), 2) << "no second checkpoint within 120 s";
  ::kill(pid, SIGINT);
  EXPECT_EQ(exit_status(pid), 130);
  EXPECT_EQ(count_temporary_files(t.path()), 0);
  EXPECT_FALSE(fs::exists(t.path() / "model" / "model.json"));
  EXPECT_FALSE(fs::exists(t.path() / "model" / "fused.pt"));

  const RunResult r = run_pulmo("--threads 1 cxr train --resume --config " + config);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming from the checkpoints"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("models continued or taken from their checkpoints"), std::string::npos) << r.err;
  expect_same_cxr_outputs(model(), t.file("model"));
  EXPECT_FALSE(fs::exists(checkpoints));
  EXPECT_EQ(count_temporary_files(t.path()), 0);
}

TEST_F(CliCxr, BadInputsHaveTheirExitCodesAndLeaveNothing) {
  ASSERT_EQ(train_exit_, 0) << train_out_;
  TempDir t;
  write_rgb(t.file("photo.png"), 64, 64, true);
  write_grey<uint8_t>(t.file("flat.png"), 64, 64, true);
  write_raw_file(t.file("notes.png"), "not an image\n");
  write_dicom(t.file("lateral.dcm"), "DX", "LL");
  write_dicom(t.file("ct.dcm"), "CT", "");
  write_dicom(t.file("nowidth.dcm"), "DX", "PA", "MONOCHROME2", "640,-1");
  DicomSpec lying;
  lying.voi_lut = DicomLut{4096, 0, 16, "US", std::vector<uint16_t>(10, 1), false};
  write_dicom_file(t.file("lying_lut.dcm"), lying);
  struct Bad {
    std::string args;
    int code;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {t.file("photo.png"), 6, "colour picture"},
      {t.file("flat.png"), 13, "single value"},
      {t.file("notes.png"), 4, "not an image"},
      {t.file("lateral.dcm"), 13, "lateral view"},
      {t.file("ct.dcm"), 13, "modality CT"},
      {t.file("nowidth.dcm"), 4, "Window Width (0028,1051) -1 is not positive"},
      {t.file("lying_lut.dcm"), 4, "says 4096 entries of 16 bits, but the LUT Data (0028,3006) holds 20 bytes"},
      {t.file("absent.png"), 3, "does not exist"},
      {dir_->file("x0.png") + " crp_level=3", 2, "unknown clinical input 'crp_level'"},
      {dir_->file("x0.png") + " age=300", 2, "out of range"},
  };
  for (const Bad& b : bad) {
    const std::string heat = t.file("out/heat.png");
    const RunResult r = run_pulmo("--threads 1 cxr predict " + b.args + " --model " + model() + " --json --heatmap " + heat);
    EXPECT_EQ(r.exit_code, b.code) << b.args << ": " << r.err;
    EXPECT_NE(r.err.find(b.message), std::string::npos) << b.args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << b.args << ": " << r.out;
    EXPECT_FALSE(fs::exists(t.path() / "out")) << b.args;  // nothing partial
  }
  const RunResult r = run_pulmo("cxr predict " + dir_->file("x0.png") + " --model " + t.file("nomodel"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

}  // namespace pulmo::test
