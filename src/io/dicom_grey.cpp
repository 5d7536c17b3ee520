// The DICOM grayscale pipeline for one radiograph (PS3.3 C.11): stored values, Modality LUT, VOI LUT, MONOCHROME1
// inversion. GDCM reads the data set and decodes the pixel data; every mapping is done here.
#include "io/dicom_grey.h"

#include <gdcmDataSet.h>
#include <gdcmImageReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTag.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "io/internal.h"
#include "pulmo/error.h"

namespace pulmo::io {
namespace {

const gdcm::Tag kModality(0x0008, 0x0060), kView(0x0018, 0x5101), kPhotometric(0x0028, 0x0004),
    kRescaleIntercept(0x0028, 0x1052), kRescaleSlope(0x0028, 0x1053), kWindowCenter(0x0028, 0x1050),
    kWindowWidth(0x0028, 0x1051), kVoiFunction(0x0028, 0x1056), kModalityLutSequence(0x0028, 0x3000),
    kVoiLutSequence(0x0028, 0x3010), kLutDescriptor(0x0028, 0x3002), kLutData(0x0028, 0x3006), kHighBit(0x0028, 0x0102);

// The bytes of an element's value, binary ones (LUT Descriptor and Data) included ("" when absent or empty;
// sequences have none). Text values: text_of.
std::string bytes_of(const gdcm::DataSet& ds, const gdcm::Tag& tag) {
  if (!ds.FindDataElement(tag)) return "";
  const gdcm::ByteValue* bv = ds.GetDataElement(tag).GetByteValue();
  return bv && bv->GetPointer() ? std::string(bv->GetPointer(), bv->GetLength()) : std::string();
}

std::string text_of(const gdcm::DataSet& ds, const gdcm::Tag& tag) {
  return ds.FindDataElement(tag) ? trim(dicom_text(ds.GetDataElement(tag))) : "";
}

std::string tag_name(const gdcm::Tag& t) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "(%04X,%04X)", t.GetGroup(), t.GetElement());
  return buf;
}

// The first item of a sequence, or nullptr when the sequence is absent or has no item.
const gdcm::DataSet* first_item(const gdcm::DataSet& ds, const gdcm::Tag& tag) {
  if (!ds.FindDataElement(tag)) return nullptr;
  gdcm::SmartPointer<gdcm::SequenceOfItems> sq = ds.GetDataElement(tag).GetValueAsSQ();
  if (!sq || sq->GetNumberOfItems() == 0) return nullptr;
  return &sq->GetItem(1).GetNestedDataSet();
}

// A lookup table of a Modality or VOI LUT Sequence item: `entries[i]` maps the input value first + i; inputs
// below first map to the first entry, above the last to the last (PS3.3 C.11.1.1.1, C.11.2.1.1).
struct Lut {
  int64_t first = 0;
  std::vector<uint32_t> entries;
  int bits = 16;
  double top = 65535;  // the largest output: 2^bits - 1, or the largest entry when a table exceeds its bits
  double at(double input) const {
    const double i = std::floor(input + 0.5) - double(first);
    const double last = double(entries.size() - 1);
    return entries[i <= 0 ? 0 : i >= last ? entries.size() - 1 : size_t(i)];
  }
};

// Reads the LUT Descriptor (0028,3002) and LUT Data (0028,3006) of `item`. `input_signed`: the table's input can
// be negative, so a first mapped value of 32768 or more (written as US by some writers) is the negative SS value.
Lut read_lut(const gdcm::DataSet& item, const std::string& what, bool input_signed, bool big_endian,
             const std::string& where) {
  auto bad = [&](const std::string& m) { throw Error(ExitCode::Unreadable, where + ": " + what + ": " + m); };
  if (big_endian) bad("a lookup table in a big-endian DICOM file (a retired transfer syntax) is not supported");
  if (!item.FindDataElement(kLutDescriptor)) bad("the item has no LUT Descriptor (0028,3002)");
  const std::string d = bytes_of(item, kLutDescriptor);
  if (d.size() != 6)
    bad("the LUT Descriptor (0028,3002) holds " + std::to_string(d.size()) + " bytes, not three 16-bit values");
  uint16_t v[3];
  std::memcpy(v, d.data(), 6);
  Lut lut;
  const size_t n = v[0] == 0 ? 65536 : v[0];  // 0 entries means 2^16
  const gdcm::VR vr = item.GetDataElement(kLutDescriptor).GetVR();
  const bool as_signed = vr == gdcm::VR::SS || (input_signed && (vr != gdcm::VR::US || v[1] >= 0x8000));
  lut.first = as_signed ? int64_t(int16_t(v[1])) : int64_t(v[1]);
  lut.bits = v[2];
  // PS3.3 asks for 8 or 16; older files use 10 to 15 (their entries still take 16-bit words).
  if (lut.bits < 8 || lut.bits > 16)
    bad("the LUT Descriptor (0028,3002) says " + std::to_string(lut.bits) + " bits per entry (8 to 16 expected)");
  if (!item.FindDataElement(kLutData)) bad("the item has no LUT Data (0028,3006)");
  const std::string data = bytes_of(item, kLutData);
  if (data.empty()) bad("the LUT Data (0028,3006) is empty");
  lut.entries.resize(n);
  if (lut.bits == 8 && (data.size() == n || data.size() == n + 1)) {  // one byte per entry (padded to even)
    for (size_t i = 0; i < n; ++i) lut.entries[i] = uint8_t(data[i]);
  } else if (data.size() == 2 * n) {  // one 16-bit word per entry (8-bit entries too, when so written)
    for (size_t i = 0; i < n; ++i) {
      uint16_t w;
      std::memcpy(&w, data.data() + 2 * i, 2);
      lut.entries[i] = w;
    }
  } else {
    bad("the LUT Descriptor (0028,3002) says " + std::to_string(n) + " entries of " + std::to_string(lut.bits) +
        " bits, but the LUT Data (0028,3006) holds " + std::to_string(data.size()) + " bytes (" +
        (lut.bits == 8 ? std::to_string(n) + " or " : std::string()) + std::to_string(2 * n) + " expected)");
  }
  lut.top = std::max(double((1u << lut.bits) - 1), double(*std::max_element(lut.entries.begin(), lut.entries.end())));
  return lut;
}

// The first number of a decimal string; NaN when absent or empty; Error when present but not a finite number.
double first_number(const gdcm::DataSet& ds, const gdcm::Tag& tag, const std::string& name, const std::string& where) {
  const std::string s = text_of(ds, tag);
  if (s.empty()) return NAN;
  const std::vector<double> v = dicom_numbers(s.c_str());
  if (v.empty() || !std::isfinite(v.front()))
    throw Error(ExitCode::Unreadable, where + ": " + name + " " + tag_name(tag) + " '" + s + "' is not a number");
  return v.front();
}

}  // namespace

DicomGreyImage read_dicom_grey(const std::string& path, const std::function<void(const DicomImageHeader&)>& check_header) {
  const std::string where = "'" + path + "'";
  {
    const std::string problem = dicom_meta_problem(path);  // GDCM would abort on it
    if (!problem.empty()) throw Error(ExitCode::Unreadable, where + ": corrupt DICOM header (" + problem + ")");
    // a binary pixel-description value of the wrong length (GDCM would abort), a Rescale Slope 0, NaN or infinite
    if (const std::string values = dicom_value_problem(path, /*check_pixels=*/true); !values.empty())
      throw Error(ExitCode::Unreadable, where + ": " + values);
  }
  gdcm::ImageReader reader;
  reader.SetFileName(path.c_str());
  if (!reader.Read()) throw Error(ExitCode::Unreadable, where + " is not a DICOM image GDCM can read");
  const gdcm::Image& image = reader.GetImage();
  const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  const bool big_endian =
      reader.GetFile().GetHeader().GetDataSetTransferSyntax().GetSwapCode() == gdcm::SwapCode::BigEndian;

  DicomGreyImage out;
  DicomImageHeader& h = out.header;
  h.modality = text_of(ds, kModality);
  h.photometric = text_of(ds, kPhotometric);
  for (char& c : h.photometric) c = char(std::toupper(static_cast<unsigned char>(c)));
  h.view = text_of(ds, kView);
  h.columns = int(image.GetDimension(0));
  h.rows = int(image.GetDimension(1));
  h.frames = image.GetNumberOfDimensions() > 2 ? int(image.GetDimension(2)) : 1;
  const gdcm::PixelFormat& pf = image.GetPixelFormat();
  h.samples_per_pixel = pf.GetSamplesPerPixel();
  h.bits_allocated = pf.GetBitsAllocated();
  h.bits_stored = pf.GetBitsStored();
  // A missing High Bit (Type 1, but absent from some real files, e.g. the LIDC slice of data/ct) is read by GDCM as
  // 0; the stored bits then sit at the bottom, as the DX IOD requires.
  h.high_bit = bytes_of(ds, kHighBit).empty() ? h.bits_stored - 1 : pf.GetHighBit();
  h.signed_pixels = pf.GetPixelRepresentation() == 1;
  if (check_header) check_header(h);

  if (h.frames > 1)
    throw Error(ExitCode::BadDimension, where + " holds " + std::to_string(h.frames) +
                                            " frames (a multi-frame file); a chest X-ray is one 2-D image");
  if (h.samples_per_pixel != 1 || (h.photometric != "MONOCHROME1" && h.photometric != "MONOCHROME2"))
    throw Error(ExitCode::BadDimension, where + " is a colour DICOM (PhotometricInterpretation " +
                                            (h.photometric.empty() ? "missing" : h.photometric) + ", " +
                                            std::to_string(h.samples_per_pixel) +
                                            " sample(s) per pixel); a radiograph is MONOCHROME1 or MONOCHROME2");
  if (h.bits_allocated != 8 && h.bits_allocated != 16 && h.bits_allocated != 32)
    throw Error(ExitCode::Unreadable, where + ": Bits Allocated " + std::to_string(h.bits_allocated) +
                                          " is not supported (8, 16 or 32)");
  if (h.bits_stored < 1 || h.bits_stored > h.bits_allocated || h.high_bit != h.bits_stored - 1)
    throw Error(ExitCode::Unreadable, where + ": Bits Stored " + std::to_string(h.bits_stored) + " with High Bit " +
                                          std::to_string(h.high_bit) + " in " + std::to_string(h.bits_allocated) +
                                          " bits is not supported (High Bit = Bits Stored - 1 expected)");
  check_pixel_data_complete(path, h.rows, h.columns, 1, h.bits_allocated, 1, "reading " + where);
  const size_t n = size_t(h.columns) * size_t(h.rows);
  const size_t bytes_per = size_t(h.bits_allocated / 8);
  if (image.GetBufferLength() != n * bytes_per)
    throw Error(ExitCode::Unreadable, where + ": the decoded pixel data would be " +
                                          std::to_string(image.GetBufferLength()) + " bytes, not the " +
                                          std::to_string(n * bytes_per) + " of " + std::to_string(h.columns) + " x " +
                                          std::to_string(h.rows) + " pixels");
  std::vector<char> buffer(n * bytes_per);
  if (!image.GetBuffer(buffer.data()))
    throw Error(ExitCode::Unreadable, where + ": cannot decode the pixel data (truncated or corrupt?)");

  // Stored values: Bits Stored bits at the bottom of each sample (unused bits may hold overlays), two's complement
  // when signed.
  const uint64_t mask = h.bits_stored >= 64 ? ~uint64_t(0) : (uint64_t(1) << h.bits_stored) - 1;
  std::vector<int64_t> stored(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t w = 0;
    if (bytes_per == 1) w = uint8_t(buffer[i]);
    else if (bytes_per == 2) { uint16_t x; std::memcpy(&x, buffer.data() + 2 * i, 2); w = x; }
    else { uint32_t x; std::memcpy(&x, buffer.data() + 4 * i, 4); w = x; }
    w &= mask;
    stored[i] = h.signed_pixels && ((w >> (h.bits_stored - 1)) & 1) ? int64_t(w) - int64_t(mask) - 1 : int64_t(w);
  }

  // Modality LUT: the table of the Modality LUT Sequence, else Rescale Slope / Intercept.
  std::vector<double> value(n);
  double possible_min = 0;  // the smallest value the Modality LUT can give (decides whether VOI input is signed)
  if (const gdcm::DataSet* item = first_item(ds, kModalityLutSequence)) {
    const Lut lut = read_lut(*item, "Modality LUT Sequence (0028,3000)", h.signed_pixels, big_endian, where);
    out.modality_lut = "table";
    for (size_t i = 0; i < n; ++i) value[i] = lut.at(double(stored[i]));
  } else {
    double slope = first_number(ds, kRescaleSlope, "Rescale Slope", where);
    double intercept = first_number(ds, kRescaleIntercept, "Rescale Intercept", where);
    if (std::isnan(slope)) slope = 1;
    if (std::isnan(intercept)) intercept = 0;
    out.modality_lut = "rescale";
    for (size_t i = 0; i < n; ++i) value[i] = double(stored[i]) * slope + intercept;
    const double smin = h.signed_pixels ? -double(mask / 2) - 1 : 0, smax = h.signed_pixels ? double(mask / 2) : double(mask);
    possible_min = std::min(smin * slope + intercept, smax * slope + intercept);
  }
  const auto [lo_it, hi_it] = std::minmax_element(value.begin(), value.end());
  out.modality_min = *lo_it;
  out.modality_max = *hi_it;
  // The pixels are float32: a rescale that leaves its range (Rescale Slope 1e300) would make them infinite.
  constexpr double kFloatMax = 3.4028234663852886e38;
  if (!(std::fabs(out.modality_min) <= kFloatMax && std::fabs(out.modality_max) <= kFloatMax))
    throw Error(ExitCode::Unreadable, where + ": the Modality LUT (Rescale Slope " + text_of(ds, kRescaleSlope) +
                                          ", Intercept " + text_of(ds, kRescaleIntercept) + ") maps the pixels to " +
                                          std::to_string(out.modality_min) + " .. " + std::to_string(out.modality_max) +
                                          ", beyond the range of a float32 pixel (an intensity scale that overflows)");

  // VOI LUT: the table of the VOI LUT Sequence, else the first Window Center / Width with the VOI LUT Function.
  std::vector<double> y(n);
  if (const gdcm::DataSet* item = first_item(ds, kVoiLutSequence)) {
    const Lut lut = read_lut(*item, "VOI LUT Sequence (0028,3010)", possible_min < 0, big_endian, where);
    out.voi = "table";
    for (size_t i = 0; i < n; ++i) y[i] = lut.at(value[i]) / lut.top;
  } else {
    const double c = first_number(ds, kWindowCenter, "Window Center", where);
    const double w = first_number(ds, kWindowWidth, "Window Width", where);
    if (std::isnan(c) != std::isnan(w))
      throw Error(ExitCode::Unreadable, where + ": a Window " + (std::isnan(c) ? "Width" : "Center") +
                                            " without a Window " + (std::isnan(c) ? "Center" : "Width") +
                                            " (both or neither expected)");
    if (!std::isnan(c)) {
      std::string function = text_of(ds, kVoiFunction);
      for (char& ch : function) ch = char(std::toupper(static_cast<unsigned char>(ch)));
      if (function.empty()) function = "LINEAR";
      if (function != "LINEAR" && function != "LINEAR_EXACT" && function != "SIGMOID")
        throw Error(ExitCode::Unreadable, where + ": unknown VOI LUT Function (0028,1056) '" + function +
                                              "' (LINEAR, LINEAR_EXACT or SIGMOID expected)");
      if (!(w > 0))
        throw Error(ExitCode::Unreadable, where + ": Window Width (0028,1051) " + text_of(ds, kWindowWidth) +
                                              " is not positive");
      out.voi = function;
      out.window_center = c;
      out.window_width = w;
      for (size_t i = 0; i < n; ++i) {
        const double x = value[i];
        if (function == "LINEAR") {  // PS3.3 C.11.2.1.2.1
          if (x <= c - 0.5 - (w - 1) / 2) y[i] = 0;
          else if (x > c - 0.5 + (w - 1) / 2) y[i] = 1;
          else y[i] = (x - (c - 0.5)) / (w - 1) + 0.5;
        } else if (function == "LINEAR_EXACT") {  // C.11.2.1.3.2
          if (x <= c - w / 2) y[i] = 0;
          else if (x > c + w / 2) y[i] = 1;
          else y[i] = (x - c) / w + 0.5;
        } else {  // SIGMOID, C.11.2.1.3.1
          y[i] = 1 / (1 + std::exp(-4 * (x - c) / w));
        }
      }
    }
  }

  // Presentation: MONOCHROME1 shows its lowest value white.
  const bool invert = h.photometric == "MONOCHROME1";
  out.pixels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    double v = out.voi.empty() ? value[i] : y[i];
    if (invert) v = out.voi.empty() ? out.modality_min + out.modality_max - v : 1 - v;
    out.pixels[i] = float(v);
  }
  return out;
}

}  // namespace pulmo::io
