// Internal: reading small CSV files (manifests, attributes, classification scores).
#pragma once

#include <string>
#include <vector>

namespace pulmo::eval_detail {

// A CSV file with a header row, parsed by data::parse_csv (quoted fields, "" escapes, CRLF, a byte-order
// mark; blank lines and lines starting with # are skipped); fields are trimmed.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> line_numbers;
  int column(const std::string& name) const {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    return -1;
  }
};

// Error(NotFound) when the file cannot be opened, Error(BadConfig) for an empty file or a row whose field
// count differs from the header's. `what` names the file in messages ("manifest"). The header's older spellings
// "case" and "patient" become "case_id" and "patient_id" (Error(BadConfig) when a file has both).
Table read_csv(const std::string& path, const char* what);

}  // namespace pulmo::eval_detail
