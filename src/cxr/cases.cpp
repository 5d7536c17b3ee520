// The CXR case table: clinical features, adapters for the Hannover and ieee8023 tables, the manifest, imputation.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>
#include <set>
#include <sstream>

#include "data/csv.h"
#include "pulmo/cxr.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"

namespace fs = std::filesystem;

namespace pulmo::cxr {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper_copy(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// A number, or NaN for an empty field; "-inf" (the Hannover "below the lowest bin") gives -inf.
double number_or_nan(const std::string& s) {
  const std::string t = trim(s);
  if (t.empty()) return NAN;
  try {
    size_t used = 0;
    const double v = std::stod(t, &used);
    if (used != t.size()) return NAN;
    return v;
  } catch (...) {
    return NAN;
  }
}

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int column(const std::string& name, const std::string& path, bool required = true) const {
    for (size_t i = 0; i < header.size(); ++i)
      if (trim(header[i]) == name) return int(i);
    if (required) throw Error(ExitCode::BadConfig, "'" + path + "' has no column '" + name + "'");
    return -1;
  }
};

Table read_table(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ExitCode::NotFound, "'" + path + "' does not exist");
  auto rows = data::parse_csv(read_text_file(path));
  if (rows.empty()) throw Error(ExitCode::BadConfig, "'" + path + "' is empty");
  Table t;
  t.header = rows.front();
  t.rows.assign(rows.begin() + 1, rows.end());
  for (auto& r : t.rows) r.resize(t.header.size());
  return t;
}

const ClinicalFeature* find_feature(const std::string& name) {
  for (const auto& f : clinical_features())
    if (f.name == name) return &f;
  return nullptr;
}

std::string feature_names() {
  std::string s;
  for (const auto& f : clinical_features()) s += (s.empty() ? "" : ", ") + f.name;
  return s;
}

// One clinical value, checked. `code` is the exit code of a bad value (Usage on the command line, BadConfig in files).
double checked_value(const std::string& key_in, const std::string& value_in, ExitCode code) {
  const std::string key = lower(trim(key_in));
  const std::string value = trim(value_in);
  const ClinicalFeature* f = find_feature(key == "sex" ? "sex_male" : key);
  if (!f) throw Error(code, "unknown clinical input '" + key_in + "' (valid: " + feature_names() + ", sex)");
  if (f->name == "sex_male") {
    const std::string v = lower(value);
    if (v == "m" || v == "male" || v == "1") return 1;
    if (v == "f" || v == "w" || v == "female" || v == "0") return 0;
    if (v.empty()) return NAN;
    throw Error(code, "clinical input '" + key_in + "' = '" + value + "': sex must be F or M (or 0/1)");
  }
  if (value.empty() || lower(value) == "nan" || lower(value) == "na") return NAN;
  const double v = number_or_nan(value);
  if (std::isnan(v)) throw Error(code, "clinical input '" + key_in + "' = '" + value + "' is not a number");
  if (v < f->min || v > f->max) {
    std::ostringstream os;
    os << "clinical input '" << key_in << "' = " << value << " is out of range [" << f->min << ", " << f->max << "] "
       << f->unit;
    throw Error(code, os.str());
  }
  return v;
}

}  // namespace

const std::vector<ClinicalFeature>& clinical_features() {
  static const std::vector<ClinicalFeature> features = {
      {"age", "years", 0, 120},          {"sex_male", "0/1", 0, 1},           {"crp", "mg/l", 0, 1000},
      {"d_dimer", "mg/l", 0, 100},       {"ldh", "U/l", 0, 10000},           {"lymphocytes", "Tsd/ul", 0, 100},
      {"neutrophils", "Tsd/ul", 0, 200}, {"po2", "mmHg", 0, 800},            {"pco2", "mmHg", 0, 200},
      {"factor_xiii", "%", 0, 300},
  };
  return features;
}

std::map<std::string, double> parse_clinical(const std::vector<std::string>& key_values) {
  std::map<std::string, double> out;
  for (const std::string& kv : key_values) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) throw Error(ExitCode::Usage, "clinical input '" + kv + "' is not key=value");
    std::string key = lower(trim(kv.substr(0, eq)));
    const double v = checked_value(key, kv.substr(eq + 1), ExitCode::Usage);
    out[key == "sex" ? "sex_male" : key] = v;
  }
  return out;
}

std::map<std::string, double> read_clinical_file(const std::string& path) {
  const std::string text = read_text_file(path);
  std::map<std::string, double> out;
  const std::string ext = lower(fs::path(path).extension().string());
  if (ext == ".json") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
      throw Error(ExitCode::BadConfig, "'" + path + "' is not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw Error(ExitCode::BadConfig, "'" + path + "' must hold one JSON object of clinical values");
    for (const auto& [k, v] : j.items()) {
      const std::string value = v.is_null() ? "" : v.is_string() ? v.get<std::string>() : v.dump();
      try {
        const double x = checked_value(k, value, ExitCode::BadConfig);
        out[lower(k) == "sex" ? "sex_male" : lower(k)] = x;
      } catch (const Error& e) {
        throw e.with_context("'" + path + "'");
      }
    }
    return out;
  }
  auto rows = data::parse_csv(text);
  if (rows.size() != 2)
    throw Error(ExitCode::BadConfig, "'" + path + "' must be a CSV of a header and one row of clinical values (or JSON)");
  rows[1].resize(rows[0].size());
  for (size_t i = 0; i < rows[0].size(); ++i) {
    try {
      const double x = checked_value(rows[0][i], rows[1][i], ExitCode::BadConfig);
      out[lower(trim(rows[0][i])) == "sex" ? "sex_male" : lower(trim(rows[0][i]))] = x;
    } catch (const Error& e) {
      throw e.with_context("'" + path + "'");
    }
  }
  return out;
}

std::vector<CxrCase> hannover_cases(const std::string& folder, const HannoverOptions& o) {
  const std::string csv = (fs::path(folder) / "data.csv").string();
  const Table t = read_table(csv);
  const int c_patient = t.column("patient_id", csv), c_image = t.column("image_id", csv), c_sex = t.column("sex", csv);
  const int c_proj = t.column("projection", csv), c_icu = t.column("icu_admission_offset", csv);
  const int c_release = t.column("icu_release_offset", csv), c_death = t.column("death_offset", csv);
  const int c_age = t.column("age", csv, false);
  // Labs: value column, offset column (days from the image); only labs taken on or before the image day are used.
  const std::vector<std::pair<std::string, std::string>> labs = {
      {"crp", "crp"},       {"d_dimer", "d-dimer"}, {"ldh", "ldh"},   {"lymphocytes", "lymphocytes"},
      {"neutrophils", "neutrophils"}, {"po2", "po2"}, {"pco2", "pco2"}, {"factor_xiii", "factor_xii"}};
  std::vector<CxrCase> out;
  for (const auto& r : t.rows) {
    CxrCase c;
    c.case_id = "mhh:" + trim(r[c_image]);
    c.patient_id = "mhh:" + trim(r[c_patient]);
    c.source = "hannover";
    c.image = (fs::path(folder) / "png" / (trim(r[c_image]) + ".png")).string();
    const std::string sex = lower(trim(r[c_sex]));
    c.sex = sex == "m" ? "M" : (sex == "f" || sex == "w") ? "F" : "";
    c.view = frontal_view(r[c_proj]);
    if (!c.sex.empty()) c.clinical["sex_male"] = c.sex == "M" ? 1 : 0;
    if (c_age >= 0 && !std::isnan(number_or_nan(r[c_age]))) c.clinical["age"] = number_or_nan(r[c_age]);
    for (const auto& [name, column] : labs) {
      const int cv = t.column(column + "_val", csv, false), co = t.column(column + "_offset", csv, false);
      if (cv < 0) continue;
      double v = number_or_nan(r[cv]);
      const double off = co >= 0 ? number_or_nan(r[co]) : 0.0;
      if (std::isnan(v) || std::isnan(off) || off > 0) continue;
      const ClinicalFeature* f = find_feature(name);
      v = std::clamp(v, f->min, f->max);  // "-inf" = below the lowest bin
      c.clinical[name] = v;
    }
    const double icu = number_or_nan(r[c_icu]), release = number_or_nan(r[c_release]), death = number_or_nan(r[c_death]);
    (void)release;
    bool severe = false;
    if (!std::isnan(icu) && icu >= 0 && icu <= o.severe_within_days) severe = true;
    if (!std::isnan(death) && death >= 0 && death <= o.severe_within_days) severe = true;
    c.severe = severe ? 1 : 0;
    if (!std::isnan(icu) && icu <= 0) c.severe = o.exclude_from_icu_admission ? -1 : 1;
    out.push_back(std::move(c));
  }
  if (out.empty()) throw Error(ExitCode::NoData, "'" + csv + "' lists no images");
  return out;
}

std::vector<CxrCase> ieee8023_cases(const std::string& folder) {
  const std::string csv = (fs::path(folder) / "metadata.csv").string();
  const Table t = read_table(csv);
  const int c_patient = t.column("patientid", csv), c_file = t.column("filename", csv), c_view = t.column("view", csv);
  const int c_sex = t.column("sex", csv), c_age = t.column("age", csv), c_surv = t.column("survival", csv);
  const int c_icu = t.column("went_icu", csv), c_intub = t.column("intubated", csv);
  const int c_modality = t.column("modality", csv, false), c_folder = t.column("folder", csv, false);
  const int c_lym = t.column("lymphocyte_count", csv, false), c_neu = t.column("neutrophil_count", csv, false);
  std::vector<CxrCase> out;
  for (const auto& r : t.rows) {
    if (c_modality >= 0 && lower(trim(r[c_modality])) != "x-ray") continue;
    if (is_lateral_view(r[c_view]) || frontal_view(r[c_view]).empty()) continue;
    CxrCase c;
    const std::string file = trim(r[c_file]);
    c.case_id = "ieee:" + file;
    c.patient_id = "ieee:" + trim(r[c_patient]);
    c.source = "ieee8023";
    c.image = (fs::path(folder) / (c_folder >= 0 && !trim(r[c_folder]).empty() ? trim(r[c_folder]) : "images") / file).string();
    c.view = frontal_view(r[c_view]);
    const std::string sex = lower(trim(r[c_sex]));
    c.sex = sex == "m" ? "M" : sex == "f" ? "F" : "";
    if (!c.sex.empty()) c.clinical["sex_male"] = c.sex == "M" ? 1 : 0;
    const double age = number_or_nan(r[c_age]);
    if (!std::isnan(age) && age >= 0 && age <= 120) c.clinical["age"] = age;
    if (c_lym >= 0 && !std::isnan(number_or_nan(r[c_lym]))) c.clinical["lymphocytes"] = std::clamp(number_or_nan(r[c_lym]), 0.0, 100.0);
    if (c_neu >= 0 && !std::isnan(number_or_nan(r[c_neu]))) c.clinical["neutrophils"] = std::clamp(number_or_nan(r[c_neu]), 0.0, 200.0);
    const std::string surv = upper_copy(trim(r[c_surv])), icu = upper_copy(trim(r[c_icu])), intub = upper_copy(trim(r[c_intub]));
    if (surv == "N" || icu == "Y" || intub == "Y") c.severe = 1;
    else if (surv == "Y" && icu == "N" && intub == "N") c.severe = 0;
    else if (surv == "Y" && icu == "N" && intub.empty()) c.severe = 0;  // not in ICU: not intubated there
    else c.severe = -1;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<CxrCase> join_sources(const std::vector<CxrCase>& hannover, const std::vector<CxrCase>& ieee,
                                  int* merged_patients) {
  std::map<std::string, std::string> patient_of_stem;  // Hannover image id -> Hannover patient id
  for (const auto& c : hannover) patient_of_stem[fs::path(c.image).stem().string()] = c.patient_id;
  std::map<std::string, std::string> ieee_to_hannover;
  for (const auto& c : ieee) {
    auto it = patient_of_stem.find(fs::path(c.image).stem().string());
    if (it != patient_of_stem.end()) ieee_to_hannover[c.patient_id] = it->second;
  }
  std::vector<CxrCase> out = hannover;
  for (const auto& c : ieee) {
    if (patient_of_stem.count(fs::path(c.image).stem().string())) continue;  // the same image: a duplicate
    CxrCase copy = c;
    auto it = ieee_to_hannover.find(c.patient_id);
    if (it != ieee_to_hannover.end()) copy.patient_id = it->second;
    out.push_back(std::move(copy));
  }
  if (merged_patients) *merged_patients = int(ieee_to_hannover.size());
  return out;
}

std::string lung_mask_manifest_csv(const std::string& ieee8023, const std::string& hannover) {
  const std::vector<CxrCase> ieee = ieee8023_cases(ieee8023);
  const std::vector<CxrCase> h = hannover.empty() ? std::vector<CxrCase>{} : hannover_cases(hannover);
  // Patients as join_sources (which drops the ieee8023 copies of Hannover images; here those copies are the
  // ones that carry masks, so they are kept): the Hannover patient of each ieee8023 patient holding one.
  std::map<std::string, std::string> hannover_patient;  // ieee8023 patient id -> Hannover patient id
  {
    std::map<std::string, std::string> patient_of_stem;
    for (const auto& c : h) patient_of_stem[fs::path(c.image).stem().string()] = c.patient_id;
    for (const auto& c : ieee) {
      auto it = patient_of_stem.find(fs::path(c.image).stem().string());
      if (it != patient_of_stem.end()) hannover_patient[c.patient_id] = it->second;
    }
  }
  std::ostringstream os;
  os << "case_id,patient_id,dataset,image,lungs,convention\n";
  int n = 0;
  for (const auto& c : ieee) {
    const fs::path mask = fs::path(ieee8023) / "lung_masks_v7labs" / (fs::path(c.image).stem().string() + "_lungmask.png");
    std::error_code ec;
    if (!fs::exists(mask, ec)) continue;
    try {  // colour journal figures and the like are left out, as in training the prognosis model
      (void)read_xray(c.image);
    } catch (const Error& e) {
      if (e.code() != ExitCode::NotAChestXray && e.code() != ExitCode::BadDimension) throw e.with_context("case '" + c.case_id + "'");
      continue;
    }
    auto it = hannover_patient.find(c.patient_id);
    os << data::csv_field(c.case_id) << "," << data::csv_field(it == hannover_patient.end() ? c.patient_id : it->second)
       << ",v7labs," << data::csv_field(fs::absolute(c.image).lexically_normal().string()) << ","
       << data::csv_field(fs::absolute(mask).lexically_normal().string()) << ",binary\n";
    ++n;
  }
  if (n == 0) throw Error(ExitCode::NoData, "'" + ieee8023 + "' holds no frontal X-ray with a lung mask in lung_masks_v7labs/");
  return os.str();
}

std::string cxr_manifest_csv(const std::vector<CxrCase>& cases) {
  std::ostringstream os;
  os << "case_id,patient_id,source,image,severe,sex,view";
  for (const auto& f : clinical_features()) os << "," << f.name;
  os << "\n";
  os.precision(10);
  for (const auto& c : cases) {
    os << data::csv_field(c.case_id) << "," << data::csv_field(c.patient_id) << "," << data::csv_field(c.source) << ","
       << data::csv_field(c.image) << "," << (c.severe < 0 ? "" : std::to_string(c.severe)) << "," << c.sex << "," << c.view;
    for (const auto& f : clinical_features()) {
      os << ",";
      auto it = c.clinical.find(f.name);
      if (it != c.clinical.end() && !std::isnan(it->second)) os << it->second;
    }
    os << "\n";
  }
  return os.str();
}

std::vector<CxrCase> read_cxr_manifest(const std::string& path) {
  const Table t = read_table(path);
  const int c_case = t.column("case_id", path), c_image = t.column("image", path);
  const int c_patient = t.column("patient_id", path, false), c_source = t.column("source", path, false);
  const int c_severe = t.column("severe", path, false), c_sex = t.column("sex", path, false);
  const int c_view = t.column("view", path, false);
  const fs::path base = fs::path(path).parent_path();
  std::vector<CxrCase> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    const std::string where = "'" + path + "' row " + std::to_string(i + 2);
    CxrCase c;
    c.case_id = trim(r[c_case]);
    if (c.case_id.empty()) throw Error(ExitCode::BadConfig, where + ": empty case_id");
    if (!seen.insert(c.case_id).second) throw Error(ExitCode::BadConfig, where + ": duplicate case_id '" + c.case_id + "'");
    c.patient_id = c_patient >= 0 && !trim(r[c_patient]).empty() ? trim(r[c_patient]) : c.case_id;
    c.source = c_source >= 0 ? trim(r[c_source]) : "";
    fs::path image = trim(r[c_image]);
    c.image = image.is_absolute() || image.empty() ? image.string() : (base / image).string();
    if (c_severe >= 0) {
      const std::string s = trim(r[c_severe]);
      if (s == "1") c.severe = 1;
      else if (s == "0") c.severe = 0;
      else if (s.empty()) c.severe = -1;
      else throw Error(ExitCode::BadConfig, where + ": severe must be 0, 1 or empty, not '" + s + "'");
    }
    if (c_sex >= 0) {
      const std::string s = lower(trim(r[c_sex]));
      c.sex = s == "m" ? "M" : s == "f" ? "F" : "";
    }
    if (c_view >= 0) {
      if (is_lateral_view(r[c_view]))
        throw Error(ExitCode::NotAChestXray, where + ": case '" + c.case_id + "' is a lateral view");
      c.view = frontal_view(r[c_view]);
    }
    for (const auto& f : clinical_features()) {
      const int col = t.column(f.name, path, false);
      if (col < 0) continue;
      try {
        const double v = checked_value(f.name, r[col], ExitCode::BadConfig);
        if (!std::isnan(v)) c.clinical[f.name] = v;
      } catch (const Error& e) {
        throw e.with_context(where);
      }
    }
    if (!c.clinical.count("sex_male") && !c.sex.empty()) c.clinical["sex_male"] = c.sex == "M" ? 1 : 0;
    out.push_back(std::move(c));
  }
  if (out.empty()) throw Error(ExitCode::NoData, "'" + path + "' lists no cases");
  return out;
}

Imputer Imputer::fit(const std::vector<CxrCase>& cases, const std::vector<int>& rows) {
  Imputer im;
  for (const auto& f : clinical_features()) {
    double sum = 0, sum2 = 0;
    int n = 0;
    for (int i : rows) {
      auto it = cases[i].clinical.find(f.name);
      if (it == cases[i].clinical.end() || std::isnan(it->second)) continue;
      sum += it->second;
      sum2 += it->second * it->second;
      ++n;
    }
    const double mean = n ? sum / n : 0.0;
    const double var = n > 1 ? (sum2 - n * mean * mean) / (n - 1) : 0.0;
    im.names.push_back(f.name);
    im.mean.push_back(mean);
    im.sd.push_back(var > 1e-12 ? std::sqrt(var) : 1.0);
  }
  return im;
}

std::vector<float> Imputer::transform(const std::map<std::string, double>& clinical) const {
  std::vector<float> out(names.size() * 2, 0.0f);
  for (size_t k = 0; k < names.size(); ++k) {
    auto it = clinical.find(names[k]);
    if (it == clinical.end() || std::isnan(it->second)) {
      out[names.size() + k] = 1.0f;
    } else {
      out[k] = float((it->second - mean[k]) / sd[k]);
    }
  }
  return out;
}

}  // namespace pulmo::cxr
