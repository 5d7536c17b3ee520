// pulmo::Error - the one exception family of pulmo, and the exit codes it maps to.
//
// Library code throws pulmo::Error with an ExitCode and a message; each phase that
// catches it adds context ("reading DICOM series 1.2.3: slice 57 missing") and
// rethrows. Only main() catches for good, prints the message and returns the code.
// The table of codes is docs/exit-codes.md; every code has a test.
#pragma once

#include <stdexcept>
#include <string>

namespace pulmo {

enum class ExitCode : int {
  Ok           = 0,   // success
  Internal     = 1,   // a bug in pulmo (please report), or an unexpected library failure
  Usage        = 2,   // bad command line: unknown option, missing argument, invalid value
  NotFound     = 3,   // an input path does not exist or cannot be opened
  Unreadable   = 4,   // not a readable image: empty, truncated, corrupt, unknown format, lying header
  BadSeries    = 5,   // DICOM series refused: missing slices, irregular spacing, gantry tilt, mixed series
  BadDimension = 6,   // wrong dimensionality: 2-D where 3-D is needed, 4-D or multi-component data
  WriteFailed  = 7,   // an output could not be written (nothing partial is left behind)
  NoData       = 8,   // nothing to work on: an empty folder, a folder without DICOM images, no CT series
  Mismatch     = 9,   // inputs that must agree do not: different grids, shapes, unknown or non-binary labels
  BadConfig    = 10,  // a configuration, manifest or model folder is invalid (unknown keys, wrong values)
  NoLungs      = 11,  // no lungs found: not a chest CT, an empty or all-air volume, lungs outside the field of view
  BatchFailures = 12, // a batch ran to its end, but some cases failed (each listed in its summary CSV)
  NotAChestXray = 13, // not a frontal chest radiograph: a lateral view, a DICOM of another modality, an image of one value
  Remote       = 14,  // a network or remote-server failure: cannot connect, TLS refused, timeout, an HTTP error status,
                      // an answer that breaks the protocol (DICOMweb)
};

const char* exit_code_name(ExitCode code);

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }
  // A copy of this error with `context + ": "` in front of the message.
  Error with_context(const std::string& context) const { return Error(code_, context + ": " + what()); }

 private:
  ExitCode code_;
};

}  // namespace pulmo
