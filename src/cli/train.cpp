// pulmo train --config FILE [--resume] [--output DIR] [--fold N]: the arguments of train_from_config()
// (pulmo/job.h), which trains a model folder per fold from a manifest with patient-level splits (docs/training.md);
// prints one line per fold. pulmo train --print-config-table: the key table of docs/training.md.
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>

#include "cli/command.h"
#include "pulmo/error.h"
#include "pulmo/job.h"
#include "pulmo/train.h"
#include "pulmo/train_config.h"

namespace pulmo::cli {
namespace {

struct TrainCliOptions {
  std::string config, output;
  bool resume = false, print_config_table = false;
  int fold = -1;  // -1 = as in the config (data.fold)
};

int run_train(const TrainCliOptions& cli, const GlobalOptions& global) {
  if (cli.print_config_table) {
    std::cout << train_config_table();
    return 0;
  }
  if (cli.config.empty()) throw Error(ExitCode::Usage, "--config is required");
  TrainJobOptions job;
  job.config = cli.config;
  job.output = cli.output;
  if (cli.fold >= 0) job.fold = cli.fold;
  if (global.threads_given) job.threads = global.threads;
  job.resume = cli.resume;
  job.progress = global.quiet ? nullptr : &std::cerr;
  job.note = [&global](const std::string& message) { note(global, message); };
  job.fold_done = [](const FoldOutcome& f) {
    const TrainResult& r = f.result;
    std::cout << "fold " << f.fold << ": " << r.steps_done << " steps" << (r.resumed ? " (resumed)" : "")
              << (r.early_stopped ? " (early stop)" : "");
    if (r.best_step >= 0)
      std::cout << (f.task == "lung_box" ? ", best validation box IoU " : ", best validation Dice ") << std::fixed
                << std::setprecision(4) << r.best_validation_dice << " at step " << r.best_step;
    std::cout << ", model folder " << f.output << "\n";
  };
  train_from_config(job);
  return 0;
}

}  // namespace

Action register_train(CLI::App& app, const GlobalOptions& global) {
  auto opt = std::make_shared<TrainCliOptions>();
  CLI::App* sub = app.add_subcommand("train", "Train a lung or lesion segmentation model from a manifest (docs/training.md)");
  sub->add_option("--config", opt->config, "training configuration, JSON or YAML (.yaml/.yml)");
  sub->add_flag("--print-config-table", opt->print_config_table,
                "print every configuration key (type, default, allowed values, meaning) as the Markdown table of "
                "docs/training.md, and exit");
  sub->add_flag("--resume", opt->resume, "continue from the checkpoint in the output folder");
  sub->add_option("--output", opt->output, "model folder (overrides the config's 'output')");
  sub->add_option("--fold", opt->fold, "train only this fold (overrides data.fold)")->check(CLI::NonNegativeNumber);
  return [opt, &global]() { return run_train(*opt, global); };
}

}  // namespace pulmo::cli
