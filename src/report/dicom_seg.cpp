// The DICOM Segmentation of a quantification: pulmo's labels as coded segments, in the overlay colours; and its
// numbers as a TID 1500 measurement report about those segments.
#include <ATen/ATen.h>

#include "pulmo/dicom_sr.h"

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

void write_report_dicom_sr(const std::string& path, const std::string& seg_path, const std::vector<std::string>& segments,
                           const Quantification& q) {
  const DicomCode volume{"118565006", "SCT", "Volume"}, attenuation{"112031", "DCM", "Attenuation Coefficient"},
      mean{"373098007", "SCT", "Mean"}, ml{"ml", "UCUM", "milliliter"}, hu{"[hnsf'U]", "UCUM", "Hounsfield unit"},
      percent{"%", "UCUM", "percent"}, score{"{score}", "UCUM", "score"};
  // Measurements DICOM has no code for, in pulmo's own coding scheme (PS3.16 8.2: private schemes start with 99).
  const DicomCode involved{"involved", "99PULMO", "Lung volume involved by lesions"},
      lesion_volume{"lesion-volume", "99PULMO", "Lesion volume in this lung"},
      severity{"ct-severity-score", "99PULMO", "CT severity score (1-5)"};
  std::vector<SrGroup> groups;
  for (size_t k = 0; k < segments.size(); ++k) {
    SrGroup g;
    g.tracking_id = segments[k];
    g.segment_number = static_cast<int>(k) + 1;  // write_dicom_seg numbers the segments it writes 1, 2, ... in order
    const RegionQuantification* lung = segments[k] == "Right lung" ? &q.regions[kRight]
                                       : segments[k] == "Left lung" ? &q.regions[kLeft]
                                                                    : nullptr;
    if (lung) {
      g.finding = segments[k] == "Right lung" ? DicomCode{"3341006", "SCT", "Right lung"} : DicomCode{"44029006", "SCT", "Left lung"};
      g.measurements.push_back({volume, lung->lung_ml, ml, {}});
      g.measurements.push_back({attenuation, lung->density.mean_hu, hu, mean});
      if (q.lesions_computed) {
        g.measurements.push_back({lesion_volume, lung->lesion_ml, ml, {}});
        g.measurements.push_back({involved, lung->involved_percent, percent, {}});
        g.measurements.push_back({severity, static_cast<double>(lung->severity_score), score, {}});
      }
    } else {
      const RegionQuantification& both = q.regions[kTotal];
      double v = both.lesion_ml;
      if (segments[k] == "Ground-glass opacity") {
        g.finding = {"112120", "DCM", "Ground glass opacity"};
        v = both.ground_glass_ml;
      } else if (segments[k] == "Consolidation") {
        g.finding = {"95436008", "SCT", "Lung consolidation"};
        v = both.consolidation_ml;
      } else {
        g.finding = {"52988006", "SCT", "Lesion"};
      }
      g.measurements.push_back({volume, v, ml, {}});
    }
    groups.push_back(g);
  }
  write_measurement_report_sr(seg_path, groups, path, "pulmo measurements");
}

}  // namespace pulmo
