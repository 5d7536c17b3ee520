// pulmo quantify INPUT --out DIR: the LungQuant cascade and the quantification of one CT, or of a batch of CTs
// (a folder or a manifest) with one report folder each and a summary CSV (docs/quantify.md).

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "cli/job_flags.h"
#include "pulmo/error.h"
#include "pulmo/job.h"

namespace fs = std::filesystem;

namespace pulmo::cli {
namespace {

struct QuantifyCliOptions {
  std::string input, out, shard, series, lung_mask, lung_mask_convention = "pulmo";
  std::string format = "nii.gz";
  std::string input_window;
  std::string study;
  QuantifyJobFlags job;  // the options shared with pulmo serve
  bool store = false;
  bool batch = false, tta = false, overwrite = false, bf16 = false;
  int mc_dropout = 0;
};

QuantifyJobOptions job_options(const QuantifyCliOptions& c, const GlobalOptions& global) {
  QuantifyJobOptions o;
  c.job.apply(o);
  o.series = c.series;
  o.study = c.study;
  o.store = c.store;
  o.lung_mask = c.lung_mask;
  o.lung_mask_convention = c.lung_mask_convention;
  o.tta = c.tta;
  o.mc_dropout = c.mc_dropout;
  o.bfloat16 = c.bf16;
  o.input_window = c.input_window;
  o.format = c.format;
  o.overwrite = c.overwrite;
  if (!global.quiet) o.progress = [](const std::string& line) { std::cerr << "pulmo quantify: " << line << std::endl; };
  return o;
}

int run_quantify_one(const QuantifyCliOptions& c, const GlobalOptions& global) {
  if (!c.shard.empty()) throw Error(ExitCode::Usage, "--shard is for --batch");
  const CaseOutcome r = quantify_to_folder(c.input, c.out, job_options(c, global));
  for (const std::string& w : r.warnings) warn(w);
  for (const std::string& line : r.summary_lines) std::cout << line << "\n";
  for (const std::string& file : r.stored) std::cout << "stored: " << file << "\n";
  std::cout << "report: " << (fs::path(c.out) / (c.job.no_html ? "report.json" : "report.html")).string() << "\n";
  return 0;
}

int run_quantify_batch(const QuantifyCliOptions& c, const GlobalOptions& global) {
  if (!c.study.empty() || c.store || !c.job.credentials.empty() || !c.job.ca_file.empty())
    throw Error(ExitCode::Usage, "--study, --store, --credentials and --ca-file are for one DICOMweb series, not --batch");
  BatchOptions b;
  if (!c.shard.empty()) {
    char slash = 0;
    std::istringstream is(c.shard);
    is >> b.shard_index >> slash >> b.shard_count;
  }
  b.redo = c.overwrite;
  const BatchOutcome r = quantify_batch(c.input, c.out, job_options(c, global), b);
  std::cout << r.done << " done, " << r.skipped << " skipped (done before), " << r.failed << " failed; summary: " << r.summary_csv
            << "\n";
  return r.failed > 0 ? static_cast<int>(ExitCode::BatchFailures) : 0;
}

}  // namespace

Action register_quantify(CLI::App& app, const GlobalOptions& global) {
  auto opt = std::make_shared<QuantifyCliOptions>();
  CLI::App* sub = app.add_subcommand(
      "quantify", "Segment lungs and lesions of a chest CT and report volumes, involvement and CT severity score");
  sub->add_option("input", opt->input, "CT: NIfTI/NRRD/MetaImage file, DICOM file or folder, a DICOMweb server "
                                       "dicomweb+http(s)://HOST:PORT/ROOT with --study and --series (or, with --batch, a "
                                       "folder of CTs or a manifest CSV)")
      ->required();
  sub->add_option("--out", opt->out, "output folder (created; must not exist unless --overwrite)")->required();
  sub->add_flag("--batch", opt->batch, "INPUT is a folder of CTs or a manifest (case_id,image columns): one report "
                                       "folder per case under --out and a summary CSV");
  sub->add_option("--shard", opt->shard, "batch: run only part I of N (I in 1..N), e.g. a job-array index")
      ->check([](const std::string& s) -> std::string {
        int i = 0, n = 0;
        char slash = 0;
        std::istringstream is(s);
        if (!(is >> i >> slash >> n) || slash != '/' || !is.eof() || n < 1 || i < 1 || i > n)
          return "must be I/N with 1 <= I <= N";
        return "";
      });
  sub->add_option("--series", opt->series, "DICOM folder: the SeriesInstanceUID to use (default: largest CT series); "
                                           "DICOMweb: the series to fetch (required)");
  sub->add_option("--study", opt->study, "DICOMweb: the StudyInstanceUID of --series (required)");
  sub->add_flag("--store", opt->store, "DICOMweb: store segmentation.dcm and measurements.dcm (DICOM SR) back on the "
                                       "server (STOW-RS) once the report folder is written");
  CLI::Option* lungs = opt->job.add_to(sub, "", "DICOMweb");
  sub->add_option("--lung-mask", opt->lung_mask, "use this lung mask instead of stages 1-2 (on the CT's grid); "
                                                 "contradicts --lungs (refused)")
      ->excludes(lungs);
  sub->add_option("--lung-mask-convention", opt->lung_mask_convention,
                  "label convention of --lung-mask: pulmo, lungmask, totalsegmentator, covid19-ct-seg, binary, ...")
      ->capture_default_str();
  sub->add_flag("--tta", opt->tta, "test-time augmentation: average with the left-right mirrored prediction; reports "
                                   "the sd of the involvement over the passes");
  sub->add_option("--mc-dropout", opt->mc_dropout, "MC-dropout passes of the lesion model (0 = off); reports the sd")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  sub->add_flag("--bf16", opt->bf16, "run the networks in bfloat16: about 2x faster on CPUs with AVX-512-BF16 or AMX "
                                     "(probabilities within ~0.04 of float32; masks nearly identical)");
  sub->add_option("--input-window", opt->input_window,
                  "the input is an 8-bit windowed export: LO,HI maps grey 0..255 linearly to LO..HI HU; auto calibrates "
                  "from the image's lung (-850 HU) and soft-tissue (+40 HU) peaks (docs/datasets.md)");
  sub->add_option("--format", opt->format, "mask files: nii.gz, nii, nrrd, mha, or input (the input's own format; "
                                           "NIfTI for DICOM)")
      ->check(CLI::IsMember({"nii.gz", "nii", "nrrd", "mha", "input"}))
      ->capture_default_str();
  sub->add_flag("--overwrite", opt->overwrite, "replace an existing report folder that pulmo wrote (it holds a .pulmo-output file; never "
                                               "an input, a folder holding one, a file or another folder), or redo finished cases (batch)");
  return [opt, &global]() { return opt->batch ? run_quantify_batch(*opt, global) : run_quantify_one(*opt, global); };
}

}  // namespace pulmo::cli
