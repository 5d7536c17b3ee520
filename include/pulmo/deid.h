// DICOM de-identification: the PS3.15 Annex E Basic Application Level Confidentiality Profile (Table E.1-1) and
// its retain options, applied with GDCM (`pulmo anonymize`, docs/integration.md). No LibTorch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pulmo {

// The options of Table E.1-1 that `pulmo anonymize` implements (each adds its code to the
// De-identification Method Code Sequence). Default: the basic profile alone.
struct DeidOptions {
  bool retain_uids = false;                     // 113110 Retain UIDs Option
  bool retain_device_identity = false;          // 113109 Retain Device Identity Option
  bool retain_institution_identity = false;     // 113112 Retain Institution Identity Option
  bool retain_patient_characteristics = false;  // 113108 Retain Patient Characteristics Option
  bool retain_long_full_dates = false;          // 113106 Retain Longitudinal Temporal Information Full Dates Option
  bool retain_long_modified_dates = false;      // 113107 ... Modified Dates Option: every date shifted by whole days
  bool clean_descriptors = false;               // 113105 Clean Descriptors Option: descriptions and comments kept,
                                                // cleaned of identifying text (clean_descriptor)
  bool date_shift_given = false;                // date_shift_days was chosen by the user (else: the map's, else random)
  int date_shift_days = 0;                      // with retain_long_modified_dates; negative moves dates back
  std::string patient_pseudonym;                // "" = Patient's Name and ID emptied (Z); else both set to it
  std::string map_file;                         // UID map (JSON) read when present and rewritten atomically; "" = none
};

// One row of the profile table as pulmo applies it.
struct DeidRule {
  uint16_t group = 0, element = 0;
  std::string name;
  std::string basic;    // the basic profile's action code as Table E.1-1 writes it: X, Z, D, U, K, X/Z, Z/D, X/D, X/Z/D, X/Z/U*
  std::string options;  // letters of the options that keep it: U uids, V device, I institution, P patient
                        // characteristics, T temporal (full dates: keep; modified dates: shift); C: cleaned by
                        // the Clean Descriptors Option
};
// Table E.1-1 as pulmo implements it (docs/integration.md says which rows and what the catch-alls do).
const std::vector<DeidRule>& deid_profile_table();

// The action pulmo takes on an attribute of `rule` under `options`: 'X' remove, 'Z' empty, 'D' dummy value,
// 'U' new UID, 'K' keep, 'S' shift the date (modified dates option), 'C' clean (clean descriptors option: text
// attributes keep their value through clean_descriptor, code sequences are removed). Compound codes are resolved for the image
// IODs pulmo handles (CT, PET, MR, SEG): X/Z -> Z for the Type 2 attributes of those IODs, else X; Z/D -> Z;
// X/D, X/Z/D, X/Z/U* -> X unless Type 2 there (then Z).
char deid_action(const DeidRule& rule, const DeidOptions& options);

// The Clean Descriptors Option's cleaning of one free-text value: every identifying value of the instance in
// `identifiers` (whole words, any case), dates (2021-03-04, 04.03.2021, 3/4/21) and runs of 5 or more digits are
// removed; spaces collapsed. A best effort: a name the header does not carry elsewhere is not recognised.
std::string clean_descriptor(const std::string& text, const std::vector<std::string>& identifiers);

struct DeidResult {
  int files_written = 0;
  int files_skipped = 0;          // not DICOM (listed in warnings)
  int uids_mapped = 0;            // distinct original UIDs now in the map
  int uids_new = 0;               // of which new in this run
  int date_shift_days = 0;        // applied (modified dates option)
  std::vector<std::string> warnings;  // burned-in annotation, skipped files, ...
  std::vector<std::string> method_codes;  // the DCM codes written to (0012,0064)
};

// De-identifies `input` (a DICOM file, or a folder searched recursively) into the new folder `output_folder`
// (one file per instance, named by position, never by an input name). The output is written into a temporary
// folder beside it and renamed at the end: it appears whole or not at all. Refused: an output folder that exists
// (WriteFailed), an output or map inside the input or the map inside the output (Usage), no DICOM instance
// (NoData), an unreadable DICOM file (Unreadable), instances of more than one patient (Mismatch), a map file that
// is not pulmo's (BadConfig).
DeidResult anonymize_dicom(const std::string& input, const std::string& output_folder, const DeidOptions& options);

}  // namespace pulmo
