// The durable queue of `pulmo serve` (internal to src/app): one SQLite table of series, in WAL mode, every change
// one transaction, so that a kill -9 at any point loses nothing and repeats nothing (docs/integration.md).
//
// States: pending -> running -> done | skipped (with its reason) | failed (the error recorded; run again once its
// retry delay has passed) | parked (failed max_attempts times; kept with its error, never run again). A row left 'running' by a killed process goes
// back to pending at the next start (its partial output was in a temporary folder) and counts as an attempt, so a
// series that kills the process every time is parked rather than retried for ever.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace pulmo {

// A series a source found stable, to be queued once.
struct SeriesItem {
  std::string key;           // unique and stable: "dicom:<SeriesInstanceUID>", "file:<name>:<sha256>", ...
  std::string locator;       // how the source finds it again (a path for a folder source)
  std::string series_uid;    // DICOM: the SeriesInstanceUID to quantify ("" for an image file)
  std::string name;          // the output folder name wanted (made unique by the queue)
  std::string skip_reason;   // not empty: queued as skipped with this reason (e.g. not a CT)
  std::string ignore_reason; // not empty: not queued at all, only logged (pulmo's own results stored back on a PACS)
};

struct QueueRow {
  int64_t id = 0;
  std::string key, locator, series_uid, output, state, reason;
  int attempts = 0, exit_code = 0;
  std::string enqueued_utc, started_utc, finished_utc;
  double seconds = 0;        // duration of the last attempt
};

class SeriesQueue {
 public:
  // Opens (creating when `create`) the queue database. Throws Error: NotFound (missing, !create), BadConfig (an
  // SQLite file that is not a pulmo queue, or a newer one), WriteFailed (cannot be created or written).
  SeriesQueue(const std::string& path, bool create);
  ~SeriesQueue();
  SeriesQueue(const SeriesQueue&) = delete;
  SeriesQueue& operator=(const SeriesQueue&) = delete;

  // Queues `item` unless its key is known; its output name is made unique among the queue's rows and the folders
  // under `out_dir`. Returns whether it was added.
  bool add(const SeriesItem& item, const std::string& out_dir);
  // The oldest pending or failed row whose retry time has come, now 'running' with one more attempt; false when none.
  bool claim(QueueRow& row);
  void mark_done(int64_t id, double seconds, const std::string& note = "");
  void mark_skipped(int64_t id, int exit_code, const std::string& reason, double seconds);
  // A failed attempt: 'failed' (claimed again after `retry_delay_s`), or 'parked' when it was attempt `max_attempts`.
  // Returns the new state.
  std::string mark_failed(int64_t id, int exit_code, const std::string& error, double seconds, int max_attempts,
                          double retry_delay_s);
  // An attempt stopped by a clean shutdown: pending again, the attempt not counted.
  void release(int64_t id);
  // Rows left 'running' by a process that died: the rows, then each set back by `requeue` or marked done.
  std::vector<QueueRow> interrupted();
  void requeue_interrupted(int64_t id, int max_attempts);

  // Every parked row back to pending with no attempt counted (after the cause was fixed); returns how many.
  int retry_parked();

  std::map<std::string, int> counts();
  std::vector<QueueRow> rows_in(const std::vector<std::string>& states);
  // A source's durable position in its feed (Orthanc: the index of the last change read), under `name`;
  // nullopt before the first set_cursor. One transaction each.
  std::optional<int64_t> cursor(const std::string& name);
  void set_cursor(const std::string& name, int64_t position);

  // Seconds until the next pending row may run (0: now; a negative value: no pending row).
  double next_due_in();

 private:
  void exec(const std::string& sql);
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace pulmo
