// Issue 9 (reliability) on the real CLI: full disks (a small tmpfs), SIGINT/SIGTERM in the middle of a
// write, standard output that cannot be written, long output names, stale temporary files, and
// `train --resume` with a changed configuration.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
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

// ---- quantify never deletes or overwrites what it did not write (issue 18) --------------------------------

namespace {

// A small chest-like CT (air around a body of soft tissue holding two air-filled lungs): the classical lungs find
// it in a second.
pulmo::Volume small_chest() {
  pulmo::Geometry g;
  g.size = {64, 64, 24};
  g.spacing_mm = {5.0, 5.0, 5.0};
  pulmo::Volume ct = pulmo::Volume::filled(g, -1000.0);
  ct.voxels.slice(1, 8, 56).slice(2, 6, 58).fill_(40.0);                 // body
  ct.voxels.slice(0, 4, 20).slice(1, 16, 46).slice(2, 12, 29).fill_(-850.0);  // right lung (image left)
  ct.voxels.slice(0, 4, 20).slice(1, 16, 46).slice(2, 35, 52).fill_(-850.0);  // left lung
  return ct;
}

// Every file under `dir` with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[e.path().string()] = slurp(e.path().string());
  return out;
}

}  // namespace

TEST(QuantifyOutputSafety, OverwriteReplacesOnlyAReportFolderPulmoWroteNeverAnInputOrAFile) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "in");
  const std::string ct = tmp.file("in/ct.nii.gz");
  pulmo::write_volume(small_chest(), ct);
  fs::create_directories(tmp.path() / "mine");
  std::ofstream(tmp.file("mine/notes.txt")) << "mine";
  std::ofstream(tmp.file("a_file")) << "a file";
  fs::create_directories(tmp.path() / "series");
  std::ofstream(tmp.file("series/slice1.dcm")) << "not really DICOM";
  const std::string opts = " --lungs classical --no-lesions --no-html";
  const auto before = snapshot(tmp.path());
  struct Case {
    std::string input, out;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {ct, ct, 2, "is the input"},                                   // the input file itself
      {ct, tmp.file("in"), 2, "holds the input"},                    // the input's own folder
      {ct, tmp.path().string(), 2, "holds the input"},               // a folder above it
      {tmp.file("series"), tmp.file("series"), 2, "is the input"},   // a DICOM folder
      {tmp.file("series"), tmp.file("series/out"), 2, "inside the input folder"},
      {ct, tmp.file("mine"), 7, "not written by pulmo"},             // an unrelated folder
      {ct, tmp.file("a_file"), 7, "is a file"},                      // a file
  };
  for (const Case& c : cases) {
    for (const char* overwrite : {"", " --overwrite"}) {
      const auto r = run_pulmo("quantify " + q(c.input) + " --out " + q(c.out) + opts + overwrite);
      SCOPED_TRACE(c.input + " -> " + c.out + overwrite);
      EXPECT_EQ(r.exit_code, c.code) << r.err;
      if (*overwrite) EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("pulmo: error: "), std::string::npos) << r.err;
      EXPECT_EQ(snapshot(tmp.path()), before) << "a file was changed, added or removed";
    }
  }
  // The lung mask is an input too.
  auto r = run_pulmo("quantify " + q(ct) + " --out " + q(tmp.file("in")) + " --lung-mask " + q(ct) + " --overwrite");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  // A link is never followed or replaced.
  fs::create_directory_symlink(tmp.path() / "mine", tmp.path() / "link");
  r = run_pulmo("quantify " + q(ct) + " --out " + q(tmp.file("link")) + opts + " --overwrite");
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(slurp(tmp.file("mine/notes.txt")), "mine");
  // A report folder pulmo wrote holds the marker and is replaced by --overwrite (and only then).
  r = run_pulmo("quantify " + q(ct) + " --out " + q(tmp.file("report")) + opts);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(tmp.file("report/.pulmo-output")));
  r = run_pulmo("quantify " + q(ct) + " --out " + q(tmp.file("report")) + opts);
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << r.err;
  std::ofstream(tmp.file("report/stale.txt")) << "from before";
  r = run_pulmo("quantify " + q(ct) + " --out " + q(tmp.file("report")) + opts + " --overwrite");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("report/stale.txt")));
  EXPECT_TRUE(fs::is_regular_file(tmp.file("report/report.json")));
  EXPECT_TRUE(fs::is_regular_file(tmp.file("report/.pulmo-output")));
}

TEST(QuantifyOutputSafety, ABatchNeverWritesIntoItsInputFolderOrOverAFolderItDidNotWrite) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "cts/p1");
  for (int i = 0; i < 3; ++i) std::ofstream(tmp.file("cts/p1/s" + std::to_string(i) + ".dcm")) << "slice " << i;
  pulmo::write_volume(small_chest(), tmp.file("cts/chest.nii.gz"));
  std::ofstream(tmp.file("cts/broken.nii.gz")) << "broken";
  const std::string base = "quantify " + q(tmp.file("cts")) + " --batch --lungs classical --no-lesions --no-html";
  const auto before = snapshot(tmp.path());
  for (const std::string& out : {tmp.file("cts"), tmp.file("cts/results"), tmp.file("cts/p1")}) {
    for (const char* overwrite : {"", " --overwrite"}) {
      const auto r = run_pulmo(base + " --out " + q(out) + overwrite);
      EXPECT_EQ(r.exit_code, 2) << out << overwrite << "\n" << r.err;
      EXPECT_NE(r.err.find("input folder"), std::string::npos) << r.err;
      EXPECT_EQ(snapshot(tmp.path()), before) << out << overwrite;
    }
  }
  // An existing folder that is not empty and was not written by pulmo, or a file, is refused whole.
  fs::create_directories(tmp.path() / "other");
  std::ofstream(tmp.file("other/summary.csv")) << "someone's table";
  std::ofstream(tmp.file("a_file")) << "a file";
  for (const std::string& out : {tmp.file("other"), tmp.file("a_file")}) {
    const auto r = run_pulmo(base + " --out " + q(out) + " --overwrite");
    EXPECT_EQ(r.exit_code, 7) << out << "\n" << r.err;
  }
  EXPECT_EQ(slurp(tmp.file("other/summary.csv")), "someone's table");
  EXPECT_EQ(slurp(tmp.file("a_file")), "a file");
  // In a batch folder pulmo wrote, a case folder it did not write fails that case (exit 7) and is kept.
  auto r = run_pulmo(base + " --out " + q(tmp.file("out")));
  ASSERT_EQ(r.exit_code, 12) << r.err;  // broken.nii.gz fails; chest and p1 (not DICOM) too
  EXPECT_TRUE(fs::is_regular_file(tmp.file("out/.pulmo-output")));
  EXPECT_TRUE(fs::is_regular_file(tmp.file("out/chest/.pulmo-output")));
  fs::create_directories(tmp.path() / "out/broken");
  std::ofstream(tmp.file("out/broken/keep.txt")) << "keep";
  r = run_pulmo(base + " --out " + q(tmp.file("out")) + " --overwrite");
  EXPECT_EQ(r.exit_code, 12) << r.err;
  EXPECT_EQ(slurp(tmp.file("out/broken/keep.txt")), "keep");
  const std::string summary = slurp(tmp.file("out/summary.csv"));
  EXPECT_NE(summary.find("broken,"), std::string::npos) << summary;
  EXPECT_NE(summary.find("not written by pulmo"), std::string::npos) << summary;
  // Every row of the summary is as wide as its header (failed cases included).
  std::istringstream lines(summary);
  std::string header, line;
  std::getline(lines, header);
  const size_t columns = std::count(header.begin(), header.end(), ',');
  EXPECT_GT(columns, 10u) << header;
  int rows = 0;
  while (std::getline(lines, line)) {
    ++rows;
    size_t commas = 0;
    bool quoted = false;
    for (char ch : line) {
      if (ch == '"') quoted = !quoted;
      if (ch == ',' && !quoted) ++commas;
    }
    EXPECT_EQ(commas, columns) << line;
  }
  EXPECT_EQ(rows, 3);
  std::map<std::string, std::string> inputs_before;
  for (const auto& [name, bytes] : before)
    if (name.find("/cts/") != std::string::npos) inputs_before[name] = bytes;
  EXPECT_EQ(snapshot(tmp.path() / "cts"), inputs_before);
}

TEST(QuantifyOutputSafety, ShardValuesOutsideOneToNAreUsageErrors) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "cts");
  std::ofstream(tmp.file("cts/broken.nii.gz")) << "broken";
  for (const char* shard : {"0/4", "5/4", "1/0", "abc", "1/2x", "1/"}) {
    const auto r = run_pulmo("quantify " + q(tmp.file("cts")) + " --batch --out " + q(tmp.file("out")) + " --shard " + shard);
    EXPECT_EQ(r.exit_code, 2) << shard << "\n" << r.err;
    EXPECT_NE(r.err.find("--shard"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tmp.file("out"))) << shard;
  }
}

// ---- quantify trusts no geometry, no lungs and no mask blindly (issue 18) ---------------------------------

TEST(QuantifyHostile, AbsurdSpacingIsRefusedWithTheGeometryCodeBeforeAnyNetworkRuns) {
  TempDir tmp;
  const pulmo::Volume chest = small_chest();
  struct Case {
    double spacing;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{{0.005, "voxel spacing"}, {150, "voxel spacing"}, {40, "field of view"}}) {
    SCOPED_TRACE(c.spacing);
    pulmo::Volume v = chest;
    v.geometry.spacing_mm = {c.spacing, c.spacing, c.spacing};
    pulmo::write_volume(v, tmp.file("ct.nii.gz"));
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run_pulmo("quantify " + q(tmp.file("ct.nii.gz")) + " --out " + q(tmp.file("out")) + " --no-html");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("stage"), std::string::npos) << "a network ran:\n" << r.err;
    EXPECT_LT(seconds, 20.0);
    EXPECT_FALSE(fs::exists(tmp.file("out")));
  }
}

TEST(QuantifyHostile, LungsOfNoHumanSizeAreRefusedAsNotAChestCt) {
  TempDir tmp;
  pulmo::Volume v = small_chest();
  v.geometry.spacing_mm = {20, 20, 20};  // 64 x 20 mm = 1.28 m: inside the field-of-view bound; lungs of 130 L
  pulmo::write_volume(v, tmp.file("ct.nii.gz"));
  const auto r = run_pulmo("quantify " + q(tmp.file("ct.nii.gz")) + " --out " + q(tmp.file("out")) +
                           " --lungs classical --no-lesions --no-html");
  EXPECT_EQ(r.exit_code, 11) << r.err;
  EXPECT_NE(r.err.find("more than any human lungs"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("out")));
}

// A synthetic chest CT with its body cut away around the lungs (every voxel outside the lung mask made air in the
// slices that hold lung): "lungs" outside any body.
// Every lung method refuses it as not a chest CT (11) and writes nothing; the user's own mask is taken at its word
// with a warning.
TEST(QuantifyHostile, LungsOutsideTheBodyAreNotAChestCt) {
  TempDir tmp;
  ASSERT_EQ(run_pulmo("-q synth --out " + q(tmp.file("s")) + " --count 1 --seed 5 --size 128,128,40 --spacing 0.8,0.8,2.5 "
                      "--involvement 0.05").exit_code, 0);
  const pulmo::Volume ct = pulmo::read_volume(tmp.file("s/case_0000/ct.nii.gz"));
  const pulmo::Volume lungs = pulmo::read_volume(tmp.file("s/case_0000/lungs.nii.gz"));
  // The body is cut away in every slice that holds lung; below and above the lungs it stays (an abdomen, a neck).
  const at::Tensor lung_slices = lungs.voxels.ne(0).flatten(1).any(1).view({-1, 1, 1});
  pulmo::write_volume(ct.with_voxels(ct.voxels.masked_fill(lung_slices.logical_and(lungs.voxels.eq(0)), -1000.0)),
                      tmp.file("cut.nii.gz"));
  for (const char* method : {"cascade", "classical", "hybrid"}) {
    SCOPED_TRACE(method);
    const std::string out = tmp.file(std::string("out-") + method);
    const auto r = run_pulmo("quantify " + q(tmp.file("cut.nii.gz")) + " --lungs " + method + " --out " + q(out) +
                             " --no-lesions --no-html");
    EXPECT_EQ(r.exit_code, 11) << r.err;
    EXPECT_NE(r.err.find("no lungs found"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
  const auto r = run_pulmo("quantify " + q(tmp.file("cut.nii.gz")) + " --lung-mask " + q(tmp.file("s/case_0000/lungs.nii.gz")) +
                           " --out " + q(tmp.file("mask")) + " --no-lesions --no-html");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("of what was found as lungs lies inside the body"), std::string::npos) << r.err;
}

TEST(QuantifyHostile, AUserMaskMeansWhatItSays) {
  TempDir tmp;
  const pulmo::Volume ct = small_chest();
  pulmo::write_volume(ct, tmp.file("ct.nii.gz"));
  // Label 1 only: both blocks are "right lung" as the mask says - never split into a left lung.
  const pulmo::Volume right_only = ct.with_voxels(ct.voxels.lt(-500).logical_and(ct.voxels.gt(-900)).to(at::kByte));
  pulmo::write_volume(right_only, tmp.file("right.nii.gz"));
  auto r = run_pulmo("quantify " + q(tmp.file("ct.nii.gz")) + " --out " + q(tmp.file("out")) + " --lung-mask " +
                     q(tmp.file("right.nii.gz")) + " --no-lesions --no-html");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pulmo::Volume lungs = pulmo::read_volume(tmp.file("out/lungs.nii.gz"));
  EXPECT_TRUE(at::equal(lungs.voxels.to(at::kByte), right_only.voxels));
  EXPECT_NE(r.out.find("left lung : 0 mL"), std::string::npos) << r.out;
  // The "binary" convention splits a binary mask into right and left.
  r = run_pulmo("quantify " + q(tmp.file("ct.nii.gz")) + " --out " + q(tmp.file("split")) + " --lung-mask " +
                q(tmp.file("right.nii.gz")) + " --lung-mask-convention binary --no-lesions --no-html");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pulmo::Volume split = pulmo::read_volume(tmp.file("split/lungs.nii.gz"));
  EXPECT_GT(split.voxels.eq(1).sum().item<int64_t>(), 0);
  EXPECT_GT(split.voxels.eq(2).sum().item<int64_t>(), 0);
  // A mask and a lung method contradict each other.
  r = run_pulmo("quantify " + q(tmp.file("ct.nii.gz")) + " --out " + q(tmp.file("both")) + " --lung-mask " +
                q(tmp.file("right.nii.gz")) + " --lungs classical --no-lesions");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--lungs"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("both")));
  // A mask on soft tissue is the user's word, but said to be implausible.
  const pulmo::Volume tissue = ct.with_voxels(ct.voxels.gt(0).to(at::kByte));
  pulmo::write_volume(tissue, tmp.file("tissue.nii.gz"));
  r = run_pulmo("quantify " + q(tmp.file("ct.nii.gz")) + " --out " + q(tmp.file("tissue")) + " --lung-mask " +
                q(tmp.file("tissue.nii.gz")) + " --no-lesions --no-html");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("not aerated lung"), std::string::npos) << r.err;
}

// ---- quantify under hostile use beyond the named cases (issue 18, part 2) -----------------------------------

namespace {

// small_chest() five times finer (320 x 320 x 120 voxels of 1 mm): quantify takes seconds, writing its masks too.
pulmo::Volume big_chest() {
  pulmo::Geometry g;
  g.size = {320, 320, 120};
  g.spacing_mm = {1.0, 1.0, 1.0};
  pulmo::Volume ct = pulmo::Volume::filled(g, -1000.0);
  ct.voxels.slice(1, 40, 280).slice(2, 30, 290).fill_(40.0);
  ct.voxels.slice(0, 20, 100).slice(1, 80, 230).slice(2, 60, 145).fill_(-850.0);
  ct.voxels.slice(0, 20, 100).slice(1, 80, 230).slice(2, 175, 260).fill_(-850.0);
  return ct;
}

// Names under `dir` (recursively) that hold ".tmp-": pulmo's temporary files and folders.
std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->path().filename().string().find(".tmp-") != std::string::npos) out.push_back(it->path().string());
  return out;
}

}  // namespace

// Ctrl-C (SIGINT) or SIGTERM while quantify computes, and while it writes its report folder: the exit code says so,
// no temporary file or folder is left, and the report folder either does not exist or is complete.
TEST(QuantifyHostile, ASignalWhileComputingOrWritingLeavesNoHalfWrittenReport) {
  TempDir tmp;
  pulmo::write_volume(big_chest(), tmp.file("ct.nii.gz"));
  for (const int sig : {SIGINT, SIGTERM}) {
    for (const bool while_writing : {false, true}) {
      SCOPED_TRACE(std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") + (while_writing ? " while writing" : " while computing"));
      const std::string out = tmp.file(std::string("out_") + std::to_string(sig) + (while_writing ? "_w" : "_c"));
      const pid_t pid = spawn_pulmo({"--threads", "1", "quantify", tmp.file("ct.nii.gz"), "--out", out, "--lungs",
                                     "classical", "--no-lesions"});
      ASSERT_GT(pid, 0);
      if (while_writing) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(240);
        while (temporaries(tmp.path()).empty() && std::chrono::steady_clock::now() < end)
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        EXPECT_FALSE(temporaries(tmp.path()).empty()) << "the report folder was never being written";
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(700));
      }
      ::kill(pid, sig);
      const int code = exit_status(pid);
      EXPECT_TRUE(code == 128 + sig || code == 0) << code;
      EXPECT_EQ(temporaries(tmp.path()), std::vector<std::string>{});
      // A signal after the rename (or a run that finished first) leaves the whole report; else there is none.
      if (code == 0 || fs::exists(out)) {
        EXPECT_TRUE(fs::is_regular_file(out + "/report.json"));
        EXPECT_TRUE(fs::is_regular_file(out + "/report.csv"));
        EXPECT_TRUE(fs::is_regular_file(out + "/lungs.nii.gz"));
        EXPECT_TRUE(fs::is_regular_file(out + "/.pulmo-output"));
      }
    }
  }
}

// A full disk and a read-only folder under the report folder: exit 7, nothing left on the disk.
TEST(QuantifyHostile, AFullDiskOrAReadOnlyFolderExitsWith7AndLeavesNothing) {
  TempDir tmp;
  pulmo::write_volume(small_chest(), tmp.file("ct.nii.gz"));
  const std::string opts = " --lungs classical --no-lesions";
  {
    Tmpfs disk("24k");  // the lung mask fits, the report does not
    REQUIRE_TMPFS(disk);
    const auto r = run_pulmo("quantify " + q(tmp.file("ct.nii.gz")) + " --out " + q(disk.file("out")) + opts);
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_NE(r.err.find("pulmo: error: "), std::string::npos) << r.err;
    EXPECT_EQ(disk.files(), std::vector<std::string>{});
    EXPECT_FALSE(fs::exists(disk.file("out")));
  }
  {
    Tmpfs disk("1m");
    REQUIRE_TMPFS(disk);
    ASSERT_EQ(::mount("tmpfs", disk.file("").c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0);
    const auto r = run_pulmo("quantify " + q(tmp.file("ct.nii.gz")) + " --out " + q(disk.file("out")) + opts);
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_NE(r.err.find("pulmo: error: "), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(disk.file("out")));
  }
}

// Thread counts: 0 means every core (as when omitted); negative, fractional, absurd or non-numeric counts are usage
// errors before anything runs. MC-dropout passes beyond 0..100 too.
TEST(QuantifyHostile, AbsurdThreadAndPassCountsAreUsageErrors) {
  TempDir tmp;
  pulmo::write_volume(small_chest(), tmp.file("ct.nii.gz"));
  const std::string base = "quantify " + q(tmp.file("ct.nii.gz")) + " --lungs classical --no-lesions --no-html --out ";
  auto r = run_pulmo("--threads 0 " + base + q(tmp.file("zero")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* threads : {"10000", "-1", "2.5", "abc", "1e9"}) {
    r = run_pulmo(std::string("--threads ") + threads + " " + base + q(tmp.file("out")));
    EXPECT_EQ(r.exit_code, 2) << threads << "\n" << r.err;
    EXPECT_NE(r.err.find("--threads"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tmp.file("out"))) << threads;
  }
  for (const char* passes : {"101", "-1", "1000000"}) {
    r = run_pulmo("quantify " + q(tmp.file("ct.nii.gz")) + " --out " + q(tmp.file("out")) + " --mc-dropout " + passes);
    EXPECT_EQ(r.exit_code, 2) << passes << "\n" << r.err;
    EXPECT_FALSE(fs::exists(tmp.file("out"))) << passes;
  }
}

// Batches of absurd sizes: an empty folder, a manifest with a header only, and 2000 cases that all fail (each
// listed in a rectangular summary, in seconds, without a report folder per case).
TEST(QuantifyHostile, EmptyAndHugeBatchesHaveTheirCodesAndRectangularSummaries) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "empty");
  auto r = run_pulmo("quantify " + q(tmp.file("empty")) + " --batch --out " + q(tmp.file("o1")));
  EXPECT_EQ(r.exit_code, 8) << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("o1")));
  pulmo::write_text_atomic(tmp.file("header.csv"), "case_id,image\n");
  r = run_pulmo("quantify " + q(tmp.file("header.csv")) + " --batch --out " + q(tmp.file("o2")));
  EXPECT_EQ(r.exit_code, 8) << r.err;
  EXPECT_NE(r.err.find("lists no CT"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("o2")));
  std::string csv = "case_id,image\n";
  for (int i = 0; i < 2000; ++i) csv += "c" + std::to_string(i) + "," + tmp.file("missing" + std::to_string(i) + ".nii.gz") + "\n";
  pulmo::write_text_atomic(tmp.file("many.csv"), csv);
  const auto t0 = std::chrono::steady_clock::now();
  r = run_pulmo("quantify " + q(tmp.file("many.csv")) + " --batch --out " + q(tmp.file("o3")));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 12) << r.err.substr(0, 2000);
  EXPECT_LT(seconds, 120.0);
  std::istringstream lines(slurp(tmp.file("o3/summary.csv")));
  std::string header, line;
  std::getline(lines, header);
  const size_t columns = std::count(header.begin(), header.end(), ',');
  int rows = 0;
  while (std::getline(lines, line)) {
    ++rows;
    size_t commas = 0;
    bool quoted = false;
    for (char ch : line) {
      if (ch == '"') quoted = !quoted;
      if (ch == ',' && !quoted) ++commas;
    }
    ASSERT_EQ(commas, columns) << line;
  }
  EXPECT_EQ(rows, 2000);
  EXPECT_EQ(temporaries(tmp.path()), std::vector<std::string>{});
}
