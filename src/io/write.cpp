// Writing volumes atomically: temporary name in the destination folder, then rename.
#include <ATen/ATen.h>
#include <itkImageFileWriter.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/internal.h"
#include "io/itk_bridge.h"
#include "core/tempfile.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/io.h"

namespace fs = std::filesystem;

namespace pulmo {

namespace {

// vox_offset of a written single-file NIfTI-1 or NIfTI-2 header (gzip or not); 0 when the header is
// missing or unreadable.
uint64_t nifti_vox_offset(const std::string& file) {
  gzFile gz = gzopen(file.c_str(), "rb");
  if (!gz) return 0;
  unsigned char h[544] = {0};
  const int got = gzread(gz, h, sizeof h);
  gzclose(gz);
  int32_t sizeof_hdr = 0;
  std::memcpy(&sizeof_hdr, h, 4);
  if (got >= 348 && sizeof_hdr == 348) {
    float f = 0;
    std::memcpy(&f, h + 108, 4);
    return f >= 352 ? static_cast<uint64_t>(f) : 0;
  }
  if (got >= 540 && sizeof_hdr == 540) {
    int64_t off = 0;
    std::memcpy(&off, h + 168, 8);
    return off >= 544 ? static_cast<uint64_t>(off) : 0;
  }
  return 0;
}

const char* output_extension(const std::string& path) {
  const std::string p = io::lower(path);
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".mha"})
    if (io::ends_with(p, ext)) return ext;
  return nullptr;
}

// Writes with ITK to `path` (a temporary file) and returns the voxel bytes written.
template <typename T>
uint64_t write_as(const Volume& volume, const std::string& path) {
  auto image = io::to_itk<T>(volume);
  auto writer = itk::ImageFileWriter<itk::Image<T, 3>>::New();
  writer->SetFileName(path);
  writer->SetInput(image);
  writer->SetUseCompression(!io::ends_with(io::lower(path), ".nii"));
  writer->Update();
  return sizeof(T) * static_cast<uint64_t>(volume.voxels.numel());
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
  const std::string e = ext;
  try {
    uint64_t voxel_bytes = 0;
    switch (volume.voxels.scalar_type()) {
      case at::kBool:
      case at::kByte:   voxel_bytes = write_as<uint8_t>(volume, tmp); break;
      case at::kChar:
      case at::kShort:  voxel_bytes = write_as<int16_t>(volume, tmp); break;
      case at::kInt:    voxel_bytes = write_as<int32_t>(volume, tmp); break;
      case at::kLong: {
        const int64_t lo = volume.voxels.min().item<int64_t>(), hi = volume.voxels.max().item<int64_t>();
        if (lo < INT32_MIN || hi > INT32_MAX)
          throw Error(ExitCode::WriteFailed, "int64 voxel values do not fit in int32");
        voxel_bytes = write_as<int32_t>(volume, tmp);
        break;
      }
      case at::kDouble: voxel_bytes = write_as<double>(volume, tmp); break;
      default:          voxel_bytes = write_as<float>(volume, tmp); break;
    }
    // ITK's NIfTI and MetaImage writers do not report short writes (a full disk): check the size.
    if (e == ".nii" || e == ".nii.gz") {
      const uint64_t vox_offset = nifti_vox_offset(tmp);
      if (vox_offset == 0)
        throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': the NIfTI header is incomplete (disk full?)");
      const auto nifti_bytes = static_cast<int64_t>(vox_offset + voxel_bytes);
      if (e == ".nii")
        commit_temporary(tmp, path, nifti_bytes);
      else
        commit_temporary(tmp, path, -1, nifti_bytes);
    } else if (e == ".mha") {
      const std::string problem = io::metaimage_data_problem(tmp, voxel_bytes, true);
      if (!problem.empty()) throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': " + problem + " (disk full?)");
      commit_temporary(tmp, path);
    } else {
      commit_temporary(tmp, path);
    }
  } catch (const itk::ExceptionObject& ex) {
    discard_temporary(tmp);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': " + ex.GetDescription());
  } catch (const fs::filesystem_error& ex) {
    discard_temporary(tmp);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': " + ex.what());
  } catch (...) {
    discard_temporary(tmp);
    throw;
  }
}

}  // namespace pulmo
