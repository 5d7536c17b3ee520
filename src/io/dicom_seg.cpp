// DICOM Segmentation objects (PS3.3 A.51), written and read with DCMTK's dcmseg: binary segments, one frame per
// segment and slice, each frame placed by its Image Position (Patient) and derived from one source image.
#include <ATen/ATen.h>
#include <dcmtk/config/osconfig.h>  // first of DCMTK's headers
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmfg/fgseg.h>
#include <dcmtk/dcmiod/cielabutil.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>
#include <dcmtk/dcmseg/segutils.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <memory>
#include <set>
#include <sstream>

#include "core/tempfile.h"
#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/version.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

std::string str(const OFString& s) { return std::string(s.c_str()); }

// DCMTK logs its warnings to stderr ("W: DcmItem: ..."); pulmo reports through its own errors and warnings.
void quiet_dcmtk() {
  static std::once_flag once;
  std::call_once(once, [] { OFLog::configure(OFLogger::OFF_LOG_LEVEL); });
}

// Decimal strings (DS) hold at most 16 characters.
std::string ds(double v) {
  char buf[32];
  for (int digits = 10; digits >= 1; --digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, std::abs(v) < 1e-9 ? 0.0 : v);
    if (std::string(buf).size() <= 16) break;
  }
  return buf;
}

void check(const OFCondition& c, const std::string& what) {
  if (c.bad()) throw Error(ExitCode::Internal, "DICOM-SEG: " + what + ": " + c.text());
}

struct SourceImage {
  std::string file, sop_class, sop_instance, series_uid, series_number;
  Vec3 position{0, 0, 0};
};

SourceImage read_source_header(const std::string& file, DcmFileFormat& ff) {
  if (!fs::exists(file)) throw Error(ExitCode::NotFound, "source image '" + file + "' does not exist");
  const OFCondition c = ff.loadFileUntilTag(file.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect,
                                            DCM_PixelData);
  if (c.bad()) throw Error(ExitCode::Unreadable, "source image '" + file + "' is not readable DICOM: " + c.text());
  DcmDataset& d = *ff.getDataset();
  SourceImage s;
  s.file = file;
  OFString v;
  if (d.findAndGetOFString(DCM_SOPClassUID, v).good()) s.sop_class = str(v);
  if (d.findAndGetOFString(DCM_SOPInstanceUID, v).good()) s.sop_instance = str(v);
  if (d.findAndGetOFString(DCM_SeriesInstanceUID, v).good()) s.series_uid = str(v);
  if (d.findAndGetOFString(DCM_SeriesNumber, v).good()) s.series_number = str(v);
  // anonymised files may keep their UIDs only in the file meta information
  if (s.sop_class.empty() && ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, v).good()) s.sop_class = str(v);
  if (s.sop_instance.empty() && ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPInstanceUID, v).good())
    s.sop_instance = str(v);
  if (s.sop_class.empty() || s.sop_instance.empty())
    throw Error(ExitCode::Unreadable, "source image '" + file + "' has no SOP Class / SOP Instance UID");
  Sint32 frames = 1;
  if (d.findAndGetSint32(DCM_NumberOfFrames, frames).good() && frames > 1)
    throw Error(ExitCode::Mismatch, "source image '" + file + "' has " + std::to_string(frames) +
                                        " frames: DICOM-SEG output supports series of single-frame images");
  for (int i = 0; i < 3; ++i) {
    Float64 x = 0;
    if (d.findAndGetFloat64(DCM_ImagePositionPatient, x, i).bad())
      throw Error(ExitCode::Mismatch, "source image '" + file + "' has no Image Position (Patient)");
    s.position[i] = x;
  }
  return s;
}

double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 minus(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }

// Index of the grid slice whose first voxel is at `p` (within a quarter of a slice and of a pixel: a series' slice
// positions may jitter around the grid's mean spacing), or -1.
int64_t slice_of(const Geometry& g, const Vec3& p) {
  const Vec3 d = minus(p, g.origin_mm);
  const double t = dot(d, g.axis_direction(2)) / g.spacing_mm[2];
  const int64_t k = std::llround(t);
  if (std::abs(t - double(k)) > 0.25 || k < 0 || k >= g.size[2]) return -1;
  // in plane: within a quarter of a pixel of the slice's first voxel
  for (int a = 0; a < 2; ++a)
    if (std::abs(dot(d, g.axis_direction(a))) > 0.25 * g.spacing_mm[a]) return -1;
  return k;
}

CodeSequenceMacro code(const DicomCode& c, const std::string& what) {
  if (c.value.empty() || c.scheme.empty() || c.meaning.empty())
    throw Error(ExitCode::Usage, "DICOM-SEG: segment '" + what + "' needs a complete code (value, scheme, meaning)");
  return CodeSequenceMacro(c.value.c_str(), c.scheme.c_str(), c.meaning.c_str());
}

}  // namespace

DicomSegWritten write_dicom_seg(const std::vector<DicomSegment>& segments, const std::vector<std::string>& source_files,
                                const std::string& path, const DicomSegOptions& options) {
  quiet_dcmtk();
  if (segments.empty()) throw Error(ExitCode::NoData, "DICOM-SEG '" + path + "': no segments to write");
  if (source_files.empty()) throw Error(ExitCode::NoData, "DICOM-SEG '" + path + "': no source images to refer to");
  const Geometry& g = segments.front().mask->geometry;
  for (const DicomSegment& s : segments) {
    if (!s.mask || !s.mask->voxels.defined()) throw Error(ExitCode::Usage, "DICOM-SEG: segment '" + s.label + "' has no mask");
    if (!s.mask->geometry.same_grid_as(g))
      throw Error(ExitCode::Mismatch, "DICOM-SEG: the masks of '" + segments.front().label + "' and '" + s.label +
                                          "' are on different grids");
  }
  if (g.size[0] > 65535 || g.size[1] > 65535)
    throw Error(ExitCode::Mismatch, "DICOM-SEG: slices of " + std::to_string(g.size[0]) + "x" + std::to_string(g.size[1]) +
                                        " pixels are more than DICOM's 65535 rows or columns");

  // The source image of each slice.
  std::vector<std::unique_ptr<DcmFileFormat>> headers;
  std::vector<SourceImage> slice_source(size_t(g.size[2]));
  std::vector<bool> has_source(size_t(g.size[2]), false);
  for (const std::string& f : source_files) {
    headers.push_back(std::make_unique<DcmFileFormat>());
    SourceImage s = read_source_header(f, *headers.back());
    const int64_t k = slice_of(g, s.position);
    if (k < 0) {
      std::ostringstream p;
      p << "(" << s.position[0] << ", " << s.position[1] << ", " << s.position[2] << ")";
      throw Error(ExitCode::Mismatch, "DICOM-SEG: source image '" + f + "' at " + p.str() +
                                          " mm is on no slice of the masks' grid (not the grid of this series)");
    }
    if (has_source[size_t(k)] && slice_source[size_t(k)].sop_instance != s.sop_instance)
      throw Error(ExitCode::Mismatch, "DICOM-SEG: source images '" + slice_source[size_t(k)].file + "' and '" + f +
                                          "' are both at slice " + std::to_string(k));
    slice_source[size_t(k)] = s;
    has_source[size_t(k)] = true;
  }
  for (int64_t k = 0; k < g.size[2]; ++k)
    if (!has_source[size_t(k)])
      throw Error(ExitCode::Mismatch, "DICOM-SEG: slice " + std::to_string(k) + " of the masks has no source image among the " +
                                          std::to_string(source_files.size()) + " given");
  const SourceImage& first = slice_source.front();

  // The document.
  DicomSegWritten result;
  const std::string version = PULMO_VERSION;
  IODGeneralEquipmentModule::EquipmentInfo equipment("pulmo", "pulmo", "0", version.c_str());
  ContentIdentificationMacro ident("1", "PULMO", options.series_description.c_str(), "pulmo");
  DcmSegmentation* raw = nullptr;
  check(DcmSegmentation::createBinarySegmentation(raw, Uint16(g.size[1]), Uint16(g.size[0]), equipment, ident),
        "creating the segmentation");
  std::unique_ptr<DcmSegmentation> seg(raw);
  // Patient, study and frame of reference of the source; a new series.
  OFString study_uid;
  headers.front()->getDataset()->findAndGetOFString(DCM_StudyInstanceUID, study_uid);
  if (study_uid.empty())
    result.warnings.push_back("the source images have no Study Instance UID (anonymised?): the DICOM-SEG is in a new "
                              "study, so a PACS will not file it with its CT");
  if (first.series_uid.empty())
    result.warnings.push_back("the source images have no Series Instance UID: the DICOM-SEG refers to its images "
                              "frame by frame, but lists no referenced series");
  check(seg->importHierarchy(*headers.front()->getDataset(), OFTrue, OFTrue, OFTrue, OFFalse), "importing the patient and study");
  OFString for_uid;
  if (seg->getFrameOfReference().getFrameOfReferenceUID(for_uid).bad() || for_uid.empty()) {
    char uid[100];
    check(seg->getFrameOfReference().setFrameOfReferenceUID(dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT)),
          "frame of reference");
  }
  int series_number = options.series_number;
  if (series_number <= 0) series_number = 1000 + std::max(0, std::atoi(first.series_number.c_str()));
  check(seg->getSeries().setSeriesNumber(std::to_string(series_number).c_str()), "series number");
  check(seg->getSeries().setSeriesDescription(options.series_description.c_str()), "series description");

  char dim_uid[100];
  dcmGenerateUniqueIdentifier(dim_uid, SITE_INSTANCE_UID_ROOT);
  IODMultiframeDimensionModule& dims = seg->getDimensions();
  check(dims.addDimensionIndex(DCM_ReferencedSegmentNumber, dim_uid, DCM_SegmentIdentificationSequence,
                               "ReferencedSegmentNumber"),
        "dimension index");
  check(dims.addDimensionIndex(DCM_ImagePositionPatient, dim_uid, DCM_PlanePositionSequence, "ImagePositionPatient"),
        "dimension index");

  // Shared: orientation (row = +x of the grid, column = +y) and pixel measures.
  const Vec3 row = g.axis_direction(0), col = g.axis_direction(1);
  std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
      ds(row[0]).c_str(), ds(row[1]).c_str(), ds(row[2]).c_str(), ds(col[0]).c_str(), ds(col[1]).c_str(), ds(col[2]).c_str()));
  check(seg->addForAllFrames(*orientation), "plane orientation");
  FGPixelMeasures measures;
  check(measures.setPixelSpacing((ds(g.spacing_mm[1]) + "\\" + ds(g.spacing_mm[0])).c_str()), "pixel spacing");
  check(measures.setSliceThickness(ds(g.spacing_mm[2]).c_str()), "slice thickness");
  check(measures.setSpacingBetweenSlices(ds(g.spacing_mm[2]).c_str()), "spacing between slices");
  check(seg->addForAllFrames(measures), "pixel measures");

  // Segments and their frames.
  std::vector<std::string>& written = result.segments;
  std::set<std::string> referenced;
  // The Referenced Series Sequence needs the source's Series Instance UID (anonymisers sometimes empty it).
  auto series_ref = std::make_unique<IODSeriesAndInstanceReferenceMacro::ReferencedSeriesItem>();
  if (!first.series_uid.empty()) check(series_ref->setSeriesInstanceUID(first.series_uid.c_str()), "referenced series");
  const size_t plane = size_t(g.size[0] * g.size[1]);
  std::vector<Uint8> frame(plane);
  at::Tensor coverage = at::zeros({g.size[2], g.size[1], g.size[0]}, at::kBool);
  bool overlap = false;
  for (const DicomSegment& s : segments) {
    const at::Tensor in = s.mask->voxels.eq(s.value).to(at::kByte).contiguous();
    const at::Tensor per_slice = in.sum({1, 2});
    if (per_slice.sum().item<int64_t>() == 0) continue;
    overlap = overlap || coverage.logical_and(in).any().item<bool>();
    coverage = coverage.logical_or(in);
    DcmSegment* segment = nullptr;
    check(DcmSegment::create(segment, s.label.c_str(), code(s.category, s.label), code(s.type, s.label),
                             DcmSegTypes::SAT_AUTOMATIC, options.algorithm_name.c_str()),
          "segment '" + s.label + "'");
    double L = 0, a = 0, b = 0;
    IODCIELabUtil::rgb2DicomLab(L, a, b, s.rgb[0] / 255.0, s.rgb[1] / 255.0, s.rgb[2] / 255.0);
    check(segment->setRecommendedDisplayCIELabValue(Uint16(std::lround(L)), Uint16(std::lround(a)), Uint16(std::lround(b))),
          "segment colour");
    Uint16 number = 0;
    const OFCondition added = seg->addSegment(segment, number);
    if (added.bad()) {
      delete segment;
      check(added, "adding segment '" + s.label + "'");
    }
    written.push_back(s.label);
    const uint8_t* data = in.data_ptr<uint8_t>();
    const int64_t* counts = per_slice.data_ptr<int64_t>();
    for (int64_t k = 0; k < g.size[2]; ++k) {
      if (counts[k] == 0) continue;
      std::copy(data + size_t(k) * plane, data + size_t(k + 1) * plane, frame.begin());
      const SourceImage& src = slice_source[size_t(k)];
      const Vec3& p = src.position;  // the frame lies on its source image's plane
      std::unique_ptr<FGPlanePosPatient> position(
          FGPlanePosPatient::createMinimal(ds(p[0]).c_str(), ds(p[1]).c_str(), ds(p[2]).c_str()));
      FGFrameContent content;
      check(content.setDimensionIndexValues(number, 0), "frame content");
      check(content.setDimensionIndexValues(Uint32(k + 1), 1), "frame content");
      ImageSOPInstanceReferenceMacro ref;
      check(ref.setReferencedSOPClassUID(src.sop_class.c_str()), "source reference");
      check(ref.setReferencedSOPInstanceUID(src.sop_instance.c_str()), "source reference");
      std::unique_ptr<FGDerivationImage> derivation(
          DcmSegmentation::createDerivationImageFG(OFVector<ImageSOPInstanceReferenceMacro>(1, ref), ""));
      if (!derivation) throw Error(ExitCode::Internal, "DICOM-SEG: cannot make the derivation image of slice " + std::to_string(k));
      OFVector<FGBase*> per_frame;
      per_frame.push_back(position.get());
      per_frame.push_back(&content);
      per_frame.push_back(derivation.get());
      check(seg->addFrame(frame.data(), number, per_frame), "frame " + std::to_string(k) + " of '" + s.label + "'");
      if (referenced.insert(src.sop_instance).second) {
        auto* item = new SOPInstanceReferenceMacro;
        check(item->setReferencedSOPClassUID(src.sop_class.c_str()), "referenced instance");
        check(item->setReferencedSOPInstanceUID(src.sop_instance.c_str()), "referenced instance");
        series_ref->getReferencedInstanceItems().push_back(item);  // owned by series_ref
      }
    }
  }
  if (written.empty())
    throw Error(ExitCode::NoData, "DICOM-SEG '" + path + "': every segment is empty (nothing to write)");

  if (!first.series_uid.empty()) seg->getCommonInstanceReference().getReferencedSeriesItems().push_back(series_ref.release());

  DcmFileFormat out;
  DcmDataset& dataset = *out.getDataset();
  check(seg->writeDataset(dataset), "writing the dataset");
  // Segments Overlap (lesions lie inside the lungs): YES when any voxel is in two segments written.
  check(dataset.putAndInsertString(DCM_SegmentsOverlap, overlap ? "YES" : "NO"), "segments overlap");
  const std::string tmp = temporary_path_for(path, ".dcm");
  const OFCondition saved = out.saveFile(tmp.c_str(), EXS_LittleEndianExplicit);
  if (saved.bad()) {
    discard_temporary(tmp);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "': " + saved.text());
  }
  commit_temporary(tmp, path);
  return result;
}

std::vector<DicomSegmentMask> read_dicom_seg(const std::string& path, const Geometry& grid) {
  quiet_dcmtk();
  if (!fs::exists(path)) throw Error(ExitCode::NotFound, "DICOM-SEG '" + path + "' does not exist");
  DcmFileFormat ff;
  OFCondition c = ff.loadFile(path.c_str());
  if (c.bad()) throw Error(ExitCode::Unreadable, "'" + path + "' is not readable DICOM: " + c.text());
  OFString sop_class;
  ff.getDataset()->findAndGetOFString(DCM_SOPClassUID, sop_class);
  if (sop_class != UID_SegmentationStorage)
    throw Error(ExitCode::Unreadable, "'" + path + "' is not a DICOM Segmentation (SOP Class UID '" + str(sop_class) + "')");
  Uint16 rows = 0, cols = 0;
  ff.getDataset()->findAndGetUint16(DCM_Rows, rows);
  ff.getDataset()->findAndGetUint16(DCM_Columns, cols);
  DcmSegmentation* raw = nullptr;
  c = DcmSegmentation::loadDataset(*ff.getDataset(), raw);
  std::unique_ptr<DcmSegmentation> seg(raw);
  if (c.bad() || !seg) throw Error(ExitCode::Unreadable, "'" + path + "' is not a readable DICOM Segmentation: " + c.text());
  if (seg->getSegmentationType() != DcmSegTypes::ST_BINARY)
    throw Error(ExitCode::Unreadable, "'" + path + "' is a fractional segmentation: pulmo reads binary ones");
  if (rows != grid.size[1] || cols != grid.size[0])
    throw Error(ExitCode::Mismatch, "'" + path + "': frames of " + std::to_string(cols) + "x" + std::to_string(rows) +
                                        " pixels, the grid has slices of " + std::to_string(grid.size[0]) + "x" +
                                        std::to_string(grid.size[1]));
  FGInterface& fg = seg->getFunctionalGroups();
  std::map<int, size_t> index_of_number;
  std::vector<DicomSegmentMask> out;
  for (size_t i = 1; i <= seg->getNumberOfSegments(); ++i) {
    DcmSegment* s = seg->getSegment(i);
    if (!s) continue;
    DicomSegmentMask m;
    m.number = int(i);
    OFString v;
    s->getSegmentLabel(v);
    m.label = str(v);
    auto read_code = [](CodeSequenceMacro& c) {
      OFString a, b, d;
      c.getCodeValue(a);
      c.getCodingSchemeDesignator(b);
      c.getCodeMeaning(d);
      return DicomCode{str(a), str(b), str(d)};
    };
    m.category = read_code(s->getSegmentedPropertyCategoryCode());
    m.type = read_code(s->getSegmentedPropertyTypeCode());
    m.mask = Volume::filled(grid, 0, at::kByte);
    m.source_instances.assign(size_t(grid.size[2]), "");
    index_of_number[int(i)] = out.size();
    out.push_back(std::move(m));
  }
  // Orientation (shared or per frame) must be the grid's.
  const Vec3 row = grid.axis_direction(0), col = grid.axis_direction(1);
  const size_t plane = size_t(rows) * cols;
  for (size_t f = 0; f < seg->getNumberOfFrames(); ++f) {
    const std::string where = "'" + path + "' frame " + std::to_string(f + 1);
    OFBool per_frame = OFFalse;
    auto* orientation = static_cast<FGPlaneOrientationPatient*>(fg.get(Uint32(f), DcmFGTypes::EFG_PLANEORIENTPATIENT, per_frame));
    if (!orientation) throw Error(ExitCode::Unreadable, where + " has no plane orientation");
    Float64 o[6] = {0, 0, 0, 0, 0, 0};
    orientation->getImageOrientationPatient(o[0], o[1], o[2], o[3], o[4], o[5]);
    for (int i = 0; i < 6; ++i)
      if (std::abs(o[i] - (i < 3 ? row[size_t(i)] : col[size_t(i - 3)])) > 1e-3)
        throw Error(ExitCode::Mismatch, where + " is oriented differently from the grid");
    auto* position = static_cast<FGPlanePosPatient*>(fg.get(Uint32(f), DcmFGTypes::EFG_PLANEPOSPATIENT, per_frame));
    auto* segment = static_cast<FGSegmentation*>(fg.get(Uint32(f), DcmFGTypes::EFG_SEGMENTATION, per_frame));
    if (!position || !segment) throw Error(ExitCode::Unreadable, where + " has no plane position or segment number");
    Vec3 p{0, 0, 0};
    position->getImagePositionPatient(p[0], p[1], p[2]);
    const int64_t k = slice_of(grid, p);
    if (k < 0) throw Error(ExitCode::Mismatch, where + " lies on no slice of the grid");
    Uint16 number = 0;
    segment->getReferencedSegmentNumber(number);
    auto it = index_of_number.find(number);
    if (it == index_of_number.end())
      throw Error(ExitCode::Unreadable, where + " refers to segment " + std::to_string(number) + ", which is not defined");
    const DcmIODTypes::Frame* frame = seg->getFrame(f);
    if (!frame) throw Error(ExitCode::Unreadable, where + " has no pixel data");
    std::unique_ptr<DcmIODTypes::Frame> unpacked;
    const Uint8* bits = frame->pixData;
    if (frame->length != plane) {  // packed, one bit a pixel
      unpacked.reset(DcmSegUtils::unpackBinaryFrame(frame, rows, cols));
      if (!unpacked || unpacked->length < plane) throw Error(ExitCode::Unreadable, where + ": pixel data cut short");
      bits = unpacked->pixData;
    }
    DicomSegmentMask& m = out[it->second];
    if (auto* derivation = static_cast<FGDerivationImage*>(fg.get(Uint32(f), DcmFGTypes::EFG_DERIVATIONIMAGE, per_frame)))
      for (DerivationImageItem* d : derivation->getDerivationImageItems())
        for (SourceImageItem* src : d->getSourceImageItems()) {
          OFString uid;
          if (src->getImageSOPInstanceReference().getReferencedSOPInstanceUID(uid).good()) m.source_instances[size_t(k)] = str(uid);
        }
    uint8_t* dst = m.mask.voxels.data_ptr<uint8_t>() + size_t(k) * plane;
    for (size_t i = 0; i < plane; ++i) dst[i] = std::max<uint8_t>(dst[i], bits[i] ? 1 : 0);
  }
  return out;
}

}  // namespace pulmo
