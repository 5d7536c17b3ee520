// Internal to src/io: shared helpers of the readers and writers.
#pragma once

#include <itkImageIOBase.h>

#include <string>
#include <vector>

#include "pulmo/io.h"

namespace gdcm {
class DataElement;
}

namespace pulmo::io {

// An element's value as text: its bytes without the trailing padding DICOM adds (space, or NUL for UIDs); "" when it
// has no value (absent, empty, or a sequence).
std::string dicom_text(const gdcm::DataElement& element);

std::string lower(std::string s);
bool ends_with(const std::string& s, const std::string& suffix);
std::string trim(const std::string& s);
// The file meta group (0002) of a DICOM Part 10 file, and the length of every element and item of its data set,
// checked against the file's size: "" when sound (or not Part 10, or deflated), else what is wrong. GDCM 3.0 (Debian,
// assertions on) aborts the process on such meta groups, and allocates whatever length an element claims.
// With `allow_cut_pixel_data` (the series scan, whose GDCM scanner stops before the pixels), Pixel Data running past the
// end of the file is left to check_pixel_data_complete ("truncated").
std::string dicom_meta_problem(const std::string& file, bool allow_cut_pixel_data = false);
// A single DICOM file that is not one image of one frame: a DICOM Segmentation, a multi-frame image. "" when it
// is one (or not DICOM), else what it is. Read before ITK, which would make a stack with a made-up 1 mm spacing.
std::string dicom_single_file_problem(const std::string& file);
// Header values of a DICOM image file that GDCM or ITK would misread: an image-pixel number (Samples per Pixel,
// Rows, Columns, Bits Allocated/Stored, High Bit, Pixel Representation) that is not one 2-byte binary value (GDCM
// asserts, aborting the process); a Rescale Slope that is 0 (every voxel would be the intercept), not a number, NaN
// or infinite; a Rescale Intercept that is not a finite number; with `check_pixels`, native pixel data cut short
// (check_pixel_data_complete); with `refuse_modality_lut` (read as a volume), a Modality LUT Sequence (the volume
// readers, ITK, apply Rescale Slope/Intercept only) and an Image Orientation (Patient) that is not orthonormal within
// 1e-3 (GDCM would read it as the identity). "" when sound (or not DICOM), else what is wrong.
std::string dicom_value_problem(const std::string& file, bool check_pixels = false, bool refuse_modality_lut = false);
// The numbers of a DICOM multi-valued decimal or integer string ("40\\400" -> 40, 400); none when not numbers.
std::vector<double> dicom_numbers(const char* value);
// Error(Unreadable) naming `context` when the native pixel data of a DICOM file (rows x columns x samples x
// bits_allocated/8 x frames bytes) is cut short, or when the header promises more than any compression could hold.
void check_pixel_data_complete(const std::string& file, int rows, int columns, int samples_per_pixel,
                               int bits_allocated, int frames, const std::string& context);
FileFormat format_of_io(const itk::ImageIOBase* io);
std::string component_name(itk::IOComponentEnum c);

// A MetaImage file with LOCAL data is complete when its data block is as long as the header says
// (compressed: CompressedDataSize bytes inflating to exactly `voxel_bytes`). "" when complete (or, unless
// `require_local`, when the data lives in another file); else what is wrong.
std::string metaimage_data_problem(const std::string& file, uint64_t voxel_bytes, bool require_local);

// A NRRD file (attached data) or detached header with raw or gzip data is complete when its data are exactly
// `voxel_bytes` (gzip: after inflating; the stream's checks pass). "" when complete (or left to ITK: byte/line skips,
// file lists, other encodings), else what is wrong.
std::string nrrd_data_problem(const std::string& file, uint64_t voxel_bytes);

Volume read_file(const std::string& path, const ReadOptions& options, SourceInfo* source);
Volume read_dicom_folder(const std::string& folder, const ReadOptions& options, SourceInfo* source);

}  // namespace pulmo::io
