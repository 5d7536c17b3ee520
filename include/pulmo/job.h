// Jobs: one CT to a report folder, and batches of CTs (what `pulmo quantify` runs); a training configuration to
// one model folder per fold (what `pulmo train` runs).
//
//   pulmo::QuantifyJobOptions o;                                  // the shipped models, lesions on, no TTA
//   pulmo::CaseOutcome c = pulmo::quantify_to_folder("ct.nii.gz", "out/case1", o);
//   // out/case1: lungs.nii.gz, lesions.nii.gz, report.json, report.csv, report.html (+ segmentation.dcm for DICOM)
//
// A folder is written under a hidden temporary name next to its destination and renamed when complete, so a
// failed or interrupted run never leaves a partial report folder.
//
//   pulmo::TrainJobOptions t;
//   t.config = "models/recipes/lungs.yaml";                        // data, network, training keys: docs/training.md
//   for (const pulmo::FoldOutcome& f : pulmo::train_from_config(t)) // a model folder per fold
//     std::cout << f.output << ": best Dice " << f.result.best_validation_dice << "\n";
#pragma once

#include <array>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "pulmo/train.h"

namespace pulmo {

struct QuantifyJobOptions {
  std::string series;                  // DICOM folder: SeriesInstanceUID ("" = the largest CT series); DICOMweb: required
  // A DICOMweb input ("dicomweb+http://HOST:PORT/ROOT" or dicomweb+https://): the series `series` of study `study`
  // is found (QIDO-RS), fetched (WADO-RS) into a temporary folder beside `folder` and read as a DICOM folder; the
  // folder is removed at the end, whatever the outcome.
  std::string study;                   // DICOMweb: StudyInstanceUID (required)
  std::string credentials_file;        // DICOMweb: credentials file ("" = PULMO_DICOMWEB_CREDENTIALS / _TOKEN / _USER
                                       // and _PASSWORD from the environment, else none; pulmo/http.h)
  std::string ca_file;                 // DICOMweb over HTTPS: CA bundle to verify the server with ("" = the system's)
  bool store = false;                  // DICOMweb: store segmentation.dcm and measurements.dcm (a TID 1500 SR of
                                       // the numbers) back on the server (STOW-RS) once the report folder is written
  std::string models;                  // models folder with cascade.json ("" = default_models_dir())
  std::string lungs;                   // "" (the models' choice), "cascade", "classical" or "hybrid"
  std::string lung_mask;               // a user's lung mask file (replaces stages 1-2)
  std::string lung_mask_convention = "pulmo";
  bool lesions = true;
  bool tta = false;
  int mc_dropout = 0;
  bool bfloat16 = false;               // networks in bfloat16 (faster on CPUs with AVX-512-BF16/AMX)
  std::string input_window;            // 8-bit windowed input: "LO,HI" (grey 0..255 -> LO..HI HU), "auto" (calibrated
                                       // from the image's lung and soft-tissue peaks; docs/datasets.md); "" = HU input
  std::string format = "nii.gz";       // mask files: nii.gz, nii, nrrd, mha, or "input"
  bool html = true;
  bool viewer = true;                  // report.html with the interactive viewer (about 2.3 MB + the CT; --no-viewer)
  bool dicom_seg = true;               // a DICOM input: also segmentation.dcm (DICOM-SEG referring to its images) and
                                       // measurements.dcm (DICOM SR, TID 1500: the numbers, referring to the SEG)
  bool overwrite = false;              // replace an existing output folder
  std::string case_id;                 // "" = from the input's name
  std::function<void(const std::string&)> progress;  // progress lines
};

struct CaseOutcome {
  std::string case_id, input, folder;
  int exit_code = 0;                   // 0 = done; otherwise the ExitCode of the failure
  std::string message;                 // the error message of a failed case
  std::string csv_header, csv_row;     // report.csv of a finished case
  double seconds = 0;
  std::vector<std::string> summary_lines;  // the headline numbers, for a terminal
  std::vector<std::string> warnings;       // also in report.json / report.csv
  std::vector<std::string> stored;         // DICOMweb --store: the files stored on the server
};

// Runs the cascade and the quantification of one CT and writes `folder`. Throws pulmo::Error. With `options.store`, a
// failure to store (Error Remote) comes after the report folder was written: the message says so.
CaseOutcome quantify_to_folder(const std::string& input, const std::string& folder, const QuantifyJobOptions& options);

struct BatchOptions {
  int shard_index = 1, shard_count = 1;  // run the cases with (position % count) == index - 1
  bool redo = false;                     // redo cases whose report folder is complete (default: skip them - resume)
};

struct BatchOutcome {
  int done = 0, skipped = 0, failed = 0;
  std::string summary_csv;               // path of the summary written
};

// Every CT of `source` (a folder: each NIfTI/NRRD/MHA file or DICOM sub-folder is a case; or a manifest CSV
// with case_id and image columns) into out/<case_id>/, and out/summary.csv (summary-I-of-N.csv for a shard): one
// row per case with its status, exit code and message. A failed case is reported and skipped.
BatchOutcome quantify_batch(const std::string& source, const std::string& out, const QuantifyJobOptions& options,
                            const BatchOptions& batch);

struct FoldOutcome {
  int fold = 0;
  std::string output;                  // the fold's model folder
  std::string task;                    // data.task: lungs, lesions, lung_box or cxr_lungs
  TrainResult result;                  // best_validation_dice is the box IoU for lung_box
};

struct TrainJobOptions {
  std::string config;                  // training configuration file: JSON, or YAML for .yaml / .yml (docs/training.md)
  std::string output;                  // model folder, replacing the configuration's "output" ("" = keep it)
  std::optional<int> fold;             // replaces data.fold: the one fold to train, or -1 for every fold
  std::optional<int> threads;          // replaces training.threads for this run (0 = every available core; `pulmo
                                       // --threads N`); the stored configuration keeps the file's value
  bool resume = false;                 // continue each fold from the checkpoint in its model folder
  std::ostream* progress = nullptr;    // the trainer's progress lines with ETA (e.g. &std::cerr); nullptr = silent
  std::function<void(const std::string&)> note;  // a line per case prepared and per fold started
  std::function<void(const FoldOutcome&)> fold_done;  // called as each fold ends
};

// Trains what the configuration file `job.config` describes, as `pulmo train` does: sets the LibTorch, OpenMP and ITK
// thread counts of the process to training.threads (set_threads(), pulmo/runtime.h), reads the manifest (relative to
// the configuration's folder), makes the patient-level splits, prepares every case a chosen fold needs once
// (resampled and normalised; refused with Error(BadConfig) when the patch or the prepared cases cannot fit in this
// machine's memory), then for each fold writes its model folder (output/, or output/fold_N/ for k-fold and
// leave-one-out): a copy of the configuration file, and model.json, weights.pt, checkpoint.pt, log.csv and
// curves.png from train_segmentation() or, for data.task lung_box, train_lung_box() (no checkpoint.pt). model.json
// names the task, spacing, HU window, normalisation and labels, and its "training" block holds the full
// configuration and the fold's cases. Returns one outcome per fold trained. Throws pulmo::Error (BadConfig,
// NotFound, NoData, Mismatch, WriteFailed: docs/exit-codes.md).
std::vector<FoldOutcome> train_from_config(const TrainJobOptions& job);

}  // namespace pulmo
