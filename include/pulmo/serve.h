// The watch service (what `pulmo serve` runs): follows a source of CT series (a folder, or Orthanc's change feed),
// quantifies each new stable series once, and keeps its queue in SQLite so that a kill -9 at any point loses nothing
// and repeats nothing (docs/integration.md).
//
//   pulmo::ServeOptions s;
//   s.watch = "/srv/incoming"; s.out = "/srv/results"; s.db = "/srv/pulmo-queue.sqlite";
//   // or: s.orthanc = "http://127.0.0.1:8042"; s.store = true; s.job.credentials_file = "/etc/pulmo/pacs.cred";
//   s.job.lungs = "classical";                                  // any quantify option
//   pulmo::serve(s);                                            // until SIGINT / SIGTERM (or idle, with s.once)
//   pulmo::QueueReport r = pulmo::queue_report(s.db);           // counts per state and the rows that need a look
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pulmo/job.h"

namespace pulmo {

struct ServeOptions {
  std::string watch;                 // folder source: one DICOM series folder or image file per entry
  // Orthanc source (instead of `watch`): its REST root (http(s)://HOST:PORT); the change feed is followed, each new
  // stable series looked up, fetched over DICOMweb, quantified, and with `store` its results stored back (STOW-RS).
  // Credentials and CA bundle: job.credentials_file and job.ca_file, as for quantify's DICOMweb input.
  std::string orthanc;
  std::string dicomweb_root = "/dicom-web";  // a path under `orthanc`, or an http(s):// URL
  std::string since = "now";         // first start on a queue: "now" (the feed's end) or a change index (0 = all)
  bool store = false;                // Orthanc: store segmentation.dcm and measurements.dcm back on the server
  double max_backoff_seconds = 60;   // a source that cannot be read is looked at again after poll, 2x, 4x, ... this
  std::string out;                   // results: out/<series>/ (a quantify report folder, written atomically)
  std::string db;                    // the queue (an SQLite file; created when missing)
  double settle_seconds = 30;        // a series is stable when none of its files changed for this long
  double poll_seconds = 5;           // how often the source is looked at
  int max_attempts = 3;              // a series failing this many times is parked
  double retry_delay_seconds = 60;   // between two attempts of a failed series
  bool once = false;                 // return when nothing is pending, running, waiting for a retry or settling
  QuantifyJobOptions job;            // the quantify options of every series (overwrite and case_id are set per series)
  std::function<void(const std::string&)> log;  // progress and failure lines
};

struct ServeOutcome {
  int done = 0, skipped = 0, failed = 0, parked = 0;  // what this run did (a failed attempt may be retried)
  int ignored = 0;                   // pulmo's own results (its SEG and SR series stored back) seen and not queued
  bool stopped = false;              // ended by SIGINT / SIGTERM (a series being quantified went back to the queue)
};

// Runs the service until SIGINT or SIGTERM (the first one stops it cleanly: the series being quantified stops at its
// next stage and goes back to the queue; a second one ends the process at once, as in every pulmo command) or, with
// `once`, until there is nothing left to do. One service per queue: a second one is refused (Error Usage).
// A source that cannot be read (Orthanc down, the network) never ends the service: it says so and looks again with a
// growing delay; a series whose fetch failed because the server went away goes back to the queue, its attempt not
// counted.
// Throws Error: NotFound (watch folder, a credentials file), Usage (out inside watch, another service on the queue,
// both or neither of watch and orthanc, credentials in an address), BadConfig (a database that is not a pulmo queue,
// a malformed credentials file), WriteFailed (the queue or the output folder cannot be written).
ServeOutcome serve(const ServeOptions& options);

struct QueueEntry {
  std::string state, output, source, series_uid, reason, started_utc, finished_utc;
  int attempts = 0, exit_code = 0;
  double seconds = 0;
};

struct QueueReport {
  std::map<std::string, int> counts;  // pending, running, done, skipped, failed, parked
  std::vector<QueueEntry> entries;    // running, failed, parked and skipped rows, oldest first
};

// Every parked series of the queue back to pending, its attempts reset (after the cause - a full disk, a missing
// model - was fixed): what `pulmo serve --retry-parked` runs; a running service takes them up. Returns how many.
int retry_parked(const std::string& db);

// What `pulmo serve --status` prints. Throws Error NotFound (no such queue), BadConfig (not a pulmo queue).
QueueReport queue_report(const std::string& db);

}  // namespace pulmo
