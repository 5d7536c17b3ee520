// pulmo dataset check / split on manifests written here.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

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
