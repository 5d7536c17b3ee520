// The watch service: a source of series, the durable queue, and quantify_to_folder for each series.
#include "pulmo/serve.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <thread>

#include "app/output_folder.h"
#include "app/queue.h"
#include "app/series_source.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
struct sigaction g_previous_int {}, g_previous_term {};

// The first SIGINT / SIGTERM asks the service to stop; a second one is handled as by every pulmo command (the
// temporary files removed, exit 130 / 143).
extern "C" void pulmo_serve_on_signal(int sig) {
  if (!g_stop) {
    g_stop = sig;
    return;
  }
  const struct sigaction& previous = sig == SIGINT ? g_previous_int : g_previous_term;
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler != nullptr) {
    previous.sa_handler(sig);
  } else {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
}

class StopHandlers {
 public:
  StopHandlers() {
    g_stop = 0;
    struct sigaction sa {};
    sa.sa_handler = pulmo_serve_on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &g_previous_int);
    ::sigaction(SIGTERM, &sa, &g_previous_term);
  }
  ~StopHandlers() {
    ::sigaction(SIGINT, &g_previous_int, nullptr);
    ::sigaction(SIGTERM, &g_previous_term, nullptr);
  }
};

// Thrown from the progress callback when a stop was asked for: not a std::exception, so that nothing on the way
// mistakes it for a failure of the series.
struct StopRequested {};

// One service per queue: an exclusive lock on QUEUE.lock, released by the kernel however the process ends.
class QueueLock {
 public:
  explicit QueueLock(const std::string& db) {
    const std::string path = db + ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(ExitCode::WriteFailed, "cannot create the queue lock '" + path + "'");
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw Error(ExitCode::Usage, "another pulmo serve is using the queue '" + db + "' (it holds '" + path + "')");
    }
  }
  ~QueueLock() { ::close(fd_); }

 private:
  int fd_ = -1;
};

std::string fixed1(double v) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << v;
  return os.str();
}

std::string counts_line(SeriesQueue& q) {
  const auto c = q.counts();
  std::string line;
  for (const char* s : {"pending", "running", "done", "skipped", "failed", "parked"})
    line += (line.empty() ? "" : ", ") + std::to_string(c.at(s)) + " " + s;
  return line;
}

// Whether `folder` is a complete report folder pulmo wrote (renamed into place whole, so complete when it exists).
bool complete_report(const fs::path& folder) {
  std::error_code ec;
  return is_pulmo_output_folder(folder.string()) && fs::is_regular_file(folder / "report.json", ec);
}

// Sleeps up to `seconds`, in steps short enough to answer a stop at once.
void nap(double seconds) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  while (!g_stop && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace

ServeOutcome serve(const ServeOptions& o) {
  auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  const bool orthanc = !o.orthanc.empty();
  if (o.watch.empty() == o.orthanc.empty())
    throw Error(ExitCode::Usage, "serve needs one source: a watch folder or an Orthanc server (not both)");
  if (o.out.empty() || o.db.empty()) throw Error(ExitCode::Usage, "serve needs an output folder and a queue");
  if (!(o.settle_seconds >= 0) || !(o.poll_seconds > 0) || o.max_attempts < 1 || !(o.retry_delay_seconds >= 0) ||
      !(o.max_backoff_seconds > 0))
    throw Error(ExitCode::Usage, "serve: settle and retry delay must be >= 0, poll and backoff > 0, max attempts >= 1");
  if (o.store && !orthanc) throw Error(ExitCode::Usage, "--store is for an Orthanc source (--orthanc)");
  if (o.store && !o.job.dicom_seg) throw Error(ExitCode::Usage, "--store stores segmentation.dcm: it contradicts --no-dicom-seg");
  std::error_code ec;
  const fs::path out = resolved_path(o.out), db = resolved_path(o.db);
  fs::path watch;
  if (!orthanc) {
    if (!fs::is_directory(o.watch, ec)) throw Error(ExitCode::NotFound, "the watch folder '" + o.watch + "' does not exist");
    watch = resolved_path(o.watch);
    if (path_is_within(out, watch) || path_is_within(watch, out))
      throw Error(ExitCode::Usage, "the output folder '" + o.out + "' and the watch folder '" + o.watch +
                                       "' must not lie in each other (results would be taken for new series)");
    if (path_is_within(db, watch))
      throw Error(ExitCode::Usage, "the queue '" + o.db + "' must not lie inside the watch folder '" + o.watch + "'");
  }
  if (fs::is_symlink(o.out, ec) || (fs::exists(o.out, ec) && !fs::is_directory(o.out, ec)))
    throw Error(ExitCode::WriteFailed, "the output '" + o.out + "' is a file or a link, not a folder (nothing was changed)");
  if (fs::is_directory(o.out, ec) && !fs::is_empty(o.out, ec) && !is_pulmo_output_folder(o.out))
    throw Error(ExitCode::WriteFailed, "the output folder '" + o.out + "' exists, is not empty and was not written by pulmo "
                                       "(it holds no " + std::string(kOutputMarker) + " file; nothing was changed)");
  if (db.has_parent_path()) fs::create_directories(db.parent_path(), ec);
  QueueLock lock(db.string());
  SeriesQueue queue(db.string(), /*create=*/true);

  std::unique_ptr<SeriesSource> source;
  if (orthanc) {
    OrthancSourceOptions so;
    so.rest_root = o.orthanc;
    so.dicomweb_root = o.dicomweb_root;
    so.since = o.since;
    so.store = o.store;
    so.credentials_file = o.job.credentials_file;
    so.ca_file = o.job.ca_file;
    so.log = log;
    std::vector<std::string> warnings;
    source = make_orthanc_source(so, queue, &warnings);  // address and credentials checked here, before any work
    for (const std::string& w : warnings) log("warning: " + w);
  } else {
    source = make_folder_source(watch.string(), o.settle_seconds);
  }
  write_text_atomic((out / kOutputMarker).string(), output_marker_text());

  // Rows a killed process left running: done when their report folder was renamed into place (and, for a source that
  // publishes it, run again to publish it: the report is not computed again), else run again.
  for (const QueueRow& r : queue.interrupted()) {
    if (complete_report(out / r.output) && !source->publishes()) {
      queue.mark_done(r.id, 0, "finished before the interruption");
      log("series " + r.output + ": was interrupted after its report folder was complete: done");
    } else {
      queue.requeue_interrupted(r.id, o.max_attempts);
      log("series " + r.output + ": was interrupted during attempt " + std::to_string(r.attempts) +
          (r.attempts >= o.max_attempts ? ": parked (" + std::to_string(o.max_attempts) + " attempts)" : ": queued again"));
    }
  }

  log("watching " + source->describe() + " -> " + out.string() + " (queue " + db.string() + ": " + counts_line(queue) + ")");
  StopHandlers handlers;
  ServeOutcome result;
  double backoff = 0;  // > 0 while the source cannot be read: the wait before the next look, doubled each time
  auto source_failed = [&](const std::string& what) {
    backoff = backoff == 0 ? o.poll_seconds : std::min(backoff * 2, std::max(o.max_backoff_seconds, o.poll_seconds));
    log(what + " (looking again in " + fixed1(backoff) + " s)");
    nap(backoff);
  };
  while (!g_stop) {
    std::vector<SeriesItem> found;
    try {
      found = source->poll();
    } catch (const Error& e) {
      source_failed(std::string("cannot read the source: ") + e.what());
      continue;  // nothing is claimed while the source is away: its series could not be fetched
    }
    if (backoff > 0) log("the source can be read again");
    backoff = 0;
    // A queue that cannot be written (a full disk) ends the service with its error (exit code 7): what was not
    // recorded is found again at the next start (queueing is idempotent, the source's position is recorded after).
    for (const SeriesItem& item : found) {
      if (!item.ignore_reason.empty()) {
        ++result.ignored;
        log("ignored " + item.locator + (item.series_uid.empty() ? "" : " series " + item.series_uid) + ": " + item.ignore_reason);
        continue;
      }
      if (!queue.add(item, out.string())) continue;
      log(item.skip_reason.empty() ? "queued " + item.locator + (item.series_uid.empty() ? "" : " series " + item.series_uid)
                                   : "skipped " + item.locator + (item.series_uid.empty() ? "" : " series " + item.series_uid) +
                                         ": " + item.skip_reason);
      if (!item.skip_reason.empty()) ++result.skipped;
    }
    source->acknowledge();
    QueueRow row;
    if (!g_stop && queue.claim(row)) {
      const auto t0 = Clock::now();
      const std::string tag = "series " + row.output + " (attempt " + std::to_string(row.attempts) + "/" +
                              std::to_string(o.max_attempts) + ")";
      log(tag + ": quantifying " + row.locator + (row.series_uid.empty() || orthanc ? "" : " series " + row.series_uid));
      QuantifyJobOptions job = o.job;
      job.series = row.series_uid;
      job.case_id = row.output;
      job.overwrite = false;
      job.store = false;  // the source publishes the results (after a failed store, without quantifying again)
      job.progress = [&](const std::string& line) {
        if (g_stop) throw StopRequested{};
        log(tag + ": " + line);
      };
      auto seconds = [&]() { return std::chrono::duration<double>(Clock::now() - t0).count(); };
      const fs::path folder = out / row.output;
      bool finished = false;
      try {
        if (complete_report(folder)) {
          log(tag + ": the report folder is complete from an earlier attempt: publishing it");
        } else {
          const std::string input = source->input_for(row, job);
          quantify_to_folder(input, folder.string(), job);
        }
        if (g_stop && source->publishes()) throw StopRequested{};  // published at the next start
        const std::string published = source->publish(row, folder.string());
        if (!published.empty()) log(tag + ": " + published);
        finished = true;
      } catch (const StopRequested&) {
        queue.release(row.id);
        log(tag + ": stopped; back in the queue");
      } catch (const Error& e) {
        if (e.code() == ExitCode::NoLungs) {
          queue.mark_skipped(row.id, static_cast<int>(e.code()), std::string("not a chest CT: ") + e.what(), seconds());
          ++result.skipped;
          log(tag + ": skipped, not a chest CT: " + e.what());
        } else if (e.code() == ExitCode::Remote && !source->reachable()) {
          // The server went away, not the series' fault: back in the queue, the attempt not counted.
          queue.release(row.id);
          source_failed(tag + ": the source's server does not answer (" + e.what() + "); the series is back in the queue");
        } else {
          const std::string state = queue.mark_failed(row.id, static_cast<int>(e.code()), e.what(), seconds(),
                                                      o.max_attempts, o.retry_delay_seconds);
          ++(state == "parked" ? result.parked : result.failed);
          log(tag + ": FAILED (exit code " + std::to_string(static_cast<int>(e.code())) + "): " + e.what() +
              (state == "parked" ? "; parked" : "; next attempt in " + fixed1(o.retry_delay_seconds) + " s"));
        }
      } catch (const std::exception& e) {
        const std::string state = queue.mark_failed(row.id, static_cast<int>(ExitCode::Internal),
                                                    std::string("internal error: ") + e.what(), seconds(),
                                                    o.max_attempts, o.retry_delay_seconds);
        ++(state == "parked" ? result.parked : result.failed);
        log(tag + ": FAILED (internal error): " + e.what() + (state == "parked" ? "; parked" : ""));
      }
      // Outside the try: a queue that cannot record it ends the service; the row, still running, is found complete
      // at the next start.
      if (finished) {
        queue.mark_done(row.id, seconds());
        ++result.done;
        log(tag + ": done in " + fixed1(seconds()) + " s -> " + folder.string());
      }
      log("queue: " + counts_line(queue));
      continue;  // look at the source again, then the next series
    }
    const double due = queue.next_due_in();
    if (o.once && due < 0 && !source->settling()) break;
    nap(due >= 0 ? std::min(o.poll_seconds, std::max(due, 0.05)) : o.poll_seconds);
  }
  result.stopped = g_stop != 0;
  if (result.stopped) log(std::string("stopping (") + (g_stop == SIGINT ? "SIGINT" : "SIGTERM") + "): queue " + counts_line(queue));
  return result;
}

int retry_parked(const std::string& db) {
  SeriesQueue queue(db, /*create=*/false);
  return queue.retry_parked();
}

QueueReport queue_report(const std::string& db) {
  SeriesQueue queue(db, /*create=*/false);
  QueueReport r;
  r.counts = queue.counts();
  for (const QueueRow& row : queue.rows_in({"running", "failed", "parked", "skipped"})) {
    QueueEntry e;
    e.state = row.state;
    e.output = row.output;
    e.source = row.locator;
    e.series_uid = row.series_uid;
    e.reason = row.reason;
    e.started_utc = row.started_utc;
    e.finished_utc = row.finished_utc;
    e.attempts = row.attempts;
    e.exit_code = row.exit_code;
    e.seconds = row.seconds;
    r.entries.push_back(e);
  }
  return r;
}

}  // namespace pulmo
