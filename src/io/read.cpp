// Reading files (NIfTI, NRRD, MetaImage, single DICOM) and dispatching folders to the DICOM series reader.
#include <ATen/ATen.h>
#include <itkGDCMImageIO.h>
#include <itkImageFileReader.h>
#include <itkImageIOFactory.h>
#include <itkMetaDataObject.h>

#include <zlib.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "io/internal.h"
#include "io/itk_bridge.h"
#include "core/tempfile.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/io.h"

namespace fs = std::filesystem;

namespace pulmo {

const char* format_name(FileFormat format) {
  switch (format) {
    case FileFormat::Nifti:       return "NIfTI";
    case FileFormat::Nrrd:        return "NRRD";
    case FileFormat::MetaImage:   return "MetaImage";
    case FileFormat::Dicom:       return "DICOM";
    case FileFormat::DicomSeries: return "DICOM series";
    case FileFormat::Unknown:     break;
  }
  return "unknown";
}

namespace io {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

FileFormat format_of_io(const itk::ImageIOBase* io) {
  const std::string name = io->GetNameOfClass();
  if (name.find("NiftiImageIO") != std::string::npos) return FileFormat::Nifti;
  if (name.find("NrrdImageIO") != std::string::npos) return FileFormat::Nrrd;
  if (name.find("MetaImageIO") != std::string::npos) return FileFormat::MetaImage;
  if (name.find("GDCMImageIO") != std::string::npos) return FileFormat::Dicom;
  return FileFormat::Unknown;
}

std::string component_name(itk::IOComponentEnum c) {
  using C = itk::IOComponentEnum;
  switch (c) {
    case C::UCHAR:  return "uint8";
    case C::CHAR:   return "int8";
    case C::USHORT: return "uint16";
    case C::SHORT:  return "int16";
    case C::UINT:   return "uint32";
    case C::INT:    return "int32";
    case C::ULONG:
    case C::ULONGLONG: return "uint64";
    case C::LONG:
    case C::LONGLONG:  return "int64";
    case C::FLOAT:  return "float32";
    case C::DOUBLE: return "float64";
    default:        return itk::ImageIOBase::GetComponentTypeAsString(c);
  }
}

// Raw voxel data from `offset` to the end of the holder must be exactly the voxel bytes the header describes.
static std::string raw_length_problem(const std::string& holder, uint64_t size, uint64_t offset, uint64_t voxel_bytes) {
  if (size < offset + voxel_bytes)
    return holder + " holds only " + std::to_string(size - offset) + " of " + std::to_string(voxel_bytes) + " voxel bytes";
  if (size > offset + voxel_bytes)  // padded, or a header whose sizes or element type lie
    return holder + " holds " + std::to_string(size - offset - voxel_bytes) + " bytes more than the " +
           std::to_string(voxel_bytes) + " voxel bytes its header describes (padded data or a lying header)";
  return "";
}

// Inflates a zlib (window_bits MAX_WBITS) or gzip (16 + MAX_WBITS) stream from the stream's position, counting the
// bytes it gives and stopping once more than `limit` came out. `ended`: the stream ended properly (checksum and
// length verified by zlib). `failed`: zlib could not start.
struct InflatedLength {
  uint64_t total = 0;
  bool ended = false;
  bool failed = false;
};
static InflatedLength inflated_length(std::istream& in, int window_bits, uint64_t limit) {
  InflatedLength r;
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) {
    r.failed = true;
    return r;
  }
  std::vector<unsigned char> src(1 << 20), dst(1 << 20);
  int ret = Z_OK;
  while (ret != Z_STREAM_END && r.total <= limit) {
    if (z.avail_in == 0) {
      in.read(reinterpret_cast<char*>(src.data()), static_cast<std::streamsize>(src.size()));
      z.avail_in = static_cast<uInt>(in.gcount());
      z.next_in = src.data();
      if (z.avail_in == 0) break;
    }
    z.next_out = dst.data();
    z.avail_out = static_cast<uInt>(dst.size());
    ret = inflate(&z, Z_NO_FLUSH);
    r.total += dst.size() - z.avail_out;
    if (ret != Z_OK && ret != Z_STREAM_END) break;
  }
  inflateEnd(&z);
  r.ended = ret == Z_STREAM_END;
  return r;
}

// A detached data file (MetaImage ElementDataFile, NRRD data file): relative to the header's folder.
fs::path detached_data_path(const std::string& header, const std::string& name) {
  return fs::path(name).is_absolute() ? fs::path(name) : fs::path(header).parent_path() / name;
}

// Reopens `in` on the detached data file and sets `size` to its length; "" when done, else what is wrong.
std::string open_detached_data(const fs::path& data, std::ifstream& in, uint64_t& size) {
  std::error_code ec;
  if (!fs::is_regular_file(data, ec)) return "its data file '" + data.string() + "' does not exist";
  in.close();
  in.open(data, std::ios::binary | std::ios::ate);
  if (!in) return "cannot open its data file '" + data.string() + "'";
  size = static_cast<uint64_t>(in.tellg());
  return "";
}

// A MetaImage file (.mha, data LOCAL) is complete when its data block is as long as the header says:
// compressed, CompressedDataSize bytes that inflate to exactly `voxel_bytes`; raw, `voxel_bytes`.
// Returns "" when complete, else what is wrong.
std::string metaimage_data_problem(const std::string& file, uint64_t voxel_bytes, bool require_local) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return "cannot reopen the written file";
  auto size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  std::string head(static_cast<size_t>(std::min<uint64_t>(size, 65536)), '\0');
  in.read(&head[0], static_cast<std::streamsize>(head.size()));
  const std::string key = "ElementDataFile = LOCAL";
  size_t at = head.find(key);
  uint64_t data_offset = 0;
  std::string holder = "the file";
  if (at == std::string::npos) {
    if (require_local) return "the MetaImage header is incomplete";
    // A detached header (.mhd): one data file named after "ElementDataFile = ", read from HeaderSize (0 when
    // absent; -1, "the data end the file", and LIST / file patterns are left to ITK).
    at = head.find("ElementDataFile = ");
    if (at == std::string::npos) return "";
    const size_t eol = head.find_first_of("\r\n", at);
    const std::string name = trim(head.substr(at + 18, eol == std::string::npos ? std::string::npos : eol - at - 18));
    if (name.empty() || name == "LIST" || name.find('%') != std::string::npos || name.find(' ') != std::string::npos) return "";
    const size_t hs = head.find("HeaderSize = ");
    if (hs != std::string::npos) {
      const long long h = std::strtoll(head.c_str() + hs + 13, nullptr, 10);
      if (h < 0) return "";
      data_offset = static_cast<uint64_t>(h);
    }
    const fs::path data = detached_data_path(file, name);
    if (std::string problem = open_detached_data(data, in, size); !problem.empty()) return problem;
    in.seekg(0);
    if (size < data_offset) return "its data file '" + data.string() + "' is shorter than the HeaderSize";
    holder = "its data file '" + data.string() + "'";
    // the checks below read `in` from data_offset; a compressed data file has no LOCAL key to find
  } else {
    const size_t eol = head.find('\n', at);
    if (eol == std::string::npos) return "the MetaImage header is incomplete";
    data_offset = eol + 1;
  }
  const bool compressed = head.find("CompressedData = True") != std::string::npos;
  if (!compressed) {
    return raw_length_problem(holder, size, data_offset, voxel_bytes);
  }
  const size_t cds = head.find("CompressedDataSize = ");
  if (cds != std::string::npos && cds < at) {
    const uint64_t n = std::strtoull(head.c_str() + cds + 21, nullptr, 10);
    if (size != data_offset + n)
      return holder + " holds " + std::to_string(size - data_offset) + " of " + std::to_string(n) + " compressed bytes";
  }
  // Inflate the block: zlib's Adler-32 check and the length prove it whole.
  in.seekg(static_cast<std::streamoff>(data_offset));
  const InflatedLength inflated = inflated_length(in, MAX_WBITS, UINT64_MAX);
  if (inflated.failed) return "zlib failure";
  const uint64_t total = inflated.total;
  if (!inflated.ended) return "the compressed voxel data is incomplete";
  if (total != voxel_bytes)
    return "the compressed voxel data holds " + std::to_string(total) + " of " + std::to_string(voxel_bytes) + " bytes";
  return "";
}

// A NRRD file (.nrrd, data attached after the blank line) or detached header (.nhdr, "data file: NAME") is
// complete when its data are exactly the voxel bytes: raw, by size; gzip, by inflating the stream in full (its CRC-32
// and length are checked too). teem reads what it needs and ignores the rest, so padded data (or a header whose sizes
// or type lie) would read without a word. Byte or line skips, file lists, and the other encodings are left to ITK.
std::string nrrd_data_problem(const std::string& file, uint64_t voxel_bytes) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return "";
  uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  std::string head(static_cast<size_t>(std::min<uint64_t>(size, 65536)), '\0');
  in.read(&head[0], static_cast<std::streamsize>(head.size()));
  if (head.rfind("NRRD", 0) != 0) return "";
  std::string encoding = "raw", data_file;
  uint64_t offset = 0;
  size_t at = 0;
  bool ended = false;
  while (at < head.size()) {
    const size_t eol = head.find('\n', at);
    if (eol == std::string::npos) break;
    const std::string line = trim(head.substr(at, eol - at));
    at = eol + 1;
    if (line.empty()) {
      ended = true;
      break;
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos || line[0] == '#') continue;
    const std::string key = lower(trim(line.substr(0, colon)));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "encoding") encoding = lower(value);
    else if (key == "data file" || key == "datafile") data_file = value;
    else if ((key == "byte skip" || key == "byteskip" || key == "line skip" || key == "lineskip") && value != "0") return "";
  }
  std::string holder = "the file";
  if (!data_file.empty()) {
    if (data_file.find('%') != std::string::npos || data_file.rfind("LIST", 0) == 0 || data_file.find(' ') != std::string::npos)
      return "";
    const fs::path data = detached_data_path(file, data_file);
    if (std::string problem = open_detached_data(data, in, size); !problem.empty()) return problem;
    holder = "its data file '" + data.string() + "'";
  } else {
    if (!ended) return "";  // a header longer than 64 KiB: left to ITK
    offset = at;
  }
  if (encoding == "raw") {
    return raw_length_problem(holder, size, offset, voxel_bytes);
  }
  if (encoding != "gzip" && encoding != "gz") return "";
  in.seekg(static_cast<std::streamoff>(offset));
  const InflatedLength inflated = inflated_length(in, 16 + MAX_WBITS, voxel_bytes);
  if (inflated.failed) return "zlib failure";
  const uint64_t total = inflated.total;
  if (!inflated.ended && total <= voxel_bytes)
    return "the gzip-compressed voxel data is cut short or corrupt (" + std::to_string(total) + " of " +
           std::to_string(voxel_bytes) + " bytes)";
  if (total != voxel_bytes)
    return "the gzip-compressed voxel data holds " + (total > voxel_bytes ? "more than " + std::to_string(voxel_bytes)
                                                                           : std::to_string(total) + " of " +
                                                                                 std::to_string(voxel_bytes)) + " bytes";
  return "";
}

namespace {

template <typename T>
Volume read_with(const std::string& path, itk::ImageIOBase* io) {
  using Image = itk::Image<T, 3>;
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetFileName(path);
  reader->SetImageIO(io);
  reader->Update();
  typename Image::Pointer image = reader->GetOutput();
  image->DisconnectPipeline();
  return from_itk<T>(image);
}

// a * b, saturating at 2^62: a header claiming 1e7 x 1e7 x 1e7 voxels of 8 bytes must not wrap around to a small
// number that passes the memory and size checks.
constexpr uint64_t kSaturated = uint64_t{1} << 62;
uint64_t saturating_product(uint64_t a, uint64_t b) {
  const __int128 n = static_cast<__int128>(a) * b;
  return n > static_cast<__int128>(kSaturated) ? kSaturated : static_cast<uint64_t>(n);
}

// Voxels the header promises (saturating at 2^62 for absurd headers).
uint64_t voxel_count(const itk::ImageIOBase* io) {
  uint64_t n = 1;
  for (unsigned d = 0; d < io->GetNumberOfDimensions(); ++d) n = saturating_product(n, io->GetDimensions(d));
  return n;
}

// The fields of a single-file NIfTI-1 or NIfTI-2 header pulmo checks before ITK reads the voxels.
struct NiftiHeader {
  bool valid = false;       // a NIfTI-1/-2 header was found (single file, or the .hdr of a pair: `pair`)
  bool pair = false;        // a NIfTI-1 .hdr ("ni1"): the voxels are in its .img (check_nifti_pair)
  int64_t dim[8] = {0};
  int datatype = 0, bitpix = 0;
  double pixdim[8] = {0};
  double vox_offset = 0;
  double qform[6] = {0};      // quatern_b, c, d, qoffset_x, y, z
  double srow[12] = {0};      // srow_x, srow_y, srow_z
  int qform_code = 0, sform_code = 0;
  double scl_slope = 0, scl_inter = 0;
  uint64_t header_bytes = 352;
  bool swapped = false;       // big-endian file (its float data is not scanned for NaN)  // where the voxels start at the earliest (NIfTI-1: 352, NIfTI-2: 544)
  // Bytes of voxel data as stored on disk (the on-disk datatype, before scl_slope/scl_inter); -1 on overflow.
  int64_t data_bytes() const {
    if (dim[0] < 1 || dim[0] > 7 || bitpix <= 0 || bitpix % 8) return -1;
    __int128 n = bitpix / 8;
    for (int k = 1; k <= dim[0]; ++k) {
      if (dim[k] < 0) return -1;
      n *= dim[k];
      if (n > (static_cast<__int128>(1) << 62)) return -1;
    }
    return static_cast<int64_t>(n);
  }
};

template <typename T>
T field(const unsigned char* h, size_t offset, bool swapped) {
  T v;
  std::memcpy(&v, h + offset, sizeof v);
  if (swapped) {
    unsigned char b[sizeof v];
    std::memcpy(b, &v, sizeof v);
    std::reverse(b, b + sizeof v);
    std::memcpy(&v, b, sizeof v);
  }
  return v;
}

// Reads the header through zlib, which reads gzip and plain files alike. A .hdr (or .hdr.gz) is a NIfTI-1 header
// only with the "ni1" magic (without it, ANALYZE 7.5, whose bytes at the qform, sform and scl places mean other
// things: ITK decides); a single file is one with "n+1", or without a magic (niftilib reads it as ANALYZE 7.5 from the
// same file), or NIfTI-2.
NiftiHeader read_nifti_header(const std::string& path) {
  NiftiHeader n;
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) return n;
  unsigned char h[544] = {0};
  const int got = gzread(gz, h, sizeof h);
  gzclose(gz);
  if (got < 348) return n;
  int32_t sizeof_hdr = field<int32_t>(h, 0, false);
  const bool swapped = sizeof_hdr == 0x5C010000 || sizeof_hdr == 0x1C020000;
  if (swapped) sizeof_hdr = field<int32_t>(h, 0, true);
  n.swapped = swapped;
  const std::string low = lower(path);
  const bool hdr = ends_with(low, ".hdr") || ends_with(low, ".hdr.gz");
  const bool ni1 = std::memcmp(h + 344, "ni1", 4) == 0;
  // NIfTI-1 "n+1", headers without the magic that niftilib reads as ANALYZE 7.5 from the same file, and "ni1" pairs.
  if (sizeof_hdr == 348 && (hdr ? ni1 : !ni1)) {
    n.pair = hdr;
    for (int k = 0; k < 8; ++k) n.dim[k] = field<int16_t>(h, 40 + 2 * k, swapped);
    n.datatype = field<int16_t>(h, 70, swapped);
    n.bitpix = field<int16_t>(h, 72, swapped);
    for (int k = 0; k < 8; ++k) n.pixdim[k] = field<float>(h, 76 + 4 * k, swapped);
    n.vox_offset = field<float>(h, 108, swapped);
    for (int k = 0; k < 6; ++k) n.qform[k] = field<float>(h, 256 + 4 * k, swapped);
    for (int k = 0; k < 12; ++k) n.srow[k] = field<float>(h, 280 + 4 * k, swapped);
    n.scl_slope = field<float>(h, 112, swapped);
    n.scl_inter = field<float>(h, 116, swapped);
    n.qform_code = field<int16_t>(h, 252, swapped);
    n.sform_code = field<int16_t>(h, 254, swapped);
    n.valid = true;
  } else if (!hdr && got >= 540 && sizeof_hdr == 540 && std::memcmp(h + 4, "n+2", 4) == 0) {
    n.datatype = field<int16_t>(h, 12, swapped);
    n.bitpix = field<int16_t>(h, 14, swapped);
    for (int k = 0; k < 8; ++k) n.dim[k] = field<int64_t>(h, 16 + 8 * k, swapped);
    for (int k = 0; k < 8; ++k) n.pixdim[k] = field<double>(h, 104 + 8 * k, swapped);
    n.vox_offset = static_cast<double>(field<int64_t>(h, 168, swapped));
    n.header_bytes = 544;
    for (int k = 0; k < 6; ++k) n.qform[k] = field<double>(h, 352 + 8 * k, swapped);
    for (int k = 0; k < 12; ++k) n.srow[k] = field<double>(h, 400 + 8 * k, swapped);
    n.scl_slope = field<double>(h, 176, swapped);
    n.scl_inter = field<double>(h, 184, swapped);
    n.qform_code = field<int32_t>(h, 344, swapped);
    n.sform_code = field<int32_t>(h, 348, swapped);
    n.valid = true;
  }
  return n;
}

uint64_t nonfinite_voxels(const std::string& path, const NiftiHeader& h, uint64_t vox_offset, int64_t data_bytes);
std::string nonfinite_voxels_problem(uint64_t bad) {
  return std::to_string(bad) + " NaN or infinite voxel(s), which the NIfTI reader would silently turn into 0 (background "
                               "in a label map, water in a CT); replace them first";
}

// The voxel-to-RAS affine (3 x 4, row-major) of the qform (quaternion, pixdim, qfac) and of the sform (srow).
std::array<double, 12> qform_affine(const NiftiHeader& h) {
  const double b = h.qform[0], c = h.qform[1], d = h.qform[2];
  const double a = std::sqrt(std::max(0.0, 1 - b * b - c * c - d * d));
  const double r[9] = {a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c),
                       2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b),
                       2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - b * b - c * c};
  const double scale[3] = {h.pixdim[1], h.pixdim[2], (h.pixdim[0] < 0 ? -1 : 1) * h.pixdim[3]};
  std::array<double, 12> m{};
  for (int row = 0; row < 3; ++row) {
    for (int k = 0; k < 3; ++k) m[4 * row + k] = r[3 * row + k] * scale[k];
    m[4 * row + 3] = h.qform[3 + row];
  }
  return m;
}

// Largest difference between two affines: over the three axis columns (mm per voxel, times the largest size so
// that it is the displacement at the far corner) and the origin (mm).
double affine_difference(const std::array<double, 12>& p, const std::array<double, 12>& q, const int64_t* dim) {
  double worst = 0;
  for (int row = 0; row < 3; ++row) {
    double at_corner = std::fabs(p[4 * row + 3] - q[4 * row + 3]);
    for (int k = 0; k < 3; ++k)
      at_corner += std::fabs(p[4 * row + k] - q[4 * row + k]) * double(std::max<int64_t>(1, dim[k + 1] - 1));
    worst = std::max(worst, at_corner);
  }
  return worst;
}

// The NIfTI standard's precedence, as nibabel (get_best_affine), SPM and MRIcroGL read it: the sform (method 3) when
// sform_code > 0, else the qform (method 2). ITK 5.2 differs: it takes the sform only when sform_code is 1 (scanner)
// or the qform is absent, and only when the sform's scale matches pixdim; else the qform (measured on hand-made
// headers: sform_code 2, 3 or 4 beside a different qform was read through the qform). pulmo reads the sform, in LPS.
struct SformGeometry {
  bool used = false;   // sform_code > 0 and the sform is a rotation times positive voxel sizes
  std::string problem; // sform_code > 0 but the sform cannot be a voxel grid (singular, sheared): why
  Vec3 spacing{}, origin{};
  Mat3 direction{};
};
SformGeometry sform_geometry(const NiftiHeader& h) {
  SformGeometry g;
  if (!h.valid || h.sform_code <= 0) return g;
  const int spatial = static_cast<int>(std::clamp<int64_t>(h.dim[0], 1, 3));
  double col[3][3];
  for (int k = 0; k < 3; ++k) {
    for (int r = 0; r < 3; ++r) col[k][r] = h.srow[4 * r + k];
    const double n = std::sqrt(col[k][0] * col[k][0] + col[k][1] * col[k][1] + col[k][2] * col[k][2]);
    if (!(n > 0)) {
      if (k >= spatial) return g;  // an axis the image does not have (2-D): ITK decides
      g.problem = "its column " + std::to_string(k + 1) + " is zero (a singular matrix)";
      return g;
    }
    g.spacing[k] = n;
    for (int r = 0; r < 3; ++r) col[k][r] /= n;
  }
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b) {
      const double c = col[a][0] * col[b][0] + col[a][1] * col[b][1] + col[a][2] * col[b][2];
      if (std::fabs(c) > 1e-3) {
        std::ostringstream w;
        w.precision(3);
        w << "its voxel axes " << a + 1 << " and " << b + 1 << " are not perpendicular (" << std::acos(std::fabs(c)) * 180 / M_PI
          << " degrees apart: a sheared grid, as a gantry tilt leaves it)";
        g.problem = w.str();
        return g;
      }
    }
  for (int r = 0; r < 3; ++r) {
    const double sign = r < 2 ? -1 : 1;  // RAS -> LPS
    for (int k = 0; k < 3; ++k) g.direction[3 * r + k] = sign * col[k][r] + 0.0;  // + 0.0: no "-0" in pulmo info
    g.origin[r] = sign * h.srow[4 * r + 3] + 0.0;
  }
  g.used = true;
  return g;
}

// The sform of a header that cannot be read by its precedence is refused before ITK reads it: a sheared or singular
// sform (no rotation of voxel axes; ITK would quietly take the qform, nibabel the shear), or, without a qform, an sform
// whose voxel sizes are not pixdim's (ITK 5.2 stops with "no orthonormal definition").
void check_nifti_sform(const std::string& path, const NiftiHeader& h) {
  const SformGeometry s = sform_geometry(h);
  const std::string which = "'" + path + "': the header's sform (sform_code " + std::to_string(h.sform_code) +
                            ", which takes precedence over the qform)";
  if (!s.problem.empty())
    throw Error(ExitCode::Unreadable, which + " is not a voxel grid pulmo can represent: " + s.problem +
                                          "; pulmo will not guess the geometry (resample the image first)");
  if (!s.used || h.qform_code > 0) return;
  const int spatial = static_cast<int>(std::clamp<int64_t>(h.dim[0], 1, 3));
  for (int k = 0; k < spatial; ++k)
    if (std::fabs(s.spacing[k] - std::fabs(h.pixdim[k + 1])) > 1e-3 * std::fabs(h.pixdim[k + 1])) {
      std::ostringstream w;
      w.precision(4);
      w << which << " gives voxel size " << s.spacing[k] << " mm along axis " << k + 1 << " but pixdim[" << k + 1
        << "] says " << h.pixdim[k + 1] << " mm, and there is no qform to decide; pulmo will not guess the spacing";
      throw Error(ExitCode::Unreadable, w.str());
    }
}

// Reads the geometry through the sform when sform_code > 0 (SformGeometry). Returns a warning when the qform, also
// set, places the voxels elsewhere (more than 0.1 mm anywhere in the image), else "".
std::string apply_nifti_sform(const std::string& path, const NiftiHeader& h, Geometry& g) {
  const SformGeometry s = sform_geometry(h);
  if (!s.used) return "";
  Geometry sform = g;
  sform.spacing_mm = s.spacing;
  sform.origin_mm = s.origin;
  sform.direction = s.direction;
  if (!g.same_grid_as(sform, 1e-3)) g = sform;  // else ITK's reading of the same grid is kept (float rounding)
  if (h.qform_code <= 0) return "";
  const std::array<double, 12> q = qform_affine(h);
  std::array<double, 12> m{};
  std::copy(std::begin(h.srow), std::end(h.srow), m.begin());
  const double diff = affine_difference(q, m, h.dim);
  if (diff <= 0.1) return "";
  std::ostringstream w;
  w.precision(3);
  w << "'" << path << "': the header's qform and sform disagree (by up to " << diff
    << " mm within the image); it was read through the sform (sform_code " << h.sform_code
    << " > 0 takes precedence, as nibabel and SPM read it; ITK 5.2 alone uses the sform only when sform_code is 1 and "
       "its scale is pixdim's) - check the orientation";
  return w.str();
}

// Checks of a NIfTI that ITK does not make: ITK reads pixdim 0/NaN/Inf as 1 mm, zero-fills
// voxels past the end of the file (a vox_offset past EOF, a truncated file or gzip stream) and never
// reaches the gzip trailer, so corrupt deflate data in the middle reads as garbage. The gzip stream is
// decompressed once in full here: zlib then checks every member's CRC-32 and length. The header's checks are the same
// for the .hdr of a pair; its .img is checked by check_nifti_pair.
void check_nifti(const std::string& path, uint64_t file_bytes) {
  const NiftiHeader h = read_nifti_header(path);
  if (!h.valid) return;  // an ANALYZE 7.5 .hdr or not NIfTI after all: ITK decides
  // ITK's orientation code can loop for a very long time on non-finite matrices (a fuzzer finding).
  for (double x : h.qform)
    if (!std::isfinite(x)) throw Error(ExitCode::Unreadable, "'" + path + "': the header's qform (orientation) is not finite");
  for (double x : h.srow)
    if (!std::isfinite(x)) throw Error(ExitCode::Unreadable, "'" + path + "': the header's sform (orientation) is not finite");
  if (!std::isfinite(h.pixdim[0])) throw Error(ExitCode::Unreadable, "'" + path + "': the header's qfac (pixdim[0]) is not finite");
  check_nifti_sform(path, h);
  // scl_slope 0 means "no scaling" (the standard); NaN or infinite would be read as no scaling too (niftilib), or
  // make every voxel NaN: refused, as a DICOM Rescale Slope is.
  if (!std::isfinite(h.scl_slope) || (h.scl_slope != 0 && !std::isfinite(h.scl_inter)))
    throw Error(ExitCode::Unreadable, "'" + path + "': the header's intensity scale is not a finite number (scl_slope " +
                                          std::to_string(h.scl_slope) + ", scl_inter " + std::to_string(h.scl_inter) +
                                          "); the voxel values would be wrong");
  const int spatial = static_cast<int>(std::min<int64_t>(h.dim[0], 3));
  for (int k = 1; k <= spatial; ++k)
    if (!std::isfinite(h.pixdim[k]) || h.pixdim[k] == 0)
      throw Error(ExitCode::Unreadable, "'" + path + "': the header gives voxel size pixdim[" + std::to_string(k) +
                                            "] = " + std::to_string(h.pixdim[k]) +
                                            "; pulmo will not guess the spacing (fix the header)");
  if (h.pair) return;  // the voxels are in the .img: check_nifti_pair
  const int64_t data = h.data_bytes();
  if (data < 0)
    throw Error(ExitCode::Unreadable, "'" + path + "': the header's dimensions or datatype are invalid (dim[0] " +
                                          std::to_string(h.dim[0]) + ", bitpix " + std::to_string(h.bitpix) + ")");
  if (!(h.vox_offset >= 0) || h.vox_offset > 1e15)
    throw Error(ExitCode::Unreadable, "'" + path + "': invalid vox_offset in the header");
  const uint64_t vox_offset = std::max(static_cast<uint64_t>(h.vox_offset), h.header_bytes);
  const uint64_t need = vox_offset + static_cast<uint64_t>(data);
  const GzipCheck gz = check_gzip_file(path);
  const uint64_t available = gz.is_gzip ? gz.content_bytes : file_bytes;
  if (gz.is_gzip && !gz.ok)
    throw Error(ExitCode::Unreadable, "'" + path + "' is truncated or corrupt: the compressed data fails its check (" +
                                          gz.problem + ") after " + std::to_string(gz.content_bytes) + " of " +
                                          std::to_string(need) + " bytes");
  if (vox_offset >= available)
    throw Error(ExitCode::Unreadable, "'" + path + "': the header puts the voxels at byte " + std::to_string(vox_offset) +
                                          " (vox_offset), past the end of the " + std::to_string(available) +
                                          "-byte " + (gz.is_gzip ? "decompressed data" : "file"));
  if (need > available)
    throw Error(ExitCode::Unreadable, "'" + path + "' is truncated: the header promises " + std::to_string(need) +
                                          " bytes (voxels from byte " + std::to_string(vox_offset) + ") but the " +
                                          (gz.is_gzip ? "compressed stream holds " : "file has only ") +
                                          std::to_string(available) + " bytes (truncated file or lying header)");
  if (need < available)
    throw Error(ExitCode::Unreadable, "'" + path + "' holds " + std::to_string(available - need) +
                                          " bytes more than its header describes (" + std::to_string(need) +
                                          "): padded data, or dimensions or a datatype that lie");
  if (!h.swapped) {
    const uint64_t bad = nonfinite_voxels(path, h, vox_offset, data);
    if (bad > 0)
      throw Error(ExitCode::Unreadable, "'" + path + "' holds " + nonfinite_voxels_problem(bad));
  }
}

// NaN and infinite values in float32/float64 NIfTI data: niftilib's reader (inside ITK) replaces them
// with 0 without a word, so a NaN in a label map would count as background and a NaN in a CT as water.
uint64_t nonfinite_voxels(const std::string& path, const NiftiHeader& h, uint64_t vox_offset, int64_t data_bytes) {
  if (h.datatype != 16 && h.datatype != 64) return 0;
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) return 0;
  gzbuffer(gz, 1 << 17);
  uint64_t bad = 0;
  if (gzseek(gz, static_cast<z_off_t>(vox_offset), SEEK_SET) >= 0) {
    std::vector<char> buf(1 << 20);
    int64_t left = data_bytes;
    while (left > 0) {
      const int n = gzread(gz, buf.data(), static_cast<unsigned>(std::min<int64_t>(left, static_cast<int64_t>(buf.size()))));
      if (n <= 0) break;
      left -= n;
      if (h.datatype == 16) {
        for (int i = 0; i + 4 <= n; i += 4) {
          float f;
          std::memcpy(&f, buf.data() + i, 4);
          bad += !std::isfinite(f);
        }
      } else {
        for (int i = 0; i + 8 <= n; i += 8) {
          double d;
          std::memcpy(&d, buf.data() + i, 8);
          bad += !std::isfinite(d);
        }
      }
    }
  }
  gzclose(gz);
  return bad;
}

// A NIfTI .hdr/.img pair: the .img must hold exactly vox_offset + the voxels its header describes (niftilib
// zero-fills an .img cut short).
void check_nifti_pair(const std::string& path) {
  const std::string low = lower(path);
  const bool gz = ends_with(low, ".hdr.gz");
  if (!ends_with(low, ".hdr") && !gz) return;
  unsigned char h[348] = {0};
  {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) return;
    const int got = gzread(f, h, sizeof h);
    gzclose(f);
    if (got < 348) return;
  }
  int32_t sizeof_hdr = field<int32_t>(h, 0, false);
  const bool swapped = sizeof_hdr == 0x5C010000;
  if (field<int32_t>(h, 0, swapped) != 348) return;
  NiftiHeader n;
  for (int k = 0; k < 8; ++k) n.dim[k] = field<int16_t>(h, 40 + 2 * k, swapped);
  n.bitpix = field<int16_t>(h, 72, swapped);
  const double vox_offset = field<float>(h, 108, swapped);
  const int64_t data = n.data_bytes();
  if (data < 0 || !(vox_offset >= 0) || vox_offset > 1e15)
    throw Error(ExitCode::Unreadable, "'" + path + "': the header's dimensions, datatype or vox_offset are invalid");
  const std::string img = path.substr(0, path.size() - (gz ? 7 : 4)) + (gz ? ".img.gz" : ".img");
  std::error_code ec;
  uint64_t available = fs::file_size(img, ec);
  if (ec) throw Error(ExitCode::Unreadable, "'" + path + "': its image file '" + img + "' does not exist");
  if (gz) {
    const GzipCheck c = check_gzip_file(img);
    if (!c.ok) throw Error(ExitCode::Unreadable, "'" + path + "': its image file '" + img + "' is truncated or corrupt");
    available = c.content_bytes;
  }
  const uint64_t need = static_cast<uint64_t>(vox_offset) + static_cast<uint64_t>(data);
  if (available != need)
    throw Error(ExitCode::Unreadable, "'" + path + "': its image file '" + img + "' holds " + std::to_string(available) +
                                          " bytes, not the " + std::to_string(need) + " its header describes (" +
                                          (available < need ? "truncated" : "padded, or a lying header") + ")");
  // NaN or infinite float voxels, as in a single file (niftilib would make them 0).
  const NiftiHeader full = read_nifti_header(path);
  if (full.valid && !full.swapped) {
    const uint64_t bad = nonfinite_voxels(img, full, static_cast<uint64_t>(vox_offset), data);
    if (bad > 0)
      throw Error(ExitCode::Unreadable, "'" + path + "': its image file '" + img + "' holds " + nonfinite_voxels_problem(bad));
  }
}

// ITK reads a negative or zero MetaImage ElementSpacing as it comes (a flipped axis): refused, as pixdim 0 is.
void check_metaimage_spacing(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  for (int i = 0; i < 64 && std::getline(in, line); ++i) {
    if (line.rfind("ElementDataFile", 0) == 0) break;
    if (line.rfind("ElementSpacing", 0) != 0 && line.rfind("ElementSize", 0) != 0) continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::istringstream values(line.substr(eq + 1));
    std::string v;
    while (values >> v) {
      const double x = std::strtod(v.c_str(), nullptr);
      if (!std::isfinite(x) || x <= 0)
        throw Error(ExitCode::Unreadable, "'" + path + "': " + trim(line) + ": a voxel spacing must be a positive "
                                          "number; pulmo will not guess it");
    }
  }
}

uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

}  // namespace

Volume read_file(const std::string& path, const ReadOptions& options, SourceInfo* source) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw Error(ExitCode::Unreadable, "'" + path + "' is not a regular file (a device, pipe or socket); "
                                      "pulmo reads image files and DICOM folders");
  const auto bytes = fs::file_size(path, ec);
  if (ec) throw Error(ExitCode::NotFound, "cannot open '" + path + "': " + ec.message());
  if (bytes == 0) throw Error(ExitCode::Unreadable, "'" + path + "' is empty (0 bytes)");
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw Error(ExitCode::NotFound, "cannot open '" + path + "' for reading (permission?)");
  }

  {
    const std::string problem = dicom_meta_problem(path);  // before GDCM's probe, which would abort
    if (!problem.empty()) throw Error(ExitCode::Unreadable, "'" + path + "': corrupt DICOM header (" + problem + ")");
    if (const std::string values = dicom_value_problem(path, /*check_pixels=*/true, /*refuse_modality_lut=*/true); !values.empty())
      throw Error(ExitCode::Unreadable, "'" + path + "': " + values);
    const std::string what = dicom_single_file_problem(path);
    if (!what.empty()) throw Error(ExitCode::BadDimension, "'" + path + "' " + what);
  }
  itk::ImageIOBase::Pointer io =
      itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::ImageIOFactory::IOFileModeEnum::ReadMode);
  if (!io)
    throw Error(ExitCode::Unreadable, "'" + path +
                                          "' is not a readable image: not NIfTI (.nii, .nii.gz), NRRD, MetaImage "
                                          "(.mha, .mhd) or DICOM, or its header is corrupt");
  const FileFormat format = format_of_io(io);
  if (format == FileFormat::Unknown)
    throw Error(ExitCode::Unreadable, "'" + path + "' is a " +
                                          std::regex_replace(io->GetNameOfClass(), std::regex("ImageIO$"), "") +
                                          " image (a photo or picture format), not a medical image: it has no "
                                          "patient geometry or Hounsfield units; pulmo reads NIfTI, NRRD, MetaImage "
                                          "and DICOM");
  // A header whose sizes lie (a file shorter than its header says, a corrupt gzip stream) or whose values
  // ITK would turn into wrong geometry or a hang: checked before ITK reads it.
  if (format == FileFormat::Nifti) {
    check_nifti(path, bytes);
    check_nifti_pair(path);
  }
  if (format == FileFormat::MetaImage) check_metaimage_spacing(path);
  try {
    io->SetFileName(path);
    io->ReadImageInformation();
    if (io->GetComponentType() == itk::IOComponentEnum::UNKNOWNCOMPONENTTYPE)
      throw Error(ExitCode::Unreadable, "'" + path + "': corrupt " + format_name(format) + " header (unknown voxel type)");
  } catch (const itk::ExceptionObject& e) {
    throw Error(ExitCode::Unreadable, "'" + path + "': corrupt " + format_name(format) + " header (" +
                                          e.GetDescription() + ")");
  }
  const unsigned ndim = io->GetNumberOfDimensions();
  if (io->GetNumberOfComponents() != 1)
    throw Error(ExitCode::BadDimension, "'" + path + "' has " + std::to_string(io->GetNumberOfComponents()) +
                                            " components per voxel (colour or vector image); pulmo needs scalar images");
  if (ndim > 4 || (ndim == 4 && io->GetDimensions(3) > 1)) {
    std::string dims;
    for (unsigned d = 0; d < ndim; ++d) dims += (d ? "x" : "") + std::to_string(io->GetDimensions(d));
    throw Error(ExitCode::BadDimension, "'" + path + "' is a " + std::to_string(ndim) + "-D image (" + dims +
                                            "); pulmo reads 2-D and 3-D images only (split a time series first)");
  }
  for (unsigned d = 0; d < ndim; ++d)
    if (io->GetDimensions(d) == 0) throw Error(ExitCode::Unreadable, "'" + path + "' has a zero-sized axis");

  // A lying NRRD/MetaImage/DICOM header would make ITK allocate (and zero-fill) gigabytes: no compression
  // expands data more than about 1032-fold (deflate's limit), so a file cannot hold more voxel bytes than
  // that. Detached headers (.nhdr, .mhd) keep their data elsewhere and are left to ITK.
  if ((format == FileFormat::Nrrd || format == FileFormat::MetaImage || format == FileFormat::Dicom) &&
      !ends_with(lower(path), ".nhdr") &&
      !ends_with(lower(path), ".mhd")) {
    const uint64_t on_disk = saturating_product(voxel_count(io), io->GetComponentSize());
    if (on_disk / 1032 > bytes)
      throw Error(ExitCode::Unreadable, "'" + path + "': the header promises " + std::to_string(on_disk) +
                                            " bytes of voxels but the file has only " + std::to_string(bytes) +
                                            " bytes, more than any compression can expand (truncated file or lying header)");
  }
  // ITK's MetaImage reader zero-fills data cut short (it only prints "data not read completely").
  if (format == FileFormat::MetaImage) {
    const std::string problem = metaimage_data_problem(path, saturating_product(voxel_count(io), io->GetComponentSize()), false);
    if (!problem.empty())
      throw Error(ExitCode::Unreadable, "'" + path + "' is truncated, padded or corrupt: " + problem);
  }
  // teem reads the bytes it needs from a NRRD and ignores the rest.
  if (format == FileFormat::Nrrd) {
    const std::string problem = nrrd_data_problem(path, saturating_product(voxel_count(io), io->GetComponentSize()));
    if (!problem.empty())
      throw Error(ExitCode::Unreadable, "'" + path + "' is truncated, padded or corrupt: " + problem);
  }
  // Never ask for more memory than the machine has (a lying NRRD/MetaImage header would end as
  // "out of memory"): the voxels as float32 (or float64) in memory.
  const uint64_t in_memory = saturating_product(voxel_count(io), options.dtype == at::kDouble ? 8 : 4);
  const uint64_t memory = physical_memory_bytes();
  if (memory > 0 && in_memory > memory)
    throw Error(ExitCode::Unreadable, "'" + path + "': the header promises " + std::to_string(in_memory >> 20) +
                                          " MiB of voxels, more than this machine's " + std::to_string(memory >> 20) +
                                          " MiB of memory (lying header?)");

  Volume volume;
  try {
    if (options.dtype == at::kDouble)
      volume = read_with<double>(path, io);
    else
      volume = read_with<float>(path, io);
  } catch (const itk::ExceptionObject& e) {
    throw Error(ExitCode::Unreadable, "'" + path + "': cannot read the voxels of this " + format_name(format) +
                                          " file; it is truncated or corrupt (" + e.GetDescription() + ")");
  }
  if (volume.voxels.scalar_type() != options.dtype) volume.voxels = volume.voxels.to(options.dtype);
  for (int k = 0; k < 3; ++k) {
    const double sp = volume.geometry.spacing_mm[k];
    if (!std::isfinite(sp) || sp <= 0)
      throw Error(ExitCode::Unreadable, "'" + path + "': invalid voxel spacing " + std::to_string(sp) +
                                            " mm along axis " + std::to_string(k) + "; pulmo will not guess it");
    for (int r = 0; r < 3; ++r)
      if (!std::isfinite(volume.geometry.origin_mm[r]) || !std::isfinite(volume.geometry.direction[3 * r + k]))
        throw Error(ExitCode::Unreadable, "'" + path + "': the origin or orientation in the header is not finite");
  }

  // NIfTI: the sform when sform_code > 0 (the standard's precedence; ITK 5.2 may have read the qform).
  std::string transform_warning;
  if (format == FileFormat::Nifti) transform_warning = apply_nifti_sform(path, read_nifti_header(path), volume.geometry);

  if (source) {
    if (!transform_warning.empty()) source->warnings.push_back(transform_warning);
    source->format = format;
    source->path = path;
    source->dimensions_on_disk = ndim == 4 ? 3 : static_cast<int>(ndim);
    source->pixel_type_on_disk = component_name(io->GetComponentType());
    source->num_files = 1;
    if (format == FileFormat::Dicom) {
      const auto& dict = io->GetMetaDataDictionary();
      std::string value;
      if (itk::ExposeMetaData<std::string>(dict, "0008|0060", value)) source->modality = trim(value);
      if (itk::ExposeMetaData<std::string>(dict, "0020|000e", value)) source->series_uid = trim(value);
      if (itk::ExposeMetaData<std::string>(dict, "0008|103e", value)) source->series_description = trim(value);
      source->dimensions_on_disk = volume.geometry.size[2] > 1 ? 3 : 2;
    }
  }
  return volume;
}

}  // namespace io

void check_image_geometry(const Geometry& g, const std::string& path) {
  static const char* axis[3] = {"x", "y", "z"};
  for (int k = 0; k < 3; ++k) {
    const double sp = g.spacing_mm[k];
    if (!std::isfinite(sp) || sp < kMinSpacingMm || sp > kMaxSpacingMm)
      throw Error(ExitCode::Unreadable, "'" + path + "': voxel spacing " + std::to_string(sp) + " mm along " + axis[k] +
                                            " is not a medical image's (pulmo reads " + std::to_string(kMinSpacingMm).substr(0, 4) +
                                            " to " + std::to_string(int(kMaxSpacingMm)) + " mm; fix the header)");
    if (!std::isfinite(g.origin_mm[k]))
      throw Error(ExitCode::Unreadable, "'" + path + "': the origin in the header is not finite");
  }
  for (double d : g.direction)
    if (!std::isfinite(d)) throw Error(ExitCode::Unreadable, "'" + path + "': the orientation in the header is not finite");
  if (!g.direction_is_orthonormal(1e-3))
    throw Error(ExitCode::Unreadable, "'" + path + "': the orientation (direction matrix) is singular or not orthonormal "
                                      "(sheared or scaled axes); pulmo will not guess the geometry");
}

namespace {

// Every voxel finite (else Error(Unreadable) naming `path`): NaN or infinite voxels in floating-point data of any
// format, or an intensity scale that overflows the voxel type.
void check_voxel_values(const Volume& volume, const std::string& path) {
  const at::Tensor v = volume.voxels;
  if (!v.defined() || !v.is_floating_point()) return;
  const int64_t bad = v.numel() - at::isfinite(v).sum().item<int64_t>();
  if (bad > 0)
    throw Error(ExitCode::Unreadable, "'" + path + "' holds " + std::to_string(bad) + " NaN or infinite voxel value(s) "
                                      "after its intensity scale (Rescale Slope/Intercept, scl_slope) was applied: NaN "
                                      "in floating-point data, or a scale that overflows " +
                                      (v.scalar_type() == at::kDouble ? "float64" : "float32") +
                                      "; the voxel values would be wrong");
}

}  // namespace

Volume read_volume(const std::string& path, const ReadOptions& options, SourceInfo* source) {
  SourceInfo local;
  SourceInfo& src = source ? *source : local;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ExitCode::NotFound, "'" + path + "' does not exist");
  Volume volume = fs::is_directory(path, ec) ? io::read_dicom_folder(path, options, &src)
                                              : io::read_file(path, options, &src);
  volume.check();
  check_image_geometry(volume.geometry, path);
  check_voxel_values(volume, path);
  if (options.require_3d && !volume.is_3d())
    throw Error(ExitCode::BadDimension, "'" + path + "': this command needs a 3-D volume, but this image has a single "
                                        "slice (" + volume.geometry.describe() + ")");
  for (const std::string& w : hu_plausibility_warnings(volume)) src.warnings.push_back(w);
  return volume;
}

std::vector<std::string> hu_plausibility_warnings(const Volume& volume) {
  std::vector<std::string> warnings;
  if (!volume.voxels.defined() || volume.voxels.numel() == 0) return warnings;
  const auto [min_t, max_t] = at::aminmax(volume.voxels);  // one pass
  const double lo = min_t.item<double>(), hi = max_t.item<double>();
  if (lo >= 0 && hi <= 255)
    warnings.push_back("intensities lie in " + std::to_string(int(lo)) + ".." + std::to_string(int(hi)) +
                       ": this looks like a windowed 8-bit image, not Hounsfield units; CT results would be wrong");
  else if (lo >= 0)
    warnings.push_back("no negative intensities (min " + std::to_string(lo) +
                       "): air in a CT is about -1000 HU, so these may not be Hounsfield units (missing rescale?)");
  else if (hi - lo < 200)
    warnings.push_back("intensity range " + std::to_string(lo) + ".." + std::to_string(hi) +
                       " is too narrow for CT Hounsfield units");
  return warnings;
}

}  // namespace pulmo
