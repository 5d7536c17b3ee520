// DICOM de-identification (pulmo anonymize): PS3.15 Annex E, Table E.1-1, with GDCM.
//
// GDCM's own profile (gdcm::Anonymizer::BasicApplicationLevelConfidentialityProfile) implements the 2008 table
// (48 attributes), needs an X.509 certificate to fill the Encrypted Attributes Sequence, knows none of the retain
// options and keeps its UID map in a static variable for one process. So pulmo applies its own copy of the current
// table (below) with GDCM's data set machinery: gdcm::Anonymizer removes the private attributes (recursively) and
// the group lengths, gdcm::Reader/Writer parse and write the files (pixel data copied byte for byte, compressed or
// not), gdcm::DataSetHelper gives the VR of implicit-VR elements, gdcm::UIDs tells registered UIDs (SOP classes,
// transfer syntaxes: kept) from instance UIDs (replaced), gdcm::UIDGenerator checks the UIDs of a map.
#include "pulmo/deid.h"

#include <fcntl.h>
#include <gdcmAnonymizer.h>
#include <gdcmDataSetHelper.h>
#include <gdcmGlobal.h>
#include <gdcmDicts.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmUIDGenerator.h>
#include <gdcmUIDs.h>
#include <gdcmWriter.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>

#include "core/tempfile.h"
#include "io/internal.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/version.h"

namespace fs = std::filesystem;

namespace pulmo {

namespace {

// The file that marks a temporary output folder of pulmo anonymize (removed just before the rename).
const char* const kTemporaryMarker = ".pulmo-anonymize-tmp";

// PS3.15 Table E.1-1 (2025 edition): the rows for attributes found in composite image, segmentation, structured
// report and presentation objects. Option letters: U Retain UIDs, V Retain Device Identity, I Retain Institution
// Identity, P Retain Patient Characteristics, T Retain Longitudinal Temporal Information (full dates: K; modified
// dates: dates shifted), C Clean Descriptors (free text cleaned of identifying text). The catch-alls in
// vr_default() cover what this list leaves out (docs/integration.md).
const std::vector<DeidRule> kTable = {
    // patient
    {0x0010, 0x0010, "Patient's Name", "Z", ""},
    {0x0010, 0x0020, "Patient ID", "Z", ""},
    {0x0010, 0x0021, "Issuer of Patient ID", "X", ""},
    {0x0010, 0x0024, "Issuer of Patient ID Qualifiers Sequence", "X", ""},
    {0x0010, 0x0030, "Patient's Birth Date", "Z", ""},
    {0x0010, 0x0032, "Patient's Birth Time", "X", ""},
    {0x0010, 0x0033, "Patient's Birth Date in Alternative Calendar", "X", ""},
    {0x0010, 0x0034, "Patient's Death Date in Alternative Calendar", "X", ""},
    {0x0010, 0x0035, "Patient's Alternative Calendar", "X", ""},
    {0x0010, 0x0040, "Patient's Sex", "Z", "P"},
    {0x0010, 0x0050, "Patient's Insurance Plan Code Sequence", "X", ""},
    {0x0010, 0x0101, "Patient's Primary Language Code Sequence", "X", ""},
    {0x0010, 0x0102, "Patient's Primary Language Modifier Code Sequence", "X", ""},
    {0x0010, 0x1000, "Other Patient IDs", "X", ""},
    {0x0010, 0x1001, "Other Patient Names", "X", ""},
    {0x0010, 0x1002, "Other Patient IDs Sequence", "X", ""},
    {0x0010, 0x1005, "Patient's Birth Name", "X", ""},
    {0x0010, 0x1010, "Patient's Age", "X", "P"},
    {0x0010, 0x1020, "Patient's Size", "X", "P"},
    {0x0010, 0x1030, "Patient's Weight", "X", "P"},
    {0x0010, 0x1040, "Patient's Address", "X", ""},
    {0x0010, 0x1050, "Insurance Plan Identification", "X", ""},
    {0x0010, 0x1060, "Patient's Mother's Birth Name", "X", ""},
    {0x0010, 0x1080, "Military Rank", "X", ""},
    {0x0010, 0x1081, "Branch of Service", "X", ""},
    {0x0010, 0x1090, "Medical Record Locator", "X", ""},
    {0x0010, 0x1100, "Referenced Patient Photo Sequence", "X", ""},
    {0x0010, 0x2000, "Medical Alerts", "X", ""},
    {0x0010, 0x2110, "Allergies", "X", ""},
    {0x0010, 0x2150, "Country of Residence", "X", ""},
    {0x0010, 0x2152, "Region of Residence", "X", ""},
    {0x0010, 0x2154, "Patient's Telephone Numbers", "X", ""},
    {0x0010, 0x2155, "Patient's Telecom Information", "X", ""},
    {0x0010, 0x2160, "Ethnic Group", "X", "P"},
    {0x0010, 0x2180, "Occupation", "X", ""},
    {0x0010, 0x21A0, "Smoking Status", "X", "P"},
    {0x0010, 0x21B0, "Additional Patient History", "X", "C"},
    {0x0010, 0x21C0, "Pregnancy Status", "X", "P"},
    {0x0010, 0x21D0, "Last Menstrual Date", "X", "T"},
    {0x0010, 0x21F0, "Patient's Religious Preference", "X", ""},
    {0x0010, 0x2203, "Patient's Sex Neutered", "X/Z", "P"},
    {0x0010, 0x2297, "Responsible Person", "X", ""},
    {0x0010, 0x2298, "Responsible Person Role", "X", ""},
    {0x0010, 0x2299, "Responsible Organization", "X", ""},
    {0x0010, 0x4000, "Patient Comments", "X", "C"},
    // visit, admission, request, procedure steps
    {0x0038, 0x0010, "Admission ID", "X", ""},
    {0x0038, 0x0011, "Issuer of Admission ID", "X", ""},
    {0x0038, 0x0020, "Admitting Date", "X", "T"},
    {0x0038, 0x0021, "Admitting Time", "X", "T"},
    {0x0038, 0x0050, "Special Needs", "X", ""},
    {0x0038, 0x0060, "Service Episode ID", "X", ""},
    {0x0038, 0x0062, "Service Episode Description", "X", "C"},
    {0x0038, 0x0300, "Current Patient Location", "X", ""},
    {0x0038, 0x0400, "Patient's Institution Residence", "X", ""},
    {0x0038, 0x0500, "Patient State", "X", ""},
    {0x0038, 0x1234, "Referenced Patient Alias Sequence", "X", ""},
    {0x0038, 0x4000, "Visit Comments", "X", "C"},
    {0x0032, 0x0012, "Study ID Issuer", "X", ""},
    {0x0032, 0x0032, "Study Verified Date", "X", "T"},
    {0x0032, 0x0033, "Study Verified Time", "X", "T"},
    {0x0032, 0x0034, "Study Read Date", "X", "T"},
    {0x0032, 0x0035, "Study Read Time", "X", "T"},
    {0x0032, 0x1000, "Scheduled Study Start Date", "X", "T"},
    {0x0032, 0x1001, "Scheduled Study Start Time", "X", "T"},
    {0x0032, 0x1010, "Scheduled Study Stop Date", "X", "T"},
    {0x0032, 0x1011, "Scheduled Study Stop Time", "X", "T"},
    {0x0032, 0x1020, "Scheduled Study Location", "X", ""},
    {0x0032, 0x1021, "Scheduled Study Location AE Title", "X", ""},
    {0x0032, 0x1030, "Reason for Study", "X", "C"},
    {0x0032, 0x1032, "Requesting Physician", "X", ""},
    {0x0032, 0x1033, "Requesting Service", "X", ""},
    {0x0032, 0x1040, "Study Arrival Date", "X", "T"},
    {0x0032, 0x1041, "Study Arrival Time", "X", "T"},
    {0x0032, 0x1050, "Study Completion Date", "X", "T"},
    {0x0032, 0x1051, "Study Completion Time", "X", "T"},
    {0x0032, 0x1060, "Requested Procedure Description", "X/Z", "C"},
    {0x0032, 0x1064, "Requested Procedure Code Sequence", "X", ""},
    {0x0032, 0x1066, "Reason for Visit", "X", "C"},
    {0x0032, 0x1067, "Reason for Visit Code Sequence", "X", "C"},
    {0x0032, 0x1070, "Requested Contrast Agent", "X", ""},
    {0x0032, 0x4000, "Study Comments", "X", "C"},
    {0x0040, 0x0001, "Scheduled Station AE Title", "X", "V"},
    {0x0040, 0x0002, "Scheduled Procedure Step Start Date", "X", "T"},
    {0x0040, 0x0003, "Scheduled Procedure Step Start Time", "X", "T"},
    {0x0040, 0x0004, "Scheduled Procedure Step End Date", "X", "T"},
    {0x0040, 0x0005, "Scheduled Procedure Step End Time", "X", "T"},
    {0x0040, 0x0006, "Scheduled Performing Physician's Name", "X", ""},
    {0x0040, 0x0007, "Scheduled Procedure Step Description", "X", "C"},
    {0x0040, 0x0009, "Scheduled Procedure Step ID", "X", ""},
    {0x0040, 0x000B, "Scheduled Performing Physician Identification Sequence", "X", ""},
    {0x0040, 0x0010, "Scheduled Station Name", "X", "V"},
    {0x0040, 0x0011, "Scheduled Procedure Step Location", "X", "V"},
    {0x0040, 0x0012, "Pre-Medication", "X", ""},
    {0x0040, 0x0241, "Performed Station AE Title", "X", "V"},
    {0x0040, 0x0242, "Performed Station Name", "X", "V"},
    {0x0040, 0x0243, "Performed Location", "X", "V"},
    {0x0040, 0x0244, "Performed Procedure Step Start Date", "X", "T"},
    {0x0040, 0x0245, "Performed Procedure Step Start Time", "X", "T"},
    {0x0040, 0x0250, "Performed Procedure Step End Date", "X", "T"},
    {0x0040, 0x0251, "Performed Procedure Step End Time", "X", "T"},
    {0x0040, 0x0253, "Performed Procedure Step ID", "X", ""},
    {0x0040, 0x0254, "Performed Procedure Step Description", "X", "C"},
    {0x0040, 0x0275, "Request Attributes Sequence", "X", ""},
    {0x0040, 0x0280, "Comments on the Performed Procedure Step", "X", "C"},
    {0x0040, 0x0310, "Comments on Radiation Dose", "X", ""},
    {0x0040, 0x0555, "Acquisition Context Sequence", "X/Z", ""},
    {0x0040, 0x1001, "Requested Procedure ID", "X", ""},
    {0x0040, 0x1002, "Reason for the Requested Procedure", "X", "C"},
    {0x0040, 0x1004, "Patient Transport Arrangements", "X", ""},
    {0x0040, 0x1005, "Requested Procedure Location", "X", ""},
    {0x0040, 0x1010, "Names of Intended Recipients of Results", "X", ""},
    {0x0040, 0x1011, "Intended Recipients of Results Identification Sequence", "X", ""},
    {0x0040, 0x1102, "Person's Address", "X", ""},
    {0x0040, 0x1103, "Person's Telephone Numbers", "X", ""},
    {0x0040, 0x1104, "Person's Telecom Information", "X", ""},
    {0x0040, 0x1400, "Requested Procedure Comments", "X", "C"},
    {0x0040, 0x2001, "Reason for the Imaging Service Request", "X", "C"},
    {0x0040, 0x2008, "Order Entered By", "X", ""},
    {0x0040, 0x2009, "Order Enterer's Location", "X", ""},
    {0x0040, 0x2010, "Order Callback Phone Number", "X", ""},
    {0x0040, 0x2011, "Order Callback Telecom Information", "X", ""},
    {0x0040, 0x2016, "Placer Order Number / Imaging Service Request", "Z", ""},
    {0x0040, 0x2017, "Filler Order Number / Imaging Service Request", "Z", ""},
    {0x0040, 0x2400, "Imaging Service Request Comments", "X", "C"},
    {0x0040, 0x3001, "Confidentiality Constraint on Patient Data Description", "X", ""},
    {0x0040, 0x4035, "Actual Human Performers Sequence", "X", ""},
    // study, series, instance
    {0x0008, 0x0012, "Instance Creation Date", "X/D", "T"},
    {0x0008, 0x0013, "Instance Creation Time", "X/Z/D", "T"},
    {0x0008, 0x0014, "Instance Creator UID", "U", "U"},
    {0x0008, 0x0015, "Instance Coercion DateTime", "X", "T"},
    {0x0008, 0x0017, "Acquisition UID", "U", "U"},
    {0x0008, 0x0018, "SOP Instance UID", "U", "U"},
    {0x0008, 0x0019, "Pyramid UID", "U", "U"},
    {0x0008, 0x0020, "Study Date", "Z", "T"},
    {0x0008, 0x0021, "Series Date", "X/D", "T"},
    {0x0008, 0x0022, "Acquisition Date", "X/Z", "T"},
    {0x0008, 0x0023, "Content Date", "Z/D", "T"},
    {0x0008, 0x0024, "Overlay Date", "X", "T"},
    {0x0008, 0x0025, "Curve Date", "X", "T"},
    {0x0008, 0x002A, "Acquisition DateTime", "X/Z/D", "T"},
    {0x0008, 0x0030, "Study Time", "Z", "T"},
    {0x0008, 0x0031, "Series Time", "X/D", "T"},
    {0x0008, 0x0032, "Acquisition Time", "X/Z", "T"},
    {0x0008, 0x0033, "Content Time", "Z/D", "T"},
    {0x0008, 0x0034, "Overlay Time", "X", "T"},
    {0x0008, 0x0035, "Curve Time", "X", "T"},
    {0x0008, 0x0050, "Accession Number", "Z", ""},
    {0x0008, 0x0058, "Failed SOP Instance UID List", "U", "U"},
    {0x0008, 0x0080, "Institution Name", "X/Z/D", "I"},
    {0x0008, 0x0081, "Institution Address", "X", "I"},
    {0x0008, 0x0082, "Institution Code Sequence", "X/Z/D", "I"},
    {0x0008, 0x0090, "Referring Physician's Name", "Z", ""},
    {0x0008, 0x0092, "Referring Physician's Address", "X", ""},
    {0x0008, 0x0094, "Referring Physician's Telephone Numbers", "X", ""},
    {0x0008, 0x0096, "Referring Physician Identification Sequence", "X", ""},
    {0x0008, 0x009C, "Consulting Physician's Name", "Z", ""},
    {0x0008, 0x009D, "Consulting Physician Identification Sequence", "X", ""},
    {0x0008, 0x0201, "Timezone Offset From UTC", "X", "T"},
    {0x0008, 0x1010, "Station Name", "X/Z/D", "V"},
    {0x0008, 0x1030, "Study Description", "X", "C"},
    {0x0008, 0x1032, "Procedure Code Sequence", "X", ""},
    {0x0008, 0x103E, "Series Description", "X", "C"},
    {0x0008, 0x1040, "Institutional Department Name", "X", "I"},
    {0x0008, 0x1041, "Institutional Department Type Code Sequence", "X", "I"},
    {0x0008, 0x1048, "Physician(s) of Record", "X", ""},
    {0x0008, 0x1049, "Physician(s) of Record Identification Sequence", "X", ""},
    {0x0008, 0x1050, "Performing Physician's Name", "X", ""},
    {0x0008, 0x1052, "Performing Physician Identification Sequence", "X", ""},
    {0x0008, 0x1060, "Name of Physician(s) Reading Study", "X", ""},
    {0x0008, 0x1062, "Physician(s) Reading Study Identification Sequence", "X", ""},
    {0x0008, 0x1070, "Operators' Name", "X/Z/D", ""},
    {0x0008, 0x1072, "Operator Identification Sequence", "X/D", ""},
    {0x0008, 0x1080, "Admitting Diagnoses Description", "X", "C"},
    {0x0008, 0x1084, "Admitting Diagnoses Code Sequence", "X", "C"},
    {0x0008, 0x1110, "Referenced Study Sequence", "X/Z", ""},
    {0x0008, 0x1111, "Referenced Performed Procedure Step Sequence", "X/Z/D", ""},
    {0x0008, 0x1120, "Referenced Patient Sequence", "X", ""},
    {0x0008, 0x1140, "Referenced Image Sequence", "X/Z/U*", ""},
    {0x0008, 0x1155, "Referenced SOP Instance UID", "U", "U"},
    {0x0008, 0x1195, "Transaction UID", "U", "U"},
    {0x0008, 0x2111, "Derivation Description", "X", "C"},
    {0x0008, 0x2112, "Source Image Sequence", "X/Z/U*", ""},
    {0x0008, 0x3010, "Irradiation Event UID", "U", "U"},
    {0x0008, 0x4000, "Identifying Comments", "X", "C"},
    {0x0020, 0x000D, "Study Instance UID", "U", "U"},
    {0x0020, 0x000E, "Series Instance UID", "U", "U"},
    {0x0020, 0x0010, "Study ID", "Z", ""},
    {0x0020, 0x0052, "Frame of Reference UID", "U", "U"},
    {0x0020, 0x0200, "Synchronization Frame of Reference UID", "U", "U"},
    {0x0020, 0x3401, "Modifying Device ID", "X", "V"},
    {0x0020, 0x3403, "Modified Image Date", "X", "T"},
    {0x0020, 0x3404, "Modifying Device Manufacturer", "X", "V"},
    {0x0020, 0x3405, "Modified Image Time", "X", "T"},
    {0x0020, 0x3406, "Modified Image Description", "X", ""},
    {0x0020, 0x4000, "Image Comments", "X", "C"},
    {0x0020, 0x9158, "Frame Comments", "X", "C"},
    {0x0020, 0x9161, "Concatenation UID", "U", "U"},
    {0x0020, 0x9164, "Dimension Organization UID", "U", "U"},
    {0x0028, 0x1199, "Palette Color Lookup Table UID", "U", "U"},
    {0x0028, 0x1214, "Large Palette Color Lookup Table UID", "U", "U"},
    {0x0028, 0x4000, "Image Presentation Comments", "X", ""},
    {0x0088, 0x0140, "Storage Media File-set UID", "U", "U"},
    {0x0088, 0x0200, "Icon Image Sequence", "X", ""},
    // equipment and acquisition
    {0x0018, 0x0010, "Contrast/Bolus Agent", "Z/D", ""},
    {0x0018, 0x1000, "Device Serial Number", "X/Z/D", "V"},
    {0x0018, 0x1002, "Device UID", "U", "UV"},
    {0x0018, 0x1004, "Plate ID", "X", "V"},
    {0x0018, 0x1005, "Generator ID", "X", "V"},
    {0x0018, 0x1007, "Cassette ID", "X", "V"},
    {0x0018, 0x1008, "Gantry ID", "X", "V"},
    {0x0018, 0x1009, "Unique Device Identifier", "X", "V"},
    {0x0018, 0x100A, "UDI Sequence", "X", "V"},
    {0x0018, 0x100B, "Manufacturer's Device Class UID", "U", "UV"},
    {0x0018, 0x1012, "Date of Secondary Capture", "X", "T"},
    {0x0018, 0x1014, "Time of Secondary Capture", "X", "T"},
    {0x0018, 0x1030, "Protocol Name", "X/D", "C"},
    {0x0018, 0x1042, "Contrast/Bolus Start Time", "X", "T"},
    {0x0018, 0x1043, "Contrast/Bolus Stop Time", "X", "T"},
    {0x0018, 0x1072, "Radiopharmaceutical Start Time", "X", "T"},
    {0x0018, 0x1073, "Radiopharmaceutical Stop Time", "X", "T"},
    {0x0018, 0x1078, "Radiopharmaceutical Start DateTime", "X", "T"},
    {0x0018, 0x1079, "Radiopharmaceutical Stop DateTime", "X", "T"},
    {0x0018, 0x11BB, "Acquisition Field Of View Label", "D", ""},
    {0x0018, 0x1200, "Date of Last Calibration", "X", "T"},
    {0x0018, 0x1201, "Time of Last Calibration", "X", "T"},
    {0x0018, 0x1202, "DateTime of Last Calibration", "X", "T"},
    {0x0018, 0x1203, "Calibration DateTime", "Z", "T"},
    {0x0018, 0x1400, "Acquisition Device Processing Description", "X/D", "C"},
    {0x0018, 0x4000, "Acquisition Comments", "X", "C"},
    {0x0018, 0x700A, "Detector ID", "X/D", "V"},
    {0x0018, 0x700C, "Date of Last Detector Calibration", "X/D", "T"},
    {0x0018, 0x700E, "Time of Last Detector Calibration", "X/D", "T"},
    {0x0018, 0x9074, "Frame Acquisition DateTime", "D", "T"},
    {0x0018, 0x9151, "Frame Reference DateTime", "D", "T"},
    {0x0018, 0x9185, "Respiratory Motion Compensation Technique Description", "X", "C"},
    {0x0018, 0x9367, "X-Ray Source ID", "X", "V"},
    {0x0018, 0x9371, "X-Ray Detector ID", "X", "V"},
    {0x0018, 0x937B, "Multi-energy Acquisition Description", "X", "C"},
    {0x0018, 0x937F, "Decomposition Description", "X", "C"},
    {0x0018, 0x9424, "Acquisition Protocol Description", "X", "C"},
    {0x0018, 0x9516, "Start Acquisition DateTime", "X/D", "T"},
    {0x0018, 0x9517, "End Acquisition DateTime", "X/D", "T"},
    {0x0018, 0x9701, "Decay Correction DateTime", "D", "T"},
    {0x0018, 0xA002, "Contribution DateTime", "X", "T"},
    {0x0018, 0xA003, "Contribution Description", "X", "C"},
    // clinical trial
    {0x0012, 0x0010, "Clinical Trial Sponsor Name", "D", ""},
    {0x0012, 0x0020, "Clinical Trial Protocol ID", "D", ""},
    {0x0012, 0x0021, "Clinical Trial Protocol Name", "Z", ""},
    {0x0012, 0x0030, "Clinical Trial Site ID", "Z", ""},
    {0x0012, 0x0031, "Clinical Trial Site Name", "Z", ""},
    {0x0012, 0x0040, "Clinical Trial Subject ID", "D", ""},
    {0x0012, 0x0042, "Clinical Trial Subject Reading ID", "D", ""},
    {0x0012, 0x0050, "Clinical Trial Time Point ID", "Z", ""},
    {0x0012, 0x0051, "Clinical Trial Time Point Description", "X", "C"},
    {0x0012, 0x0060, "Clinical Trial Coordinating Center Name", "Z", ""},
    {0x0012, 0x0071, "Clinical Trial Series ID", "X", ""},
    {0x0012, 0x0072, "Clinical Trial Series Description", "X", "C"},
    {0x0012, 0x0081, "Clinical Trial Protocol Ethics Committee Name", "D", ""},
    {0x0012, 0x0082, "Clinical Trial Protocol Ethics Committee Approval Number", "X", ""},
    // structured content, segmentation, presentation, RT references
    {0x0040, 0xA027, "Verifying Organization", "X", ""},
    {0x0040, 0xA030, "Verification DateTime", "D", "T"},
    {0x0040, 0xA075, "Verifying Observer Name", "D", ""},
    {0x0040, 0xA078, "Author Observer Sequence", "X", ""},
    {0x0040, 0xA07A, "Participant Sequence", "X", ""},
    {0x0040, 0xA07C, "Custodial Organization Sequence", "X", ""},
    {0x0040, 0xA088, "Verifying Observer Identification Code Sequence", "Z", ""},
    {0x0040, 0xA120, "DateTime", "D", "T"},
    {0x0040, 0xA121, "Date", "D", "T"},
    {0x0040, 0xA122, "Time", "D", "T"},
    {0x0040, 0xA123, "Person Name", "D", ""},
    {0x0040, 0xA124, "UID", "U", "U"},
    {0x0040, 0xA171, "Observation UID", "U", "U"},
    {0x0040, 0xA307, "Current Observer (Trial)", "X", ""},
    {0x0040, 0xA730, "Content Sequence", "X", ""},
    {0x0040, 0xDB0C, "Template Extension Organization UID", "U", "U"},
    {0x0040, 0xDB0D, "Template Extension Creator UID", "U", "U"},
    {0x0062, 0x0021, "Tracking UID", "U", "U"},
    {0x0064, 0x0003, "Source Frame of Reference UID", "U", "U"},
    {0x0070, 0x0084, "Content Creator's Name", "Z/D", ""},
    {0x0070, 0x0086, "Content Creator's Identification Code Sequence", "X", ""},
    {0x0070, 0x031A, "Fiducial UID", "U", "U"},
    {0x0070, 0x1101, "Presentation Display Collection UID", "U", "U"},
    {0x0070, 0x1102, "Presentation Sequence Collection UID", "U", "U"},
    {0x3006, 0x0024, "Referenced Frame of Reference UID", "U", "U"},
    {0x3006, 0x00C2, "Related Frame of Reference UID", "U", "U"},
    // digital signatures, original attributes, device settings, GPS, other
    {0x0400, 0x0100, "Digital Signature UID", "U", "U"},
    {0x0400, 0x0402, "Referenced Digital Signature Sequence", "X", ""},
    {0x0400, 0x0403, "Referenced SOP Instance MAC Sequence", "X", ""},
    {0x0400, 0x0404, "MAC", "X", ""},
    {0x0400, 0x0550, "Modified Attributes Sequence", "X", ""},
    {0x0400, 0x0561, "Original Attributes Sequence", "X", ""},
    {0xFFFA, 0xFFFA, "Digital Signatures Sequence", "X", ""},
    {0xFFFC, 0xFFFC, "Data Set Trailing Padding", "X", ""},
    {0x0016, 0x004B, "Device Setting Description", "X", "C"},
    {0x0016, 0x004D, "Camera Owner Name", "X", ""},
    {0x0016, 0x0051, "Lens Serial Number", "X", "V"},
    {0x0050, 0x001B, "Container Component ID", "X", ""},
    {0x0050, 0x0020, "Device Description", "X", ""},
    {0x4000, 0x0010, "Arbitrary", "X", ""},
    {0x4000, 0x4000, "Text Comments", "X", ""},
    {0x4008, 0x0042, "Results ID Issuer", "X", ""},
    {0x4008, 0x0102, "Interpretation Recorder", "X", ""},
    {0x4008, 0x010A, "Interpretation Transcriber", "X", ""},
    {0x4008, 0x010B, "Interpretation Text", "X", ""},
    {0x4008, 0x010C, "Interpretation Author", "X", ""},
    {0x4008, 0x0111, "Interpretation Approver Sequence", "X", ""},
    {0x4008, 0x0114, "Physician Approving Interpretation", "X", ""},
    {0x4008, 0x0115, "Interpretation Diagnosis Description", "X", "C"},
    {0x4008, 0x0118, "Results Distribution List Sequence", "X", ""},
    {0x4008, 0x0119, "Distribution Name", "X", ""},
    {0x4008, 0x011A, "Distribution Address", "X", ""},
    {0x4008, 0x0202, "Interpretation ID Issuer", "X", ""},
    {0x4008, 0x0300, "Impressions", "X", ""},
    {0x4008, 0x4000, "Results Comments", "X", "C"},
};

// Compound codes resolve to Z (rather than X) for attributes that are Type 2 in the IODs pulmo handles.
const std::set<uint32_t> kType2 = {0x00400555u /* Acquisition Context Sequence (enhanced IODs) */};

uint32_t key(uint16_t g, uint16_t e) { return (uint32_t{g} << 16) | e; }

const std::map<uint32_t, const DeidRule*>& table_index() {
  static const std::map<uint32_t, const DeidRule*> index = [] {
    std::map<uint32_t, const DeidRule*> m;
    for (const DeidRule& r : kTable) m[key(r.group, r.element)] = &r;
    return m;
  }();
  return index;
}

bool has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

}  // namespace

const std::vector<DeidRule>& deid_profile_table() { return kTable; }

char deid_action(const DeidRule& rule, const DeidOptions& o) {
  const std::string& opt = rule.options;
  if (has(opt, 'U') && o.retain_uids) return 'K';
  if (has(opt, 'V') && o.retain_device_identity) return 'K';
  if (has(opt, 'I') && o.retain_institution_identity) return 'K';
  if (has(opt, 'P') && o.retain_patient_characteristics) return 'K';
  if (has(opt, 'T') && o.retain_long_full_dates) return 'K';
  if (has(opt, 'T') && o.retain_long_modified_dates) return 'S';
  if (has(opt, 'C') && o.clean_descriptors) return 'C';
  const std::string& b = rule.basic;
  if (b.size() == 1) return b[0];
  if (b == "Z/D") return 'Z';
  const bool type2 = kType2.count(key(rule.group, rule.element)) > 0;
  return type2 ? 'Z' : 'X';  // X/Z, X/D, X/Z/D, X/Z/U*: Type 3 in CT, PET, MR and SEG images
}

std::string clean_descriptor(const std::string& text, const std::vector<std::string>& identifiers) {
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  auto lower = [](std::string x) {
    for (char& c : x) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return x;
  };
  std::string s = text;
  for (const std::string& id : identifiers) {
    if (id.empty()) continue;
    const std::string needle = lower(id);
    for (size_t at = lower(s).find(needle); at != std::string::npos; at = lower(s).find(needle, at)) {
      const size_t end = at + needle.size();
      const bool word = (at == 0 || !alnum(s[at - 1]) || !alnum(needle.front())) &&
                        (end == s.size() || !alnum(s[end]) || !alnum(needle.back()));
      if (word) s.erase(at, needle.size());
      else ++at;
    }
  }
  // Dates (2021-03-04, 04.03.2021, 3/4/21) and runs of 5 or more digits (YYYYMMDD dates, record numbers, phones).
  static const std::regex kDatesAndNumbers(
      R"(\b\d{4}[-./]\d{1,2}[-./]\d{1,2}\b|\b\d{1,2}[-./]\d{1,2}[-./]\d{2,4}\b|\d{5,})");
  s = std::regex_replace(s, kDatesAndNumbers, "");
  // Spaces collapsed (none left before a comma, semicolon or full stop); separators dangling at either end dropped.
  std::string out;
  for (char c : s) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    if ((c == ',' || c == ';' || c == '.') && !out.empty() && out.back() == ' ') out.pop_back();
    out += c;
  }
  auto separator = [](char c) { return c == ' ' || c == '^' || c == ',' || c == '-' || c == '_'; };
  while (!out.empty() && separator(out.back())) out.pop_back();
  size_t b = 0;
  while (b < out.size() && separator(out[b])) ++b;
  return out.substr(b);
}

namespace {

// ---- small value helpers ----------------------------------------------------------------------------------------

void set_value(gdcm::DataSet& ds, const gdcm::Tag& tag, const gdcm::VR& vr, std::string v) {
  if (v.size() % 2) v += (vr == gdcm::VR::UI ? '\0' : ' ');
  gdcm::DataElement de(tag);
  de.SetVR(vr);
  de.SetByteValue(v.data(), static_cast<uint32_t>(v.size()));
  ds.Replace(de);
}

void set_empty(gdcm::DataSet& ds, const gdcm::Tag& tag, const gdcm::VR& vr) {
  gdcm::DataElement de(tag);
  de.SetVR(vr);
  if (vr != gdcm::VR::SQ) de.SetByteValue("", 0);
  ds.Replace(de);
}

std::vector<std::string> split_values(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == '\\') {
      out.push_back(io::trim(s.substr(b, i - b)));
      b = i + 1;
    }
  return out;
}

std::string join_values(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "\\" : "") + v[i];
  return s;
}

// Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms).
long days_from_civil(long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}
void civil_from_days(long z, long& y, unsigned& m, unsigned& d) {
  z += 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<long>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp + (mp < 10 ? 3 : -9);
  y += m <= 2;
}

// "YYYYMMDD..." shifted by `days` (the rest of a DT kept); "" when the value does not start with a valid date.
std::string shift_date(const std::string& v, int days) {
  if (v.size() < 8 || !std::all_of(v.begin(), v.begin() + 8, ::isdigit)) return "";
  const long y = std::stol(v.substr(0, 4));
  const unsigned m = static_cast<unsigned>(std::stoi(v.substr(4, 2))), d = static_cast<unsigned>(std::stoi(v.substr(6, 2)));
  if (m < 1 || m > 12 || d < 1 || d > 31) return "";
  long ny;
  unsigned nm, nd;
  civil_from_days(days_from_civil(y, m, d) + days, ny, nm, nd);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04ld%02u%02u", ny, nm, nd);
  return buf + v.substr(8);
}

// A new UID under the UUID arc 2.25 (ISO/IEC 9834-8): the UUID's 128 bits as one decimal number. Unlike GDCM's
// default root it carries no hardware address of the de-identifying machine.
std::string new_uid() {
  unsigned char uuid[16];
  static std::random_device rd;  // the kernel's random source (getrandom) in libstdc++
  for (unsigned char& b : uuid) b = static_cast<unsigned char>(rd());
  uuid[6] = static_cast<unsigned char>((uuid[6] & 0x0f) | 0x40);  // version 4 (random)
  uuid[8] = static_cast<unsigned char>((uuid[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::vector<unsigned char> n(uuid, uuid + 16);
  std::string digits;
  while (std::any_of(n.begin(), n.end(), [](unsigned char b) { return b != 0; })) {
    unsigned rem = 0;
    for (unsigned char& b : n) {
      const unsigned cur = rem * 256 + b;
      b = static_cast<unsigned char>(cur / 10);
      rem = cur % 10;
    }
    digits.push_back(static_cast<char>('0' + rem));
  }
  if (digits.empty()) digits = "0";
  std::reverse(digits.begin(), digits.end());
  return "2.25." + digits;
}

bool registered_uid(const std::string& uid) {
  gdcm::UIDs u;
  return u.SetFromUID(uid.c_str());
}

const char* const kSopCtLike[] = {
    "1.2.840.10008.5.1.4.1.1.2",     "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2",
    "1.2.840.10008.5.1.4.1.1.4",     "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.4",
    "1.2.840.10008.5.1.4.1.1.128",   "1.2.840.10008.5.1.4.1.1.130", "1.2.840.10008.5.1.4.1.1.128.1",
    "1.2.840.10008.5.1.4.1.1.66.4",  "1.2.840.10008.5.1.4.1.1.20"};

const gdcm::Tag kPatientId(0x0010, 0x0020), kPatientName(0x0010, 0x0010), kSopClass(0x0008, 0x0016),
    kSopInstance(0x0008, 0x0018), kBurnedIn(0x0028, 0x0301), kMediaClass(0x0002, 0x0002);

struct Codes {
  const char* value;
  const char* meaning;
};

// ---- the de-identifier ------------------------------------------------------------------------------------------
class Deidentifier {
 public:
  Deidentifier(const DeidOptions& o, std::map<std::string, std::string>& uids, int shift_days)
      : o_(o), uids_(uids), shift_(shift_days) {}

  int new_uids = 0;

  // Clean Descriptors Option: the identifying values of the instance (before it is changed), which
  // clean_descriptor() removes from free text: every part of every person's name, the patient's IDs and birth date, accession number, study
  // and procedure IDs, institution, department, address and telephone, station and serial number.
  void collect_identifiers(const gdcm::File& file, const gdcm::DataSet& ds) {
    identifiers_.clear();
    static const uint32_t kIds[] = {0x00100020, 0x00101000, 0x00100021, 0x00100030, 0x00080050, 0x00200010,
                                    0x00401001, 0x00400253, 0x00400009, 0x00380010, 0x00101090, 0x00101040,
                                    0x00102154, 0x00080080, 0x00080081, 0x00081040, 0x00081010, 0x00181000};
    for (const gdcm::DataElement& de : ds.GetDES()) {
      const gdcm::Tag t = de.GetTag();
      const uint32_t k = key(t.GetGroup(), t.GetElement());
      const bool pn = gdcm::DataSetHelper::ComputeVR(file, ds, t) == gdcm::VR::PN;
      if (!pn && std::find(std::begin(kIds), std::end(kIds), k) == std::end(kIds)) continue;
      std::string token;
      for (char c : io::dicom_text(de) + "\\") {
        if (c == '\0') continue;
        const bool sep = c == '\\' || (pn && (c == '^' || c == '=' || c == ' ' || c == ','));
        if (!sep) token += c;
        if (sep) {
          token = io::trim(token);
          if (token.size() >= 2) identifiers_.push_back(token);
          token.clear();
        }
      }
    }
    std::sort(identifiers_.begin(), identifiers_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  }

  std::string map_uid(const std::string& old) {
    if (old.empty()) return old;  // nothing to protect (some exports empty their UIDs): stays empty, consistently
    auto it = uids_.find(old);
    if (it != uids_.end()) return it->second;
    ++new_uids;
    return uids_[old] = new_uid();
  }

  void apply(gdcm::File& file, gdcm::DataSet& ds) {
    std::vector<gdcm::Tag> tags;
    for (const gdcm::DataElement& de : ds.GetDES()) tags.push_back(de.GetTag());
    for (const gdcm::Tag& t : tags) {
      if (t.IsPrivate() || t.IsIllegal() || t.GetGroup() == 0x0002) {
        if (t.IsPrivate()) ds.Remove(t);  // private creators and elements nested where RemovePrivateTags missed
        continue;
      }
      if (t.IsGroupLength()) {
        ds.Remove(t);
        continue;
      }
      if (t == gdcm::Tag(0x0012, 0x0062) || t == gdcm::Tag(0x0012, 0x0063) || t == gdcm::Tag(0x0012, 0x0064) ||
          t == gdcm::Tag(0x0028, 0x0303))
        continue;  // rewritten after the walk
      const gdcm::VR vr = gdcm::DataSetHelper::ComputeVR(file, ds, t);
      const gdcm::DataElement& de = ds.GetDataElement(t);
      char action = 'K';
      const uint16_t g = t.GetGroup(), e = t.GetElement();
      auto it = table_index().find(key(g, e));
      if (it != table_index().end()) {
        action = deid_action(*it->second, o_);
      } else if ((g & 0xFF00) == 0x5000) {
        action = 'X';  // curves (retired): all removed
      } else if ((g & 0xFF00) == 0x6000 && (e == 0x3000 || e == 0x4000)) {
        action = 'X';  // Overlay Data, Overlay Comments
      } else {
        action = vr_default(vr, de);
      }
      switch (action) {
        case 'X':
          ds.Remove(t);
          break;
        case 'Z':
          set_empty(ds, t, vr);
          break;
        case 'D':
          dummy(ds, t, vr);
          break;
        case 'U':
          if (vr == gdcm::VR::SQ) {
            ds.Remove(t);
          } else {
            std::vector<std::string> v = split_values(io::dicom_text(de));
            for (std::string& u : v) u = map_uid(u);
            set_value(ds, t, gdcm::VR::UI, join_values(v));
          }
          break;
        case 'S':
          shift(ds, t, vr, de);
          break;
        case 'C':
          if (vr == gdcm::VR::LO || vr == gdcm::VR::SH || vr == gdcm::VR::ST || vr == gdcm::VR::LT ||
              vr == gdcm::VR::UT || vr == gdcm::VR::UC)
            set_value(ds, t, vr, clean_descriptor(io::dicom_text(de), identifiers_));
          else
            ds.Remove(t);  // a code sequence: pulmo cannot clean codes, so the basic profile's X
          break;
        default:  // K: keep; a sequence is kept with the profile applied to each item
          if (vr == gdcm::VR::SQ) recurse(file, ds, t);
      }
    }
  }

 private:
  // Attributes not in the table: by VR, as note 4 of E.1.1 suggests for dates and times.
  char vr_default(const gdcm::VR& vr, const gdcm::DataElement& de) {
    if (vr == gdcm::VR::PN) return io::dicom_text(de).empty() ? 'K' : 'Z';  // every other person's name
    if (vr == gdcm::VR::DA || vr == gdcm::VR::DT)
      return o_.retain_long_full_dates ? 'K' : o_.retain_long_modified_dates ? 'S' : 'Z';
    if (vr == gdcm::VR::TM) return o_.retain_long_full_dates || o_.retain_long_modified_dates ? 'K' : 'Z';
    if (vr == gdcm::VR::UI) {  // registered UIDs (SOP classes, transfer syntaxes, ...) stay; instance UIDs change
      if (o_.retain_uids) return 'K';
      for (const std::string& u : split_values(io::dicom_text(de)))
        if (!u.empty() && !registered_uid(u)) return 'U';
      return 'K';
    }
    return 'K';
  }

  void dummy(gdcm::DataSet& ds, const gdcm::Tag& t, const gdcm::VR& vr) {
    if (vr == gdcm::VR::SQ) {
      ds.Remove(t);  // a dummy sequence would carry no meaning: removed (docs/integration.md)
    } else if (vr == gdcm::VR::UI) {
      set_value(ds, t, vr, map_uid(io::dicom_text(ds.GetDataElement(t))));
    } else if (vr == gdcm::VR::DA) {
      set_value(ds, t, vr, "19000101");
    } else if (vr == gdcm::VR::DT) {
      set_value(ds, t, vr, "19000101000000");
    } else if (vr == gdcm::VR::TM) {
      set_value(ds, t, vr, "000000");
    } else if (vr == gdcm::VR::DS || vr == gdcm::VR::IS) {
      set_value(ds, t, vr, "0");
    } else if (vr & gdcm::VR::VRASCII) {
      set_value(ds, t, vr, vr == gdcm::VR::AS ? "000Y" : vr == gdcm::VR::CS ? "ANONYMIZED" : "ANONYMIZED");
    } else {
      set_empty(ds, t, vr);
    }
  }

  void shift(gdcm::DataSet& ds, const gdcm::Tag& t, const gdcm::VR& vr, const gdcm::DataElement& de) {
    if (vr != gdcm::VR::DA && vr != gdcm::VR::DT) return;  // times of day are kept; only dates move
    std::vector<std::string> v = split_values(io::dicom_text(de));
    for (std::string& d : v)
      if (!d.empty()) d = shift_date(d, shift_);
    set_value(ds, t, vr, join_values(v));
  }

  void recurse(gdcm::File& file, gdcm::DataSet& ds, const gdcm::Tag& t) {
    gdcm::DataElement de = ds.GetDataElement(t);
    gdcm::SmartPointer<gdcm::SequenceOfItems> sq = de.GetValueAsSQ();
    if (!sq) return;
    for (gdcm::SequenceOfItems::SizeType i = 1; i <= sq->GetNumberOfItems(); ++i) {
      gdcm::Item& item = sq->GetItem(i);
      apply(file, item.GetNestedDataSet());
      item.SetVLToUndefined();  // its content changed: written with delimiters, not a stale explicit length
    }
    de.SetValue(*sq);
    de.SetVLToUndefined();
    de.SetVR(gdcm::VR::SQ);
    ds.Replace(de);
  }

  const DeidOptions& o_;
  std::vector<std::string> identifiers_;
  std::map<std::string, std::string>& uids_;
  int shift_;
};

void add_code(gdcm::SequenceOfItems& sq, const char* value, const char* meaning) {
  gdcm::Item item;
  item.SetVLToUndefined();
  gdcm::DataSet& nds = item.GetNestedDataSet();
  set_value(nds, gdcm::Tag(0x0008, 0x0100), gdcm::VR::SH, value);
  set_value(nds, gdcm::Tag(0x0008, 0x0102), gdcm::VR::SH, "DCM");
  set_value(nds, gdcm::Tag(0x0008, 0x0104), gdcm::VR::LO, meaning);
  sq.AddItem(item);
}

std::vector<Codes> method_codes(const DeidOptions& o) {
  std::vector<Codes> c = {{"113100", "Basic Application Confidentiality Profile"}};
  if (o.retain_long_full_dates) c.push_back({"113106", "Retain Longitudinal Temporal Information Full Dates Option"});
  if (o.retain_long_modified_dates)
    c.push_back({"113107", "Retain Longitudinal Temporal Information Modified Dates Option"});
  if (o.retain_patient_characteristics) c.push_back({"113108", "Retain Patient Characteristics Option"});
  if (o.retain_device_identity) c.push_back({"113109", "Retain Device Identity Option"});
  if (o.retain_uids) c.push_back({"113110", "Retain UIDs Option"});
  if (o.retain_institution_identity) c.push_back({"113112", "Retain Institution Identity Option"});
  if (o.clean_descriptors) c.push_back({"113105", "Clean Descriptors Option"});
  return c;
}

bool inside(const fs::path& child, const fs::path& parent) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(child, ec), p = fs::weakly_canonical(parent, ec);
  auto ci = c.begin(), pi = p.begin();
  for (; pi != p.end(); ++pi, ++ci)
    if (ci == c.end() || *ci != *pi) return false;
  return true;
}

bool has_dicm(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  char buf[132] = {};
  in.read(buf, 132);
  return in.gcount() == 132 && std::string(buf + 128, 4) == "DICM";
}

// The UID map file: {"format": "pulmo-deid-map", "version": 1, "uids": {...}, "date_shift_days": N}.
struct MapFile {
  std::map<std::string, std::string> uids;
  bool has_shift = false;
  int shift = 0;
};

MapFile read_map(const std::string& path) {
  MapFile m;
  std::error_code ec;
  if (path.empty() || !fs::exists(path, ec)) return m;
  if (!fs::is_regular_file(path, ec)) throw Error(ExitCode::BadConfig, "map '" + path + "' is not a file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ExitCode::BadConfig, "map '" + path + "' is not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || j.value("format", "") != "pulmo-deid-map" || !j.contains("uids") || !j["uids"].is_object())
    throw Error(ExitCode::BadConfig, "map '" + path + "' is not a pulmo de-identification map (format \"pulmo-deid-map\" "
                                     "with a \"uids\" object); give a new file name to start a new map");
  for (auto it = j["uids"].begin(); it != j["uids"].end(); ++it) {
    if (!it.value().is_string() || !gdcm::UIDGenerator::IsValid(it.value().get<std::string>().c_str()))
      throw Error(ExitCode::BadConfig, "map '" + path + "': the entry for '" + it.key() + "' is not a valid UID");
    m.uids[it.key()] = it.value().get<std::string>();
  }
  if (j.contains("date_shift_days")) {
    if (!j["date_shift_days"].is_number_integer())
      throw Error(ExitCode::BadConfig, "map '" + path + "': date_shift_days is not an integer");
    m.has_shift = true;
    m.shift = j["date_shift_days"].get<int>();
  }
  return m;
}

void write_map(const std::string& path, const MapFile& m) {
  nlohmann::json j;
  j["format"] = "pulmo-deid-map";
  j["version"] = 1;
  j["note"] = "re-identification key of pulmo anonymize: original UID -> de-identified UID. Keep it apart from the "
              "de-identified data.";
  if (m.has_shift) j["date_shift_days"] = m.shift;
  j["uids"] = m.uids;
  // The re-identification key: readable by its owner only (created so, not narrowed after it was written).
  const mode_t old_mask = ::umask(077);
  try {
    write_text_atomic(path, j.dump(1) + "\n");
  } catch (...) {
    ::umask(old_mask);
    throw;
  }
  ::umask(old_mask);
}

// Every file to de-identify: the input file, or the regular files under the input folder (sorted).
std::vector<std::string> input_files(const std::string& input) {
  std::error_code ec;
  if (!fs::exists(input, ec)) throw Error(ExitCode::NotFound, "input '" + input + "' does not exist");
  std::vector<std::string> files;
  if (fs::is_directory(input, ec)) {
    for (auto it = fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec)) files.push_back(it->path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error(ExitCode::NoData, "folder '" + input + "' is empty");
  } else if (fs::is_regular_file(input, ec)) {
    files.push_back(input);
  } else {
    throw Error(ExitCode::Unreadable, "input '" + input + "' is neither a file nor a folder");
  }
  return files;
}

void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

DeidResult anonymize_dicom(const std::string& input, const std::string& output_folder, const DeidOptions& options) {
  if (options.retain_long_full_dates && options.retain_long_modified_dates)
    throw Error(ExitCode::Usage, "the full-dates and modified-dates options exclude each other: choose one");
  if (output_folder.empty()) throw Error(ExitCode::Usage, "no output folder given");
  fs::path out = fs::absolute(output_folder).lexically_normal();
  if (out.filename().empty() && out.has_parent_path()) out = out.parent_path();  // "OUT/" is the folder OUT
  if (inside(out, input) || inside(input, out))
    throw Error(ExitCode::Usage, "output '" + output_folder + "' is inside (or holds) the input '" + input +
                                     "': pulmo never writes into its input; choose a folder elsewhere");
  if (!options.map_file.empty()) {
    if (inside(options.map_file, out))
      throw Error(ExitCode::Usage, "map '" + options.map_file + "' would lie inside the de-identified output: it is the "
                                   "re-identification key; keep it elsewhere");
    if (inside(options.map_file, input))
      throw Error(ExitCode::Usage, "map '" + options.map_file + "' lies inside the input folder; keep it elsewhere");
  }
  std::error_code ec;
  const std::vector<std::string> files = input_files(input);
  const bool single_file = !fs::is_directory(input, ec);
  if (fs::exists(out, ec) || fs::is_symlink(out, ec))
    throw Error(ExitCode::WriteFailed, "output folder '" + output_folder + "' exists; pulmo anonymize writes a new "
                                       "folder (it never merges into or overwrites one)");
  MapFile map = read_map(options.map_file);
  int shift = 0;
  if (options.retain_long_modified_dates) {
    if (options.date_shift_given && map.has_shift && map.shift != options.date_shift_days)
      throw Error(ExitCode::BadConfig, "map '" + options.map_file + "' was made with a date shift of " +
                                           std::to_string(map.shift) + " days, not " +
                                           std::to_string(options.date_shift_days) +
                                           "; one map, one shift (or start a new map)");
    if (options.date_shift_given) {
      shift = options.date_shift_days;
    } else if (map.has_shift) {
      shift = map.shift;
    } else {
      std::random_device rd;
      shift = -1 - static_cast<int>(rd() % 3650);  // 1 day to 10 years back
    }
    map.has_shift = true;
    map.shift = shift;
  }

  // The temporary folder beside the output (created folders above it are removed again on failure).
  fs::path created;
  for (fs::path p = out.parent_path(); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    created = p;
    if (p == p.parent_path()) break;
  }
  fs::create_directories(out.parent_path(), ec);
  if (!fs::is_directory(out.parent_path(), ec))
    throw Error(ExitCode::WriteFailed, "cannot create the folder '" + out.parent_path().string() + "'");
  // ".OUT.tmp-PID" holding kTemporaryMarker until the rename: a run killed with SIGKILL (or a power loss) leaves
  // it behind, and the next run for the same OUT removes it once its process no longer exists.
  const std::string prefix = "." + out.filename().string() + ".tmp-";
  std::vector<std::string> stale_notes;
  for (const std::string& stale : remove_stale_temporary_folders(out.parent_path().string(), prefix, "", kTemporaryMarker))
    stale_notes.push_back("removed '" + stale + "', the temporary folder of an earlier pulmo anonymize run that was "
                          "killed (its process no longer runs)");
  const fs::path tmp = out.parent_path() / (prefix + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  if (ec) throw Error(ExitCode::WriteFailed, "cannot create '" + tmp.string() + "': " + ec.message());
  register_temporary_folder(tmp.string());
  auto cleanup = [&]() {
    std::error_code ec2;
    fs::remove_all(tmp, ec2);
    forget_temporary_folder(tmp.string());
    if (!created.empty())
      for (fs::path p = out.parent_path(); !p.empty(); p = p.parent_path()) {
        if (!fs::remove(p, ec2) || ec2 || p == created) break;
      }
  };

  DeidResult result;
  result.warnings = stale_notes;
  try {
    write_text_atomic((tmp / kTemporaryMarker).string(),
                      "pulmo anonymize is writing " + out.string() + " here (process " + std::to_string(::getpid()) + ")\n");
    gdcm::FileMetaInformation::SetSourceApplicationEntityTitle("PULMO_DEID");
    Deidentifier deid(options, map.uids, shift);
    std::vector<std::string> skipped, burned_yes, burned_unknown;
    std::string first_patient, first_patient_file;
    int n = 0;
    for (const std::string& f : files) {
      if (fs::file_size(f, ec) == 0) {
        skipped.push_back(f + " (0 bytes)");
        continue;
      }
      const std::string meta_problem = io::dicom_meta_problem(f);
      if (!meta_problem.empty())
        throw Error(ExitCode::Unreadable, "'" + f + "' is a damaged DICOM file: " + meta_problem);
      gdcm::Reader reader;
      reader.SetFileName(f.c_str());
      if (!reader.Read()) {
        if (has_dicm(f) || single_file)
          throw Error(ExitCode::Unreadable, "'" + f + "' cannot be read as DICOM (truncated or corrupt, or not DICOM); "
                                            "nothing was written");
        skipped.push_back(f + " (not DICOM)");
        continue;
      }
      gdcm::File& file = reader.GetFile();
      gdcm::DataSet& ds = file.GetDataSet();
      std::string media;
      if (file.GetHeader().FindDataElement(kMediaClass)) media = io::dicom_text(file.GetHeader().GetDataElement(kMediaClass));
      if (media == "1.2.840.10008.1.3.10") {  // DICOMDIR: an index full of names, not an instance
        skipped.push_back(f + " (DICOMDIR)");
        continue;
      }
      if (!ds.FindDataElement(kSopClass) && !ds.FindDataElement(kSopInstance) && !ds.FindDataElement(kPatientId)) {
        skipped.push_back(f + " (DICOM without a composite instance)");
        continue;
      }
      const std::string patient = ds.FindDataElement(kPatientId) ? io::dicom_text(ds.GetDataElement(kPatientId)) : "";
      if (n == 0) {
        first_patient = patient, first_patient_file = f;
      } else if (patient != first_patient) {
        throw Error(ExitCode::Mismatch, "instances of more than one patient (PatientID '" + first_patient + "' in '" +
                                            first_patient_file + "', '" + patient + "' in '" + f +
                                            "'); de-identify one patient per run (the map may be shared)");
      }
      std::string sop_class = ds.FindDataElement(kSopClass) ? io::dicom_text(ds.GetDataElement(kSopClass)) : "";
      if (sop_class.empty()) sop_class = media;
      const std::string burned = ds.FindDataElement(kBurnedIn) ? io::dicom_text(ds.GetDataElement(kBurnedIn)) : "";
      const bool ct_like = std::any_of(std::begin(kSopCtLike), std::end(kSopCtLike),
                                       [&](const char* s) { return sop_class == s; });
      if (burned == "YES") burned_yes.push_back(f);
      else if (burned != "NO" && !ct_like) burned_unknown.push_back(f + " (SOP class " + sop_class + ")");

      gdcm::Anonymizer anon;
      anon.SetFile(file);
      anon.RemovePrivateTags();
      anon.RemoveGroupLength();
      if (options.clean_descriptors) deid.collect_identifiers(file, ds);
      deid.apply(file, ds);
      if (!options.patient_pseudonym.empty()) {
        set_value(ds, kPatientName, gdcm::VR::PN, options.patient_pseudonym);
        set_value(ds, kPatientId, gdcm::VR::LO, options.patient_pseudonym);
      }
      set_value(ds, gdcm::Tag(0x0012, 0x0062), gdcm::VR::CS, "YES");
      std::string method = "pulmo " PULMO_VERSION " anonymize: PS3.15 E.1-1 basic profile";
      gdcm::SmartPointer<gdcm::SequenceOfItems> codes = new gdcm::SequenceOfItems;
      codes->SetLengthToUndefined();
      result.method_codes.clear();
      for (const Codes& c : method_codes(options)) {
        add_code(*codes, c.value, c.meaning);
        result.method_codes.push_back(c.value);
        if (std::string(c.value) != "113100") method += std::string(", ") + c.meaning;
      }
      if (method.size() > 64) method = method.substr(0, 64);  // LO: 64 characters
      set_value(ds, gdcm::Tag(0x0012, 0x0063), gdcm::VR::LO, method);
      gdcm::DataElement code_seq(gdcm::Tag(0x0012, 0x0064));
      code_seq.SetVR(gdcm::VR::SQ);
      code_seq.SetValue(*codes);
      code_seq.SetVLToUndefined();
      ds.Replace(code_seq);
      set_value(ds, gdcm::Tag(0x0028, 0x0303), gdcm::VR::CS,
                options.retain_long_full_dates ? "UNMODIFIED" : options.retain_long_modified_dates ? "MODIFIED" : "REMOVED");
      if (!ds.FindDataElement(kSopInstance) || io::dicom_text(ds.GetDataElement(kSopInstance)).empty())
        set_value(ds, kSopInstance, gdcm::VR::UI, new_uid());  // GDCM writes no file without one

      // File meta information: only what describes this file and pulmo (PS3.15 E.1.1 item 7); a blank preamble.
      gdcm::FileMetaInformation& h = file.GetHeader();
      for (uint16_t e : {0x0003, 0x0012, 0x0013, 0x0016, 0x0017, 0x0018, 0x0026, 0x0027, 0x0028, 0x0100, 0x0102})
        h.Remove(gdcm::Tag(0x0002, e));
      if (!ds.FindDataElement(kSopClass) || io::dicom_text(ds.GetDataElement(kSopClass)).empty()) {
        if (!media.empty()) set_value(ds, kSopClass, gdcm::VR::UI, media);
      }
      h.GetPreamble().Remove();
      h.GetPreamble().Create();

      char name[32];
      std::snprintf(name, sizeof name, "IM%06d.dcm", ++n);
      const std::string target = (tmp / name).string();
      gdcm::Writer writer;
      writer.SetFile(file);
      writer.SetFileName(target.c_str());
      if (!writer.Write())
        throw Error(ExitCode::WriteFailed, "cannot write '" + target + "' (disk full or no permission?) while "
                                           "de-identifying '" + f + "'");
      sync_file(target);
    }
    if (n == 0)
      throw Error(ExitCode::NoData, "'" + input + "' holds no DICOM instance (" + std::to_string(skipped.size()) +
                                        " file(s) skipped" + (skipped.empty() ? "" : ", e.g. " + skipped.front()) + ")");
    if (!skipped.empty())
      result.warnings.push_back(std::to_string(skipped.size()) + " file(s) left out, not copied: e.g. " + skipped.front());
    if (!burned_yes.empty())
      result.warnings.push_back(std::to_string(burned_yes.size()) + " instance(s) say BurnedInAnnotation YES (e.g. '" +
                                burned_yes.front() + "'): their pixels may show names or dates, which pulmo does not "
                                "clean (no Clean Pixel Data Option); check them before release");
    if (!burned_unknown.empty())
      result.warnings.push_back(std::to_string(burned_unknown.size()) + " instance(s) not of a CT/MR/PET/SEG class do "
                                "not say BurnedInAnnotation NO (e.g. '" + burned_unknown.front() + "'): their pixels "
                                "may show identifying text; check them before release");
    result.files_written = n;
    result.files_skipped = static_cast<int>(skipped.size());
    result.uids_new = deid.new_uids;
    result.uids_mapped = static_cast<int>(map.uids.size());
    result.date_shift_days = shift;
    // The map first: a finished output whose map was lost would break the next run's consistency.
    if (!options.map_file.empty()) write_map(options.map_file, map);
    fs::remove(tmp / kTemporaryMarker, ec);
    fs::rename(tmp, out, ec);
    if (ec) throw Error(ExitCode::WriteFailed, "cannot rename '" + tmp.string() + "' to '" + out.string() + "': " + ec.message());
    forget_temporary_folder(tmp.string());
  } catch (...) {
    cleanup();
    throw;
  }
  return result;
}

}  // namespace pulmo
