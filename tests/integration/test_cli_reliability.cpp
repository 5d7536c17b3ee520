// Issue 9 (reliability) on the real CLI: full disks (a small tmpfs), SIGINT/SIGTERM in the middle of a
// write, standard output that cannot be written, long output names, stale temporary files, and
// `train --resume` with a changed configuration.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "pulmo/fileutil.h"
#include "pulmo/io.h"
#include "support/raw_nifti.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::test::count_temporary_files;
using pulmo::test::exit_status;
using pulmo::test::spawn_pulmo;
using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {

// Any valid CT file: a synthetic one (these tests need no real data), written when first asked for.
std::string ct_file() { return pulmo::test::synthetic_ct_file(); }
std::string q(const std::string& s) { return "'" + s + "'"; }
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A tmpfs of `size` mounted on a fresh folder; mounted() is false where the machine does not allow it
// (no root, no CAP_SYS_ADMIN): the tests then skip with a message.
class Tmpfs {
 public:
  explicit Tmpfs(const std::string& size) : dir_(tmp_.file("disk")) {
    fs::create_directories(dir_);
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  // Every file left on the disk, hidden ones (temporaries) included.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_))
      if (e.is_regular_file()) out.push_back(e.path().filename().string());
    return out;
  }

 private:
  TempDir tmp_;
  std::string dir_;
  bool mounted_ = false;
};

#define REQUIRE_TMPFS(disk) \
  if (!(disk).mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): full-disk test skipped"

// Three tiny cases and a manifest (as in test_cli_train.cpp).
void write_cases(const TempDir& dir) {
  std::string csv = "case_id,patient_id,dataset,image,lungs,lesions,convention\n";
  for (int i = 0; i < 3; ++i) {
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

std::string tiny_config(int base_width, int steps, int checkpoint_every, const std::string& extra_training = "",
                        double lr = 0.001) {
  return R"({
  "data": {"manifest": "manifest.csv", "validation_fraction": 0.34, "spacing_mm": [1.5, 1.5, 1.5]},
  "network": {"type": "unet", "unet": {"depth": 2, "base_width": )" +
         std::to_string(base_width) + R"(}},
  "optimizer": {"lr": )" + std::to_string(lr) + R"(},
  "training": {"patch_size": [8, 8, 8], "steps": )" +
         std::to_string(steps) + R"(, "validate_every": 2, "checkpoint_every": )" + std::to_string(checkpoint_every) +
         R"(, "workers": 1)" + extra_training + R"(},
  "output": "model"
})";
}

// Waits until a pulmo temporary file exists under `folder` (true) or `timeout_s` passes (false).
bool wait_for_temporary(const fs::path& folder, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (fs::exists(folder) && count_temporary_files(folder) > 0) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

// A 256 x 256 x 160 int16 volume of noise (21 MB): its gzip compression takes a while.
std::string write_large_input(const TempDir& tmp) {
  pulmo::test::RawNifti n;
  n.dim = {256, 256, 160};
  std::vector<int16_t> v(256 * 256 * 160);
  std::mt19937 rng(3);
  for (auto& x : v) x = static_cast<int16_t>(static_cast<int>(rng() % 2000) - 1000);
  n.data = pulmo::test::le_bytes(v);
  pulmo::test::write_raw_nifti(tmp.file("large.nii"), n);
  return tmp.file("large.nii");
}

}  // namespace

// ---- full disk ----------------------------------------------------------------------------------------

TEST(FullDisk, EveryVolumeFormatExitsWith7AndKeepsThePreviousFile) {
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".mha"}) {
    SCOPED_TRACE(ext);
    Tmpfs disk("200k");
    REQUIRE_TMPFS(disk);
    const std::string out = disk.file(std::string("o") + ext);
    { std::ofstream(out) << "previous"; }  // an earlier good output must survive a failed write
    const auto r = run_pulmo("convert " + q(ct_file()) + " " + q(out));
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_NE(r.err.find("pulmo: error: cannot write"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(out), "previous");
    EXPECT_EQ(disk.files(), std::vector<std::string>{std::string("o") + ext});
  }
}

TEST(FullDisk, SynthExitsWith7AndLeavesNoPartialFile) {
  Tmpfs disk("64k");
  REQUIRE_TMPFS(disk);
  const auto r = run_pulmo("synth --out " + q(disk.file("s")) + " --count 3 --size 64,64,32 --spacing 0.8,0.8,2.5");
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("cannot write"), std::string::npos) << r.err;
  EXPECT_EQ(count_temporary_files(disk.file("")), 0);
  // What was written completely stays readable; nothing else remains.
  for (const auto& e : fs::recursive_directory_iterator(disk.file("")))
    if (e.is_regular_file() && e.path().extension() == ".gz") EXPECT_NO_THROW(pulmo::read_volume(e.path().string())) << e.path();
}

TEST(FullDisk, EvalReportsExitWith7) {
  Tmpfs disk("8k");
  REQUIRE_TMPFS(disk);
  TempDir tmp;
  pulmo::Geometry g;
  g.size = {8, 8, 8};
  pulmo::Volume a = pulmo::Volume::filled(g, 0, at::kByte);
  a.voxels.slice(0, 2, 6).fill_(1);
  std::string csv = "case,reference,prediction\n";
  for (int i = 0; i < 40; ++i) csv += "case_with_a_long_name_" + std::to_string(i) + "," + tmp.file("a.nii.gz") + "," + tmp.file("a.nii.gz") + "\n";
  pulmo::write_volume(a, tmp.file("a.nii.gz"));
  pulmo::write_text_atomic(tmp.file("m.csv"), csv);
  const auto r = run_pulmo("-q eval --manifest " + q(tmp.file("m.csv")) + " -o " + q(disk.file("reports")) + " --bootstrap 10");
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(count_temporary_files(disk.file("")), 0);
}

TEST(FullDisk, TrainWeightsAndCheckpointsExitWith7) {
  Tmpfs disk("24k");
  REQUIRE_TMPFS(disk);
  TempDir dir;
  write_cases(dir);
  pulmo::write_text_atomic(dir.file("train.json"), tiny_config(16, 4, 2));
  const auto r = run_pulmo("-q --threads 2 train --config " + q(dir.file("train.json")) + " --output " + q(disk.file("model")));
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("cannot write"), std::string::npos) << r.err;
  EXPECT_EQ(count_temporary_files(disk.file("")), 0);
  EXPECT_FALSE(fs::exists(disk.file("model/weights.pt")) && fs::file_size(disk.file("model/weights.pt")) == 0);
}

TEST(FullDisk, StandardOutputThatCannotBeWrittenExitsWith7) {
  const int code = std::system(("'" + std::string(PULMO_EXECUTABLE) + "' info --json " + q(ct_file()) + " > /dev/full 2>/dev/null").c_str());
  ASSERT_TRUE(WIFEXITED(code));
  EXPECT_EQ(WEXITSTATUS(code), 7);
  const int ok = std::system(("'" + std::string(PULMO_EXECUTABLE) + "' info --json " + q(ct_file()) + " > /dev/null 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(ok), 0);
}

// ---- signals ------------------------------------------------------------------------------------------

class SignalDuringWrite : public ::testing::TestWithParam<int> {};

TEST_P(SignalDuringWrite, ConvertRemovesItsTemporaryFileAndExitsWith128PlusTheSignal) {
  const int sig = GetParam();
  TempDir tmp;
  const std::string input = write_large_input(tmp);
  const pid_t pid = spawn_pulmo({"--threads", "1", "convert", input, tmp.file("out/large.nii.gz")});
  ASSERT_GT(pid, 0);
  const bool seen = wait_for_temporary(tmp.path() / "out", 60);
  EXPECT_TRUE(seen) << "the temporary file never appeared";
  ::kill(pid, sig);
  EXPECT_EQ(exit_status(pid), 128 + sig);
  EXPECT_EQ(count_temporary_files(tmp.path()), 0);
  EXPECT_FALSE(fs::exists(tmp.file("out/large.nii.gz")));
}

TEST_P(SignalDuringWrite, TrainRemovesItsTemporaryFilesAndExitsWith128PlusTheSignal) {
  const int sig = GetParam();
  TempDir dir;
  write_cases(dir);
  // Many steps, a checkpoint after every step and a wider network: the checkpoint is mostly being written.
  pulmo::write_text_atomic(dir.file("train.json"), tiny_config(32, 100000, 1));
  const pid_t pid = spawn_pulmo({"--threads", "1", "train", "--config", dir.file("train.json"), "--output", dir.file("model")});
  ASSERT_GT(pid, 0);
  // Caught mid-write most times; either way no temporary file may survive the signal.
  const bool seen = wait_for_temporary(dir.path() / "model", 120);
  EXPECT_TRUE(seen) << "no checkpoint was being written within 120 s";
  ::kill(pid, sig);
  EXPECT_EQ(exit_status(pid), 128 + sig);
  EXPECT_EQ(count_temporary_files(dir.path()), 0);
  // What was renamed into place is complete: the last checkpoint is a whole zip archive.
  if (fs::exists(dir.file("model/checkpoint.pt"))) {
    const std::string ck = slurp(dir.file("model/checkpoint.pt"));
    ASSERT_GE(ck.size(), 22u);
    EXPECT_EQ(ck.substr(ck.size() - 22, 4), std::string("PK\x05\x06"));
  }
}

INSTANTIATE_TEST_SUITE_P(Issue9, SignalDuringWrite, ::testing::Values(SIGINT, SIGTERM),
                         [](const ::testing::TestParamInfo<int>& i) { return i.param == SIGINT ? "SIGINT" : "SIGTERM"; });

// ---- names and stale temporaries ----------------------------------------------------------------------

TEST(OutputNames, ALegalLongNameIsWrittenAndStaleTemporariesOfDeadRunsAreRemoved) {
  TempDir tmp;
  const std::string name = std::string(248, 'n') + ".nii.gz";  // 255 bytes
  auto r = run_pulmo("convert " + q(ct_file()) + " " + q(tmp.file(name)));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(tmp.file(name)));
  // A temporary file of a killed run (pid 99999999 does not exist) of the same output is removed.
  const std::string stale = tmp.file(".o.nii.gz.tmp-99999999-0.nii.gz");
  { std::ofstream(stale) << "partial"; }
  r = run_pulmo("convert " + q(ct_file()) + " " + q(tmp.file("o.nii.gz")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_EQ(count_temporary_files(tmp.path()), 0);
}

// ---- train --resume ------------------------------------------------------------------------------------

TEST(TrainResume, AChangedConfigurationIsRefusedNamingTheKeysAndMoreStepsAreAllowed) {
  TempDir dir;
  write_cases(dir);
  pulmo::write_text_atomic(dir.file("train.json"), tiny_config(4, 2, 2));
  const std::string args = "-q --threads 2 train --config " + q(dir.file("train.json")) + " --output " + q(dir.file("model"));
  ASSERT_EQ(run_pulmo(args).exit_code, 0);
  pulmo::write_text_atomic(dir.file("train.json"), tiny_config(4, 2, 2, ", \"seed\": 5", 0.01));
  const auto r = run_pulmo(args + " --resume");
  EXPECT_EQ(r.exit_code, 10) << r.err;
  EXPECT_NE(r.err.find("optimizer.lr"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("training.seed 0 -> 5"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("training.steps"), std::string::npos) << r.err;  // listed as what may change
  pulmo::write_text_atomic(dir.file("train.json"), tiny_config(4, 4, 2));
  const auto more = run_pulmo(args + " --resume");
  EXPECT_EQ(more.exit_code, 0) << more.err;
  EXPECT_NE(more.out.find("4 steps (resumed)"), std::string::npos) << more.out;
}
