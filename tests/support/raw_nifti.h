// Writes NIfTI-1 files byte by byte (no ITK), so tests can produce exactly the headers other tools
// write (dcm2niix: uint16 with scl_inter -1024) and headers that lie (pixdim 0, vox_offset past EOF).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace pulmo::test {

struct RawNifti {
  std::array<int16_t, 3> dim{4, 3, 2};            // x, y, z
  int16_t datatype = 4;                           // 2 uint8, 4 int16, 16 float32, 512 uint16
  int16_t bitpix = 16;
  std::array<float, 3> pixdim{0.8f, 0.8f, 2.5f};
  float scl_slope = 0, scl_inter = 0;             // 0/0: no scaling
  float vox_offset = 352;
  std::string data;                               // the voxel bytes as stored (little-endian)
  bool gzip = false;                              // write as .nii.gz (one gzip member)
};

// The 352 header bytes (348 + 4 extension bytes), qform = identity scaled by pixdim, origin 0.
std::string raw_nifti_header(const RawNifti& n);
// Header + data (gzip-compressed when n.gzip) written to `path`.
void write_raw_nifti(const std::string& path, const RawNifti& n);
// Voxel bytes of little-endian values.
std::string le_bytes(const std::vector<int16_t>& values);
std::string le_bytes(const std::vector<uint16_t>& values);
// gzip-compresses `bytes` (one member, valid CRC and length).
std::string gzip_bytes(const std::string& bytes);

}  // namespace pulmo::test
