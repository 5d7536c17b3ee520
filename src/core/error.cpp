#include "pulmo/error.h"

namespace pulmo {

const char* exit_code_name(ExitCode code) {
  switch (code) {
    case ExitCode::Ok:           return "ok";
    case ExitCode::Internal:     return "internal error";
    case ExitCode::Usage:        return "usage error";
    case ExitCode::NotFound:     return "input not found";
    case ExitCode::Unreadable:   return "unreadable input";
    case ExitCode::BadSeries:    return "DICOM series refused";
    case ExitCode::BadDimension: return "wrong dimensionality";
    case ExitCode::WriteFailed:  return "output not written";
    case ExitCode::NoData:       return "no image data";
    case ExitCode::Mismatch:     return "inputs do not match";
    case ExitCode::BadConfig:    return "invalid configuration";
    case ExitCode::NoLungs:      return "no lungs found";
    case ExitCode::BatchFailures: return "some batch cases failed";
    case ExitCode::NotAChestXray: return "not a frontal chest X-ray";
    case ExitCode::Remote:       return "network or remote server failure";
  }
  return "unknown";
}

}  // namespace pulmo
