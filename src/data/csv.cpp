#include "data/csv.h"

#include "pulmo/error.h"

namespace pulmo::data {

std::vector<std::vector<std::string>> parse_csv(const std::string& text, std::vector<int>* line_of_row) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, row_has_content = false;
  int line = 1, row_line = 1;
  auto end_row = [&]() {
    row.push_back(field);
    field.clear();
    const bool comment = !row.empty() && !row[0].empty() && row[0][0] == '#';
    if (row_has_content && !comment) {
      rows.push_back(row);
      if (line_of_row) line_of_row->push_back(row_line);
    }
    row.clear();
    row_has_content = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      row_has_content = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      row_has_content = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_row();
      row_line = ++line;
    } else {
      field += c;
      if (c != ' ' && c != '\t') row_has_content = true;
    }
  }
  if (quoted) throw Error(ExitCode::BadConfig, "CSV: quote opened on line " + std::to_string(row_line) + " is never closed");
  if (!field.empty() || !row.empty()) end_row();
  return rows;
}

std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace pulmo::data
