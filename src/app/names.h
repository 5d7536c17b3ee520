// Case names from file names (internal to src/app).
#pragma once

#include <cctype>
#include <string>

namespace pulmo {

// Removes a volume file extension (.nii.gz, .nii, .nrrd, .nhdr, .mha, .mhd, and .dcm when `dicom` is true) from
// `name`; returns whether one was removed.
inline bool strip_volume_extension(std::string& name, bool dicom = false) {
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm"}) {
    const std::string e(ext);
    if (e == ".dcm" && !dicom) continue;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), std::string::npos, e) == 0) {
      name.resize(name.size() - e.size());
      return true;
    }
  }
  return false;
}

// A case id usable as a folder name: letters, digits, '-', '_', '.'; others become '_'.
inline std::string safe_id(const std::string& id) {
  std::string s;
  for (char c : id) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (s.empty() || s == "." || s == "..") s = "case";
  return s;
}

}  // namespace pulmo
