// pulmo convert INPUT OUTPUT: any supported input (DICOM folder too) to NIfTI/NRRD/MHA, geometry kept exactly.
#include <ATen/ATen.h>

#include <cmath>
#include <iostream>

#include "cli/command.h"
#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/transforms.h"

namespace pulmo::cli {

namespace {

at::Tensor cast_for_output(const at::Tensor& voxels, const std::string& dtype) {
  if (dtype == "float32") return voxels.to(at::kFloat);
  if (dtype == "int16") return voxels.round().clamp(-32768, 32767).to(at::kShort);
  if (dtype == "uint8") return voxels.round().clamp(0, 255).to(at::kByte);
  // auto: int16 when every value is an integer in range (CT in HU), else float32.
  const bool integral = at::equal(voxels, voxels.round());
  const double lo = voxels.min().item<double>(), hi = voxels.max().item<double>();
  return integral && lo >= -32768 && hi <= 32767 ? voxels.to(at::kShort) : voxels.to(at::kFloat);
}

}  // namespace

Action register_convert(CLI::App& app, const GlobalOptions& global) {
  struct Options {
    std::string input, output, series, dtype = "auto";
    std::vector<double> spacing;
    bool require_3d = false, labels = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand("convert", "Convert an image or DICOM series to .nii.gz/.nii/.nrrd/.mha, geometry kept");
  sub->add_option("input", opt->input, "NIfTI/NRRD/MetaImage file, DICOM file, or DICOM folder")->required();
  sub->add_option("output", opt->output, "output file: .nii.gz, .nii, .nrrd or .mha")->required();
  sub->add_option("--series", opt->series, "DICOM folder: the SeriesInstanceUID to convert (default: largest CT series)");
  sub->add_option("--dtype", opt->dtype, "voxel type on disk")
      ->check(CLI::IsMember({"auto", "int16", "float32", "uint8"}))
      ->capture_default_str();
  sub->add_flag("--require-3d", opt->require_3d, "refuse single-slice images (exit code 6)");
  sub->add_option("--spacing", opt->spacing, "resample to X,Y,Z mm (linear; nearest with --labels; <= 0 keeps an axis); "
                                             "the field of view is kept")
      ->delimiter(',')
      ->expected(3);
  sub->add_flag("--labels", opt->labels, "the input is a label map: nearest-neighbour resampling");
  return [opt, &global]() {
    if (output_format_for(opt->output) == FileFormat::Unknown)
      throw Error(ExitCode::Usage, "output '" + opt->output + "' must end in .nii.gz, .nii, .nrrd or .mha");
    ReadOptions ro;
    ro.series_uid = opt->series;
    ro.require_3d = opt->require_3d;
    SourceInfo src;
    Volume v = read_volume(opt->input, ro, &src);
    for (const auto& w : src.warnings) warn(w);
    if (!opt->spacing.empty()) {
      for (double s : opt->spacing)
        if (!std::isfinite(s) || s > 100) throw Error(ExitCode::Usage, "--spacing values must be finite and at most 100 mm");
      v = resample_to_spacing(v, {opt->spacing[0], opt->spacing[1], opt->spacing[2]}, opt->labels);
    }
    v.voxels = cast_for_output(v.voxels, opt->dtype).contiguous();
    write_volume(v, opt->output);
    note(global, "wrote " + opt->output + ": " + v.geometry.describe());
    return 0;
  };
}

}  // namespace pulmo::cli
