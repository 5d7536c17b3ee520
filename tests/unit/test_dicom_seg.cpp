// DICOM Segmentation output (write_dicom_seg / read_dicom_seg, pulmo/io.h) and the TID 1500 measurement report about
// its segments (pulmo/dicom_sr.h) on small synthetic DICOM series.
#include <ATen/ATen.h>
#include <gdcmReader.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "pulmo/dicom_sr.h"
#include "pulmo/error.h"
#include "pulmo/io.h"
#include "support/synthetic_dicom.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace pulmo;
using pulmo::test::TempDir;

namespace {

const DicomCode kAnatomy{"91723000", "SCT", "Anatomical Structure"};

std::vector<std::string> files_of(const std::string& folder) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(folder)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A series of 6 slices of 12 rows x 16 columns (not square: a transposed frame cannot pass), written in a file
// order that is not the slice order, and the volume pulmo reads from it.
struct Series {
  TempDir tmp;
  std::string folder;
  std::vector<pulmo::test::SyntheticSlice> slices;
  Volume ct;
  explicit Series(std::array<double, 6> orientation = {1, 0, 0, 0, 1, 0}) {
    folder = tmp.file("ct");
    slices = pulmo::test::axial_stack(6, 2.5, -30);
    for (auto& s : slices) {
      s.rows = 12;
      s.columns = 16;
      s.orientation = orientation;
    }
    if (orientation[5] != 0) {  // not axial: step the positions along the slice normal instead of z
      const double* o = orientation.data();
      const double n[3] = {o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]};
      for (size_t i = 0; i < slices.size(); ++i)
        for (int r = 0; r < 3; ++r) slices[i].position[size_t(r)] = 10.0 * r + 2.5 * double(i) * n[r];
    }
    std::swap(slices[1], slices[4]);
    pulmo::test::write_synthetic_series(folder, slices);
    ct = read_volume(folder);
  }
  // SOP Instance UID of the file at slice k of the volume
  std::string instance_at(int64_t k) const {
    for (const std::string& f : files_of(folder)) {
      gdcm::Reader r;
      r.SetFileName(f.c_str());
      if (!r.Read()) continue;
      const gdcm::DataSet& ds = r.GetFile().GetDataSet();
      const gdcm::DataElement& pos = ds.GetDataElement(gdcm::Tag(0x0020, 0x0032));
      const gdcm::DataElement& uid = ds.GetDataElement(gdcm::Tag(0x0008, 0x0018));
      std::string p(pos.GetByteValue()->GetPointer(), pos.GetByteValue()->GetLength());
      std::replace(p.begin(), p.end(), '\\', ' ');
      std::istringstream in(p);
      Vec3 x{0, 0, 0};
      in >> x[0] >> x[1] >> x[2];
      const Vec3 idx = ct.geometry.physical_to_index(x);
      if (std::llround(idx[2]) == k) {
        std::string u(uid.GetByteValue()->GetPointer(), uid.GetByteValue()->GetLength());
        while (!u.empty() && (u.back() == '\0' || u.back() == ' ')) u.pop_back();
        return u;
      }
    }
    return "";
  }
};

ExitCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
    return ExitCode::Ok;
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
}

}  // namespace

TEST(DicomSeg, SegmentsRoundTripVoxelForVoxelAndFramesReferToTheirSourceImages) {
  Series s;
  ASSERT_EQ(s.ct.geometry.size[0], 16);
  ASSERT_EQ(s.ct.geometry.size[1], 12);
  Volume lungs = Volume::filled(s.ct.geometry, 0, at::kByte);
  Volume lesions = Volume::filled(s.ct.geometry, 0, at::kByte);
  lungs.voxels.slice(0, 1, 3).slice(1, 2, 9).slice(2, 1, 7).fill_(1);   // right: slices 1-2
  lungs.voxels.slice(0, 4, 5).slice(1, 3, 10).slice(2, 9, 15).fill_(2);  // left: slice 4
  lungs.voxels[5][11][15] = 2;                                           // one corner voxel: rows x columns order
  lesions.voxels.slice(0, 2, 3).slice(1, 4, 6).slice(2, 2, 4).fill_(1);
  std::vector<DicomSegment> segments = {
      {&lungs, 1, "Right lung", kAnatomy, {"3341006", "SCT", "Right lung"}, {0, 200, 255}},
      {&lungs, 2, "Left lung", kAnatomy, {"44029006", "SCT", "Left lung"}, {60, 220, 60}},
      {&lesions, 1, "Ground-glass opacity", kAnatomy, {"112120", "DCM", "Ground glass opacity"}, {255, 215, 0}},
      {&lesions, 2, "Consolidation", kAnatomy, {"95436008", "SCT", "Lung consolidation"}, {235, 40, 40}},  // empty
  };
  const std::string out = s.tmp.file("seg.dcm");
  const DicomSegWritten written = write_dicom_seg(segments, files_of(s.folder), out);
  ASSERT_EQ(written.segments, (std::vector<std::string>{"Right lung", "Left lung", "Ground-glass opacity"}));
  EXPECT_TRUE(written.warnings.empty());

  const std::vector<DicomSegmentMask> back = read_dicom_seg(out, s.ct.geometry);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].label, "Right lung");
  EXPECT_EQ(back[0].type.value, "3341006");
  EXPECT_EQ(back[0].type.scheme, "SCT");
  EXPECT_EQ(back[1].type.value, "44029006");
  EXPECT_EQ(back[2].type.scheme, "DCM");
  EXPECT_EQ(back[2].category.meaning, "Anatomical Structure");
  EXPECT_TRUE(back[0].mask.voxels.equal(lungs.voxels.eq(1).to(at::kByte)));
  EXPECT_TRUE(back[1].mask.voxels.equal(lungs.voxels.eq(2).to(at::kByte)));
  EXPECT_TRUE(back[2].mask.voxels.equal(lesions.voxels.eq(1).to(at::kByte)));
  EXPECT_TRUE(back[0].mask.geometry.same_grid_as(s.ct.geometry));
  // Each frame refers to the image at its own position; slices without the segment have no frame.
  for (int64_t k = 0; k < 6; ++k) {
    const bool right = k == 1 || k == 2;
    EXPECT_EQ(back[0].source_instances[size_t(k)], right ? s.instance_at(k) : "") << "slice " << k;
  }
  EXPECT_FALSE(s.instance_at(4).empty());
  EXPECT_EQ(back[1].source_instances[4], s.instance_at(4));
  EXPECT_EQ(back[1].source_instances[5], s.instance_at(5));
  // An anonymised source without a Study Instance UID: written, with a warning.
  for (const std::string& f : files_of(s.folder)) pulmo::test::set_dicom_tag(f, 0x0020, 0x000d, nullptr);
  const DicomSegWritten anonymous = write_dicom_seg(segments, files_of(s.folder), s.tmp.file("anonymous.dcm"));
  ASSERT_EQ(anonymous.warnings.size(), 1u);
  EXPECT_NE(anonymous.warnings[0].find("no Study Instance UID"), std::string::npos) << anonymous.warnings[0];
  // No temporary file is left beside it.
  for (const auto& e : fs::directory_iterator(s.tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(DicomSeg, ACoronalSeriesRoundTripsInItsOwnOrientation) {
  Series s({1, 0, 0, 0, 0, -1});
  Volume lungs = Volume::filled(s.ct.geometry, 0, at::kByte);
  lungs.voxels.slice(0, 2, 5).slice(1, 1, 4).slice(2, 5, 12).fill_(1);
  lungs.voxels[0][11][0] = 1;
  write_dicom_seg({{&lungs, 1, "Right lung", kAnatomy, {"3341006", "SCT", "Right lung"}}}, files_of(s.folder),
                  s.tmp.file("seg.dcm"));
  const auto back = read_dicom_seg(s.tmp.file("seg.dcm"), s.ct.geometry);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_TRUE(back[0].mask.voxels.equal(lungs.voxels));
  EXPECT_EQ(back[0].source_instances[0], s.instance_at(0));
  // Read onto an axial grid of the same size: the orientation differs, and that is an error, not a silent flip.
  Geometry axial = s.ct.geometry;
  axial.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_EQ(code_of([&] { read_dicom_seg(s.tmp.file("seg.dcm"), axial); }), ExitCode::Mismatch);
}

TEST(DicomSeg, MasksOffTheSeriesGridOrMissingSourcesAreRefusedWithoutAFile) {
  Series s;
  Volume lungs = Volume::filled(s.ct.geometry, 1, at::kByte);
  const DicomSegment right{&lungs, 1, "Right lung", kAnatomy, {"3341006", "SCT", "Right lung"}};
  const std::string out = s.tmp.file("seg.dcm");
  std::string msg;
  // shifted by a slice: the first source image lies on no slice of the masks
  Volume shifted = lungs;
  shifted.geometry.origin_mm[2] += 2.5;
  EXPECT_EQ(code_of([&] { write_dicom_seg({{&shifted, 1, "x", kAnatomy, kAnatomy}}, files_of(s.folder), out); }, &msg),
            ExitCode::Mismatch);
  EXPECT_NE(msg.find("on no slice"), std::string::npos) << msg;
  // one source image short
  auto some = files_of(s.folder);
  some.pop_back();
  EXPECT_EQ(code_of([&] { write_dicom_seg({right}, some, out); }, &msg), ExitCode::Mismatch);
  EXPECT_NE(msg.find("has no source image"), std::string::npos) << msg;
  // masks of two grids
  Volume other = Volume::filled(shifted.geometry, 1, at::kByte);
  EXPECT_EQ(code_of([&] { write_dicom_seg({right, {&other, 1, "y", kAnatomy, kAnatomy}}, files_of(s.folder), out); }),
            ExitCode::Mismatch);
  // a missing source, a source that is not DICOM
  auto missing = files_of(s.folder);
  missing[0] += ".gone";
  EXPECT_EQ(code_of([&] { write_dicom_seg({right}, missing, out); }), ExitCode::NotFound);
  std::ofstream(s.tmp.file("text.dcm")) << "not a DICOM file\n";
  auto text = files_of(s.folder);
  text[0] = s.tmp.file("text.dcm");
  EXPECT_EQ(code_of([&] { write_dicom_seg({right}, text, out); }), ExitCode::Unreadable);
  // nothing to write
  Volume empty = Volume::filled(s.ct.geometry, 0, at::kByte);
  EXPECT_EQ(code_of([&] { write_dicom_seg({{&empty, 1, "x", kAnatomy, kAnatomy}}, files_of(s.folder), out); }),
            ExitCode::NoData);
  // a destination in a folder that cannot exist (its parent is a file)
  EXPECT_EQ(code_of([&] { write_dicom_seg({right}, files_of(s.folder), s.tmp.file("text.dcm") + "/seg.dcm"); }),
            ExitCode::WriteFailed);
  EXPECT_FALSE(fs::exists(out));
}

TEST(DicomSeg, ReadingRefusesWhatIsNotASegmentationOfThisGrid) {
  Series s;
  Volume lungs = Volume::filled(s.ct.geometry, 1, at::kByte);
  const std::string out = s.tmp.file("seg.dcm");
  write_dicom_seg({{&lungs, 1, "Right lung", kAnatomy, {"3341006", "SCT", "Right lung"}}}, files_of(s.folder), out);
  std::string msg;
  EXPECT_EQ(code_of([&] { read_dicom_seg(files_of(s.folder)[0], s.ct.geometry); }, &msg), ExitCode::Unreadable);
  EXPECT_NE(msg.find("not a DICOM Segmentation"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { read_dicom_seg(s.tmp.file("none.dcm"), s.ct.geometry); }), ExitCode::NotFound);
  // read as an image, a SEG would be a stack of segment frames with a made-up spacing: refused, and why
  EXPECT_EQ(code_of([&] { read_volume(out); }, &msg), ExitCode::BadDimension);
  EXPECT_NE(msg.find("is a DICOM Segmentation (SEG), not an image"), std::string::npos) << msg;
  // so is a single file that says it holds several frames
  const std::string slice = files_of(s.folder)[0];
  pulmo::test::set_dicom_tag(slice, 0x0028, 0x0008, "3");
  EXPECT_EQ(code_of([&] { read_volume(slice); }, &msg), ExitCode::BadDimension);
  EXPECT_NE(msg.find("multi-frame image (3 frames)"), std::string::npos) << msg;
  Geometry smaller = s.ct.geometry;
  smaller.size[0] = 15;
  EXPECT_EQ(code_of([&] { read_dicom_seg(out, smaller); }), ExitCode::Mismatch);
  Geometry fewer = s.ct.geometry;
  fewer.size[2] = 3;  // frames on slices 3-5 lie outside it
  EXPECT_EQ(code_of([&] { read_dicom_seg(out, fewer); }), ExitCode::Mismatch);
  std::ofstream(s.tmp.file("cut.dcm"), std::ios::binary)
      << std::ifstream(out, std::ios::binary).rdbuf();
  fs::resize_file(s.tmp.file("cut.dcm"), fs::file_size(out) / 2);
  EXPECT_EQ(code_of([&] { read_dicom_seg(s.tmp.file("cut.dcm"), s.ct.geometry); }), ExitCode::Unreadable);
}

TEST(DicomSr, AMeasurementReportRefersToItsSegmentsAndKeepsItsNumbers) {
  Series s;
  Volume lungs = Volume::filled(s.ct.geometry, 0, at::kByte);
  lungs.voxels.slice(0, 1, 3).slice(1, 2, 9).slice(2, 1, 7).fill_(1);
  lungs.voxels.slice(0, 4, 5).slice(1, 3, 10).slice(2, 9, 15).fill_(2);
  const std::string seg = s.tmp.file("seg.dcm"), sr = s.tmp.file("sr.dcm");
  write_dicom_seg({{&lungs, 1, "Right lung", kAnatomy, {"3341006", "SCT", "Right lung"}},
                   {&lungs, 2, "Left lung", kAnatomy, {"44029006", "SCT", "Left lung"}}},
                  files_of(s.folder), seg);
  const DicomCode volume{"118565006", "SCT", "Volume"}, ml{"ml", "UCUM", "milliliter"};
  std::vector<SrGroup> groups(2);
  groups[0] = {"Right lung", 1, {"3341006", "SCT", "Right lung"}, {}, {{volume, 1174.654543, ml, {}}}};
  groups[1] = {"Left lung", 2, {"44029006", "SCT", "Left lung"}, {}, {{volume, 1675.5, ml, {}},
               {{"112031", "DCM", "Attenuation Coefficient"}, -710.25, {"[hnsf'U]", "UCUM", "Hounsfield unit"},
                {"373098007", "SCT", "Mean"}},
               {{"involved", "99PULMO", "Lung volume involved by lesions"}, std::nan(""), {"%", "UCUM", "percent"}, {}}}};
  write_measurement_report_sr(seg, groups, sr);
  const auto back = read_measurement_report_sr(sr);
  ASSERT_EQ(back.size(), 2u);
  gdcm::Reader r;
  r.SetFileName(seg.c_str());
  ASSERT_TRUE(r.Read());
  const gdcm::DataElement& uid = r.GetFile().GetDataSet().GetDataElement(gdcm::Tag(0x0008, 0x0018));
  std::string seg_uid(uid.GetByteValue()->GetPointer(), uid.GetByteValue()->GetLength());
  while (!seg_uid.empty() && (seg_uid.back() == '\0' || seg_uid.back() == ' ')) seg_uid.pop_back();
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(back[k].tracking_id, groups[k].tracking_id);
    EXPECT_EQ(back[k].segment_number, groups[k].segment_number);
    EXPECT_EQ(back[k].referenced_sop_instance, seg_uid);
  }
  ASSERT_EQ(back[0].measurements.size(), 1u);
  EXPECT_EQ(back[0].measurements[0].concept, "Volume");
  EXPECT_EQ(back[0].measurements[0].unit, "ml");
  EXPECT_DOUBLE_EQ(back[0].measurements[0].value, 1174.65);  // six significant digits
  ASSERT_EQ(back[1].measurements.size(), 2u);                  // the NaN is left out, not written as a number
  EXPECT_DOUBLE_EQ(back[1].measurements[1].value, -710.25);
  EXPECT_EQ(back[1].measurements[1].unit, "[hnsf'U]");

  // A segment the SEG does not have, and a file that is no SEG, are refused.
  groups[1].segment_number = 7;
  EXPECT_EQ(code_of([&] { write_measurement_report_sr(seg, groups, s.tmp.file("bad.dcm")); }), ExitCode::Mismatch);
  EXPECT_EQ(code_of([&] { write_measurement_report_sr(files_of(s.folder)[0], {}, s.tmp.file("bad.dcm")); }),
            ExitCode::Unreadable);
  EXPECT_FALSE(fs::exists(s.tmp.file("bad.dcm")));
  EXPECT_EQ(code_of([&] { read_measurement_report_sr(seg); }), ExitCode::Unreadable);
}
