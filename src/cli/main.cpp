// pulmo: quantification of COVID-19 lung involvement from chest CT.
// main() owns the only catch-all: every failure becomes a message and an exit code (docs/exit-codes.md).
#include <c10/util/Exception.h>

#include <iostream>
#include <map>
#include <vector>

#include "cli/command.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/runtime.h"
#include "pulmo/version.h"

namespace pulmo::cli {

void warn(const std::string& message) { std::cerr << "pulmo: warning: " << message << "\n"; }
void note(const GlobalOptions& global, const std::string& message) {
  if (!global.quiet) std::cerr << "pulmo: " << message << "\n";
}

}  // namespace pulmo::cli

int main(int argc, char** argv) {
  using namespace pulmo;
  install_signal_cleanup();  // SIGINT/SIGTERM: remove the temporary files being written, exit 130/143
  CLI::App app{"pulmo " PULMO_VERSION " - measures COVID-19 lung involvement from chest CT"};
  app.require_subcommand(1);
  app.set_version_flag("--version", PULMO_VERSION);
  cli::GlobalOptions global;
  CLI::Option* threads = app.add_option("--threads", global.threads,
                                        "threads for LibTorch/OpenMP/ITK (default: all available cores; pulmo train: "
                                        "training.threads of the configuration)")
                              ->check(CLI::Range(0, 1000000));  // not "0 to 1.8e308"; the per-core bound follows
  app.add_flag("-q,--quiet", global.quiet, "print only results and errors");

  std::map<CLI::App*, cli::Action> actions;
  const std::vector<cli::Registrar> registrars = {
      cli::register_quantify,
      cli::register_info,
      cli::register_convert,
      cli::register_eval,
      cli::register_synth,
      cli::register_dataset,
      cli::register_train,
      cli::register_cxr,
      cli::register_segment,
      cli::register_overlay,
      cli::register_anonymize,
      cli::register_serve,
  };
  for (const cli::Registrar& reg : registrars) {
    const size_t before = app.get_subcommands({}).size();
    cli::Action action = reg(app, global);
    actions[app.get_subcommands({})[before]] = action;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // every error message of pulmo starts alike, usage errors included (docs/exit-codes.md)
    std::cerr << "pulmo: error: " << e.what() << "\nRun with --help for more information.\n";
    return static_cast<int>(ExitCode::Usage);
  }

  global.threads_given = threads->count() > 0;
  try {
    const int max_threads = kMaxThreadsPerCore * available_cores();
    if (global.threads > max_threads)
      throw Error(ExitCode::Usage, "--threads " + std::to_string(global.threads) + " is more than " +
                                       std::to_string(kMaxThreadsPerCore) + " threads per available core (" +
                                       std::to_string(available_cores()) + " cores: at most " +
                                       std::to_string(max_threads) + "); omit --threads to use every core");
    set_threads(global.threads);
    int code = static_cast<int>(ExitCode::Usage);
    for (CLI::App* sub : app.get_subcommands())
      if (actions.count(sub)) {
        code = actions[sub]();
        break;
      }
    check_stdout_written();  // `pulmo info --json X > /dev/full` must not exit 0
    return code;
  } catch (const Error& e) {
    std::cerr << "pulmo: error: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const c10::Error& e) {
    std::cerr << "pulmo: internal error (LibTorch): " << e.what_without_backtrace() << "\n";
    return static_cast<int>(ExitCode::Internal);
  } catch (const std::bad_alloc&) {
    std::cerr << "pulmo: internal error: out of memory\n";
    return static_cast<int>(ExitCode::Internal);
  } catch (const std::exception& e) {
    std::cerr << "pulmo: internal error: " << e.what() << "\n";
    return static_cast<int>(ExitCode::Internal);
  }
}
