// report.html: one self-contained page - tables, overlay pictures as base64 PNG, the per-slice curve as SVG.
#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "eval/tables.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/report.h"
#include "report/html_parts.h"
#include "report/render.h"
#include "report/viewer.h"

namespace pulmo {
namespace {

using eval_detail::html_escape;
using report_detail::base64;
using report_detail::fixed;
using report_detail::RenderOptions;
using report_detail::table_row;

std::string css(draw::Rgb c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

std::string img(const draw::Canvas& c, const std::string& alt) {
  return "<img width=\"" + std::to_string(c.width()) + "\" height=\"" + std::to_string(c.height()) + "\" alt=\"" +
         html_escape(alt) + "\" src=\"data:image/png;base64," + base64(draw::encode_png(c)) + "\">";
}

const char* region_title(int r) { return r == kRight ? "Right lung" : r == kLeft ? "Left lung" : "Both lungs"; }

std::string summary_table(const Quantification& q) {
  std::string t = "<table>\n" + table_row({"", "Lung (mL)", "Lesions (mL)", "Ground-glass (mL)", "Consolidation (mL)",
                                     "Involved (%)", "Severity score (1-5)", "MosMed category"}, "th");
  for (int r = 0; r < 3; ++r) {
    const RegionQuantification& x = q.regions[r];
    const bool les = q.lesions_computed;
    const std::string not_computed = "not computed";
    std::string involved = les ? fixed(x.involved_percent, 1) : not_computed;
    if (les && x.involved_percent_sd >= 0) involved += " &plusmn; " + fixed(x.involved_percent_sd, 1);
    const std::string ggo = !les ? not_computed : q.lesion_types_known ? fixed(x.ground_glass_ml, 1) : "n/a";
    const std::string cons = !les ? not_computed : q.lesion_types_known ? fixed(x.consolidation_ml, 1) : "n/a";
    t += table_row({region_title(r), fixed(x.lung_ml, 1), les ? fixed(x.lesion_ml, 1) : not_computed, ggo, cons, involved,
                    les ? std::to_string(x.severity_score) : not_computed,
                    les ? "CT-" + std::to_string(mosmed_category(x.involved_percent)) : not_computed});
  }
  t += "</table>\n<p class=\"note\">Involved = lesion volume / lung volume &times; 100 (lesions inside the lungs only). "
       "Severity score (LungQuant): 1 &lt; 5 %, 2: 5&ndash;25 %, 3: 25&ndash;50 %, 4: 50&ndash;75 %, 5: &ge; 75 % "
       "involved. MosMed category: CT-0 no involvement, CT-1 &lt; 25 %, CT-2 25&ndash;50 %, CT-3 50&ndash;75 %, "
       "CT-4 &ge; 75 %.";
  if (!q.lesion_types_known) t += " The lesion model does not separate ground-glass from consolidation.";
  if (!q.lesions_computed) t += " Lesions were not segmented in this run (--no-lesions): lungs and densitometry only.";
  return t + "</p>\n";
}

// "well_aerated" -> "Well-aerated", "ground_glass_range" -> "Ground-glass range".
std::string band_title(const std::string& name) {
  std::string t = name;
  for (char& c : t)
    if (c == '_') c = ' ';
  for (const char* hyphenated : {"ground glass", "well aerated", "emphysema like"}) {
    const size_t at = t.find(hyphenated);
    if (at != std::string::npos) t[at + std::string(hyphenated).find(' ')] = '-';
  }
  if (!t.empty()) t[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(t[0])));
  return t;
}

std::string band_range(const HuBand& b) {
  if (!std::isfinite(b.lo)) return "&lt; " + fixed(b.hi, 0);
  if (!std::isfinite(b.hi)) return "&ge; " + fixed(b.lo, 0);
  return fixed(b.lo, 0) + " to &lt; " + fixed(b.hi, 0);
}

std::string density_table(const Quantification& q) {
  std::vector<std::string> head{"", "Mean (HU)", "SD (HU)"};
  for (const auto& p : q.regions[kTotal].density.percentiles) head.push_back("P" + fixed(p.first, 0) + " (HU)");
  for (const HuBand& b : q.bands) head.push_back(html_escape(band_title(b.name)) + "<br><small>" + band_range(b) + " HU</small> (%)");
  std::string t = "<table>\n" + table_row(head, "th");
  for (int r = 0; r < 3; ++r) {
    const RegionQuantification& x = q.regions[r];
    const bool empty = x.lung_voxels == 0;
    std::vector<std::string> cells{region_title(r), empty ? "n/a" : fixed(x.density.mean_hu, 0),
                                   empty ? "n/a" : fixed(x.density.std_hu, 0)};
    for (const auto& p : x.density.percentiles) cells.push_back(empty ? "n/a" : fixed(p.second, 0));
    for (const auto& b : x.density.band_percent) cells.push_back(empty ? "n/a" : fixed(b.second, 1));
    t += table_row(cells);
  }
  return t + "</table>\n<p class=\"note\">HU statistics of every lung voxel, lesions included. Band columns: share of "
             "the lung volume with HU in the band [lower, upper). Percentiles interpolate linearly between voxels.</p>\n";
}

// Storage indices of five axial levels spread over the lungs (10 % to 90 % of their extent), superior first.
std::vector<int64_t> axial_levels(const Volume& lungs) {
  const Geometry& g = lungs.geometry;
  const int axis = slice_axis(g, Plane::Axial);
  const std::vector<int64_t> counts = report_detail::label_counts_along(lungs, axis);
  int64_t first = 0, last = int64_t(counts.size()) - 1;
  while (first < last && counts[first] == 0) ++first;
  while (last > first && counts[last] == 0) --last;
  if (counts[first] == 0) first = 0, last = int64_t(counts.size()) - 1;  // no lungs: the whole volume
  const bool index_goes_up = report_detail::match_axes(g).sign[2] > 0;  // towards superior
  const int64_t superior = index_goes_up ? last : first, inferior = index_goes_up ? first : last;
  std::vector<int64_t> levels;
  for (double f : {0.1, 0.3, 0.5, 0.7, 0.9}) {
    const auto k = static_cast<int64_t>(std::lround(superior + f * double(inferior - superior)));
    if (levels.empty() || levels.back() != k) levels.push_back(k);
  }
  return levels;
}

// The coronal slice with the most lung voxels.
int64_t coronal_level(const Volume& lungs) {
  const std::vector<int64_t> counts = report_detail::label_counts_along(lungs, slice_axis(lungs.geometry, Plane::Coronal));
  const auto best = std::max_element(counts.begin(), counts.end());
  return *best > 0 ? best - counts.begin() : int64_t(counts.size()) / 2;
}

// "z = -123.5 mm": the slice's coordinate along the patient axis of the plane's normal.
std::string slice_position(const Geometry& g, Plane plane, int64_t k) {
  const int lps = plane == Plane::Axial ? 2 : plane == Plane::Coronal ? 1 : 0;
  Vec3 index{0, 0, 0};
  index[slice_axis(g, plane)] = double(k);
  return std::string(lps == 2 ? "z" : lps == 1 ? "y" : "x") + " = " + fixed(g.index_to_physical(index)[lps], 1) + " mm";
}

std::string figure(const draw::Canvas& c, const std::string& caption) {
  return "<figure>" + img(c, caption) + "<figcaption>" + caption + "</figcaption></figure>\n";
}

std::string images(const Volume& ct_any, const Volume& lungs_any, const Volume& lesions_any, const Quantification& q) {
  // Converted once (no copy when already float / uint8), not once per picture.
  const Volume ct = ct_any.with_voxels(ct_any.voxels.to(at::kFloat).contiguous());
  const Volume lungs = lungs_any.with_voxels(lungs_any.voxels.to(at::kByte).contiguous());
  const Volume lesions = lesions_any.voxels.defined()
                             ? lesions_any.with_voxels(lesions_any.voxels.to(at::kByte).contiguous()) : Volume{};
  const Geometry& g = ct.geometry;
  RenderOptions axial;  // the page has one legend above the pictures
  axial.target_px = 360;
  axial.legend = false;
  axial.lesion_types_known = q.lesion_types_known;
  std::string s = "<div class=\"figures\">\n";
  const bool curve_is_axial = slice_axis(g, Plane::Axial) == 2 && q.slices.size() == size_t(g.size[2]);
  for (int64_t k : axial_levels(lungs)) {
    std::string caption = "Axial slice " + std::to_string(k) + ", " + slice_position(g, Plane::Axial, k) + " (LPS)";
    if (curve_is_axial && q.slices[k].lung_ml > 0)
      caption += "<br>lesions " + fixed(100.0 * q.slices[k].lesion_ml / q.slices[k].lung_ml, 1) + " % of the lung in this slice";
    s += figure(report_detail::render_slice(ct, lungs, lesions, Plane::Axial, k, axial), caption);
  }
  const int64_t c = coronal_level(lungs);
  RenderOptions coronal;
  coronal.target_px = 480;
  coronal.legend = false;
  coronal.lesion_types_known = q.lesion_types_known;
  s += figure(report_detail::render_slice(ct, lungs, lesions, Plane::Coronal, c, coronal),
              "Coronal slice " + std::to_string(c) + ", " + slice_position(g, Plane::Coronal, c) + " (LPS)");
  return s + "</div>\n";
}

std::string legend(bool lesion_types_known) {
  auto item = [](draw::Rgb c, bool filled, const char* text) {
    return "<span class=\"key\"><span class=\"swatch\" style=\"" +
           (filled ? "background:" + css(c) : "border:2px solid " + css(c)) + "\"></span>" + text + "</span>";
  };
  return "<p class=\"legend\">" + item(report_detail::kRightLungColour, false, "right lung (outline)") +
         item(report_detail::kLeftLungColour, false, "left lung (outline)") +
         (lesion_types_known ? item(report_detail::kGroundGlassColour, true, "ground-glass") +
                                   item(report_detail::kConsolidationColour, true, "consolidation")
                             : item(report_detail::kLesionColour, true, "lesion (types not separated)")) +
         " CT in lung window W 1500 / L &minus;600 HU. Radiological convention: the patient's right is on the "
         "viewer's left; axial anterior at the top, coronal superior at the top.</p>\n";
}

}  // namespace

void write_report_html(const std::string& path, const Volume& ct, const Volume& lungs, const Volume& lesions,
                       const Quantification& q, const ReportMeta& meta) {
  if (!lungs.voxels.defined() || !lungs.geometry.same_grid_as(ct.geometry))
    throw Error(ExitCode::Mismatch, "report: the lung label map is missing or not on the CT's grid");
  std::ostringstream o;
  const std::string title = "pulmo report" + (meta.case_id.empty() ? "" : " - " + meta.case_id);
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << html_escape(title) << "</title>\n"
    << "<style>body{font-family:sans-serif;margin:1.5em;max-width:1250px;color:#222}"
    << "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
    << "th{background:#eee}td:first-child{text-align:left;font-weight:bold}.text td{text-align:left}.note{font-size:90%;color:#444}"
    << ".figures{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0}figcaption{font-size:90%;max-width:400px}"
    << ".disclaimer{border:2px solid #c60;background:#fff4e5;padding:6px 10px;font-weight:bold}"
    << ".legend .key{margin-right:1.5em;white-space:nowrap}.swatch{display:inline-block;width:14px;height:14px;"
    << "margin-right:5px;vertical-align:middle;box-sizing:border-box}code{word-break:break-all}"
    << ".viewer-controls label{margin-right:1.2em;white-space:nowrap}.viewer-controls input{vertical-align:middle}"
    << ".viewer-canvas{width:100%;height:420px;background:#000}@media print{#pulmo-viewer,.viewer-heading{display:none}}"
    << "</style></head><body>\n"
    << "<h1>" << html_escape(title) << "</h1>\n"
    << "<p>Case <b>" << html_escape(meta.case_id.empty() ? "(none)" : meta.case_id) << "</b> &middot; created "
    << html_escape(meta.created_utc) << " (UTC) &middot; pulmo " << html_escape(meta.pulmo_version) << "<br>Input <code>"
    << html_escape(meta.input_path) << "</code> (" << html_escape(meta.input_format) << "): "
    << html_escape(meta.input_geometry.describe()) << "<br>Lungs segmented by: " << html_escape(meta.lung_method) << "</p>\n"
    << "<p class=\"disclaimer\">" << kResearchDisclaimer << "</p>\n"
    << "<h2>Lung involvement</h2>\n" << summary_table(q)
    << "<h2>Densitometry</h2>\n" << density_table(q)
    << "<h2 class=\"viewer-heading\">Interactive viewer</h2>\n"
    << (meta.viewer ? report_detail::viewer_section(path, ct, lungs, lesions, q.lesion_types_known)
                    : std::string("<p class=\"note\" id=\"pulmo-viewer-left-out\">The interactive viewer was left out "
                                  "of this report (<code>pulmo quantify --no-viewer</code>), which keeps the page small; "
                                  "the pictures below show the same overlays.</p>\n"))
    << "<h2>Images</h2>\n" << legend(q.lesion_types_known) << images(ct, lungs, lesions, q)
    << "<h2>Involvement per slice</h2>\n" << report_detail::involvement_curve_svg(q, ct.geometry)
    << report_detail::run_section(meta)
    << "<p class=\"disclaimer\">" << kResearchDisclaimer << "</p>\n</body></html>\n";
  write_text_atomic(path, o.str());
}

}  // namespace pulmo
