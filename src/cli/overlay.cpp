// pulmo overlay CT LUNGS --out PNG: a montage of slices with the label maps drawn over the CT, to check labels by eye.
#include <map>

#include "cli/command.h"
#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/report.h"

namespace pulmo::cli {

Action register_overlay(CLI::App& app, const GlobalOptions& global) {
  struct Options {
    std::string ct, lungs, lesions, out, series, plane = "axial";
    int slices = 8, columns = 4;
    bool binary_lesions = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "overlay", "A PNG montage of slices with lung (and lesion) labels drawn over the CT, to check them by eye");
  sub->add_option("ct", opt->ct, "CT: NIfTI/NRRD/MetaImage file, DICOM file or folder")->required();
  sub->add_option("lungs", opt->lungs, "lung label map on the CT's grid (1 right, 2 left)")->required();
  sub->add_option("--out", opt->out, "output PNG")->required();
  sub->add_option("--lesions", opt->lesions, "lesion label map on the CT's grid (1 ground-glass, 2 consolidation)");
  sub->add_flag("--binary-lesions", opt->binary_lesions, "the lesion map does not separate the types: one colour");
  sub->add_option("--plane", opt->plane, "slice plane")
      ->check(CLI::IsMember({"axial", "coronal", "sagittal"}))
      ->capture_default_str();
  sub->add_option("--slices", opt->slices, "slices spread evenly from the first to the last slice with lung")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  sub->add_option("--columns", opt->columns, "slices per row")->check(CLI::Range(1, 16))->capture_default_str();
  sub->add_option("--series", opt->series, "DICOM folder: the SeriesInstanceUID to use (default: largest CT series)");
  return [opt, &global]() {
    if (opt->out.size() < 4 || opt->out.compare(opt->out.size() - 4, 4, ".png") != 0)
      throw Error(ExitCode::Usage, "--out '" + opt->out + "' must end in .png");
    ReadOptions ro;
    ro.series_uid = opt->series;
    SourceInfo src;
    const Volume ct = read_volume(opt->ct, ro, &src);
    for (const auto& w : src.warnings) warn(w);
    const Volume lungs = read_volume(opt->lungs);
    const Volume lesions = opt->lesions.empty() ? Volume{} : read_volume(opt->lesions);
    const std::map<std::string, Plane> planes = {{"axial", Plane::Axial}, {"coronal", Plane::Coronal}, {"sagittal", Plane::Sagittal}};
    const std::vector<int64_t> drawn = write_overlay_montage(opt->out, ct, lungs, lesions, planes.at(opt->plane),
                                                             opt->slices, opt->columns, !opt->binary_lesions);
    std::string list;
    for (const int64_t k : drawn) list += (list.empty() ? "" : ", ") + std::to_string(k);
    note(global, "wrote " + opt->out + ": " + opt->plane + " slices " + list);
    return 0;
  };
}

}  // namespace pulmo::cli
