// Which series pulmo quantifies, from the tags a source knows before fetching it (internal to src/app): one decision
// for the folder and Orthanc sources of `pulmo serve` and for quantify's DICOMweb input.
#pragma once

#include <string>

namespace pulmo {

enum class SeriesKind {
  Quantify,     // a CT, or no Modality stated (read; a series without lungs is then skipped by quantify's lung check)
  NotCt,        // a Modality other than CT: skipped with `reason`
  PulmoResult,  // a DICOM-SEG or SR pulmo wrote (Manufacturer pulmo): pulmo's own result, ignored
};

struct SeriesVerdict {
  SeriesKind kind = SeriesKind::Quantify;
  std::string reason;  // NotCt, PulmoResult: why the series is not quantified
};

// Modality and Manufacturer as the series states them ("" when absent). A missing Modality is not taken for "not CT":
// de-identified or converted series often lack it, and quantify's lung check refuses what is not a chest CT anyway.
inline SeriesVerdict judge_series(const std::string& modality, const std::string& manufacturer) {
  if ((modality == "SEG" || modality == "SR") && manufacturer == "pulmo")
    return {SeriesKind::PulmoResult, "pulmo's own result (" + modality + ")"};
  if (!modality.empty() && modality != "CT") return {SeriesKind::NotCt, "not a CT (Modality " + modality + ")"};
  return {};
}

}  // namespace pulmo
