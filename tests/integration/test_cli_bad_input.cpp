// The bad-input corpus: every entry gives its documented exit code (docs/exit-codes.md),
// a clear message, and no output file.
#include <gtest/gtest.h>
#include <itkImage.h>
#include <itkImageFileWriter.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "support/synthetic_dicom.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::test::shared_data_path;
using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `pulmo convert INPUT OUT` and checks code, message and that OUT was not written.
// (The generic form, for every command, is pulmo::test::expect_refused_command; the corpus of
// test_cli_corpus.cpp uses it.) A failed run must not leave the output folder it would have created.
void expect_refused(const TempDir& tmp, const std::string& input, int code, const std::string& message_part) {
  pulmo::test::expect_refused_command("convert '" + input + "' '" + tmp.file("out/result.nii.gz") + "'", code,
                                      message_part, tmp.file("out"));
  // `pulmo info` gives the same code.
  EXPECT_EQ(run_pulmo("info '" + input + "'").exit_code, code) << input;
}

// Copies TotalSegmentator's 20-slice series (shared data) into tmp/series (all files, or all but index `skip` in name
// order); returns the copies' paths in name order.
std::vector<fs::path> copy_shipped_series(const TempDir& tmp, int skip = -1) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(shared_data_path("ct/totalsegmentator/example_ct_dicom"))) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  fs::create_directories(tmp.path() / "series");
  std::vector<fs::path> copies;
  for (int i = 0; i < static_cast<int>(files.size()); ++i) {
    if (i == skip) continue;
    copies.push_back(tmp.path() / "series" / files[i].filename());
    fs::copy_file(files[i], copies.back());
  }
  return copies;
}

}  // namespace

TEST(BadInput, ANonexistentPathExitsWith3) {
  TempDir tmp;
  expect_refused(tmp, tmp.file("no-such-file.nii.gz"), 3, "does not exist");
}

TEST(BadInput, AZeroByteFileExitsWith4) {
  TempDir tmp;
  write_bytes(tmp.file("empty.nii.gz"), "");
  expect_refused(tmp, tmp.file("empty.nii.gz"), 4, "empty (0 bytes)");
}

TEST(BadInput, ATruncatedNiftiGzExitsWith4) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  const std::string full = read_bytes(shared_data_path("ct/totalsegmentator/pulmonary_ct_cropped.nii.gz"));
  write_bytes(tmp.file("truncated.nii.gz"), full.substr(0, full.size() / 3));
  expect_refused(tmp, tmp.file("truncated.nii.gz"), 4, "truncated");
}

TEST(BadInput, RandomBytesExitWith4) {
  TempDir tmp;
  std::mt19937 rng(7);
  std::string junk(4096, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  for (const char* name : {"random.nii.gz", "random.nii", "random.dcm", "random.bin"}) {
    write_bytes(tmp.file(name), junk);
    expect_refused(tmp, tmp.file(name), 4, "");
  }
}

TEST(BadInput, AHeaderLargerThanItsDataExitsWith4) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  // A valid uncompressed NIfTI, cut after the header and a little data.
  ASSERT_EQ(run_pulmo("convert '" + shared_data_path("ct/totalsegmentator/example_ct_sm.nii.gz") + "' '" +
                      tmp.file("ok.nii") + "'").exit_code, 0);
  const std::string full = read_bytes(tmp.file("ok.nii"));
  fs::remove(tmp.file("ok.nii"));
  write_bytes(tmp.file("lying.nii"), full.substr(0, 352 + 1000));
  expect_refused(tmp, tmp.file("lying.nii"), 4, "header promises");
}

TEST(BadInput, AFourDimensionalFileExitsWith6) {
  TempDir tmp;
  using Image4 = itk::Image<float, 4>;
  auto image = Image4::New();
  Image4::RegionType region;
  for (int d = 0; d < 4; ++d) region.SetSize(d, d == 3 ? 3 : 5);
  image->SetRegions(region);
  image->Allocate();
  image->FillBuffer(-500.f);
  auto writer = itk::ImageFileWriter<Image4>::New();
  writer->SetFileName(tmp.file("dynamic.nii.gz"));
  writer->SetInput(image);
  writer->Update();
  expect_refused(tmp, tmp.file("dynamic.nii.gz"), 6, "4-D");
}

TEST(BadInput, ADicomFolderWithAMissingSliceExitsWith5) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator/example_ct_dicom");
  TempDir tmp;
  copy_shipped_series(tmp, /*skip=*/10);
  expect_refused(tmp, tmp.file("series"), 5, "slice(s) missing");
}

TEST(BadInput, AnEmptyFolderAndAFolderWithoutDicomExitWith8) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "empty");
  expect_refused(tmp, tmp.file("empty"), 8, "is empty");
  fs::create_directories(tmp.path() / "notes");
  write_bytes(tmp.file("notes/readme.txt"), "not an image");
  expect_refused(tmp, tmp.file("notes"), 8, "no DICOM image");
}

TEST(BadInput, ASingleSliceWhereThreeDimensionsAreRequiredExitsWith6) {
  PULMO_REQUIRE_SHARED_DATA("ct/covid19-ny-sbu");
  TempDir tmp;
  const std::string slice = shared_data_path("ct/covid19-ny-sbu/A002304/axial/19001231-076.dcm");
  const auto r = run_pulmo("convert --require-3d '" + slice + "' '" + tmp.file("o.nii.gz") + "'");
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_NE(r.err.find("single slice"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("o.nii.gz")));
}

TEST(BadInput, AnUnwritableOutputExitsWith7AndLeavesNothing) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  fs::create_directories(tmp.path() / "taken.nii.gz" / "x");  // a folder where the output file should go
  const auto r = run_pulmo("convert '" + shared_data_path("ct/totalsegmentator/example_ct_sm.nii.gz") + "' '" +
                           tmp.file("taken.nii.gz") + "'");
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(tmp.count_files(), 0);
}

TEST(BadInput, AnUnknownOutputExtensionIsAUsageError) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  const auto r = run_pulmo("convert '" + shared_data_path("ct/totalsegmentator/example_ct_sm.nii.gz") + "' '" +
                           tmp.file("x.jpg") + "'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(tmp.count_files(), 0);
}

TEST(BadInput, ADicomSeriesWithGantryTiltExitsWith5) {
  TempDir tmp;
  auto slices = pulmo::test::axial_stack(5, 2.0);
  for (size_t i = 0; i < slices.size(); ++i) slices[i].position[1] += 0.4 * i;
  pulmo::test::write_synthetic_series(tmp.file("tilted"), slices);
  expect_refused(tmp, tmp.file("tilted"), 5, "gantry tilt");
}

TEST(BadInput, ADicomSeriesWithATruncatedSliceExitsWith4) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator/example_ct_dicom");
  TempDir tmp;
  const std::vector<fs::path> files = copy_shipped_series(tmp);
  // Cut the pixel data of one slice (its header stays intact, so it still belongs to the series).
  const fs::path victim = files[7];
  fs::resize_file(victim, fs::file_size(victim) * 9 / 10);
  expect_refused(tmp, tmp.file("series"), 4, "the file is truncated");
}
