// Batches of quantification jobs: resumable, shardable, one failed case never stops the others.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <set>
#include <sstream>

#include "app/names.h"
#include "app/output_folder.h"
#include "core/duration.h"
#include "data/csv.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/job.h"

namespace fs = std::filesystem;

namespace pulmo {
namespace {

using Clock = std::chrono::steady_clock;

struct BatchCase {
  std::string case_id, input;
};

std::vector<BatchCase> list_cases(const std::string& source) {
  std::error_code ec;
  std::vector<BatchCase> cases;
  if (fs::is_regular_file(source, ec)) {
    const Manifest m = read_manifest(source);
    for (const Case& c : m.cases) cases.push_back({c.case_id, c.image});
  } else if (fs::is_directory(source, ec)) {
    std::vector<fs::path> entries;
    for (const auto& e : fs::directory_iterator(source, ec)) entries.push_back(e.path());
    std::sort(entries.begin(), entries.end());
    for (const fs::path& p : entries) {
      const std::string name = p.filename().string();
      if (name.empty() || name[0] == '.') continue;
      if (fs::is_directory(p, ec)) cases.push_back({name, p.string()});
      else if (std::string id = name; strip_volume_extension(id)) cases.push_back({id, p.string()});
    }
  } else {
    throw Error(ExitCode::NotFound, "batch source '" + source + "' does not exist");
  }
  if (cases.empty()) throw Error(ExitCode::NoData, "batch source '" + source + "' lists no CT");
  std::set<std::string> seen;
  for (BatchCase& c : cases) {
    if (c.case_id.empty()) throw Error(ExitCode::BadConfig, "batch source '" + source + "': a case without case_id");
    c.case_id = safe_id(c.case_id);
    if (!seen.insert(c.case_id).second)
      throw Error(ExitCode::BadConfig, "batch source '" + source + "': case id '" + c.case_id + "' appears twice");
  }
  return cases;
}


// A report.csv line without its first two fields (case_id, input_path: the summary's own first columns).
std::string without_case_columns(const std::string& line) {
  const auto rows = data::parse_csv(line);
  if (rows.empty()) return "";
  std::string out;
  for (size_t i = 2; i < rows[0].size(); ++i) out += (i > 2 ? "," : "") + data::csv_field(rows[0][i]);
  return out;
}

// The report.csv of a finished case folder: {header, row}, or empty strings.
std::pair<std::string, std::string> finished_row(const fs::path& folder) {
  std::error_code ec;
  if (!fs::exists(folder / "report.json", ec) || !fs::exists(folder / "report.csv", ec)) return {};
  std::istringstream in(read_text_file((folder / "report.csv").string()));
  std::string header, row;
  std::getline(in, header);
  std::getline(in, row);
  return {header, row};
}

}  // namespace

BatchOutcome quantify_batch(const std::string& source, const std::string& out, const QuantifyJobOptions& options,
                            const BatchOptions& batch) {
  if (batch.shard_count < 1 || batch.shard_index < 1 || batch.shard_index > batch.shard_count)
    throw Error(ExitCode::Usage, "shard must be I/N with 1 <= I <= N");
  std::error_code ec;
  // The output folder: never the input folder or inside it (its report folders would be written over the cases
  // of the same name and read back as cases), and, when it exists with anything in it, a folder pulmo wrote.
  if (fs::is_directory(source, ec) && path_is_within(resolved_path(out), resolved_path(source)))
    throw Error(ExitCode::Usage, "the batch output folder '" + out + "' is or lies inside its input folder '" + source +
                                     "': its report folders would replace or join the cases (choose an --out outside it)");
  if (fs::is_symlink(out, ec) || (fs::exists(out, ec) && !fs::is_directory(out, ec)))
    throw Error(ExitCode::WriteFailed, "the batch output '" + out + "' is a file or a link, not a folder (nothing was changed)");
  if (fs::is_directory(out, ec) && !fs::is_empty(out, ec) && !is_pulmo_output_folder(out))
    throw Error(ExitCode::WriteFailed, "the batch output folder '" + out + "' exists, is not empty and was not written by "
                                       "pulmo (it holds no " + std::string(kOutputMarker) + " file; nothing was changed)");
  const std::vector<BatchCase> all = list_cases(source);
  std::vector<BatchCase> mine;
  for (size_t i = 0; i < all.size(); ++i)
    if (static_cast<int>(i % batch.shard_count) == batch.shard_index - 1) mine.push_back(all[i]);
  auto say = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };
  BatchOutcome result;
  result.summary_csv = (fs::path(out) / (batch.shard_count > 1 ? "summary-" + std::to_string(batch.shard_index) + "-of-" +
                                                                     std::to_string(batch.shard_count) + ".csv"
                                                               : std::string("summary.csv")))
                           .string();
  write_text_atomic((fs::path(out) / kOutputMarker).string(), output_marker_text());
  say("batch: " + std::to_string(mine.size()) + " of " + std::to_string(all.size()) + " case(s) in this part -> " + out);
  std::string report_header;
  std::vector<std::string> rows;  // "case_id,input,status,exit_code,message,seconds" + report columns
  auto write_summary = [&]() {
    const std::string header = "case_id,input,status,exit_code,message,seconds" + (report_header.empty() ? "" : "," + report_header);
    const size_t columns = data::parse_csv(header)[0].size();
    std::string text = header + "\n";
    for (const std::string& r : rows) {  // every row as wide as the header: failed cases get empty report columns
      const size_t fields = data::parse_csv(r)[0].size();
      text += r + std::string(columns > fields ? columns - fields : 0, ',') + "\n";
    }
    write_text_atomic(result.summary_csv, text);
  };
  const auto start = Clock::now();
  int processed = 0;
  for (size_t i = 0; i < mine.size(); ++i) {
    const BatchCase& c = mine[i];
    const fs::path folder = fs::path(out) / c.case_id;
    const std::string prefix = "case " + std::to_string(i + 1) + "/" + std::to_string(mine.size()) + " (" + c.case_id + ")";
    const std::string head = data::csv_field(c.case_id) + "," + data::csv_field(c.input) + ",";
    auto [done_header, done_row] = finished_row(folder);
    if (!batch.redo && !done_row.empty()) {
      if (report_header.empty()) report_header = without_case_columns(done_header);
      rows.push_back(head + "skipped (done before),0,,," + without_case_columns(done_row));
      ++result.skipped;
      say(prefix + ": already done, skipped");
      write_summary();
      continue;
    }
    const auto t0 = Clock::now();
    QuantifyJobOptions o = options;
    o.case_id = c.case_id;
    o.overwrite = true;  // a report folder pulmo wrote without a complete report is replaced; any other folder is kept
    std::ostringstream secs;
    try {
      const CaseOutcome r = quantify_to_folder(c.input, folder.string(), o);
      if (report_header.empty()) report_header = without_case_columns(r.csv_header);
      secs << std::fixed << std::setprecision(1) << r.seconds;
      rows.push_back(head + "done,0,," + secs.str() + "," + without_case_columns(r.csv_row));
      ++result.done;
      say(prefix + ": done in " + secs.str() + " s");
    } catch (const Error& e) {
      secs << std::fixed << std::setprecision(1) << std::chrono::duration<double>(Clock::now() - t0).count();
      rows.push_back(head + "failed," + std::to_string(static_cast<int>(e.code())) + "," + data::csv_field(e.what()) + "," + secs.str());
      ++result.failed;
      say(prefix + ": FAILED (exit code " + std::to_string(static_cast<int>(e.code())) + "): " + e.what());
    } catch (const std::exception& e) {
      secs << std::fixed << std::setprecision(1) << std::chrono::duration<double>(Clock::now() - t0).count();
      rows.push_back(head + "failed,1," + data::csv_field(std::string("internal error: ") + e.what()) + "," + secs.str());
      ++result.failed;
      say(prefix + ": FAILED (internal error): " + e.what());
    }
    ++processed;
    write_summary();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const size_t left = mine.size() - i - 1;
    if (left > 0 && processed > 0) say("batch: " + std::to_string(left) + " case(s) left, ETA " + duration_text(elapsed / processed * left));
  }
  if (mine.empty()) write_summary();
  return result;
}

}  // namespace pulmo
