// Reading and writing volumes: NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage
// (.mha, .mhd) and DICOM (a single file, or a folder searched recursively for series).
//
// Every reader returns a Volume in the file's exact physical geometry (LPS, see
// geometry.h); every writer writes exactly the Volume's geometry, to a temporary
// name first and then renames, so a failure never leaves a partial output file.
// Failures throw pulmo::Error with a documented exit code (docs/exit-codes.md).
#pragma once

#include <c10/core/ScalarType.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pulmo/volume.h"

namespace pulmo {

enum class FileFormat { Unknown, Nifti, Nrrd, MetaImage, Dicom, DicomSeries };
const char* format_name(FileFormat format);

struct ReadOptions {
  at::ScalarType dtype = at::kFloat;  // voxel type of the returned tensor (HU fit exactly in float)
  std::string series_uid;             // DICOM folder: this SeriesInstanceUID (default: the CT series with most slices)
  bool require_3d = false;            // refuse single-slice images (exit code BadDimension)
  // DICOM series: largest allowed deviation of a slice gap from the median gap,
  // as a fraction of the median (0.1 = 10 %). Beyond it the series is refused.
  double slice_gap_tolerance = 0.1;
  // DICOM series: largest allowed angle (degrees) between the slice normal and the
  // line through the slice positions (gantry tilt). Beyond it the series is refused.
  double max_tilt_degrees = 0.5;
};

// One DICOM series found in a folder.
struct DicomSeriesInfo {
  std::string series_uid;
  std::string study_uid;
  std::string modality;
  std::string description;
  int num_files = 0;                 // files of this series (images)
  int rows = 0, columns = 0;
  std::vector<std::string> files;    // absolute paths, in no particular order
};

// What a reader learned about its source besides voxels and geometry.
struct SourceInfo {
  FileFormat format = FileFormat::Unknown;
  std::string path;
  int dimensions_on_disk = 3;        // 2 for a 2-D file or a single DICOM slice
  std::string pixel_type_on_disk;    // "int16", "float32", ...
  std::string modality;              // DICOM Modality, or "" when unknown
  std::string series_uid, series_description;
  int num_files = 1;
  std::vector<DicomSeriesInfo> series;  // DICOM folder: every series found
  std::vector<std::string> warnings;    // e.g. implausible HU, resampled tilt
};

// Reads any supported file or DICOM folder. Throws pulmo::Error.
Volume read_volume(const std::string& path, const ReadOptions& options = {}, SourceInfo* source = nullptr);

// Lists the DICOM series under `folder` (recursively). Non-DICOM files are skipped.
// Throws NotFound for a missing folder, NoData when it holds no DICOM image.
std::vector<DicomSeriesInfo> list_dicom_series(const std::string& folder, std::vector<std::string>* skipped = nullptr);

// The format an output path's extension selects, or Unknown.
FileFormat output_format_for(const std::string& path);

// Writes `volume` in its exact geometry. The voxel type on disk follows the tensor's
// dtype (uint8, int16, int32, float32, float64; bool -> uint8; int64 -> int32 when it fits).
// Supported outputs: .nii.gz (default choice for pulmo), .nii, .nrrd, .mha.
// Atomic: written to a temporary file in the same folder, then renamed.
void write_volume(const Volume& volume, const std::string& path);

// ---- DICOM Segmentation (DICOM-SEG) ----------------------------------------------------------------------------
// A coded concept (PS3.3 8.8): ("3341006", "SCT", "Right lung"), ("112120", "DCM", "Ground glass opacity").
struct DicomCode {
  std::string value, scheme, meaning;
};

// One segment: the voxels of `mask` equal to `value`.
struct DicomSegment {
  const Volume* mask = nullptr;       // every segment's mask on the same grid: the source series' grid
  int value = 1;
  std::string label;                  // Segment Label, e.g. "Right lung"
  DicomCode category, type;           // Segmented Property Category / Type (CID 7150 / 7151)
  std::array<uint8_t, 3> rgb{255, 255, 255};  // Recommended Display CIELab Value, given as sRGB
};

struct DicomSegOptions {
  std::string series_description = "pulmo segmentation";
  int series_number = 0;              // 0: the source's series number + 1000 (1000 when it has none)
  std::string algorithm_name = "pulmo";  // Segment Algorithm Name; pulmo's version is in Software Versions
};

// Writes a binary DICOM Segmentation object (PS3.3 A.51): one frame per segment and slice that holds any of
// it, each frame with its plane position and a reference to the source image it was derived from. Patient,
// study and frame of reference come from the source images, the series is new. `source_files` are the DICOM
// images the masks were computed from (one frame each; the masks' grid must be theirs: slice k of the masks at
// the position of one source image, same orientation and pixel spacing). Segments with no voxel are left out.
// Atomic (temporary file, then rename).
// Throws Error: Mismatch (masks on different grids, a slice without its source image, multi-frame sources),
// NotFound / Unreadable (a missing or unreadable source), NoData (no segment has a voxel), WriteFailed.
struct DicomSegWritten {
  std::vector<std::string> segments;  // labels of the segments written
  std::vector<std::string> warnings;  // e.g. anonymised sources without a Study Instance UID
};
DicomSegWritten write_dicom_seg(const std::vector<DicomSegment>& segments,
                                const std::vector<std::string>& source_files, const std::string& path,
                                const DicomSegOptions& options = {});

// A segment read back from a DICOM Segmentation, as a 0/1 uint8 mask on a given grid.
struct DicomSegmentMask {
  int number = 0;                     // Segment Number
  std::string label;
  DicomCode category, type;
  Volume mask;
  std::vector<std::string> source_instances;  // per slice of the grid: the SOP Instance UID its frame was derived
                                              // from ("" for a slice without a frame of this segment)
};

// Reads every segment of a binary DICOM Segmentation onto `grid` (the source series' geometry, e.g. from
// read_volume of the CT). Frames must lie on the grid's slices with its orientation and pixel spacing.
// Throws Error: NotFound, Unreadable (not a readable binary DICOM Segmentation), Mismatch.
std::vector<DicomSegmentMask> read_dicom_seg(const std::string& path, const Geometry& grid);

// The geometry every image read_volume returns has (else Error(Unreadable) naming `path`): a finite voxel spacing
// of kMinSpacingMm..kMaxSpacingMm along each axis, a finite origin, an orthonormal direction matrix (within 1e-3).
inline constexpr double kMinSpacingMm = 0.01, kMaxSpacingMm = 100.0;
void check_image_geometry(const Geometry& geometry, const std::string& path);

// Warnings about intensities that do not look like CT Hounsfield units (empty when plausible).
std::vector<std::string> hu_plausibility_warnings(const Volume& volume);

}  // namespace pulmo
