// Issue 9 (reliability): the one atomic-write mechanism and its completeness checks, NIfTI headers
// other tools write (scl_slope/scl_inter), lying or corrupt headers and gzip streams, configuration
// values that used to pass unchecked, and --resume with a changed configuration.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>

#include "pulmo/error.h"
#include "core/tempfile.h"
#include "io/dicom_grey.h"
#include "pulmo/fileutil.h"
#include "pulmo/io.h"
#include "pulmo/train.h"
#include "pulmo/train_config.h"
#include "support/raw_nifti.h"
#include "support/cxr_images.h"
#include "support/synthetic_dicom.h"
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

// ---- readers by class (issue 18): every format x every defect class ------------------------------------
// Each row makes one bad file and checks the documented exit code (docs/exit-codes.md, "Reader defects by
// class"), a message naming the file and the problem, and that nothing was written beside it.

namespace {

// 4 x 3 x 2 int16 voxels, little-endian.
std::string small_voxels() {
  std::vector<int16_t> v(24);
  for (int i = 0; i < 24; ++i) v[i] = static_cast<int16_t>(i * 50 - 600);
  return test::le_bytes(v);
}

// A MetaImage header; `extra` lines go before ElementDataFile.
std::string mha_header(const std::string& data_file, const std::string& extra = "",
                       const std::string& spacing = "0.8 0.8 2.5", const std::string& matrix = "1 0 0 0 1 0 0 0 1") {
  return "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\nTransformMatrix = " + matrix +
         "\nOffset = 0 0 0\nElementSpacing = " + spacing + "\nDimSize = 4 3 2\n" + extra +
         "ElementType = MET_SHORT\nElementDataFile = " + data_file + "\n";
}

std::string nrrd_header(const std::string& extra = "", const std::string& directions = "(0.8,0,0) (0,0.8,0) (0,0,2.5)") {
  return "NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 4 3 2\nspace directions: " +
         directions + "\nendian: little\nencoding: raw\nspace origin: (0,0,0)\n" + extra;
}

struct ReaderDefect {
  std::string format, defect;
  std::function<std::string(const TempDir&)> make;  // writes the bad file(s); returns the path to read
  ExitCode code;
  std::string message;                              // part of the message (the file is checked for too)
};

std::string write_series(const TempDir& tmp, int slices) {
  test::write_synthetic_series(tmp.file("series"), test::axial_stack(slices, 2.0));
  return tmp.file("series");
}
std::string first_slice(const TempDir& tmp) { return tmp.file("series/slice_000.dcm"); }

std::vector<ReaderDefect> reader_defects() {
  const std::string v = small_voxels();
  auto nifti = [](std::function<void(RawNifti&)> edit, const std::string& name) {
    return [edit, name](const TempDir& tmp) {
      RawNifti n = ramp_nifti(4);
      n.gzip = name.size() > 3 && name.substr(name.size() - 3) == ".gz";
      edit(n);
      test::write_raw_nifti(tmp.file(name), n);
      return tmp.file(name);
    };
  };
  auto cut = [](std::string& s) { s.resize(s.size() / 2); };
  std::vector<ReaderDefect> t;
  // data shorter than the header says
  for (const char* name : {"short.nii", "short.nii.gz"})
    t.push_back({name, "data cut short", nifti([cut](RawNifti& n) { cut(n.data); }, name), ExitCode::Unreadable, "truncated"});
  auto pair = [](std::function<void(RawNifti&)> edit) {
    return [edit](const TempDir& tmp) {
      RawNifti n = ramp_nifti(4);
      n.vox_offset = 0;
      edit(n);
      std::string h = test::raw_nifti_header(n);
      std::memcpy(&h[344], "ni1\0", 4);
      spit(tmp.file("pair.hdr"), h.substr(0, 348));
      spit(tmp.file("pair.img"), n.data);
      return tmp.file("pair.hdr");
    };
  };
  t.push_back({".hdr + .img", "image file cut short", pair([cut](RawNifti& n) { cut(n.data); }), ExitCode::Unreadable, "pair"});
  t.push_back({".hdr + .img", "pixdim 500", pair([](RawNifti& n) { n.pixdim[2] = 500; }), ExitCode::Unreadable, "spacing"});
  t.push_back({".mha", "data cut short", [=](const TempDir& tmp) {
                 spit(tmp.file("short.mha"), mha_header("LOCAL") + v.substr(0, 20));
                 return tmp.file("short.mha");
               }, ExitCode::Unreadable, "holds only 20 of 48"});
  t.push_back({".mhd + .raw", "raw file cut short", [=](const TempDir& tmp) {
                 spit(tmp.file("short.mhd"), mha_header("short.raw"));
                 spit(tmp.file("short.raw"), v.substr(0, 24));
                 return tmp.file("short.mhd");
               }, ExitCode::Unreadable, "holds only 24 of 48"});
  // data longer than the header says (padding, or a header whose sizes or type lie)
  for (const char* name : {"long.nii", "long.nii.gz"})
    t.push_back({name, "data padded", nifti([](RawNifti& n) { n.data += std::string(48, '\0'); }, name),
                 ExitCode::Unreadable, "bytes more than its header"});
  t.push_back({".mha", "data padded", [=](const TempDir& tmp) {
                 spit(tmp.file("long.mha"), mha_header("LOCAL") + v + v);
                 return tmp.file("long.mha");
               }, ExitCode::Unreadable, "48 bytes more"});
  t.push_back({".mhd + .raw", "raw file padded", [=](const TempDir& tmp) {
                 spit(tmp.file("long.mhd"), mha_header("long.raw"));
                 spit(tmp.file("long.raw"), v + "xx");
                 return tmp.file("long.mhd");
               }, ExitCode::Unreadable, "2 bytes more"});
  t.push_back({".mhd + .raw", "raw file missing", [=](const TempDir& tmp) {
                 spit(tmp.file("lost.mhd"), mha_header("lost.raw"));
                 return tmp.file("lost.mhd");
               }, ExitCode::Unreadable, "does not exist"});
  t.push_back({".nrrd", "data cut short", [=](const TempDir& tmp) {
                 spit(tmp.file("short.nrrd"), nrrd_header() + "\n" + v.substr(0, 20));
                 return tmp.file("short.nrrd");
               }, ExitCode::Unreadable, "short.nrrd"});
  t.push_back({".nhdr + .raw", "raw file cut short", [=](const TempDir& tmp) {
                 spit(tmp.file("short.nhdr"), nrrd_header("data file: short.raw\n"));
                 spit(tmp.file("short.raw"), v.substr(0, 20));
                 return tmp.file("short.nhdr");
               }, ExitCode::Unreadable, "short.nhdr"});
  t.push_back({"DICOM file", "pixel data cut short", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 std::string b = slurp(first_slice(tmp));
                 b.resize(b.size() - 100);
                 spit(first_slice(tmp), b);
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "slice_000.dcm"});
  // intensity scale
  t.push_back({"DICOM file", "Rescale Slope 0", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 test::set_dicom_tag(first_slice(tmp), 0x0028, 0x1053, "0");
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "Rescale Slope"});
  t.push_back({"DICOM series", "Rescale Slope 0 on one slice", [](const TempDir& tmp) {
                 write_series(tmp, 4);
                 test::set_dicom_tag(first_slice(tmp), 0x0028, 0x1053, "0");
                 return tmp.file("series");
               }, ExitCode::Unreadable, "Rescale Slope"});
  for (const char* bad : {"nan", "inf", "abc"})
    t.push_back({"DICOM file", std::string("Rescale Slope ") + bad, [bad](const TempDir& tmp) {
                   write_series(tmp, 1);
                   test::set_dicom_tag(first_slice(tmp), 0x0028, 0x1053, bad);
                   return first_slice(tmp);
                 }, ExitCode::Unreadable, "not a finite number"});
  t.push_back({"DICOM file", "Rescale Intercept NaN", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 test::set_dicom_tag(first_slice(tmp), 0x0028, 0x1052, "NaN");
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "Rescale Intercept"});
  t.push_back({"DICOM file", "Samples per Pixel as text (GDCM aborted)", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 test::set_dicom_tag(first_slice(tmp), 0x0028, 0x0002, "abc");
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "Samples per Pixel"});
  // geometry
  for (const float sp : {0.001f, 500.0f})
    for (const char* name : {"sp.nii", "sp.nii.gz"})
      t.push_back({name, "pixdim " + std::to_string(sp), nifti([sp](RawNifti& n) { n.pixdim[0] = sp; }, name),
                   ExitCode::Unreadable, "spacing"});
  for (const std::string sp : {"0 0.8 2.5", "0.8 0.8 -2", "0.8 0.005 2.5", "0.8 0.8 250", "nan 0.8 2.5"})
    t.push_back({".mha", "ElementSpacing " + sp, [=](const TempDir& tmp) {
                   spit(tmp.file("sp.mha"), mha_header("LOCAL", "", sp) + v);
                   return tmp.file("sp.mha");
                 }, ExitCode::Unreadable, "sp.mha"});
  for (const std::string m : {"1 0 0 1 0 0 0 0 1", "1 0.5 0 0 1 0 0 0 1", "2 0 0 0 1 0 0 0 1"})
    t.push_back({".mha", "TransformMatrix " + m, [=](const TempDir& tmp) {
                   spit(tmp.file("dir.mha"), mha_header("LOCAL", "", "0.8 0.8 2.5", m) + v);
                   return tmp.file("dir.mha");
                 }, ExitCode::Unreadable, "dir.mha"});
  for (const std::string d : {"(0,0,0) (0,0.8,0) (0,0,2.5)", "(0.8,0,0) (0.8,0.8,0) (0,0,2.5)", "(800,0,0) (0,0.8,0) (0,0,2.5)"})
    t.push_back({".nrrd", "space directions " + d, [=](const TempDir& tmp) {
                   spit(tmp.file("dir.nrrd"), nrrd_header("", d) + "\n" + v);
                   return tmp.file("dir.nrrd");
                 }, ExitCode::Unreadable, "dir.nrrd"});
  // types
  t.push_back({".mha", "RGB (3 channels)", [=](const TempDir& tmp) {
                 spit(tmp.file("rgb.mha"), mha_header("LOCAL", "ElementNumberOfChannels = 3\n") + v + v + v);
                 return tmp.file("rgb.mha");
               }, ExitCode::BadDimension, "components"});
  t.push_back({".nii", "complex64", nifti([](RawNifti& n) {
                 n.datatype = 32;
                 n.bitpix = 64;
                 n.data += n.data + n.data + n.data;
               }, "complex.nii"), ExitCode::BadDimension, "complex.nii"});
  return t;
}

}  // namespace

TEST(ReaderDefects, EveryFormatAndDefectClassHasItsExitCodeAMessageNamingTheFileAndWritesNothing) {
  for (const ReaderDefect& d : reader_defects()) {
    SCOPED_TRACE(d.format + ": " + d.defect);
    TempDir tmp;
    const std::string path = d.make(tmp);
    std::set<std::string> before;
    for (const auto& e : fs::recursive_directory_iterator(tmp.path())) before.insert(e.path().string());
    try {
      read_volume(path);
      ADD_FAILURE() << "read without an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), d.code) << e.what();
      EXPECT_NE(std::string(e.what()).find(d.message), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(fs::path(path).filename().string()), std::string::npos) << e.what();
    }
    std::set<std::string> after;
    for (const auto& e : fs::recursive_directory_iterator(tmp.path())) after.insert(e.path().string());
    EXPECT_EQ(before, after);
  }
}

TEST(ReaderDefects, ADicomRadiographWithAnImpossibleRescaleIsUnreadable) {
  TempDir tmp;
  for (const char* slope : {"0", "nan", "inf"}) {
    SCOPED_TRACE(slope);
    test::DicomSpec spec;
    spec.rescale_slope = slope;
    test::write_dicom_file(tmp.file("xray.dcm"), spec);
    expect_error([&] { io::read_dicom_grey(tmp.file("xray.dcm"), {}); }, ExitCode::Unreadable, "Rescale Slope");
  }
  test::DicomSpec spec;
  spec.rescale_slope = "1";
  test::write_dicom_file(tmp.file("xray.dcm"), spec);
  EXPECT_NO_THROW(io::read_dicom_grey(tmp.file("xray.dcm"), {}));
}
