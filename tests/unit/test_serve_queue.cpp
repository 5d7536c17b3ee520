// The durable queue of pulmo serve (src/app/queue.h): each key queued once, unique output names, claim order, retries
// then parked, rows a killed process left running, and foreign databases refused; which series are quantified
// (src/app/series_kind.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "app/queue.h"
#include "app/series_kind.h"
#include "pulmo/error.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::QueueRow;
using pulmo::SeriesItem;
using pulmo::SeriesQueue;
using pulmo::test::TempDir;

TEST(ServeQueue, QueuesEachKeyOnceWithUniqueOutputNamesAndClaimsInOrder) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "out" / "taken");  // a folder already there is never an output name
  SeriesQueue q(tmp.file("q.sqlite"), true);
  EXPECT_TRUE(q.add({"dicom:1.2.3", "/in/a", "1.2.3", "a", ""}, tmp.file("out")));
  EXPECT_FALSE(q.add({"dicom:1.2.3", "/in/a-copy", "1.2.3", "a-copy", ""}, tmp.file("out")));  // the same series
  EXPECT_TRUE(q.add({"file:a.nii.gz:ff", "/in/a.nii.gz", "", "a", ""}, tmp.file("out")));      // another series named a
  EXPECT_TRUE(q.add({"file:taken.nii.gz:ee", "/in/taken.nii.gz", "", "taken", ""}, tmp.file("out")));
  EXPECT_TRUE(q.add({"dicom:9", "/in/mr", "9", "mr", "not a CT (Modality MR)"}, tmp.file("out")));
  auto c = q.counts();
  EXPECT_EQ(c["pending"], 3);
  EXPECT_EQ(c["skipped"], 1);
  QueueRow r;
  ASSERT_TRUE(q.claim(r));
  EXPECT_EQ(r.output, "a");
  EXPECT_EQ(r.state, "running");
  EXPECT_EQ(r.attempts, 1);
  ASSERT_TRUE(q.claim(r));
  EXPECT_EQ(r.output, "a-2");
  ASSERT_TRUE(q.claim(r));
  EXPECT_EQ(r.output, "taken-2");
  EXPECT_FALSE(q.claim(r));
  EXPECT_EQ(q.counts()["running"], 3);
  const auto skipped = q.rows_in({"skipped"});
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].reason, "not a CT (Modality MR)");
}

TEST(ServeQueue, AFailedSeriesIsRetriedAfterItsDelayThenParkedAndAStoppedOneIsNotCounted) {
  TempDir tmp;
  SeriesQueue q(tmp.file("q.sqlite"), true);
  q.add({"k", "/in/x", "", "x", ""}, tmp.file("out"));
  QueueRow r;
  ASSERT_TRUE(q.claim(r));
  q.release(r.id);  // a clean stop: the attempt does not count
  ASSERT_TRUE(q.claim(r));
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(q.mark_failed(r.id, 4, "truncated", 0.5, 2, 3600), "failed");
  EXPECT_FALSE(q.claim(r));  // not before its retry delay
  EXPECT_GT(q.next_due_in(), 3500);
  q.mark_failed(r.id, 4, "truncated", 0.5, 2, 0);  // (the same row, now due at once)
  ASSERT_TRUE(q.claim(r));
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(q.mark_failed(r.id, 4, "truncated again", 0.5, 2, 0), "parked");
  EXPECT_FALSE(q.claim(r));
  EXPECT_LT(q.next_due_in(), 0);
  const auto parked = q.rows_in({"parked"});
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].reason, "truncated again");
  EXPECT_EQ(parked[0].exit_code, 4);
  EXPECT_EQ(parked[0].attempts, 2);
  EXPECT_EQ(q.retry_parked(), 1);  // the cause fixed: queued again, attempts from zero
  ASSERT_TRUE(q.claim(r));
  EXPECT_EQ(r.attempts, 1);
}

TEST(ServeQueue, RowsLeftRunningSurviveReopeningAndAreRequeuedOrParked) {
  TempDir tmp;
  {
    SeriesQueue q(tmp.file("q.sqlite"), true);
    q.add({"a", "/in/a", "", "a", ""}, tmp.file("out"));
    q.add({"b", "/in/b", "", "b", ""}, tmp.file("out"));
    QueueRow r;
    ASSERT_TRUE(q.claim(r));
    ASSERT_TRUE(q.claim(r));
  }  // the process "dies" with both rows running
  SeriesQueue q(tmp.file("q.sqlite"), false);
  const auto rows = q.interrupted();
  ASSERT_EQ(rows.size(), 2u);
  q.requeue_interrupted(rows[0].id, 3);  // attempt 1 of 3: again
  q.requeue_interrupted(rows[1].id, 1);  // attempt 1 of 1: parked
  auto c = q.counts();
  EXPECT_EQ(c["pending"], 1);
  EXPECT_EQ(c["parked"], 1);
  QueueRow r;
  ASSERT_TRUE(q.claim(r));
  EXPECT_EQ(r.output, "a");
  EXPECT_EQ(r.attempts, 2);
  q.mark_done(r.id, 1.0);
  EXPECT_EQ(q.counts()["done"], 1);
  EXPECT_NE(q.rows_in({"parked"})[0].reason.find("interrupted"), std::string::npos);
}

TEST(ServeQueue, AMissingOrForeignDatabaseIsRefused) {
  TempDir tmp;
  try {
    SeriesQueue q(tmp.file("missing.sqlite"), false);
    FAIL() << "a missing queue was opened";
  } catch (const pulmo::Error& e) {
    EXPECT_EQ(e.code(), pulmo::ExitCode::NotFound);
  }
  std::ofstream(tmp.file("text.sqlite")) << "this is not a database at all, only some text that is long enough to matter";
  try {
    SeriesQueue q(tmp.file("text.sqlite"), true);
    FAIL() << "a text file was taken for a queue";
  } catch (const pulmo::Error& e) {
    EXPECT_EQ(e.code(), pulmo::ExitCode::BadConfig) << e.what();
  }
}

TEST(SeriesKind, OneDecisionFromModalityAndManufacturer) {
  using pulmo::SeriesKind;
  struct Row {
    const char *modality, *manufacturer;
    SeriesKind kind;
    const char* reason;
  };
  for (const Row& r : std::vector<Row>{
           {"CT", "", SeriesKind::Quantify, ""},
           {"CT", "pulmo", SeriesKind::Quantify, ""},  // only a SEG or SR is pulmo's result
           {"", "", SeriesKind::Quantify, ""},          // no Modality: left to the reader and the lung check
           {"", "pulmo", SeriesKind::Quantify, ""},
           {"MR", "", SeriesKind::NotCt, "not a CT (Modality MR)"},
           {"SEG", "pulmo", SeriesKind::PulmoResult, "pulmo's own result (SEG)"},
           {"SR", "pulmo", SeriesKind::PulmoResult, "pulmo's own result (SR)"},
           {"SEG", "OtherVendor", SeriesKind::NotCt, "not a CT (Modality SEG)"},
           {"SR", "", SeriesKind::NotCt, "not a CT (Modality SR)"},
           {"ct", "", SeriesKind::NotCt, "not a CT (Modality ct)"},  // code strings are upper case: not CT
       }) {
    const pulmo::SeriesVerdict v = pulmo::judge_series(r.modality, r.manufacturer);
    EXPECT_EQ(v.kind, r.kind) << r.modality << " / " << r.manufacturer;
    EXPECT_EQ(v.reason, r.reason) << r.modality << " / " << r.manufacturer;
  }
}
