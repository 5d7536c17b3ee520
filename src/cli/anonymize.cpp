// pulmo anonymize IN OUT: DICOM de-identification (PS3.15 basic profile and retain options; pulmo/deid.h).
#include <iostream>

#include "cli/command.h"
#include "pulmo/deid.h"
#include "pulmo/error.h"

namespace pulmo::cli {

Action register_anonymize(CLI::App& app, const GlobalOptions& global) {
  struct Options {
    std::string input, output;
    DeidOptions deid;
    int shift = 0;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "anonymize", "De-identify DICOM: PS3.15 Basic Application Level Confidentiality Profile (+ retain options), "
                   "UIDs remapped consistently (--map), into a new folder");
  sub->add_option("input", opt->input, "a DICOM file, or a folder (searched recursively)")->required();
  sub->add_option("output", opt->output, "the new output folder (must not exist; written whole or not at all)")->required();
  sub->add_option("--map", opt->deid.map_file,
                  "UID map (JSON) kept by you: read when it exists, updated atomically; the same map gives the same "
                  "new UIDs in every run (it is the re-identification key: never ship it with the data)");
  sub->add_option("--patient-id", opt->deid.patient_pseudonym,
                  "pseudonym written as Patient's Name and Patient ID (default: both emptied)");
  sub->add_flag("--retain-uids", opt->deid.retain_uids, "Retain UIDs Option (113110): keep every UID");
  sub->add_flag("--retain-device-identity", opt->deid.retain_device_identity,
                "Retain Device Identity Option (113109): station name, serial numbers, device IDs");
  sub->add_flag("--retain-institution-identity", opt->deid.retain_institution_identity,
                "Retain Institution Identity Option (113112): institution name, address, department");
  sub->add_flag("--retain-patient-characteristics", opt->deid.retain_patient_characteristics,
                "Retain Patient Characteristics Option (113108): sex, age, size, weight, ethnic group, smoking, pregnancy");
  CLI::Option* full = sub->add_flag("--retain-long-full-dates", opt->deid.retain_long_full_dates,
                                    "Retain Longitudinal Temporal Information Full Dates Option (113106): keep dates and times");
  CLI::Option* modified = sub->add_flag(
      "--retain-long-modified-dates", opt->deid.retain_long_modified_dates,
      "Retain Longitudinal Temporal Information Modified Dates Option (113107): every date shifted by the same "
      "whole number of days (--date-shift-days, else the map's, else random), times kept");
  full->excludes(modified);
  sub->add_flag("--clean-descriptors", opt->deid.clean_descriptors,
                "Clean Descriptors Option (113105): keep descriptions and comments (study and series description, "
                "protocol name, image comments, ...) with the instance's names, IDs, dates and long numbers removed "
                "from them (a best effort: review them before release)");
  CLI::Option* shift = sub->add_option("--date-shift-days", opt->shift,
                                       "days added to every date with --retain-long-modified-dates (negative: back)")
                           ->check(CLI::Range(-36500, 36500));
  return [opt, shift, &global]() {
    if (shift->count() > 0) {
      if (!opt->deid.retain_long_modified_dates)
        throw Error(ExitCode::Usage, "--date-shift-days needs --retain-long-modified-dates");
      opt->deid.date_shift_given = true;
      opt->deid.date_shift_days = opt->shift;
    }
    if (opt->deid.map_file.empty() && !opt->deid.retain_uids)
      note(global, "no --map: the new UIDs of this run cannot be reproduced by a later run");
    const DeidResult r = anonymize_dicom(opt->input, opt->output, opt->deid);
    for (const std::string& w : r.warnings) warn(w);
    std::cout << "de-identified " << r.files_written << " instance(s) into " << opt->output << " (codes";
    for (const std::string& c : r.method_codes) std::cout << " " << c;
    std::cout << "); UIDs: " << r.uids_new << " new, " << r.uids_mapped << " in the map";
    if (opt->deid.retain_long_modified_dates) std::cout << "; dates shifted by " << r.date_shift_days << " days";
    std::cout << "\n";
    return 0;
  };
}

}  // namespace pulmo::cli
