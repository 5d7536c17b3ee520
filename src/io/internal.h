// Internal to src/io: shared helpers of the readers and writers.
#pragma once

#include <itkImageIOBase.h>

#include <string>

#include "pulmo/io.h"

namespace pulmo::io {

std::string lower(std::string s);
bool ends_with(const std::string& s, const std::string& suffix);
std::string trim(const std::string& s);
FileFormat format_of_io(const itk::ImageIOBase* io);
std::string component_name(itk::IOComponentEnum c);

// A MetaImage file with LOCAL data is complete when its data block is as long as the header says
// (compressed: CompressedDataSize bytes inflating to exactly `voxel_bytes`). "" when complete (or, unless
// `require_local`, when the data lives in another file); else what is wrong.
std::string metaimage_data_problem(const std::string& file, uint64_t voxel_bytes, bool require_local);

Volume read_file(const std::string& path, const ReadOptions& options, SourceInfo* source);
Volume read_dicom_folder(const std::string& folder, const ReadOptions& options, SourceInfo* source);

}  // namespace pulmo::io
