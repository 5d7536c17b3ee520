// Small synthetic chest X-ray files for the CXR tests (written with ITK; nothing downloaded).
#include "support/cxr_images.h"

#include <itkGDCMImageIO.h>
#include <itkImageFileWriter.h>
#include <itkMetaDataObject.h>
#include <itkRGBPixel.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

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

// A single-frame 12-bit DICOM radiograph (value = 40 * x + y).
void write_dicom(const std::string& path, const std::string& modality, const std::string& view,
                 const std::string& photometric, const std::string& window) {
  using Image = itk::Image<uint16_t, 2>;
  auto image = Image::New();
  Image::RegionType region;
  region.SetSize(0, 64);
  region.SetSize(1, 48);
  image->SetRegions(region);
  image->Allocate();
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) image->SetPixel({{x, y}}, uint16_t(40 * x + y));
  auto io = itk::GDCMImageIO::New();
  itk::MetaDataDictionary& dict = io->GetMetaDataDictionary();
  itk::EncapsulateMetaData<std::string>(dict, "0008|0060", modality);
  // The SOP class decides the modality GDCM writes (without one it writes OT, "other").
  const std::string sop = modality == "CR"   ? "1.2.840.10008.5.1.4.1.1.1"
                          : modality == "DX" ? "1.2.840.10008.5.1.4.1.1.1.1"
                          : modality == "CT" ? "1.2.840.10008.5.1.4.1.1.2"
                                             : "1.2.840.10008.5.1.4.1.1.7";
  itk::EncapsulateMetaData<std::string>(dict, "0008|0016", sop);
  itk::EncapsulateMetaData<std::string>(dict, "0018|5101", view);
  itk::EncapsulateMetaData<std::string>(dict, "0028|0004", photometric);
  if (!window.empty()) {
    itk::EncapsulateMetaData<std::string>(dict, "0028|1050", window.substr(0, window.find(',')));
    itk::EncapsulateMetaData<std::string>(dict, "0028|1051", window.substr(window.find(',') + 1));
  }
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetFileName(path);
  writer->SetInput(image);
  writer->SetImageIO(io);
  writer->SetUseInputMetaDataDictionary(false);  // else the image's empty dictionary replaces the tags above
  writer->Update();
  if (photometric == "MONOCHROME1") {
    // GDCM writes MONOCHROME2 whatever it is told: patch the value in place (same length).
    std::string bytes = pulmo::read_text_file(path);
    const size_t at = bytes.find("MONOCHROME2");
    if (at != std::string::npos) bytes[at + 10] = '1';
    pulmo::write_text_atomic(path, bytes);
  }
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
