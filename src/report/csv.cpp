// report.csv: one flat row per case (docs/report.md). Columns: the case, then per region (right, left,
// total) volumes, involvement, scores, densitometry.
#include <cmath>
#include <cstdio>

#include "data/csv.h"
#include "pulmo/fileutil.h"
#include "pulmo/report.h"

namespace pulmo {
namespace {

using data::csv_field;

const char* const kRegionNames[3] = {"right", "left", "total"};

// "%g" with 10 significant digits; empty for NaN and infinities.
std::string number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string percent_label(double p) {  // 50 -> "p50", 2.5 -> "p2.5"
  char buf[32];
  std::snprintf(buf, sizeof buf, "p%g", p);
  return buf;
}

const char* const kCaseColumns[] = {"case_id", "input_path", "input_format", "lung_method", "tta", "mc_dropout_passes",
                                    "lesion_types_known", "pulmo_version", "created_utc", "warnings"};
const char* const kRegionColumns[] = {"lung_ml", "lesion_ml", "ground_glass_ml", "consolidation_ml", "involved_percent",
                                      "involved_percent_sd", "severity_score", "mosmed_category", "mean_hu", "sd_hu"};

void append(std::string& line, const std::string& field) { line += (line.empty() ? "" : ",") + csv_field(field); }

}  // namespace

std::string report_csv_header(const QuantifyOptions& options) {
  std::string line;
  for (const char* c : kCaseColumns) append(line, c);
  for (const char* region : kRegionNames) {
    for (const char* c : kRegionColumns) append(line, std::string(region) + "_" + c);
    for (double p : options.percentiles) append(line, std::string(region) + "_" + percent_label(p) + "_hu");
    for (const HuBand& b : options.bands) append(line, std::string(region) + "_" + b.name + "_percent");
  }
  return line;
}

std::string report_csv_row(const Quantification& q, const ReportMeta& m) {
  std::string warnings;
  for (const std::string& w : m.warnings) warnings += (warnings.empty() ? "" : "; ") + w;
  std::string line;
  for (const std::string& f : {m.case_id, m.input_path, m.input_format, m.lung_method, std::string(m.tta ? "1" : "0"),
                               std::to_string(m.mc_dropout_passes), std::string(q.lesion_types_known ? "1" : "0"),
                               m.pulmo_version, m.created_utc, warnings})
    append(line, f);
  for (const RegionQuantification& r : q.regions) {
    const double nan = std::nan("");
    const bool les = q.lesions_computed, typed_ok = les && q.lesion_types_known;
    const double typed[2] = {typed_ok ? r.ground_glass_ml : nan, typed_ok ? r.consolidation_ml : nan};
    for (double v : {r.lung_ml, les ? r.lesion_ml : nan, typed[0], typed[1], les ? r.involved_percent : nan,
                     r.involved_percent_sd < 0 || !les ? nan : r.involved_percent_sd})
      append(line, number(v));
    append(line, les ? std::to_string(r.severity_score) : "");
    append(line, les ? std::to_string(mosmed_category(r.involved_percent)) : "");
    auto density = [&r, nan](double v) { return number(r.lung_voxels == 0 ? nan : v); };  // empty lung: no densitometry
    append(line, density(r.density.mean_hu));
    append(line, density(r.density.std_hu));
    for (const auto& p : r.density.percentiles) append(line, density(p.second));
    for (const auto& b : r.density.band_percent) append(line, density(b.second));
  }
  return line;
}

void write_report_csv(const std::string& path, const Quantification& q, const ReportMeta& meta) {
  QuantifyOptions columns;
  columns.bands = q.bands;
  columns.percentiles.clear();
  for (const auto& p : q.regions[kTotal].density.percentiles) columns.percentiles.push_back(p.first);
  write_text_atomic(path, report_csv_header(columns) + "\n" + report_csv_row(q, meta) + "\n");
}

}  // namespace pulmo
