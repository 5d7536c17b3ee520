// pulmo serve --watch IN | --orthanc URL --out OUT --db QUEUE: the watch service (docs/integration.md); --status prints
// the queue.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "cli/job_flags.h"
#include "pulmo/error.h"
#include "pulmo/report.h"
#include "pulmo/serve.h"

namespace pulmo::cli {
namespace {

struct ServeCliOptions {
  ServeOptions serve;
  QuantifyJobFlags job;  // the options shared with pulmo quantify
  bool status = false, retry_parked = false;
};

int print_status(const std::string& db) {
  const QueueReport r = queue_report(db);
  std::cout << "queue " << db << ":";
  bool first = true;
  for (const char* s : {"pending", "running", "done", "skipped", "failed", "parked"}) {
    std::cout << (first ? " " : ", ") << r.counts.at(s) << " " << s;
    first = false;
  }
  std::cout << "\n";
  for (const QueueEntry& e : r.entries) {
    std::cout << std::left << std::setw(8) << e.state << " " << e.output;
    if (e.state == "running") {
      std::cout << ": attempt " << e.attempts << " since " << e.started_utc;
    } else if (e.state == "skipped") {
      std::cout << ": " << e.reason;
    } else {  // failed (waiting for its retry) or parked
      std::cout << ": " << e.attempts << " attempt(s), last " << e.finished_utc << ", exit code " << e.exit_code << ": " << e.reason;
    }
    std::cout << "\n         " << e.source << (e.series_uid.empty() ? "" : " series " + e.series_uid) << "\n";
  }
  return 0;
}

}  // namespace

Action register_serve(CLI::App& app, const GlobalOptions& global) {
  auto opt = std::make_shared<ServeCliOptions>();
  ServeOptions& s = opt->serve;
  CLI::App* sub = app.add_subcommand(
      "serve", "Watch a folder or Orthanc's change feed for CT series and quantify each new stable series once, with a "
               "durable queue (docs/integration.md)");
  CLI::Option* watch = sub->add_option("--watch", s.watch, "folder to watch: one DICOM series folder or NIfTI/NRRD/MetaImage "
                                                           "file per entry");
  CLI::Option* orthanc = sub->add_option("--orthanc", s.orthanc, "instead of --watch: follow this Orthanc's change feed "
                                                                 "(its REST root, http(s)://HOST:PORT); series fetched over "
                                                                 "DICOMweb")
                             ->excludes(watch);
  sub->add_option("--dicomweb-root", s.dicomweb_root, "Orthanc: its DICOMweb root, a path under --orthanc or an "
                                                      "http(s):// URL")
      ->capture_default_str();
  sub->add_option("--since", s.since, "Orthanc, first start on a queue only: 'now' (series that become stable from now on) "
                                      "or a change index to read the feed from (0: all it holds)")
      ->capture_default_str();
  sub->add_flag("--store", s.store, "Orthanc: store segmentation.dcm and measurements.dcm (DICOM SR) of each series back "
                                    "on the server (STOW-RS)");
  CLI::Option* out = sub->add_option("--out", s.out, "results: OUT/<series>/, one quantify report folder per series");
  sub->add_option("--db", s.db, "the queue: an SQLite file (created when missing)")->required();
  CLI::Option* status = sub->add_flag("--status", opt->status, "print the queue's counts and its running, failed, parked "
                                                               "and skipped series, then exit");
  status->excludes(watch)->excludes(out)->excludes(orthanc);
  sub->add_flag("--retry-parked", opt->retry_parked, "queue every parked series again with its attempts reset (once "
                                                     "the cause is fixed); alone, or before watching")
      ->excludes(status);
  sub->add_option("--settle", s.settle_seconds, "folder: seconds without any change before a series counts as complete (Orthanc: its own StableAge)")
      ->check(CLI::NonNegativeNumber)->check(finite_number())->capture_default_str();
  sub->add_option("--poll", s.poll_seconds, "seconds between two looks at the watched folder or the change feed")
      ->check(CLI::PositiveNumber)->check(finite_number())->capture_default_str();
  sub->add_option("--max-attempts", s.max_attempts, "a series that failed this many times is parked")
      ->check(CLI::Range(1, 100))->capture_default_str();
  sub->add_option("--retry-delay", s.retry_delay_seconds, "seconds before a failed series is tried again")
      ->check(CLI::NonNegativeNumber)->check(finite_number())->capture_default_str();
  sub->add_flag("--once", s.once, "exit when nothing is left to do (no series pending, waiting for a retry or settling) "
                                  "instead of watching on");
  opt->job.add_to(sub, "quantify: ", "Orthanc");
  return [opt, &global, watch, orthanc, out]() {
    if (opt->status) return print_status(opt->serve.db);
    if (opt->retry_parked) {
      std::cout << retry_parked(opt->serve.db) << " parked series queued again\n";
      if (watch->count() == 0 && orthanc->count() == 0 && out->count() == 0) return 0;
    }
    if ((watch->count() == 0 && orthanc->count() == 0) || out->count() == 0)
      throw Error(ExitCode::Usage, "serve needs --watch or --orthanc, and --out (or --status)");
    ServeOptions s = opt->serve;
    opt->job.apply(s.job);
    if (!global.quiet) s.log = [](const std::string& line) { std::cerr << utc_timestamp() << " pulmo serve: " << line << std::endl; };
    const ServeOutcome r = serve(s);
    std::cout << "this run: " << r.done << " done, " << r.skipped << " skipped, " << r.failed << " failed (to be retried), "
              << r.parked << " parked"
              << (r.ignored > 0 ? ", " + std::to_string(r.ignored) + " of pulmo's own results ignored" : "") << (r.stopped ? " (stopped by a signal)" : "") << "\n";
    return 0;
  };
}

}  // namespace pulmo::cli
