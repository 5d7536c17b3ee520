#include "report/html_parts.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "eval/tables.h"

namespace pulmo::report_detail {

using eval_detail::html_escape;

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string base64(const std::string& bytes) {
  static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::string table_row(const std::vector<std::string>& cells, const char* tag) {
  std::string r = "<tr>";
  for (const std::string& c : cells) r += std::string("<") + tag + ">" + c + "</" + tag + ">";
  return r + "</tr>\n";
}

namespace {

// Names of the slice normal's ends: position_mm grows towards L, P or S (quantify.h).
struct NormalNames {
  const char *high, *low, *coordinate;
};
NormalNames normal_names(const Geometry& g) {
  const Vec3 n = g.axis_direction(2);
  int a = 0;
  for (int i = 1; i < 3; ++i)
    if (std::abs(n[i]) > std::abs(n[a])) a = i;
  if (a == 2) return {"superior", "inferior", "LPS z"};
  if (a == 1) return {"posterior", "anterior", "LPS y"};
  return {"left", "right", "LPS x"};
}

std::string svg_text(double x, double y, const std::string& text, const char* anchor = "middle", const char* extra = "") {
  return "<text x=\"" + fixed(x, 1) + "\" y=\"" + fixed(y, 1) + "\" text-anchor=\"" + anchor + "\" " + extra + ">" +
         text + "</text>\n";
}

std::string svg_line(double x0, double y0, double x1, double y1, const char* style) {
  return "<line x1=\"" + fixed(x0, 1) + "\" y1=\"" + fixed(y0, 1) + "\" x2=\"" + fixed(x1, 1) + "\" y2=\"" + fixed(y1, 1) +
         "\" style=\"" + style + "\"/>\n";
}

}  // namespace

std::string involvement_curve_svg(const Quantification& q, const Geometry& g) {
  std::vector<std::pair<double, double>> points;  // (lesion % of the slice's lung, position mm)
  for (const SliceInvolvement& s : q.slices)
    if (s.lung_ml > 0) points.emplace_back(100.0 * s.lesion_ml / s.lung_ml, s.position_mm);
  if (points.empty()) return "<p>No slice contains lung.</p>\n";
  const NormalNames names = normal_names(g);
  double xmax = 10, ymin = points[0].second, ymax = ymin;
  for (const auto& [x, y] : points) {
    xmax = std::max(xmax, std::min(100.0, std::ceil(x / 10) * 10));
    ymin = std::min(ymin, y), ymax = std::max(ymax, y);
  }
  if (ymax - ymin < 1) ymin -= 1, ymax += 1;
  const double w = 640, h = 460, left = 90, right = w - 30, top = 40, bottom = h - 60;
  auto px = [&](double x) { return left + (right - left) * x / xmax; };
  auto py = [&](double y) { return top + (bottom - top) * (ymax - y) / (ymax - ymin); };  // larger position on top
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fixed(w, 0) + "\" height=\"" + fixed(h, 0) +
                  "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  for (int i = 0; i <= 5; ++i) {
    const double xv = xmax * i / 5, yv = ymin + (ymax - ymin) * i / 5;
    s += svg_line(px(xv), top, px(xv), bottom, "stroke:#ddd");
    s += svg_line(left, py(yv), right, py(yv), "stroke:#ddd");
    s += svg_text(px(xv), bottom + 16, fixed(xv, 0));
    s += svg_text(left - 6, py(yv) + 4, fixed(yv, 0), "end");
  }
  s += svg_line(left, top, left, bottom, "stroke:#000");
  s += svg_line(left, bottom, right, bottom, "stroke:#000");
  std::string poly;
  for (const auto& [x, y] : points) poly += fixed(px(x), 1) + "," + fixed(py(y), 1) + " ";
  s += "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"" + poly + "\"/>\n";
  const double total = q.regions[kTotal].involved_percent;
  s += svg_line(px(std::min(total, xmax)), top, px(std::min(total, xmax)), bottom, "stroke:#555;stroke-dasharray:5,4");
  s += svg_text(px(std::min(total, xmax)) + 4, top - 6, "both lungs " + fixed(total, 1) + " %", "start");
  s += svg_text((left + right) / 2, h - 18, "lesion volume / lung volume in the slice (%)");
  s += svg_text(14, (top + bottom) / 2, std::string("slice position, ") + names.coordinate + " (mm)", "middle",
                ("transform=\"rotate(-90 14 " + fixed((top + bottom) / 2, 1) + ")\"").c_str());
  s += svg_text(left + 6, top + 14, std::string("&#8593; ") + names.high, "start", "font-weight=\"bold\"");
  s += svg_text(left + 6, bottom - 8, std::string("&#8595; ") + names.low, "start", "font-weight=\"bold\"");
  return s + "</svg>\n<p class=\"note\">One point per slice containing lung; the dashed line is the involvement of "
             "both lungs.</p>\n";
}

std::string run_section(const ReportMeta& m) {
  std::string s = "<h2>Run</h2>\n";
  if (m.models.empty()) {
    s += "<p>No network was used.</p>\n";
  } else {
    s += "<table class=\"text\">\n" + table_row({"Stage", "Model", "Task", "Folder", "Format version", "Weights SHA-256"}, "th");
    for (const ReportModel& x : m.models)
      s += table_row({html_escape(x.stage), html_escape(x.name), html_escape(x.task), "<code>" + html_escape(x.folder) + "</code>",
                      std::to_string(x.format_version), "<code>" + html_escape(x.weights_sha256) + "</code>"});
    s += "</table>\n";
  }
  s += "<p>Lung segmentation: " + html_escape(m.lung_method) + " &middot; test-time augmentation: " +
       (m.tta ? "on" : "off") + " &middot; MC-dropout passes: " +
       (m.mc_dropout_passes > 0 ? std::to_string(m.mc_dropout_passes) : std::string("off")) +
       " &middot; precision: " + html_escape(m.precision) + "</p>\n";
  if (!m.timings.empty()) {
    double total = 0;
    s += "<table>\n" + table_row({"Stage", "Time (s)"}, "th");
    for (const StageTime& t : m.timings) {
      s += table_row({html_escape(t.name), fixed(t.seconds, 2)});
      total += t.seconds;
    }
    s += table_row({"Total", fixed(total, 2)}) + "</table>\n";
  }
  s += "<h3>Warnings</h3>\n";
  if (m.warnings.empty()) return s + "<p>None.</p>\n";
  s += "<ul>\n";
  for (const std::string& w : m.warnings) s += "<li>" + html_escape(w) + "</li>\n";
  return s + "</ul>\n";
}

}  // namespace pulmo::report_detail
