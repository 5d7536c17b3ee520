// DICOM Structured Report of measurements (PS3.16 TID 1500 "Measurement Report"), written with DCMTK's dcmsr:
// one TID 1411 volumetric ROI measurement group per segment of a DICOM Segmentation, each referring to its segment
// and to the segmented series - the form dcmqi, 3D Slicer and OHIF read next to a DICOM-SEG.
#pragma once

#include <string>
#include <vector>

#include "pulmo/io.h"

namespace pulmo {

struct SrMeasurement {
  DicomCode concept;             // CID 7469 where one fits ("118565006", "SCT", "Volume"), else pulmo's own (99PULMO)
  double value = 0;              // written with up to 6 significant decimals; a NaN or infinite value is left out
  DicomCode unit;                // UCUM: ("ml", "UCUM", "milliliter"), ("[hnsf'U]", "UCUM", "Hounsfield unit")
  DicomCode derivation;          // CID 7464, e.g. ("373098007", "SCT", "Mean"); empty value = none
};

struct SrGroup {
  std::string tracking_id;       // e.g. "Right lung"
  int segment_number = 0;        // the segment of the SEG this group measures
  DicomCode finding;             // what was measured (e.g. the segment's type: ("3341006", "SCT", "Right lung"))
  DicomCode finding_site;        // optional: where it lies (empty value = none)
  std::vector<SrMeasurement> measurements;
};

// Writes a TID 1500 measurement report (Enhanced SR) about the segments of the DICOM Segmentation `seg_path`:
// patient and study from the SEG, a new series, each group referring to its segment and the SEG's source series.
// Atomic (temporary file, then rename). Throws Error: NotFound / Unreadable (the SEG), Mismatch (a segment number the
// SEG does not have), WriteFailed.
void write_measurement_report_sr(const std::string& seg_path, const std::vector<SrGroup>& groups,
                                 const std::string& path, const std::string& series_description = "pulmo measurements");

// What a measurement report holds, read back: per group its tracking identifier and referenced segment, per
// measurement the concept's meaning, value and unit code. Throws Error(Unreadable) for a file that is not a TID 1500
// report.
struct SrGroupRead {
  std::string tracking_id;
  int segment_number = 0;
  std::string referenced_sop_instance;  // the SEG
  struct Value {
    std::string concept, unit;
    double value = 0;
  };
  std::vector<Value> measurements;
};
std::vector<SrGroupRead> read_measurement_report_sr(const std::string& path);

}  // namespace pulmo
