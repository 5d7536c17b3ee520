// pulmo dataset check / split on manifests written here.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "pulmo/io.h"
#include "support/test_support.h"

using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

void write_images(const TempDir& tmp) {
  pulmo::Geometry g;
  g.size = {8, 6, 4};
  pulmo::Volume ct = pulmo::Volume::filled(g, -1000.0);
  ct.voxels.slice(2, 2, 6).fill_(40.0);
  pulmo::write_volume(ct, tmp.file("ct.nii.gz"));
  pulmo::Volume lungs = pulmo::Volume::filled(g, 0.0, at::kByte);
  lungs.voxels.slice(2, 1, 3).fill_(1);
  pulmo::write_volume(lungs, tmp.file("lungs.nii.gz"));
  g.size = {8, 6, 5};
  pulmo::write_volume(pulmo::Volume::filled(g, 0.0, at::kByte), tmp.file("other.nii.gz"));
}

}  // namespace

TEST(CliDataset, CheckOfAGoodManifestExitsZero) {
  TempDir tmp;
  write_images(tmp);
  write_file(tmp.file("m.csv"), "case_id,patient_id,image,lungs\nc1,p1,ct.nii.gz,lungs.nii.gz\nc2,p2,ct.nii.gz,\n");
  const auto r = run_pulmo("dataset check '" + tmp.file("m.csv") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("2 case(s), 0 problem(s)"), std::string::npos) << r.out;
}

TEST(CliDataset, CheckListsEveryProblemAndExitsBadConfig) {
  TempDir tmp;
  write_images(tmp);
  write_file(tmp.file("m.csv"),
             "case_id,patient_id,image,lungs,convention\n"
             "c1,p1,ct.nii.gz,other.nii.gz,pulmo\n"
             "c1,,missing.nii.gz,,pulmo\n"
             "c3,p3,ct.nii.gz,lungs.nii.gz,unknown-convention\n");
  const auto r = run_pulmo("dataset check --json '" + tmp.file("m.csv") + "'");
  EXPECT_EQ(r.exit_code, 10) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  std::set<std::string> messages;
  for (const auto& p : j["problems"]) messages.insert(p["message"].get<std::string>());
  EXPECT_GE(j["problems"].size(), 5u) << r.out;  // other grid, duplicate id, no patient, missing image, convention
  EXPECT_NE(r.err.find("problem(s)"), std::string::npos);
}

TEST(CliDataset, MissingManifestIsNotFoundAndBrokenOneIsBadConfig) {
  TempDir tmp;
  EXPECT_EQ(run_pulmo("dataset check '" + tmp.file("none.csv") + "'").exit_code, 3);
  write_file(tmp.file("bad.json"), "[{");
  EXPECT_EQ(run_pulmo("dataset check '" + tmp.file("bad.json") + "'").exit_code, 10);
  EXPECT_EQ(run_pulmo("dataset").exit_code, 2);
  EXPECT_EQ(run_pulmo("dataset check").exit_code, 2);
}

TEST(CliDataset, SplitWritesPatientLevelFoldsAsJson) {
  TempDir tmp;
  write_file(tmp.file("m.csv"), "case_id,patient_id,image\na1,A,x\na2,A,x\nb1,B,x\nc1,C,x\nd1,D,x\nd2,D,x\n");
  const auto r = run_pulmo("dataset split '" + tmp.file("m.csv") + "' --k 2 --validation 0.34 --seed 3 --out '" + tmp.file("s.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(tmp.file("s.json"));
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j["folds"].size(), 2u);
  for (const auto& fold : j["folds"]) {
    std::map<char, std::string> set_of_patient;  // the patient is the case id's first letter
    for (const char* set : {"train", "validation", "test"})
      for (const auto& id : fold[set]) {
        const char patient = id.get<std::string>()[0];
        if (set_of_patient.count(patient)) EXPECT_EQ(set_of_patient[patient], set) << id;
        set_of_patient[patient] = set;
      }
    EXPECT_EQ(set_of_patient.size(), 4u);
  }
  EXPECT_EQ(run_pulmo("dataset split '" + tmp.file("m.csv") + "' --k 9").exit_code, 10);  // more folds than patients
  EXPECT_EQ(run_pulmo("dataset split '" + tmp.file("m.csv") + "' --k 2 --leave-one-out").exit_code, 2);
}

TEST(CliDataset, SplitAsCsvListsEveryCaseOncePerFold) {
  TempDir tmp;
  write_file(tmp.file("m.csv"), "case_id,patient_id,image\na1,A,x\na2,A,x\nb1,B,x\nc1,C,x\nd1,D,x\n");
  const auto r = run_pulmo("dataset split '" + tmp.file("m.csv") + "' --k 4 --validation 0 --seed 1 --csv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "fold,set,case_id");
  std::map<std::string, int> tested;  // case -> folds testing it
  std::map<int, int> rows_per_fold;
  while (std::getline(in, line)) {
    const auto a = line.find(','), b = line.find(',', a + 1);
    const int fold = std::stoi(line.substr(0, a));
    const std::string set = line.substr(a + 1, b - a - 1), id = line.substr(b + 1);
    EXPECT_TRUE(set == "train" || set == "test") << line;  // --validation 0
    rows_per_fold[fold]++;
    if (set == "test") tested[id]++;
  }
  EXPECT_EQ(rows_per_fold.size(), 4u);
  for (const auto& [fold, n] : rows_per_fold) EXPECT_EQ(n, 5) << "fold " << fold;  // every case once per fold
  EXPECT_EQ(tested.size(), 5u);
  for (const auto& [id, n] : tested) EXPECT_EQ(n, 1) << id;  // each case tested in exactly one fold
  EXPECT_EQ(tested["a1"], tested["a2"]);
}

TEST(CliDataset, ImportOfCovidSemiSegWritesCasesAManifestAndRefusesBadInput) {
  const std::string root = pulmo::test::shared_data_path("ct/covid-semiseg");
  if (root.empty()) GTEST_SKIP() << pulmo::test::missing_shared_data("ct/covid-semiseg");
  TempDir tmp;
  const auto r = run_pulmo("dataset import covid-semiseg '" + root + "' --out '" + tmp.file("out") + "' --set expert");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("imported 50 slice(s) (50 expert, 0 pseudo-labelled)"), std::string::npos) << r.out;
  const auto check = run_pulmo("dataset check '" + tmp.file("out/manifest.csv") + "'");
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  // An image in HU, lung parenchyma where the lungs are: the calibration's -850 HU is the image's mode below 0.
  const pulmo::Volume ct = pulmo::read_volume(tmp.file("out/images/medseg_0.nii.gz"));
  EXPECT_LE(ct.voxels.min().item<double>(), -900);
  EXPECT_LE(ct.voxels.max().item<double>(), 400);
  // The same import again needs --overwrite; with it, it succeeds.
  pulmo::test::expect_refused_command("dataset import covid-semiseg '" + root + "' --out '" + tmp.file("out") + "' --set expert",
                                      7, "--overwrite", tmp.file("out/nothing"));
  EXPECT_EQ(run_pulmo("dataset import covid-semiseg '" + root + "' --out '" + tmp.file("out") + "' --set expert --overwrite").exit_code, 0);
  // Bad layouts, windows, sets: usage errors before any output.
  pulmo::test::expect_refused_command("dataset import nosuch '" + root + "' --out '" + tmp.file("o2") + "'", 2, "unknown layout", tmp.file("o2"));
  pulmo::test::expect_refused_command("dataset import covid-semiseg '" + root + "' --out '" + tmp.file("o3") + "' --input-window 200,-1000",
                                      2, "--input-window", tmp.file("o3"));
  pulmo::test::expect_refused_command("dataset import covid-semiseg '" + root + "' --out '" + tmp.file("o4") + "' --set all", 2,
                                      "--set", tmp.file("o4"));
  pulmo::test::expect_refused_command("dataset import covid-semiseg '" + tmp.file("nowhere") + "' --out '" + tmp.file("o5") + "'", 3,
                                      "does not exist", tmp.file("o5"));
}

TEST(CliDataset, SegmentRunsOneModelOnAWholeSliceAndRefusesBadOptions) {
  const std::string root = pulmo::test::shared_data_path("ct/covid-semiseg");
  if (root.empty()) GTEST_SKIP() << pulmo::test::missing_shared_data("ct/covid-semiseg");
  const std::string model = std::string(PULMO_SOURCE_DIR) + "/models/lesions";
  const std::string slice = root + "/expert/nifti/ct/0.nii.gz";
  TempDir tmp;
  const auto r = run_pulmo("-q segment '" + model + "' '" + slice + "' --out '" + tmp.file("classes.nii.gz") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = run_pulmo("-q segment '" + model + "' '" + slice + "' --out '" + tmp.file("any.nii.gz") + "' --merge-labels");
  ASSERT_EQ(m.exit_code, 0) << m.err;
  const pulmo::Volume ct = pulmo::read_volume(slice), classes = pulmo::read_volume(tmp.file("classes.nii.gz")),
                      any = pulmo::read_volume(tmp.file("any.nii.gz"));
  EXPECT_TRUE(classes.geometry.same_grid_as(ct.geometry));
  EXPECT_LE(classes.voxels.max().item<int>(), 2);
  EXPECT_LE(any.voxels.max().item<int>(), 1);
  EXPECT_TRUE(at::equal(any.voxels.ne(0), classes.voxels.ne(0)));  // merging changes labels, not the region
  pulmo::test::expect_refused_command("segment '" + model + "' '" + slice + "' --out '" + tmp.file("x.png") + "'", 2, "--out", tmp.file("x.png"));
  pulmo::test::expect_refused_command("segment '" + model + "' '" + slice + "' --out '" + tmp.file("y.nii.gz") + "' --threshold 1.5", 2,
                                      "threshold", tmp.file("y.nii.gz"), false);
  pulmo::test::expect_refused_command("segment '" + tmp.file("nomodel") + "' '" + slice + "' --out '" + tmp.file("z.nii.gz") + "'", 3, "",
                                      tmp.file("z.nii.gz"));
  pulmo::test::expect_refused_command("segment '" + std::string(PULMO_SOURCE_DIR) + "/models/lung_box' '" + slice + "' --out '" +
                                          tmp.file("w.nii.gz") + "'",
                                      10, "not a segmentation U-Net", tmp.file("w.nii.gz"));
}
