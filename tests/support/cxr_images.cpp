// Small synthetic chest X-ray files for the CXR tests (written with ITK and GDCM; nothing downloaded).
#include "support/cxr_images.h"

#include <gdcmDataSet.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmUIDGenerator.h>
#include <gdcmWriter.h>
#include <gtest/gtest.h>
#include <itkImageFileWriter.h>
#include <nlohmann/json.hpp>
#include <itkRGBPixel.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "pulmo/cxr.h"
#include "pulmo/fileutil.h"

namespace fs = std::filesystem;
namespace cxr = pulmo::cxr;

namespace pulmo::test {

// A grey image whose value grows with x and y ("an X-ray"), or one value everywhere.
template <typename T>
void write_grey(const std::string& path, int w, int h, bool constant, double max_value) {
  using Image = itk::Image<T, 2>;
  auto image = Image::New();
  typename Image::RegionType region;
  region.SetSize(0, w);
  region.SetSize(1, h);
  image->SetRegions(region);
  image->Allocate();
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      image->SetPixel({{x, y}}, static_cast<T>(constant ? 100 : (double(x + y) / (w + h - 2)) * max_value));
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetFileName(path);
  writer->SetInput(image);
  writer->Update();
}

void write_rgb(const std::string& path, int w, int h, bool colour) {
  using Image = itk::Image<itk::RGBPixel<uint8_t>, 2>;
  auto image = Image::New();
  Image::RegionType region;
  region.SetSize(0, w);
  region.SetSize(1, h);
  image->SetRegions(region);
  image->Allocate();
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      itk::RGBPixel<uint8_t> p;
      const uint8_t g = uint8_t(4 * (x + y) % 256);
      p[0] = g;
      p[1] = colour ? uint8_t(255 - g) : g;
      p[2] = colour ? uint8_t(x * 7 % 256) : g;
      image->SetPixel({{x, y}}, p);
    }
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetFileName(path);
  writer->SetInput(image);
  writer->Update();
}

namespace {

void put(gdcm::DataSet& ds, uint16_t group, uint16_t element, gdcm::VR vr, std::string value) {
  if (value.size() % 2) value += vr == gdcm::VR::UI || vr == gdcm::VR::OB ? '\0' : ' ';
  gdcm::DataElement de(gdcm::Tag(group, element));
  de.SetVR(vr);
  de.SetByteValue(value.data(), uint32_t(value.size()));
  ds.Replace(de);
}

void put_us(gdcm::DataSet& ds, uint16_t group, uint16_t element, uint16_t v) {
  put(ds, group, element, gdcm::VR::US, std::string(reinterpret_cast<const char*>(&v), 2));
}

std::string words(const std::vector<uint16_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 2);
}

void put_lut(gdcm::DataSet& ds, uint16_t sequence_element, const DicomLut& lut) {
  gdcm::Item item;
  item.SetVLToUndefined();
  gdcm::DataSet& nested = item.GetNestedDataSet();
  put(nested, 0x0028, 0x3002, lut.descriptor_vr == "SS" ? gdcm::VR::SS : gdcm::VR::US,
      words({lut.entries, lut.first, lut.bits}));
  std::string data;
  if (lut.bytes)
    for (uint16_t v : lut.data) data += char(uint8_t(v));
  else
    data = words(lut.data);
  put(nested, 0x0028, 0x3006, lut.bytes ? gdcm::VR::OB : gdcm::VR::OW, data);
  gdcm::SmartPointer<gdcm::SequenceOfItems> sq = new gdcm::SequenceOfItems;
  sq->SetLengthToUndefined();
  sq->AddItem(item);
  gdcm::DataElement de(gdcm::Tag(0x0028, sequence_element));
  de.SetVR(gdcm::VR::SQ);
  de.SetValue(*sq);
  de.SetVLToUndefined();
  ds.Replace(de);
}

}  // namespace

void write_dicom_file(const std::string& path, const DicomSpec& s) {
  gdcm::Writer writer;
  gdcm::File& file = writer.GetFile();
  file.GetHeader().SetDataSetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  gdcm::DataSet& ds = file.GetDataSet();
  const std::string sop = s.modality == "CR"   ? "1.2.840.10008.5.1.4.1.1.1"
                          : s.modality == "DX" ? "1.2.840.10008.5.1.4.1.1.1.1"
                          : s.modality == "CT" ? "1.2.840.10008.5.1.4.1.1.2"
                                               : "1.2.840.10008.5.1.4.1.1.7";
  put(ds, 0x0008, 0x0016, gdcm::VR::UI, sop);
  gdcm::UIDGenerator uid;
  put(ds, 0x0008, 0x0018, gdcm::VR::UI, uid.Generate());
  put(ds, 0x0008, 0x0060, gdcm::VR::CS, s.modality);
  if (!s.view.empty()) put(ds, 0x0018, 0x5101, gdcm::VR::CS, s.view);
  put_us(ds, 0x0028, 0x0002, 1);
  put(ds, 0x0028, 0x0004, gdcm::VR::CS, s.photometric);
  put_us(ds, 0x0028, 0x0010, uint16_t(s.height));
  put_us(ds, 0x0028, 0x0011, uint16_t(s.width));
  put_us(ds, 0x0028, 0x0100, uint16_t(s.bits_allocated));
  put_us(ds, 0x0028, 0x0101, uint16_t(s.bits_stored));
  put_us(ds, 0x0028, 0x0102, uint16_t(s.bits_stored - 1));
  put_us(ds, 0x0028, 0x0103, s.is_signed ? 1 : 0);
  if (!s.window_center.empty()) put(ds, 0x0028, 0x1050, gdcm::VR::DS, s.window_center);
  if (!s.window_width.empty()) put(ds, 0x0028, 0x1051, gdcm::VR::DS, s.window_width);
  if (!s.rescale_intercept.empty()) put(ds, 0x0028, 0x1052, gdcm::VR::DS, s.rescale_intercept);
  if (!s.rescale_slope.empty()) put(ds, 0x0028, 0x1053, gdcm::VR::DS, s.rescale_slope);
  if (!s.voi_function.empty()) put(ds, 0x0028, 0x1056, gdcm::VR::CS, s.voi_function);
  if (s.modality_lut) put_lut(ds, 0x3000, *s.modality_lut);
  if (s.voi_lut) put_lut(ds, 0x3010, *s.voi_lut);
  std::vector<int32_t> stored = s.stored;
  if (stored.empty())
    for (int y = 0; y < s.height; ++y)
      for (int x = 0; x < s.width; ++x) stored.push_back(40 * x + y);
  const uint32_t mask = s.bits_stored >= 32 ? 0xffffffffu : (1u << s.bits_stored) - 1;
  std::string pixels;
  for (int32_t v : stored) {
    const uint32_t w = (uint32_t(v) & mask) | (s.unused_bits & ~mask);
    pixels.append(reinterpret_cast<const char*>(&w), size_t(s.bits_allocated / 8));  // little endian host
  }
  put(ds, 0x7fe0, 0x0010, s.bits_allocated == 8 ? gdcm::VR::OB : gdcm::VR::OW, pixels);
  writer.SetFileName(path.c_str());
  if (!writer.Write()) throw std::runtime_error("GDCM could not write " + path);
}

void write_dicom(const std::string& path, const std::string& modality, const std::string& view,
                 const std::string& photometric, const std::string& window) {
  DicomSpec s;
  s.modality = modality;
  s.view = view;
  s.photometric = photometric;
  if (!window.empty()) {
    s.window_center = window.substr(0, window.find(','));
    s.window_width = window.substr(window.find(',') + 1);
  }
  write_dicom_file(path, s);
}

// 24 cases of 12 patients, 40 x 48 images: severe ones have a bright blob, and a higher CRP.
std::string write_tiny_dataset(const TempDir& t) {
  std::mt19937 rng(3);
  std::vector<cxr::CxrCase> cases;
  for (int i = 0; i < 24; ++i) {
    const bool severe = i % 2 == 0;
    const std::string name = "x" + std::to_string(i) + ".png";
    using Image = itk::Image<uint8_t, 2>;
    auto image = Image::New();
    Image::RegionType region;
    region.SetSize(0, 40);
    region.SetSize(1, 48);
    image->SetRegions(region);
    image->Allocate();
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 40; ++x) {
        int v = 60 + int(rng() % 40) + (severe && std::abs(x - 12) < 6 && std::abs(y - 20) < 8 ? 120 : 0);
        image->SetPixel({{x, y}}, uint8_t(v));
      }
    auto writer = itk::ImageFileWriter<Image>::New();
    writer->SetFileName(t.file(name));
    writer->SetInput(image);
    writer->Update();
    cxr::CxrCase c;
    c.case_id = "c" + std::to_string(i);
    c.patient_id = "p" + std::to_string(i % 12);
    c.source = i < 20 ? "hannover" : "ieee8023";
    c.image = name;
    c.severe = severe ? 1 : 0;
    c.sex = i % 3 == 0 ? "F" : "M";
    c.view = i % 4 == 0 ? "PA" : "AP";
    if (i % 5 != 0) c.clinical["crp"] = severe ? 150 + i : 20 + i;
    c.clinical["sex_male"] = c.sex == "M";
    cases.push_back(c);
  }
  pulmo::write_text_atomic(t.file("manifest.csv"), cxr::cxr_manifest_csv(cases));
  pulmo::write_text_atomic(t.file("train.yaml"),
                           "data:\n  manifest: manifest.csv\nmodel:\n  image_size: 32\n  channels: [4, 8]\n"
                           "  clinical_hidden: 4\ntraining:\n  variants: [fused, image, logistic]\n  folds: 3\n"
                           "  epochs: 3\n  batch_size: 4\n  patience: 2\n  bootstrap: 50\n  permutation_repeats: 3\n"
                           "output: model\n");
  return t.file("train.yaml");
}


void expect_same_cxr_outputs(const std::string& a, const std::string& b) {
  for (const char* file : {"model.json", "fused.pt", "image.pt", "cv_predictions.csv", "features.csv",
                           "importance.json", "manifest.csv"})
    EXPECT_TRUE(pulmo::read_text_file(a + "/" + file) == pulmo::read_text_file(b + "/" + file)) << file;
  nlohmann::json ca = nlohmann::json::parse(pulmo::read_text_file(a + "/cv.json"));
  nlohmann::json cb = nlohmann::json::parse(pulmo::read_text_file(b + "/cv.json"));
  ca.erase("seconds");
  cb.erase("seconds");
  EXPECT_EQ(ca.dump(), cb.dump());
}

template void write_grey<uint8_t>(const std::string&, int, int, bool, double);
template void write_grey<uint16_t>(const std::string&, int, int, bool, double);

}  // namespace pulmo::test

namespace pulmo::test {

std::array<int, 4> write_synthetic_lungs(const std::string& image_path, const std::string& mask_path, int w, int h, int seed) {
  std::mt19937 rng{static_cast<uint32_t>(seed)};
  std::uniform_int_distribution<int> jitter(-w / 10, w / 10);
  const int cx = w / 2 + jitter(rng), cy = h / 2 + jitter(rng) / 2;
  const int lw = w / 5 + jitter(rng) / 3, lh = h / 2 + jitter(rng) / 3, gap = w / 12;
  const int y0 = cy - lh / 2, y1 = y0 + lh, r0 = cx - gap / 2 - lw, l1 = cx + gap / 2 + lw;
  using Image = itk::Image<uint8_t, 2>;
  Image::RegionType region;
  region.SetSize(0, w);
  region.SetSize(1, h);
  auto image = Image::New(), mask = Image::New();
  for (auto* i : {&image, &mask}) {
    (*i)->SetRegions(region);
    (*i)->Allocate();
  }
  std::normal_distribution<double> noise(0, 6);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const bool lung = y >= y0 && y < y1 && ((x >= r0 && x < cx - gap / 2) || (x >= cx + gap / 2 && x < l1));
      const bool body = x >= w / 12 && x < w - w / 12;
      const double v = (lung ? 50 : body ? 170 : 20) + 30.0 * y / h + noise(rng);
      image->SetPixel({{x, y}}, uint8_t(std::clamp(v, 0.0, 255.0)));
      const bool ignore = !lung && x < w / 6 && y < h / 6;
      mask->SetPixel({{x, y}}, uint8_t(lung ? 255 : ignore ? 127 : 0));
    }
  for (auto [img, path] : {std::pair{image, image_path}, std::pair{mask, mask_path}}) {
    auto writer = itk::ImageFileWriter<Image>::New();
    writer->SetFileName(path);
    writer->SetInput(img);
    writer->Update();
  }
  return {r0, y0, l1, y1};
}

}  // namespace pulmo::test
