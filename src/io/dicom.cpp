// DICOM folders: find the series (GDCM scanner), validate one, read it (ITK + GDCM).
#include <gdcmDirectory.h>
#include <gdcmReader.h>
#include <gdcmScanner.h>
#include <gdcmTag.h>
#include <itkGDCMImageIO.h>
#include <itkImageSeriesReader.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "io/internal.h"
#include "io/itk_bridge.h"
#include "pulmo/error.h"
#include "pulmo/io.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace io {

std::string dicom_text(const gdcm::DataElement& de) {
  const gdcm::ByteValue* bv = de.GetByteValue();
  if (!bv || !bv->GetPointer()) return "";
  std::string s(bv->GetPointer(), bv->GetLength());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

namespace {

// Walks the data set of a Part 10 file (after its meta group) as GDCM will read it, and says what is wrong when an
// element or item claims more bytes than remain in the file: GDCM allocates the declared length (up to 4 GiB) before
// it finds the file too short (a fuzzer finding: a few corrupt bytes made pulmo allocate 1.8 and 4.2 GB). Sequences
// (SQ, or any undefined length) are walked into, the fragments of encapsulated pixel data skipped; a value whose VR is
// not two capital letters is measured as implicit VR (4-byte length), GDCM's fall-back. Deflated data sets are left to
// GDCM. "" when every length fits.
class ElementWalker {
 public:
  // With `allow_cut_pixel_data`, a Pixel Data element of the data set itself (or a fragment of encapsulated Pixel Data)
  // that runs past the end of the file is left to the caller's check_pixel_data_complete (GDCM's scanner stops before
  // it).
  ElementWalker(std::ifstream& in, uint64_t size, bool big_endian, bool allow_cut_pixel_data)
      : in_(in), size_(size), big_(big_endian), allow_cut_pixel_data_(allow_cut_pixel_data) {}

  // Walks elements from `at` up to `end` or a delimiter (then `at` is past it).
  std::string walk(uint64_t& at, uint64_t end, bool explicit_vr, bool fragments, int depth) {
    if (depth > 32) return "sequences nested more than 32 deep";
    while (at + 8 <= end) {
      unsigned char h[12] = {0};
      if (!read(at, h, at + 12 <= size_ ? 12 : 8)) return "";
      const uint16_t group = u16(h), element = u16(h + 2);
      if (group == 0xfffe) {  // item, item delimiter, sequence delimiter
        const uint32_t length = u32(h + 4);
        at += 8;
        if (element == 0xe00d || element == 0xe0dd) return "";
        if (length == 0xffffffffu) {
          if (std::string p = walk(at, size_, explicit_vr, false, depth + 1); !p.empty()) return p;
          continue;
        }
        if (length > size_ - at) {
          // A fragment of encapsulated Pixel Data cut by the end of the file: as a cut Pixel Data element.
          if (fragments && element == 0xe000) {
            if (!allow_cut_pixel_data_)
              return "the file is truncated: its Pixel Data fragment " + too_long(group, element, at - 8, length, size_ - at).substr(8);
            at = size_;  // nothing after it to walk (the callers' loops end at the end of the file)
            return "";
          }
          return too_long(group, element, at - 8, length, size_ - at);
        }
        if (!fragments && element == 0xe000) {
          uint64_t inner = at;
          if (std::string p = walk(inner, at + length, explicit_vr, false, depth + 1); !p.empty()) return p;
        }
        at += length;
        continue;
      }
      const bool vr_ok = explicit_vr && std::isupper(h[4]) && std::isupper(h[5]);
      const std::string vr = vr_ok ? std::string(reinterpret_cast<const char*>(h + 4), 2) : "";
      const bool long_form = !vr_ok || vr == "OB" || vr == "OW" || vr == "OF" || vr == "SQ" || vr == "UT" || vr == "UN" ||
                             vr == "UC" || vr == "UR" || vr == "OD" || vr == "OL" || vr == "OV" || vr == "SV" || vr == "UV";
      const uint64_t header = !vr_ok ? 8 : long_form ? 12 : 8;
      if (at + header > size_) return "";
      const uint32_t length = !vr_ok ? u32(h + 4) : long_form ? u32(h + 8) : u16(h + 6);
      const uint64_t value_at = at + header;
      if (length == 0xffffffffu) {
        at = value_at;
        const bool pixel_data = group == 0x7fe0 && element == 0x0010;
        if (std::string p = walk(at, size_, explicit_vr && vr != "UN", pixel_data, depth + 1); !p.empty()) return p;
        continue;
      }
      if (length > size_ - value_at) {
        if (depth > 0 || group != 0x7fe0 || element != 0x0010) return too_long(group, element, at, length, size_ - value_at);
        return allow_cut_pixel_data_ ? "" : "the file is truncated: its Pixel Data " + too_long(group, element, at, length, size_ - value_at).substr(8);
      }
      if (vr == "SQ") {
        uint64_t inner = value_at;
        if (std::string p = walk(inner, value_at + length, explicit_vr, false, depth + 1); !p.empty()) return p;
      }
      at = value_at + length;
    }
    return "";
  }

 private:
  bool read(uint64_t at, unsigned char* out, size_t n) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(at));
    in_.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(n));
    return static_cast<size_t>(in_.gcount()) == n;
  }
  uint16_t u16(const unsigned char* p) const { return big_ ? uint16_t(p[0] << 8 | p[1]) : uint16_t(p[1] << 8 | p[0]); }
  uint32_t u32(const unsigned char* p) const {
    return big_ ? uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]
                : uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
  }
  static std::string tag_text(uint16_t group, uint16_t element, uint64_t at) {
    char t[64];
    std::snprintf(t, sizeof t, "element (%04X,%04X) at byte %llu", group, element, static_cast<unsigned long long>(at));
    return t;
  }
  static std::string too_long(uint16_t group, uint16_t element, uint64_t at, uint64_t length, uint64_t left) {
    return tag_text(group, element, at) + " claims " + std::to_string(length) + " bytes, but only " +
           std::to_string(left) + " remain in the file";
  }

  std::ifstream& in_;
  uint64_t size_;
  bool big_;
  bool allow_cut_pixel_data_;
};

}  // namespace

std::string dicom_meta_problem(const std::string& file, bool allow_cut_pixel_data) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const auto size = static_cast<uint64_t>(in.tellg());
  if (size < 132) return "";
  std::string head(static_cast<size_t>(std::min<uint64_t>(size, 1 << 16)), '\0');
  in.seekg(0);
  in.read(&head[0], static_cast<std::streamsize>(head.size()));
  if (head.compare(128, 4, "DICM") != 0) return "";  // no Part 10 preamble: GDCM guesses
  uint64_t at = 132;
  std::string transfer_syntax;
  for (int n = 0; n < 64 && at + 8 <= head.size(); ++n) {
    uint16_t group = 0, element = 0;
    std::memcpy(&group, head.data() + at, 2);
    std::memcpy(&element, head.data() + at + 2, 2);
    if (group != 0x0002) {  // the meta group ended cleanly: the data set, in its transfer syntax
      if (transfer_syntax == "1.2.840.10008.1.2.1.99") return "";  // deflated: GDCM inflates it
      ElementWalker walker(in, size, transfer_syntax == "1.2.840.10008.1.2.2", allow_cut_pixel_data);
      const std::string problem = walker.walk(at, size, transfer_syntax != "1.2.840.10008.1.2", false, 0);
      return problem;
    }
    const std::string vr = head.substr(at + 4, 2);
    const bool long_form = vr == "OB" || vr == "OW" || vr == "OF" || vr == "SQ" || vr == "UT" || vr == "UN";
    uint64_t length = 0, value_at = 0;
    if (long_form) {
      if (at + 12 > head.size()) return "the file meta information is cut short";
      uint32_t l = 0;
      std::memcpy(&l, head.data() + at + 8, 4);
      length = l;
      value_at = at + 12;
    } else {
      uint16_t l = 0;
      std::memcpy(&l, head.data() + at + 6, 2);
      length = l;
      value_at = at + 8;
    }
    if (length == 0xffffffffu || value_at + length > size)
      return "an element of the file meta information claims " + std::to_string(length) + " bytes past the end of the file";
    if (element == 0x0010 && value_at + length <= head.size()) {
      transfer_syntax = head.substr(value_at, length);
      while (!transfer_syntax.empty() && (transfer_syntax.back() == '\0' || transfer_syntax.back() == ' ')) transfer_syntax.pop_back();
    }
    at = value_at + length;
  }
  return "";
}

std::string dicom_single_file_problem(const std::string& file) {
  gdcm::Reader reader;
  reader.SetFileName(file.c_str());
  const std::set<gdcm::Tag> tags{gdcm::Tag(0x0008, 0x0016), gdcm::Tag(0x0028, 0x0008)};
  if (!reader.ReadSelectedTags(tags)) return "";  // not DICOM: the other readers decide
  const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  auto value = [&ds](const gdcm::Tag& t) { return ds.FindDataElement(t) ? trim(dicom_text(ds.GetDataElement(t))) : ""; };
  if (value(gdcm::Tag(0x0008, 0x0016)) == "1.2.840.10008.5.1.4.1.1.66.4")
    return "is a DICOM Segmentation (SEG), not an image: its frames are segments on the slices of another series "
           "(read_dicom_seg in pulmo/io.h reads it onto its CT's grid)";
  const std::string frames = value(gdcm::Tag(0x0028, 0x0008));
  if (std::atoi(frames.c_str()) > 1)
    return "is a multi-frame image (" + frames + " frames); convert it to single-frame slices";
  return "";
}

std::string dicom_value_problem(const std::string& file, bool check_pixels, bool refuse_modality_lut) {
  const std::vector<std::pair<gdcm::Tag, const char*>> binary{
      {gdcm::Tag(0x0028, 0x0002), "Samples per Pixel"}, {gdcm::Tag(0x0028, 0x0010), "Rows"},
      {gdcm::Tag(0x0028, 0x0011), "Columns"},           {gdcm::Tag(0x0028, 0x0100), "Bits Allocated"},
      {gdcm::Tag(0x0028, 0x0101), "Bits Stored"},       {gdcm::Tag(0x0028, 0x0102), "High Bit"},
      {gdcm::Tag(0x0028, 0x0103), "Pixel Representation"}};
  const gdcm::Tag slope_tag(0x0028, 0x1053), intercept_tag(0x0028, 0x1052), frames_tag(0x0028, 0x0008),
      modality_lut_tag(0x0028, 0x3000), orientation_tag(0x0020, 0x0037), spacing_tag(0x0028, 0x0030);
  std::set<gdcm::Tag> tags{slope_tag, intercept_tag, frames_tag, modality_lut_tag, orientation_tag, spacing_tag};
  for (const auto& b : binary) tags.insert(b.first);
  gdcm::Reader reader;
  reader.SetFileName(file.c_str());
  if (!reader.ReadSelectedTags(tags)) return "";  // not DICOM: the other readers decide
  const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  auto tag_text = [](const gdcm::Tag& t) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "(%04X,%04X)", t.GetGroup(), t.GetElement());
    return std::string(buf);
  };
  for (const auto& [tag, name] : binary) {
    if (!ds.FindDataElement(tag)) continue;
    const gdcm::ByteValue* v = ds.GetDataElement(tag).GetByteValue();
    if (v && v->GetLength() != 2)
      return std::string(name) + " " + tag_text(tag) + " holds " + std::to_string(v->GetLength()) +
             " bytes, not one 2-byte number (corrupt header)";
  }
  auto value = [&ds](const gdcm::Tag& t) { return ds.FindDataElement(t) ? trim(dicom_text(ds.GetDataElement(t))) : ""; };
  if (refuse_modality_lut) {  // read as a volume: GDCM would set a skewed or degenerate orientation to identity
    const std::vector<double> iop = dicom_numbers(value(orientation_tag).c_str());
    if (iop.size() == 6) {
      const double r2 = iop[0] * iop[0] + iop[1] * iop[1] + iop[2] * iop[2];
      const double c2 = iop[3] * iop[3] + iop[4] * iop[4] + iop[5] * iop[5];
      const double d = iop[0] * iop[3] + iop[1] * iop[4] + iop[2] * iop[5];
      if (!(std::fabs(std::sqrt(r2) - 1) <= 1e-3 && std::fabs(std::sqrt(c2) - 1) <= 1e-3 && std::fabs(d) <= 1e-3))
        return "Image Orientation (Patient) (0020,0037) '" + value(orientation_tag) +
               "' is not orthonormal (row and column directions of unit length at right angles); the geometry would be "
               "wrong";
    }
    // GDCM reads a Pixel Spacing of 0 or below as 1 mm without a word (a single file, read with check_pixels; a
    // series' spacing is checked by its reader, code 5)
    const std::string spacing = value(spacing_tag);
    const std::vector<double> ps = dicom_numbers(spacing.c_str());
    if (check_pixels && !spacing.empty() && (ps.size() != 2 || !(ps[0] > 0) || !(ps[1] > 0) || !std::isfinite(ps[0]) || !std::isfinite(ps[1])))
      return "Pixel Spacing (0028,0030) '" + spacing + "' is not two positive numbers: the reader would make up a 1 mm "
             "spacing";
  }
  if (refuse_modality_lut && ds.FindDataElement(modality_lut_tag))
    return "it has a Modality LUT Sequence (0028,3000), which the volume reader does not apply: the voxels would be "
           "stored values, not Hounsfield units (convert it with a tool that applies the table)";
  for (const gdcm::Tag& t : {slope_tag, intercept_tag}) {
    const std::string text = value(t);
    if (text.empty()) continue;
    const std::vector<double> x = dicom_numbers(text.c_str());
    const std::string name = t == slope_tag ? "Rescale Slope " : "Rescale Intercept ";
    if (x.size() != 1 || !std::isfinite(x[0]) || std::strpbrk(text.c_str(), "nNiI"))
      return name + tag_text(t) + " '" + text + "' is not a finite number";
    if (t == slope_tag && x[0] == 0)
      return name + tag_text(t) + " is 0: every voxel would be the intercept (a constant image)";
  }
  if (check_pixels) {
    auto us = [&ds](const gdcm::Tag& t) {
      if (!ds.FindDataElement(t)) return 0;
      const gdcm::ByteValue* v = ds.GetDataElement(t).GetByteValue();
      if (!v || v->GetLength() != 2) return 0;
      uint16_t x;
      std::memcpy(&x, v->GetPointer(), 2);
      return int(x);
    };
    try {
      check_pixel_data_complete(file, us(gdcm::Tag(0x0028, 0x0010)), us(gdcm::Tag(0x0028, 0x0011)),
                                us(gdcm::Tag(0x0028, 0x0002)), us(gdcm::Tag(0x0028, 0x0100)),
                                std::atoi(value(frames_tag).c_str()), "pixel data");
    } catch (const Error& e) {
      return e.what();
    }
  }
  return "";
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (std::isspace(static_cast<unsigned char>(s[b])) || s[b] == '\0')) ++b;
  while (e > b && (std::isspace(static_cast<unsigned char>(s[e - 1])) || s[e - 1] == '\0')) --e;
  return s.substr(b, e - b);
}

std::vector<double> dicom_numbers(const char* value) {
  std::vector<double> out;
  if (!value) return out;
  std::string s(value);
  std::replace(s.begin(), s.end(), '\\', ' ');
  std::istringstream in(s);
  double x;
  while (in >> x) out.push_back(x);
  return out;
}

// GDCM reads a slice whose native (uncompressed) pixel data is cut short without an error, and ITK
// (or read_dicom_grey) would fill the rest with zeros. Find the Pixel Data element (7FE0,0010) in the file's bytes - explicit VR
// ("OB"/"OW", 2 reserved bytes, 32-bit length) or implicit VR (32-bit length), little endian - whose
// declared length covers the image, and compare that length with the bytes that follow it. Compressed
// (encapsulated, undefined length) pixel data is left to its decoder, which fails on a cut stream.
void check_pixel_data_complete(const std::string& file, int rows, int columns, int samples_per_pixel,
                               int bits_allocated, int frames, const std::string& context) {
  if (rows <= 0 || columns <= 0 || bits_allocated <= 0) return;
  const int64_t need = int64_t{rows} * columns * std::max(1, samples_per_pixel) * ((bits_allocated + 7) / 8) *
                       std::max(1, frames);
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // No compression expands more than about 1032-fold (deflate; JPEG far less): a header promising more
  // is a lie that would make ITK allocate gigabytes (a fuzzer finding).
  if (need / 1032 > static_cast<int64_t>(bytes.size()))
    throw Error(ExitCode::Unreadable, context + ": '" + file + "' promises " + std::to_string(columns) + "x" +
                                          std::to_string(rows) + " pixels (" + std::to_string(need) +
                                          " bytes) in a " + std::to_string(bytes.size()) +
                                          "-byte file (truncated file or lying header)");
  static const std::string tag("\xe0\x7f\x10\x00", 4);
  auto u32 = [&bytes](size_t at) {
    uint32_t v = 0;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  // The last candidate wins: an icon image (0088,0200) nests its own, smaller Pixel Data before it.
  int64_t declared = -1, start = -1;
  for (size_t at = bytes.find(tag); at != std::string::npos; at = bytes.find(tag, at + 1)) {
    if (at + 12 <= bytes.size() && (bytes.compare(at + 4, 2, "OW") == 0 || bytes.compare(at + 4, 2, "OB") == 0) &&
        bytes[at + 6] == 0 && bytes[at + 7] == 0) {
      const uint32_t len = u32(at + 8);
      if (len != 0xffffffffu && len >= need) declared = len, start = static_cast<int64_t>(at + 12);
    } else if (at + 8 <= bytes.size()) {
      // Implicit VR: the tag's bytes may also occur inside values, so only a length that fits the image exactly, or
      // a longer one that runs exactly to the end of the file (the Pixel Data element comes last), is taken.
      const uint32_t len = u32(at + 4);
      if (len != 0xffffffffu && len >= need &&
          (len == static_cast<uint32_t>(need + (need & 1)) || at + 8 + uint64_t{len} == bytes.size()))
        declared = len, start = static_cast<int64_t>(at + 8);
    }
  }
  if (declared < 0) return;  // not found (or compressed): the decoder decides
  const int64_t have = static_cast<int64_t>(bytes.size()) - start;
  if (have < declared)
    throw Error(ExitCode::Unreadable, context + ": '" + file + "' is truncated: its pixel data holds " +
                                          std::to_string(have) + " of the " + std::to_string(declared) +
                                          " bytes its header declares; cannot decode it");
  // More pixel data than Rows x Columns x Samples x Bits x Frames (PS3.5 8.1.1: exactly that, padded to an even
  // length): GDCM would read the first part and drop the rest, an image cut from a larger one (a header that lies).
  if (declared > need + (need & 1))
    throw Error(ExitCode::Unreadable, context + ": '" + file + "' holds " + std::to_string(declared) +
                                          " bytes of pixel data, more than the " + std::to_string(need) + " its " +
                                          std::to_string(columns) + "x" + std::to_string(rows) +
                                          " pixels, samples, bits and frames describe (padded data or a header that lies)");
}

namespace {

const char* const kNoSeriesUid = "(no SeriesInstanceUID)";
// Largest deviation of ImageOrientationPatient from orthonormal (unit lengths, zero dot product) accepted:
// text-encoded direction cosines carry at least 6 digits, a skew of 0.06 degrees is already 1e-3.
constexpr double kOrthonormalTolerance = 1e-3;

const gdcm::Tag kSeriesUid(0x0020, 0x000e), kStudyUid(0x0020, 0x000d), kModality(0x0008, 0x0060),
    kDescription(0x0008, 0x103e), kPosition(0x0020, 0x0032), kOrientation(0x0020, 0x0037), kRows(0x0028, 0x0010),
    kColumns(0x0028, 0x0011), kPixelSpacing(0x0028, 0x0030), kFrames(0x0028, 0x0008),
    kSeriesNumber(0x0020, 0x0011), kInstanceNumber(0x0020, 0x0013), kBitsAllocated(0x0028, 0x0100),
    kSamplesPerPixel(0x0028, 0x0002), kPixelData(0x7fe0, 0x0010), kImageType(0x0008, 0x0008),
    kSpacingBetweenSlices(0x0018, 0x0088);


std::string text(const gdcm::Scanner& scanner, const std::string& file, const gdcm::Tag& tag) {
  const char* v = scanner.GetValue(file.c_str(), tag);
  return v ? trim(v) : std::string();
}

struct Slice {
  std::string file;
  Vec3 position{0, 0, 0};
  std::vector<double> orientation, pixel_spacing, spacing_between_slices;
  int rows = 0, columns = 0, frames = 0, bits_allocated = 0, samples_per_pixel = 0;
  std::string series_number, instance_number;
  bool has_position = false;
  double along_normal = 0;
};

Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
std::string fmt(double x) {
  std::ostringstream o;
  o.precision(4);
  o << x;
  return o.str();
}

// Geometry tags of one image file, as the single header scan read them.
Slice slice_from(const gdcm::Scanner& scanner, const std::string& f) {
  Slice s;
  s.file = f;
  const auto pos = dicom_numbers(scanner.GetValue(f.c_str(), kPosition));
  if (pos.size() == 3) s.position = {pos[0], pos[1], pos[2]};
  s.has_position = pos.size() == 3;
  s.orientation = dicom_numbers(scanner.GetValue(f.c_str(), kOrientation));
  s.pixel_spacing = dicom_numbers(scanner.GetValue(f.c_str(), kPixelSpacing));
  s.spacing_between_slices = dicom_numbers(scanner.GetValue(f.c_str(), kSpacingBetweenSlices));
  s.rows = std::atoi(text(scanner, f, kRows).c_str());
  s.columns = std::atoi(text(scanner, f, kColumns).c_str());
  s.frames = std::atoi(text(scanner, f, kFrames).c_str());
  s.bits_allocated = std::atoi(text(scanner, f, kBitsAllocated).c_str());
  s.samples_per_pixel = std::atoi(text(scanner, f, kSamplesPerPixel).c_str());
  s.series_number = text(scanner, f, kSeriesNumber);
  s.instance_number = text(scanner, f, kInstanceNumber);
  return s;
}

}  // namespace

// One pass over the headers of every file under `folder`: the series, and (when `slices` is given)
// the geometry tags of every image file, so reading a series needs no second scan.
static std::vector<DicomSeriesInfo> scan_folder(const std::string& folder, std::vector<std::string>* skipped,
                                         std::map<std::string, Slice>* slices) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw Error(ExitCode::NotFound, "'" + folder + "' is not a folder");
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec)) files.push_back(fs::absolute(it->path()).string());
  }
  if (files.empty()) throw Error(ExitCode::NoData, "folder '" + folder + "' is empty");
  std::sort(files.begin(), files.end());

  gdcm::Scanner scanner;
  for (const gdcm::Tag& t : {io::kSeriesUid, io::kStudyUid, io::kModality, io::kDescription, io::kPosition,
                             io::kOrientation, io::kRows, io::kColumns, io::kPixelSpacing, io::kFrames,
                             io::kSeriesNumber, io::kInstanceNumber, io::kBitsAllocated, io::kSamplesPerPixel, io::kImageType,
                             io::kSpacingBetweenSlices})
    scanner.AddTag(t);
  std::vector<std::string> candidates;
  for (const std::string& f : files) {
    if (fs::file_size(f, ec) == 0) {
      if (skipped) skipped->push_back(f + " (0 bytes)");
      continue;
    }
    // GDCM asserts (aborting the process) on some corrupt file meta groups: leave such files out.
    if (!io::dicom_meta_problem(f, /*allow_cut_pixel_data=*/true).empty()) {  // a cut slice: "truncated" when read
      if (skipped) skipped->push_back(f + " (corrupt DICOM header)");
      continue;
    }
    if (const std::string problem = io::dicom_value_problem(f); problem.find("corrupt header") != std::string::npos) {
      if (skipped) skipped->push_back(f + " (" + problem + ")");
      continue;
    }
    candidates.push_back(f);
  }
  gdcm::Directory::FilenamesType names(candidates.begin(), candidates.end());
  if (!names.empty()) scanner.Scan(names);

  std::map<std::string, DicomSeriesInfo> by_uid;
  for (const std::string& f : candidates) {
    if (!scanner.IsKey(f.c_str())) {
      if (skipped) skipped->push_back(f + " (not DICOM)");
      continue;
    }
    std::string uid = io::text(scanner, f, io::kSeriesUid);
    if (uid.empty()) uid = io::kNoSeriesUid;  // some anonymisers drop it; such files form one series
    const std::string rows = io::text(scanner, f, io::kRows);
    if (rows.empty()) {
      if (skipped) skipped->push_back(f + " (DICOM without image)");
      continue;
    }
    // A localizer (scout) often shares the series of the CT it planned; it is not one of its slices.
    std::string image_type = io::text(scanner, f, io::kImageType);
    std::transform(image_type.begin(), image_type.end(), image_type.begin(), ::toupper);
    if (image_type.find("LOCALIZER") != std::string::npos) {
      if (skipped) skipped->push_back(f + " (localizer image, ImageType " + image_type + ")");
      continue;
    }
    DicomSeriesInfo& s = by_uid[uid];
    if (s.files.empty()) {
      s.series_uid = uid;
      s.study_uid = io::text(scanner, f, io::kStudyUid);
      s.modality = io::text(scanner, f, io::kModality);
      s.description = io::text(scanner, f, io::kDescription);
      s.rows = std::atoi(rows.c_str());
      s.columns = std::atoi(io::text(scanner, f, io::kColumns).c_str());
    }
    s.files.push_back(f);
    s.num_files = static_cast<int>(s.files.size());
    if (slices) (*slices)[f] = io::slice_from(scanner, f);
  }
  if (by_uid.empty())
    throw Error(ExitCode::NoData, "folder '" + folder + "' holds " + std::to_string(files.size()) +
                                      " file(s) but no DICOM image");
  std::vector<DicomSeriesInfo> out;
  for (auto& [uid, s] : by_uid) out.push_back(std::move(s));
  std::sort(out.begin(), out.end(), [](const DicomSeriesInfo& a, const DicomSeriesInfo& b) {
    return a.num_files != b.num_files ? a.num_files > b.num_files : a.series_uid < b.series_uid;
  });
  return out;
}

}  // namespace io

std::vector<DicomSeriesInfo> list_dicom_series(const std::string& folder, std::vector<std::string>* skipped) {
  return io::scan_folder(folder, skipped, nullptr);
}

namespace io {

Volume read_dicom_folder(const std::string& folder, const ReadOptions& options, SourceInfo* source) {
  std::vector<std::string> skipped;
  std::map<std::string, Slice> scanned;
  std::vector<DicomSeriesInfo> all = scan_folder(folder, &skipped, &scanned);
  const DicomSeriesInfo* chosen = nullptr;
  if (!options.series_uid.empty()) {
    for (const auto& s : all)
      if (s.series_uid == options.series_uid) chosen = &s;
    if (!chosen) {
      std::string list;
      for (const auto& s : all) list += "\n  " + s.series_uid + " (" + s.modality + ", " + std::to_string(s.num_files) + " files)";
      throw Error(ExitCode::NotFound, "series '" + options.series_uid + "' is not in '" + folder + "'; found:" + list);
    }
  } else {
    for (const auto& s : all)
      if (s.modality == "CT" && (!chosen || s.num_files > chosen->num_files)) chosen = &s;
    if (!chosen) chosen = &all.front();
  }
  if (source) {
    source->format = FileFormat::DicomSeries;
    source->path = folder;
    source->series = all;
    source->series_uid = chosen->series_uid;
    source->series_description = chosen->description;
    source->modality = chosen->modality;
    source->num_files = chosen->num_files;
    if (chosen->modality != "CT" && options.series_uid.empty())
      source->warnings.push_back("no series in the folder says it is CT; using series " + chosen->series_uid +
                                 (chosen->modality.empty() ? " (modality not stated)" : " (" + chosen->modality + ")"));
    if (!skipped.empty())
      source->warnings.push_back(std::to_string(skipped.size()) + " file(s) left out (not DICOM images, or " +
                                 "localizers), e.g. " + skipped.front());
  }
  const std::string context = "reading DICOM series " + chosen->series_uid + " in '" + folder + "'";

  // Geometry of every slice (from the one header scan).
  std::vector<Slice> slices;
  for (const std::string& f : chosen->files) {
    Slice s = scanned.at(f);
    if (s.frames > 1)
      throw Error(ExitCode::BadDimension, context + ": '" + f + "' is a multi-frame image (" +
                                              std::to_string(s.frames) + " frames); convert it to single-frame slices");
    if (s.samples_per_pixel > 1)  // ITK's series reader would turn RGB into grey without a word
      throw Error(ExitCode::BadDimension, context + ": '" + f + "' is a colour image (Samples per Pixel " +
                                              std::to_string(s.samples_per_pixel) + "), not a grey CT slice in "
                                              "Hounsfield units; pulmo reads grey images only");
    if (!s.has_position || s.orientation.size() != 6)
      throw Error(ExitCode::BadSeries, context + ": '" + f + "' lacks ImagePositionPatient/ImageOrientationPatient");
    slices.push_back(s);
  }
  const Slice& ref = slices.front();
  const Vec3 row{ref.orientation[0], ref.orientation[1], ref.orientation[2]};
  const Vec3 col{ref.orientation[3], ref.orientation[4], ref.orientation[5]};
  Vec3 normal = cross(row, col);
  const double nn = std::sqrt(dot(normal, normal));
  if (nn < 1e-6) throw Error(ExitCode::BadSeries, context + ": degenerate ImageOrientationPatient");
  // Row and column directions must be unit vectors at right angles: a skewed pair cannot be written as a
  // rotation, and any "repair" would move the image.
  const double skew = std::max({std::fabs(std::sqrt(dot(row, row)) - 1), std::fabs(std::sqrt(dot(col, col)) - 1),
                                std::fabs(dot(row, col))});
  if (skew > kOrthonormalTolerance)
    throw Error(ExitCode::BadSeries, context + ": ImageOrientationPatient is not orthonormal (row and column "
                                     "directions at " + fmt(std::acos(std::clamp(dot(row, col) / std::sqrt(dot(row, row) * dot(col, col)), -1.0, 1.0)) * 180 / M_PI) +
                                     " degrees, lengths " + fmt(std::sqrt(dot(row, row))) + " and " +
                                     fmt(std::sqrt(dot(col, col))) + "); the geometry would be wrong");
  if (ref.pixel_spacing.size() != 2 || !(ref.pixel_spacing[0] > 0) || !(ref.pixel_spacing[1] > 0) ||
      !std::isfinite(ref.pixel_spacing[0]) || !std::isfinite(ref.pixel_spacing[1]))
    throw Error(ExitCode::BadSeries, context + ": '" + ref.file + "' lacks a valid PixelSpacing (0028,0030)" +
                                         " ; pulmo will not guess the pixel size");
  // Files without SeriesInstanceUID form one group: refuse it when they plainly come from several series
  // (interleaved series would otherwise merge into one at a fraction of the true slice spacing).
  if (chosen->series_uid == kNoSeriesUid) {
    std::map<std::string, std::string> instance_file;
    for (const Slice& s : slices) {
      if (s.series_number != ref.series_number)
        throw Error(ExitCode::BadSeries, context + ": files without SeriesInstanceUID come from different series "
                                         "(SeriesNumber '" + ref.series_number + "' in '" + ref.file + "', '" +
                                         s.series_number + "' in '" + s.file + "'); put each series in its own folder");
      if (s.instance_number.empty()) continue;
      auto [it, fresh] = instance_file.emplace(s.instance_number, s.file);
      if (!fresh)
        throw Error(ExitCode::BadSeries, context + ": files without SeriesInstanceUID come from different series "
                                         "(InstanceNumber " + s.instance_number + " in both '" + it->second + "' and '" +
                                         s.file + "'); put each series in its own folder");
    }
  }
  for (double& x : normal) x /= nn;
  for (Slice& s : slices) {
    for (int k = 0; k < 6; ++k)
      if (std::fabs(s.orientation[k] - ref.orientation[k]) > 1e-4)
        throw Error(ExitCode::BadSeries, context + ": mixed series - slices with different orientations ('" +
                                             ref.file + "' and '" + s.file + "')");
    if (s.rows != ref.rows || s.columns != ref.columns)
      throw Error(ExitCode::BadSeries, context + ": mixed series - slices of different sizes (" +
                                           std::to_string(ref.columns) + "x" + std::to_string(ref.rows) + " and " +
                                           std::to_string(s.columns) + "x" + std::to_string(s.rows) + ")");
    if (s.pixel_spacing != ref.pixel_spacing)
      throw Error(ExitCode::BadSeries, context + ": mixed series - slices with different pixel spacing");
    s.along_normal = dot(s.position, normal);
  }
  std::sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) { return a.along_normal < b.along_normal; });

  double gap = 1.0;  // spacing between slices (single slice: 1 mm placeholder, as ITK does)
  if (slices.size() >= 2) {
    std::vector<double> gaps;
    for (size_t i = 1; i < slices.size(); ++i) gaps.push_back(slices[i].along_normal - slices[i - 1].along_normal);
    std::vector<double> sorted = gaps;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    gap = sorted[sorted.size() / 2];
    for (size_t i = 0; i < gaps.size(); ++i)
      if (gaps[i] < 1e-3)
        throw Error(ExitCode::BadSeries, context + ": mixed series - two slices at the same position " +
                                             fmt(slices[i].along_normal) + " mm ('" + slices[i].file + "' and '" +
                                             slices[i + 1].file + "')");
    if (gap < 1e-3) throw Error(ExitCode::BadSeries, context + ": slices at the same position");
    for (size_t i = 0; i < gaps.size(); ++i) {
      if (std::fabs(gaps[i] - gap) <= options.slice_gap_tolerance * gap) continue;
      const double ratio = gaps[i] / gap;
      const long missing = std::lround(ratio) - 1;
      if (missing >= 1 && std::fabs(ratio - std::round(ratio)) <= options.slice_gap_tolerance)
        throw Error(ExitCode::BadSeries, context + ": " + std::to_string(missing) + " slice(s) missing between " +
                                             fmt(slices[i].along_normal) + " mm and " +
                                             fmt(slices[i + 1].along_normal) + " mm (gap " + fmt(gaps[i]) +
                                             " mm, usual " + fmt(gap) + " mm)");
      throw Error(ExitCode::BadSeries, context + ": irregular slice spacing - gap of " + fmt(gaps[i]) +
                                           " mm between " + fmt(slices[i].along_normal) + " mm and " +
                                           fmt(slices[i + 1].along_normal) + " mm, usual " + fmt(gap) +
                                           " mm (tolerance " + fmt(100 * options.slice_gap_tolerance) + " %)");
    }
    // The slice positions are the geometry (PS3.3 C.7.6.2.1.1); a Spacing Between Slices (0018,0088) that disagrees
    // with them is said, not used (some writers put the slice thickness there, or a negative value).
    if (ref.spacing_between_slices.size() == 1 && source &&
        std::fabs(std::fabs(ref.spacing_between_slices[0]) - gap) > options.slice_gap_tolerance * gap)
      source->warnings.push_back(context + ": Spacing Between Slices (0018,0088) says " +
                                 fmt(ref.spacing_between_slices[0]) + " mm but the slice positions are " + fmt(gap) +
                                 " mm apart; the positions are used");
    // Gantry tilt: positions must advance along the slice normal.
    Vec3 d{slices.back().position[0] - slices.front().position[0], slices.back().position[1] - slices.front().position[1],
           slices.back().position[2] - slices.front().position[2]};
    const double len = std::sqrt(dot(d, d));
    const double cosang = std::clamp(dot(d, normal) / len, -1.0, 1.0);
    const double degrees = std::acos(cosang) * 180.0 / M_PI;
    if (degrees > options.max_tilt_degrees)
      throw Error(ExitCode::BadSeries, context + ": gantry tilt of " + fmt(degrees) +
                                           " degrees (slice positions do not advance along the slice normal); "
                                           "pulmo does not resample tilted series - reconstruct without tilt");
  }

  std::vector<std::string> ordered;
  for (const Slice& s : slices) {
    // every element length, the Pixel Data's too (the scan let a cut one through, to say "truncated" here)
    if (const std::string problem = dicom_meta_problem(s.file); !problem.empty())
      throw Error(ExitCode::Unreadable, context + ": '" + s.file + "': " + problem);
    if (const std::string problem = dicom_value_problem(s.file, false, /*refuse_modality_lut=*/true); !problem.empty())
      throw Error(ExitCode::Unreadable, context + ": '" + s.file + "': " + problem);
    check_pixel_data_complete(s.file, s.rows, s.columns, s.samples_per_pixel, s.bits_allocated, s.frames, context);
    ordered.push_back(s.file);
  }
  using Image = itk::Image<float, 3>;
  auto reader = itk::ImageSeriesReader<Image>::New();
  auto gdcm_io = itk::GDCMImageIO::New();
  reader->SetImageIO(gdcm_io);
  reader->SetFileNames(ordered);
  reader->SetMetaDataDictionaryArrayUpdate(false);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw Error(ExitCode::Unreadable, context + ": cannot decode the pixel data (truncated or corrupt file?): " +
                                          e.GetDescription());
  }
  Image::Pointer image = reader->GetOutput();
  image->DisconnectPipeline();
  Volume volume = from_itk<float>(image);
  // Geometry from the validated slice positions: origin = first slice, axes = row, column, normal.
  Geometry& g = volume.geometry;
  g.origin_mm = slices.front().position;
  for (int r = 0; r < 3; ++r) {
    g.direction[3 * r + 0] = row[r];
    g.direction[3 * r + 1] = col[r];
    g.direction[3 * r + 2] = normal[r];
  }
  if (ref.pixel_spacing.size() == 2) {
    g.spacing_mm[0] = ref.pixel_spacing[1];  // PixelSpacing = (row spacing, column spacing)
    g.spacing_mm[1] = ref.pixel_spacing[0];
  }
  g.spacing_mm[2] = slices.size() >= 2 ? (slices.back().along_normal - slices.front().along_normal) / (slices.size() - 1) : gap;
  if (options.dtype != at::kFloat) volume.voxels = volume.voxels.to(options.dtype);
  if (source) {
    source->dimensions_on_disk = slices.size() > 1 ? 3 : 2;
    source->pixel_type_on_disk = component_name(gdcm_io->GetInternalComponentType());
  }
  return volume;
}

}  // namespace io
}  // namespace pulmo
