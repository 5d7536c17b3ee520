// EvalManifest and attribute CSVs of `pulmo eval --manifest`.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "data/csv.h"
#include "eval/csv.h"
#include "pulmo/error.h"
#include "pulmo/eval_set.h"

namespace fs = std::filesystem;

namespace pulmo {

namespace eval_detail {

Table read_csv(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ExitCode::NotFound, std::string(what) + " '" + path + "' not found or unreadable");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // a spreadsheet's byte-order mark
  std::vector<int> lines;
  std::vector<std::vector<std::string>> rows;
  try {
    rows = data::parse_csv(text, &lines);  // the project's one CSV reader (quotes, "" escapes, CRLF)
  } catch (const Error& e) {
    throw e.with_context(std::string(what) + " '" + path + "'");
  }
  for (auto& row : rows)
    for (auto& f : row) {  // trim spaces
      const size_t x = f.find_first_not_of(" \t"), y = f.find_last_not_of(" \t");
      f = x == std::string::npos ? "" : f.substr(x, y - x + 1);
    }
  if (rows.empty()) throw Error(ExitCode::BadConfig, std::string(what) + " '" + path + "' is empty");
  Table t;
  t.header = rows.front();
  // One vocabulary with the dataset manifests (docs/datasets.md): case_id, patient_id. The older spelling of these
  // files, case and patient, is read as the same columns (docs/eval.md).
  for (const auto& [old_name, name] : {std::pair<const char*, const char*>{"case", "case_id"}, {"patient", "patient_id"}}) {
    const auto old_at = std::find(t.header.begin(), t.header.end(), old_name);
    if (old_at == t.header.end()) continue;
    if (std::find(t.header.begin(), t.header.end(), name) != t.header.end())
      throw Error(ExitCode::BadConfig, std::string(what) + " '" + path + "' has both '" + old_name + "' and '" + name +
                                           "' columns (the same column in two spellings)");
    *old_at = name;
  }
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].size() != t.header.size())
      throw Error(ExitCode::BadConfig, std::string(what) + " '" + path + "' line " + std::to_string(lines[i]) + ": " +
                                           std::to_string(rows[i].size()) + " fields, the header has " +
                                           std::to_string(t.header.size()));
    t.rows.push_back(rows[i]);
    t.line_numbers.push_back(lines[i]);
  }
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
  for (const char* required : {"case_id", "reference", "prediction"})
    if (t.column(required) < 0)
      throw Error(ExitCode::BadConfig, "manifest '" + path + "' has no column '" + required +
                                           "' (required: case_id, reference, prediction; optional: patient_id, "
                                           "lung_reference, lung_prediction, any attribute)");
  const std::set<std::string> known{"case_id", "reference", "prediction", "patient_id", "lung_reference", "lung_prediction"};
  EvalManifest m;
  for (const auto& h : t.header)
    if (!known.count(h)) m.attribute_names.push_back(h);
  const fs::path folder = fs::absolute(fs::path(path)).parent_path();
  std::set<std::string> ids;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    auto get = [&](const char* name) { return t.column(name) >= 0 ? row[t.column(name)] : std::string(); };
    EvalCase c;
    c.id = get("case_id");
    const std::string where = "manifest '" + path + "' line " + std::to_string(t.line_numbers[r]);
    if (c.id.empty()) throw Error(ExitCode::BadConfig, where + ": empty case id");
    if (!ids.insert(c.id).second) throw Error(ExitCode::BadConfig, where + ": case '" + c.id + "' appears twice");
    c.reference = resolve(folder, get("reference"));
    c.prediction = resolve(folder, get("prediction"));
    if (c.reference.empty() || c.prediction.empty())
      throw Error(ExitCode::BadConfig, where + ": case '" + c.id + "' lacks a reference or prediction path");
    c.patient = get("patient_id");
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
  const int key = t.column("case_id");
  if (key < 0) throw Error(ExitCode::BadConfig, "attributes file '" + attributes_csv + "' has no column 'case_id'");
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
