// The DICOM Segmentation of a quantification: pulmo's labels as coded segments, in the overlay colours.
#include <ATen/ATen.h>

#include "pulmo/io.h"
#include "pulmo/labels.h"
#include "pulmo/report.h"
#include "report/render.h"

namespace pulmo {
namespace {

using namespace report_detail;  // the overlay colours

// Segmented Property Category (CID 7150) and Type codes.
const DicomCode kAnatomicalStructure{"91723000", "SCT", "Anatomical Structure"};
const DicomCode kMorphologicallyAbnormal{"49755003", "SCT", "Morphologically Abnormal Structure"};

std::array<uint8_t, 3> rgb(const draw::Rgb& c) { return {c.r, c.g, c.b}; }

}  // namespace

DicomSegWritten write_report_dicom_seg(const std::string& path, const Volume& lungs, const Volume& lesions,
                                       bool lesion_types_known, const std::vector<std::string>& source_files) {
  std::vector<DicomSegment> s;
  Volume any_lesion;  // a lesion model that does not separate the types: every lesion label in one segment
  if (lesions.voxels.defined() && !lesion_types_known)
    any_lesion = lesions.with_voxels(lesions.voxels.gt(0).to(at::kByte));
  s.push_back({&lungs, labels::kRightLung, "Right lung", kAnatomicalStructure, {"3341006", "SCT", "Right lung"},
               rgb(kRightLungColour)});
  s.push_back({&lungs, labels::kLeftLung, "Left lung", kAnatomicalStructure, {"44029006", "SCT", "Left lung"},
               rgb(kLeftLungColour)});
  if (lesions.voxels.defined()) {
    if (lesion_types_known) {
      s.push_back({&lesions, labels::kGroundGlass, "Ground-glass opacity", kMorphologicallyAbnormal,
                   {"112120", "DCM", "Ground glass opacity"}, rgb(kGroundGlassColour)});
      s.push_back({&lesions, labels::kConsolidation, "Consolidation", kMorphologicallyAbnormal,
                   {"95436008", "SCT", "Lung consolidation"}, rgb(kConsolidationColour)});
    } else {
      s.push_back({&any_lesion, 1, "Lesion", kMorphologicallyAbnormal, {"52988006", "SCT", "Lesion"}, rgb(kLesionColour)});
    }
  }
  DicomSegOptions o;
  o.series_description = "pulmo lungs and lesions";
  return write_dicom_seg(s, source_files, path, o);
}

}  // namespace pulmo
