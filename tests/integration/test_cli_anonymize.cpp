// pulmo anonymize: real CT series checked tag by tag against the profile table, the de-identified series quantified
// to the same numbers, and what a hostile user would try.
#include <gtest/gtest.h>

#include <gdcmDataSetHelper.h>
#include <gdcmReader.h>
#include <gdcmUIDs.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "io/internal.h"
#include "pulmo/deid.h"
#include "pulmo/fileutil.h"
#include "support/synthetic_dicom.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::test::expect_refused_command;
using pulmo::test::run_pulmo;
using pulmo::test::shared_data_path;
using pulmo::test::TempDir;

namespace {


std::string q(const std::string& s) { return "'" + s + "'"; }

// The DICOM files of a folder in pulmo anonymize's order (sorted paths, non-DICOM left out).
std::vector<std::string> dicom_files(const std::string& folder) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(folder))
    if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (const std::string& f : files) {
    gdcm::Reader r;
    r.SetFileName(f.c_str());
    if (r.Read()) out.push_back(f);
  }
  return out;
}

const pulmo::DeidRule* rule_of(const gdcm::Tag& t) {
  for (const pulmo::DeidRule& r : pulmo::deid_profile_table())
    if (r.group == t.GetGroup() && r.element == t.GetElement()) return &r;
  return nullptr;
}

bool registered(const std::string& uid) {
  gdcm::UIDs u;
  return u.SetFromUID(uid.c_str());
}

// Every top-level attribute of `in` against its de-identified copy `out` under the basic profile.
void expect_basic_profile(const gdcm::File& fin, const gdcm::DataSet& out, const std::map<std::string, std::string>& map,
                          const std::string& what) {
  const gdcm::DataSet& in = fin.GetDataSet();
  int checked = 0;
  for (const gdcm::DataElement& de : in.GetDES()) {
    const gdcm::Tag t = de.GetTag();
    const std::string where = what + " " + t.PrintAsPipeSeparatedString();
    const bool present = out.FindDataElement(t);
    const std::string before = pulmo::io::dicom_text(de), after = present ? pulmo::io::dicom_text(out.GetDataElement(t)) : "<absent>";
    ++checked;
    if (t.IsPrivate() || t.IsGroupLength()) {
      EXPECT_FALSE(present) << where;
      continue;
    }
    if (t == gdcm::Tag(0x0012, 0x0062) || t == gdcm::Tag(0x0012, 0x0063) || t == gdcm::Tag(0x0012, 0x0064) ||
        t == gdcm::Tag(0x0028, 0x0303) || (t == gdcm::Tag(0x0008, 0x0016) && before.empty()))
      continue;  // written by the de-identifier
    const gdcm::VR vr = gdcm::DataSetHelper::ComputeVR(fin, in, t);
    if (const pulmo::DeidRule* r = rule_of(t)) {
      switch (pulmo::deid_action(*r, pulmo::DeidOptions{})) {
        case 'X': EXPECT_FALSE(present) << where << " (" << r->name << ", " << r->basic << ")"; break;
        case 'Z': EXPECT_TRUE(!present || after.empty()) << where << " (" << r->name << "): " << after; break;
        case 'D': EXPECT_TRUE(present && !after.empty() && after != before) << where; break;
        case 'U':
          if (before.empty()) {
            EXPECT_TRUE(t == gdcm::Tag(0x0008, 0x0018) ? !after.empty() : after.empty()) << where;
          } else {
            ASSERT_TRUE(map.count(before)) << where;
            EXPECT_EQ(after, map.at(before)) << where << " (" << r->name << ")";
          }
          break;
        default:
          if (vr != gdcm::VR::SQ) {
            EXPECT_EQ(after, before) << where;
          }
      }
      continue;
    }
    if ((t.GetGroup() & 0xFF00) == 0x5000) {
      EXPECT_FALSE(present) << where;
    } else if (vr == gdcm::VR::PN || vr == gdcm::VR::DA || vr == gdcm::VR::DT || vr == gdcm::VR::TM) {
      EXPECT_TRUE(!present || after.empty()) << where << ": " << after;
    } else if (vr == gdcm::VR::UI && !before.empty() && !registered(before)) {
      ASSERT_TRUE(map.count(before)) << where;
      EXPECT_EQ(after, map.at(before)) << where;
    } else if (vr == gdcm::VR::SQ) {
      EXPECT_TRUE(present) << where;
    } else if (t == gdcm::Tag(0x7fe0, 0x0010)) {
      EXPECT_TRUE(present && de.GetValue() == out.GetDataElement(t).GetValue()) << where << ": pixel data changed";
    } else {
      EXPECT_EQ(after, before) << where;
    }
  }
  EXPECT_GT(checked, 15) << what;  // the LIDC slices hold 21 attributes
  EXPECT_EQ(pulmo::io::dicom_text(out.GetDataElement(gdcm::Tag(0x0012, 0x0062))), "YES") << what;
}

nlohmann::json report(const std::string& folder) {
  return nlohmann::json::parse(pulmo::read_text_file(folder + "/report.json"));
}

}  // namespace

TEST(CliAnonymize, RealSeriesFollowTheProfileTableTagByTagWithConsistentUids) {
  int tested = 0;
  for (const std::string rel : {"ct/totalsegmentator/example_ct_dicom", "ct/lung-pet-ct-dx/A0002_series3",
                                "ct/lidc-lungmask"}) {
    const std::string in = shared_data_path(rel);
    if (in.empty()) {
      std::cerr << "[ SKIPPED  ] ../shared/data/" << rel << " is absent\n";
      continue;
    }
    TempDir tmp;
    const auto r = run_pulmo("anonymize " + q(in) + " " + q(tmp.file("out")) + " --map " + q(tmp.file("map.json")));
    ASSERT_EQ(r.exit_code, 0) << rel << ": " << r.err;
    const auto map = nlohmann::json::parse(pulmo::read_text_file(tmp.file("map.json")))["uids"]
                         .get<std::map<std::string, std::string>>();
    const std::vector<std::string> inputs = dicom_files(in);
    std::vector<std::string> outputs;
    for (const auto& e : fs::directory_iterator(tmp.file("out"))) outputs.push_back(e.path().string());
    std::sort(outputs.begin(), outputs.end());
    ASSERT_EQ(outputs.size(), inputs.size()) << rel;
    std::set<std::string> studies, series, frames;
    for (size_t i = 0; i < inputs.size(); ++i) {
      gdcm::Reader a, b;
      a.SetFileName(inputs[i].c_str());
      b.SetFileName(outputs[i].c_str());
      ASSERT_TRUE(a.Read() && b.Read()) << outputs[i];
      const gdcm::DataSet& out = b.GetFile().GetDataSet();
      expect_basic_profile(a.GetFile(), out, map, rel + " " + fs::path(inputs[i]).filename().string());
      studies.insert(pulmo::io::dicom_text(out.GetDataElement(gdcm::Tag(0x0020, 0x000d))));
      series.insert(pulmo::io::dicom_text(out.GetDataElement(gdcm::Tag(0x0020, 0x000e))));
      frames.insert(pulmo::io::dicom_text(out.GetDataElement(gdcm::Tag(0x0020, 0x0052))));
    }
    EXPECT_EQ(studies.size(), 1u) << rel;
    EXPECT_EQ(series.size(), 1u) << rel;
    EXPECT_EQ(frames.size(), 1u) << rel;
    // The same map, another run: the same UIDs.
    const auto r2 = run_pulmo("anonymize " + q(in) + " " + q(tmp.file("out2")) + " --map " + q(tmp.file("map.json")));
    ASSERT_EQ(r2.exit_code, 0) << r2.err;
    gdcm::Reader c;
    c.SetFileName((tmp.file("out2") + "/" + fs::path(outputs[0]).filename().string()).c_str());
    ASSERT_TRUE(c.Read());
    EXPECT_EQ(pulmo::io::dicom_text(c.GetFile().GetDataSet().GetDataElement(gdcm::Tag(0x0020, 0x000e))), *series.begin());
    ++tested;
  }
  if (tested == 0) GTEST_SKIP() << "no real series in ../shared/data (ct/totalsegmentator/example_ct_dicom, ...)";
}

TEST(CliAnonymize, TheDeidentifiedSeriesQuantifiesToTheSameNumbers) {
  PULMO_REQUIRE_SHARED_DATA("ct/lidc-lungmask");
  TempDir tmp;
  const std::string in = shared_data_path("ct/lidc-lungmask");
  ASSERT_EQ(run_pulmo("anonymize " + q(in) + " " + q(tmp.file("anon"))).exit_code, 0);
  const std::string opts = " --lungs classical --no-lesions --no-html";
  const auto a = run_pulmo("quantify " + q(in) + " --out " + q(tmp.file("q1")) + opts);
  const auto b = run_pulmo("quantify " + q(tmp.file("anon")) + " --out " + q(tmp.file("q2")) + opts);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const nlohmann::json ra = report(tmp.file("q1")), rb = report(tmp.file("q2"));
  EXPECT_EQ(ra["regions"], rb["regions"]);
  EXPECT_EQ(ra["slices"], rb["slices"]);
  EXPECT_EQ(ra["input"]["geometry"], rb["input"]["geometry"]);
  EXPECT_GT(ra["regions"]["total"]["lung_ml"].get<double>(), 10.0);
}

TEST(CliAnonymize, HostileInputsHaveTheirExitCodesMessagesAndLeaveNothing) {
  TempDir tmp;
  const std::string out = tmp.file("out");
  pulmo::test::write_synthetic_series(tmp.file("ct"), pulmo::test::axial_stack(3, 1.0));
  expect_refused_command("anonymize " + q(tmp.file("nothing")) + " " + q(out), 3, "does not exist", out);
  fs::create_directories(tmp.file("empty"));
  expect_refused_command("anonymize " + q(tmp.file("empty")) + " " + q(out), 8, "is empty", out);
  fs::create_directories(tmp.file("text"));
  pulmo::test::write_raw_file(tmp.file("text/notes.txt"), "Jane Doe, born 1970\n");
  expect_refused_command("anonymize " + q(tmp.file("text")) + " " + q(out), 8, "holds no DICOM instance", out);
  expect_refused_command("anonymize " + q(tmp.file("text/notes.txt")) + " " + q(out), 4, "cannot be read as DICOM", out);
  // A DICOM file cut short in the middle of its header.
  fs::create_directories(tmp.file("cut"));
  const std::string whole = pulmo::read_text_file(tmp.file("ct/slice_000.dcm"));
  pulmo::test::write_raw_file(tmp.file("cut/a.dcm"), whole.substr(0, 400));
  expect_refused_command("anonymize " + q(tmp.file("cut")) + " " + q(out), 4, "a.dcm", out);
  // Writing into the input, the key inside the output, a map that is not one, exclusive options.
  expect_refused_command("anonymize " + q(tmp.file("ct")) + " " + q(tmp.file("ct/anon")), 2, "never writes into its input",
                         tmp.file("ct/anon"));
  expect_refused_command("anonymize " + q(tmp.file("ct")) + " " + q(out) + " --map " + q(out + "/map.json"), 2,
                         "re-identification key", out);
  pulmo::test::write_raw_file(tmp.file("bad.json"), "[1, 2]");
  expect_refused_command("anonymize " + q(tmp.file("ct")) + " " + q(out) + " --map " + q(tmp.file("bad.json")), 10,
                         "not a pulmo de-identification map", out);
  expect_refused_command("anonymize " + q(tmp.file("ct")) + " " + q(out) + " --date-shift-days 5", 2,
                         "--date-shift-days needs --retain-long-modified-dates", out);
  expect_refused_command("anonymize " + q(tmp.file("ct")) + " " + q(out) +
                             " --retain-long-full-dates --retain-long-modified-dates",
                         2, "excludes", out, false);
  // Two patients in one folder.
  pulmo::test::write_synthetic_series(tmp.file("two/b"), pulmo::test::axial_stack(2, 1.0));
  fs::copy(tmp.file("ct"), tmp.file("two/a"), fs::copy_options::recursive);
  pulmo::test::set_dicom_tag(tmp.file("two/a/slice_000.dcm"), 0x0010, 0x0020, "PAT-A");
  expect_refused_command("anonymize " + q(tmp.file("two")) + " " + q(out), 9, "more than one patient", out);
  // An output folder that exists is never merged into: its content stays.
  fs::create_directories(tmp.file("taken"));
  pulmo::test::write_raw_file(tmp.file("taken/keep.txt"), "mine");
  const auto r = run_pulmo("anonymize " + q(tmp.file("ct")) + " " + q(tmp.file("taken")));
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(pulmo::read_text_file(tmp.file("taken/keep.txt")), "mine");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.file("taken")), fs::directory_iterator()), 1);
  // The input is never touched.
  EXPECT_EQ(pulmo::read_text_file(tmp.file("ct/slice_000.dcm")), whole);
}

TEST(CliAnonymize, BurnedInAnnotationIsFlaggedWithAWarning) {
  TempDir tmp;
  pulmo::test::write_synthetic_series(tmp.file("ct"), pulmo::test::axial_stack(2, 1.0));
  pulmo::test::set_dicom_tag(tmp.file("ct/slice_000.dcm"), 0x0028, 0x0301, "YES");
  auto r = run_pulmo("anonymize " + q(tmp.file("ct")) + " " + q(tmp.file("out")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("BurnedInAnnotation YES"), std::string::npos) << r.err;
  // A secondary capture that does not say NO is flagged too; a CT that does not say is not.
  pulmo::test::write_synthetic_series(tmp.file("sc"), pulmo::test::axial_stack(2, 1.0));
  for (const char* f : {"sc/slice_000.dcm", "sc/slice_001.dcm"})
    pulmo::test::set_dicom_tag(tmp.file(f), 0x0008, 0x0016, "1.2.840.10008.5.1.4.1.1.7");
  r = run_pulmo("anonymize " + q(tmp.file("sc")) + " " + q(tmp.file("out_sc")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("do not say BurnedInAnnotation NO"), std::string::npos) << r.err;
  pulmo::test::write_synthetic_series(tmp.file("ct2"), pulmo::test::axial_stack(2, 1.0));
  r = run_pulmo("anonymize " + q(tmp.file("ct2")) + " " + q(tmp.file("out_ct2")) + " --map " + q(tmp.file("m.json")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("BurnedInAnnotation"), std::string::npos) << r.err;
}
