// EvalManifest and attribute CSVs of `pulmo eval --manifest`.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "eval/csv.h"
#include "pulmo/error.h"
#include "pulmo/eval_set.h"

namespace fs = std::filesystem;

namespace pulmo {

namespace eval_detail {

namespace {

// One CSV record: comma-separated, fields may be double-quoted ("" inside quotes is a quote).
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  for (auto& f : fields) {  // trim spaces
    const size_t a = f.find_first_not_of(" \t"), b = f.find_last_not_of(" \t");
    f = a == std::string::npos ? "" : f.substr(a, b - a + 1);
  }
  return fields;
}


}  // namespace

Table read_csv(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) throw Error(ExitCode::NotFound, std::string(what) + " '" + path + "' not found or unreadable");
  Table t;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::vector<std::string> fields = split_csv_line(line);
    if (t.header.empty()) {
      t.header = fields;
      continue;
    }
    if (fields.size() != t.header.size())
      throw Error(ExitCode::BadConfig, std::string(what) + " '" + path + "' line " + std::to_string(number) + ": " +
                                           std::to_string(fields.size()) + " fields, the header has " +
                                           std::to_string(t.header.size()));
    t.rows.push_back(fields);
    t.line_numbers.push_back(number);
  }
  if (t.header.empty()) throw Error(ExitCode::BadConfig, std::string(what) + " '" + path + "' is empty");
  return t;
}

}  // namespace eval_detail

namespace {

using eval_detail::read_csv;
using eval_detail::Table;


std::string resolve(const fs::path& folder, const std::string& p) {
  if (p.empty()) return p;
  const fs::path path(p);
  return path.is_absolute() ? p : (folder / path).lexically_normal().string();
}

}  // namespace

EvalManifest read_eval_manifest(const std::string& path) {
  const Table t = read_csv(path, "manifest");
  for (const char* required : {"case", "reference", "prediction"})
    if (t.column(required) < 0)
      throw Error(ExitCode::BadConfig, "manifest '" + path + "' has no column '" + required +
                                           "' (required: case, reference, prediction; optional: patient, "
                                           "lung_reference, lung_prediction, any attribute)");
  const std::set<std::string> known{"case", "reference", "prediction", "patient", "lung_reference", "lung_prediction"};
  EvalManifest m;
  for (const auto& h : t.header)
    if (!known.count(h)) m.attribute_names.push_back(h);
  const fs::path folder = fs::absolute(fs::path(path)).parent_path();
  std::set<std::string> ids;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    auto get = [&](const char* name) { return t.column(name) >= 0 ? row[t.column(name)] : std::string(); };
    EvalCase c;
    c.id = get("case");
    const std::string where = "manifest '" + path + "' line " + std::to_string(t.line_numbers[r]);
    if (c.id.empty()) throw Error(ExitCode::BadConfig, where + ": empty case id");
    if (!ids.insert(c.id).second) throw Error(ExitCode::BadConfig, where + ": case '" + c.id + "' appears twice");
    c.reference = resolve(folder, get("reference"));
    c.prediction = resolve(folder, get("prediction"));
    if (c.reference.empty() || c.prediction.empty())
      throw Error(ExitCode::BadConfig, where + ": case '" + c.id + "' lacks a reference or prediction path");
    c.patient = get("patient");
    c.lung_reference = resolve(folder, get("lung_reference"));
    c.lung_prediction = resolve(folder, get("lung_prediction"));
    for (const auto& a : m.attribute_names) c.attributes[a] = row[t.column(a)];
    m.cases.push_back(c);
  }
  if (m.cases.empty()) throw Error(ExitCode::BadConfig, "manifest '" + path + "' lists no case");
  return m;
}

void merge_attributes(EvalManifest& manifest, const std::string& attributes_csv) {
  const Table t = read_csv(attributes_csv, "attributes file");
  const int key = t.column("case");
  if (key < 0) throw Error(ExitCode::BadConfig, "attributes file '" + attributes_csv + "' has no column 'case'");
  std::map<std::string, EvalCase*> by_id;
  for (auto& c : manifest.cases) by_id[c.id] = &c;
  for (size_t i = 0; i < t.header.size(); ++i)
    if (static_cast<int>(i) != key &&
        std::find(manifest.attribute_names.begin(), manifest.attribute_names.end(), t.header[i]) ==
            manifest.attribute_names.end())
      manifest.attribute_names.push_back(t.header[i]);
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto it = by_id.find(t.rows[r][key]);
    if (it == by_id.end())
      throw Error(ExitCode::BadConfig, "attributes file '" + attributes_csv + "' line " +
                                           std::to_string(t.line_numbers[r]) + ": case '" + t.rows[r][key] +
                                           "' is not in the manifest");
    for (size_t i = 0; i < t.header.size(); ++i)
      if (static_cast<int>(i) != key) it->second->attributes[t.header[i]] = t.rows[r][i];
  }
}

}  // namespace pulmo
