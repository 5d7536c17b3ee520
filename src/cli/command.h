// The pulmo command line: each subcommand is one file that registers its options and
// a handler. Handlers call the library and let pulmo::Error propagate to main(),
// which prints the message and returns the documented exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace pulmo::cli {

struct GlobalOptions {
  int threads = 0;  // 0 = all available cores
  bool threads_given = false;  // --threads was on the command line (it then overrides training.threads)
  bool quiet = false;
};

// A subcommand registers itself on `app` and returns the action to run when chosen.
using Action = std::function<int()>;
using Registrar = std::function<Action(CLI::App& app, const GlobalOptions& global)>;

Action register_info(CLI::App& app, const GlobalOptions& global);
Action register_convert(CLI::App& app, const GlobalOptions& global);
Action register_eval(CLI::App& app, const GlobalOptions& global);
Action register_synth(CLI::App& app, const GlobalOptions& global);
Action register_dataset(CLI::App& app, const GlobalOptions& global);
Action register_train(CLI::App& app, const GlobalOptions& global);
Action register_cxr(CLI::App& app, const GlobalOptions& global);
Action register_quantify(CLI::App& app, const GlobalOptions& global);
Action register_segment(CLI::App& app, const GlobalOptions& global);
Action register_overlay(CLI::App& app, const GlobalOptions& global);
Action register_anonymize(CLI::App& app, const GlobalOptions& global);
Action register_serve(CLI::App& app, const GlobalOptions& global);

// CLI11's number checks (PositiveNumber, Range) let "nan" through (every comparison with NaN is false):
// add this to every floating-point option.
inline const CLI::Validator& finite_number() {
  static const CLI::Validator v(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double x = std::strtod(text.c_str(), &end);
        if (end != text.c_str() && !std::isfinite(x)) return "'" + text + "' is not a finite number";
        return std::string();
      },
      "FINITE");
  return v;
}

// Messages to stderr, so that stdout stays clean for --json output.
void warn(const std::string& message);
void note(const GlobalOptions& global, const std::string& message);

}  // namespace pulmo::cli
