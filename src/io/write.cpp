// Writing volumes atomically: temporary name in the destination folder, then rename.
#include <ATen/ATen.h>
#include <itkImageFileWriter.h>
#include <filesystem>

#include "io/internal.h"
#include "io/itk_bridge.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/io.h"

namespace fs = std::filesystem;

namespace pulmo {

namespace {

const char* output_extension(const std::string& path) {
  const std::string p = io::lower(path);
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".mha"})
    if (io::ends_with(p, ext)) return ext;
  return nullptr;
}

template <typename T>
void write_as(const Volume& volume, const std::string& path) {
  auto image = io::to_itk<T>(volume);
  auto writer = itk::ImageFileWriter<itk::Image<T, 3>>::New();
  writer->SetFileName(path);
  writer->SetInput(image);
  writer->SetUseCompression(!io::ends_with(io::lower(path), ".nii"));
  writer->Update();
}

}  // namespace

FileFormat output_format_for(const std::string& path) {
  const char* ext = output_extension(path);
  if (!ext) return FileFormat::Unknown;
  const std::string e = ext;
  if (e == ".nrrd") return FileFormat::Nrrd;
  if (e == ".mha") return FileFormat::MetaImage;
  return FileFormat::Nifti;
}

void write_volume(const Volume& volume, const std::string& path) {
  volume.check();
  const char* ext = output_extension(path);
  if (!ext)
    throw Error(ExitCode::WriteFailed, "cannot write '" + path +
                                           "': unknown output format; use .nii.gz, .nii, .nrrd or .mha");
  const std::string tmp = temporary_path_for(path, ext);
  std::error_code ec;
  try {
    switch (volume.voxels.scalar_type()) {
      case at::kBool:
      case at::kByte:   write_as<uint8_t>(volume, tmp); break;
      case at::kChar:
      case at::kShort:  write_as<int16_t>(volume, tmp); break;
      case at::kInt:    write_as<int32_t>(volume, tmp); break;
      case at::kLong: {
        const int64_t lo = volume.voxels.min().item<int64_t>(), hi = volume.voxels.max().item<int64_t>();
        if (lo < INT32_MIN || hi > INT32_MAX)
          throw Error(ExitCode::WriteFailed, "int64 voxel values do not fit in int32");
        write_as<int32_t>(volume, tmp);
        break;
      }
      case at::kDouble: write_as<double>(volume, tmp); break;
      default:          write_as<float>(volume, tmp); break;
    }
    commit_temporary(tmp, path);
  } catch (const itk::ExceptionObject& e) {
    fs::remove(tmp, ec);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': " + e.GetDescription());
  } catch (const fs::filesystem_error& e) {
    fs::remove(tmp, ec);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': " + e.what());
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace pulmo
