// pulmo anonymize: real CT series checked tag by tag against the profile table, the de-identified series quantified
// to the same numbers, and what a hostile user would try.
#include <gtest/gtest.h>

#include <gdcmDataSetHelper.h>
#include <gdcmReader.h>
#include <gdcmUIDs.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

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

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil), and back: the test's own
// date arithmetic for the modified dates option.
long days_from_civil(long y, long m, long d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const long yoe = y - era * 400, doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}
std::string shifted(const std::string& yyyymmdd_and_rest, int days) {
  const std::string& s = yyyymmdd_and_rest;
  long z = days_from_civil(std::stol(s.substr(0, 4)), std::stol(s.substr(4, 2)), std::stol(s.substr(6, 2))) + days;
  z += 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
  const long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp + (mp < 10 ? 3 : -9);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04ld%02ld%02ld", yoe + era * 400 + (m <= 2), m, d);
  return buf + s.substr(8);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string collapse_spaces(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ' ' || (!out.empty() && out.back() != ' ')) out += c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}
// `part`'s characters appear in `whole` in the same order (cleaning only removes text).
bool subsequence(const std::string& part, const std::string& whole) {
  size_t i = 0;
  for (char c : whole)
    if (i < part.size() && part[i] == c) ++i;
  return i == part.size();
}

// Every top-level attribute of `in` against its de-identified copy `out` under the basic profile and `options`
// (dates shifted by `shift_days` with the modified dates option). Returns how many attributes the options kept
// (or shifted) that the basic profile alone would have removed, emptied or replaced.
int expect_profile(const gdcm::File& fin, const gdcm::DataSet& out, const std::map<std::string, std::string>& map,
                   const pulmo::DeidOptions& options, int shift_days, const std::string& what) {
  const gdcm::DataSet& in = fin.GetDataSet();
  int checked = 0, kept_by_options = 0;
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
    const bool date = vr == gdcm::VR::DA || vr == gdcm::VR::DT;
    if (const pulmo::DeidRule* r = rule_of(t)) {
      const char action = pulmo::deid_action(*r, options), basic = pulmo::deid_action(*r, pulmo::DeidOptions{});
      if (action != basic && present) ++kept_by_options;
      switch (action) {
        case 'X': EXPECT_FALSE(present) << where << " (" << r->name << ", " << r->basic << ")"; break;
        case 'Z': EXPECT_TRUE(!present || after.empty()) << where << " (" << r->name << "): " << after; break;
        case 'D': EXPECT_TRUE(present && !after.empty() && after != before) << where; break;
        case 'U':
          if (before.empty()) {
            EXPECT_TRUE(t == gdcm::Tag(0x0008, 0x0018) ? !after.empty() : after.empty()) << where;
          } else {
            if (!map.count(before)) {
              ADD_FAILURE() << where << ": not in the map";
              break;
            }
            EXPECT_EQ(after, map.at(before)) << where << " (" << r->name << ")";
          }
          break;
        case 'C':  // Clean Descriptors: text kept minus the patient's name parts, IDs, dates and long numbers
          if (vr == gdcm::VR::SQ) {
            EXPECT_FALSE(present) << where;
          } else {
            EXPECT_TRUE(present && subsequence(after, before)) << where << ": '" << before << "' -> '" << after << "'";
            bool identifying = false;
            for (const gdcm::Tag& id : {gdcm::Tag(0x0010, 0x0010), gdcm::Tag(0x0010, 0x0020)}) {
              std::string v = in.FindDataElement(id) ? pulmo::io::dicom_text(in.GetDataElement(id)) : "";
              for (char& ch : v)
                if (ch == '^') ch = ' ';
              std::istringstream words(v);
              for (std::string w; words >> w;)
                if (w.size() >= 2 && lower(before).find(lower(w)) != std::string::npos) {
                  identifying = true;
                  EXPECT_EQ(lower(after).find(lower(w)), std::string::npos) << where << ": '" << after << "' holds '" << w << "'";
                }
            }
            const bool digits = std::regex_search(before, std::regex("[0-9]{5,}"));
            if (!identifying && !digits) EXPECT_EQ(after, collapse_spaces(before)) << where;
          }
          break;
        case 'S':
          EXPECT_EQ(after, date && before.size() >= 8 ? shifted(before, shift_days) : before) << where << " (" << r->name << ")";
          break;
        default:
          if (t == gdcm::Tag(0x0008, 0x0018) && before.empty()) {
            EXPECT_FALSE(after.empty()) << where << ": an instance needs a SOP Instance UID, retained or not";
          } else if (vr != gdcm::VR::SQ) {
            EXPECT_EQ(after, before) << where << " (" << r->name << ")";
          }
      }
      continue;
    }
    const bool dates_kept = options.retain_long_full_dates || options.retain_long_modified_dates;
    if ((t.GetGroup() & 0xFF00) == 0x5000) {
      EXPECT_FALSE(present) << where;
    } else if (vr == gdcm::VR::PN || ((date || vr == gdcm::VR::TM) && !dates_kept)) {
      EXPECT_TRUE(!present || after.empty()) << where << ": " << after;
    } else if ((date || vr == gdcm::VR::TM) && dates_kept) {
      kept_by_options += !before.empty();
      EXPECT_EQ(after, date && options.retain_long_modified_dates && before.size() >= 8 ? shifted(before, shift_days)
                                                                                          : before) << where;
    } else if (vr == gdcm::VR::UI && options.retain_uids) {
      kept_by_options += !before.empty() && !registered(before);
      EXPECT_EQ(after, before) << where;
    } else if (vr == gdcm::VR::UI && !before.empty() && !registered(before)) {
      if (!map.count(before)) {
        ADD_FAILURE() << where << ": not in the map";
        continue;
      }
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
  return kept_by_options;
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
    // The map is the re-identification key: its owner's alone.
    const auto perms = std::filesystem::status(tmp.file("map.json")).permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all), std::filesystem::perms::none)
        << rel;
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
      expect_profile(a.GetFile(), out, map, pulmo::DeidOptions{}, 0, rel + " " + fs::path(inputs[i]).filename().string());
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

// Each retain option of Table E.1-1 that pulmo offers and the Clean Descriptors Option, alone, on real series: every attribute of every instance
// checked against the table under that option, the option's code declared, and at least one attribute that the
// option keeps (and the basic profile alone would not) present in the data - else the test would prove nothing.
TEST(CliAnonymize, EachRetainOptionKeepsItsAttributesTagByTagOnRealSeries) {
  struct Case {
    const char* flag;
    const char* code;
    void (*set)(pulmo::DeidOptions&);
  };
  const Case cases[] = {
      {"--retain-uids", "113110", [](pulmo::DeidOptions& o) { o.retain_uids = true; }},
      {"--retain-device-identity", "113109", [](pulmo::DeidOptions& o) { o.retain_device_identity = true; }},
      {"--retain-institution-identity", "113112", [](pulmo::DeidOptions& o) { o.retain_institution_identity = true; }},
      {"--retain-patient-characteristics", "113108", [](pulmo::DeidOptions& o) { o.retain_patient_characteristics = true; }},
      {"--retain-long-full-dates", "113106", [](pulmo::DeidOptions& o) { o.retain_long_full_dates = true; }},
      {"--retain-long-modified-dates --date-shift-days -400", "113107",
       [](pulmo::DeidOptions& o) { o.retain_long_modified_dates = true; }},
      {"--clean-descriptors", "113105", [](pulmo::DeidOptions& o) { o.clean_descriptors = true; }},
  };
  std::vector<std::string> series;
  for (const char* rel : {"ct/totalsegmentator/example_ct_dicom", "ct/lung-pet-ct-dx/A0002_series3"}) {
    if (shared_data_path(rel).empty()) std::cerr << "[ SKIPPED  ] ../shared/data/" << rel << " is absent\n";
    else series.push_back(rel);
  }
  if (series.empty()) GTEST_SKIP() << "no real series in ../shared/data (ct/totalsegmentator/example_ct_dicom, ct/lung-pet-ct-dx/A0002_series3)";
  for (const Case& c : cases) {
    pulmo::DeidOptions o;
    c.set(o);
    int kept = 0;
    for (const std::string& rel : series) {
      TempDir tmp;
      const std::string in = shared_data_path(rel);
      const auto r = run_pulmo("anonymize " + q(in) + " " + q(tmp.file("out")) + " --map " + q(tmp.file("map.json")) +
                               " " + c.flag);
      ASSERT_EQ(r.exit_code, 0) << c.flag << " " << rel << ": " << r.err;
      const auto map = nlohmann::json::parse(pulmo::read_text_file(tmp.file("map.json")))["uids"]
                           .get<std::map<std::string, std::string>>();
      const std::vector<std::string> inputs = dicom_files(in);
      std::vector<std::string> outputs;
      for (const auto& e : fs::directory_iterator(tmp.file("out"))) outputs.push_back(e.path().string());
      std::sort(outputs.begin(), outputs.end());
      ASSERT_EQ(outputs.size(), inputs.size()) << rel;
      for (size_t i = 0; i < inputs.size(); ++i) {
        gdcm::Reader a, b;
        a.SetFileName(inputs[i].c_str());
        b.SetFileName(outputs[i].c_str());
        ASSERT_TRUE(a.Read() && b.Read()) << outputs[i];
        const gdcm::DataSet& out = b.GetFile().GetDataSet();
        kept += expect_profile(a.GetFile(), out, map, o, -400,
                               std::string(c.flag) + " " + rel + " " + fs::path(inputs[i]).filename().string());
        // The option is declared: its code in the De-identification Method Code Sequence, and the dates' fate.
        const gdcm::DataElement& codes = out.GetDataElement(gdcm::Tag(0x0012, 0x0064));
        bool declared = false;
        if (gdcm::SmartPointer<gdcm::SequenceOfItems> sq = codes.GetValueAsSQ())
          for (gdcm::SequenceOfItems::SizeType k = 1; k <= sq->GetNumberOfItems(); ++k)
            declared |= pulmo::io::dicom_text(sq->GetItem(k).GetNestedDataSet().GetDataElement(gdcm::Tag(0x0008, 0x0100))) == c.code;
        EXPECT_TRUE(declared) << c.flag << " " << outputs[i];
        EXPECT_EQ(pulmo::io::dicom_text(out.GetDataElement(gdcm::Tag(0x0028, 0x0303))),
                  o.retain_long_full_dates ? "UNMODIFIED" : o.retain_long_modified_dates ? "MODIFIED" : "REMOVED")
            << c.flag;
      }
    }
    std::printf("%s: %d attribute(s) kept by the option over %zu real series\n", c.flag, kept, series.size());
    EXPECT_GT(kept, 0) << c.flag << ": the real series hold nothing this option keeps";
  }
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
  // An output named with a trailing slash (as a shell completes a folder) is that folder, not a folder inside it.
  const auto slash = run_pulmo("anonymize " + q(tmp.file("ct/")) + " " + q(tmp.file("new/out/")));
  EXPECT_EQ(slash.exit_code, 0) << slash.err;
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.file("new/out")), fs::directory_iterator()), 3);
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.file("new")), fs::directory_iterator()), 1);
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

// A run killed with SIGKILL leaves its temporary folder ".OUT.tmp-PID" (it cannot clean up); the next run for the
// same OUT removes it - only a folder of that name that holds pulmo anonymize's marker and whose process is gone.
TEST(CliAnonymize, ARerunRemovesTheTemporaryFolderOfAKilledRunAndNothingElse) {
  TempDir tmp;
  std::vector<pulmo::test::SyntheticSlice> slices = pulmo::test::axial_stack(240, 1.0);
  for (auto& s : slices) s.rows = s.columns = 256;  // 128 KiB of pixels per file: the run lasts long enough
  pulmo::test::write_synthetic_series(tmp.file("ct"), slices);
  const std::string out = tmp.file("out");
  const pid_t pid = pulmo::test::spawn_pulmo({"anonymize", tmp.file("ct"), out});
  const std::string killed_tmp = tmp.file(".out.tmp-" + std::to_string(pid));
  // Kill it once it has written some files, before it finishes.
  bool caught = false;
  for (int i = 0; i < 60000 && !caught; ++i) {
    if (fs::exists(killed_tmp + "/IM000005.dcm")) caught = true;
    else std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(pid, SIGKILL);
  EXPECT_EQ(pulmo::test::exit_status(pid), 128 + SIGKILL);
  ASSERT_TRUE(caught) << "the run ended before 5 files were written";
  ASSERT_FALSE(fs::exists(out));
  ASSERT_TRUE(fs::is_directory(killed_tmp)) << "SIGKILL leaves the temporary folder";
  ASSERT_TRUE(fs::exists(killed_tmp + "/.pulmo-anonymize-tmp"));
  // Look-alikes that are not to be removed: a live process's folder (this test's own pid), a folder of a dead pid
  // without the marker (not pulmo anonymize's), a name with more than digits after ".tmp-".
  const std::string live = tmp.file(".out.tmp-" + std::to_string(::getpid()));
  const std::string unmarked = tmp.file(".out.tmp-" + std::to_string(pid + 100000));
  const std::string other = tmp.file(".out.tmp-" + std::to_string(pid) + "-dir");
  for (const std::string& d : {live, unmarked, other}) {
    fs::create_directories(d);
    pulmo::test::write_raw_file(d + "/keep.txt", "not yours");
  }
  pulmo::test::write_raw_file(live + "/.pulmo-anonymize-tmp", "marker");
  ASSERT_NE(::kill(pid + 100000, 0), 0) << "pid " << pid + 100000 << " runs: pick another";
  const auto r = run_pulmo("anonymize " + q(tmp.file("ct")) + " " + q(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(killed_tmp)) << "the killed run's folder stays";
  EXPECT_NE(r.err.find("/.out.tmp-" + std::to_string(pid) + "', the temporary folder of an earlier pulmo anonymize run"),
            std::string::npos) << r.err;
  for (const std::string& d : {live, unmarked, other}) EXPECT_TRUE(fs::exists(d + "/keep.txt")) << d;
  // The new output is whole, and the marker did not travel into it.
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator()), 240);
  EXPECT_FALSE(fs::exists(out + "/.pulmo-anonymize-tmp"));
}

// The Clean Descriptors Option on planted values: descriptions stay, minus the instance's names, IDs, dates and
// long numbers; without the option they are removed (the basic profile's X).
TEST(CliAnonymize, CleanDescriptorsKeepsDescriptionsWithoutTheirIdentifyingText) {
  const std::vector<std::string> ids = {"12345678", "Jane", "Doe"};
  EXPECT_EQ(pulmo::clean_descriptor("CT chest Doe Jane 12345678 2021-03-04 routine", ids), "CT chest routine");
  EXPECT_EQ(pulmo::clean_descriptor("DOE^JANE chest", ids), "chest");  // any case; name separators dropped
  EXPECT_EQ(pulmo::clean_descriptor("Janet follow-up", ids), "Janet follow-up");  // whole words only
  EXPECT_EQ(pulmo::clean_descriptor("seen 3/4/21 and 04.03.2021, MRN 9876543", {}), "seen and, MRN");
  EXPECT_EQ(pulmo::clean_descriptor("ThoraxRoutine  8.0.0  B40f", {}), "ThoraxRoutine 8.0.0 B40f");  // a version
  EXPECT_EQ(pulmo::clean_descriptor("Doe", ids), "");

  TempDir tmp;
  pulmo::test::write_synthetic_series(tmp.file("ct"), pulmo::test::axial_stack(3, 1.0));
  for (const auto& e : fs::directory_iterator(tmp.file("ct"))) {
    const std::string f = e.path().string();
    pulmo::test::set_dicom_tag(f, 0x0010, 0x0010, "Doe^Jane");
    pulmo::test::set_dicom_tag(f, 0x0010, 0x0020, "PAT-123");
    pulmo::test::set_dicom_tag(f, 0x0008, 0x0090, "Smith^John");  // Referring Physician's Name
    pulmo::test::set_dicom_tag(f, 0x0008, 0x0050, "ACC98");        // Accession Number
    pulmo::test::set_dicom_tag(f, 0x0008, 0x103E, "Doe^Jane PAT-123 20200102 chest");
    pulmo::test::set_dicom_tag(f, 0x0008, 0x1030, "Thorax routine");
    pulmo::test::set_dicom_tag(f, 0x0020, 0x4000, "ACC98 seen 3/4/21 by Dr Smith, contrast");
  }
  auto r = run_pulmo("anonymize " + q(tmp.file("ct")) + " " + q(tmp.file("clean")) + " --clean-descriptors");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("113105"), std::string::npos) << r.out;
  r = run_pulmo("anonymize " + q(tmp.file("ct")) + " " + q(tmp.file("basic")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int files = 0;
  for (const auto& e : fs::directory_iterator(tmp.file("clean"))) {
    gdcm::Reader a, b;
    a.SetFileName(e.path().c_str());
    b.SetFileName((tmp.file("basic") + "/" + e.path().filename().string()).c_str());
    ASSERT_TRUE(a.Read() && b.Read()) << e.path();
    const gdcm::DataSet& clean = a.GetFile().GetDataSet();
    auto text = [](const gdcm::DataSet& ds, uint16_t g, uint16_t el) {
      return ds.FindDataElement(gdcm::Tag(g, el)) ? pulmo::io::dicom_text(ds.GetDataElement(gdcm::Tag(g, el))) : "<absent>";
    };
    EXPECT_EQ(text(clean, 0x0008, 0x103E), "chest");
    EXPECT_EQ(text(clean, 0x0008, 0x1030), "Thorax routine");
    EXPECT_EQ(text(clean, 0x0020, 0x4000), "seen by Dr, contrast");
    EXPECT_TRUE(text(clean, 0x0010, 0x0010).empty());  // the rest of the profile applies
    for (const auto& tag : {std::pair<uint16_t, uint16_t>{0x0008, 0x103E}, {0x0008, 0x1030}, {0x0020, 0x4000}})
      EXPECT_EQ(text(b.GetFile().GetDataSet(), tag.first, tag.second), "<absent>") << "basic profile: removed";
    ++files;
  }
  EXPECT_EQ(files, 3);
}
