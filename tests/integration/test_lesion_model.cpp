// The shipped cascade on every real CT of ../shared: lesions never lie outside the lungs, whatever the CT (kernels,
// slice thickness, single slices, crops), and the report counts exactly the voxels of the masks it wrote.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "pulmo/io.h"
#include "support/test_support.h"

using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {

struct RealCt {
  const char* name;
  const char* path;  // under ../shared/data
};

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
}

INSTANTIATE_TEST_SUITE_P(RealCts, SlowLesionsInsideTheLungs,
                         ::testing::Values(RealCt{"A0001_sharp_5mm", "ct/lung-pet-ct-dx/A0001_series2"},
                                           RealCt{"A0002_soft_8mm", "ct/lung-pet-ct-dx/A0002_series3"},
                                           RealCt{"pulmonary_crop_1p5mm", "ct/totalsegmentator/pulmonary_ct_cropped.nii.gz"},
                                           RealCt{"aorta_crop_1p5mm", "ct/totalsegmentator/aorta_ct_cropped.nii.gz"},
                                           RealCt{"lidc_two_slices", "ct/lidc-lungmask"},
                                           RealCt{"ny_sbu_covid_axial_slice", "ct/covid19-ny-sbu/A002304/axial/19010112-135.dcm"}),
                         [](const ::testing::TestParamInfo<RealCt>& i) { return std::string(i.param.name); });
