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

std::vector<SyntheticSlice> axial_stack(int n, double gap_mm, double z0) {
  std::vector<SyntheticSlice> out(n);
  for (int i = 0; i < n; ++i) out[i].position = {-5.0, -5.0, z0 + i * gap_mm};
  return out;
}

}  // namespace pulmo::test
