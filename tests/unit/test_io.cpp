// Readers and writers on real files and exact round trips.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/dicom_grey.h"
#include "io/itk_bridge.h"
#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/stats.h"
#include "support/cxr_images.h"
#include "support/synthetic_dicom.h"
#include "support/test_support.h"

using namespace pulmo;
using pulmo::test::shared_data_path;
using pulmo::test::TempDir;

namespace {

Geometry oblique_geometry() {
  Geometry g;
  g.size = {7, 5, 4};
  g.spacing_mm = {0.7, 1.3, 2.5};
  g.origin_mm = {-12.25, 33.5, -801.75};
  const double c = std::cos(0.3), s = std::sin(0.3);
  g.direction = {c, 0, s, 0, -1, 0, s, 0, -c};  // rotated about y, y flipped: non-identity, left-handed
  return g;
}

Volume ramp(const Geometry& g, at::ScalarType dtype) {
  Volume v;
  v.geometry = g;
  v.voxels = (at::arange(g.num_voxels(), at::kDouble) - 100).view({g.size[2], g.size[1], g.size[0]}).to(dtype);
  return v;
}

void expect_same_geometry(const Geometry& a, const Geometry& b, double tol = 1e-6) {
  EXPECT_EQ(a.size, b.size);
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(a.spacing_mm[k], b.spacing_mm[k], tol) << "spacing " << k;
    EXPECT_NEAR(a.origin_mm[k], b.origin_mm[k], tol) << "origin " << k;
  }
  for (int k = 0; k < 9; ++k) EXPECT_NEAR(a.direction[k], b.direction[k], tol) << "direction " << k;
}

void expect_hu(const Volume& v, double lo, double hi) {
  EXPECT_DOUBLE_EQ(v.voxels.min().item<double>(), lo);
  EXPECT_DOUBLE_EQ(v.voxels.max().item<double>(), hi);
}

}  // namespace

// ---- ITK <-> Volume ----------------------------------------------------------

TEST(ItkBridge, RoundTripIsExactIncludingANonIdentityDirection) {
  const Volume v = ramp(oblique_geometry(), at::kFloat);
  auto image = io::to_itk<float>(v);
  // ITK sees voxel (i, j, k) where the tensor has [k][j][i].
  EXPECT_EQ(image->GetPixel({{3, 2, 1}}), v.voxels[1][2][3].item<float>());
  const auto p = image->TransformIndexToPhysicalPoint<double>({{3, 2, 1}});
  const Vec3 q = v.geometry.index_to_physical({3, 2, 1});
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(p[k], q[k], 1e-12);
  const Volume back = io::from_itk<float>(image);
  expect_same_geometry(back.geometry, v.geometry, 0.0);
  EXPECT_TRUE(at::equal(back.voxels, v.voxels));
}

// ---- write -> read -----------------------------------------------------------

class WriteRead : public ::testing::TestWithParam<std::tuple<std::string, at::ScalarType>> {};

TEST_P(WriteRead, KeepsVoxelsAndGeometry) {
  const auto [ext, dtype] = GetParam();
  TempDir tmp;
  const Volume v = ramp(oblique_geometry(), dtype);
  const std::string path = tmp.file("volume" + ext);
  write_volume(v, path);
  SourceInfo src;
  ReadOptions ro;
  ro.dtype = dtype == at::kDouble ? at::kDouble : at::kFloat;
  const Volume back = read_volume(path, ro, &src);
  expect_same_geometry(back.geometry, v.geometry, 1e-5);
  EXPECT_TRUE(at::equal(back.voxels, v.voxels.to(ro.dtype)));
  EXPECT_EQ(tmp.count_files(), 1) << "no temporary file may remain";
}

// Names read as the case: "nii_gz_Short", "nrrd_Float", ...
std::string write_read_name(const ::testing::TestParamInfo<WriteRead::ParamType>& info) {
  std::string ext = std::get<0>(info.param).substr(1);
  for (char& c : ext)
    if (c == '.') c = '_';
  return ext + "_" + c10::toString(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(FormatsAndTypes, WriteRead,
                         ::testing::Combine(::testing::Values(".nii.gz", ".nii", ".nrrd", ".mha"),
                                            ::testing::Values(at::kShort, at::kFloat, at::kInt)),
                         write_read_name);

TEST(WriteVolume, StoresLabelsAsUint8AndBoolAsUint8) {
  TempDir tmp;
  Volume v = ramp(oblique_geometry(), at::kFloat);
  v.voxels = (v.voxels > 0).to(at::kByte) * 2;
  write_volume(v, tmp.file("labels.nii.gz"));
  SourceInfo src;
  const Volume back = read_volume(tmp.file("labels.nii.gz"), {}, &src);
  EXPECT_EQ(src.pixel_type_on_disk, "uint8");
  EXPECT_TRUE(at::equal(back.voxels.to(at::kByte), v.voxels));
}

TEST(WriteVolume, RefusesUnknownExtensionsAndLeavesNothing) {
  TempDir tmp;
  const Volume v = ramp(oblique_geometry(), at::kFloat);
  try {
    write_volume(v, tmp.file("out.png"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::WriteFailed);
  }
  EXPECT_EQ(tmp.count_files(), 0);
}

TEST(WriteVolume, FailureLeavesNeitherATemporaryNorAPartialFile) {
  TempDir tmp;
  // The destination is an existing folder: the temporary file is written, the rename fails.
  std::filesystem::create_directories(tmp.path() / "taken.nii.gz" / "inside");
  try {
    write_volume(ramp(oblique_geometry(), at::kFloat), tmp.file("taken.nii.gz"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::WriteFailed);
  }
  EXPECT_EQ(tmp.count_files(), 0);
  // A folder that cannot be created (a file is in the way).
  std::ofstream(tmp.file("file")) << "x";
  EXPECT_THROW(write_volume(ramp(oblique_geometry(), at::kFloat), tmp.file("file/x.nii.gz")), Error);
  EXPECT_EQ(tmp.count_files(), 1);
}

// ---- real files --------------------------------------------------------------

struct NiftiFact {
  const char* path;      // relative to the shared data's ct/
  std::array<int64_t, 3> size;
  double spacing;
  const char* orientation;
  double lo, hi;
};

class RealNifti : public ::testing::TestWithParam<NiftiFact> {};

TEST_P(RealNifti, HasTheSizeSpacingOrientationAndHuRangeOfTheDataReadme) {
  const NiftiFact f = GetParam();
  const std::string path = shared_data_path(std::string("ct/") + f.path);
  if (path.empty()) GTEST_SKIP() << pulmo::test::missing_shared_data(std::string("ct/") + f.path);
  const Volume v = read_volume(path);
  EXPECT_EQ(v.geometry.size, f.size);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(v.geometry.spacing_mm[k], f.spacing, 1e-4);
  EXPECT_EQ(v.geometry.orientation_code(), f.orientation);
  expect_hu(v, f.lo, f.hi);
}

INSTANTIATE_TEST_SUITE_P(
    DataReadme, RealNifti,
    ::testing::Values(
        NiftiFact{"totalsegmentator/pulmonary_ct_cropped.nii.gz", {122, 102, 112}, 1.5, "LPS", -1064, 3343},
        NiftiFact{"totalsegmentator/example_ct_sm.nii.gz", {122, 101, 30}, 3.0, "RAS", -1100, 1207},
        NiftiFact{"totalsegmentator/example_ct.nii.gz", {122, 101, 112}, 3.0, "RAS", -1207, 3382},
        NiftiFact{"totalsegmentator/aorta_ct_cropped.nii.gz", {120, 126, 164}, 1.5, "LPS", -1078, 3343}),
    [](const ::testing::TestParamInfo<NiftiFact>& info) {  // the file name: "pulmonary_ct_cropped", ...
      std::string name = std::filesystem::path(info.param.path).filename().string();
      return name.substr(0, name.find('.'));
    });

TEST(DicomSeries, TotalSegmentatorSeriesMatchesTheGeometryOfItsLabelMap) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  SourceInfo src;
  const Volume ct = read_volume(shared_data_path("ct/totalsegmentator/example_ct_dicom"), {}, &src);
  const Volume seg = read_volume(shared_data_path("ct/totalsegmentator/example_seg_dicom.nii.gz"));
  EXPECT_EQ(src.format, FileFormat::DicomSeries);
  EXPECT_EQ(src.num_files, 20);
  EXPECT_EQ(ct.geometry.size, (std::array<int64_t, 3>{512, 512, 20}));
  EXPECT_EQ(ct.geometry.size, seg.geometry.size);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(ct.geometry.spacing_mm[k], seg.geometry.spacing_mm[k], 1e-3);
  EXPECT_NEAR(ct.geometry.spacing_mm[0], 0.9766, 1e-3);
  EXPECT_NEAR(ct.geometry.spacing_mm[2], 2.0, 1e-3);
  // The data README: first slice at LPS (-249.51, -437.51, -804.5), last at z = -766.5, identity direction.
  EXPECT_NEAR(ct.geometry.origin_mm[0], -249.51, 1e-2);
  EXPECT_NEAR(ct.geometry.origin_mm[1], -437.51, 1e-2);
  EXPECT_NEAR(ct.geometry.origin_mm[2], -804.5, 1e-3);
  EXPECT_NEAR(ct.geometry.index_to_physical({0, 0, 19})[2], -766.5, 1e-3);
  EXPECT_EQ(ct.geometry.orientation_code(), "LPS");
  // The label map stores y reversed (LAS): its voxel (i, 511-j, k) is the series' voxel (i, j, k).
  EXPECT_EQ(seg.geometry.orientation_code(), "LAS");
  EXPECT_TRUE(ct.geometry.same_physical_box_as(seg.geometry, 1e-3));
  for (const Vec3 ijk : {Vec3{0, 0, 0}, Vec3{100, 37, 5}, Vec3{511, 511, 19}}) {
    const Vec3 a = ct.geometry.index_to_physical(ijk);
    const Vec3 b = seg.geometry.index_to_physical({ijk[0], 511 - ijk[1], ijk[2]});
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(a[k], b[k], 1e-3);
  }
  // JPEG 2000 decoded and rescaled to HU (stored uint16, intercept -1024): README range -1024..1839.
  expect_hu(ct, -1024, 1839);
}

TEST(DicomSeries, TwoLidcSlicesReadAsOneVolumeWithOneMillimetreSpacing) {
  PULMO_REQUIRE_SHARED_DATA("ct/lidc-lungmask");
  SourceInfo src;
  const Volume v = read_volume(shared_data_path("ct/lidc-lungmask"), {}, &src);
  EXPECT_EQ(v.geometry.size, (std::array<int64_t, 3>{512, 512, 2}));
  EXPECT_NEAR(v.geometry.spacing_mm[0], 0.625, 1e-6);
  EXPECT_NEAR(v.geometry.spacing_mm[2], 1.0, 1e-6);
  // HU: -2048 is the padding outside the scan circle; air inside is near -1000.
  EXPECT_EQ(v.voxels.min().item<float>(), -2048.0f);
  EXPECT_EQ(v.voxels[0][0][0].item<float>(), -2048.0f);
  const IntensityStats st = intensity_stats(v, {25});
  EXPECT_NEAR(st.percentiles[0].second, -1000, 60);
  // Slice 0 of the volume is 0.dcm (z = 0); the two slices hold the same pixel data, so
  // the order itself is checked on synthetic series below.
  const Volume first = read_volume(shared_data_path("ct/lidc-lungmask/0.dcm"));
  EXPECT_TRUE(at::equal(first.voxels[0], v.voxels[0]));
  EXPECT_NEAR(v.geometry.origin_mm[2], 0.0, 1e-9);
}

TEST(DicomSingleSlice, CoronalAndSagittalSlicesGetTheirDirectionMatrices) {
  PULMO_REQUIRE_SHARED_DATA("ct/covid19-ny-sbu");
  // direction columns = row cosine, column cosine, their cross product (ImageOrientationPatient).
  const Volume cor = read_volume(shared_data_path("ct/covid19-ny-sbu/A002304/coronal/19001231-076.dcm"));
  const Mat3 cor_expected{1, 0, 0, 0, 0, 1, 0, -1, 0};
  for (int k = 0; k < 9; ++k) EXPECT_NEAR(cor.geometry.direction[k], cor_expected[k], 1e-5) << k;
  EXPECT_EQ(cor.geometry.orientation_code(), "LIP");
  const Volume sag = read_volume(shared_data_path("ct/covid19-ny-sbu/A002304/sagittal/19001231-080.dcm"));
  const Mat3 sag_expected{-0.010638, 0, -0.999943, 0.999943, 0, -0.010638, 0, -1, 0};
  for (int k = 0; k < 9; ++k) EXPECT_NEAR(sag.geometry.direction[k], sag_expected[k], 1e-5) << k;
  EXPECT_EQ(sag.geometry.orientation_code(), "PIR");
  const Volume ax = read_volume(shared_data_path("ct/covid19-ny-sbu/A002304/axial/19001231-076.dcm"));
  EXPECT_EQ(ax.geometry.orientation_code(), "LPS");
  EXPECT_NEAR(ax.geometry.origin_mm[2], -194.75, 1e-4);
  EXPECT_FALSE(ax.is_3d());
  // Rescale intercept -1024 applied: air outside the patient is about -1000 HU, not 0..24.
  EXPECT_LT(intensity_stats(cor, {5}).percentiles[0].second, -900);
}

TEST(ReadOptions, Require3dRefusesASingleSliceWithBadDimension) {
  PULMO_REQUIRE_SHARED_DATA("ct/covid19-ny-sbu");
  ReadOptions ro;
  ro.require_3d = true;
  try {
    read_volume(shared_data_path("ct/covid19-ny-sbu/A002304/axial/19001231-076.dcm"), ro);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadDimension);
  }
}

// ---- DICOM series validation (synthetic series) -----------------------------

namespace {
ExitCode read_code(const std::string& path, std::string* message = nullptr) {
  try {
    read_volume(path);
    return ExitCode::Ok;
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
}
}  // namespace

TEST(DicomSeries, ARegularSyntheticSeriesIsSortedByPositionNotByFileName) {
  TempDir tmp;
  auto slices = pulmo::test::axial_stack(5, 2.5, -40);
  std::swap(slices[0], slices[3]);  // file order differs from position order
  pulmo::test::write_synthetic_series(tmp.file("s"), slices);
  const Volume v = read_volume(tmp.file("s"));
  EXPECT_EQ(v.geometry.size[2], 5);
  EXPECT_NEAR(v.geometry.spacing_mm[2], 2.5, 1e-6);
  EXPECT_NEAR(v.geometry.origin_mm[2], -40, 1e-6);
  // file i holds value i*10 + x - 1000; position order is files 3,1,2,0,4.
  EXPECT_EQ(v.voxels[0][0][0].item<float>(), 3 * 10 - 1000);
  EXPECT_EQ(v.voxels[3][0][2].item<float>(), 0 * 10 + 2 - 1000);
}

TEST(DicomSeries, AMissingSliceIsRefusedAndNamed) {
  TempDir tmp;
  auto slices = pulmo::test::axial_stack(6, 2.0);
  slices.erase(slices.begin() + 3);
  pulmo::test::write_synthetic_series(tmp.file("s"), slices);
  std::string msg;
  EXPECT_EQ(read_code(tmp.file("s"), &msg), ExitCode::BadSeries);
  EXPECT_NE(msg.find("1 slice(s) missing"), std::string::npos) << msg;
}

TEST(DicomSeries, IrregularSpacingBeyondToleranceIsRefused) {
  TempDir tmp;
  auto slices = pulmo::test::axial_stack(6, 2.0);
  slices[4].position[2] += 0.7;  // 35 % of a gap
  pulmo::test::write_synthetic_series(tmp.file("s"), slices);
  std::string msg;
  EXPECT_EQ(read_code(tmp.file("s"), &msg), ExitCode::BadSeries);
  EXPECT_NE(msg.find("irregular"), std::string::npos) << msg;
}

TEST(DicomSeries, SmallJitterWithinToleranceIsAccepted) {
  TempDir tmp;
  auto slices = pulmo::test::axial_stack(6, 2.0);
  slices[2].position[2] += 0.05;  // 2.5 % of a gap
  pulmo::test::write_synthetic_series(tmp.file("s"), slices);
  EXPECT_EQ(read_code(tmp.file("s")), ExitCode::Ok);
}

TEST(DicomSeries, GantryTiltIsRefused) {
  TempDir tmp;
  auto slices = pulmo::test::axial_stack(6, 2.0);
  for (size_t i = 0; i < slices.size(); ++i) slices[i].position[1] += 0.5 * i;  // ~14 degrees
  pulmo::test::write_synthetic_series(tmp.file("s"), slices);
  std::string msg;
  EXPECT_EQ(read_code(tmp.file("s"), &msg), ExitCode::BadSeries);
  EXPECT_NE(msg.find("gantry tilt"), std::string::npos) << msg;
}

TEST(DicomSeries, MixedOrientationsInOneSeriesAreRefused) {
  TempDir tmp;
  auto slices = pulmo::test::axial_stack(4, 2.0);
  slices[2].orientation = {1, 0, 0, 0, 0, -1};
  pulmo::test::write_synthetic_series(tmp.file("s"), slices);
  std::string msg;
  EXPECT_EQ(read_code(tmp.file("s"), &msg), ExitCode::BadSeries);
  EXPECT_NE(msg.find("mixed series"), std::string::npos) << msg;
}

TEST(DicomSeries, ALocalizerInTheSeriesIsLeftOutWithAWarningNotRefused) {
  TempDir tmp;
  auto slices = pulmo::test::axial_stack(5, 2.0);
  pulmo::test::SyntheticSlice scout = slices[2];  // a coronal scout of another size, in the same series
  scout.orientation = {1, 0, 0, 0, 0, -1};
  scout.rows = 20;
  slices.push_back(scout);
  pulmo::test::write_synthetic_series(tmp.file("s"), slices);
  pulmo::test::set_dicom_tag(tmp.file("s/slice_005.dcm"), 0x0008, 0x0008, "ORIGINAL\\PRIMARY\\LOCALIZER");
  SourceInfo src;
  const Volume v = read_volume(tmp.file("s"), {}, &src);
  EXPECT_EQ(v.geometry.size[2], 5);
  EXPECT_EQ(v.geometry.size[1], 16);
  std::string all;
  for (const std::string& w : src.warnings) all += w + "\n";
  EXPECT_NE(all.find("1 file(s) left out"), std::string::npos) << all;
  EXPECT_NE(all.find("slice_005.dcm (localizer image"), std::string::npos) << all;
  // the same file without its ImageType is a mixed series, as before
  pulmo::test::set_dicom_tag(tmp.file("s/slice_005.dcm"), 0x0008, 0x0008, nullptr);
  EXPECT_EQ(read_code(tmp.file("s")), ExitCode::BadSeries);
}

TEST(DicomSeries, DuplicatePositionsAreRefusedAsMixed) {
  TempDir tmp;
  auto slices = pulmo::test::axial_stack(4, 2.0);
  slices[3].position = slices[1].position;
  pulmo::test::write_synthetic_series(tmp.file("s"), slices);
  EXPECT_EQ(read_code(tmp.file("s")), ExitCode::BadSeries);
}

TEST(DicomFolder, TheCtSeriesWithMostSlicesIsChosenAndOthersListed) {
  TempDir tmp;
  auto small = pulmo::test::axial_stack(3, 2.0);
  auto large = pulmo::test::axial_stack(5, 1.0, 100);
  for (auto& s : small) s.series_uid = "1.2.3.4.1";
  for (auto& s : large) s.series_uid = "1.2.3.4.2";
  pulmo::test::write_synthetic_series(tmp.file("f/a"), small);
  pulmo::test::write_synthetic_series(tmp.file("f/b/deeper"), large);
  SourceInfo src;
  const Volume v = read_volume(tmp.file("f"), {}, &src);
  EXPECT_EQ(v.geometry.size[2], 5);
  EXPECT_EQ(src.series_uid, "1.2.3.4.2");
  ASSERT_EQ(src.series.size(), 2u);
  ReadOptions ro;
  ro.series_uid = "1.2.3.4.1";
  EXPECT_EQ(read_volume(tmp.file("f"), ro).geometry.size[2], 3);
  ro.series_uid = "9.9";
  try {
    read_volume(tmp.file("f"), ro);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::NotFound);
  }
}

TEST(HuPlausibility, WarnsForWindowedEightBitImagesOnly) {
  Geometry g;
  g.size = {4, 4, 2};
  Volume windowed = Volume::filled(g, 0);
  windowed.voxels[1][2][3] = 255;
  EXPECT_EQ(hu_plausibility_warnings(windowed).size(), 1u);
  Volume ct = Volume::filled(g, -1000);
  ct.voxels[1][2][3] = 400;
  EXPECT_TRUE(hu_plausibility_warnings(ct).empty());
}

TEST(DicomSingleSlice, EveryCovidSliceOfTheSharedDataHasADirectionMatchingItsFolder) {
  // 62 single slices (axial, coronal, sagittal folders) of 10 patients, padding -1024/-2048/-3024.
  const std::string root = shared_data_path("ct/covid19-ny-sbu");
  if (root.empty()) GTEST_SKIP() << pulmo::test::missing_shared_data("ct/covid19-ny-sbu");
  int described = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().extension() != ".dcm") continue;
    const Volume v = read_volume(e.path().string());
    const std::string plane = e.path().parent_path().filename().string();
    const char normal = v.geometry.orientation_code()[2];  // where the slice normal points
    if (plane == "axial") EXPECT_TRUE(normal == 'S' || normal == 'I') << e.path();
    if (plane == "coronal") EXPECT_TRUE(normal == 'A' || normal == 'P') << e.path();
    if (plane == "sagittal") EXPECT_TRUE(normal == 'L' || normal == 'R') << e.path();
    EXPECT_TRUE(v.geometry.direction_is_orthonormal()) << e.path();
    EXPECT_LT(intensity_stats(v, {5}).percentiles[0].second, -900) << e.path() << ": rescale not applied?";
    ++described;
  }
  EXPECT_EQ(described, 62);
}

// ---- the DICOM grayscale pipeline of one radiograph (io/dicom_grey.h) ---------------------------------------------
// Files of 64 x 48 pixels whose stored value is 40 x + y unless said otherwise; expectations computed by hand from
// PS3.3 C.11.

namespace {

using pulmo::test::DicomLut;
using pulmo::test::DicomSpec;

float pixel(const io::DicomGreyImage& g, int x, int y) { return g.pixels[size_t(y) * 64 + size_t(x)]; }

io::DicomGreyImage grey(const TempDir& t, const DicomSpec& s) {
  const std::string path = t.file("g.dcm");
  pulmo::test::write_dicom_file(path, s);
  return io::read_dicom_grey(path);
}

void expect_unreadable(const TempDir& t, const DicomSpec& s, const std::string& fragment) {
  try {
    grey(t, s);
    ADD_FAILURE() << "no error; expected one saying '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Unreadable) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(DicomGrey, NoVoiGivesTheModalityValuesAndMonochrome1MirrorsThem) {
  TempDir t;
  DicomSpec s;
  s.unused_bits = 0xf000;  // overlay garbage above the 12 stored bits is masked off
  io::DicomGreyImage g = grey(t, s);
  EXPECT_EQ(g.voi, "");
  EXPECT_EQ(g.modality_lut, "rescale");
  EXPECT_EQ(g.header.bits_stored, 12);
  EXPECT_FLOAT_EQ(pixel(g, 10, 5), 405);
  EXPECT_FLOAT_EQ(pixel(g, 63, 47), 2567);
  s.photometric = "MONOCHROME1";
  g = grey(t, s);
  EXPECT_FLOAT_EQ(pixel(g, 0, 0), 2567);  // min + max - v
  EXPECT_FLOAT_EQ(pixel(g, 10, 5), 2567 - 405);
  EXPECT_FLOAT_EQ(pixel(g, 63, 47), 0);
}

TEST(DicomGrey, SignedStoredValuesAreSignExtendedAndRescaled) {
  TempDir t;
  DicomSpec s;
  s.is_signed = true;
  s.unused_bits = 0xf000;
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) s.stored.push_back(40 * x + y - 1000);
  s.rescale_slope = "2";
  s.rescale_intercept = "-100";
  const io::DicomGreyImage g = grey(t, s);
  EXPECT_FLOAT_EQ(pixel(g, 0, 0), -2100);       // 2 * -1000 - 100
  EXPECT_FLOAT_EQ(pixel(g, 63, 47), 3034);      // 2 * 1567 - 100
  EXPECT_DOUBLE_EQ(g.modality_min, -2100);
  EXPECT_DOUBLE_EQ(g.modality_max, 3034);
}

TEST(DicomGrey, LinearWindowIsAppliedBeforeTheMonochrome1Inversion) {
  TempDir t;
  DicomSpec s;
  s.window_center = "640\\100";  // two windows: the first is used
  s.window_width = "1200\\50";
  io::DicomGreyImage g = grey(t, s);
  EXPECT_EQ(g.voi, "LINEAR");
  EXPECT_DOUBLE_EQ(g.window_center, 640);
  EXPECT_DOUBLE_EQ(g.window_width, 1200);
  // LINEAR: x <= c - 0.5 - (w-1)/2 = 40 -> 0; x > c - 0.5 + (w-1)/2 = 1239 -> 1; else (x - 40) / 1199.
  EXPECT_FLOAT_EQ(pixel(g, 1, 0), 0.0f);                 // 40
  EXPECT_FLOAT_EQ(pixel(g, 2, 0), 40.0f / 1199);         // 80
  EXPECT_FLOAT_EQ(pixel(g, 10, 5), 365.0f / 1199);       // 405
  EXPECT_FLOAT_EQ(pixel(g, 30, 39), 1.0f);               // 1239
  EXPECT_FLOAT_EQ(pixel(g, 63, 47), 1.0f);               // 2567
  // MONOCHROME1: the same window on the same modality values, then 1 - y (the stored values are not inverted
  // before the window).
  s.photometric = "MONOCHROME1";
  g = grey(t, s);
  EXPECT_FLOAT_EQ(pixel(g, 1, 0), 1.0f);
  EXPECT_FLOAT_EQ(pixel(g, 2, 0), 1 - 40.0f / 1199);
  EXPECT_FLOAT_EQ(pixel(g, 10, 5), 1 - 365.0f / 1199);
  EXPECT_FLOAT_EQ(pixel(g, 63, 47), 0.0f);
}

TEST(DicomGrey, LinearExactAndSigmoidWindowsFollowTheirFormulas) {
  TempDir t;
  DicomSpec s;
  s.rescale_slope = "2";
  s.rescale_intercept = "-100";
  s.window_center = "1000";
  s.window_width = "2000";
  s.voi_function = "LINEAR_EXACT";
  io::DicomGreyImage g = grey(t, s);
  EXPECT_EQ(g.voi, "LINEAR_EXACT");
  // v = 2 s - 100; x <= c - w/2 = 0 -> 0; x > c + w/2 = 2000 -> 1; else (x - c) / w + 0.5 = v / 2000.
  EXPECT_FLOAT_EQ(pixel(g, 1, 0), 0.0f);       // v = -20
  EXPECT_FLOAT_EQ(pixel(g, 2, 0), 0.03f);      // v = 60
  EXPECT_FLOAT_EQ(pixel(g, 10, 5), 0.355f);    // v = 710
  EXPECT_FLOAT_EQ(pixel(g, 30, 0), 1.0f);      // v = 2300
  s = DicomSpec();
  s.window_center = "1280";
  s.window_width = "640";
  s.voi_function = "SIGMOID";
  g = grey(t, s);
  EXPECT_EQ(g.voi, "SIGMOID");
  // 1 / (1 + exp(-4 (x - 1280) / 640))
  EXPECT_FLOAT_EQ(pixel(g, 32, 0), 0.5f);                 // 1280
  EXPECT_FLOAT_EQ(pixel(g, 36, 0), 0.7310585786f);        // 1440: 1 / (1 + e^-1)
  EXPECT_FLOAT_EQ(pixel(g, 28, 0), 0.2689414214f);        // 1120
  s.photometric = "MONOCHROME1";
  g = grey(t, s);
  EXPECT_FLOAT_EQ(pixel(g, 36, 0), 1 - 0.7310585786f);
}

TEST(DicomGrey, AVoiLutSequenceWinsOverTheWindowAndClampsBeyondItsEnds) {
  TempDir t;
  DicomSpec s;
  s.window_center = "640";
  s.window_width = "1200";
  DicomLut lut;  // 256 entries from 1000, 16 bits: entry i = 200 i
  lut.entries = 256;
  lut.first = 1000;
  lut.bits = 16;
  for (int i = 0; i < 256; ++i) lut.data.push_back(uint16_t(200 * i));
  s.voi_lut = lut;
  io::DicomGreyImage g = grey(t, s);
  EXPECT_EQ(g.voi, "table");
  EXPECT_FLOAT_EQ(pixel(g, 0, 0), 0.0f);                    // 0: below the first mapped value -> entry 0
  EXPECT_FLOAT_EQ(pixel(g, 25, 10), 2000.0f / 65535);       // 1010 -> entry 10
  EXPECT_FLOAT_EQ(pixel(g, 26, 0), 8000.0f / 65535);        // 1040 -> entry 40
  EXPECT_FLOAT_EQ(pixel(g, 63, 47), 51000.0f / 65535);      // 2567: beyond the last -> entry 255
  s.photometric = "MONOCHROME1";
  g = grey(t, s);
  EXPECT_FLOAT_EQ(pixel(g, 26, 0), 1 - 8000.0f / 65535);
}

TEST(DicomGrey, AnEightBitVoiLutWithASignedFirstValueMapsRescaledValues) {
  TempDir t;
  DicomSpec s;
  s.rescale_intercept = "-1024";  // modality values s - 1024 can be negative: the first mapped value is signed
  DicomLut lut;
  lut.entries = 3;
  lut.first = uint16_t(int16_t(-1024));
  lut.bits = 8;
  lut.bytes = true;  // 3 bytes, padded to 4
  lut.data = {10, 20, 30};
  for (const char* vr : {"SS", "US"}) {  // US: a writer's mistake for a negative first value, read as SS
    lut.descriptor_vr = vr;
    s.voi_lut = lut;
    const io::DicomGreyImage g = grey(t, s);
    EXPECT_FLOAT_EQ(pixel(g, 0, 0), 10.0f / 255) << vr;   // -1024 -> entry 0
    EXPECT_FLOAT_EQ(pixel(g, 0, 1), 20.0f / 255) << vr;   // -1023 -> entry 1
    EXPECT_FLOAT_EQ(pixel(g, 0, 2), 30.0f / 255) << vr;   // -1022 -> entry 2
    EXPECT_FLOAT_EQ(pixel(g, 1, 0), 30.0f / 255) << vr;   // -984: beyond the last
  }
}

TEST(DicomGrey, AModalityLutSequenceAndA65536EntryVoiLut) {
  TempDir t;
  DicomSpec s;
  DicomLut modality;  // 4096 entries from 0: entry i = 2 i
  modality.entries = 4096;
  for (int i = 0; i < 4096; ++i) modality.data.push_back(uint16_t(2 * i));
  s.modality_lut = modality;
  s.window_center = "2000";
  s.window_width = "4000";
  s.voi_function = "LINEAR_EXACT";
  io::DicomGreyImage g = grey(t, s);
  EXPECT_EQ(g.modality_lut, "table");
  EXPECT_DOUBLE_EQ(g.modality_max, 5134);
  EXPECT_FLOAT_EQ(pixel(g, 10, 5), 0.2025f);  // v = 810: (810 - 2000) / 4000 + 0.5
  s = DicomSpec();
  DicomLut all;  // descriptor 0 entries = 65536, identity
  all.entries = 0;
  for (int i = 0; i < 65536; ++i) all.data.push_back(uint16_t(i));
  s.voi_lut = all;
  g = grey(t, s);
  EXPECT_FLOAT_EQ(pixel(g, 10, 5), 405.0f / 65535);
}

TEST(DicomGrey, LyingLutsBadWindowsAndUnknownFunctionsAreUnreadable) {
  TempDir t;
  DicomLut lut;
  lut.entries = 4096;  // but only 256 words
  lut.data.assign(256, 7);
  DicomSpec s;
  s.voi_lut = lut;
  expect_unreadable(t, s, "says 4096 entries of 16 bits, but the LUT Data (0028,3006) holds 512 bytes");
  lut.entries = 0;     // 65536 entries, 256 words
  s.voi_lut = lut;
  expect_unreadable(t, s, "says 65536 entries");
  lut.entries = 256;
  lut.bits = 20;
  s.voi_lut = lut;
  expect_unreadable(t, s, "20 bits per entry");
  lut.bits = 16;
  lut.data.clear();
  s.voi_lut = lut;
  expect_unreadable(t, s, "LUT Data (0028,3006) is empty");
  s.voi_lut.reset();
  lut.data.assign(100, 1);  // a Modality LUT that lies
  s.modality_lut = lut;
  expect_unreadable(t, s, "Modality LUT Sequence");
  s = DicomSpec();
  s.window_center = "640";
  for (const char* w : {"0", "-5"}) {
    s.window_width = w;
    expect_unreadable(t, s, "is not positive");
  }
  s.window_width = "";
  expect_unreadable(t, s, "a Window Center without a Window Width");
  s.window_width = "1200";
  s.voi_function = "LOG";
  expect_unreadable(t, s, "unknown VOI LUT Function (0028,1056) 'LOG'");
  s.voi_function = "";
  s.window_center = "abc";
  expect_unreadable(t, s, "Window Center (0028,1050) 'abc' is not a number");
}

// Real CT slices (the only real DICOM files here; no real radiograph DICOM is available): the Modality LUT output is
// exactly the HU the volume reader (ITK) gives, and the first of several windows follows the LINEAR formula.
TEST(DicomGrey, RealCtSlicesGiveTheVolumeReadersValuesAndTheirFirstWindow) {
  PULMO_REQUIRE_SHARED_DATA("ct/lidc-lungmask");
  PULMO_REQUIRE_SHARED_DATA("ct/covid19-ny-sbu");
  PULMO_REQUIRE_SHARED_DATA("ct/lung-pet-ct-dx");
  const std::vector<std::string> files = {shared_data_path("ct/lidc-lungmask/0.dcm"),
                                          shared_data_path("ct/covid19-ny-sbu/A002304/axial/19001231-076.dcm"),
                                          shared_data_path("ct/lung-pet-ct-dx/A0002_series3/1-04.dcm")};  // 12 bits, 2 windows
  for (const std::string& f : files) {
    const io::DicomGreyImage g = io::read_dicom_grey(f);
    const Volume v = read_volume(f);
    ASSERT_EQ(int64_t(g.pixels.size()), v.geometry.num_voxels()) << f;
    const at::Tensor hu = v.voxels.to(at::kDouble).contiguous().view({-1});
    const double* h = hu.data_ptr<double>();
    double worst = 0;
    for (size_t i = 0; i < g.pixels.size(); ++i) {
      const double c = g.window_center, w = g.window_width, x = h[i];
      const double expected = g.voi.empty()                         ? x
                              : x <= c - 0.5 - (w - 1) / 2           ? 0.0
                              : x > c - 0.5 + (w - 1) / 2            ? 1.0
                                                                     : (x - (c - 0.5)) / (w - 1) + 0.5;
      worst = std::max(worst, std::fabs(double(g.pixels[i]) - expected));
    }
    EXPECT_LT(worst, 1e-6) << f;
    EXPECT_EQ(g.voi, f.find("lidc") != std::string::npos ? "" : "LINEAR") << f;
  }
  const io::DicomGreyImage g = io::read_dicom_grey(files.back());  // the Lung-PET-CT-Dx slice
  EXPECT_DOUBLE_EQ(g.window_center, 40);  // "40\-600": the first
  EXPECT_DOUBLE_EQ(g.window_width, 350);
  EXPECT_EQ(g.header.bits_stored, 12);
}
