// pulmo serve --orthanc (issue 19, part 2): Orthanc's change feed as the source of the watch service, against a real
// Orthanc with its DICOMweb plugin started by the test (support/orthanc_server.h, StableAge 1 s). Real chest CT series
// from ../shared/data: a burst quantified once each and stored back (SEG + SR), a non-CT series skipped with its
// reason; a kill -9 in the middle of a series and a restart (nothing lost, nothing repeated, on disk and on the
// server); Orthanc stopped and started again while serve runs (it waits with a growing delay and resumes, never
// exiting); a series deleted from Orthanc after it was queued (retried, then parked with its error); bad addresses and
// credentials refused at start.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "pulmo/io.h"
#include "support/orthanc_server.h"
#include "support/serve_queue.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::test::count_temporary_files;
using pulmo::test::exit_status;
using pulmo::test::occurrences;
constexpr auto q = pulmo::test::quoted;
using pulmo::test::wait_for_log;
using pulmo::test::OrthancServer;
using pulmo::test::run_pulmo;
using pulmo::test::shared_data_path;
using pulmo::test::slurp;
using pulmo::test::spawn_pulmo;
using pulmo::test::TempDir;

namespace {

// Small real chest CTs (../shared/data/README.md): two consecutive LIDC-IDRI slices (one series) and the axial
// slices of one COVID-19-NY-SBU patient (two single-slice series). Classical lungs: seconds each.
constexpr const char* kLidc = "ct/lidc-lungmask";
constexpr const char* kSbu = "ct/covid19-ny-sbu/A002304/axial";
const std::string kFast = " --lungs classical --no-lesions --no-html --poll 0.2 --retry-delay 0.3";

// The real series of the burst, uploaded: their SeriesInstanceUIDs.
std::vector<std::string> upload_real_series(const OrthancServer& pacs) {
  EXPECT_EQ(pacs.upload_folder(shared_data_path(kLidc)), 2);
  EXPECT_EQ(pacs.upload_folder(shared_data_path(kSbu)), 2);
  std::vector<std::string> uids;
  for (const std::string& folder : {kLidc, kSbu})
    for (const auto& s : pulmo::list_dicom_series(shared_data_path(folder))) uids.push_back(s.series_uid);
  EXPECT_EQ(uids.size(), 3u);
  return uids;
}

// A synthetic MR series (not CT) uploaded; returns its SeriesInstanceUID.
std::string upload_mr_series(const OrthancServer& pacs, const TempDir& t) {
  const std::string uid = "1.2.826.0.1.3680043.9.7777.1";
  pulmo::test::write_tagged_series(t.file("mr"), uid, "MR");
  pacs.upload_folder(t.file("mr"));
  return uid;
}

// Waits until Orthanc holds `count` series it calls stable.
bool wait_stable(const OrthancServer& pacs, int count, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    int n = 0;
    for (const auto& series : pacs.get_json("/series?expand")) n += series.value("IsStable", false);
    if (n >= count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

std::string status_of(const TempDir& t) { return pulmo::test::queue_status(t.file("q.sqlite")); }
bool wait_for_status(const TempDir& t, const std::string& part, double seconds) {
  return pulmo::test::wait_for_status(t.file("q.sqlite"), part, seconds);
}

// Pauses the service `pid` (SIGSTOP) and reads its queue until the queue shows a series running after at least one
// done, then kills it (SIGKILL, while paused: in the middle of that series); returns the running series' output name
// ("" when none was seen in `seconds`; the service is then killed too).
std::string kill_nine_mid_series(pid_t pid, const TempDir& t, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    ::kill(pid, SIGSTOP);
    const std::string s = status_of(t);
    if (s.find("1 running") != std::string::npos && s.find(" 0 done") == std::string::npos) {
      ::kill(pid, SIGKILL);
      const std::string running = pulmo::test::running_series(s);
      return running.empty() ? "?" : running;
    }
    ::kill(pid, SIGCONT);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  ::kill(pid, SIGKILL);
  return "";
}

// The arguments of `pulmo serve --orthanc` on the test server, for spawn_pulmo (with the lesion model: seconds a
// series, time to be killed in the middle of one; add --no-lesions for speed).
std::vector<std::string> serve_argv(const OrthancServer& pacs, const TempDir& t, const std::vector<std::string>& more) {
  std::vector<std::string> a = {"--threads", "1", "serve", "--orthanc", pacs.rest_root(), "--out", t.file("out"), "--db",
                                t.file("q.sqlite"), "--credentials", OrthancServer::credentials_file(t), "--lungs",
                                "classical", "--no-html", "--poll", "0.2", "--retry-delay", "0.3"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

}  // namespace

TEST(CliServeOrthanc, ABurstOfStableSeriesIsQuantifiedOnceEachStoredBackAndANonCtSeriesIsSkippedWithItsReason) {
  PULMO_REQUIRE_SHARED_DATA(kLidc);
  PULMO_REQUIRE_SHARED_DATA(kSbu);
  OrthancServer pacs(1);
  PULMO_REQUIRE_ORTHANC(pacs);
  TempDir t;
  const std::vector<std::string> uids = upload_real_series(pacs);
  const std::string mr = upload_mr_series(pacs, t);
  ASSERT_TRUE(wait_stable(pacs, 4, 60)) << pacs.get_json("/series?expand").dump();
  const std::string serve = "--threads 1 serve --orthanc " + q(pacs.rest_root()) + " --out " + q(t.file("out")) + " --db " +
                            q(t.file("q.sqlite")) + " --credentials " + q(OrthancServer::credentials_file(t)) + kFast;

  // --since 0: the feed from its start (the series came before the service's first start).
  auto r = run_pulmo(serve + " --since 0 --store --once");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Skipped: the MR series; the SEG and SR series stored back that became stable during the run are pulmo's own
  // results, ignored (not queued, not skipped).
  EXPECT_NE(r.out.find("this run: 3 done, 1 skipped, 0 failed (to be retried), 0 parked"), std::string::npos) << r.out << r.err;
  std::string logs = r.err;
  EXPECT_EQ(r.err.find(pulmo::test::kOrthancPassword), std::string::npos) << r.err;
  for (const std::string& uid : uids) {
    EXPECT_TRUE(fs::exists(t.path() / "out" / uid / "report.json")) << uid;
    EXPECT_TRUE(fs::exists(t.path() / "out" / uid / "segmentation.dcm")) << uid;
    EXPECT_EQ(occurrences(r.err, "series " + uid + " (attempt 1/3): done in"), 1) << r.err;
    EXPECT_EQ(occurrences(r.err, "series " + uid + " (attempt 1/3): stored 2 DICOM result(s) on"), 1) << r.err;
  }
  EXPECT_FALSE(fs::exists(t.path() / "out" / mr));
  EXPECT_EQ(count_temporary_files(t.file("out")), 0);
  std::string status = status_of(t);
  EXPECT_NE(status.find("0 pending, 0 running, 3 done, 1 skipped, 0 failed, 0 parked"), std::string::npos) << status;
  EXPECT_NE(status.find("skipped  " + mr + ": not a CT (Modality MR)"), std::string::npos) << status;
  // Orthanc holds the three SEGs and the three SRs, each once.
  fs::create_directories(t.file("seg"));
  fs::create_directories(t.file("sr"));
  EXPECT_EQ(pacs.download_modality("SEG", t.file("seg")).size(), 3u);
  EXPECT_EQ(pacs.download_modality("SR", t.file("sr")).size(), 3u);

  // The results stored back become stable series of their own (Manufacturer pulmo): a second run ignores them - not
  // queued, not listed by --status as skipped - and repeats nothing.
  ASSERT_TRUE(wait_stable(pacs, 10, 60));
  r = run_pulmo(serve + " --store --once");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("this run: 0 done, 0 skipped, 0 failed (to be retried), 0 parked"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(occurrences(r.err, "quantifying"), 0) << r.err;
  logs += r.err;
  EXPECT_EQ(occurrences(logs, ": pulmo's own result (SEG)"), 3) << logs;
  EXPECT_EQ(occurrences(logs, ": pulmo's own result (SR)"), 3) << logs;
  status = status_of(t);
  EXPECT_NE(status.find("0 pending, 0 running, 3 done, 1 skipped, 0 failed, 0 parked"), std::string::npos) << status;
  EXPECT_EQ(status.find("SEG"), std::string::npos) << status;
  EXPECT_EQ(status.find("Modality SR"), std::string::npos) << status;
  EXPECT_EQ(pacs.download_modality("SEG", t.file("seg")).size(), 3u);
}

// One decision for both sources (src/app/series_kind.h): the same series - by Modality and Manufacturer - are
// queued, skipped with a reason or ignored alike from a watched folder and from Orthanc's change feed.
TEST(CliServeOrthanc, TheFolderAndTheOrthancSourceJudgeEachSeriesByItsTagsAlike) {
  OrthancServer pacs(1);
  PULMO_REQUIRE_ORTHANC(pacs);
  TempDir t;
  struct Row {
    const char* name;
    const char* modality;      // nullptr: no Modality tag
    const char* manufacturer;  // nullptr: no Manufacturer tag
    std::string verdict;       // the serve log's word for it, and the reason
  };
  const std::vector<Row> table = {
      {"ct", "CT", "ACME", "queued"},
      {"no-modality", nullptr, nullptr, "queued"},  // left to the reader and quantify's lung check
      {"mr", "MR", nullptr, "skipped: not a CT (Modality MR)"},
      {"pulmo-seg", "SEG", "pulmo", "ignored: pulmo's own result (SEG)"},
      {"other-seg", "SEG", "OtherVendor", "skipped: not a CT (Modality SEG)"},
      {"pulmo-ct", "CT", "pulmo", "queued"},  // only a SEG or SR is pulmo's result
  };
  std::vector<std::string> uids;
  for (const Row& row : table) {
    uids.push_back("1.2.826.0.1.3680043.9.7777.19." + std::to_string(uids.size() + 1));
    pulmo::test::write_tagged_series(t.file("in/" + std::string(row.name)), uids.back(), row.modality, row.manufacturer, 3);
    ASSERT_EQ(pacs.upload_folder(t.file("in/" + std::string(row.name))), 3) << row.name;
  }
  ASSERT_TRUE(wait_stable(pacs, static_cast<int>(table.size()), 60)) << pacs.get_json("/series?expand").dump();
  // The serve log line of each series: "queued ... series UID", "skipped ... series UID: REASON", "ignored ...".
  auto verdict_of = [](const std::string& log, const std::string& uid) {
    std::string verdict;
    for (const char* word : {"queued", "skipped", "ignored"})
      for (size_t at = log.find(std::string(": ") + word + " "); at != std::string::npos;
           at = log.find(std::string(": ") + word + " ", at + 1)) {
        const std::string line = log.substr(at + 2, log.find('\n', at) - at - 2);
        const size_t u = line.find(" series " + uid);
        if (u == std::string::npos || (u + 8 + uid.size() < line.size() && line[u + 8 + uid.size()] != ':')) continue;
        const size_t reason = line.find(": ", u);
        verdict += (verdict.empty() ? "" : " AND ") + std::string(word) + (reason == std::string::npos ? "" : line.substr(reason));
      }
    return verdict;
  };
  const std::string fast = " --lungs classical --no-lesions --no-html --poll 0.2 --max-attempts 1 --once";
  const auto folder = run_pulmo("serve --watch " + q(t.file("in")) + " --out " + q(t.file("out-folder")) + " --db " +
                                q(t.file("folder.sqlite")) + " --settle 0" + fast);
  ASSERT_EQ(folder.exit_code, 0) << folder.err;
  const auto feed = run_pulmo("serve --orthanc " + q(pacs.rest_root()) + " --since 0 --credentials " +
                              q(OrthancServer::credentials_file(t)) + " --out " + q(t.file("out-orthanc")) + " --db " +
                              q(t.file("orthanc.sqlite")) + fast);
  ASSERT_EQ(feed.exit_code, 0) << feed.err;
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(verdict_of(folder.err, uids[i]), table[i].verdict) << table[i].name << " (folder)\n" << folder.err;
    EXPECT_EQ(verdict_of(feed.err, uids[i]), table[i].verdict) << table[i].name << " (Orthanc)\n" << feed.err;
  }
  // Both queues: the two non-CT series skipped with their reasons, pulmo's SEG not in them at all.
  for (const char* db : {"folder.sqlite", "orthanc.sqlite"}) {
    const std::string status = pulmo::test::queue_status(t.file(db));
    EXPECT_EQ(occurrences(status, "\nskipped  "), 2 + occurrences(status, "not a chest CT")) << db << "\n" << status;
    EXPECT_EQ(status.find(uids[3]), std::string::npos) << db << "\n" << status;
  }
}

TEST(CliServeOrthanc, AKillNineMidSeriesThenARestartLosesNothingAndRepeatsNothing) {
  PULMO_REQUIRE_SHARED_DATA(kLidc);
  PULMO_REQUIRE_SHARED_DATA(kSbu);
  OrthancServer pacs(1);
  PULMO_REQUIRE_ORTHANC(pacs);
  TempDir t;
  const std::string log1 = t.file("first.log"), log2 = t.file("second.log");
  // Started before the series arrive (--since now, the default): it sees them come in.
  const pid_t first = spawn_pulmo(serve_argv(pacs, t, {"--store"}), log1);
  ASSERT_TRUE(wait_for_log(log1, "first start on this queue", 60)) << slurp(log1);
  const std::vector<std::string> uids = upload_real_series(pacs);
  // Killed while a series runs after one is done (a series takes a second or two: the service is paused while the
  // queue is looked at, and killed when it shows one running).
  const std::string running = kill_nine_mid_series(first, t, 300);
  EXPECT_EQ(exit_status(first), 128 + SIGKILL);
  ASSERT_FALSE(running.empty()) << status_of(t) << slurp(log1);
  const std::string killed = status_of(t);
  ASSERT_NE(killed.find("1 running"), std::string::npos) << killed << slurp(log1);

  // Restarted: the interrupted series runs again, the done one is not repeated, the third follows; the position in
  // the feed came from the queue (not --since now, which would lose the series that arrived while it was down).
  const pid_t second = spawn_pulmo(serve_argv(pacs, t, {"--store"}), log2);
  ASSERT_TRUE(wait_for_status(t, "0 pending, 0 running, 3 done", 300)) << slurp(log2);
  ::kill(second, SIGTERM);
  EXPECT_EQ(exit_status(second), 0) << slurp(log2);
  const std::string both = slurp(log1) + slurp(log2);
  EXPECT_NE(both.find("series " + running + ": was interrupted during attempt 1: queued again"), std::string::npos) << both;
  EXPECT_EQ(slurp(log2).find("first start on this queue"), std::string::npos) << slurp(log2);
  for (const std::string& uid : uids) {
    EXPECT_TRUE(fs::exists(t.path() / "out" / uid / "report.json")) << uid;
    EXPECT_EQ(occurrences(both, "series " + uid + " (attempt 1/3): done in") + occurrences(both, "series " + uid + " (attempt 2/3): done in"), 1)
        << uid << " done more than once or never:\n" << both;
  }
  EXPECT_EQ(occurrences(slurp(log2), ": quantifying "), 2) << slurp(log2);  // the killed series and the third
  EXPECT_EQ(count_temporary_files(t.file("out")), 0);
  // On the server: one SEG and one SR per series, none twice.
  fs::create_directories(t.file("seg"));
  EXPECT_EQ(pacs.download_modality("SEG", t.file("seg")).size(), 3u);
}

TEST(CliServeOrthanc, OrthancDownAtStartOrGoingAwayIsWaitedForWithBackoffAndASeriesDeletedAfterItWasQueuedIsParked) {
  PULMO_REQUIRE_SHARED_DATA(kLidc);
  PULMO_REQUIRE_SHARED_DATA(kSbu);
  OrthancServer pacs(1);
  PULMO_REQUIRE_ORTHANC(pacs);
  TempDir t;
  const std::string log = t.file("serve.log");
  // Orthanc is down when serve starts: serve says so and waits, longer each time; it does not exit. Once Orthanc
  // answers, the first start on the queue reads the feed.
  pacs.stop();
  const pid_t pid = spawn_pulmo(serve_argv(pacs, t, {"--max-attempts", "2"}), log);
  ASSERT_TRUE(wait_for_log(log, "(looking again in 0.8 s)", 30)) << slurp(log);
  EXPECT_EQ(slurp(log).find("first start on this queue"), std::string::npos) << slurp(log);
  EXPECT_EQ(::kill(pid, 0), 0) << "pulmo serve exited while Orthanc was down at its start:\n" << slurp(log);
  pacs.start();
  ASSERT_TRUE(pacs.failed().empty()) << pacs.failed();
  ASSERT_TRUE(wait_for_log(log, "first start on this queue", 90)) << slurp(log);
  ASSERT_TRUE(wait_for_log(log, "the source can be read again", 10)) << slurp(log);

  // Orthanc stops while serve runs: the same growing waits.
  size_t from = slurp(log).size();
  pacs.stop();
  ASSERT_TRUE(wait_for_log(log, "(looking again in 1.6 s)", 30, from)) << slurp(log);
  EXPECT_NE(slurp(log).find("cannot read the source: reading the change feed", from), std::string::npos) << slurp(log);
  EXPECT_EQ(::kill(pid, 0), 0) << "pulmo serve exited while Orthanc was down:\n" << slurp(log);
  // Orthanc is back (same port, same storage); series arrive: serve resumes.
  from = slurp(log).size();
  pacs.start();
  ASSERT_TRUE(pacs.failed().empty()) << pacs.failed();
  ASSERT_TRUE(wait_for_log(log, "the source can be read again", 60, from)) << slurp(log);
  const std::vector<std::string> uids = upload_real_series(pacs);

  // While the first series runs, another one is deleted from Orthanc after it was queued: its attempts fail with a
  // clear error (the server has no such series), then it is parked; the service goes on.
  // The service is paused (SIGSTOP) while the queue shows one series done, one running and one pending, so that the
  // pending one is known for certain; it is deleted, and the service continued (SIGCONT).
  std::string victim;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (victim.empty() && std::chrono::steady_clock::now() < until) {
    ::kill(pid, SIGSTOP);
    const std::string s = status_of(t);
    if (s.find("1 pending, 1 running, 1 done") != std::string::npos) {
      const std::string running = pulmo::test::running_series(s);
      for (const std::string& uid : uids)  // the pending one: neither running nor done
        if (uid != running && !fs::exists(t.path() / "out" / uid)) victim = uid;
      if (!victim.empty()) EXPECT_EQ(pacs.remove("/series/" + pacs.series_id(victim)), 200);
    }
    ::kill(pid, SIGCONT);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  ASSERT_FALSE(victim.empty()) << status_of(t) << slurp(log);
  ASSERT_TRUE(wait_for_status(t, "1 parked", 300)) << status_of(t) << slurp(log);
  ASSERT_TRUE(wait_for_status(t, "0 pending, 0 running, 2 done, 0 skipped, 0 failed, 1 parked", 300)) << status_of(t) << slurp(log);
  const std::string status = status_of(t);
  EXPECT_NE(status.find("parked   " + victim + ": 2 attempt(s)"), std::string::npos) << status;
  EXPECT_NE(status.find("has no such series"), std::string::npos) << status;
  ::kill(pid, SIGTERM);
  EXPECT_EQ(exit_status(pid), 0) << slurp(log);
  EXPECT_EQ(count_temporary_files(t.file("out")), 0);
}

// What a hostile user sends: a huge study - twenty small series and one of 600 slices - in one study. Every series is
// queued once and quantified (or skipped); the 600 instances stream to disk with their progress shown at each tenth,
// and pulmo's peak memory stays bounded. Then a second series of 600 slices is deleted from Orthanc while it is being
// fetched: the attempt fails with a clear error, then the series is parked (no such series); nothing is left behind.
TEST(CliServeOrthanc, AHugeStudyShowsItsProgressInBoundedMemoryAndASeriesDeletedWhileFetchedIsParked) {
  OrthancServer pacs(1);
  PULMO_REQUIRE_ORTHANC(pacs);
  TempDir t;
  auto write_long_series = [&](const std::string& folder, const std::string& uid, int size) {
    std::vector<pulmo::test::SyntheticSlice> stack = pulmo::test::axial_stack(600, 1.0);
    for (auto& slice : stack) {
      slice.series_uid = uid;
      slice.rows = slice.columns = size;
    }
    pulmo::test::write_synthetic_series(folder, stack);
    ASSERT_EQ(pacs.upload_folder(folder), 600);
  };
  const std::string big = "1.2.826.0.1.3680043.9.7777.600";
  write_long_series(t.file("big"), big, 128);
  std::vector<std::string> small;
  for (int i = 0; i < 20; ++i) {
    small.push_back("1.2.826.0.1.3680043.9.7777.20." + std::to_string(i + 1));
    pulmo::test::write_tagged_series(t.file("small/" + std::to_string(i)), small.back(), "CT", nullptr, 3);
    ASSERT_EQ(pacs.upload_folder(t.file("small/" + std::to_string(i))), 3);
  }
  ASSERT_TRUE(wait_stable(pacs, 21, 120)) << pacs.get_json("/series?expand").dump();

  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_pulmo("--threads 1 serve --orthanc " + q(pacs.rest_root()) + " --since 0 --credentials " +
                           q(OrthancServer::credentials_file(t)) + " --out " + q(t.file("out")) + " --db " +
                           q(t.file("q.sqlite")) + kFast + " --max-attempts 1 --once");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  struct rusage usage {};
  ::getrusage(RUSAGE_CHILDREN, &usage);  // the largest child waited for: pulmo serve (Orthanc still runs)
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string status = status_of(t);
  EXPECT_NE(status.find("0 pending, 0 running, "), std::string::npos) << status;
  EXPECT_EQ(occurrences(r.err, ": quantifying "), 21) << r.err;
  EXPECT_EQ(occurrences(r.err, "FAILED"), 0) << r.err;
  const std::string tag = "series " + big + " (attempt 1/1): ";
  for (int tenth = 1; tenth <= 10; ++tenth)
    EXPECT_EQ(occurrences(r.err, tag + "fetched " + std::to_string(60 * tenth) + "/600 instances\n"), 1) << tenth << "\n" << r.err;
  EXPECT_NE(r.err.find(tag + "fetched 600 instances, "), std::string::npos) << r.err;
  EXPECT_EQ(count_temporary_files(t.file("out")), 0);
  const double peak_mib = usage.ru_maxrss / 1024.0;
  std::cout << "[ measured ] 21 series (600 + 20 x 3 instances) in " << seconds << " s, pulmo's peak memory " << peak_mib
            << " MiB\n";
  // The 600 x 128 x 128 series is 20 MiB of voxels as int16, 40 MiB as float; LibTorch and the pipeline add their own.
  EXPECT_LT(peak_mib, 1024) << status << r.err;

  // A second long series, deleted from Orthanc while it is fetched (the service paused at its first progress line).
  const std::string doomed = "1.2.826.0.1.3680043.9.7777.601";
  write_long_series(t.file("doomed"), doomed, 256);
  ASSERT_TRUE(wait_stable(pacs, 22, 120));
  const std::string log = t.file("serve.log");
  const pid_t pid = spawn_pulmo(serve_argv(pacs, t, {"--no-lesions", "--max-attempts", "2"}), log);
  bool deleted = false;
  for (const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
       !deleted && std::chrono::steady_clock::now() < until;) {
    ::kill(pid, SIGSTOP);
    if (slurp(log).find("series " + doomed + " (attempt 1/2): fetched 60/600 instances") != std::string::npos) {
      EXPECT_EQ(pacs.remove("/series/" + pacs.series_id(doomed)), 200);
      deleted = true;
    }
    ::kill(pid, SIGCONT);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(deleted) << slurp(log);
  ASSERT_TRUE(wait_for_status(t, "1 parked", 120)) << status_of(t) << slurp(log);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(exit_status(pid), 0) << slurp(log);
  const std::string text = slurp(log);
  EXPECT_NE(text.find("series " + doomed + " (attempt 1/2): FAILED (exit code "), std::string::npos) << text;
  EXPECT_EQ(text.find("series " + doomed + " (attempt 1/2): fetched 600/600"), std::string::npos) << text;
  EXPECT_NE(status_of(t).find("parked   " + doomed + ": 2 attempt(s)"), std::string::npos) << status_of(t);
  EXPECT_FALSE(fs::exists(t.path() / "out" / doomed));
  EXPECT_EQ(count_temporary_files(t.file("out")), 0);
}

TEST(CliServeOrthanc, BadAddressesCredentialsAndOptionsAreRefusedAtStart) {
  TempDir t;
  const std::string base = "serve --out " + q(t.file("out")) + " --db " + q(t.file("q.sqlite"));
  auto r = run_pulmo(base + " --orthanc 'http://pulmo:pw-4711@127.0.0.1:9/'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("credentials do not go in the address"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("pw-4711"), std::string::npos) << r.err;
  r = run_pulmo(base + " --orthanc ftp://127.0.0.1:9");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_pulmo(base + " --orthanc http://127.0.0.1:9 --credentials " + q(t.file("none.cred")));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  r = run_pulmo(base + " --orthanc http://127.0.0.1:9 --since yesterday");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--since 'yesterday' is neither 'now' nor a change index"), std::string::npos) << r.err;
  fs::create_directories(t.file("in"));
  r = run_pulmo(base + " --watch " + q(t.file("in")) + " --store");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_pulmo(base + " --watch " + q(t.file("in")) + " --orthanc http://127.0.0.1:9");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_pulmo(base + " --orthanc http://127.0.0.1:9 --store --no-dicom-seg");
  EXPECT_EQ(r.exit_code, 2) << r.err;
}
