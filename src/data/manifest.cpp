// Manifests: CSV or JSON lists of cases, paths resolved relative to the manifest's folder.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "data/csv.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"

namespace fs = std::filesystem;

namespace pulmo {

namespace {

const char* const kColumns[] = {"case_id", "patient_id", "dataset", "image", "lungs", "lesions", "convention"};

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::string resolve(const fs::path& folder, const std::string& p) {
  if (p.empty()) return p;
  const fs::path path(p);
  return path.is_absolute() ? path.lexically_normal().string() : (folder / path).lexically_normal().string();
}

void set_field(Case& c, const std::string& key, const std::string& value, const fs::path& folder) {
  if (key == "case_id") c.case_id = value;
  else if (key == "patient_id") c.patient_id = value;
  else if (key == "dataset") c.dataset = value;
  else if (key == "image") c.image = resolve(folder, value);
  else if (key == "lungs") c.lungs = resolve(folder, value);
  else if (key == "lesions") c.lesions = value == kLesionFree ? value : resolve(folder, value);
  else if (key == "convention") c.convention = value;
  else if (!value.empty()) c.attributes[key] = value;
}

Manifest parse_csv_manifest(const std::string& text, const fs::path& folder) {
  std::vector<int> lines;
  const bool bom = text.compare(0, 3, "\xEF\xBB\xBF") == 0;  // spreadsheet programs write a UTF-8 byte-order mark
  const auto rows = data::parse_csv(bom ? text.substr(3) : text, &lines);
  if (rows.empty()) throw Error(ExitCode::BadConfig, "manifest is empty (expected a header row: case_id,patient_id,image,...)");
  std::vector<std::string> header;
  for (const auto& h : rows[0]) header.push_back(trim(h));
  for (const char* need : {"case_id", "image"})
    if (std::find(header.begin(), header.end(), need) == header.end())
      throw Error(ExitCode::BadConfig, std::string("manifest header has no '") + need + "' column (line " +
                                           std::to_string(lines[0]) + "); columns: case_id,patient_id,dataset,image,lungs,lesions,convention,<attributes>");
  Manifest m;
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].size() != header.size())
      throw Error(ExitCode::BadConfig, "manifest line " + std::to_string(lines[r]) + " has " + std::to_string(rows[r].size()) +
                                           " fields, the header has " + std::to_string(header.size()));
    Case c;
    for (size_t k = 0; k < header.size(); ++k) set_field(c, header[k], trim(rows[r][k]), folder);
    m.cases.push_back(c);
  }
  return m;
}

std::string json_scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

Manifest parse_json_manifest(const std::string& text, const fs::path& folder) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ExitCode::BadConfig, std::string("manifest is not valid JSON: ") + e.what());
  }
  const nlohmann::json& cases = j.is_object() && j.contains("cases") ? j["cases"] : j;
  if (!cases.is_array()) throw Error(ExitCode::BadConfig, "JSON manifest must be an array of cases or {\"cases\": [...]}");
  Manifest m;
  for (size_t i = 0; i < cases.size(); ++i) {
    if (!cases[i].is_object()) throw Error(ExitCode::BadConfig, "JSON manifest: case " + std::to_string(i) + " is not an object");
    Case c;
    for (const auto& [key, value] : cases[i].items()) {
      if (key == "attributes" && value.is_object()) {
        for (const auto& [k, v] : value.items()) c.attributes[k] = json_scalar(v);
      } else {
        set_field(c, key, json_scalar(value), folder);
      }
    }
    m.cases.push_back(c);
  }
  return m;
}

}  // namespace

Manifest read_manifest(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(ExitCode::NotFound, "manifest '" + path + "' does not exist");
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) throw Error(ExitCode::NotFound, "manifest '" + path + "' cannot be read");
  const fs::path folder = fs::absolute(fs::path(path)).parent_path();
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  try {
    Manifest m = ext == ".json" ? parse_json_manifest(ss.str(), folder) : parse_csv_manifest(ss.str(), folder);
    m.path = path;
    return m;
  } catch (const Error& e) {
    throw e.with_context("reading manifest '" + path + "'");
  }
}

std::string manifest_csv(const Manifest& manifest, const std::string& folder) {
  std::set<std::string> attribute_keys;
  for (const Case& c : manifest.cases)
    for (const auto& kv : c.attributes) attribute_keys.insert(kv.first);
  std::string out;
  for (const char* col : kColumns) out += std::string(out.empty() ? "" : ",") + col;
  for (const auto& k : attribute_keys) out += "," + data::csv_field(k);
  out += "\n";
  const fs::path base = fs::absolute(fs::path(folder)).lexically_normal();
  auto rel = [&](const std::string& p) {
    if (p.empty() || p == kLesionFree) return p;
    const fs::path r = fs::absolute(fs::path(p)).lexically_normal().lexically_relative(base);
    return r.empty() ? p : r.string();
  };
  for (const Case& c : manifest.cases) {
    out += data::csv_field(c.case_id) + "," + data::csv_field(c.patient_id) + "," + data::csv_field(c.dataset) + "," +
           data::csv_field(rel(c.image)) + "," + data::csv_field(rel(c.lungs)) + "," + data::csv_field(rel(c.lesions)) + "," +
           data::csv_field(c.convention);
    for (const auto& k : attribute_keys) {
      const auto it = c.attributes.find(k);
      out += "," + data::csv_field(it == c.attributes.end() ? "" : it->second);
    }
    out += "\n";
  }
  return out;
}

}  // namespace pulmo
