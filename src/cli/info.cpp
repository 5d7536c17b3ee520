// pulmo info PATH [--json]: what a file or DICOM folder holds, and where it sits in the patient.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "pulmo/io.h"
#include "pulmo/stats.h"

namespace pulmo::cli {

namespace {

std::string num(double x, int precision = 6) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", precision, x);
  return buf;
}

nlohmann::json info_json(const Volume& v, const SourceInfo& src, const IntensityStats& st) {
  const Geometry& g = v.geometry;
  nlohmann::json j;
  j["path"] = src.path;
  j["format"] = format_name(src.format);
  j["pixel_type_on_disk"] = src.pixel_type_on_disk;
  j["dimensions"] = src.dimensions_on_disk;
  j["size"] = g.size;
  j["spacing_mm"] = g.spacing_mm;
  j["origin_mm"] = g.origin_mm;
  j["direction"] = {{g.direction[0], g.direction[1], g.direction[2]},
                    {g.direction[3], g.direction[4], g.direction[5]},
                    {g.direction[6], g.direction[7], g.direction[8]}};
  j["orientation"] = g.orientation_code();
  j["voxel_volume_ml"] = g.voxel_volume_ml();
  j["modality"] = src.modality;
  if (!src.series_uid.empty()) j["series_uid"] = src.series_uid;
  nlohmann::json in = {{"min", st.min}, {"max", st.max}, {"mean", st.mean}, {"std", st.std}};
  for (const auto& [p, value] : st.percentiles) in["percentiles"]["p" + num(p)] = value;
  j["intensity"] = in;
  if (!src.series.empty()) {
    j["series"] = nlohmann::json::array();
    for (const auto& s : src.series)
      j["series"].push_back({{"series_uid", s.series_uid}, {"modality", s.modality}, {"description", s.description},
                             {"slices", s.num_files}, {"rows", s.rows}, {"columns", s.columns},
                             {"selected", s.series_uid == src.series_uid}});
  }
  j["warnings"] = src.warnings;
  return j;
}

void print_text(const Volume& v, const SourceInfo& src, const IntensityStats& st) {
  const Geometry& g = v.geometry;
  const auto& d = g.direction;
  std::cout << "Path         " << src.path << "\n"
            << "Format       " << format_name(src.format) << ", " << src.pixel_type_on_disk << " on disk, "
            << src.dimensions_on_disk << "-D\n";
  if (!src.modality.empty()) std::cout << "Modality     " << src.modality << "\n";
  if (!src.series_uid.empty())
    std::cout << "Series       " << src.series_uid << (src.series_description.empty() ? "" : "  \"" + src.series_description + "\"")
              << ", " << src.num_files << " file(s)\n";
  std::cout << "Size         " << g.size[0] << " x " << g.size[1] << " x " << g.size[2] << " voxels (x, y, z)\n"
            << "Spacing      " << num(g.spacing_mm[0]) << " x " << num(g.spacing_mm[1]) << " x " << num(g.spacing_mm[2]) << " mm\n"
            << "Origin       (" << num(g.origin_mm[0]) << ", " << num(g.origin_mm[1]) << ", " << num(g.origin_mm[2]) << ") mm, LPS\n"
            << "Direction    [" << num(d[0], 4) << " " << num(d[1], 4) << " " << num(d[2], 4) << "; " << num(d[3], 4) << " "
            << num(d[4], 4) << " " << num(d[5], 4) << "; " << num(d[6], 4) << " " << num(d[7], 4) << " " << num(d[8], 4) << "]\n"
            << "Orientation  " << g.orientation_code() << " (index axes x, y, z point towards these patient directions)\n"
            << "Voxel        " << num(g.voxel_volume_ml() * 1000.0) << " mm^3; field of view " << num(g.voxel_volume_ml() * g.num_voxels())
            << " mL\n"
            << "Intensity    min " << num(st.min) << ", max " << num(st.max) << ", mean " << num(st.mean, 5) << ", std "
            << num(st.std, 5) << "\n"
            << "Percentiles ";
  for (const auto& [p, value] : st.percentiles) std::cout << " p" << num(p) << "=" << num(value, 5);
  std::cout << "\n";
  if (!src.series.empty()) {
    std::cout << "DICOM series in the folder (" << src.series.size() << "):\n";
    for (const auto& s : src.series)
      std::cout << "  " << (s.series_uid == src.series_uid ? "* " : "  ") << s.series_uid << "  " << s.modality << "  "
                << s.num_files << " slice(s)  " << s.columns << "x" << s.rows << "  " << s.description << "\n";
  }
  for (const auto& w : src.warnings) std::cout << "Warning      " << w << "\n";
}

}  // namespace

Action register_info(CLI::App& app, const GlobalOptions& global) {
  struct Options {
    std::string path, series;
    bool json = false, require_3d = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand("info", "Describe an image file or DICOM folder: format, geometry, intensities");
  sub->add_option("path", opt->path, "NIfTI/NRRD/MetaImage file, DICOM file, or DICOM folder")->required();
  sub->add_option("--series", opt->series, "DICOM folder: the SeriesInstanceUID to describe (default: largest CT series)");
  sub->add_flag("--json", opt->json, "print JSON instead of text");
  sub->add_flag("--require-3d", opt->require_3d, "refuse single-slice images (exit code 6)");
  return [opt, &global]() {
    SourceInfo src;
    ReadOptions ro;
    ro.series_uid = opt->series;
    ro.require_3d = opt->require_3d;
    const Volume v = read_volume(opt->path, ro, &src);
    const IntensityStats st = intensity_stats(v);
    if (opt->json)
      std::cout << info_json(v, src, st).dump(2) << "\n";
    else
      print_text(v, src, st);
    for (const auto& w : src.warnings)
      if (opt->json) warn(w);
    (void)global;
    return 0;
  };
}

}  // namespace pulmo::cli
