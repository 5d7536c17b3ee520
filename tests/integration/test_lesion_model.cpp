// The shipped cascade on every real CT of ../shared: lesions never lie outside the lungs, whatever the CT (kernels,
// slice thickness, single slices, crops), the report counts exactly the voxels of the masks it wrote, and on the
// CTs without COVID-19 the lesions found (false positives) stay under a bound - apart from the Lung-PET-CT-Dx
// tumours, which are dense but not COVID-19 and are counted apart inside their boxes.
#include <ATen/ATen.h>
#include <gdcmScanner.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "pulmo/io.h"
#include "support/test_support.h"

using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {

struct RealCt {
  const char* name;
  const char* path;        // under ../shared/data
  // Involvement bound (%) outside the tumour boxes; < 0: a COVID-19 CT, not bounded. The goal (issue 16) is 1 % on
  // every CT; where the shipped model does not reach it the bound is its measured value plus a margin (a regression
  // guard; models/lesions/MODEL_CARD.md has the figures): A0002 3.8 %, the lung bases 1.6 %, the LIDC slices 12.4 %.
  // (The lung bases were 1.1 % until the hybrid lungs of 2026-12-03 stopped counting the stomach's gas as the left
  // lung: 201 mL of lungs instead of 258 mL, 3.4 mL of false lesions instead of 2.9 mL.)
  double max_involved;
  const char* boxes = "";  // folder of PASCAL-VOC tumour boxes (one XML per slice, named by SOPInstanceUID)
};

// GoogleTest names a failing case by this, not by the struct's bytes.
void PrintTo(const RealCt& c, std::ostream* os) { *os << c.name << " (" << c.path << ")"; }

// Voxels of `grid` inside the tumour boxes of a DICOM series: each box file names its slice by SOPInstanceUID and
// gives pixel corners (column, row) of that slice, mapped to the grid through the slice's position and orientation.
at::Tensor tumour_box_mask(const std::string& series_dir, const std::string& boxes_dir, const pulmo::Geometry& grid) {
  namespace fs = std::filesystem;
  const gdcm::Tag sop(0x0008, 0x0018), ipp(0x0020, 0x0032), iop(0x0020, 0x0037), ps(0x0028, 0x0030);
  gdcm::Scanner scanner;
  for (const gdcm::Tag& t : {sop, ipp, iop, ps}) scanner.AddTag(t);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(series_dir))
    if (e.is_regular_file()) files.push_back(e.path().string());
  EXPECT_TRUE(scanner.Scan(files));
  auto numbers = [](const char* text) {
    std::vector<double> v;
    std::string item;
    std::stringstream in(text ? text : "");
    while (std::getline(in, item, '\\')) v.push_back(std::stod(item));
    return v;
  };
  at::Tensor mask = at::zeros({grid.size[2], grid.size[1], grid.size[0]}, at::kBool);
  auto m = mask.accessor<bool, 3>();
  int boxes = 0;
  for (const std::string& f : files) {
    const char* uid = scanner.GetValue(f.c_str(), sop);
    if (!uid) continue;
    std::string id(uid);
    while (!id.empty() && (id.back() == '\0' || id.back() == ' ')) id.pop_back();
    const fs::path xml = fs::path(boxes_dir) / (id + ".xml");
    if (!fs::exists(xml)) continue;
    const auto pos = numbers(scanner.GetValue(f.c_str(), ipp)), dir = numbers(scanner.GetValue(f.c_str(), iop)),
               pix = numbers(scanner.GetValue(f.c_str(), ps));
    std::ifstream in(xml);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::regex box(R"(<xmin>(\d+)</xmin>\s*<ymin>(\d+)</ymin>\s*<xmax>(\d+)</xmax>\s*<ymax>(\d+)</ymax>)");
    for (std::sregex_iterator it(text.begin(), text.end(), box), end; it != end; ++it) {
      ++boxes;
      const int x0 = std::stoi((*it)[1]), y0 = std::stoi((*it)[2]), x1 = std::stoi((*it)[3]), y1 = std::stoi((*it)[4]);
      for (int row = y0; row <= y1; ++row)
        for (int col = x0; col <= x1; ++col) {
          pulmo::Vec3 p;
          for (int a = 0; a < 3; ++a) p[a] = pos[a] + col * pix[1] * dir[a] + row * pix[0] * dir[3 + a];
          const pulmo::Vec3 ix = grid.physical_to_index(p);
          const int64_t i = std::llround(ix[0]), j = std::llround(ix[1]), k = std::llround(ix[2]);
          if (i >= 0 && j >= 0 && k >= 0 && i < grid.size[0] && j < grid.size[1] && k < grid.size[2]) m[k][j][i] = true;
        }
    }
  }
  EXPECT_GT(boxes, 0) << "no tumour box of " << boxes_dir << " matched a slice of " << series_dir;
  return mask;
}

class SlowLesionsInsideTheLungs : public ::testing::TestWithParam<RealCt> {};

}  // namespace

TEST_P(SlowLesionsInsideTheLungs, OnEveryRealCt) {
  const std::string ct = pulmo::test::shared_data_path(GetParam().path);
  if (ct.empty()) GTEST_SKIP() << pulmo::test::missing_shared_data(GetParam().path);
  TempDir tmp;
  const auto r = run_pulmo("-q quantify '" + ct + "' --out '" + tmp.file("out") + "' --no-html --no-dicom-seg");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pulmo::Volume lungs = pulmo::read_volume(tmp.file("out/lungs.nii.gz"));
  const pulmo::Volume lesions = pulmo::read_volume(tmp.file("out/lesions.nii.gz"));
  ASSERT_TRUE(lungs.geometry.same_grid_as(lesions.geometry));
  const at::Tensor outside = lesions.voxels.ne(0).logical_and(lungs.voxels.eq(0));
  EXPECT_EQ(outside.sum().item<int64_t>(), 0) << GetParam().name << ": lesion voxels outside the lung mask";
  // The report's involvement is the masks' own: lesion voxels over lung voxels, per lung and in total.
  std::ifstream in(tmp.file("out/report.json"));
  const auto j = nlohmann::json::parse(in);
  const double lung_voxels = double(lungs.voxels.ne(0).sum().item<int64_t>());
  const double lesion_voxels = double(lesions.voxels.ne(0).sum().item<int64_t>());
  ASSERT_GT(lung_voxels, 0);
  const double involved = j["regions"]["total"]["involved_percent"].get<double>();
  EXPECT_NEAR(involved, 100.0 * lesion_voxels / lung_voxels, 0.01) << GetParam().name;
  std::cout << "[ involvement ] " << GetParam().name << ": " << involved << " % of " << lung_voxels << " lung voxels\n";
  // False positives on CTs without COVID-19, tumours apart.
  if (GetParam().max_involved < 0) return;
  at::Tensor lesion = lesions.voxels.ne(0);
  if (*GetParam().boxes) {
    const at::Tensor in_box = tumour_box_mask(ct, pulmo::test::shared_data_path(GetParam().boxes), lesions.geometry);
    const double in_tumour = double(lesion.logical_and(in_box).sum().item<int64_t>());
    std::cout << "[ involvement ] " << GetParam().name << ": " << 100.0 * in_tumour / lung_voxels
              << " % of the lungs marked inside the tumour boxes (not counted below)\n";
    lesion = lesion.logical_and(in_box.logical_not());
  }
  const double false_positive = 100.0 * double(lesion.sum().item<int64_t>()) / lung_voxels;
  std::cout << "[ involvement ] " << GetParam().name << ": " << false_positive << " % outside tumour boxes (bound "
            << GetParam().max_involved << " %)\n";
  EXPECT_LT(false_positive, GetParam().max_involved) << GetParam().name << ": lesions on a CT without COVID-19";
}

INSTANTIATE_TEST_SUITE_P(RealCts, SlowLesionsInsideTheLungs,
                         ::testing::Values(RealCt{"A0001_sharp_5mm", "ct/lung-pet-ct-dx/A0001_series2", 1.0, "ct/lung-pet-ct-dx/tumour_boxes/A0001"},
                                           RealCt{"A0002_soft_8mm", "ct/lung-pet-ct-dx/A0002_series3", 4.0, "ct/lung-pet-ct-dx/tumour_boxes/A0002"},
                                           RealCt{"pulmonary_crop_1p5mm", "ct/totalsegmentator/pulmonary_ct_cropped.nii.gz", 1.0},
                                           RealCt{"aorta_crop_1p5mm", "ct/totalsegmentator/aorta_ct_cropped.nii.gz", 1.0},
                                           RealCt{"lung_bases_3mm", "ct/totalsegmentator/example_ct_sm.nii.gz", 2.0},
                                           RealCt{"siemens_jpeg2000_2mm", "ct/totalsegmentator/example_ct_dicom", 1.0},
                                           RealCt{"lidc_two_slices", "ct/lidc-lungmask", 14.0},
                                           RealCt{"ny_sbu_covid_axial_slice", "ct/covid19-ny-sbu/A002304/axial/19010112-135.dcm", -1}),
                         [](const ::testing::TestParamInfo<RealCt>& i) { return std::string(i.param.name); });
