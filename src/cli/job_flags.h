// The quantify options that `pulmo quantify` and `pulmo serve` share: registered here once, with one help text each,
// and written into the job (pulmo/job.h) by apply().
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "pulmo/job.h"

namespace pulmo::cli {

struct QuantifyJobFlags {
  std::string models, lungs, credentials, ca_file;  // lungs "": the models folder's choice
  bool no_lesions = false, no_html = false, no_viewer = false, no_dicom_seg = false;

  // --models, --lungs, --no-lesions, --no-html, --no-viewer, --no-dicom-seg, and --credentials and --ca-file for the
  // server called `server` in their help ("DICOMweb", "Orthanc"); `prefix` starts the help of the quantify options
  // ("" or "quantify: "). Returns --lungs (quantify's --lung-mask excludes it).
  CLI::Option* add_to(CLI::App* sub, const std::string& prefix, const std::string& server) {
    sub->add_option("--credentials", credentials, server + ": a file of user=, password= or token= lines (default: "
                                                           "$PULMO_DICOMWEB_CREDENTIALS, $PULMO_DICOMWEB_TOKEN, or "
                                                           "$PULMO_DICOMWEB_USER and $PULMO_DICOMWEB_PASSWORD); never the "
                                                           "secret itself on the command line");
    sub->add_option("--ca-file", ca_file, server + " over https: the CA bundle (PEM) to verify the server with "
                                                   "(default: the system's)");
    sub->add_option("--models", models, prefix + "models folder with cascade.json (default: the shipped models)");
    CLI::Option* lungs_option =
        sub->add_option("--lungs", lungs, prefix + "how to find the lungs: cascade (the networks), classical "
                                                   "(thresholds), hybrid (classical where aerated, network where dense; "
                                                   "docs/quantify.md); default: the models folder's choice (cascade.json "
                                                   "lungs.method: hybrid for the shipped models)")
            ->check(CLI::IsMember({"cascade", "classical", "hybrid"}));
    sub->add_flag("--no-lesions", no_lesions, prefix + "skip stage 3 (lungs and densitometry only)");
    sub->add_flag("--no-html", no_html, prefix + "skip report.html");
    sub->add_flag("--no-viewer", no_viewer,
                  prefix + "report.html without the interactive viewer (NiiVue and the CT inline: several MB); the "
                           "static pictures stay and the page says the viewer was left out");
    sub->add_flag("--no-dicom-seg", no_dicom_seg,
                  prefix + "DICOM input: skip segmentation.dcm (a DICOM-SEG of the lungs and lesions, referring to the "
                           "CT's images) and measurements.dcm (a DICOM SR of the numbers, TID 1500)");
    return lungs_option;
  }

  void apply(QuantifyJobOptions& job) const {
    job.models = models;
    job.lungs = lungs;
    job.credentials_file = credentials;
    job.ca_file = ca_file;
    job.lesions = !no_lesions;
    job.html = !no_html;
    job.viewer = !no_viewer;
    job.dicom_seg = !no_dicom_seg;
  }
};

}  // namespace pulmo::cli
