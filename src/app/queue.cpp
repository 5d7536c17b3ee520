// The durable queue of `pulmo serve` over SQLite (WAL, synchronous=FULL, one transaction per change).
#include "app/queue.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <set>

#include "pulmo/error.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

constexpr int kApplicationId = 0x50554c51;  // "PULQ": this SQLite file is a pulmo queue
constexpr int kSchemaVersion = 2;  // 2: the table `cursor` (a source's position, e.g. Orthanc's change index)

double now_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One prepared statement; throws Error(WriteFailed) naming the database on any SQLite error.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& path, const std::string& sql) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st_, nullptr) != SQLITE_OK) fail();
  }
  ~Statement() { sqlite3_finalize(st_); }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(st_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(st_, i, v);
    return *this;
  }
  // True while a row is available.
  bool step() {
    const int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail();
    return false;
  }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(st_, c);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t integer(int c) const { return sqlite3_column_int64(st_, c); }
  double real(int c) const { return sqlite3_column_double(st_, c); }
  bool null(int c) const { return sqlite3_column_type(st_, c) == SQLITE_NULL; }

 private:
  [[noreturn]] void fail() {
    const int rc = sqlite3_errcode(db_);
    const std::string message = "queue database '" + path_ + "': " + sqlite3_errmsg(db_);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) throw Error(ExitCode::BadConfig, message);
    throw Error(ExitCode::WriteFailed, message + (rc == SQLITE_FULL || rc == SQLITE_IOERR ? " (disk full or not writable?)" : ""));
  }
  sqlite3* db_;
  std::string path_;
  sqlite3_stmt* st_ = nullptr;
};

const char* kColumns =
    "id, key, locator, series_uid, output, state, reason, attempts, exit_code, enqueued_utc, started_utc, "
    "finished_utc, seconds";

QueueRow row_of(const Statement& s) {
  QueueRow r;
  r.id = s.integer(0);
  r.key = s.text(1);
  r.locator = s.text(2);
  r.series_uid = s.text(3);
  r.output = s.text(4);
  r.state = s.text(5);
  r.reason = s.text(6);
  r.attempts = static_cast<int>(s.integer(7));
  r.exit_code = static_cast<int>(s.integer(8));
  r.enqueued_utc = s.text(9);
  r.started_utc = s.text(10);
  r.finished_utc = s.text(11);
  r.seconds = s.real(12);
  return r;
}

const char* kNowUtc = "strftime('%Y-%m-%dT%H:%M:%SZ','now')";

}  // namespace

SeriesQueue::SeriesQueue(const std::string& path, bool create) : path_(path) {
  std::error_code ec;
  if (!create && !fs::exists(path, ec)) throw Error(ExitCode::NotFound, "queue database '" + path + "' does not exist");
  if (fs::is_directory(path, ec)) throw Error(ExitCode::WriteFailed, "queue database '" + path + "' is a folder");
  const int flags = create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(create ? ExitCode::WriteFailed : ExitCode::NotFound, "cannot open the queue database '" + path + "': " + message);
  }
  try {
    sqlite3_busy_timeout(db_, 10000);
    int app_id = 0, version = 0, tables = 0;
    {
      Statement s(db_, path_, "PRAGMA application_id");
      if (s.step()) app_id = static_cast<int>(s.integer(0));
    }
    {
      Statement s(db_, path_, "PRAGMA user_version");
      if (s.step()) version = static_cast<int>(s.integer(0));
    }
    {
      Statement s(db_, path_, "SELECT count(*) FROM sqlite_master");
      if (s.step()) tables = static_cast<int>(s.integer(0));
    }
    if (tables == 0 && !create)
      throw Error(ExitCode::BadConfig, "'" + path + "' holds no pulmo queue (nothing was changed)");
    if (tables > 0 && app_id != kApplicationId)
      throw Error(ExitCode::BadConfig, "'" + path + "' is an SQLite database but not a pulmo queue (nothing was changed)");
    if (version > kSchemaVersion)
      throw Error(ExitCode::BadConfig, "queue database '" + path + "' has schema version " + std::to_string(version) +
                                           ", newer than this pulmo's (" + std::to_string(kSchemaVersion) + ")");
    // WAL: readers (pulmo serve --status) never block the writer; FULL: a committed change survives power loss.
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    if (tables == 0 || version < kSchemaVersion) {
      exec("BEGIN IMMEDIATE");
      exec(R"(CREATE TABLE IF NOT EXISTS series (
             id INTEGER PRIMARY KEY,
             key TEXT NOT NULL UNIQUE,
             locator TEXT NOT NULL,
             series_uid TEXT NOT NULL DEFAULT '',
             output TEXT NOT NULL UNIQUE,
             state TEXT NOT NULL CHECK (state IN ('pending','running','done','skipped','failed','parked')),
             reason TEXT NOT NULL DEFAULT '',
             attempts INTEGER NOT NULL DEFAULT 0,
             exit_code INTEGER NOT NULL DEFAULT 0,
             not_before REAL NOT NULL DEFAULT 0,
             enqueued_utc TEXT NOT NULL DEFAULT '',
             started_utc TEXT NOT NULL DEFAULT '',
             finished_utc TEXT NOT NULL DEFAULT '',
             seconds REAL NOT NULL DEFAULT 0))");
      exec("CREATE INDEX IF NOT EXISTS series_state ON series(state, not_before, id)");
      // version 2: where a source is in its feed, so that a restart resumes there (e.g. Orthanc's last change index)
      exec("CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, position INTEGER NOT NULL)");
      exec("PRAGMA application_id=" + std::to_string(kApplicationId));
      exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
      exec("COMMIT");
    }
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

SeriesQueue::~SeriesQueue() {
  if (db_) sqlite3_close(db_);
}

void SeriesQueue::exec(const std::string& sql) {
  Statement s(db_, path_, sql);
  while (s.step()) {
  }
}

bool SeriesQueue::add(const SeriesItem& item, const std::string& out_dir) {
  {  // the common case, without a write transaction: a key queued before
    Statement s(db_, path_, "SELECT 1 FROM series WHERE key = ?");
    if (s.bind(1, item.key).step()) return false;
  }
  exec("BEGIN IMMEDIATE");
  try {
    bool known = false;
    {
      Statement s(db_, path_, "SELECT 1 FROM series WHERE key = ?");
      known = s.bind(1, item.key).step();
    }
    if (known) {
      exec("COMMIT");
      return false;
    }
    std::string output = item.name.empty() ? "series" : item.name;
    for (int n = 2;; ++n) {
      std::error_code ec;
      Statement s(db_, path_, "SELECT 1 FROM series WHERE output = ?");
      if (!s.bind(1, output).step() && !fs::exists(fs::path(out_dir) / output, ec) && !fs::is_symlink(fs::path(out_dir) / output, ec))
        break;
      output = (item.name.empty() ? "series" : item.name) + "-" + std::to_string(n);
    }
    const bool skipped = !item.skip_reason.empty();
    Statement s(db_, path_,
                std::string("INSERT INTO series (key, locator, series_uid, output, state, reason, enqueued_utc, finished_utc) "
                            "VALUES (?, ?, ?, ?, ?, ?, ") +
                    kNowUtc + ", " + (skipped ? kNowUtc : "''") + ")");
    s.bind(1, item.key).bind(2, item.locator).bind(3, item.series_uid).bind(4, output);
    s.bind(5, std::string(skipped ? "skipped" : "pending")).bind(6, item.skip_reason);
    s.step();
    exec("COMMIT");
    return true;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

bool SeriesQueue::claim(QueueRow& row) {
  exec("BEGIN IMMEDIATE");
  try {
    bool found = false;
    {
      Statement s(db_, path_, std::string("SELECT ") + kColumns +
                                  " FROM series WHERE state IN ('pending', 'failed') AND not_before <= ? ORDER BY not_before, id LIMIT 1");
      if (s.bind(1, now_epoch()).step()) {
        row = row_of(s);
        found = true;
      }
    }
    if (found) {
      Statement s(db_, path_, std::string("UPDATE series SET state = 'running', attempts = attempts + 1, started_utc = ") +
                                  kNowUtc + ", finished_utc = '' WHERE id = ?");
      s.bind(1, row.id).step();
      row.state = "running";
      ++row.attempts;
    }
    exec("COMMIT");
    return found;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void SeriesQueue::mark_done(int64_t id, double seconds, const std::string& note) {
  Statement s(db_, path_, std::string("UPDATE series SET state = 'done', exit_code = 0, reason = ?, seconds = ?, finished_utc = ") +
                              kNowUtc + " WHERE id = ?");
  s.bind(1, note).bind(2, seconds).bind(3, id).step();
}

void SeriesQueue::mark_skipped(int64_t id, int exit_code, const std::string& reason, double seconds) {
  Statement s(db_, path_, std::string("UPDATE series SET state = 'skipped', exit_code = ?, reason = ?, seconds = ?, finished_utc = ") +
                              kNowUtc + " WHERE id = ?");
  s.bind(1, static_cast<int64_t>(exit_code)).bind(2, reason).bind(3, seconds).bind(4, id).step();
}

std::string SeriesQueue::mark_failed(int64_t id, int exit_code, const std::string& error, double seconds,
                                     int max_attempts, double retry_delay_s) {
  Statement s(db_, path_, std::string("UPDATE series SET state = CASE WHEN attempts >= ? THEN 'parked' ELSE 'failed' END, "
                                      "exit_code = ?, reason = ?, seconds = ?, not_before = ?, finished_utc = ") +
                              kNowUtc + " WHERE id = ? RETURNING state");
  s.bind(1, static_cast<int64_t>(max_attempts)).bind(2, static_cast<int64_t>(exit_code)).bind(3, error).bind(4, seconds);
  s.bind(5, now_epoch() + retry_delay_s).bind(6, id);
  const std::string state = s.step() ? s.text(0) : "";
  while (s.step()) {
  }
  return state;
}

void SeriesQueue::release(int64_t id) {
  Statement s(db_, path_, "UPDATE series SET state = 'pending', attempts = max(attempts - 1, 0), started_utc = '' "
                          "WHERE id = ? AND state = 'running'");
  s.bind(1, id).step();
}

std::vector<QueueRow> SeriesQueue::interrupted() { return rows_in({"running"}); }

void SeriesQueue::requeue_interrupted(int64_t id, int max_attempts) {
  Statement s(db_, path_, std::string("UPDATE series SET state = CASE WHEN attempts >= ? THEN 'parked' ELSE 'pending' END, "
                                      "reason = 'interrupted (the process ended during attempt ' || attempts || ')', "
                                      "exit_code = CASE WHEN attempts >= ? THEN 1 ELSE exit_code END, not_before = 0, "
                                      "finished_utc = CASE WHEN attempts >= ? THEN ") +
                              kNowUtc + " ELSE '' END WHERE id = ? AND state = 'running'");
  const int64_t m = max_attempts;
  s.bind(1, m).bind(2, m).bind(3, m).bind(4, id).step();
}

int SeriesQueue::retry_parked() {
  exec("UPDATE series SET state = 'pending', attempts = 0, not_before = 0, finished_utc = '' WHERE state = 'parked'");
  return sqlite3_changes(db_);
}

std::map<std::string, int> SeriesQueue::counts() {
  std::map<std::string, int> c;
  for (const char* state : {"pending", "running", "done", "skipped", "failed", "parked"}) c[state] = 0;
  Statement s(db_, path_, "SELECT state, count(*) FROM series GROUP BY state");
  while (s.step()) c[s.text(0)] = static_cast<int>(s.integer(1));
  return c;
}

std::vector<QueueRow> SeriesQueue::rows_in(const std::vector<std::string>& states) {
  std::vector<QueueRow> rows;
  Statement s(db_, path_, std::string("SELECT ") + kColumns + " FROM series ORDER BY id");
  const std::set<std::string> wanted(states.begin(), states.end());
  while (s.step()) {
    QueueRow r = row_of(s);
    if (wanted.count(r.state)) rows.push_back(r);
  }
  return rows;
}

std::optional<int64_t> SeriesQueue::cursor(const std::string& name) {
  Statement s(db_, path_, "SELECT position FROM cursor WHERE name = ?");
  if (!s.bind(1, name).step()) return std::nullopt;
  return s.integer(0);
}

void SeriesQueue::set_cursor(const std::string& name, int64_t position) {
  Statement s(db_, path_, "INSERT INTO cursor (name, position) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET position = excluded.position");
  s.bind(1, name).bind(2, position).step();
}

double SeriesQueue::next_due_in() {
  Statement s(db_, path_, "SELECT min(not_before) FROM series WHERE state IN ('pending', 'failed')");
  if (!s.step() || s.null(0)) return -1;
  return std::max(0.0, s.real(0) - now_epoch());
}

}  // namespace pulmo
