// Issue 9 (reliability): the one atomic-write mechanism and its completeness checks, NIfTI headers
// other tools write (scl_slope/scl_inter), lying or corrupt headers and gzip streams, configuration
// values that used to pass unchecked, and --resume with a changed configuration.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "pulmo/error.h"
#include "core/tempfile.h"
#include "pulmo/fileutil.h"
#include "pulmo/io.h"
#include "pulmo/train.h"
#include "pulmo/train_config.h"
#include "support/raw_nifti.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace pulmo;
using pulmo::test::RawNifti;
using pulmo::test::TempDir;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// Code and message part of the Error `f` throws; fails the test when it throws nothing.
template <typename F>
void expect_error(F f, ExitCode code, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error thrown; expected code " << static_cast<int>(code) << " with '" << part << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

// Hidden files in `dir` (temporary files are hidden).
int hidden_files(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string()[0] == '.') ++n;
  return n;
}

RawNifti ramp_nifti(int16_t datatype) {
  RawNifti n;
  n.dim = {4, 3, 2};
  n.datatype = datatype;
  n.bitpix = 16;
  if (datatype == 512) {
    std::vector<uint16_t> v(24);
    for (int i = 0; i < 24; ++i) v[i] = static_cast<uint16_t>(i * 100);  // 0..2300 stored
    n.data = test::le_bytes(v);
  } else {
    std::vector<int16_t> v(24);
    for (int i = 0; i < 24; ++i) v[i] = static_cast<int16_t>(i * 50 - 600);  // -600..550 stored
    n.data = test::le_bytes(v);
  }
  return n;
}

}  // namespace

// ---- NIfTI with scl_slope / scl_inter (dcm2niix writes uint16 with scl_inter -1024) ----------------------

struct ScaledCase {
  int16_t datatype;
  float slope, inter;
  bool gzip;
};

class ScaledNifti : public ::testing::TestWithParam<ScaledCase> {};

TEST_P(ScaledNifti, IsReadWithItsHounsfieldUnits) {
  const ScaledCase c = GetParam();
  TempDir tmp;
  RawNifti n = ramp_nifti(c.datatype);
  n.scl_slope = c.slope;
  n.scl_inter = c.inter;
  n.gzip = c.gzip;
  const std::string path = tmp.file(c.gzip ? "scaled.nii.gz" : "scaled.nii");
  test::write_raw_nifti(path, n);
  SourceInfo src;
  const Volume v = read_volume(path, {}, &src);
  ASSERT_EQ(v.voxels.numel(), 24);
  EXPECT_EQ(v.geometry.size, (std::array<int64_t, 3>{4, 3, 2}));
  EXPECT_NEAR(v.geometry.spacing_mm[0], 0.8, 1e-6);
  EXPECT_NEAR(v.geometry.spacing_mm[2], 2.5, 1e-6);
  const at::Tensor hu = v.voxels.flatten().to(at::kDouble);
  for (int i = 0; i < 24; ++i) {
    const double stored = c.datatype == 512 ? i * 100.0 : i * 50.0 - 600.0;
    EXPECT_NEAR(hu[i].item<double>(), stored * c.slope + c.inter, 1e-3) << "voxel " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Issue9, ScaledNifti,
                         ::testing::Values(ScaledCase{512, 1.0f, -1024.0f, false}, ScaledCase{512, 1.0f, -1024.0f, true},
                                           ScaledCase{4, 2.0f, -10.0f, false}, ScaledCase{4, 2.0f, -10.0f, true},
                                           ScaledCase{512, 0.5f, -1000.0f, true}),
                         [](const ::testing::TestParamInfo<ScaledCase>& info) {  // "uint16_slope0_5_interMinus1000_nii_gz"
                           const auto number = [](float v) {
                             char text[32];
                             std::snprintf(text, sizeof text, "%g", std::fabs(v));
                             std::string s = text;
                             for (char& c : s)
                               if (c == '.') c = '_';
                             return (v < 0 ? "Minus" : "") + s;
                           };
                           const ScaledCase& c = info.param;
                           return std::string(c.datatype == 512 ? "uint16" : "int16") + "_slope" + number(c.slope) +
                                  "_inter" + number(c.inter) + (c.gzip ? "_nii_gz" : "_nii");
                         });

// ---- headers that lie, corrupt gzip ---------------------------------------------------------------

TEST(NiftiChecks, AZeroNanOrInfinitePixdimIsRefused) {
  for (const float bad : {0.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    TempDir tmp;
    RawNifti n = ramp_nifti(4);
    n.pixdim[1] = bad;
    test::write_raw_nifti(tmp.file("p.nii"), n);
    expect_error([&] { read_volume(tmp.file("p.nii")); }, ExitCode::Unreadable, "pixdim[2]");
  }
}

TEST(NiftiChecks, AVoxOffsetPastTheEndOfTheFileIsRefused) {
  TempDir tmp;
  RawNifti n = ramp_nifti(4);
  std::string bytes = test::raw_nifti_header(n);
  float far = 100000;
  std::memcpy(&bytes[108], &far, 4);
  spit(tmp.file("far.nii"), bytes + n.data);
  expect_error([&] { read_volume(tmp.file("far.nii")); }, ExitCode::Unreadable, "past the end");
  n.gzip = true;
  spit(tmp.file("far.nii.gz"), test::gzip_bytes(bytes + n.data));
  expect_error([&] { read_volume(tmp.file("far.nii.gz")); }, ExitCode::Unreadable, "past the end");
}

TEST(NiftiChecks, AGzipStreamWithAWrongCrcIsRefusedThoughItsLengthMatches) {
  TempDir tmp;
  RawNifti n = ramp_nifti(4);
  n.gzip = true;
  test::write_raw_nifti(tmp.file("ok.nii.gz"), n);
  ASSERT_NO_THROW(read_volume(tmp.file("ok.nii.gz")));
  std::string bytes = slurp(tmp.file("ok.nii.gz"));
  bytes[bytes.size() - 8] ^= 0x5a;  // the CRC-32 of the trailer; ISIZE (the length) stays right
  spit(tmp.file("crc.nii.gz"), bytes);
  expect_error([&] { read_volume(tmp.file("crc.nii.gz")); }, ExitCode::Unreadable, "corrupt");
}

TEST(NiftiChecks, CorruptDeflateDataInTheMiddleOfARealFileIsRefused) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  std::string bytes = slurp(test::shared_data_path("ct/totalsegmentator/example_ct_sm.nii.gz"));
  for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 16; ++i) bytes[i] = static_cast<char>(~bytes[i]);
  spit(tmp.file("bad.nii.gz"), bytes);
  expect_error([&] { read_volume(tmp.file("bad.nii.gz")); }, ExitCode::Unreadable, "corrupt");
}

TEST(GzipCheck, ReportsLengthAndRefusesACutOrCorruptStream) {
  TempDir tmp;
  const std::string text(100000, 'x');
  spit(tmp.file("a.gz"), test::gzip_bytes(text));
  GzipCheck g = check_gzip_file(tmp.file("a.gz"));
  EXPECT_TRUE(g.ok && g.is_gzip);
  EXPECT_EQ(g.content_bytes, text.size());
  const std::string full = slurp(tmp.file("a.gz"));
  spit(tmp.file("cut.gz"), full.substr(0, full.size() - 6));
  g = check_gzip_file(tmp.file("cut.gz"));
  EXPECT_FALSE(g.ok);
  EXPECT_FALSE(g.problem.empty());
  spit(tmp.file("plain.txt"), text);
  EXPECT_FALSE(check_gzip_file(tmp.file("plain.txt")).is_gzip);
}

// ---- the atomic-write mechanism -----------------------------------------------------------------------

TEST(CommitTemporary, RefusesAShortFileAndRemovesTheTemporary) {
  TempDir tmp;
  const std::string out = tmp.file("out.csv");
  const std::string t = temporary_path_for(out);
  spit(t, "abc");
  expect_error([&] { commit_temporary(t, out, 10); }, ExitCode::WriteFailed, "3 of 10 bytes");
  EXPECT_FALSE(fs::exists(t));
  EXPECT_FALSE(fs::exists(out));
}

TEST(CommitTemporary, RefusesAnEmptyFile) {
  TempDir tmp;
  const std::string out = tmp.file("weights.pt");
  const std::string t = temporary_path_for(out);
  spit(t, "");
  expect_error([&] { commit_temporary(t, out); }, ExitCode::WriteFailed, "nothing was written");
  EXPECT_EQ(tmp.count_files(), 0);
}

TEST(CommitTemporary, RefusesACutGzipPngOrZipByItsExtension) {
  TempDir tmp;
  const std::string gz = test::gzip_bytes(std::string(50000, 'y'));
  const std::string t1 = temporary_path_for(tmp.file("a.nii.gz"));
  spit(t1, gz.substr(0, gz.size() / 2));
  expect_error([&] { commit_temporary(t1, tmp.file("a.nii.gz")); }, ExitCode::WriteFailed, "incomplete");
  const std::string t2 = temporary_path_for(tmp.file("b.png"));
  spit(t2, std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, 'z'));
  expect_error([&] { commit_temporary(t2, tmp.file("b.png")); }, ExitCode::WriteFailed, "PNG");
  const std::string t3 = temporary_path_for(tmp.file("c.pt"));
  spit(t3, "PK\x03\x04 a zip cut before its end record");
  expect_error([&] { commit_temporary(t3, tmp.file("c.pt")); }, ExitCode::WriteFailed, "archive");
  // A gzip of the wrong decompressed length.
  const std::string t4 = temporary_path_for(tmp.file("d.nii.gz"));
  spit(t4, gz);
  expect_error([&] { commit_temporary(t4, tmp.file("d.nii.gz"), -1, 12345); }, ExitCode::WriteFailed, "holds 50000 of 12345");
  EXPECT_EQ(tmp.count_files(), 0);
}

TEST(CommitTemporary, ACompleteFileIsRenamed) {
  TempDir tmp;
  const std::string out = tmp.file("x.gz");
  const std::string t = temporary_path_for(out);
  spit(t, test::gzip_bytes("hello"));
  commit_temporary(t, out, -1, 5);
  EXPECT_TRUE(fs::exists(out));
  EXPECT_EQ(hidden_files(tmp.path()), 0);
}

TEST(TemporaryPath, StaysWithin255BytesForTheLongestLegalName) {
  TempDir tmp;
  const std::string name = std::string(248, 'n') + ".nii.gz";  // 255 bytes: legal
  const std::string t = temporary_path_for(tmp.file(name), ".nii.gz");
  EXPECT_LE(fs::path(t).filename().string().size(), 255u) << t;
  EXPECT_EQ(fs::path(t).parent_path(), tmp.path());
  write_text_atomic(tmp.file(std::string(251, 'c') + ".csv"), "a,b\n");
  EXPECT_TRUE(fs::exists(tmp.file(std::string(251, 'c') + ".csv")));
}

TEST(TemporaryPath, RemovesStaleTemporariesOfTheSameOutputFromDeadProcessesOnly) {
  TempDir tmp;
  // pid_max is at most 2^22: 99999999 is no process.
  const std::string stale = tmp.file(".out.csv.tmp-99999999-0.csv");
  const std::string live = tmp.file(".out.csv.tmp-" + std::to_string(::getppid()) + "-0.csv");
  const std::string other = tmp.file(".other.csv.tmp-99999999-0.csv");
  for (const auto& p : {stale, live, other}) spit(p, "partial");
  write_text_atomic(tmp.file("out.csv"), "x\n");
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));   // its writer may still run
  EXPECT_TRUE(fs::exists(other));  // another output's: left to that output's next write
  EXPECT_EQ(slurp(tmp.file("out.csv")), "x\n");
}

TEST(WriteVolume, EveryFormatPassesItsCompletenessCheck) {
  TempDir tmp;
  Volume v;
  v.geometry.size = {5, 4, 3};
  v.voxels = at::arange(60, at::kFloat).view({3, 4, 5}) - 30;
  for (const char* name : {"a.nii.gz", "a.nii", "a.nrrd", "a.mha"}) {
    for (const auto dtype : {at::kFloat, at::kShort, at::kByte}) {
      Volume w = v;
      w.voxels = dtype == at::kByte ? (v.voxels + 30).to(dtype) : v.voxels.to(dtype);
      ASSERT_NO_THROW(write_volume(w, tmp.file(name))) << name;
      const Volume back = read_volume(tmp.file(name));
      EXPECT_TRUE(at::equal(back.voxels, w.voxels.to(at::kFloat))) << name;
    }
  }
  EXPECT_EQ(hidden_files(tmp.path()), 0);
}

// ---- configuration values -------------------------------------------------------------------------------

namespace {
std::string config_with(const std::string& training_extra, const std::string& other = "") {
  return "{\"data\": {\"manifest\": \"m.csv\"}, \"training\": {\"patch_size\": [16, 16, 16]" + training_extra + "}" +
         other + "}";
}
}  // namespace

TEST(TrainConfigValues, AFractionalIntegerIsRefusedNotTruncated) {
  expect_error([] { parse_train_config(config_with(", \"steps\": 2.5"), false); }, ExitCode::BadConfig,
               "'steps' must be an integer");
  expect_error([] { parse_train_config("training:\n  steps: 2.5\n", true); }, ExitCode::BadConfig,
               "'steps' must be an integer");
  expect_error([] { parse_train_config(config_with(", \"patch_size\": [16, 16.5, 16]"), false); }, ExitCode::BadConfig,
               "patch_size");
  expect_error([] { parse_train_config(config_with("", ", \"data\": {\"split_seed\": -1}"), false); }, ExitCode::BadConfig,
               "duplicate key 'data'");
  expect_error([] { parse_train_config("{\"data\": {\"split_seed\": -1}}", false); }, ExitCode::BadConfig,
               "non-negative integer");
  EXPECT_EQ(parse_train_config(config_with(", \"steps\": 3"), false).train.steps, 3);
}

TEST(TrainConfigValues, DuplicateKeysAreRefusedInJsonAndYaml) {
  expect_error([] { parse_train_config("{\"training\": {\"steps\": 5, \"steps\": 7}}", false); }, ExitCode::BadConfig,
               "duplicate key 'steps'");
  expect_error([] { parse_train_config("training:\n  steps: 5\n  steps: 7\n", true); }, ExitCode::BadConfig,
               "duplicate key 'steps'");
}

TEST(TrainConfigValues, ProbabilitiesOutsideZeroToOneAndNanAreRefused) {
  expect_error([] { parse_train_config("{\"augment\": {\"flip_probability\": [0.5, 1.5, 0]}}", false); }, ExitCode::BadConfig,
               "flip_probability is a probability");
  expect_error([] { parse_train_config("augment:\n  noise_probability: -0.1\n", true); }, ExitCode::BadConfig,
               "noise_probability");
  expect_error([] { parse_train_config("augment:\n  gamma_probability: nan\n", true); }, ExitCode::BadConfig,
               "gamma_probability");
}

TEST(TrainConfigValues, ResourceSettingsAndDepthHaveBoundsAndClearMessages) {
  expect_error([] { parse_train_config("training:\n  workers: 100000\n", true); }, ExitCode::BadConfig,
               "training.workers 100000 is more than 64");
  expect_error([] { parse_train_config("training:\n  threads: 100000\n", true); }, ExitCode::BadConfig,
               "training.threads 100000");
  expect_error([] { parse_train_config("network:\n  unet:\n    depth: 0\n", true); }, ExitCode::BadConfig,
               "network.unet.depth must be 1..7 (not 0)");
}

// ---- --resume with another configuration ----------------------------------------------------------------

// data.fold chooses which folds a run trains (--fold): resuming fold 1 of an all-folds run changes it, while the
// fold a folder holds ("fold") and its cases must stay.
TEST(ResumeConfig, DataFoldMayChangeButNotTheFoldAFolderHolds) {
  const std::string all = R"({"config": {"data": {"fold": -1, "split": "kfold"}}, "fold": 1, "folds": 3,
                              "cases": {"train": ["c1"], "validation": ["c2"]}})";
  const std::string one = R"({"config": {"data": {"fold": 1, "split": "kfold"}}, "fold": 1, "folds": 3,
                              "cases": {"train": ["c1"], "validation": ["c2"]}})";
  EXPECT_TRUE(resume_config_changes(all, one).empty());
  EXPECT_TRUE(resume_config_changes(one, all).empty());
  const std::string other = R"({"config": {"data": {"fold": 2, "split": "kfold"}}, "fold": 2, "folds": 3,
                                "cases": {"train": ["c2"], "validation": ["c1"]}})";
  const auto diff = resume_config_changes(all, other);
  ASSERT_EQ(diff.size(), 3u);
  EXPECT_EQ(diff[0], "cases.train (the split's cases differ)");
  EXPECT_EQ(diff[2], "fold 1 -> 2");
  const std::string listed = [] {
    std::string s;
    for (const char* k : kResumeMayChange) s += std::string(k) + "\n";
    return s;
  }();
  EXPECT_NE(listed.find("data.fold"), std::string::npos) << listed;
}

TEST(ResumeConfig, NamesChangedKeysAndAllowsOnlyTheDocumentedOnes) {
  const std::string a = R"({"config": {"optimizer": {"lr": 0.001}, "training": {"steps": 10, "workers": 2},
                                       "data": {"split_seed": 1, "manifest": "a.csv"}, "output": "m"},
                            "manifest": "/x/a.csv", "fold": 0, "cases": {"train": ["c1"], "validation": ["c2"]}})";
  EXPECT_TRUE(resume_config_changes(a, a).empty());
  const std::string more_steps = R"({"config": {"optimizer": {"lr": 0.001}, "training": {"steps": 50, "workers": 8},
                                       "data": {"split_seed": 1, "manifest": "b.csv"}, "output": "m2"},
                            "manifest": "/y/b.csv", "fold": 0, "cases": {"train": ["c1"], "validation": ["c2"]}})";
  EXPECT_TRUE(resume_config_changes(a, more_steps).empty());
  const std::string changed = R"({"config": {"optimizer": {"lr": 0.01}, "training": {"steps": 10, "workers": 2},
                                       "data": {"split_seed": 2, "manifest": "a.csv"}, "output": "m"},
                            "manifest": "/x/a.csv", "fold": 0, "cases": {"train": ["c2"], "validation": ["c1"]}})";
  const auto diff = resume_config_changes(a, changed);
  ASSERT_EQ(diff.size(), 4u);
  std::string all;
  for (const auto& d : diff) all += d + "\n";
  EXPECT_NE(all.find("optimizer.lr 0.001 -> 0.01"), std::string::npos) << all;
  EXPECT_NE(all.find("data.split_seed 1 -> 2"), std::string::npos) << all;
  EXPECT_NE(all.find("cases.train"), std::string::npos) << all;
}
