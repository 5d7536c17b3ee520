// report.json: every number of the quantification with the run's metadata (docs/report.md).
#include <ctime>

#include <nlohmann/json.hpp>

#include "core/json_number.h"
#include "pulmo/fileutil.h"
#include "pulmo/report.h"

namespace pulmo {

const char* const kResearchDisclaimer =
    "Research tool, not a medical device: these figures are not a diagnosis and must not guide the care of a patient.";

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

namespace {

using json = nlohmann::ordered_json;  // keys in the order written: case first, then numbers

json number(double v) { return json_number<json>(v); }

json numbers(const Vec3& v) { return json::array({number(v[0]), number(v[1]), number(v[2])}); }

json geometry_json(const Geometry& g) {
  json direction = json::array();
  for (double d : g.direction) direction.push_back(number(d));
  return {{"size", {g.size[0], g.size[1], g.size[2]}},
          {"spacing_mm", numbers(g.spacing_mm)},
          {"origin_mm", numbers(g.origin_mm)},
          {"direction", direction},
          {"orientation", g.orientation_code()}};
}

// An empty region has no densitometry: its figures (0 in Densitometry) are written as null.
json densitometry_json(const Densitometry& d, bool empty) {
  auto value = [empty](double v) { return empty ? json(nullptr) : number(v); };
  json percentiles = json::array(), bands = json::object();
  for (const auto& [percent, hu] : d.percentiles) percentiles.push_back({{"percent", number(percent)}, {"hu", value(hu)}});
  for (const auto& [name, percent] : d.band_percent) bands[name] = value(percent);
  return {{"mean_hu", value(d.mean_hu)},
          {"std_hu", value(d.std_hu)},
          {"percentiles_hu", percentiles},
          {"band_percent_of_lung", bands}};
}

json region_json(const RegionQuantification& r, bool types_known, bool lesions) {
  auto typed = [types_known, lesions](double ml) { return types_known && lesions ? number(ml) : json(nullptr); };
  auto lesion = [lesions](const json& v) { return lesions ? v : json(nullptr); };
  return {{"lung_voxels", r.lung_voxels},
          {"lung_ml", number(r.lung_ml)},
          {"lesion_ml", lesion(number(r.lesion_ml))},
          {"ground_glass_ml", typed(r.ground_glass_ml)},
          {"consolidation_ml", typed(r.consolidation_ml)},
          {"involved_percent", lesion(number(r.involved_percent))},
          {"involved_percent_sd", r.involved_percent_sd < 0 ? json(nullptr) : lesion(number(r.involved_percent_sd))},
          {"severity_score", lesion(r.severity_score)},
          {"mosmed_category", lesion(mosmed_category(r.involved_percent))},
          {"densitometry", densitometry_json(r.density, r.lung_voxels == 0)}};
}

json meta_json(const ReportMeta& m) {
  json models = json::array(), timings = json::array();
  for (const ReportModel& x : m.models)
    models.push_back({{"stage", x.stage}, {"name", x.name}, {"task", x.task}, {"folder", x.folder},
                      {"format_version", x.format_version}, {"weights_sha256", x.weights_sha256}});
  for (const StageTime& t : m.timings) timings.push_back({{"stage", t.name}, {"seconds", number(t.seconds)}});
  return {{"case_id", m.case_id},
          {"created_utc", m.created_utc},
          {"pulmo_version", m.pulmo_version},
          {"disclaimer", kResearchDisclaimer},
          {"input", {{"path", m.input_path}, {"format", m.input_format}, {"geometry", geometry_json(m.input_geometry)}}},
          {"lung_method", m.lung_method},
          {"models", models},
          {"options", {{"tta", m.tta}, {"mc_dropout_passes", m.mc_dropout_passes}, {"precision", m.precision}}},
          {"lung_box", m.has_lung_box ? json{{"lps_min_mm", numbers({m.lung_box_mm[0], m.lung_box_mm[1], m.lung_box_mm[2]})},
                                             {"lps_max_mm", numbers({m.lung_box_mm[3], m.lung_box_mm[4], m.lung_box_mm[5]})}}
                                      : json(nullptr)},
          {"timings", timings},
          {"warnings", m.warnings}};
}

}  // namespace

std::string report_json(const Quantification& q, const ReportMeta& meta) {
  json j = meta_json(meta);
  j["definitions"] = {
      {"involved_percent", "lesion volume / lung volume * 100; lesion voxels outside the lungs are not counted"},
      {"severity_score", "1: < 5 %, 2: 5-25 %, 3: 25-50 %, 4: 50-75 %, 5: >= 75 % involved (LungQuant)"},
      {"mosmed_category", "0: no involvement, 1: < 25 %, 2: 25-50 %, 3: 50-75 %, 4: >= 75 % (MosMedData CT-0..CT-4)"},
      {"hu_bands", "share of the lung volume (lesions included) with HU in [lo_hu, hi_hu); null bound = unbounded"},
      {"slices", "per slice along the third index axis; position_mm along the slice normal oriented towards L, P or S"}};
  json bands = json::array();
  for (const HuBand& b : q.bands) bands.push_back({{"name", b.name}, {"lo_hu", number(b.lo)}, {"hi_hu", number(b.hi)}});
  j["hu_bands"] = bands;
  j["lesion_types_known"] = q.lesion_types_known;
  j["lesions_computed"] = q.lesions_computed;
  json regions = json::object();
  for (const RegionQuantification& r : q.regions) regions[r.name] = region_json(r, q.lesion_types_known, q.lesions_computed);
  j["regions"] = regions;
  json slices = json::array();
  for (const SliceInvolvement& s : q.slices)
    slices.push_back({{"index", s.index}, {"position_mm", number(s.position_mm)},
                      {"lung_ml", number(s.lung_ml)}, {"lesion_ml", number(s.lesion_ml)}});
  j["slices"] = slices;
  return j.dump(2) + "\n";
}

void write_report_json(const std::string& path, const Quantification& q, const ReportMeta& meta) {
  write_text_atomic(path, report_json(q, meta));
}

}  // namespace pulmo
