// Internal to src/report: pieces of report.html (html.cpp assembles the page).
#pragma once

#include <string>
#include <vector>

#include "pulmo/report.h"

namespace pulmo::report_detail {

// A number with `decimals` decimals, or "n/a" for NaN and infinities.
std::string fixed(double v, int decimals);
// Base64 (RFC 4648, with padding) of any bytes: images and volumes inside the page.
std::string base64(const std::string& bytes);
// One table row of already-escaped cells.
std::string table_row(const std::vector<std::string>& cells, const char* tag = "td");

// Inline SVG: lesion share of the lung per slice (horizontal) against the slice position (vertical, superior
// at the top for axial slices), slices without lung left out.
std::string involvement_curve_svg(const Quantification& q, const Geometry& geometry);

// Models, options, timings and warnings of the run.
std::string run_section(const ReportMeta& meta);

}  // namespace pulmo::report_detail
