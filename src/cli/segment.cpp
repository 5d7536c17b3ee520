// pulmo segment MODEL IMAGE --out MASK: one segmentation model on its own, on the whole image.
#include "cli/command.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/pipeline.h"

namespace pulmo::cli {

Action register_segment(CLI::App& app, const GlobalOptions& global) {
  struct Options {
    std::string model, input, out, series, input_window;
    SegmentOptions segment;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "segment", "Run one segmentation model folder on a whole image (no cascade, no lung mask): a label map on its grid");
  sub->add_option("model", opt->model, "model folder (model.json + weights.pt), e.g. models/lesions")->required();
  sub->add_option("input", opt->input, "CT: NIfTI/NRRD/MetaImage file, DICOM file or folder; a single slice is fine")->required();
  sub->add_option("--out", opt->out, "output label map (.nii.gz, .nii, .nrrd, .mha)")->required();
  sub->add_option("--series", opt->series, "DICOM folder: the SeriesInstanceUID to use (default: largest CT series)");
  sub->add_option("--threshold", opt->segment.threshold, "foreground when the foreground probabilities sum to >= this")
      ->check(finite_number())
      ->check(CLI::Range(0.01, 0.99))
      ->capture_default_str();
  sub->add_flag("--tta", opt->segment.tta_flip, "average with the left-right mirrored prediction");
  sub->add_flag("--merge-labels", opt->segment.merge_labels, "write every foreground label as 1 (e.g. lesion = any class)");
  sub->add_option("--input-window", opt->input_window,
                  "the input is an 8-bit windowed export: LO,HI in HU, or auto (docs/datasets.md)");
  return [opt, &global]() {
    if (output_format_for(opt->out) == FileFormat::Unknown)
      throw Error(ExitCode::Usage, "--out '" + opt->out + "' must end in .nii.gz, .nii, .nrrd or .mha");
    const InputWindow window = parse_input_window(opt->input_window);
    ReadOptions ro;
    ro.series_uid = opt->series;
    SourceInfo src;
    Volume image = read_volume(opt->input, ro, &src);
    if (window.mode != InputWindow::Mode::None)
      image.voxels = apply_grey_to_hu(image.voxels, grey_to_hu_for(window, image.voxels, "--input-window"));
    else
      for (const auto& w : src.warnings) warn(w);
    const Volume labels = segment_with_model(image, opt->model, opt->segment);
    write_volume(labels, opt->out);
    note(global, "wrote " + opt->out + ": " + labels.geometry.describe());
    return 0;
  };
}

}  // namespace pulmo::cli
