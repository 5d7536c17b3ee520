// Internal to src/data: a small RFC 4180 CSV reader and writer (quotes, "" escapes, CRLF).
#pragma once

#include <string>
#include <vector>

namespace pulmo::data {

// Rows of fields; blank lines and lines starting with '#' are skipped. `line_of_row` gets the
// 1-based line where each row starts. Throws Error(BadConfig) on an unterminated quote.
std::vector<std::vector<std::string>> parse_csv(const std::string& text, std::vector<int>* line_of_row = nullptr);
// A field, quoted when it holds a comma, quote or line break.
std::string csv_field(const std::string& value);

}  // namespace pulmo::data
