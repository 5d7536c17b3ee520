// Reports of one quantified CT: JSON (every number), CSV (one flat row), a self-contained HTML page with
// overlay images, and single overlay PNGs (docs/report.md).
//
//   pulmo::ReportMeta meta;                      // what the caller knows about the run
//   meta.case_id = "case-001";
//   meta.input_path = "ct.nii.gz";
//   meta.input_geometry = ct.geometry;
//   meta.lung_method = "cascade";
//   pulmo::write_report_json("out/report.json", q, meta);
//   pulmo::write_report_csv("out/report.csv", q, meta);
//   pulmo::write_report_html("out/report.html", ct, lungs, lesions, q, meta);
//
// Every file is written atomically (fileutil.h): a failure throws Error(WriteFailed) and leaves no file.
// Images follow the radiological convention whatever the storage order of the volume: axial - the patient's
// right on the viewer's left, anterior at the top; coronal - superior at the top, patient's right on the
// viewer's left; sagittal - superior at the top, anterior on the viewer's left. Index axes are matched to the
// closest patient axis (an oblique volume is shown unrotated); pixels are square in millimetres.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pulmo/geometry.h"
#include "pulmo/io.h"
#include "pulmo/quantify.h"
#include "pulmo/version.h"
#include "pulmo/volume.h"

namespace pulmo {

// One network of the run.
struct ReportModel {
  std::string stage;           // "bounding box", "lungs", "lesions"
  std::string name;
  std::string task;
  std::string folder;
  int format_version = 0;
  std::string weights_sha256;  // hex digest of the weights file
};

struct StageTime {
  std::string name;            // "read", "lungs", "lesions", "quantify", "report", ...
  double seconds = 0;
};

// The current time as ISO 8601 UTC, e.g. "2026-11-30T07:41:05Z".
std::string utc_timestamp();

// Everything the report says about the run besides the numbers of Quantification.
struct ReportMeta {
  std::string input_path;
  std::string input_format;    // format_name() of io.h, e.g. "NIfTI", "DICOM series"
  std::string case_id;
  Geometry input_geometry;
  std::string lung_method;     // "cascade", "classical", "user mask"
  std::vector<ReportModel> models;
  bool tta = false;            // test-time augmentation
  int mc_dropout_passes = 0;   // 0: off
  bool viewer = true;          // report.html carries the interactive viewer (false: a line says it was left out)
  std::string precision = "float32";
  bool has_lung_box = false;           // stage 1 (the lung-box network) ran
  std::array<double, 6> lung_box_mm{}; // its box with margin: LPS mm (x0, y0, z0, x1, y1, z1) of voxel centres  // of the networks' convolutions: "float32" or "bfloat16"
  std::vector<StageTime> timings;
  std::vector<std::string> warnings;
  std::string pulmo_version = PULMO_VERSION;
  std::string created_utc = utc_timestamp();
};

// The line every report carries.
extern const char* const kResearchDisclaimer;

// JSON: every number of `q` (NaN and infinity as null; involved_percent_sd < 0 = not computed, null;
// ground-glass / consolidation null when !q.lesion_types_known), the input geometry, models, options, timings,
// warnings, band definitions, severity score and MosMed category per region.
std::string report_json(const Quantification& q, const ReportMeta& meta);
void write_report_json(const std::string& path, const Quantification& q, const ReportMeta& meta);

// CSV: one header line and one row per case, flat columns with units in their names ("right_lung_ml",
// "total_involved_percent", "left_p50_hu", "total_well_aerated_percent"). The percentile and band columns
// follow `options`; a row lists those of q, so rows match the header of the options that produced them.
// Lines are returned without their line break; numbers unknown or not computed are empty fields.
std::string report_csv_header(const QuantifyOptions& options = {});
std::string report_csv_row(const Quantification& q, const ReportMeta& meta);
void write_report_csv(const std::string& path, const Quantification& q, const ReportMeta& meta);

// HTML: one self-contained file (PNG images embedded as base64, the curve as inline SVG): summary and
// densitometry tables, five axial levels over the lungs and a coronal slice with overlays, the per-slice
// involvement curve, models, timings and warnings. `lungs` / `lesions` on ct's grid (else Error Mismatch);
// `lesions` may be undefined.
void write_report_html(const std::string& path, const Volume& ct, const Volume& lungs, const Volume& lesions,
                       const Quantification& q, const ReportMeta& meta);

// DICOM Segmentation of a quantification, for a PACS or a DICOM viewer: segments "Right lung" (SCT 3341006),
// "Left lung" (SCT 44029006), "Ground-glass opacity" (DCM 112120) and "Consolidation" (SCT 95436008) - or one
// "Lesion" (SCT 52988006) when the lesion model does not separate the types - in the report's overlay colours,
// referring to `source_files`, the DICOM images of the CT that `lungs` / `lesions` lie on (write_dicom_seg in
// pulmo/io.h says what it requires). `lesions` may be undefined.
DicomSegWritten write_report_dicom_seg(const std::string& path, const Volume& lungs, const Volume& lesions,
                                       bool lesion_types_known, const std::vector<std::string>& source_files);

// The numbers of a quantification as a DICOM SR TID 1500 measurement report about the segments of the DICOM-SEG
// `seg_path` that write_report_dicom_seg wrote (`segments`: its DicomSegWritten::segments): per lung segment its
// volume (mL), mean attenuation (HU) and - when lesions were computed - lesion volume, involved percentage and CT
// severity score (the last three in pulmo's coding scheme 99PULMO: DICOM has no code for them); per lesion segment its
// volume (both lungs). Atomic. Throws Error (pulmo/dicom_sr.h).
void write_report_dicom_sr(const std::string& path, const std::string& seg_path, const std::vector<std::string>& segments,
                           const Quantification& q);

enum class Plane { Axial, Coronal, Sagittal };
const char* plane_name(Plane plane);  // "axial", "coronal", "sagittal"

// The index axis (0 = x, 1 = y, 2 = z) whose slices are `plane`'s slices, and their number.
int slice_axis(const Geometry& geometry, Plane plane);
int64_t slice_count(const Geometry& geometry, Plane plane);

// One slice as PNG: CT in a lung window (W1500 / L-600), right and left lung outlines, ground-glass and
// consolidation filled semi-transparent, orientation letters and a legend. `slice_index` counts along
// slice_axis(ct.geometry, plane) in storage order (for axial slices of an axial scan: SliceInvolvement::index).
// Error(Usage) for a slice index out of range. lesion_types_known = false (a binary lesion model): every lesion
// label in one colour, named "lesion".
void write_overlay_png(const std::string& path, const Volume& ct, const Volume& lungs, const Volume& lesions,
                       Plane plane, int64_t slice_index, bool lesion_types_known = true);

// A montage for checking label maps by eye: `count` slices spread evenly from the first to the last slice that
// holds a lung label (over all slices when none does), each drawn as write_overlay_png draws it, in a grid
// `columns` wide with one legend below. Returns the slice indices drawn. Error(Mismatch) for labels on another
// grid, Error(Usage) for count or columns below 1.
std::vector<int64_t> write_overlay_montage(const std::string& path, const Volume& ct, const Volume& lungs,
                                           const Volume& lesions, Plane plane, int count = 8, int columns = 4,
                                           bool lesion_types_known = true);

}  // namespace pulmo
