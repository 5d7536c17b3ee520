// Per-label segmentation metrics, resampling into the reference grid, and several readers.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "pulmo/error.h"
#include "pulmo/eval.h"
#include "pulmo/eval_set.h"
#include "pulmo/io.h"

using namespace pulmo;

namespace {

// A 10x10x10 grid of 2 x 1 x 1 mm voxels (x, y, z order: 1, 1, 2 in geometry terms).
Volume grid_volume(at::Tensor voxels) {
  Geometry g;
  g.size = {voxels.size(2), voxels.size(1), voxels.size(0)};
  g.spacing_mm = {1.0, 1.0, 2.0};
  Volume v;
  v.geometry = g;
  v.voxels = voxels.contiguous();
  return v;
}

at::Tensor box(int z0, int z1, int y0, int y1, int x0, int x1, int label = 1) {
  at::Tensor t = at::zeros({10, 10, 10}, at::kByte);
  t.slice(0, z0, z1).slice(1, y0, y1).slice(2, x0, x1).fill_(label);
  return t;
}

ExitCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ExitCode::Ok;
}

}  // namespace

TEST(SegmentationMetrics, SpecificityCountsTheWholeGridOutsideTheReference) {
  // 1000 voxels; reference 64 (4x4x4), prediction 64 shifted by 2 along x: 32 in common, 32 false positives.
  const Volume ref = grid_volume(box(2, 6, 2, 6, 2, 6)), pred = grid_volume(box(2, 6, 2, 6, 4, 8));
  const auto m = segmentation_metrics(ref, pred);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NEAR(m[0].sensitivity, 0.5, 1e-12);
  EXPECT_NEAR(m[0].specificity, (1000.0 - 64 - 32) / (1000.0 - 64), 1e-12);
  // A reference covering the whole grid leaves no negative voxel: NaN, not 0 or 1.
  const auto all = segmentation_metrics(grid_volume(at::ones({10, 10, 10}, at::kByte)), pred);
  EXPECT_TRUE(std::isnan(all[0].specificity));
}

TEST(SegmentationMetrics, OverlapCountsGiveDiceJaccardSensitivityPrecisionAndVolumes) {
  // Reference 4x4x4 = 64 voxels, prediction 4x4x2 = 32 voxels inside it.
  const Volume ref = grid_volume(box(2, 6, 2, 6, 2, 6)), pred = grid_volume(box(2, 6, 2, 6, 2, 4));
  const auto m = segmentation_metrics(ref, pred);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].voxels_both, 32);
  EXPECT_NEAR(m[0].dice, 64.0 / 96.0, 1e-12);
  EXPECT_NEAR(m[0].jaccard, 0.5, 1e-12);
  EXPECT_NEAR(m[0].sensitivity, 0.5, 1e-12);
  EXPECT_NEAR(m[0].precision, 1.0, 1e-12);
  EXPECT_NEAR(m[0].specificity, 1.0, 1e-12);  // no voxel predicted outside the reference
  EXPECT_NEAR(m[0].volume_ref_ml, 64 * 2.0 / 1000, 1e-12);
  EXPECT_NEAR(m[0].volume_diff_ml, -32 * 2.0 / 1000, 1e-12);
  // The prediction's far x face is 2 voxels (2 mm) inside the reference's: nothing lies farther than 2 mm.
  EXPECT_NEAR(m[0].hd100, 2.0, 1e-9);
  ASSERT_EQ(m[0].surface_dice.size(), 1u);
  EXPECT_NEAR(m[0].surface_dice[0].second, 1.0, 1e-12);  // 5 mm tolerance
}

TEST(SegmentationMetrics, EveryLabelPresentIsEvaluatedByDefault) {
  const Volume ref = grid_volume(box(0, 3, 0, 3, 0, 3, 1) + box(5, 8, 5, 8, 5, 8, 2));
  const auto m = segmentation_metrics(ref, ref);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].label, 1);
  EXPECT_EQ(m[1].label, 2);
  EXPECT_DOUBLE_EQ(m[1].dice, 1.0);
}

TEST(SegmentationMetrics, RefusesUnknownLabelsNonBinaryMasksAndOtherGrids) {
  const Volume ref = grid_volume(box(0, 3, 0, 3, 0, 3, 2));
  SegmentationOptions unknown;
  unknown.labels = {5};
  EXPECT_EQ(code_of([&] { segmentation_metrics(ref, ref, unknown); }), ExitCode::Mismatch);
  SegmentationOptions binary;
  binary.binary = true;
  EXPECT_EQ(code_of([&] { segmentation_metrics(ref, ref, binary); }), ExitCode::Mismatch);
  Volume other = ref;
  other.geometry.origin_mm[0] += 5;
  EXPECT_EQ(code_of([&] { segmentation_metrics(ref, other); }), ExitCode::Mismatch);
  const Volume probabilities = grid_volume(at::full({10, 10, 10}, 0.3, at::kFloat));
  EXPECT_EQ(code_of([&] { segmentation_metrics(probabilities, probabilities); }), ExitCode::Mismatch);
  const Volume empty = grid_volume(at::zeros({10, 10, 10}, at::kByte));
  EXPECT_EQ(code_of([&] { segmentation_metrics(empty, empty); }), ExitCode::NoData);
}

TEST(SegmentationMetrics, AllowAbsentGivesBothEmptyValuesInsteadOfAnError) {
  const Volume empty = grid_volume(at::zeros({10, 10, 10}, at::kByte));
  SegmentationOptions o;
  o.allow_absent = true;
  EXPECT_TRUE(segmentation_metrics(empty, empty, o).empty());
  o.labels = {1};
  const auto m = segmentation_metrics(empty, empty, o);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(std::isnan(m[0].dice));
  EXPECT_TRUE(std::isnan(m[0].surface_dice[0].second));
  EXPECT_TRUE(std::isinf(m[0].hd95));
}

TEST(ResampleLabels, AnOriginOneVoxelHigherMovesTheLabelsOneSliceDown) {
  Volume moving = grid_volume(box(4, 5, 0, 10, 0, 10, 3));
  Geometry target = moving.geometry;
  target.origin_mm[2] += 2.0;  // target slice k sits where moving slice k + 1 is
  const Volume r = resample_labels_nearest(moving, target);
  EXPECT_EQ(r.voxels.scalar_type(), at::kByte);
  EXPECT_EQ(r.voxels[3].eq(3).all().item<bool>(), true);
  EXPECT_EQ(r.voxels[4].eq(0).all().item<bool>(), true);
  EXPECT_EQ(r.voxels[9].eq(0).all().item<bool>(), true);  // outside the moving grid: background
}

TEST(Readers, MajorityVoteKeepsVoxelsMarkedByMoreThanHalf) {
  const Volume a = grid_volume(box(0, 4, 0, 4, 0, 4)), b = grid_volume(box(0, 4, 0, 4, 0, 2)),
               c = grid_volume(box(0, 2, 0, 4, 0, 4));
  const ConsensusResult r = consensus({a, b, c}, ConsensusMethod::MajorityVote);
  // Voxels in at least two of the three: a's box where x < 2 or z < 2.
  const at::Tensor expected = box(0, 4, 0, 4, 0, 2).logical_or(box(0, 2, 0, 4, 0, 4));
  EXPECT_TRUE(r.mask.voxels.ne(0).equal(expected));
}

TEST(Readers, StapleOfIdenticalReadersIsTheirMaskWithPerfectPerformance) {
  const Volume a = grid_volume(box(2, 6, 2, 6, 2, 6));
  const ConsensusResult r = consensus({a, a, a}, ConsensusMethod::Staple);
  EXPECT_TRUE(r.mask.voxels.ne(0).equal(a.voxels.ne(0)));
  ASSERT_EQ(r.sensitivity.size(), 3u);
  for (double s : r.sensitivity) EXPECT_NEAR(s, 1.0, 1e-6);
  for (double s : r.specificity) EXPECT_NEAR(s, 1.0, 1e-6);
}

TEST(Readers, PairwiseAgreementListsEveryPair) {
  const Volume a = grid_volume(box(2, 6, 2, 6, 2, 6)), b = grid_volume(box(2, 6, 2, 6, 2, 4));
  const auto pairs = inter_reader_agreement({a, a, b}, 5.0);
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_DOUBLE_EQ(pairs[0].dice, 1.0);
  EXPECT_NEAR(pairs[1].dice, 64.0 / 96.0, 1e-12);
  EXPECT_EQ(pairs[2].reader_a, 1);
  EXPECT_EQ(pairs[2].reader_b, 2);
  EXPECT_EQ(code_of([&] { consensus({a}, ConsensusMethod::Staple); }), ExitCode::Usage);
}

TEST(EvalManifest, RequiredColumnsRaggedRowsAndDuplicateCasesAreBadConfig) {
  const std::string dir = ::testing::TempDir();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + name) << text;
    return dir + name;
  };
  EXPECT_EQ(code_of([&] { read_eval_manifest(write("m1.csv", "case,reference\na,x\n")); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([&] { read_eval_manifest(write("m2.csv", "case,reference,prediction\na,x\n")); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([&] { read_eval_manifest(write("m3.csv", "case,reference,prediction\na,x,y\na,x,z\n")); }),
            ExitCode::BadConfig);
  EXPECT_EQ(code_of([&] { read_eval_manifest(write("m4.csv", "case,reference,prediction\n")); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([&] { read_eval_manifest(dir + "does-not-exist.csv"); }), ExitCode::NotFound);
}

TEST(EvalManifest, QuotedFieldsAttributesAndRelativePaths) {
  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "m5.csv") << "case,reference,prediction,patient,site\n"
                                << "a,ref/a.nii.gz,/abs/p.nii.gz,p1,\"Pisa, IT\"\n";
  const EvalManifest m = read_eval_manifest(dir + "m5.csv");
  ASSERT_EQ(m.cases.size(), 1u);
  EXPECT_EQ(m.attribute_names, std::vector<std::string>{"site"});
  EXPECT_EQ(m.cases[0].attributes.at("site"), "Pisa, IT");
  EXPECT_EQ(m.cases[0].patient, "p1");
  EXPECT_EQ(m.cases[0].prediction, "/abs/p.nii.gz");
  EXPECT_EQ(std::filesystem::path(m.cases[0].reference).filename(), "a.nii.gz");
  EXPECT_TRUE(std::filesystem::path(m.cases[0].reference).is_absolute());
}

TEST(EvalManifest, TheDatasetColumnNamesAndTheirOlderSpellingsReadTheSame) {
  const std::string dir = ::testing::TempDir();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + name) << text;
    return dir + name;
  };
  const std::string rows = "a,/r/a.nii.gz,/p/a.nii.gz,p1,old\nb,/r/b.nii.gz,/p/b.nii.gz,p1,young\n";
  const EvalManifest now = read_eval_manifest(write("m6.csv", "case_id,reference,prediction,patient_id,age\n" + rows));
  const EvalManifest old = read_eval_manifest(write("m7.csv", "case,reference,prediction,patient,age\n" + rows));
  ASSERT_EQ(now.cases.size(), 2u);
  ASSERT_EQ(old.cases.size(), 2u);
  EXPECT_EQ(now.attribute_names, std::vector<std::string>{"age"});
  EXPECT_EQ(old.attribute_names, now.attribute_names);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(now.cases[i].id, old.cases[i].id);
    EXPECT_EQ(now.cases[i].patient, "p1");
    EXPECT_EQ(old.cases[i].patient, "p1");
    EXPECT_EQ(now.cases[i].attributes, old.cases[i].attributes);
  }
  // Attributes and classification scores take the same names.
  EvalManifest merged = now;
  merge_attributes(merged, write("a1.csv", "case_id,site\na,Pisa\nb,Rome\n"));
  EXPECT_EQ(merged.cases[1].attributes.at("site"), "Rome");
  const ClassificationSet scores = read_classification_csv(write("s1.csv", "case_id,label,score,patient_id\na,1,0.9,p1\n"));
  ASSERT_EQ(scores.cases.size(), 1u);
  EXPECT_EQ(scores.cases[0].patient, "p1");
  EXPECT_EQ(read_classification_csv(write("s2.csv", "case,label,score\na,1,0.9\n")).cases[0].id, "a");
  // Both spellings of one column in one file: which one counts is not clear, so it is refused.
  EXPECT_EQ(code_of([&] { read_eval_manifest(write("m8.csv", "case,case_id,reference,prediction\na,a,x,y\n")); }),
            ExitCode::BadConfig);
}

TEST(EvaluateCases, ACaseWithTheLabelInNeitherMapStaysInTheSetAsBothEmpty) {
  const std::string dir = ::testing::TempDir() + "pulmo-both-empty/";
  Geometry g;
  g.size = {6, 5, 4};
  Volume with = Volume::filled(g, 0, at::kByte), empty = Volume::filled(g, 0, at::kByte);
  with.voxels.narrow(0, 1, 2).narrow(1, 1, 3).narrow(2, 2, 2).fill_(1);
  write_volume(with, dir + "with.nii.gz");
  write_volume(empty, dir + "empty.nii.gz");
  EvalManifest m;
  m.cases = {EvalCase{"a", dir + "with.nii.gz", dir + "with.nii.gz", "", "", "", {}},
             EvalCase{"healthy", dir + "empty.nii.gz", dir + "empty.nii.gz", "", "", "", {}}};
  SetOptions o;
  o.progress = false;
  const std::vector<CaseResult> r = evaluate_cases(m, o);
  ASSERT_EQ(r.size(), 2u);
  ASSERT_EQ(r[1].labels.size(), 1u) << "the healthy case gets the set's label 1";
  EXPECT_EQ(r[1].labels[0].label, 1);
  EXPECT_EQ(r[1].labels[0].voxels_ref, 0);
  EXPECT_EQ(r[1].labels[0].voxels_pred, 0);
  EXPECT_TRUE(std::isnan(r[1].labels[0].dice));
  EXPECT_DOUBLE_EQ(r[0].labels[0].dice, 1.0);
}
