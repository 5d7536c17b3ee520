// Statistics across cases: severity score, agreement, kappa, classification metrics, bootstrap, age bins.
#include <gtest/gtest.h>

#include <cmath>

#include "pulmo/error.h"
#include "pulmo/eval.h"
#include "pulmo/eval_stats.h"

using namespace pulmo;

TEST(SeverityScore, FollowsTheFiveBandsWithLowerBoundsIncluded) {
  const struct {
    double percent;
    int score;
  } cases[] = {{0, 1}, {4.99, 1}, {5, 2}, {24.99, 2}, {25, 3}, {49.9, 3}, {50, 4}, {74.9, 4}, {75, 5}, {100, 5}, {kNaN, 0}};
  for (const auto& c : cases) EXPECT_EQ(ct_severity_score(c.percent), c.score) << c.percent;
}

TEST(InvolvedPercent, IsLesionOverLungAndNaNWithoutLung) {
  EXPECT_DOUBLE_EQ(involved_percent(50, 2000), 2.5);
  EXPECT_TRUE(std::isnan(involved_percent(1, 0)));
}

TEST(WeightedKappa, KnownTables) {
  EXPECT_NEAR(linear_weighted_kappa({{10, 5}, {5, 10}}), 1.0 / 3.0, 1e-12);  // po 2/3, pe 1/2
  EXPECT_NEAR(linear_weighted_kappa({{0, 1}, {1, 0}}), -1.0, 1e-12);
  EXPECT_NEAR(linear_weighted_kappa({{3, 0, 0}, {0, 2, 0}, {0, 0, 1}}), 1.0, 1e-12);
  // 3 categories, weights 1, 0.5, 0: po = (4 + 0.5 * 2) / 6 = 5/6; rows and columns (2, 2, 2):
  // pe = sum w_ij r_i c_j / 36 = 4 * 5 / 36 = 5/9; kappa = (5/6 - 5/9) / (1 - 5/9) = 0.625
  EXPECT_NEAR(linear_weighted_kappa({{2, 0, 0}, {0, 1, 1}, {0, 1, 1}}), (5.0 / 6 - 5.0 / 9) / (1 - 5.0 / 9), 1e-12);
  EXPECT_TRUE(std::isnan(linear_weighted_kappa({{4, 0}, {0, 0}})));
}

TEST(Agreement, BlandAltmanMaeAndSeverityOfThreeCases) {
  const Agreement a = quantification_agreement({10, 20, 30, kNaN}, {12, 18, 33, 40});
  EXPECT_EQ(a.n, 3);
  EXPECT_NEAR(a.mae, 7.0 / 3.0, 1e-12);
  EXPECT_NEAR(a.bias, 1.0, 1e-12);               // differences 2, -2, 3
  EXPECT_NEAR(a.sd, std::sqrt(7.0), 1e-12);       // deviations 1, -3, 2: (1 + 9 + 4) / 2
  EXPECT_NEAR(a.loa_high - a.loa_low, 2 * 1.96 * a.sd, 1e-12);
  EXPECT_EQ(a.severity_confusion[1][1], 2);
  EXPECT_EQ(a.severity_confusion[2][2], 1);
  EXPECT_DOUBLE_EQ(a.severity_accuracy, 1.0);
  EXPECT_NEAR(a.severity_kappa, 1.0, 1e-12);
}

TEST(Classification, RocAucAndAveragePrecisionOfTheScikitLearnExample) {
  const std::vector<int> y{0, 0, 1, 1};
  const std::vector<double> s{0.1, 0.4, 0.35, 0.8};
  EXPECT_NEAR(roc_auc(y, s), 0.75, 1e-12);
  EXPECT_NEAR(average_precision(y, s), 5.0 / 6.0, 1e-12);
}

TEST(Classification, TiedScoresCountHalfInTheAuc) {
  EXPECT_NEAR(roc_auc({0, 1}, {0.5, 0.5}), 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(roc_auc({1, 1}, {0.2, 0.3})));
}

TEST(Classification, ConfusionAndBrierAtAThreshold) {
  const ClassificationMetrics m = classification_metrics({0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8}, 0.5);
  EXPECT_EQ(m.tp, 1);
  EXPECT_EQ(m.fn, 1);
  EXPECT_EQ(m.tn, 2);
  EXPECT_EQ(m.fp, 0);
  EXPECT_DOUBLE_EQ(m.sensitivity, 0.5);
  EXPECT_DOUBLE_EQ(m.specificity, 1.0);
  EXPECT_DOUBLE_EQ(m.balanced_accuracy, 0.75);
  EXPECT_NEAR(m.brier, (0.01 + 0.16 + 0.4225 + 0.04) / 4, 1e-12);
}

TEST(Classification, YoudenPicksTheSmallestScoreOfMaximalJ) {
  EXPECT_DOUBLE_EQ(youden_threshold({0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8}), 0.35);
}

TEST(Classification, LabelsOtherThanZeroAndOneAreAMismatch) {
  try {
    roc_auc({0, 2}, {0.1, 0.2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
  }
}

TEST(Bootstrap, SameSeedGivesTheSameIntervalAroundTheMean) {
  const std::vector<double> v{1, 2, 3, 4, 5, 6, 7, 8};
  const CaseStatistic mean = [&](const std::vector<int>& c) { return mean_of(v, c); };
  const Interval a = bootstrap_interval(8, mean), b = bootstrap_interval(8, mean);
  EXPECT_DOUBLE_EQ(a.estimate, 4.5);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_LT(a.low, 4.5);
  EXPECT_GT(a.high, 4.5);
  EXPECT_GE(a.low, 1.0);
  EXPECT_LE(a.high, 8.0);
  EXPECT_EQ(a.resamples_used, 1000);
}

TEST(Bootstrap, OnePatientWithAllCasesGivesAPointInterval) {
  const std::vector<double> v{1, 2, 3, 4};
  const Interval i = bootstrap_interval(4, [&](const std::vector<int>& c) { return mean_of(v, c); }, {}, {"p", "p", "p", "p"});
  EXPECT_DOUBLE_EQ(i.low, 2.5);
  EXPECT_DOUBLE_EQ(i.high, 2.5);
}

TEST(Bootstrap, ResamplesWithANaNStatisticAreLeftOut) {
  const std::vector<double> v{kNaN, kNaN};
  const Interval i = bootstrap_interval(2, [&](const std::vector<int>& c) { return mean_of(v, c); });
  EXPECT_EQ(i.resamples_used, 0);
  EXPECT_TRUE(std::isnan(i.low));
}

TEST(AgeBin, EdgesGiveClosedIntegerBins) {
  const std::vector<double> edges{40, 60};
  EXPECT_EQ(age_bin(39, edges), "<40");
  EXPECT_EQ(age_bin(40, edges), "40-59");
  EXPECT_EQ(age_bin(59.5, edges), "40-59");
  EXPECT_EQ(age_bin(60, edges), ">=60");
  EXPECT_EQ(age_bin(kNaN, edges), "unknown");
}
