#include "support/raw_nifti.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace pulmo::test {

namespace {
template <typename T>
void put(std::string& h, size_t offset, T value) {
  std::memcpy(&h[offset], &value, sizeof value);
}
}  // namespace

std::string raw_nifti_header(const RawNifti& n) {
  std::string h(352, '\0');
  put<int32_t>(h, 0, 348);
  const int16_t dim[8] = {3, n.dim[0], n.dim[1], n.dim[2], 1, 1, 1, 1};
  for (int k = 0; k < 8; ++k) put<int16_t>(h, 40 + 2 * k, dim[k]);
  put<int16_t>(h, 70, n.datatype);
  put<int16_t>(h, 72, n.bitpix);
  const float pixdim[8] = {1, n.pixdim[0], n.pixdim[1], n.pixdim[2], 1, 1, 1, 1};
  for (int k = 0; k < 8; ++k) put<float>(h, 76 + 4 * k, pixdim[k]);
  put<float>(h, 108, n.vox_offset);
  put<float>(h, 112, n.scl_slope);
  put<float>(h, 116, n.scl_inter);
  put<char>(h, 123, 10);                 // xyzt_units: mm, s
  put<int16_t>(h, 252, 1);               // qform_code: scanner
  put<int16_t>(h, 254, 0);               // sform_code: none
  // quatern b, c, d = 0 (identity), offsets 0; qfac (pixdim[0]) = 1.
  std::memcpy(&h[344], "n+1\0", 4);
  return h;
}

std::string gzip_bytes(const std::string& bytes) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, bytes.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(z.total_out);
  return out;
}

void write_raw_nifti(const std::string& path, const RawNifti& n) {
  std::string bytes = raw_nifti_header(n);
  if (n.vox_offset > 352 && n.vox_offset < 1e6) bytes.resize(static_cast<size_t>(n.vox_offset), '\0');
  bytes += n.data;
  std::ofstream(path, std::ios::binary) << (n.gzip ? gzip_bytes(bytes) : bytes);
}

std::string le_bytes(const std::vector<int16_t>& values) {
  std::string s(values.size() * 2, '\0');
  std::memcpy(&s[0], values.data(), s.size());
  return s;
}

std::string le_bytes(const std::vector<uint16_t>& values) {
  std::string s(values.size() * 2, '\0');
  std::memcpy(&s[0], values.data(), s.size());
  return s;
}

}  // namespace pulmo::test
