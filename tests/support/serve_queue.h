// Helpers of the `pulmo serve` tests (test_cli_serve.cpp, test_cli_serve_orthanc.cpp): a file's text, counting lines
// in a log, waiting for a log line or the queue's `pulmo serve --status`, the series `--status` shows running, and a
// small synthetic DICOM series with a chosen Modality and Manufacturer.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "support/synthetic_dicom.h"
#include "support/test_support.h"

namespace pulmo::test {

// The bytes of `path` ("" when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// How often `part` occurs in `text` (overlapping occurrences counted).
inline int occurrences(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// What `pulmo serve --status --db DB` prints.
inline std::string queue_status(const std::string& db) { return run_pulmo("serve --status --db '" + db + "'").out; }

// Polls `pulmo serve --status` of `db` until its output holds `part` (true) or `seconds` pass (false).
inline bool wait_for_status(const std::string& db, const std::string& part, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (std::filesystem::exists(db) && queue_status(db).find(part) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// `s` in single quotes, for a run_pulmo command line (paths made by the tests hold no quote).
inline std::string quoted(const std::string& s) { return "'" + s + "'"; }

// Polls the file `log` until it holds `part` at or after byte `from` (true) or `seconds` pass (false).
inline bool wait_for_log(const std::string& log, const std::string& part, double seconds, size_t from = 0) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (slurp(log).find(part, from) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// The output name of the series a `--status` text shows running ("" when none).
inline std::string running_series(const std::string& status) {
  const size_t at = status.find("\nrunning  ");
  if (at == std::string::npos) return "";
  const size_t from = at + 10;
  return status.substr(from, status.find(':', from) - from);
}

// A synthetic DICOM series of `slices` 16 x 16 slices in `folder` (support/synthetic_dicom.h) with this
// SeriesInstanceUID, Modality and Manufacturer (nullptr: the tag left out).
inline void write_tagged_series(const std::string& folder, const std::string& series_uid, const char* modality,
                                const char* manufacturer = nullptr, int slices = 4) {
  std::vector<SyntheticSlice> stack = axial_stack(slices, 2.0);
  for (SyntheticSlice& s : stack) s.series_uid = series_uid;
  write_synthetic_series(folder, stack);
  for (const auto& e : std::filesystem::directory_iterator(folder)) {
    set_dicom_tag(e.path().string(), 0x0008, 0x0060, modality);
    set_dicom_tag(e.path().string(), 0x0008, 0x0070, manufacturer);
  }
}

}  // namespace pulmo::test
