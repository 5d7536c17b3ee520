// Reading files (NIfTI, NRRD, MetaImage, single DICOM) and dispatching folders to the DICOM series reader.
#include <ATen/ATen.h>
#include <itkGDCMImageIO.h>
#include <itkImageFileReader.h>
#include <itkImageIOFactory.h>
#include <itkMetaDataObject.h>

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/internal.h"
#include "io/itk_bridge.h"
#include "pulmo/error.h"
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

// Bytes the voxel data needs, from the header (0 when unknown).
uint64_t expected_data_bytes(const itk::ImageIOBase* io) {
  uint64_t n = io->GetComponentSize() * io->GetNumberOfComponents();
  for (unsigned d = 0; d < io->GetNumberOfDimensions(); ++d) n *= io->GetDimensions(d);
  return n;
}

// NIfTI in gzip: ITK's reader zero-fills a truncated stream without an error, so check the
// decompressed length against the header. Fast path: the gzip trailer (ISIZE, length mod 2^32)
// equals vox_offset + voxel bytes; otherwise count the decompressed bytes (multi-member files).
void check_gzip_nifti_length(const std::string& path, uint64_t voxel_bytes) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) throw Error(ExitCode::NotFound, "cannot open '" + path + "'");
  unsigned char header[544] = {0};
  const int got = gzread(gz, header, sizeof header);
  uint64_t vox_offset = 0;
  int32_t sizeof_hdr = 0;
  std::memcpy(&sizeof_hdr, header, 4);
  const bool swapped = sizeof_hdr == 0x5C010000 || sizeof_hdr == 0x1C020000;
  if (swapped) sizeof_hdr = static_cast<int32_t>(__builtin_bswap32(static_cast<uint32_t>(sizeof_hdr)));
  if (got >= 348 && sizeof_hdr == 348) {
    float f;
    std::memcpy(&f, header + 108, 4);
    if (swapped) {
      uint32_t u;
      std::memcpy(&u, &f, 4);
      u = __builtin_bswap32(u);
      std::memcpy(&f, &u, 4);
    }
    vox_offset = f < 352 ? 352 : static_cast<uint64_t>(f);
  } else if (got >= 540 && sizeof_hdr == 540) {
    int64_t off;
    std::memcpy(&off, header + 168, 8);
    if (swapped) off = static_cast<int64_t>(__builtin_bswap64(static_cast<uint64_t>(off)));
    vox_offset = static_cast<uint64_t>(off);
  } else {
    gzclose(gz);
    return;  // not a single-file NIfTI header (e.g. .hdr/.img pair): leave it to ITK
  }
  const uint64_t need = vox_offset + voxel_bytes;
  // Fast path: the trailer of a complete single-member gzip file.
  std::ifstream raw(path, std::ios::binary | std::ios::ate);
  const auto size = static_cast<uint64_t>(raw.tellg());
  uint32_t isize = 0;
  if (size >= 18) {
    raw.seekg(static_cast<std::streamoff>(size - 4));
    unsigned char t[4];
    raw.read(reinterpret_cast<char*>(t), 4);
    isize = t[0] | (t[1] << 8) | (t[2] << 16) | (static_cast<uint32_t>(t[3]) << 24);
  }
  if (isize == static_cast<uint32_t>(need & 0xffffffffu)) {
    gzclose(gz);
    return;
  }
  uint64_t total = static_cast<uint64_t>(got);
  std::vector<char> buf(1 << 20);
  int n;
  while ((n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()))) > 0) total += static_cast<uint64_t>(n);
  int errnum = Z_OK;
  const char* zmsg = gzerror(gz, &errnum);
  const std::string zerr = (n < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) ? std::string(zmsg ? zmsg : "") : "";
  gzclose(gz);
  if (total < need || !zerr.empty())
    throw Error(ExitCode::Unreadable, "'" + path + "' is truncated or corrupt: the header promises " +
                                          std::to_string(need) + " bytes, the compressed stream holds " +
                                          std::to_string(total) + (zerr.empty() ? "" : " (" + zerr + ")"));
}

}  // namespace

Volume read_file(const std::string& path, const ReadOptions& options, SourceInfo* source) {
  std::error_code ec;
  const auto bytes = fs::file_size(path, ec);
  if (ec) throw Error(ExitCode::NotFound, "cannot open '" + path + "': " + ec.message());
  if (bytes == 0) throw Error(ExitCode::Unreadable, "'" + path + "' is empty (0 bytes)");
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw Error(ExitCode::NotFound, "cannot open '" + path + "' for reading (permission?)");
  }

  itk::ImageIOBase::Pointer io =
      itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::ImageIOFactory::IOFileModeEnum::ReadMode);
  if (!io)
    throw Error(ExitCode::Unreadable, "'" + path +
                                          "' is not a readable image: not NIfTI (.nii, .nii.gz), NRRD, MetaImage "
                                          "(.mha, .mhd) or DICOM, or its header is corrupt");
  const FileFormat format = format_of_io(io);
  try {
    io->SetFileName(path);
    io->ReadImageInformation();
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

  // A header whose sizes lie: an uncompressed file shorter than its header says.
  if (format == FileFormat::Nifti && ends_with(lower(path), ".gz")) check_gzip_nifti_length(path, expected_data_bytes(io));
  if (format == FileFormat::Nifti && !ends_with(lower(path), ".gz")) {
    const uint64_t need = expected_data_bytes(io);
    if (need > bytes)
      throw Error(ExitCode::Unreadable, "'" + path + "': header promises " + std::to_string(need) +
                                            " bytes of voxels but the file has only " + std::to_string(bytes) +
                                            " bytes (truncated file or lying header)");
  }

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

  if (source) {
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

Volume read_volume(const std::string& path, const ReadOptions& options, SourceInfo* source) {
  SourceInfo local;
  SourceInfo& src = source ? *source : local;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ExitCode::NotFound, "'" + path + "' does not exist");
  Volume volume = fs::is_directory(path, ec) ? io::read_dicom_folder(path, options, &src)
                                              : io::read_file(path, options, &src);
  volume.check();
  if (options.require_3d) volume.require_3d("this command");
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
