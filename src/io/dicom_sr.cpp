// TID 1500 measurement reports (pulmo/dicom_sr.h) with DCMTK's dcmsr and its content mapping resource (cmr).
#include "pulmo/dicom_sr.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmsr/cmr/tid1500.h>
#include <dcmtk/dcmsr/codes/dcm.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/tempfile.h"
#include "pulmo/error.h"
#include "pulmo/version.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

std::string text_of(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  return item.findAndGetOFString(tag, v).good() ? std::string(v.c_str()) : std::string();
}

DSRCodedEntryValue coded(const DicomCode& c) { return DSRCodedEntryValue(c.value.c_str(), c.scheme.c_str(), c.meaning.c_str()); }

std::string number_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string new_uid() {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
}

void check(const OFCondition& c, const std::string& path, const std::string& what) {
  if (c.bad()) throw Error(ExitCode::Internal, "writing the measurement report '" + path + "': " + what + ": " + c.text());
}

}  // namespace

void write_measurement_report_sr(const std::string& seg_path, const std::vector<SrGroup>& groups, const std::string& path,
                                 const std::string& series_description) {
  std::error_code ec;
  if (!fs::is_regular_file(seg_path, ec)) throw Error(ExitCode::NotFound, "DICOM Segmentation '" + seg_path + "' not found");
  DcmFileFormat seg_file;
  if (seg_file.loadFile(seg_path.c_str()).bad())
    throw Error(ExitCode::Unreadable, "'" + seg_path + "' is not a readable DICOM file");
  DcmDataset& seg = *seg_file.getDataset();
  if (text_of(seg, DCM_SOPClassUID) != UID_SegmentationStorage)
    throw Error(ExitCode::Unreadable, "'" + seg_path + "' is not a DICOM Segmentation");
  std::set<int> segment_numbers;
  DcmItem* item = nullptr;
  for (unsigned long k = 0; seg.findAndGetSequenceItem(DCM_SegmentSequence, item, static_cast<int>(k)).good() && item; ++k) {
    Uint16 n = 0;
    if (item->findAndGetUint16(DCM_SegmentNumber, n).good()) segment_numbers.insert(n);
  }
  // The segmented series: Referenced Series Sequence of the SEG (its source images).
  std::string source_series;
  std::vector<std::pair<std::string, std::string>> source_instances;  // SOP class, SOP instance
  if (seg.findAndGetSequenceItem(DCM_ReferencedSeriesSequence, item, 0).good() && item) {
    source_series = text_of(*item, DCM_SeriesInstanceUID);
    DcmItem* ref = nullptr;
    for (int k = 0; item->findAndGetSequenceItem(DCM_ReferencedInstanceSequence, ref, k).good() && ref; ++k)
      source_instances.emplace_back(text_of(*ref, DCM_ReferencedSOPClassUID), text_of(*ref, DCM_ReferencedSOPInstanceUID));
  }

  TID1500_MeasurementReport report(CMR_CID7021::ImagingMeasurementReport);
  check(report.setLanguage(CID5000_Languages::English), path, "language");
  check(report.getObservationContext().addDeviceObserver(new_uid().c_str(), "pulmo", "pulmo", "pulmo " PULMO_VERSION), path,
        "device observer");
  check(report.addProcedureReported(DSRCodedEntryValue("24627-2", "LN", "CT Chest"), OFFalse), path, "procedure");
  bool first = true;
  for (const SrGroup& g : groups) {
    if (!segment_numbers.count(g.segment_number))
      throw Error(ExitCode::Mismatch, "the measurement report refers to segment " + std::to_string(g.segment_number) +
                                          ", which '" + seg_path + "' does not have");
    if (!first) check(report.addVolumetricROIMeasurements(OFFalse), path, "new group");
    first = false;
    TID1500_MeasurementReport::TID1411_Measurements& m = report.getVolumetricROIMeasurements();
    check(m.setTrackingIdentifier(g.tracking_id.c_str()), path, "tracking identifier");
    check(m.setTrackingUniqueIdentifier(new_uid().c_str()), path, "tracking UID");
    check(m.setReferencedSegment(seg, static_cast<Uint16>(g.segment_number), OFFalse), path, "referenced segment");
    if (!source_series.empty()) check(m.setSourceSeriesForSegmentation(source_series.c_str()), path, "source series");
    check(m.setFinding(coded(g.finding), OFFalse), path, "finding");
    if (!g.finding_site.value.empty()) check(m.addFindingSite(coded(g.finding_site), CID244e_Laterality(), DSRCodedEntryValue(), OFFalse), path, "finding site");
    for (const SrMeasurement& x : g.measurements) {
      if (!std::isfinite(x.value)) continue;
      const CMR_TID1411_in_TID1500::MeasurementValue value(
          number_text(x.value).c_str(), CMR_CID7181(coded(x.unit)), OFFalse);
      check(m.addMeasurement(CMR_CID7469(coded(x.concept)), value, OFTrue, OFFalse), path, x.concept.meaning);
      if (!x.derivation.value.empty())
        check(m.getMeasurement().setDerivation(CMR_CID7464(coded(x.derivation)), OFFalse), path, "derivation");
    }
  }
  if (!report.isValid()) throw Error(ExitCode::Internal, "writing the measurement report '" + path + "': DCMTK finds it incomplete");

  DSRDocument doc;
  check(doc.setTreeFromRootTemplate(report, OFTrue), path, "document tree");
  check(doc.readPatientData(seg), path, "patient");
  check(doc.readStudyData(seg), path, "study");
  doc.createNewSeries();
  doc.setSeriesDescription(series_description.c_str(), OFFalse);
  doc.setSeriesNumber("1001", OFFalse);
  doc.setManufacturer("pulmo", OFFalse);
  doc.setManufacturerModelName("pulmo", OFFalse);
  doc.setSoftwareVersions(PULMO_VERSION, OFFalse);
  check(doc.completeDocument(), path, "completion flag");
  // Evidence: the SEG and the images it was derived from.
  const std::string study = text_of(seg, DCM_StudyInstanceUID);
  doc.getCurrentRequestedProcedureEvidence().addItem(study.c_str(), text_of(seg, DCM_SeriesInstanceUID).c_str(),
                                                     UID_SegmentationStorage, text_of(seg, DCM_SOPInstanceUID).c_str());
  for (const auto& s : source_instances)
    doc.getCurrentRequestedProcedureEvidence().addItem(study.c_str(), source_series.c_str(), s.first.c_str(), s.second.c_str());

  DcmFileFormat out;
  check(doc.write(*out.getDataset()), path, "dataset");
  const std::string tmp = temporary_path_for(path, ".dcm");
  if (out.saveFile(tmp.c_str(), EXS_LittleEndianExplicit).bad()) {
    discard_temporary(tmp);
    throw Error(ExitCode::WriteFailed, "cannot write '" + path + "'");
  }
  commit_temporary(tmp, path);
}

std::vector<SrGroupRead> read_measurement_report_sr(const std::string& path) {
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) throw Error(ExitCode::Unreadable, "'" + path + "' is not a readable DICOM file");
  DSRDocument doc;
  if (doc.read(*file.getDataset()).bad()) throw Error(ExitCode::Unreadable, "'" + path + "' is not a DICOM SR document");
  DSRDocumentTree& tree = doc.getTree();
  DSRCodedEntryValue title;
  std::vector<SrGroupRead> groups;
  if (!tree.gotoRoot()) throw Error(ExitCode::Unreadable, "'" + path + "' is an empty SR document");
  if (tree.getCurrentContentItem().getConceptName() != CODE_DCM_ImagingMeasurementReport)
    throw Error(ExitCode::Unreadable, "'" + path + "' is not a TID 1500 imaging measurement report");
  do {
    DSRContentItem& c = tree.getCurrentContentItem();
    const std::string concept = c.getConceptName().getCodeMeaning().c_str();
    if (c.getValueType() == DSRTypes::VT_Container && c.getConceptName() == CODE_DCM_MeasurementGroup) {
      groups.emplace_back();
    } else if (!groups.empty() && c.getValueType() == DSRTypes::VT_Text && c.getConceptName() == CODE_DCM_TrackingIdentifier) {
      groups.back().tracking_id = c.getStringValue().c_str();
    } else if (!groups.empty() && c.getValueType() == DSRTypes::VT_Image && c.getConceptName() == CODE_DCM_ReferencedSegment) {
      const DSRImageReferenceValue* ref = c.getImageReferencePtr();
      if (ref) {
        groups.back().referenced_sop_instance = ref->getSOPInstanceUID().c_str();
        Uint16 n = 0;
        if (ref->getSegmentList().getItem(1, n).good()) groups.back().segment_number = n;
      }
    } else if (!groups.empty() && c.getValueType() == DSRTypes::VT_Num) {
      const DSRNumericMeasurementValue* v = c.getNumericValuePtr();
      if (v) {
        SrGroupRead::Value x;
        x.concept = concept;
        x.unit = v->getMeasurementUnit().getCodeValue().c_str();
        x.value = std::strtod(v->getNumericValue().c_str(), nullptr);
        groups.back().measurements.push_back(x);
      }
    }
  } while (tree.iterate());
  return groups;
}

}  // namespace pulmo
