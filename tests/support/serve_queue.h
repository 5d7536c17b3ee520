// Helpers of the `pulmo serve` tests (test_cli_serve.cpp, test_cli_serve_orthanc.cpp): a file's text, counting lines
// in a log, and waiting for the queue's `pulmo serve --status`.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

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

}  // namespace pulmo::test
