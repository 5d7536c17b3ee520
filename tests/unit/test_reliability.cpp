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

#include <zlib.h>

#include "pulmo/cxr.h"
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
  std::string cls = "";                             // its class: a key of docs/exit-codes.md's class table
  bool require_3d = false;                          // read as a command that needs 3-D data
};

// Sets the class of the rows added since the last call.
struct ClassTagger {
  std::vector<ReaderDefect>& rows;
  size_t mark = 0;
  void operator()(const std::string& cls) {
    for (; mark < rows.size(); ++mark) rows[mark].cls = cls;
  }
};

// Replaces the 2-byte value of the first `tag` element (explicit VR "US", little endian) in a DICOM file.
void patch_dicom_us(const std::string& file, uint16_t group, uint16_t element, uint16_t value) {
  std::string b = slurp(file);
  std::string key(8, '\0');
  std::memcpy(&key[0], &group, 2);
  std::memcpy(&key[2], &element, 2);
  key.replace(4, 4, std::string("US\x02\x00", 4));  // explicit VR
  size_t at = b.find(key);
  if (at == std::string::npos) {                    // implicit VR: a 4-byte length
    key.replace(4, 4, std::string("\x02\x00\x00\x00", 4));
    at = b.find(key);
  }
  ASSERT_NE(at, std::string::npos) << "no US element in " << file;
  std::memcpy(&b[at + 8], &value, 2);
  spit(file, b);
}

// Sets the 4-byte length of the Pixel Data element (explicit VR "OW"/"OB", or implicit VR) of a DICOM file to
// `length`: an element claiming more bytes than the file holds (GDCM allocated such lengths, up to 4 GiB, before
// failing: a fuzzer finding).
void patch_pixel_data_length(const std::string& file, uint32_t length) {
  std::string b = slurp(file);
  const size_t at = b.rfind(std::string("\xe0\x7f\x10\x00", 4));
  ASSERT_NE(at, std::string::npos) << "no Pixel Data in " << file;
  const bool explicit_vr = b.compare(at + 4, 2, "OW") == 0 || b.compare(at + 4, 2, "OB") == 0;
  std::memcpy(&b[at + (explicit_vr ? 8 : 4)], &length, 4);
  spit(file, b);
}

// A NIfTI-1 header with its dim[] changed (dim[0] first) before the data.
std::string nifti_with_dims(RawNifti n, const std::vector<int16_t>& dims) {
  std::string h = test::raw_nifti_header(n);
  for (size_t k = 0; k < dims.size(); ++k) std::memcpy(&h[40 + 2 * k], &dims[k], 2);
  return h;
}

// A NIfTI-1 pair: `header` (a single-file header: its first 348 bytes, magic "ni1", vox_offset 0) as `name` (.hdr) and
// `data` as the .img beside it. Returns the .hdr's path.
std::string write_nifti_pair(const TempDir& tmp, const std::string& name, std::string header, const std::string& data) {
  const float zero = 0;
  std::memcpy(&header[108], &zero, 4);
  std::memcpy(&header[344], "ni1\0", 4);
  spit(tmp.file(name), header.substr(0, 348));
  spit(tmp.file(fs::path(name).replace_extension(".img").string()), data);
  return tmp.file(name);
}

// A NIfTI-1 file (ramp voxels) with its qform/sform codes and sform rows set (a .hdr + .img pair when `name` ends in
// .hdr): the qform is the identity rotation
// with pixdim 0.8 x 0.8 x 2.5 unless `edit` changes it. Gzipped when `name` ends in .gz.
std::function<std::string(const TempDir&)> nifti_with_sform(const std::string& name, int16_t qform_code, int16_t sform_code,
                                                            std::array<float, 12> srow,
                                                            std::function<void(RawNifti&)> edit = {}) {
  return [=](const TempDir& tmp) {
    RawNifti n = ramp_nifti(4);
    n.pixdim = {0.8f, 0.8f, 2.5f};
    if (edit) edit(n);
    std::string h = test::raw_nifti_header(n);
    std::memcpy(&h[252], &qform_code, 2);
    std::memcpy(&h[254], &sform_code, 2);
    std::memcpy(&h[280], srow.data(), sizeof(float) * 12);
    if (fs::path(name).extension() == ".hdr") return write_nifti_pair(tmp, name, h, n.data);
    const bool gz = name.size() > 3 && name.substr(name.size() - 3) == ".gz";
    spit(tmp.file(name), gz ? test::gzip_bytes(h + n.data) : h + n.data);
    return tmp.file(name);
  };
}

std::string write_series(const TempDir& tmp, int slices) {
  test::write_synthetic_series(tmp.file("series"), test::axial_stack(slices, 2.0));
  return tmp.file("series");
}
std::string first_slice(const TempDir& tmp) { return tmp.file("series/slice_000.dcm"); }

std::vector<ReaderDefect> reader_defects() {
  const std::string v = small_voxels();
  // A detached header (MetaImage .mhd, NRRD .nhdr) beside its raw data file of the right size.
  auto detached = [v](const std::string& header_name, const std::string& header, const std::string& raw_name) {
    return [=](const TempDir& tmp) {
      spit(tmp.file(header_name), header);
      spit(tmp.file(raw_name), v);
      return tmp.file(header_name);
    };
  };
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
  ClassTagger tag{t};
  // data shorter than the header says
  for (const char* name : {"short.nii", "short.nii.gz"})
    t.push_back({name, "data cut short", nifti([cut](RawNifti& n) { cut(n.data); }, name), ExitCode::Unreadable, "truncated"});
  // a NIfTI-1 pair (pair.hdr + pair.img); `dims` (dim[0] first), when given, replace the header's dim[]
  auto pair = [](std::function<void(RawNifti&)> edit, std::vector<int16_t> dims = {}) {
    return [edit, dims](const TempDir& tmp) {
      RawNifti n = ramp_nifti(4);
      edit(n);
      return write_nifti_pair(tmp, "pair.hdr", dims.empty() ? test::raw_nifti_header(n) : nifti_with_dims(n, dims), n.data);
    };
  };
  t.push_back({".hdr + .img", "image file cut short", pair([cut](RawNifti& n) { cut(n.data); }), ExitCode::Unreadable, "pair"});
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
  t.push_back({"DICOM series", "one slice's pixel data cut short", [](const TempDir& tmp) {
                 write_series(tmp, 4);
                 std::string b = slurp(tmp.file("series/slice_002.dcm"));
                 b.resize(b.size() - 100);
                 spit(tmp.file("series/slice_002.dcm"), b);
                 return tmp.file("series");
               }, ExitCode::Unreadable, "truncated"});
  t.push_back({".hdr + .img", "image file missing", [](const TempDir& tmp) {
                 RawNifti n = ramp_nifti(4);
                 n.vox_offset = 0;
                 std::string h = test::raw_nifti_header(n);
                 std::memcpy(&h[344], "ni1\0", 4);
                 spit(tmp.file("lone.hdr"), h.substr(0, 348));
                 return tmp.file("lone.hdr");
               }, ExitCode::Unreadable, "does not exist"});
  t.push_back({".hdr + .img", "image file padded", pair([](RawNifti& n) { n.data += "pad"; }), ExitCode::Unreadable, "padded"});
  t.push_back({".nrrd", "data padded", [=](const TempDir& tmp) {
                 spit(tmp.file("long.nrrd"), nrrd_header() + "\n" + v + v);
                 return tmp.file("long.nrrd");
               }, ExitCode::Unreadable, "bytes more"});
  t.push_back({".nhdr + .raw", "raw file padded", [=](const TempDir& tmp) {
                 spit(tmp.file("long.nhdr"), nrrd_header("data file: long.raw\n"));
                 spit(tmp.file("long.raw"), v + v);
                 return tmp.file("long.nhdr");
               }, ExitCode::Unreadable, "bytes more"});
  t.push_back({".nhdr + .raw", "raw file missing", [=](const TempDir& tmp) {
                 spit(tmp.file("lost.nhdr"), nrrd_header("data file: lost.raw\n"));
                 return tmp.file("lost.nhdr");
               }, ExitCode::Unreadable, "lost.nhdr"});
  t.push_back({".nrrd (gzip)", "compressed stream ending early", [=](const TempDir& tmp) {
                 std::string z = test::gzip_bytes(v);
                 std::string h = nrrd_header();
                 h.replace(h.find("encoding: raw"), 13, "encoding: gzip");
                 spit(tmp.file("cut.nrrd"), h + "\n" + z.substr(0, z.size() / 2));
                 return tmp.file("cut.nrrd");
               }, ExitCode::Unreadable, "cut.nrrd"});
  t.push_back({".mha (compressed)", "compressed stream ending early", [=](const TempDir& tmp) {
                 uLongf zlen = compressBound(v.size());  // a zlib stream, as MetaImage stores it
                 std::string z(zlen, '\0');
                 compress2(reinterpret_cast<Bytef*>(&z[0]), &zlen, reinterpret_cast<const Bytef*>(v.data()), v.size(), 6);
                 z.resize(zlen);
                 spit(tmp.file("cut.mha"), mha_header("LOCAL", "CompressedData = True\n") + z.substr(0, z.size() / 2));
                 return tmp.file("cut.mha");
               }, ExitCode::Unreadable, "cut.mha"});
  t.push_back({".nii.gz", "compressed stream ending early", [](const TempDir& tmp) {
                 RawNifti n = ramp_nifti(4);
                 n.gzip = true;
                 test::write_raw_nifti(tmp.file("cut.nii.gz"), n);
                 std::string b = slurp(tmp.file("cut.nii.gz"));
                 b.resize(b.size() - 12);  // the trailer and the last bytes of the deflate stream
                 spit(tmp.file("cut.nii.gz"), b);
                 return tmp.file("cut.nii.gz");
               }, ExitCode::Unreadable, "truncated"});
  // an element claiming gigabytes the file does not hold (fuzzer findings: GDCM allocated them first)
  t.push_back({"DICOM file", "an element claiming 4 GB", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 patch_pixel_data_length(first_slice(tmp), 0xF0000000u);
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "remain in the file"});
  t.push_back({"DICOM series", "an element claiming 4 GB in every slice", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 for (int i = 0; i < 3; ++i) patch_pixel_data_length(tmp.file("series/slice_00" + std::to_string(i) + ".dcm"), 0xF0000000u);
                 return tmp.file("series");
               }, ExitCode::Unreadable, "truncated"});
  // pixel data longer than Rows x Columns x Bits (Rows halved: an image cut from a larger one)
  t.push_back({"DICOM file", "pixel data longer than Rows x Columns x Bits", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 patch_dicom_us(first_slice(tmp), 0x0028, 0x0010, 8);  // 16 rows written
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "more than the"});
  t.push_back({"DICOM series", "pixel data longer than Rows x Columns x Bits", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 for (int i = 0; i < 3; ++i) patch_dicom_us(tmp.file("series/slice_00" + std::to_string(i) + ".dcm"), 0x0028, 0x0010, 8);
                 return tmp.file("series");
               }, ExitCode::Unreadable, "more than the"});
  tag("data-length");
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
  for (const char* bad : {"nan", "inf"})
    for (const char* name : {"scale.nii", "scale.nii.gz"})
      t.push_back({name, std::string("scl_slope ") + bad, nifti([bad](RawNifti& n) { n.scl_slope = std::strtof(bad, nullptr); }, name),
                   ExitCode::Unreadable, "intensity scale"});
  t.push_back({".nii", "scl_inter infinite", nifti([](RawNifti& n) {
                 n.scl_slope = 1;
                 n.scl_inter = -std::numeric_limits<float>::infinity();
               }, "inter.nii"), ExitCode::Unreadable, "intensity scale"});
  // values that overflow the voxel type (float32) once scaled
  t.push_back({".nii", "scl_slope 1e38 (overflows float32)", nifti([](RawNifti& n) { n.scl_slope = 1e38f; }, "big.nii"),
               ExitCode::Unreadable, "NaN or infinite voxel"});
  t.push_back({"DICOM file", "Rescale Slope 1e300 (overflows float32)", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 test::set_dicom_tag(first_slice(tmp), 0x0028, 0x1053, "1e300");
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "NaN or infinite voxel"});
  t.push_back({"DICOM series", "Rescale Slope 1e300 on one slice", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 test::set_dicom_tag(tmp.file("series/slice_001.dcm"), 0x0028, 0x1053, "1e300");
                 return tmp.file("series");
               }, ExitCode::Unreadable, "NaN or infinite voxel"});
  // NaN or infinite floating-point voxels: every format, one check (the NIfTI reader would make them 0)
  auto float_voxels = [](float bad) {
    std::vector<float> f(24, -500.0f);
    f[7] = bad;
    return std::string(reinterpret_cast<const char*>(f.data()), f.size() * 4);
  };
  t.push_back({".mha", "a NaN voxel (float)", [=](const TempDir& tmp) {
                 std::string h = mha_header("LOCAL");
                 h.replace(h.find("MET_SHORT"), 9, "MET_FLOAT");
                 spit(tmp.file("nan.mha"), h + float_voxels(std::nanf("")));
                 return tmp.file("nan.mha");
               }, ExitCode::Unreadable, "NaN or infinite voxel"});
  t.push_back({".nrrd", "an infinite voxel (float)", [=](const TempDir& tmp) {
                 std::string h = nrrd_header();
                 h.replace(h.find("type: short"), 11, "type: float");
                 spit(tmp.file("inf.nrrd"), h + "\n" + float_voxels(std::numeric_limits<float>::infinity()));
                 return tmp.file("inf.nrrd");
               }, ExitCode::Unreadable, "NaN or infinite voxel"});
  t.push_back({".nii", "a NaN voxel (float32)", nifti([=](RawNifti& n) {
                 n.datatype = 16;
                 n.bitpix = 32;
                 n.data = float_voxels(std::nanf(""));
               }, "nan.nii"), ExitCode::Unreadable, "NaN or infinite"});
  for (const char* bad : {"NaN", "-inf", "abc"})
    t.push_back({"DICOM series", std::string("Rescale Slope ") + bad + " on one slice", [bad](const TempDir& tmp) {
                   write_series(tmp, 4);
                   test::set_dicom_tag(tmp.file("series/slice_002.dcm"), 0x0028, 0x1053, bad);
                   return tmp.file("series");
                 }, ExitCode::Unreadable, "slice_002.dcm"});
  t.push_back({"DICOM series", "Rescale Intercept infinite on one slice", [](const TempDir& tmp) {
                 write_series(tmp, 4);
                 test::set_dicom_tag(tmp.file("series/slice_003.dcm"), 0x0028, 0x1052, "inf");
                 return tmp.file("series");
               }, ExitCode::Unreadable, "Rescale Intercept"});
  // a LUT the volume reader would not apply: the values would be stored values
  t.push_back({"DICOM file", "Modality LUT Sequence (not applied by the volume reader)", [](const TempDir& tmp) {
                 test::DicomSpec spec;
                 spec.modality = "CT";
                 spec.modality_lut = test::DicomLut{4, 0, 16, "US", {0, 100, 200, 300}};
                 test::write_dicom_file(tmp.file("lut.dcm"), spec);
                 return tmp.file("lut.dcm");
               }, ExitCode::Unreadable, "Modality LUT Sequence"});
  t.push_back({"DICOM series", "Modality LUT Sequence in one slice", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 test::DicomSpec spec;
                 spec.modality = "CT";
                 spec.modality_lut = test::DicomLut{4, 0, 16, "US", {0, 100, 200, 300}};
                 test::write_dicom_file(tmp.file("lut.dcm"), spec);
                 test::copy_dicom_element(tmp.file("lut.dcm"), tmp.file("series/slice_001.dcm"), 0x0028, 0x3000);
                 fs::remove(tmp.file("lut.dcm"));
                 return tmp.file("series");
               }, ExitCode::Unreadable, "Modality LUT Sequence"});
  // the same classes in the formats rows above left out (a .hdr + .img pair was read without any of the header's
  // checks of a single file)
  t.push_back({".hdr + .img", "scl_slope NaN", pair([](RawNifti& n) { n.scl_slope = std::nanf(""); }), ExitCode::Unreadable,
               "intensity scale"});
  t.push_back({".hdr + .img", "scl_inter infinite", pair([](RawNifti& n) {
                 n.scl_slope = 1;
                 n.scl_inter = std::numeric_limits<float>::infinity();
               }), ExitCode::Unreadable, "intensity scale"});
  t.push_back({".nii.gz", "scl_inter infinite", nifti([](RawNifti& n) {
                 n.scl_slope = 1;
                 n.scl_inter = std::numeric_limits<float>::infinity();
               }, "inter.nii.gz"), ExitCode::Unreadable, "intensity scale"});
  t.push_back({".hdr + .img", "scl_slope 1e38 (overflows float32)", pair([](RawNifti& n) { n.scl_slope = 1e38f; }),
               ExitCode::Unreadable, "NaN or infinite voxel"});
  t.push_back({".hdr + .img", "a NaN voxel (float32)", pair([=](RawNifti& n) {
                 n.datatype = 16;
                 n.bitpix = 32;
                 n.data = float_voxels(std::nanf(""));
               }), ExitCode::Unreadable, "NaN or infinite"});
  t.push_back({".nii.gz", "an infinite voxel (float32)", nifti([=](RawNifti& n) {
                 n.datatype = 16;
                 n.bitpix = 32;
                 n.data = float_voxels(-std::numeric_limits<float>::infinity());
               }, "inf.nii.gz"), ExitCode::Unreadable, "NaN or infinite"});
  t.push_back({".mhd + .raw", "an infinite voxel (float)", [=](const TempDir& tmp) {
                 std::string h = mha_header("inf.raw");
                 h.replace(h.find("MET_SHORT"), 9, "MET_FLOAT");
                 spit(tmp.file("inf.mhd"), h);
                 spit(tmp.file("inf.raw"), float_voxels(std::numeric_limits<float>::infinity()));
                 return tmp.file("inf.mhd");
               }, ExitCode::Unreadable, "NaN or infinite voxel"});
  t.push_back({".nhdr + .raw", "a NaN voxel (float)", [=](const TempDir& tmp) {
                 std::string h = nrrd_header("data file: nan.raw\n");
                 h.replace(h.find("type: short"), 11, "type: float");
                 spit(tmp.file("nan.nhdr"), h);
                 spit(tmp.file("nan.raw"), float_voxels(std::nanf("")));
                 return tmp.file("nan.nhdr");
               }, ExitCode::Unreadable, "NaN or infinite voxel"});
  t.push_back({"DICOM series", "Rescale Slope 0 on every slice", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 for (int i = 0; i < 3; ++i) test::set_dicom_tag(tmp.file("series/slice_00" + std::to_string(i) + ".dcm"), 0x0028, 0x1053, "0");
                 return tmp.file("series");
               }, ExitCode::Unreadable, "Rescale Slope"});
  tag("intensity-scale");
  t.push_back({"DICOM file", "Samples per Pixel as text (GDCM aborted)", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 test::set_dicom_tag(first_slice(tmp), 0x0028, 0x0002, "abc");
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "Samples per Pixel"});
  tag("header-values");
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
  t.push_back({".mhd + .raw", "ElementSpacing 0",
               detached("sp.mhd", mha_header("sp.raw", "", "0.8 0 2.5"), "sp.raw"),
               ExitCode::Unreadable, "sp.mhd"});
  t.push_back({".nhdr + .raw", "space directions with a zero axis",
               detached("dir.nhdr", nrrd_header("data file: dir.raw\n", "(0.8,0,0) (0,0,0) (0,0,2.5)"), "dir.raw"),
               ExitCode::Unreadable, "dir.nhdr"});
  t.push_back({"DICOM file", "Pixel Spacing 500 mm", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 test::set_dicom_tag(first_slice(tmp), 0x0028, 0x0030, "500\\500");
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "spacing"});
  t.push_back({"DICOM file", "Image Orientation not orthonormal", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 test::set_dicom_tag(first_slice(tmp), 0x0020, 0x0037, "1\\0\\0\\0.7\\0.7\\0");
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "orthonormal"});
  t.push_back({"DICOM series", "Pixel Spacing 500 mm", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 for (int i = 0; i < 3; ++i)
                   test::set_dicom_tag(tmp.file("series/slice_00" + std::to_string(i) + ".dcm"), 0x0028, 0x0030, "500\\500");
                 return tmp.file("series");
               }, ExitCode::Unreadable, "spacing"});
  t.push_back({"DICOM series", "Pixel Spacing 0", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 for (int i = 0; i < 3; ++i)
                   test::set_dicom_tag(tmp.file("series/slice_00" + std::to_string(i) + ".dcm"), 0x0028, 0x0030, "0\\0");
                 return tmp.file("series");
               }, ExitCode::BadSeries, "PixelSpacing"});
  t.push_back({".hdr + .img", "pixdim 500", pair([](RawNifti& n) { n.pixdim[2] = 500; }), ExitCode::Unreadable, "spacing"});
  // an sform (sform_code > 0 takes precedence) that is no rotation of the voxel axes: ITK 5.2 would read the qform
  // instead without a word, nibabel the shear
  for (const char* name : {"shear.nii", "shear.nii.gz"})
    t.push_back({name, "sform sheared (x axis leaning 32 degrees towards z)",
                 nifti_with_sform(name, 1, 1, {0.8f, 0, 0, 0, 0, 0.8f, 0, 0, 0.5f, 0, 2.5f, 0}), ExitCode::Unreadable,
                 "not perpendicular"});
  t.push_back({".nii", "sform singular (a zero column)", nifti_with_sform("flat.nii", 1, 2, {0.8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2.5f, 0}),
               ExitCode::Unreadable, "singular"});
  t.push_back({".nii.gz", "sform voxel sizes that are not pixdim's, no qform",
               nifti_with_sform("size.nii.gz", 0, 1, {1.0f, 0, 0, 0, 0, 1.0f, 0, 0, 0, 0, 2.5f, 0}), ExitCode::Unreadable,
               "pixdim[1] says 0.8"});
  // the same classes in the formats rows above left out
  t.push_back({".hdr + .img", "pixdim 0", pair([](RawNifti& n) { n.pixdim[1] = 0; }), ExitCode::Unreadable, "pixdim[2]"});
  t.push_back({".hdr + .img", "sform sheared", nifti_with_sform("shear.hdr", 1, 1, {0.8f, 0, 0, 0, 0, 0.8f, 0, 0, 0.5f, 0, 2.5f, 0}),
               ExitCode::Unreadable, "not perpendicular"});
  t.push_back({".hdr + .img", "sform not finite", nifti_with_sform("nan.hdr", 1, 1, {std::nanf(""), 0, 0, 0, 0, 0.8f, 0, 0, 0, 0, 2.5f, 0}),
               ExitCode::Unreadable, "not finite"});
  t.push_back({".nii", "pixdim NaN", nifti([](RawNifti& n) { n.pixdim[2] = std::nanf(""); }, "nan.nii"), ExitCode::Unreadable,
               "pixdim[3]"});
  t.push_back({".nii.gz", "pixdim infinite", nifti([](RawNifti& n) { n.pixdim[0] = std::numeric_limits<float>::infinity(); }, "inf.nii.gz"),
               ExitCode::Unreadable, "pixdim[1]"});
  t.push_back({".nii.gz", "sform singular (a zero column)",
               nifti_with_sform("flat.nii.gz", 1, 2, {0.8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2.5f, 0}), ExitCode::Unreadable, "singular"});
  t.push_back({".mhd + .raw", "TransformMatrix singular",
               detached("dir.mhd", mha_header("dir.raw", "", "0.8 0.8 2.5", "1 0 0 1 0 0 0 0 1"), "dir.raw"),
               ExitCode::Unreadable, "dir.mhd"});
  t.push_back({".mhd + .raw", "ElementSpacing 250 (absurd)",
               detached("big.mhd", mha_header("big.raw", "", "0.8 0.8 250"), "big.raw"),
               ExitCode::Unreadable, "big.mhd"});
  t.push_back({".nhdr + .raw", "space directions sheared",
               detached("shear.nhdr", nrrd_header("data file: shear.raw\n", "(0.8,0,0) (0.8,0.8,0) (0,0,2.5)"), "shear.raw"),
               ExitCode::Unreadable, "shear.nhdr"});
  t.push_back({".nrrd", "space directions with a NaN", [=](const TempDir& tmp) {
                 spit(tmp.file("nan.nrrd"), nrrd_header("", "(nan,0,0) (0,0.8,0) (0,0,2.5)") + "\n" + v);
                 return tmp.file("nan.nrrd");
               }, ExitCode::Unreadable, "nan.nrrd"});
  for (const char* sp : {"0\\0", "-0.7\\-0.7", "0.005\\0.005"})
    t.push_back({"DICOM file", std::string("Pixel Spacing ") + sp, [sp](const TempDir& tmp) {
                   write_series(tmp, 1);
                   test::set_dicom_tag(first_slice(tmp), 0x0028, 0x0030, sp);
                   return first_slice(tmp);
                 }, ExitCode::Unreadable, "slice_000.dcm"});
  t.push_back({"DICOM series", "Image Orientation not orthonormal", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 for (int i = 0; i < 3; ++i)
                   test::set_dicom_tag(tmp.file("series/slice_00" + std::to_string(i) + ".dcm"), 0x0020, 0x0037, "1\\0\\0\\0.7\\0.7\\0");
                 return tmp.file("series");
               }, ExitCode::BadSeries, "orthonormal"});
  tag("geometry");
  // slice positions that disagree with each other: the series geometry is refused (a disagreeing Spacing Between
  // Slices is a warning: ReaderWarnings)
  auto series_at = [](std::vector<double> z, const std::string& name) {
    return [z, name](const TempDir& tmp) {
      auto slices = test::axial_stack(int(z.size()), 2.0);
      for (size_t i = 0; i < z.size(); ++i) slices[i].position[2] = z[i];
      test::write_synthetic_series(tmp.file(name), slices);
      return tmp.file(name);
    };
  };
  t.push_back({"DICOM series", "a missing slice", series_at({0, 2, 4, 8, 10}, "missing"), ExitCode::BadSeries, "missing"});
  t.push_back({"DICOM series", "uneven gaps", series_at({0, 2, 4, 7, 9}, "uneven"), ExitCode::BadSeries, "irregular"});
  t.push_back({"DICOM series", "two slices at one position", series_at({0, 2, 2, 4}, "twice"), ExitCode::BadSeries,
               "same position"});
  t.push_back({"DICOM series", "gantry tilt", [](const TempDir& tmp) {
                 auto slices = test::axial_stack(4, 2.0);
                 for (size_t i = 0; i < slices.size(); ++i) slices[i].position[1] = 0.5 * double(i);
                 test::write_synthetic_series(tmp.file("tilt"), slices);
                 return tmp.file("tilt");
               }, ExitCode::BadSeries, "tilt"});
  tag("slice-positions");
  // dimensions that overflow: the header claims more voxels than the file (or memory) can hold
  t.push_back({".nii", "dim 32767 x 32767 x 32767", [](const TempDir& tmp) {
                 RawNifti n = ramp_nifti(4);
                 spit(tmp.file("huge.nii"), nifti_with_dims(n, {3, 32767, 32767, 32767}) + n.data);
                 return tmp.file("huge.nii");
               }, ExitCode::Unreadable, "truncated"});
  t.push_back({".mha", "DimSize 1e6 x 1e6 x 1e6", [=](const TempDir& tmp) {
                 std::string h = mha_header("LOCAL");
                 h.replace(h.find("DimSize = 4 3 2"), 15, "DimSize = 1000000 1000000 1000000");
                 spit(tmp.file("huge.mha"), h + v);
                 return tmp.file("huge.mha");
               }, ExitCode::Unreadable, "huge.mha"});
  t.push_back({".mhd + .raw", "DimSize 1e7 x 1e7 x 1e7", [=](const TempDir& tmp) {
                 std::string h = mha_header("huge.raw");
                 h.replace(h.find("DimSize = 4 3 2"), 15, "DimSize = 10000000 10000000 10000000");
                 spit(tmp.file("huge.mhd"), h);
                 spit(tmp.file("huge.raw"), v);
                 return tmp.file("huge.mhd");
               }, ExitCode::Unreadable, "huge.mhd"});
  t.push_back({".nrrd", "sizes 1e6 x 1e6 x 1e6", [=](const TempDir& tmp) {
                 std::string h = nrrd_header();
                 h.replace(h.find("sizes: 4 3 2"), 12, "sizes: 1000000 1000000 1000000");
                 spit(tmp.file("huge.nrrd"), h + "\n" + v);
                 return tmp.file("huge.nrrd");
               }, ExitCode::Unreadable, "huge.nrrd"});
  t.push_back({".nhdr + .raw", "sizes 1e7 x 1e7 x 1e7 (wraps a 64-bit byte count)", [=](const TempDir& tmp) {
                 std::string h = nrrd_header("data file: huge.raw\n");
                 h.replace(h.find("sizes: 4 3 2"), 12, "sizes: 10000000 10000000 10000000");
                 spit(tmp.file("huge.nhdr"), h);
                 spit(tmp.file("huge.raw"), v);
                 return tmp.file("huge.nhdr");
               }, ExitCode::Unreadable, "huge.nhdr"});
  t.push_back({"DICOM file", "Rows and Columns 65535", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 patch_dicom_us(first_slice(tmp), 0x0028, 0x0010, 65535);
                 patch_dicom_us(first_slice(tmp), 0x0028, 0x0011, 65535);
                 return first_slice(tmp);
               }, ExitCode::Unreadable, "slice_000.dcm"});
  t.push_back({".nii.gz", "dim 32767 x 32767 x 32767", [](const TempDir& tmp) {
                 RawNifti n = ramp_nifti(4);
                 spit(tmp.file("huge.nii.gz"), test::gzip_bytes(nifti_with_dims(n, {3, 32767, 32767, 32767}) + n.data));
                 return tmp.file("huge.nii.gz");
               }, ExitCode::Unreadable, "truncated"});
  t.push_back({".hdr + .img", "dim 32767 x 32767 x 32767", pair([](RawNifti&) {}, {3, 32767, 32767, 32767}),
               ExitCode::Unreadable, "truncated"});
  t.push_back({"DICOM series", "Rows and Columns 65535 on every slice", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 for (int i = 0; i < 3; ++i) {
                   patch_dicom_us(tmp.file("series/slice_00" + std::to_string(i) + ".dcm"), 0x0028, 0x0010, 65535);
                   patch_dicom_us(tmp.file("series/slice_00" + std::to_string(i) + ".dcm"), 0x0028, 0x0011, 65535);
                 }
                 return tmp.file("series");
               }, ExitCode::Unreadable, "65535x65535"});
  tag("dimension-overflow");
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
  t.push_back({".nii", "RGB24", nifti([](RawNifti& n) {
                 n.datatype = 128;
                 n.bitpix = 24;
                 n.data = std::string(72, '\x40');
               }, "rgb.nii"), ExitCode::BadDimension, "components"});
  t.push_back({".nii", "4-D (two volumes)", [](const TempDir& tmp) {
                 RawNifti n = ramp_nifti(4);
                 spit(tmp.file("4d.nii"), nifti_with_dims(n, {4, 4, 3, 2, 2}) + n.data + n.data);
                 return tmp.file("4d.nii");
               }, ExitCode::BadDimension, "4-D"});
  t.push_back({".mha", "4-D (two volumes)", [=](const TempDir& tmp) {
                 spit(tmp.file("4d.mha"), "ObjectType = Image\nNDims = 4\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
                                          "ElementSpacing = 0.8 0.8 2.5 1\nDimSize = 4 3 2 2\nElementType = MET_SHORT\n"
                                          "ElementDataFile = LOCAL\n" + v + v);
                 return tmp.file("4d.mha");
               }, ExitCode::BadDimension, "4-D"});
  t.push_back({".nrrd", "RGB (3 components)", [=](const TempDir& tmp) {
                 spit(tmp.file("rgb.nrrd"), "NRRD0004\ntype: short\ndimension: 4\nspace: left-posterior-superior\n"
                                            "sizes: 3 4 3 2\nkinds: RGB-color domain domain domain\n"
                                            "space directions: none (0.8,0,0) (0,0.8,0) (0,0,2.5)\nendian: little\n"
                                            "encoding: raw\nspace origin: (0,0,0)\n\n" + v + v + v);
                 return tmp.file("rgb.nrrd");
               }, ExitCode::BadDimension, "components"});
  // colour where a grey CT is expected: every volume reader (the series reader converted RGB slices to grey before)
  t.push_back({"DICOM file", "colour (RGB, 3 samples per pixel)", [](const TempDir& tmp) {
                 write_series(tmp, 1);
                 test::make_dicom_colour(first_slice(tmp));
                 return first_slice(tmp);
               }, ExitCode::BadDimension, "colour"});
  t.push_back({"DICOM series", "colour (RGB) slices", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 for (int i = 0; i < 3; ++i) test::make_dicom_colour(tmp.file("series/slice_00" + std::to_string(i) + ".dcm"));
                 return tmp.file("series");
               }, ExitCode::BadDimension, "colour"});
  t.push_back({"DICOM series", "one colour (RGB) slice among grey ones", [](const TempDir& tmp) {
                 write_series(tmp, 3);
                 test::make_dicom_colour(tmp.file("series/slice_001.dcm"));
                 return tmp.file("series");
               }, ExitCode::BadDimension, "slice_001.dcm"});
  t.push_back({".nii.gz", "RGB24", nifti([](RawNifti& n) {
                 n.datatype = 128;
                 n.bitpix = 24;
                 n.data = std::string(72, '\x40');
               }, "rgb.nii.gz"), ExitCode::BadDimension, "components"});
  t.push_back({".nhdr + .raw", "RGB (3 components)", [=](const TempDir& tmp) {
                 spit(tmp.file("rgb.nhdr"), "NRRD0004\ntype: short\ndimension: 4\nspace: left-posterior-superior\n"
                                            "sizes: 3 4 3 2\nkinds: RGB-color domain domain domain\n"
                                            "space directions: none (0.8,0,0) (0,0.8,0) (0,0,2.5)\nendian: little\n"
                                            "encoding: raw\nspace origin: (0,0,0)\ndata file: rgb.raw\n");
                 spit(tmp.file("rgb.raw"), v + v + v);
                 return tmp.file("rgb.nhdr");
               }, ExitCode::BadDimension, "components"});
  t.push_back({".mhd + .raw", "RGB (3 channels)", [=](const TempDir& tmp) {
                 spit(tmp.file("rgb.mhd"), mha_header("rgb.raw", "ElementNumberOfChannels = 3\n"));
                 spit(tmp.file("rgb.raw"), v + v + v);
                 return tmp.file("rgb.mhd");
               }, ExitCode::BadDimension, "components"});
  t.push_back({".hdr + .img", "RGB24", pair([](RawNifti& n) {
                 n.datatype = 128;
                 n.bitpix = 24;
                 n.data = std::string(72, '\x40');
               }), ExitCode::BadDimension, "components"});
  t.push_back({".hdr + .img", "complex64", pair([](RawNifti& n) {
                 n.datatype = 32;
                 n.bitpix = 64;
                 n.data += n.data + n.data + n.data;
               }), ExitCode::BadDimension, "pair.hdr"});
  t.push_back({".nii.gz", "complex64", nifti([](RawNifti& n) {
                 n.datatype = 32;
                 n.bitpix = 64;
                 n.data += n.data + n.data + n.data;
               }, "complex.nii.gz"), ExitCode::BadDimension, "complex.nii.gz"});
  t.push_back({".hdr + .img", "4-D (two volumes)", pair([](RawNifti& n) { n.data += n.data; }, {4, 4, 3, 2, 2}),
               ExitCode::BadDimension, "4-D"});
  t.push_back({".nii.gz", "4-D (two volumes)", [](const TempDir& tmp) {
                 RawNifti n = ramp_nifti(4);
                 spit(tmp.file("4d.nii.gz"), test::gzip_bytes(nifti_with_dims(n, {4, 4, 3, 2, 2}) + n.data + n.data));
                 return tmp.file("4d.nii.gz");
               }, ExitCode::BadDimension, "4-D"});
  t.push_back({".mhd + .raw", "4-D (two volumes)", [=](const TempDir& tmp) {
                 spit(tmp.file("4d.mhd"), "ObjectType = Image\nNDims = 4\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
                                          "ElementSpacing = 0.8 0.8 2.5 1\nDimSize = 4 3 2 2\nElementType = MET_SHORT\n"
                                          "ElementDataFile = 4d.raw\n");
                 spit(tmp.file("4d.raw"), v + v);
                 return tmp.file("4d.mhd");
               }, ExitCode::BadDimension, "4-D"});
  const std::string nrrd_4d = "NRRD0004\ntype: short\ndimension: 4\nspace: left-posterior-superior-time\nsizes: 4 3 2 2\n"
                              "space directions: (0.8,0,0,0) (0,0.8,0,0) (0,0,2.5,0) (0,0,0,1)\nendian: little\n"
                              "encoding: raw\nspace origin: (0,0,0,0)\n";
  t.push_back({".nrrd", "4-D (two volumes)", [=](const TempDir& tmp) {
                 spit(tmp.file("4d.nrrd"), nrrd_4d + "\n" + v + v);
                 return tmp.file("4d.nrrd");
               }, ExitCode::BadDimension, "4-D"});
  t.push_back({".nhdr + .raw", "4-D (two volumes)", [=](const TempDir& tmp) {
                 spit(tmp.file("4d.nhdr"), nrrd_4d + "data file: 4d.raw\n");
                 spit(tmp.file("4d.raw"), v + v);
                 return tmp.file("4d.nhdr");
               }, ExitCode::BadDimension, "4-D"});
  t.push_back({".nrrd", "complex (2 components)", [=](const TempDir& tmp) {
                 spit(tmp.file("complex.nrrd"), "NRRD0004\ntype: short\ndimension: 4\nspace: left-posterior-superior\n"
                                                "sizes: 2 4 3 2\nkinds: complex domain domain domain\n"
                                                "space directions: none (0.8,0,0) (0,0.8,0) (0,0,2.5)\nendian: little\n"
                                                "encoding: raw\nspace origin: (0,0,0)\n\n" + v + v);
                 return tmp.file("complex.nrrd");
               }, ExitCode::BadDimension, "components"});
  tag("types");
  // one voxel: an image (read as such), but never 3-D data
  t.push_back({".nii", "1 voxel where 3-D is required", [](const TempDir& tmp) {
                 RawNifti n = ramp_nifti(4);
                 n.dim = {1, 1, 1};
                 n.data = n.data.substr(0, 2);
                 test::write_raw_nifti(tmp.file("one.nii"), n);
                 return tmp.file("one.nii");
               }, ExitCode::BadDimension, "single slice", "", true});
  t.push_back({".mha", "1 voxel where 3-D is required", [=](const TempDir& tmp) {
                 std::string h = mha_header("LOCAL");
                 h.replace(h.find("DimSize = 4 3 2"), 15, "DimSize = 1 1 1");
                 spit(tmp.file("one.mha"), h + v.substr(0, 2));
                 return tmp.file("one.mha");
               }, ExitCode::BadDimension, "single slice", "", true});
  t.push_back({"DICOM file", "1 x 1 pixel slice where 3-D is required", [](const TempDir& tmp) {
                 test::DicomSpec spec;
                 spec.modality = "CT";
                 spec.width = spec.height = 1;
                 spec.stored = {24};
                 test::write_dicom_file(tmp.file("one.dcm"), spec);
                 return tmp.file("one.dcm");
               }, ExitCode::BadDimension, "single slice", "", true});
  t.push_back({".nii.gz", "1 voxel where 3-D is required", [](const TempDir& tmp) {
                 RawNifti n = ramp_nifti(4);
                 n.dim = {1, 1, 1};
                 n.data = n.data.substr(0, 2);
                 n.gzip = true;
                 test::write_raw_nifti(tmp.file("one.nii.gz"), n);
                 return tmp.file("one.nii.gz");
               }, ExitCode::BadDimension, "single slice", "", true});
  t.push_back({".hdr + .img", "1 voxel where 3-D is required", pair([](RawNifti& n) {
                 n.dim = {1, 1, 1};
                 n.data = n.data.substr(0, 2);
               }), ExitCode::BadDimension, "single slice", "", true});
  t.push_back({".mhd + .raw", "1 voxel where 3-D is required", [=](const TempDir& tmp) {
                 std::string h = mha_header("one.raw");
                 h.replace(h.find("DimSize = 4 3 2"), 15, "DimSize = 1 1 1");
                 spit(tmp.file("one.mhd"), h);
                 spit(tmp.file("one.raw"), v.substr(0, 2));
                 return tmp.file("one.mhd");
               }, ExitCode::BadDimension, "single slice", "", true});
  t.push_back({".nrrd", "1 voxel where 3-D is required", [=](const TempDir& tmp) {
                 std::string h = nrrd_header();
                 h.replace(h.find("sizes: 4 3 2"), 12, "sizes: 1 1 1");
                 spit(tmp.file("one.nrrd"), h + "\n" + v.substr(0, 2));
                 return tmp.file("one.nrrd");
               }, ExitCode::BadDimension, "single slice", "", true});
  t.push_back({".nhdr + .raw", "1 voxel where 3-D is required", [=](const TempDir& tmp) {
                 std::string h = nrrd_header("data file: one.raw\n");
                 h.replace(h.find("sizes: 4 3 2"), 12, "sizes: 1 1 1");
                 spit(tmp.file("one.nhdr"), h);
                 spit(tmp.file("one.raw"), v.substr(0, 2));
                 return tmp.file("one.nhdr");
               }, ExitCode::BadDimension, "single slice", "", true});
  t.push_back({"DICOM series", "one 1 x 1 pixel slice where 3-D is required", [](const TempDir& tmp) {
                 auto slices = test::axial_stack(1, 2.0);
                 slices[0].rows = slices[0].columns = 1;
                 test::write_synthetic_series(tmp.file("one"), slices);
                 return tmp.file("one");
               }, ExitCode::BadDimension, "single slice", "", true});
  tag("one-voxel");
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
    ASSERT_FALSE(d.cls.empty());
    ReadOptions options;
    options.require_3d = d.require_3d;
    try {
      read_volume(path, options);
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

// ---- X-ray readers by class (PNG, JPEG, DICOM radiographs: cxr::read_xray) ------------------------------

namespace {

// A PNG written byte by byte (zlib): 8- or 16-bit, grey (colour type 0), grey + alpha (4), RGB (2) or RGBA (6).
std::string png_bytes(int w, int h, int colour_type, int bit_depth, const std::function<int(int x, int y, int c)>& value) {
  const int channels = colour_type == 0 ? 1 : colour_type == 4 ? 2 : colour_type == 2 ? 3 : 4;
  const int bytes = bit_depth / 8;
  std::string raw;
  for (int y = 0; y < h; ++y) {
    raw += '\0';  // filter: none
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) {
        const int v = value(x, y, c);
        if (bytes == 2) raw += static_cast<char>(v >> 8);
        raw += static_cast<char>(v & 0xff);
      }
  }
  uLongf zlen = compressBound(raw.size());
  std::string z(zlen, '\0');
  compress2(reinterpret_cast<Bytef*>(&z[0]), &zlen, reinterpret_cast<const Bytef*>(raw.data()), raw.size(), 6);
  z.resize(zlen);
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string td = type + data;
    return be32(uint32_t(data.size())) + td + be32(uint32_t(crc32(0, reinterpret_cast<const Bytef*>(td.data()), uInt(td.size()))));
  };
  const std::string ihdr = be32(uint32_t(w)) + be32(uint32_t(h)) + std::string{char(bit_depth), char(colour_type), 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", z) + chunk("IEND", "");
}

int ramp(int x, int y, int) { return (3 * x + 2 * y) % 256; }

struct XrayDefect {
  std::string format, defect, cls;
  std::function<std::string(const TempDir&)> make;
  ExitCode code;
  std::string message;
};

std::vector<XrayDefect> xray_defects() {
  std::vector<XrayDefect> t;
  auto cut_file = [](const std::string& path, double keep) {
    std::string b = slurp(path);
    b.resize(size_t(double(b.size()) * keep));
    spit(path, b);
    return path;
  };
  t.push_back({"PNG", "cut short", "data-length", [=](const TempDir& tmp) {
                 spit(tmp.file("cut.png"), png_bytes(64, 64, 0, 8, ramp));
                 return cut_file(tmp.file("cut.png"), 0.6);
               }, ExitCode::Unreadable, "cut.png"});
  t.push_back({"PNG", "IEND chunk missing", "data-length", [=](const TempDir& tmp) {
                 const std::string b = png_bytes(64, 64, 0, 8, ramp);
                 spit(tmp.file("noend.png"), b.substr(0, b.size() - 12));
                 return tmp.file("noend.png");
               }, ExitCode::Unreadable, "IEND"});
  t.push_back({"JPEG", "cut short", "data-length", [=](const TempDir& tmp) {
                 test::write_grey<uint8_t>(tmp.file("cut.jpg"), 64, 64);
                 return cut_file(tmp.file("cut.jpg"), 0.7);
               }, ExitCode::Unreadable, "cut short"});
  t.push_back({"DICOM X-ray", "pixel data cut short", "data-length", [=](const TempDir& tmp) {
                 test::write_dicom(tmp.file("cut.dcm"), "DX", "PA");
                 return cut_file(tmp.file("cut.dcm"), 0.8);
               }, ExitCode::Unreadable, "truncated"});
  t.push_back({"DICOM X-ray", "an element claiming 4 GB", "data-length", [=](const TempDir& tmp) {
                 test::write_dicom(tmp.file("big.dcm"), "DX", "PA");
                 patch_pixel_data_length(tmp.file("big.dcm"), 0xF0000000u);
                 return tmp.file("big.dcm");
               }, ExitCode::Unreadable, "remain in the file"});
  t.push_back({"DICOM X-ray", "pixel data longer than Rows x Columns x Bits", "data-length", [=](const TempDir& tmp) {
                 test::write_dicom(tmp.file("long.dcm"), "DX", "PA");
                 patch_dicom_us(tmp.file("long.dcm"), 0x0028, 0x0010, 24);  // 48 rows written
                 return tmp.file("long.dcm");
               }, ExitCode::Unreadable, "more than the"});
  t.push_back({"DICOM X-ray", "Rescale Slope 1e300 (overflows float32)", "intensity-scale", [](const TempDir& tmp) {
                 test::DicomSpec spec;
                 spec.rescale_slope = "1e300";
                 test::write_dicom_file(tmp.file("big.dcm"), spec);
                 return tmp.file("big.dcm");
               }, ExitCode::Unreadable, "overflows"});
  t.push_back({"DICOM X-ray", "Rescale Slope 0", "intensity-scale", [](const TempDir& tmp) {
                 test::DicomSpec spec;
                 spec.rescale_slope = "0";
                 test::write_dicom_file(tmp.file("zero.dcm"), spec);
                 return tmp.file("zero.dcm");
               }, ExitCode::Unreadable, "Rescale Slope"});
  t.push_back({"DICOM X-ray", "a VOI LUT that lies (10 entries declared, 5 given)", "intensity-scale", [](const TempDir& tmp) {
                 test::DicomSpec spec;
                 spec.voi_lut = test::DicomLut{10, 0, 16, "US", {0, 1, 2, 3, 4}};
                 test::write_dicom_file(tmp.file("lut.dcm"), spec);
                 return tmp.file("lut.dcm");
               }, ExitCode::Unreadable, "LUT Descriptor"});
  t.push_back({"DICOM X-ray", "Window Width 0", "intensity-scale", [](const TempDir& tmp) {
                 test::write_dicom(tmp.file("w0.dcm"), "DX", "PA", "MONOCHROME2", "640,0");
                 return tmp.file("w0.dcm");
               }, ExitCode::Unreadable, "Window Width"});
  t.push_back({"PNG", "RGBA colour picture", "types", [](const TempDir& tmp) {
                 spit(tmp.file("rgba.png"), png_bytes(64, 64, 6, 8, [](int x, int y, int c) { return c == 3 ? 255 : c == 0 ? 4 * x : 4 * y; }));
                 return tmp.file("rgba.png");
               }, ExitCode::BadDimension, "colour picture"});
  t.push_back({"PNG", "RGB colour picture", "types", [](const TempDir& tmp) {
                 test::write_rgb(tmp.file("rgb.png"), 64, 64, true);
                 return tmp.file("rgb.png");
               }, ExitCode::BadDimension, "colour"});
  t.push_back({"JPEG", "RGB colour picture", "types", [](const TempDir& tmp) {
                 test::write_rgb(tmp.file("rgb.jpg"), 64, 64, true);
                 return tmp.file("rgb.jpg");
               }, ExitCode::BadDimension, "colour"});
  t.push_back({"DICOM X-ray", "colour (RGB)", "types", [](const TempDir& tmp) {
                 test::DicomSpec spec;
                 spec.photometric = "RGB";
                 test::write_dicom_file(tmp.file("rgb.dcm"), spec);
                 return tmp.file("rgb.dcm");
               }, ExitCode::BadDimension, "colour DICOM"});
  t.push_back({"PNG", "1 x 1 pixel", "one-voxel", [](const TempDir& tmp) {
                 spit(tmp.file("one.png"), png_bytes(1, 1, 0, 8, ramp));
                 return tmp.file("one.png");
               }, ExitCode::NotAChestXray, "too small"});
  t.push_back({"JPEG", "1 x 1 pixel", "one-voxel", [](const TempDir& tmp) {
                 test::write_grey<uint8_t>(tmp.file("one.jpg"), 1, 1);
                 return tmp.file("one.jpg");
               }, ExitCode::NotAChestXray, "too small"});
  t.push_back({"DICOM X-ray", "1 x 1 pixel", "one-voxel", [](const TempDir& tmp) {
                 test::DicomSpec spec;
                 spec.width = spec.height = 1;
                 spec.stored = {7};
                 test::write_dicom_file(tmp.file("one.dcm"), spec);
                 return tmp.file("one.dcm");
               }, ExitCode::NotAChestXray, "too small"});
  return t;
}

}  // namespace

TEST(XrayDefects, EveryXrayFormatAndDefectClassHasItsExitCodeAMessageNamingTheFileAndWritesNothing) {
  for (const XrayDefect& d : xray_defects()) {
    SCOPED_TRACE(d.format + ": " + d.defect);
    TempDir tmp;
    const std::string path = d.make(tmp);
    std::set<std::string> before;
    for (const auto& e : fs::recursive_directory_iterator(tmp.path())) before.insert(e.path().string());
    try {
      cxr::read_xray(path);
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

// The documented choices: 16-bit grey and grey + alpha PNGs are X-rays (the alpha channel is ignored), as is a grey
// picture stored as RGBA.
TEST(XrayDefects, SixteenBitAndAlphaPngsAreRead) {
  TempDir tmp;
  spit(tmp.file("g16.png"), png_bytes(40, 30, 0, 16, [](int x, int y, int) { return 1000 * x + 7 * y; }));
  spit(tmp.file("ga.png"), png_bytes(40, 30, 4, 8, [](int x, int y, int c) { return c == 1 ? 128 : ramp(x, y, 0); }));
  spit(tmp.file("grey_rgba.png"), png_bytes(40, 30, 6, 8, [](int x, int y, int c) { return c == 3 ? 200 : ramp(x, y, 0); }));
  for (const char* name : {"g16.png", "ga.png", "grey_rgba.png"}) {
    SCOPED_TRACE(name);
    const cxr::XrayImage x = cxr::read_xray(tmp.file(name));
    EXPECT_EQ(x.width, 40);
    EXPECT_EQ(x.height, 30);
    EXPECT_LT(x.pixels[0], x.pixels[39]);
  }
  EXPECT_EQ(cxr::read_xray(tmp.file("g16.png")).bits, 16);
}

// ---- conflicting geometry statements: read one way, and said --------------------------------------------

TEST(ReaderWarnings, ConflictingGeometryStatementsAreReadAsDocumentedAndSaid) {
  TempDir tmp;
  auto warnings = [](const SourceInfo& src) {
    std::string all;
    for (const auto& w : src.warnings) all += w + "\n";
    return all;
  };
  // NIfTI: the sform moves the image 20 mm along x from where the qform puts it. The sform takes precedence whatever
  // its code (ITK 5.2 alone read sform_code 2, 3 and 4 through the qform), and the warning says so.
  for (int16_t code : {1, 2, 3, 4}) {
    SCOPED_TRACE("sform_code " + std::to_string(code));
    const std::string name = "qs" + std::to_string(code) + ".nii";
    nifti_with_sform(name, 1, code, {0.8f, 0, 0, 20, 0, 0.8f, 0, 0, 0, 0, 2.5f, 0})(tmp);
    SourceInfo src;
    const Volume v = read_volume(tmp.file(name), {}, &src);
    EXPECT_NEAR(v.geometry.origin_mm[0], -20, 1e-4);  // RAS x 20 -> LPS x -20
    const std::string all = warnings(src);
    EXPECT_NE(all.find("qform and sform disagree (by up to 20 mm"), std::string::npos) << all;
    EXPECT_NE(all.find(name), std::string::npos) << all;
    EXPECT_NE(all.find("read through the sform (sform_code " + std::to_string(code)), std::string::npos) << all;
  }
  // The same precedence and warning for a .nii.gz and for a .hdr + .img pair (read through ITK's qform before).
  for (const char* name : {"qs2.nii.gz", "qs2.hdr"}) {
    SCOPED_TRACE(name);
    nifti_with_sform(name, 1, 2, {0.8f, 0, 0, 20, 0, 0.8f, 0, 0, 0, 0, 2.5f, 0})(tmp);
    SourceInfo src;
    const Volume v = read_volume(tmp.file(name), {}, &src);
    EXPECT_NEAR(v.geometry.origin_mm[0], -20, 1e-4);
    EXPECT_NE(warnings(src).find("read through the sform (sform_code 2"), std::string::npos) << warnings(src);
  }
  // The issue's case: a negative pixdim[1] flips the qform's x axis; the sform (code 1, a plain RAS diagonal) does not.
  // ITK 5.2 read it through the qform (x towards L); the sform says x towards R.
  nifti_with_sform("negative.nii", 1, 1, {0.8f, 0, 0, 0, 0, 0.8f, 0, 0, 0, 0, 2.5f, 0},
                   [](RawNifti& n) { n.pixdim[0] = -0.8f; })(tmp);
  SourceInfo neg;
  const Volume nv = read_volume(tmp.file("negative.nii"), {}, &neg);
  EXPECT_NEAR(nv.geometry.direction[0], -1, 1e-6);  // RAS +x = LPS -x
  EXPECT_NEAR(nv.geometry.spacing_mm[0], 0.8, 1e-6);
  EXPECT_EQ(nv.geometry.orientation_code(), "RAS");
  EXPECT_NE(warnings(neg).find("read through the sform"), std::string::npos) << warnings(neg);
  // A rotated sform (90 degrees about z, code 2) beside an identity qform: the sform's axes, spacing from its columns.
  nifti_with_sform("rotated.nii.gz", 1, 2, {0, -0.8f, 0, 5, 0.8f, 0, 0, 6, 0, 0, 2.5f, 7})(tmp);
  SourceInfo rot;
  const Volume rv = read_volume(tmp.file("rotated.nii.gz"), {}, &rot);
  EXPECT_EQ(rv.geometry.orientation_code(), "ALS") << rv.geometry.describe();
  EXPECT_NEAR(rv.geometry.origin_mm[0], -5, 1e-4);
  EXPECT_NEAR(rv.geometry.origin_mm[1], -6, 1e-4);
  EXPECT_NEAR(rv.geometry.origin_mm[2], 7, 1e-4);
  EXPECT_NE(warnings(rot).find("qform and sform disagree"), std::string::npos) << warnings(rot);
  // The same header with the sform agreeing: no warning; an sform alone (qform_code 0): read through it, no warning.
  for (int16_t qcode : {1, 0}) {
    nifti_with_sform("agree.nii", qcode, 2, {0.8f, 0, 0, 0, 0, 0.8f, 0, 0, 0, 0, 2.5f, 0})(tmp);
    SourceInfo quiet;
    const Volume a = read_volume(tmp.file("agree.nii"), {}, &quiet);
    EXPECT_EQ(a.geometry.orientation_code(), "RAS");
    for (const auto& w : quiet.warnings) EXPECT_EQ(w.find("sform"), std::string::npos) << w;
  }

  // DICOM: Spacing Between Slices says 5 mm, the positions 2 mm: the positions are the geometry, the conflict is said.
  test::write_synthetic_series(tmp.file("series"), test::axial_stack(4, 2.0));
  for (int i = 0; i < 4; ++i) test::set_dicom_tag(tmp.file("series/slice_00" + std::to_string(i) + ".dcm"), 0x0018, 0x0088, "5");
  SourceInfo dicom;
  const Volume d = read_volume(tmp.file("series"), {}, &dicom);
  EXPECT_NEAR(d.geometry.spacing_mm[2], 2.0, 1e-6);
  const std::string all = warnings(dicom);
  EXPECT_NE(all.find("Spacing Between Slices (0018,0088) says 5 mm but the slice positions are 2 mm apart"),
            std::string::npos) << all;
}

// ---- the class table of docs/exit-codes.md and the tests above are one list ----------------------------

TEST(ReaderDefects, EveryClassOfTheDocumentedTableHasATestRowAndEveryRowADocumentedClass) {
  std::ifstream doc(std::string(PULMO_SOURCE_DIR) + "/docs/exit-codes.md");
  ASSERT_TRUE(doc) << "docs/exit-codes.md not found";
  std::set<std::string> documented;
  std::string line;
  bool in_table = false;
  while (std::getline(doc, line)) {
    if (line.rfind("## ", 0) == 0) in_table = line == "## Reader defects by class";
    if (!in_table || line.rfind("| `", 0) != 0) continue;
    const size_t end = line.find('`', 3);
    ASSERT_NE(end, std::string::npos) << line;
    documented.insert(line.substr(3, end - 3));
  }
  std::set<std::string> tested;
  for (const auto& d : reader_defects()) tested.insert(d.cls);
  for (const auto& d : xray_defects()) tested.insert(d.cls);
  tested.insert("conflicting-geometry");  // ReaderWarnings.ConflictingGeometryStatementsAreReadAsDocumentedAndSaid
  EXPECT_FALSE(documented.empty());
  for (const auto& c : documented) EXPECT_TRUE(tested.count(c)) << "documented class without a test row: " << c;
  for (const auto& c : tested) EXPECT_TRUE(documented.count(c)) << "tested class missing from docs/exit-codes.md: " << c;
}
