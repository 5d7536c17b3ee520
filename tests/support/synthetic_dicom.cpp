#include "support/synthetic_dicom.h"

#include <gdcmDicts.h>
#include <gdcmGlobal.h>
#include <gdcmReader.h>
#include <gdcmWriter.h>
#include <itkGDCMImageIO.h>
#include <itkImageFileWriter.h>
#include <itkMetaDataObject.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace pulmo::test {

void write_synthetic_series(const std::string& folder, const std::vector<SyntheticSlice>& slices) {
  std::filesystem::create_directories(folder);
  using Image = itk::Image<int16_t, 3>;
  for (size_t i = 0; i < slices.size(); ++i) {
    const SyntheticSlice& s = slices[i];
    auto image = Image::New();
    Image::RegionType region;
    region.SetSize(0, s.columns);
    region.SetSize(1, s.rows);
    region.SetSize(2, 1);
    image->SetRegions(region);
    Image::PointType origin;
    Image::DirectionType dir;
    const double* o = s.orientation.data();
    const double n[3] = {o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]};
    for (int r = 0; r < 3; ++r) {
      origin[r] = s.position[r];
      dir(r, 0) = o[r];
      dir(r, 1) = o[3 + r];
      dir(r, 2) = n[r];
    }
    image->SetOrigin(origin);
    image->SetDirection(dir);
    Image::SpacingType spacing;
    spacing[0] = 0.7;
    spacing[1] = 0.7;
    spacing[2] = 1.0;
    image->SetSpacing(spacing);
    image->Allocate();
    for (int y = 0; y < s.rows; ++y)
      for (int x = 0; x < s.columns; ++x) image->SetPixel({{x, y, 0}}, static_cast<int16_t>(int(i) * 10 + x - 1000));

    auto io = itk::GDCMImageIO::New();
    io->KeepOriginalUIDOn();
    itk::MetaDataDictionary& dict = io->GetMetaDataDictionary();
    itk::EncapsulateMetaData<std::string>(dict, "0008|0060", "CT");
    itk::EncapsulateMetaData<std::string>(dict, "0008|0016", "1.2.840.10008.5.1.4.1.1.2");
    itk::EncapsulateMetaData<std::string>(dict, "0020|000d", "1.2.826.0.1.3680043.9.7777");
    itk::EncapsulateMetaData<std::string>(dict, "0020|000e", s.series_uid);
    itk::EncapsulateMetaData<std::string>(dict, "0008|0018", s.series_uid + "." + std::to_string(i + 1));
    itk::EncapsulateMetaData<std::string>(dict, "0020|0013", std::to_string(i + 1));
    itk::EncapsulateMetaData<std::string>(dict, "0008|103e", "pulmo synthetic series");
    auto writer = itk::ImageFileWriter<Image>::New();
    char name[64];
    std::snprintf(name, sizeof name, "slice_%03zu.dcm", i);
    writer->SetFileName((std::filesystem::path(folder) / name).string());
    writer->SetInput(image);
    writer->SetImageIO(io);
    writer->SetUseInputMetaDataDictionary(false);
    writer->Update();
  }
}

void set_dicom_tag(const std::string& file, uint16_t group, uint16_t element, const char* value) {
  gdcm::Reader reader;
  reader.SetFileName(file.c_str());
  if (!reader.Read()) throw std::runtime_error("cannot read DICOM " + file);
  gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  const gdcm::Tag tag(group, element);
  if (!value) {
    ds.Remove(tag);
  } else {
    gdcm::DataElement de = ds.FindDataElement(tag) ? ds.GetDataElement(tag) : gdcm::DataElement(tag);
    if (de.GetVR() == gdcm::VR::INVALID) de.SetVR(gdcm::Global::GetInstance().GetDicts().GetDictEntry(tag).GetVR());
    std::string v(value);
    if (v.size() % 2) v += ' ';
    de.SetByteValue(v.c_str(), static_cast<uint32_t>(v.size()));
    ds.Replace(de);
  }
  gdcm::Writer writer;
  writer.SetFile(reader.GetFile());
  writer.SetFileName(file.c_str());
  if (!writer.Write()) throw std::runtime_error("cannot write DICOM " + file);
}

void copy_dicom_element(const std::string& from, const std::string& to, uint16_t group, uint16_t element) {
  gdcm::Reader source;
  source.SetFileName(from.c_str());
  if (!source.Read()) throw std::runtime_error("cannot read DICOM " + from);
  const gdcm::Tag tag(group, element);
  if (!source.GetFile().GetDataSet().FindDataElement(tag)) throw std::runtime_error("no such element in " + from);
  gdcm::Reader target;
  target.SetFileName(to.c_str());
  if (!target.Read()) throw std::runtime_error("cannot read DICOM " + to);
  target.GetFile().GetDataSet().Replace(source.GetFile().GetDataSet().GetDataElement(tag));
  gdcm::Writer writer;
  writer.SetFile(target.GetFile());
  writer.SetFileName(to.c_str());
  if (!writer.Write()) throw std::runtime_error("cannot write DICOM " + to);
}

void make_dicom_colour(const std::string& file) {
  gdcm::Reader reader;
  reader.SetFileName(file.c_str());
  if (!reader.Read()) throw std::runtime_error("cannot read DICOM " + file);
  gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  auto us = [&ds](uint16_t element) {
    const gdcm::ByteValue* v = ds.GetDataElement(gdcm::Tag(0x0028, element)).GetByteValue();
    uint16_t x = 0;
    if (v && v->GetLength() == 2) std::memcpy(&x, v->GetPointer(), 2);
    return x;
  };
  auto put_us = [&ds](uint16_t element, uint16_t value) {
    gdcm::DataElement de(gdcm::Tag(0x0028, element));
    de.SetVR(gdcm::VR::US);
    de.SetByteValue(reinterpret_cast<const char*>(&value), 2);
    ds.Replace(de);
  };
  const size_t rows = us(0x0010), columns = us(0x0011);
  put_us(0x0002, 3);  // Samples per Pixel
  put_us(0x0006, 0);  // Planar Configuration: interleaved
  put_us(0x0100, 8);
  put_us(0x0101, 8);
  put_us(0x0102, 7);
  put_us(0x0103, 0);
  gdcm::DataElement photometric(gdcm::Tag(0x0028, 0x0004));
  photometric.SetVR(gdcm::VR::CS);
  photometric.SetByteValue("RGB ", 4);
  ds.Replace(photometric);
  std::string pixels(rows * columns * 3, '\0');
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>((i * 7) % 251);
  gdcm::DataElement data(gdcm::Tag(0x7fe0, 0x0010));
  data.SetVR(gdcm::VR::OB);
  data.SetByteValue(pixels.data(), static_cast<uint32_t>(pixels.size()));
  ds.Replace(data);
  gdcm::Writer writer;
  writer.SetFile(reader.GetFile());
  writer.SetFileName(file.c_str());
  if (!writer.Write()) throw std::runtime_error("cannot write DICOM " + file);
}

std::vector<SyntheticSlice> axial_stack(int n, double gap_mm, double z0) {
  std::vector<SyntheticSlice> out(n);
  for (int i = 0; i < n; ++i) out[i].position = {-5.0, -5.0, z0 + i * gap_mm};
  return out;
}

}  // namespace pulmo::test
