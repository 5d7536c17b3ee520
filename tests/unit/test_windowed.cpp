// 8-bit windowed exports -> HU (one rule), the COVID-SemiSeg import, and lesion-free manifest cases.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/io.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace pulmo;

namespace {

ExitCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ExitCode::Ok;
}

// A thorax-like slice in HU: outside air, soft tissue, two lungs of parenchyma with some denser voxels.
at::Tensor thorax_hu() {
  at::Tensor hu = at::full({200, 200}, -1000.0, at::kFloat);
  hu.slice(0, 20, 180).slice(1, 10, 190).fill_(40.0);        // body: soft tissue
  hu.slice(0, 40, 160).slice(1, 25, 95).fill_(-850.0);       // right lung
  hu.slice(0, 40, 160).slice(1, 105, 175).fill_(-850.0);     // left lung
  hu.slice(0, 90, 110).slice(1, 40, 60).fill_(-300.0);       // a ground-glass patch
  hu.slice(0, 60, 70).slice(1, 120, 130).fill_(400.0);       // bone
  return hu;
}

// What a viewer's export does: window LO..HI to 0..255, rounded, saturated.
at::Tensor export_8bit(const at::Tensor& hu, double lo, double hi) {
  return hu.sub(lo).mul(255.0 / (hi - lo)).round().clamp(0, 255).to(at::kByte);
}

}  // namespace

TEST(GreyToHu, AGivenWindowMapsGreyLinearly) {
  const GreyToHu m = grey_to_hu_from_window(-1350, 150);
  const at::Tensor hu = apply_grey_to_hu(at::tensor({0.0f, 255.0f, 127.5f}), m);
  EXPECT_NEAR(hu[0].item<double>(), -1350, 1e-3);
  EXPECT_NEAR(hu[1].item<double>(), 150, 1e-3);
  EXPECT_NEAR(hu[2].item<double>(), -600, 1e-3);
  EXPECT_EQ(m.method, "window -1350..150 HU");
}

TEST(GreyToHu, TheCalibrationRecoversTheWindowAnExportWasMadeWith) {
  // Windows whose soft-tissue grey stays below saturation: both peaks give back the HU within the rounding step.
  for (const auto& [lo, hi] : {std::pair<double, double>{-1350, 150}, {-1200, 300}, {-1000, 200}}) {
    SCOPED_TRACE(std::to_string(lo) + ".." + std::to_string(hi));
    const at::Tensor hu = thorax_hu();
    const at::Tensor grey = export_8bit(hu, lo, hi);
    const GreyToHu m = calibrate_grey_to_hu(grey, "test");
    const double step = (hi - lo) / 255.0;
    EXPECT_NEAR(m.slope, step, 0.02 * step);
    const at::Tensor back = apply_grey_to_hu(grey, m);
    // Lung parenchyma, ground glass and soft tissue come back within a few grey steps.
    EXPECT_NEAR(back[100][80].item<double>(), -850, 1.0 * step);
    EXPECT_NEAR(back[100][45].item<double>(), -300, 3.0 * step);
    EXPECT_NEAR(back[25][100].item<double>(), 40, 1.0 * step);
    EXPECT_EQ(back.min().item<double>() >= kCalibratedHuRange[0], true);
    EXPECT_EQ(back.max().item<double>() <= kCalibratedHuRange[1], true);
  }
}

TEST(GreyToHu, ASaturatedSoftTissuePeakIsTakenAsItsSaturationValue) {
  // A narrow lung window (-1200..-200): soft tissue is white (255), so its peak means "150 HU or more".
  const at::Tensor grey = export_8bit(thorax_hu(), -1200, -200);
  const GreyToHu m = calibrate_grey_to_hu(grey, "test");
  EXPECT_EQ(m.soft_tissue_peak, 255);
  EXPECT_NE(m.method.find("= 150 HU"), std::string::npos) << m.method;
  EXPECT_NEAR(apply_grey_to_hu(grey, m)[100][80].item<double>(), -850, 0.01);
}

TEST(GreyToHu, ImagesThatCannotBeCalibratedAreRefusedNamingThem) {
  const at::Tensor hu_image = thorax_hu();
  EXPECT_EQ(code_of([&] { calibrate_grey_to_hu(hu_image, "x"); }), ExitCode::Mismatch);  // not 8-bit
  EXPECT_EQ(code_of([&] { calibrate_grey_to_hu(at::full({50, 50}, 200.0), "x"); }), ExitCode::Mismatch);  // no lung peak
  EXPECT_EQ(code_of([&] { calibrate_grey_to_hu(at::full({50, 50}, 60.0), "x"); }), ExitCode::Mismatch);   // no soft tissue
  EXPECT_EQ(code_of([&] { calibrate_grey_to_hu(at::Tensor(), "x"); }), ExitCode::NoData);
  try {
    calibrate_grey_to_hu(at::full({50, 50}, 200.0), "'slice.jpg'");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'slice.jpg'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("--input-window"), std::string::npos);
  }
}

TEST(GreyToHu, InputWindowTextIsParsedStrictly) {
  EXPECT_EQ(parse_input_window("").mode, InputWindow::Mode::None);
  EXPECT_EQ(parse_input_window("auto").mode, InputWindow::Mode::Automatic);
  const InputWindow w = parse_input_window("-1350,150");
  EXPECT_EQ(w.mode, InputWindow::Mode::Window);
  EXPECT_EQ(w.lo, -1350);
  EXPECT_EQ(w.hi, 150);
  for (const char* bad : {"150,-1350", "0,0", "a,b", "1,2,3", "nan,1", "-1000,inf", "-1000,", ",200", "-1000", "Auto"})
    EXPECT_EQ(code_of([&] { parse_input_window(bad); }), ExitCode::Usage) << bad;
  // A window given for values that are not 8-bit is refused rather than applied.
  EXPECT_EQ(code_of([&] { grey_to_hu_for(w, thorax_hu(), "x"); }), ExitCode::Mismatch);
}

TEST(DatasetManifest, ALesionFreeCaseHasAllBackgroundLesionLabelsWithoutAFile) {
  pulmo::test::TempDir tmp;
  Volume ct;
  ct.voxels = thorax_hu().unsqueeze(0).to(at::kShort);
  ct.geometry.size = {200, 200, 1};
  write_volume(ct, tmp.file("ct.nii.gz"));
  {
    std::ofstream(tmp.file("m.csv")) << "case_id,patient_id,image,lesions\nn1,p1,ct.nii.gz,none\n";
  }
  const Manifest m = read_manifest(tmp.file("m.csv"));
  ASSERT_EQ(m.cases.size(), 1u);
  EXPECT_EQ(m.cases[0].lesions, kLesionFree);  // not resolved as a path
  std::vector<ManifestProblem> warnings;
  EXPECT_TRUE(check_manifest(m, &warnings).empty());
  const LabelledCase c = load_case(m.cases[0]);
  ASSERT_TRUE(c.has_lesions);
  EXPECT_TRUE(c.lesions.geometry.same_grid_as(c.image.geometry));
  EXPECT_EQ(c.lesions.voxels.count_nonzero().item<int64_t>(), 0);
  // And it is written back as "none".
  EXPECT_NE(manifest_csv(m, tmp.path().string()).find(",none,"), std::string::npos);
}

// The import reproduces the NIfTI copies of ../shared (made from the same JPEGs by the documented rule): orientation,
// geometry, HU within rounding, classes exactly.
TEST(DatasetImport, CovidSemiSegExpertSlicesMatchTheSharedNiftiCopies) {
  const std::string root = pulmo::test::shared_data_path("ct/covid-semiseg");
  if (root.empty()) GTEST_SKIP() << pulmo::test::missing_shared_data("ct/covid-semiseg");
  pulmo::test::TempDir tmp;
  ImportOptions o;
  o.only_set = "expert";
  const Manifest m = import_covid_semiseg(root, tmp.file("out"), o);
  ASSERT_EQ(m.cases.size(), 50u);
  int checked = 0;
  for (const Case& c : m.cases) {
    SCOPED_TRACE(c.case_id);
    EXPECT_EQ(c.convention, "medseg");
    EXPECT_EQ(c.patient_id, c.case_id);
    EXPECT_EQ(c.attributes.at("set"), "expert");
    const std::string n = c.case_id.substr(c.case_id.find('_') + 1);
    const Volume mine = read_volume(c.image), theirs = read_volume(root + "/expert/nifti/ct/" + n + ".nii.gz");
    ASSERT_TRUE(mine.geometry.same_grid_as(theirs.geometry)) << mine.geometry.describe() << " vs " << theirs.geometry.describe();
    EXPECT_LE((mine.voxels.to(at::kFloat) - theirs.voxels.to(at::kFloat)).abs().max().item<double>(), 1.0);
    const Volume classes = read_volume(c.lesions), their_classes = read_volume(root + "/expert/nifti/classes/" + n + ".nii.gz");
    EXPECT_TRUE(at::equal(classes.voxels.to(at::kByte), their_classes.voxels.to(at::kByte)));
    const Volume infection = read_volume(tmp.file("out/infection/" + c.case_id + ".nii.gz"));
    const Volume their_infection = read_volume(root + "/expert/nifti/infection/" + n + ".nii.gz");
    EXPECT_TRUE(at::equal(infection.voxels.to(at::kByte), their_infection.voxels.gt(0).to(at::kByte)));
    ++checked;
  }
  EXPECT_EQ(checked, 50);
  // A second import into the same folder needs --overwrite.
  EXPECT_EQ(code_of([&] { import_covid_semiseg(root, tmp.file("out"), o); }), ExitCode::WriteFailed);
}

TEST(DatasetImport, BadFoldersAndOptionsHaveTheirCodes) {
  pulmo::test::TempDir tmp;
  EXPECT_EQ(code_of([&] { import_covid_semiseg(tmp.file("missing"), tmp.file("out"), {}); }), ExitCode::NotFound);
  EXPECT_EQ(code_of([&] { import_covid_semiseg(tmp.path().string(), tmp.file("out"), {}); }), ExitCode::NotFound);
  {
    std::ofstream(tmp.file("manifest.csv")) << "case_id,image\nx,a.jpg\n";
  }
  EXPECT_EQ(code_of([&] { import_covid_semiseg(tmp.path().string(), tmp.file("out"), {}); }), ExitCode::BadConfig);
  ImportOptions o;
  o.only_set = "both";
  EXPECT_EQ(code_of([&] { import_covid_semiseg(tmp.path().string(), tmp.file("out"), o); }), ExitCode::Usage);
  EXPECT_FALSE(fs::exists(tmp.file("out")));
}
