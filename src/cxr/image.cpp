// Chest X-ray reading (PNG/JPEG through ITK, DICOM through the grayscale pipeline of io/dicom_grey.h), refusals
// and letterboxing.
#include <itkGDCMImageIO.h>
#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageIOFactory.h>
#include <itkVectorImage.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/dicom_grey.h"
#include "io/internal.h"
#include "pulmo/cxr.h"
#include "pulmo/error.h"

namespace fs = std::filesystem;

namespace pulmo::cxr {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == '\0')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

double quantile_of(std::vector<float> values, double q) {
  if (values.empty()) return 0;
  const size_t k = std::min(values.size() - 1, size_t(q * double(values.size() - 1) + 0.5));
  std::nth_element(values.begin(), values.begin() + long(k), values.end());
  return values[k];
}

}  // namespace

bool is_lateral_view(const std::string& view) {
  const std::string v = upper(trim(view));
  return v == "L" || v == "LL" || v == "RL" || v == "LAT" || v.rfind("LATERAL", 0) == 0 || v == "LATERAL";
}

std::string frontal_view(const std::string& view) {
  const std::string v = upper(trim(view));
  if (v.rfind("AP", 0) == 0) return "AP";
  if (v.rfind("PA", 0) == 0) return "PA";
  return "";
}

namespace {

// The 0.5th and 99.5th percentiles of `pixels` (a sample of at most about 200000), else their min and max.
std::pair<double, double> display_range(const std::vector<float>& pixels) {
  std::vector<float> sample;
  const size_t n = pixels.size(), stride = std::max<size_t>(1, n / 200000);
  for (size_t i = 0; i < n; i += stride) sample.push_back(pixels[i]);
  double lo = quantile_of(sample, 0.005), hi = quantile_of(sample, 0.995);
  if (!(hi > lo)) {
    lo = *std::min_element(pixels.begin(), pixels.end());
    hi = *std::max_element(pixels.begin(), pixels.end());
  }
  return {lo, hi};
}

void refuse_non_radiograph(const std::string& path, const XrayImage& x) {
  static const std::vector<std::string> radiographic = {"CR", "DX", "DR", "RG", "PX"};
  if (!x.modality.empty() && std::find(radiographic.begin(), radiographic.end(), x.modality) == radiographic.end())
    throw Error(ExitCode::NotAChestXray, "'" + path + "' is a DICOM of modality " + x.modality +
                                             ", not a radiograph (CR, DX, DR, RG expected)");
  if (is_lateral_view(x.view))
    throw Error(ExitCode::NotAChestXray,
                "'" + path + "' is a lateral view (ViewPosition " + x.view + "); the model needs a frontal (AP/PA) chest X-ray");
}

void refuse_too_small(const std::string& path, const XrayImage& x) {
  if (x.width < 16 || x.height < 16)
    throw Error(ExitCode::NotAChestXray, "'" + path + "' is " + std::to_string(x.width) + " x " + std::to_string(x.height) +
                                             " pixels; too small for a chest X-ray");
}

// libjpeg reads a JPEG cut short with a warning only ("Premature end of JPEG file") and fills the missing rows with
// grey; libpng may stop at the last complete row. A complete PNG ends with its IEND chunk; a complete JPEG's marker
// segments, walked from SOI, reach EOI after the entropy-coded data (inside which a 0xFF byte is followed by 0x00
// or a restart marker). "" when complete, else what is missing.
std::string picture_truncation(const std::string& path, const std::string& format) {
  std::ifstream in(path, std::ios::binary);
  const std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (format == "png") {
    static const std::string iend("\0\0\0\0IEND", 8);
    return b.find(iend, 8) == std::string::npos ? "it has no IEND chunk (the file is cut short)" : "";
  }
  if (format != "jpeg") return "";
  const auto u8 = [&b](size_t i) { return static_cast<unsigned char>(b[i]); };
  size_t at = 2;  // after SOI
  while (at + 2 <= b.size()) {
    if (u8(at) != 0xFF) return "a marker is missing at byte " + std::to_string(at) + " (corrupt or cut short)";
    const unsigned marker = u8(at + 1);
    if (marker == 0xFF) { ++at; continue; }  // fill byte
    if (marker == 0xD9) return "";           // EOI
    if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) { at += 2; continue; }
    if (at + 4 > b.size()) break;
    const size_t length = size_t(u8(at + 2)) << 8 | u8(at + 3);
    at += 2 + length;
    if (marker != 0xDA) continue;
    // Entropy-coded data up to the next marker that is not a stuffed 0xFF00 or a restart marker.
    while (at + 1 < b.size() && !(u8(at) == 0xFF && u8(at + 1) != 0x00 && !(u8(at + 1) >= 0xD0 && u8(at + 1) <= 0xD7)))
      ++at;
  }
  return "its image data end before the end-of-image marker (the file is cut short)";
}

// A PNG or JPEG (or another picture format ITK reads): grey, or grey stored as RGB.
void read_picture(const std::string& path, const itk::ImageIOBase::Pointer& io, XrayImage& x) {
  try {
    io->SetFileName(path);
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    throw Error(ExitCode::Unreadable, "'" + path + "' is not a readable image: " + trim(e.GetDescription()));
  }
  const unsigned dims = io->GetNumberOfDimensions();
  for (unsigned d = 2; d < dims; ++d)
    if (io->GetDimensions(d) > 1)
      throw Error(ExitCode::BadDimension, "'" + path + "' has " + std::to_string(dims) +
                                              " dimensions (a volume or multi-frame file); a chest X-ray is one 2-D image");
  if (dims < 2) throw Error(ExitCode::BadDimension, "'" + path + "' is not a 2-D image");
  const unsigned components = io->GetNumberOfComponents();
  if (components > 4)
    throw Error(ExitCode::BadDimension, "'" + path + "' has " + std::to_string(components) + " components per pixel");
  const std::string io_name = io->GetNameOfClass();
  x.format = io_name.find("PNG") != std::string::npos    ? "png"
             : io_name.find("JPEG") != std::string::npos ? "jpeg"
                                                         : io_name;
  x.bits = int(io->GetComponentSize()) * 8;
  if (const std::string cut = picture_truncation(path, x.format); !cut.empty())
    throw Error(ExitCode::Unreadable, "'" + path + "' is not a complete " + (x.format == "png" ? "PNG" : "JPEG") +
                                          ": " + cut);
  using Image = itk::VectorImage<float, 2>;
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetImageIO(io);
  reader->SetFileName(path);
  Image::Pointer image;
  try {
    reader->Update();
    image = reader->GetOutput();
  } catch (const itk::ExceptionObject& e) {
    throw Error(ExitCode::Unreadable, "'" + path + "' could not be read (truncated or corrupt?): " + trim(e.GetDescription()));
  }
  const auto size = image->GetLargestPossibleRegion().GetSize();
  x.width = int(size[0]);
  x.height = int(size[1]);
  refuse_too_small(path, x);
  const size_t n = size_t(x.width) * size_t(x.height);
  const unsigned nc = image->GetNumberOfComponentsPerPixel();
  const float* buf = image->GetBufferPointer();
  x.pixels.resize(n);
  // Colour: more than 1 % of the pixels with channels further apart than 10 % of the range (JPEG noise of grey
  // images saved as RGB stays far below).
  const int colour_channels = nc >= 3 ? 3 : 1;
  double lo_all = INFINITY, hi_all = -INFINITY;
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < colour_channels; ++c) {
      lo_all = std::min(lo_all, double(buf[i * nc + c]));
      hi_all = std::max(hi_all, double(buf[i * nc + c]));
    }
  if (colour_channels == 3) {
    const double tolerance = 0.1 * std::max(1.0, hi_all - lo_all);
    size_t coloured = 0;
    for (size_t i = 0; i < n; ++i) {
      const float r = buf[i * nc], g = buf[i * nc + 1], b = buf[i * nc + 2];
      if (std::max({r, g, b}) - std::min({r, g, b}) > tolerance) ++coloured;
      x.pixels[i] = (r + g + b) / 3.0f;
    }
    if (double(coloured) > 0.01 * double(n))
      throw Error(ExitCode::BadDimension, "'" + path + "' is a colour picture (" +
                                              std::to_string(int(100.0 * double(coloured) / double(n) + 0.5)) +
                                              " % coloured pixels), not a grey-scale X-ray");
  } else {
    for (size_t i = 0; i < n; ++i) x.pixels[i] = buf[i * nc];
  }
  if (!(hi_all > lo_all))
    throw Error(ExitCode::NotAChestXray, "'" + path + "' holds a single value (" + std::to_string(lo_all) +
                                             ") in every pixel: no X-ray in it");
}

// A DICOM radiograph through the DICOM grayscale pipeline (io/dicom_grey.h): Modality LUT, VOI LUT or window,
// MONOCHROME1 inversion.
void read_dicom_xray(const std::string& path, XrayImage& x) {
  const io::DicomGreyImage g = io::read_dicom_grey(path, [&](const io::DicomImageHeader& h) {
    x.modality = upper(h.modality);
    x.photometric = h.photometric;
    x.view = h.view;
    x.bits = h.bits_stored;
    x.width = h.columns;
    x.height = h.rows;
    refuse_non_radiograph(path, x);
    if (h.frames > 1)
      throw Error(ExitCode::BadDimension, "'" + path + "' holds " + std::to_string(h.frames) +
                                              " frames (a multi-frame file); a chest X-ray is one 2-D image");
    refuse_too_small(path, x);
  });
  if (!(g.modality_max > g.modality_min))
    throw Error(ExitCode::NotAChestXray, "'" + path + "' holds a single value (" + std::to_string(g.modality_min) +
                                             ") in every pixel: no X-ray in it");
  x.pixels = g.pixels;
  x.voi = g.voi == "table" ? "VOI LUT" : g.voi.empty() ? "" : g.voi + " window";
  x.windowed = !g.voi.empty();
}

}  // namespace

XrayImage read_xray(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ExitCode::NotFound, "'" + path + "' does not exist");
  if (fs::is_directory(path, ec)) throw Error(ExitCode::Unreadable, "'" + path + "' is a folder, not an X-ray image file");
  if (fs::file_size(path, ec) == 0) throw Error(ExitCode::Unreadable, "'" + path + "' is empty (0 bytes)");
  {
    const std::string problem = io::dicom_meta_problem(path);  // before GDCM's probe, which would abort
    if (!problem.empty()) throw Error(ExitCode::Unreadable, "'" + path + "': corrupt DICOM header (" + problem + ")");
  }
  itk::ImageIOBase::Pointer io =
      itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::ImageIOFactory::IOFileModeEnum::ReadMode);
  if (!io) throw Error(ExitCode::Unreadable, "'" + path + "' is not an image pulmo can read (PNG, JPEG or DICOM expected)");
  XrayImage x;
  if (dynamic_cast<itk::GDCMImageIO*>(io.GetPointer()) != nullptr) {
    x.format = "dicom";
    read_dicom_xray(path, x);
  } else {
    read_picture(path, io, x);
  }
  const size_t n = x.pixels.size();
  // Percentile normalisation (after the DICOM VOI transform, when there was one).
  const auto [p_lo, p_hi] = display_range(x.pixels);
  if (!(p_hi > p_lo))
    throw Error(ExitCode::NotAChestXray, "'" + path + "' holds a single value inside its display window: no X-ray in it");
  for (size_t i = 0; i < n; ++i) x.pixels[i] = float(std::clamp((double(x.pixels[i]) - p_lo) / (p_hi - p_lo), 0.0, 1.0));
  return x;
}

std::array<int, 4> letterbox_box(int width, int height, int size) {
  const double scale = double(size) / std::max(width, height);
  const int w = std::max(1, std::min(size, int(std::lround(width * scale))));
  const int h = std::max(1, std::min(size, int(std::lround(height * scale))));
  return {(size - w) / 2, (size - h) / 2, w, h};
}

std::vector<float> letterbox(const XrayImage& image, int size) {
  if (size < 8) throw Error(ExitCode::Usage, "image size " + std::to_string(size) + " is too small (at least 8)");
  const auto [x0, y0, w, h] = letterbox_box(image.width, image.height, size);
  std::vector<float> out(size_t(size) * size_t(size), 0.0f);
  const double sx = double(image.width) / w, sy = double(image.height) / h;
  for (int oy = 0; oy < h; ++oy) {
    const double fy0 = oy * sy, fy1 = (oy + 1) * sy;
    for (int ox = 0; ox < w; ++ox) {
      const double fx0 = ox * sx, fx1 = (ox + 1) * sx;
      double sum = 0, weight = 0;
      for (int iy = int(fy0); iy < std::min(image.height, int(std::ceil(fy1))); ++iy) {
        const double wy = std::min(fy1, iy + 1.0) - std::max(fy0, double(iy));
        if (wy <= 0) continue;
        for (int ix = int(fx0); ix < std::min(image.width, int(std::ceil(fx1))); ++ix) {
          const double wx = std::min(fx1, ix + 1.0) - std::max(fx0, double(ix));
          if (wx <= 0) continue;
          sum += wx * wy * image.pixels[size_t(iy) * image.width + ix];
          weight += wx * wy;
        }
      }
      out[size_t(y0 + oy) * size + (x0 + ox)] = weight > 0 ? float(sum / weight) : 0.0f;
    }
  }
  return out;
}

}  // namespace pulmo::cxr

namespace pulmo::cxr {

XrayImage crop_xray(const XrayImage& image, const PixelBox& box) {
  const int x0 = std::clamp(box.x0, 0, image.width), y0 = std::clamp(box.y0, 0, image.height);
  const int x1 = std::clamp(box.x0 + box.width, 0, image.width), y1 = std::clamp(box.y0 + box.height, 0, image.height);
  if (x1 <= x0 || y1 <= y0) throw Error(ExitCode::Usage, "crop: the box lies outside the image or is empty");
  XrayImage out = image;
  out.width = x1 - x0;
  out.height = y1 - y0;
  out.pixels.assign(size_t(out.width) * size_t(out.height), 0.0f);
  for (int y = y0; y < y1; ++y)
    std::copy(image.pixels.begin() + long(size_t(y) * size_t(image.width) + size_t(x0)),
              image.pixels.begin() + long(size_t(y) * size_t(image.width) + size_t(x1)),
              out.pixels.begin() + long(size_t(y - y0) * size_t(out.width)));
  return out;
}

LungMask read_lung_mask(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ExitCode::NotFound, "lung mask '" + path + "' does not exist");
  itk::ImageIOBase::Pointer io =
      itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::ImageIOFactory::IOFileModeEnum::ReadMode);
  if (!io) throw Error(ExitCode::Unreadable, "lung mask '" + path + "' is not an image pulmo can read");
  using Image = itk::Image<float, 2>;
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetImageIO(io);
  reader->SetFileName(path);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw Error(ExitCode::Unreadable, "lung mask '" + path + "' could not be read: " + trim(e.GetDescription()));
  }
  if (io->GetNumberOfComponents() != 1 || (io->GetNumberOfDimensions() > 2 && io->GetDimensions(2) > 1))
    throw Error(ExitCode::BadDimension, "lung mask '" + path + "' is not a one-channel 2-D image");
  const auto size = reader->GetOutput()->GetLargestPossibleRegion().GetSize();
  LungMask m;
  for (XrayImage* x : {&m.lung, &m.ignore}) {
    x->width = int(size[0]);
    x->height = int(size[1]);
    x->format = "mask";
    x->pixels.assign(size_t(x->width) * size_t(x->height), 0.0f);
  }
  const float* buf = reader->GetOutput()->GetBufferPointer();
  for (size_t i = 0; i < m.lung.pixels.size(); ++i) {
    if (buf[i] == 255) m.lung.pixels[i] = 1;
    else if (buf[i] == 127) m.ignore.pixels[i] = 1;
    else if (buf[i] != 0)
      throw Error(ExitCode::Mismatch, "lung mask '" + path + "' holds the value " + std::to_string(buf[i]) +
                                          " (0 background, 127 ignore, 255 lung expected)");
  }
  return m;
}

}  // namespace pulmo::cxr
