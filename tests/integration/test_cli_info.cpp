// `pulmo info` and `pulmo convert` on the real files of data/ (and ../shared/data when present).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::test::run_pulmo;
using pulmo::test::shared_data_path;
using pulmo::test::TempDir;

namespace {
nlohmann::json info_json(const std::string& path) {
  const auto r = run_pulmo("info --json '" + path + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}
}  // namespace

TEST(CliInfo, JsonDescribesTheShippedChestCt) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  const auto j = info_json(shared_data_path("ct/totalsegmentator/pulmonary_ct_cropped.nii.gz"));
  EXPECT_EQ(j["format"], "NIfTI");
  EXPECT_EQ(j["pixel_type_on_disk"], "int16");
  EXPECT_EQ(j["size"], nlohmann::json({122, 102, 112}));
  EXPECT_EQ(j["orientation"], "LPS");
  EXPECT_DOUBLE_EQ(j["spacing_mm"][2].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(j["intensity"]["min"].get<double>(), -1064);
  EXPECT_DOUBLE_EQ(j["intensity"]["max"].get<double>(), 3343);
  EXPECT_DOUBLE_EQ(j["voxel_volume_ml"].get<double>(), 0.003375);
  EXPECT_TRUE(j["warnings"].empty());
  EXPECT_TRUE(j["intensity"]["percentiles"].contains("p50"));
}

TEST(CliInfo, ADicomFolderListsItsSeriesAndTheChosenOne) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  const auto j = info_json(shared_data_path("ct/totalsegmentator/example_ct_dicom"));
  EXPECT_EQ(j["format"], "DICOM series");
  EXPECT_EQ(j["modality"], "CT");
  ASSERT_EQ(j["series"].size(), 1u);
  EXPECT_EQ(j["series"][0]["slices"], 20);
  EXPECT_TRUE(j["series"][0]["selected"].get<bool>());
  EXPECT_NEAR(j["origin_mm"][2].get<double>(), -804.5, 1e-3);
}

TEST(CliInfo, TextOutputNamesGeometryAndOrientation) {
  PULMO_REQUIRE_SHARED_DATA("ct/covid19-ny-sbu");
  const auto r = run_pulmo("info '" + shared_data_path("ct/covid19-ny-sbu/A002304/coronal/19001231-076.dcm") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Orientation  LIP"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2-D"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("gdcm"), std::string::npos) << "third-party warnings must not leak: " << r.err;
}

TEST(CliInfo, AWindowedImageGetsAHuWarning) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  const auto r = run_pulmo("info '" + shared_data_path("ct/totalsegmentator/example_seg_dicom.nii.gz") + "'");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("not Hounsfield units"), std::string::npos) << r.out;
}

TEST(CliConvert, DicomSeriesToNiftiKeepsGeometryAndHu) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  const auto r = run_pulmo("convert '" + shared_data_path("ct/totalsegmentator/example_ct_dicom") + "' '" + tmp.file("ct.nii.gz") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto a = info_json(shared_data_path("ct/totalsegmentator/example_ct_dicom"));
  const auto b = info_json(tmp.file("ct.nii.gz"));
  EXPECT_EQ(b["pixel_type_on_disk"], "int16");
  for (const char* key : {"size", "orientation"}) EXPECT_EQ(a[key], b[key]) << key;
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(a["spacing_mm"][k].get<double>(), b["spacing_mm"][k].get<double>(), 1e-4);
    EXPECT_NEAR(a["origin_mm"][k].get<double>(), b["origin_mm"][k].get<double>(), 1e-4);
  }
  EXPECT_EQ(a["intensity"]["min"], b["intensity"]["min"]);
  EXPECT_EQ(a["intensity"]["max"], b["intensity"]["max"]);
  EXPECT_EQ(tmp.count_files(), 1);
}

TEST(CliThreads, ThreadsOptionIsAcceptedAndValidated) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  EXPECT_EQ(run_pulmo("--threads 1 info '" + shared_data_path("ct/totalsegmentator/example_ct_sm.nii.gz") + "'").exit_code, 0);
  EXPECT_EQ(run_pulmo("--threads -3 info x").exit_code, 2);
}
