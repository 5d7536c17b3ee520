// pulmo serve (issue 19, part 2): a watched folder, the durable SQLite queue, a burst of series, a kill -9 in the
// middle of a series and a restart, a non-CT and a non-chest series skipped, a corrupt series retried then parked,
// --status, and a clean stop on SIGTERM. Small synthetic CTs (pulmo synth) and classical lungs keep it quick.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>

#include "pulmo/io.h"
#include "support/serve_queue.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::test::count_temporary_files;
using pulmo::test::exit_status;
using pulmo::test::occurrences;
constexpr auto q = pulmo::test::quoted;
using pulmo::test::run_pulmo;
using pulmo::test::slurp;
using pulmo::test::spawn_pulmo;
using pulmo::test::TempDir;

namespace {

// `count` synthetic chest CTs (pulmo synth) as watch/<prefix>N.nii.gz.
void make_cts(const TempDir& tmp, const std::string& watch, int count, const std::string& prefix, int seed,
              const std::string& size = "96,96,40") {
  const std::string synth = tmp.file("synth-" + prefix);
  const auto r = run_pulmo("-q synth --out " + q(synth) + " --count " + std::to_string(count) + " --seed " +
                           std::to_string(seed) + " --size " + size + " --spacing 0.9,0.9,2.5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::create_directories(watch);
  for (int i = 0; i < count; ++i) {
    std::ostringstream c;
    c << "case_" << std::setw(4) << std::setfill('0') << i;
    fs::copy_file(fs::path(synth) / c.str() / "ct.nii.gz", fs::path(watch) / (prefix + std::to_string(i) + ".nii.gz"));
  }
}

const std::string kFast = " --lungs classical --no-lesions --no-html --settle 0 --poll 0.2";

std::string serve_args(const TempDir& tmp) {
  return "serve --watch " + q(tmp.file("in")) + " --out " + q(tmp.file("out")) + " --db " + q(tmp.file("q.sqlite"));
}

bool wait_for_status(const TempDir& tmp, const std::string& part, double seconds) {
  return pulmo::test::wait_for_status(tmp.file("q.sqlite"), part, seconds);
}

}  // namespace

TEST(CliServe, ABurstOfSeriesIsQuantifiedOnceEachAndNonChestSeriesAreSkippedWithAReason) {
  TempDir tmp;
  make_cts(tmp, tmp.file("in"), 3, "ct", 3);
  pulmo::test::write_tagged_series(tmp.file("in/mr"), "1.2.826.0.1.3680043.9.7777.1", "MR");  // not a CT
  pulmo::Volume air;  // a CT without lungs: quantify's lung check (exit code 11) says it is not a chest CT
  air.geometry.size = {48, 48, 24};
  air.voxels = at::full({24, 48, 48}, -1000.0f);
  pulmo::write_volume(air, tmp.file("in/air.nii.gz"));
  std::ofstream(tmp.file("in/notes.txt")) << "not an image: ignored";
  fs::create_directories(tmp.file("in/docs"));
  std::ofstream(tmp.file("in/docs/readme.txt")) << "a folder without DICOM: skipped";

  auto r = run_pulmo(serve_args(tmp) + kFast + " --once");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("this run: 3 done, 3 skipped, 0 failed (to be retried), 0 parked"), std::string::npos) << r.out << r.err;
  for (const char* c : {"ct0", "ct1", "ct2"}) {
    EXPECT_TRUE(fs::exists(tmp.path() / "out" / c / "report.json")) << c;
    EXPECT_TRUE(fs::exists(tmp.path() / "out" / c / ".pulmo-output")) << c;
    EXPECT_EQ(occurrences(r.err, "series " + std::string(c) + " (attempt 1/3): done in"), 1) << r.err;
  }
  EXPECT_FALSE(fs::exists(tmp.file("out/mr")));
  EXPECT_FALSE(fs::exists(tmp.file("out/air")));
  EXPECT_EQ(count_temporary_files(tmp.file("out")), 0);

  const auto status = run_pulmo("serve --status --db " + q(tmp.file("q.sqlite")));
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("0 pending, 0 running, 3 done, 3 skipped, 0 failed, 0 parked"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("not a CT (Modality MR)"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("not a chest CT: "), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("no DICOM image in the folder"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("series 1.2.826.0.1.3680043.9.7777.1"), std::string::npos) << status.out;

  // Run again: nothing is repeated; a new file is quantified; a file renamed with the same bytes is a new series.
  const auto written = fs::last_write_time(tmp.file("out/ct0/report.json"));
  make_cts(tmp, tmp.file("in"), 1, "late", 9);
  r = run_pulmo(serve_args(tmp) + kFast + " --once");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("this run: 1 done, 0 skipped"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(occurrences(r.err, "quantifying"), 1) << r.err;
  EXPECT_TRUE(fs::exists(tmp.file("out/late0/report.json")));
  EXPECT_EQ(fs::last_write_time(tmp.file("out/ct0/report.json")), written);
}

// The quantify options of serve (src/cli/job_flags.h, shared with pulmo quantify) reach every series it quantifies:
// --no-viewer (report.html without the viewer, saying so), --no-lesions (no lesion mask), --no-dicom-seg, --no-html.
TEST(CliServe, TheQuantifyOptionsReachEachSeries) {
  TempDir tmp;
  make_cts(tmp, tmp.file("in"), 1, "ct", 4);
  auto r = run_pulmo("--threads 1 " + serve_args(tmp) + " --lungs classical --no-lesions --no-viewer --settle 0 --poll 0.2 --once");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = slurp(tmp.file("out/ct0/report.html"));
  EXPECT_NE(html.find("id=\"pulmo-viewer-left-out\""), std::string::npos) << "report.html does not say the viewer was left out";
  EXPECT_EQ(html.find("pulmo-viewer-canvas"), std::string::npos);
  EXPECT_TRUE(fs::exists(tmp.file("out/ct0/lungs.nii.gz")));
  EXPECT_FALSE(fs::exists(tmp.file("out/ct0/lesions.nii.gz")));

  // --no-html, --no-dicom-seg, on a real DICOM chest CT series (two LIDC-IDRI slices, ../shared/data/README.md).
  PULMO_REQUIRE_SHARED_DATA("ct/lidc-lungmask");
  fs::copy(pulmo::test::shared_data_path("ct/lidc-lungmask"), tmp.file("in/lidc"), fs::copy_options::recursive);
  fs::remove_all(tmp.file("out"));
  fs::remove(tmp.file("q.sqlite"));
  r = run_pulmo("--threads 1 " + serve_args(tmp) + " --lungs classical --no-lesions --no-html --no-dicom-seg --settle 0 --poll 0.2 --once");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(tmp.file("out/ct0/report.json")));
  EXPECT_FALSE(fs::exists(tmp.file("out/ct0/report.html")));
  EXPECT_TRUE(fs::exists(tmp.file("out/lidc/report.json"))) << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("out/lidc/report.html")));
  EXPECT_FALSE(fs::exists(tmp.file("out/lidc/segmentation.dcm")));
  EXPECT_FALSE(fs::exists(tmp.file("out/lidc/measurements.dcm")));
}

TEST(CliServe, ACorruptSeriesIsRetriedABoundedNumberOfTimesThenParkedWithItsError) {
  TempDir tmp;
  fs::create_directories(tmp.file("in"));
  const std::string good = slurp(pulmo::test::synthetic_ct_file());
  pulmo::test::write_raw_file(tmp.file("in/broken.nii.gz"), good.substr(0, good.size() / 2));  // cut short
  const auto r = run_pulmo(serve_args(tmp) + kFast + " --once --max-attempts 3 --retry-delay 0.2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(occurrences(r.err, "FAILED (exit code 4)"), 3) << r.err;
  EXPECT_EQ(occurrences(r.err, "; parked"), 1) << r.err;
  EXPECT_NE(r.out.find("0 done, 0 skipped, 2 failed (to be retried), 1 parked"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(tmp.file("out/broken")));
  EXPECT_EQ(count_temporary_files(tmp.file("out")), 0);
  const auto status = run_pulmo("serve --status --db " + q(tmp.file("q.sqlite")));
  EXPECT_NE(status.out.find("0 done, 0 skipped, 0 failed, 1 parked"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("parked   broken: 3 attempt(s)"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("exit code 4: "), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("broken.nii.gz"), std::string::npos) << status.out;
  // A parked series is never tried again, unless asked for.
  auto again = run_pulmo(serve_args(tmp) + kFast + " --once");
  EXPECT_EQ(occurrences(again.err, "quantifying"), 0) << again.err;
  again = run_pulmo("serve --retry-parked --db " + q(tmp.file("q.sqlite")));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("1 parked series queued again"), std::string::npos) << again.out;
  EXPECT_NE(run_pulmo("serve --status --db " + q(tmp.file("q.sqlite"))).out.find("1 pending"), std::string::npos);
}

TEST(CliServe, AKillNineMidSeriesLosesNothingAndRepeatsNothing) {
  TempDir tmp;
  make_cts(tmp, tmp.file("in"), 4, "ct", 5, "160,160,64");
  const std::string log1 = tmp.file("first.log"), log2 = tmp.file("second.log");
  // The cascade with lesions and report.html: a few seconds a series, time to be killed in the middle of one.
  const std::vector<std::string> args = {"--threads", "1", "serve", "--watch", tmp.file("in"), "--out", tmp.file("out"),
                                         "--db", tmp.file("q.sqlite"), "--settle", "0", "--poll", "0.2"};
  const pid_t pid = spawn_pulmo(args, log1);
  ASSERT_GT(pid, 0);
  // Killed while the second series runs: the first is done, two are pending.
  ASSERT_TRUE(wait_for_status(tmp, "1 done, 0 skipped", 300)) << slurp(log1);
  ASSERT_TRUE(wait_for_status(tmp, "1 running", 60)) << slurp(log1);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(pid, SIGKILL);
  EXPECT_EQ(exit_status(pid), 128 + SIGKILL);
  const std::string first = slurp(log1);
  const auto killed = run_pulmo("serve --status --db " + q(tmp.file("q.sqlite")));
  ASSERT_NE(killed.out.find("1 running"), std::string::npos) << killed.out << first;
  const std::string running = pulmo::test::running_series(killed.out);
  ASSERT_FALSE(running.empty()) << killed.out;
  // No half-written report folder: the running series has no folder, only (maybe) its hidden temporary one.
  EXPECT_FALSE(fs::exists(tmp.path() / "out" / running)) << running;

  // Restart: the interrupted series runs again, the finished one is not repeated, the rest follow.
  auto r = run_pulmo("--threads 1 " + [&] {
    std::string s;
    for (size_t i = 2; i < args.size(); ++i) s += q(args[i]) + " ";
    return s;
  }() + "--once");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("series " + running + ": was interrupted during attempt 1: queued again"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("this run: 3 done"), std::string::npos) << r.out << r.err;
  const auto status = run_pulmo("serve --status --db " + q(tmp.file("q.sqlite")));
  EXPECT_NE(status.out.find("0 pending, 0 running, 4 done, 0 skipped, 0 failed, 0 parked"), std::string::npos) << status.out;
  const std::string both = first + r.err;
  for (int i = 0; i < 4; ++i) {
    const std::string c = "ct" + std::to_string(i);
    EXPECT_TRUE(fs::exists(tmp.path() / "out" / c / "report.json")) << c;
    EXPECT_EQ(occurrences(both, "series " + c + " (attempt 1/3): done in") + occurrences(both, "series " + c + " (attempt 2/3): done in"), 1)
        << c << " done more than once or never:\n" << both;
  }
  EXPECT_EQ(occurrences(r.err, ": quantifying "), 3) << r.err;  // the killed series and the two left; not the first
  EXPECT_EQ(count_temporary_files(tmp.file("out")), 0) << "the killed series' temporary folder was left";
}

TEST(CliServe, SigtermStopsCleanlyAndTheQueueRefusesASecondServiceAndForeignFiles) {
  TempDir tmp;
  fs::create_directories(tmp.file("in"));
  const std::string log = tmp.file("serve.log");
  const pid_t pid = spawn_pulmo({"serve", "--watch", tmp.file("in"), "--out", tmp.file("out"), "--db", tmp.file("q.sqlite"),
                                 "--poll", "0.2"},
                                log);
  ASSERT_TRUE(wait_for_status(tmp, "0 pending", 60)) << slurp(log);
  // A second service on the same queue is refused while the first runs.
  auto r = run_pulmo(serve_args(tmp) + " --once");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("another pulmo serve is using the queue"), std::string::npos) << r.err;
  ::kill(pid, SIGTERM);
  EXPECT_EQ(exit_status(pid), 0) << slurp(log);
  EXPECT_NE(slurp(log).find("stopping (SIGTERM)"), std::string::npos) << slurp(log);

  r = run_pulmo("serve --status --db " + q(tmp.file("missing.sqlite")));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  pulmo::test::write_raw_file(tmp.file("other.sqlite"), "SQLite format 3");
  r = run_pulmo("serve --status --db " + q(tmp.file("other.sqlite")));
  EXPECT_EQ(r.exit_code, 10) << r.err;
  r = run_pulmo("serve --watch " + q(tmp.file("in")) + " --out " + q(tmp.file("in/out")) + " --db " + q(tmp.file("q.sqlite")));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_pulmo("serve --watch " + q(tmp.file("nowhere")) + " --out " + q(tmp.file("out")) + " --db " + q(tmp.file("q.sqlite")));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  r = run_pulmo("serve --db " + q(tmp.file("q.sqlite")));
  EXPECT_EQ(r.exit_code, 2) << r.err;
}
