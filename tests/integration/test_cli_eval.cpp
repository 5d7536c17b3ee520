// pulmo eval on real masks (TotalSegmentator lobe masks, 3 mm voxels) and every exit code it can return.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "pulmo/eval.h"
#include "pulmo/io.h"
#include "support/test_support.h"

using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {

const char* kLobes = "ct/totalsegmentator/example_seg_fast/";

// TotalSegmentator's lobe masks in the shared data (ct/totalsegmentator/SOURCE.txt there); "" when absent.
std::string lobe(const std::string& name) { return pulmo::test::shared_data_path(std::string(kLobes) + name + ".nii.gz"); }

#define REQUIRE_LOBES()                     \
  if (lobe("lung_upper_lobe_left").empty()) \
  GTEST_SKIP() << pulmo::test::missing_shared_data(kLobes)

// The mask on a grid one slice taller (towards +z), as is (`up` = 0) or moved up by one slice (`up` = 1):
// the extra slice makes the move an exact translation even where the mask touches the top of its image.
pulmo::Volume taller_grid(const pulmo::Volume& v, int up) {
  pulmo::Geometry g = v.geometry;
  g.size[2] += 1;
  pulmo::Volume out = pulmo::Volume::filled(g, 0, v.voxels.scalar_type());
  out.voxels.slice(0, up, up + v.voxels.size(0)).copy_(v.voxels);
  return out;
}

// Writes <name>_ref.nii.gz and <name>_moved.nii.gz (the lobe moved one 3 mm slice up) into tmp.
void write_moved_pair(const TempDir& tmp, const std::string& name) {
  const pulmo::Volume v = pulmo::read_volume(lobe(name));
  pulmo::write_volume(taller_grid(v, 0), tmp.file(name + "_ref.nii.gz"));
  pulmo::write_volume(taller_grid(v, 1), tmp.file(name + "_moved.nii.gz"));
}

std::string q(const std::string& s) { return "'" + s + "'"; }

nlohmann::json run_json(const std::string& args) {
  const auto r = run_pulmo("eval " + args + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

}  // namespace

TEST(CliEval, AMaskAgainstItselfIsPerfect) {
  REQUIRE_LOBES();
  const std::string m = lobe("lung_upper_lobe_left");
  const nlohmann::json j = run_json("-r " + q(m) + " -p " + q(m));
  const auto& l = j["labels"]["1"];
  EXPECT_DOUBLE_EQ(l["dice"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(l["surface_dice"]["5"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(l["hd95"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(l["hd100"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(l["assd"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(l["volume_ref_ml"].get<double>(), l["volume_pred_ml"].get<double>());
}

// A shift of one 3 mm slice: every border point of one surface has the moved copy of itself 3 mm away on the
// other, so no distance exceeds 3 mm (surface Dice at 5 mm is exactly 1, HD100 is 3 mm where a flat top or
// bottom faces no other surface closer); at 1 mm only the lateral surfaces that coincide count.
TEST(CliEval, AOneSliceShiftOfARealLobeGivesDistancesUpToTheShift) {
  REQUIRE_LOBES();
  TempDir tmp;
  write_moved_pair(tmp, "lung_lower_lobe_right");
  const pulmo::Volume ref = pulmo::read_volume(tmp.file("lung_lower_lobe_right_ref.nii.gz"));
  const pulmo::Volume moved = pulmo::read_volume(tmp.file("lung_lower_lobe_right_moved.nii.gz"));
  const nlohmann::json j = run_json("-r " + q(tmp.file("lung_lower_lobe_right_ref.nii.gz")) + " -p " +
                                    q(tmp.file("lung_lower_lobe_right_moved.nii.gz")) + " --tolerance-mm 5,1");
  const auto& l = j["labels"]["1"];
  // Dice from voxel counts, computed here independently of pulmo's metric code.
  const at::Tensor a = ref.voxels.ne(0), b = moved.voxels.ne(0);
  const double na = a.sum().item<double>(), nb = b.sum().item<double>(), nab = a.logical_and(b).sum().item<double>();
  EXPECT_NEAR(l["dice"].get<double>(), 2 * nab / (na + nb), 1e-12);
  EXPECT_NEAR(l["volume_ref_ml"].get<double>(), na * 0.027, 1e-6);
  EXPECT_NEAR(l["volume_pred_ml"].get<double>(), nb * 0.027, 1e-6);
  EXPECT_DOUBLE_EQ(l["surface_dice"]["5"].get<double>(), 1.0);
  EXPECT_LT(l["surface_dice"]["1"].get<double>(), 1.0);
  EXPECT_GT(l["surface_dice"]["1"].get<double>(), 0.0);
  EXPECT_NEAR(l["hd100"].get<double>(), 3.0, 1e-9);
  EXPECT_LE(l["hd95"].get<double>(), 3.0 + 1e-9);
  EXPECT_GT(l["assd"].get<double>(), 0.0);
  EXPECT_LT(l["assd"].get<double>(), 3.0);
}

TEST(CliEval, LabelMapsGiveOneEntryPerRequestedLabel) {
  REQUIRE_LOBES();
  TempDir tmp;
  const pulmo::Volume upper = pulmo::read_volume(lobe("lung_upper_lobe_left"));
  const pulmo::Volume lower = pulmo::read_volume(lobe("lung_lower_lobe_left"));
  const pulmo::Volume map = upper.with_voxels(upper.voxels.ne(0).to(at::kByte) + 2 * lower.voxels.ne(0).to(at::kByte));
  pulmo::write_volume(map, tmp.file("map.nii.gz"));
  const nlohmann::json j = run_json("-r " + q(tmp.file("map.nii.gz")) + " -p " + q(tmp.file("map.nii.gz")) + " --labels 1,2");
  ASSERT_TRUE(j["labels"].contains("1"));
  ASSERT_TRUE(j["labels"].contains("2"));
  EXPECT_DOUBLE_EQ(j["labels"]["2"]["dice"].get<double>(), 1.0);
  const auto r = run_pulmo("eval -r " + q(tmp.file("map.nii.gz")) + " -p " + q(tmp.file("map.nii.gz")) + " --labels 7");
  EXPECT_EQ(r.exit_code, 9) << r.err;
  EXPECT_NE(r.err.find("label 7"), std::string::npos) << r.err;
  const auto b = run_pulmo("eval -r " + q(tmp.file("map.nii.gz")) + " -p " + q(tmp.file("map.nii.gz")) + " --binary");
  EXPECT_EQ(b.exit_code, 9) << b.err;
  EXPECT_NE(b.err.find("not binary"), std::string::npos) << b.err;
}

TEST(CliEval, AnEmptyPredictionGivesZeroDiceAndNullDistances) {
  REQUIRE_LOBES();
  TempDir tmp;
  const pulmo::Volume ref = pulmo::read_volume(lobe("lung_upper_lobe_left"));
  pulmo::write_volume(ref.with_voxels(at::zeros_like(ref.voxels)), tmp.file("empty.nii.gz"));
  const nlohmann::json j = run_json("-r " + q(lobe("lung_upper_lobe_left")) + " -p " + q(tmp.file("empty.nii.gz")));
  const auto& l = j["labels"]["1"];
  EXPECT_DOUBLE_EQ(l["dice"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(l["surface_dice"]["5"].get<double>(), 0.0);
  EXPECT_TRUE(l["hd95"].is_null());
  EXPECT_TRUE(l["assd"].is_null());
  // Both empty: nothing to evaluate.
  const auto r = run_pulmo("eval -r " + q(tmp.file("empty.nii.gz")) + " -p " + q(tmp.file("empty.nii.gz")));
  EXPECT_EQ(r.exit_code, 8) << r.err;
}

TEST(CliEval, MasksOnDifferentGridsAreRefusedUnlessResampled) {
  REQUIRE_LOBES();
  TempDir tmp;
  pulmo::Volume moved = pulmo::read_volume(lobe("lung_upper_lobe_left"));
  moved.geometry.origin_mm[2] += 3.0;  // the same voxels one slice higher in the patient
  pulmo::write_volume(moved, tmp.file("moved.nii.gz"));
  const std::string args = "eval -r " + q(lobe("lung_upper_lobe_left")) + " -p " + q(tmp.file("moved.nii.gz"));
  const auto r = run_pulmo(args);
  EXPECT_EQ(r.exit_code, 9) << r.err;
  EXPECT_NE(r.err.find("--resample-prediction"), std::string::npos) << r.err;
  const auto ok = run_pulmo(args + " --resample-prediction --json");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const nlohmann::json j = nlohmann::json::parse(ok.out);
  EXPECT_NEAR(j["labels"]["1"]["hd100"].get<double>(), 3.0, 1e-9);
  EXPECT_DOUBLE_EQ(j["labels"]["1"]["surface_dice"]["5"].get<double>(), 1.0);
}

TEST(CliEval, MissingOrUnreadableInputsHaveTheirExitCodes) {
  TempDir tmp;
  EXPECT_EQ(run_pulmo("eval -r " + q(tmp.file("none.nii.gz")) + " -p " + q(tmp.file("none.nii.gz"))).exit_code, 3);
  std::ofstream(tmp.file("text.nii.gz")) << "not an image";
  EXPECT_EQ(run_pulmo("eval -r " + q(tmp.file("text.nii.gz")) + " -p " + q(tmp.file("text.nii.gz"))).exit_code, 4);
}

TEST(CliEval, MissingInputsAreUsageErrors) {
  EXPECT_EQ(run_pulmo("eval").exit_code, 2);
  EXPECT_EQ(run_pulmo("eval -r a.nii.gz").exit_code, 2);
  EXPECT_EQ(run_pulmo("eval --manifest m.csv").exit_code, 2);  // no --output-dir
  EXPECT_EQ(run_pulmo("eval -r a -p b --tolerance-mm -1").exit_code, 2);
}

TEST(CliEval, AManifestGivesPerCaseCsvSummaryAndSubgroupTables) {
  REQUIRE_LOBES();
  TempDir tmp;
  for (const char* name : {"lung_upper_lobe_left", "lung_lower_lobe_left"}) write_moved_pair(tmp, name);
  // Paths relative to the manifest's folder, and one absolute.
  std::ofstream(tmp.file("cases.csv")) << "case,reference,prediction,patient,sex,age\n"
                                       << "a,lung_upper_lobe_left_ref.nii.gz,lung_upper_lobe_left_moved.nii.gz,p1,F,45\n"
                                       << "b,lung_lower_lobe_left_ref.nii.gz,lung_lower_lobe_left_moved.nii.gz,p1,F,45\n"
                                       << "c," << lobe("lung_lower_lobe_right") << "," << lobe("lung_lower_lobe_right")
                                       << ",p2,M,71\n";
  const auto r = run_pulmo("eval --manifest " + q(tmp.file("cases.csv")) + " -o " + q(tmp.file("out")) + " --bootstrap 200");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("3/3 cases"), std::string::npos) << r.err;
  std::ifstream in(tmp.file("out/summary.json"));
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["cases"], 3);
  EXPECT_EQ(j["patients"], 2);
  EXPECT_EQ(j["bootstrap"]["resampled_by"], "patient");
  const auto& dice = j["labels"]["1"]["dice"];
  EXPECT_EQ(dice["n"], 3);
  EXPECT_LE(dice["ci_low"].get<double>(), dice["mean"].get<double>());
  EXPECT_GE(dice["ci_high"].get<double>(), dice["mean"].get<double>());
  EXPECT_DOUBLE_EQ(j["labels"]["1"]["surface_dice_5mm"]["mean"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["subgroups"]["sex"]["groups"]["M"]["labels"]["1"]["dice"]["mean"].get<double>(), 1.0);
  EXPECT_EQ(j["subgroups"]["age"]["groups"]["40-49"]["cases"], 2);
  EXPECT_FALSE(j["subgroups"]["age"]["groups"].contains(">=80"));
  EXPECT_EQ(j["subgroups"]["sex"]["gap"]["1"]["dice"]["best"], "M");
  std::ifstream csv(tmp.file("out/cases.csv"));
  int lines = 0;
  for (std::string line; std::getline(csv, line);) ++lines;
  EXPECT_EQ(lines, 4);  // header + one row per case and label
  for (const char* f : {"out/summary.md", "out/summary.html"}) EXPECT_TRUE(std::filesystem::exists(tmp.file(f))) << f;
}

TEST(CliEval, BadManifestsAndUnwritableOutputsHaveTheirExitCodes) {
  TempDir tmp;
  std::ofstream(tmp.file("bad.csv")) << "case,reference\na,x.nii.gz\n";
  const auto r = run_pulmo("eval --manifest " + q(tmp.file("bad.csv")) + " -o " + q(tmp.file("out")));
  EXPECT_EQ(r.exit_code, 10) << r.err;
  EXPECT_NE(r.err.find("prediction"), std::string::npos) << r.err;
  EXPECT_EQ(tmp.count_files(), 1);  // nothing written
  if (lobe("lung_upper_lobe_left").empty()) return;
  std::ofstream(tmp.file("ok.csv")) << "case,reference,prediction\na," << lobe("lung_upper_lobe_left") << ","
                                    << lobe("lung_upper_lobe_left") << "\n";
  const auto w = run_pulmo("eval --manifest " + q(tmp.file("ok.csv")) + " -o " + q(tmp.file("ok.csv") + "/sub"));
  EXPECT_EQ(w.exit_code, 7) << w.err;
}

TEST(CliEval, LungMasksInTheManifestGiveInvolvementAgreement) {
  REQUIRE_LOBES();
  TempDir tmp;
  const pulmo::Volume upper = pulmo::read_volume(lobe("lung_upper_lobe_left"));
  const pulmo::Volume lower = pulmo::read_volume(lobe("lung_lower_lobe_left"));
  pulmo::write_volume(upper.with_voxels(upper.voxels.ne(0).logical_or(lower.voxels.ne(0)).to(at::kByte)),
                      tmp.file("lung.nii.gz"));
  // "Lesions": case x predicts its reference exactly; case y predicts the upper lobe for the lower one.
  std::ofstream(tmp.file("cases.csv")) << "case,reference,prediction,lung_reference\n"
                                       << "x," << lobe("lung_upper_lobe_left") << "," << lobe("lung_upper_lobe_left")
                                       << ",lung.nii.gz\n"
                                       << "y," << lobe("lung_lower_lobe_left") << "," << lobe("lung_upper_lobe_left")
                                       << ",lung.nii.gz\n";
  const auto r = run_pulmo("-q eval --manifest " + q(tmp.file("cases.csv")) + " -o " + q(tmp.file("out")) + " --bootstrap 100");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(tmp.file("out/summary.json"));
  const nlohmann::json j = nlohmann::json::parse(in);
  const double u = upper.voxels.ne(0).sum().item<double>(), l = lower.voxels.ne(0).sum().item<double>();
  const double error_y = 100.0 * std::fabs(u - l) / (u + l);  // case x has no error
  EXPECT_EQ(j["agreement"]["n"], 2);
  EXPECT_NEAR(j["agreement"]["mae_percent"]["mean"].get<double>(), error_y / 2, 1e-9);
  EXPECT_NEAR(j["agreement"]["bias_percent"]["mean"].get<double>(), 100.0 * (u - l) / (u + l) / 2, 1e-9);
  std::ifstream md(tmp.file("out/summary.md"));
  const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("CT severity score confusion"), std::string::npos);
}

TEST(CliEval, ReadersGivePairwiseAgreementAndAConsensusMask) {
  REQUIRE_LOBES();
  TempDir tmp;
  write_moved_pair(tmp, "lung_lower_lobe_right");
  const std::string a = tmp.file("lung_lower_lobe_right_ref.nii.gz"), b = tmp.file("lung_lower_lobe_right_moved.nii.gz");
  const nlohmann::json j = run_json("--readers " + q(a + "," + a + "," + b) + " --consensus-out " +
                                    q(tmp.file("majority.nii.gz")) + " --consensus-method majority");
  ASSERT_EQ(j["pairs"].size(), 3u);
  EXPECT_DOUBLE_EQ(j["pairs"][0]["dice"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["pairs"][1]["surface_dice"].get<double>(), 1.0);  // 3 mm apart, 5 mm tolerance
  const pulmo::Volume consensus = pulmo::read_volume(tmp.file("majority.nii.gz"));
  const pulmo::Volume ref = pulmo::read_volume(a);
  EXPECT_TRUE(consensus.voxels.ne(0).equal(ref.voxels.ne(0)));  // two of three readers drew a
  const nlohmann::json s = run_json("--readers " + q(a + "," + a + "," + b) + " --consensus-out " + q(tmp.file("staple.nii.gz")));
  EXPECT_EQ(s["consensus"]["staple_sensitivity"].size(), 3u);
  EXPECT_TRUE(std::filesystem::exists(tmp.file("staple.nii.gz")));
  EXPECT_EQ(run_pulmo("eval --readers " + q(a)).exit_code, 2);  // one reader
  // Readers on different grids (the original lobe has one slice less).
  const auto r = run_pulmo("eval --readers " + q(a + "," + lobe("lung_lower_lobe_right")));
  EXPECT_EQ(r.exit_code, 9) << r.err;
}

TEST(CliEval, ClassificationScoresGiveMetricsWithIntervalsAndSubgroups) {
  TempDir tmp;
  // The scikit-learn example: ROC AUC 0.75, average precision 5/6; at 0.5: TP 1, FN 1, TN 2, FP 0.
  std::ofstream(tmp.file("scores.csv")) << "case,label,score,sex\na,0,0.1,F\nb,0,0.4,F\nc,1,0.35,M\nd,1,0.8,M\n";
  const auto r = run_pulmo("eval --classification " + q(tmp.file("scores.csv")) + " -o " + q(tmp.file("out")) +
                           " --bootstrap 200");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(tmp.file("out/classification.json"));
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_NEAR(j["metrics"]["roc_auc"]["value"].get<double>(), 0.75, 1e-12);
  EXPECT_NEAR(j["metrics"]["pr_auc"]["value"].get<double>(), 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(j["metrics"]["balanced_accuracy"]["value"].get<double>(), 0.75, 1e-12);
  EXPECT_EQ(j["confusion"]["tp"], 1);
  EXPECT_EQ(j["confusion"]["fn"], 1);
  EXPECT_LE(j["metrics"]["brier"]["ci_low"].get<double>(), j["metrics"]["brier"]["value"].get<double>());
  EXPECT_EQ(j["subgroups"]["sex"]["groups"]["F"]["positives"], 0);
  EXPECT_TRUE(j["subgroups"]["sex"]["groups"]["F"]["metrics"]["roc_auc"]["value"].is_null());  // one class only
  EXPECT_TRUE(std::filesystem::exists(tmp.file("out/classification.md")));
  // The Youden threshold chosen on "validation" data (here the same file) is 0.35.
  const auto v = run_pulmo("eval --classification " + q(tmp.file("scores.csv")) + " -o " + q(tmp.file("v")) +
                           " --bootstrap 10 --threshold-from " + q(tmp.file("scores.csv")));
  ASSERT_EQ(v.exit_code, 0) << v.err;
  std::ifstream vin(tmp.file("v/classification.json"));
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(vin)["threshold"].get<double>(), 0.35);
}

TEST(CliEval, BadClassificationInputsHaveTheirExitCodes) {
  TempDir tmp;
  std::ofstream(tmp.file("bad.csv")) << "case,label,score\na,2,0.5\n";
  EXPECT_EQ(run_pulmo("eval --classification " + q(tmp.file("bad.csv")) + " -o " + q(tmp.file("o"))).exit_code, 10);
  std::ofstream(tmp.file("ok.csv")) << "case,label,score\na,1,0.5\nb,0,0.2\n";
  EXPECT_EQ(run_pulmo("eval --classification " + q(tmp.file("ok.csv")) + " -o " + q(tmp.file("o")) + " --threshold abc").exit_code, 2);
  EXPECT_EQ(run_pulmo("eval --classification " + q(tmp.file("none.csv")) + " -o " + q(tmp.file("o"))).exit_code, 3);
  EXPECT_FALSE(std::filesystem::exists(tmp.file("o")));
}
