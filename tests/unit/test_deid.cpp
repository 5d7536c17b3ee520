// DICOM de-identification (pulmo/deid.h) on synthetic series where every identifying attribute is planted by hand:
// each row of the profile table, nested copies, private tags, curves and overlays; UIDs consistent within a series,
// across runs sharing a map, and references remapped with their targets.
#include <gtest/gtest.h>

#include <gdcmDataSetHelper.h>
#include <gdcmDicts.h>
#include <gdcmGlobal.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>
#include <gdcmWriter.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "io/internal.h"
#include "pulmo/deid.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "support/synthetic_dicom.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::DeidOptions;
using pulmo::DeidRule;
using pulmo::test::TempDir;

namespace {


void put(gdcm::DataSet& ds, const gdcm::Tag& t, const gdcm::VR& vr, std::string v) {
  if (v.size() % 2) v += vr == gdcm::VR::UI ? '\0' : ' ';
  gdcm::DataElement de(t);
  de.SetVR(vr);
  de.SetByteValue(v.data(), static_cast<uint32_t>(v.size()));
  ds.Replace(de);
}

gdcm::VR dict_vr(uint16_t g, uint16_t e) {
  return gdcm::Global::GetInstance().GetDicts().GetDictEntry(gdcm::Tag(g, e)).GetVR();
}

// An identifying value for an attribute of `vr` (one per file index `i` where that matters); "" = not planted.
std::string planted(const gdcm::VR& vr, const DeidRule& r, int i) {
  const std::string k = std::to_string(r.group) + "." + std::to_string(r.element);
  if (vr == gdcm::VR::DA) return "20200102";
  if (vr == gdcm::VR::DT) return "20200102030405";
  if (vr == gdcm::VR::TM) return "101112";
  if (vr == gdcm::VR::UI) return "1.2.826.0.1.3680043.9.7777.55." + k;  // the same in every file of the study
  if (vr == gdcm::VR::PN) return "Doe^Jane";
  if (vr == gdcm::VR::AS) return "045Y";
  if (vr == gdcm::VR::DS) return "71.5";
  if (vr == gdcm::VR::IS) return "7";
  if (vr == gdcm::VR::CS) return "SECRET";
  if (vr == gdcm::VR::AE) return "SECRETAE";
  if (vr == gdcm::VR::LO || vr == gdcm::VR::SH || vr == gdcm::VR::LT || vr == gdcm::VR::ST || vr == gdcm::VR::UT ||
      vr == gdcm::VR::UC)
    return "SECRET " + r.name;
  return "";
}

gdcm::DataElement sequence_of(const gdcm::Tag& t, const std::vector<gdcm::DataSet>& items) {
  gdcm::SmartPointer<gdcm::SequenceOfItems> sq = new gdcm::SequenceOfItems;
  sq->SetLengthToUndefined();
  for (const gdcm::DataSet& nds : items) {
    gdcm::Item item;
    item.SetVLToUndefined();
    item.SetNestedDataSet(nds);
    sq->AddItem(item);
  }
  gdcm::DataElement de(t);
  de.SetVR(gdcm::VR::SQ);
  de.SetValue(*sq);
  de.SetVLToUndefined();
  return de;
}

struct Planted {
  std::map<uint32_t, std::string> values;  // rule key -> planted value (string VRs)
  std::set<uint32_t> sequences;             // rules planted as sequences
};
uint32_t key(uint16_t g, uint16_t e) { return (uint32_t{g} << 16) | e; }

// A 4-slice synthetic CT with every attribute of the profile table planted, plus private tags, a curve, overlay
// data and comments, a person's name and a date nested in a kept sequence, and a reference to slice 2.
Planted plant_series(const std::string& folder, const std::string& patient_id = "PAT-123") {
  gdcm::Trace::WarningOff();  // "No PhotometricInterpretation found" from the ITK writer of the synthetic series
  pulmo::test::write_synthetic_series(folder, pulmo::test::axial_stack(4, 2.0));
  Planted p;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(folder)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  for (size_t i = 0; i < files.size(); ++i) {
    gdcm::Reader reader;
    reader.SetFileName(files[i].c_str());
    if (!reader.Read()) throw std::runtime_error("cannot read " + files[i]);
    gdcm::DataSet& ds = reader.GetFile().GetDataSet();
    for (const DeidRule& r : pulmo::deid_profile_table()) {
      const gdcm::VR vr = dict_vr(r.group, r.element);
      const gdcm::Tag t(r.group, r.element);
      if ((r.group == 0x0008 && r.element == 0x0018) || (r.group == 0x0020 && (r.element == 0x000D || r.element == 0x000E)))
        continue;  // the real SOP, study and series UIDs of the synthetic series stay
      if (vr == gdcm::VR::SQ) {
        gdcm::DataSet item;
        put(item, gdcm::Tag(0x0008, 0x0100), gdcm::VR::SH, "SECRET");
        put(item, gdcm::Tag(0x0008, 0x0104), gdcm::VR::LO, "Jane Doe's code");
        ds.Replace(sequence_of(t, {item}));
        p.sequences.insert(key(r.group, r.element));
        continue;
      }
      if (vr == gdcm::VR::US) {
        const uint16_t v = 4;
        gdcm::DataElement de(t);
        de.SetVR(vr);
        de.SetByteValue(reinterpret_cast<const char*>(&v), 2);
        ds.Replace(de);
        p.values[key(r.group, r.element)] = "\x04";  // as pulmo::io::dicom_text() reads it back (trailing NUL trimmed)
        continue;
      }
      const std::string v = planted(vr, r, static_cast<int>(i));
      if (v.empty()) continue;  // binary VRs (MAC, padding) are not planted
      put(ds, t, vr, v);
      p.values[key(r.group, r.element)] = v;
    }
    put(ds, gdcm::Tag(0x0010, 0x0020), gdcm::VR::LO, patient_id);
    put(ds, gdcm::Tag(0x0010, 0x0010), gdcm::VR::PN, "Doe^Jane");
    p.values[key(0x0010, 0x0020)] = patient_id;
    // Private tags (a creator and its element), a curve, overlay data and comments.
    put(ds, gdcm::Tag(0x0029, 0x0010), gdcm::VR::LO, "ACME PRIVATE");
    put(ds, gdcm::Tag(0x0029, 0x1010), gdcm::VR::LO, "Jane Doe, 1 Main St");
    put(ds, gdcm::Tag(0x5000, 0x3000), gdcm::VR::OW, "curve!");
    put(ds, gdcm::Tag(0x6000, 0x4000), gdcm::VR::LT, "Jane Doe overlay");
    // Not in the table: a kept sequence holding a name, a date, a private tag and a reference to slice 2.
    gdcm::DataSet nested;
    put(nested, gdcm::Tag(0x0010, 0x0010), gdcm::VR::PN, "Doe^Nested");
    put(nested, gdcm::Tag(0x0018, 0x9804), gdcm::VR::DT, "20200102030405");
    put(nested, gdcm::Tag(0x0008, 0x1150), gdcm::VR::UI, "1.2.840.10008.5.1.4.1.1.2");
    put(nested, gdcm::Tag(0x0008, 0x1155), gdcm::VR::UI, "1.2.826.0.1.3680043.9.7777.1.2");
    put(nested, gdcm::Tag(0x0011, 0x0010), gdcm::VR::LO, "ACME NESTED");
    ds.Replace(sequence_of(gdcm::Tag(0x0008, 0x9092), {nested}));
    gdcm::Writer writer;
    writer.SetFile(reader.GetFile());
    writer.SetFileName(files[i].c_str());
    if (!writer.Write()) throw std::runtime_error("cannot write " + files[i]);
  }
  return p;
}

struct Output {
  std::vector<gdcm::DataSet> sets;
  std::vector<std::string> files;
};

Output read_output(const std::string& folder) {
  Output o;
  for (const auto& e : fs::directory_iterator(folder)) o.files.push_back(e.path().string());
  std::sort(o.files.begin(), o.files.end());
  for (const std::string& f : o.files) {
    gdcm::Reader reader;
    reader.SetFileName(f.c_str());
    EXPECT_TRUE(reader.Read()) << f;
    o.sets.push_back(reader.GetFile().GetDataSet());
  }
  return o;
}

std::string get(const gdcm::DataSet& ds, uint16_t g, uint16_t e) {
  return ds.FindDataElement(gdcm::Tag(g, e)) ? pulmo::io::dicom_text(ds.GetDataElement(gdcm::Tag(g, e))) : "<absent>";
}

std::map<std::string, std::string> read_map(const std::string& path) {
  const nlohmann::json j = nlohmann::json::parse(pulmo::read_text_file(path));
  return j.at("uids").get<std::map<std::string, std::string>>();
}

bool any_private(const gdcm::DataSet& ds) {
  for (const gdcm::DataElement& de : ds.GetDES()) {
    if (de.GetTag().IsPrivate()) return true;
    if (de.GetVR() == gdcm::VR::SQ) {
      gdcm::SmartPointer<gdcm::SequenceOfItems> sq = de.GetValueAsSQ();
      if (sq)
        for (gdcm::SequenceOfItems::SizeType i = 1; i <= sq->GetNumberOfItems(); ++i)
          if (any_private(sq->GetItem(i).GetNestedDataSet())) return true;
    }
  }
  return false;
}

const gdcm::DataSet& first_item(const gdcm::DataSet& ds, uint16_t g, uint16_t e) {
  static gdcm::SmartPointer<gdcm::SequenceOfItems> keep;
  keep = ds.GetDataElement(gdcm::Tag(g, e)).GetValueAsSQ();
  return keep->GetItem(1).GetNestedDataSet();
}

// Every planted attribute of the table, in every output file, against the action the table and `o` give it.
void expect_table_applied(const Output& out, const Planted& p, const DeidOptions& o,
                          const std::map<std::string, std::string>& map, int shift_days) {
  for (size_t f = 0; f < out.sets.size(); ++f) {
    const gdcm::DataSet& ds = out.sets[f];
    for (const DeidRule& r : pulmo::deid_profile_table()) {
      const uint32_t k = key(r.group, r.element);
      const bool seq = p.sequences.count(k) > 0;
      if (!seq && !p.values.count(k)) continue;
      if (r.group == 0x0010 && (r.element == 0x0010 || r.element == 0x0020) && !o.patient_pseudonym.empty()) continue;
      const std::string got = get(ds, r.group, r.element);
      const std::string where = r.name + " (" + std::to_string(r.group) + "," + std::to_string(r.element) + ") " +
                                r.basic + " in " + out.files[f];
      switch (pulmo::deid_action(r, o)) {
        case 'X':
          EXPECT_EQ(got, "<absent>") << where;
          break;
        case 'Z':
          EXPECT_TRUE(got.empty() || got == "<absent>") << where << ": " << got;
          if (seq && got != "<absent>") {
            gdcm::SmartPointer<gdcm::SequenceOfItems> sq = ds.GetDataElement(gdcm::Tag(r.group, r.element)).GetValueAsSQ();
            EXPECT_TRUE(!sq || sq->GetNumberOfItems() == 0) << where;
          }
          break;
        case 'D':
          if (seq) {
            EXPECT_EQ(got, "<absent>") << where;
          } else {
            EXPECT_NE(got, "<absent>") << where;
            EXPECT_FALSE(got.empty()) << where;
            EXPECT_NE(got, p.values.at(k)) << where;
          }
          break;
        case 'U':
          ASSERT_TRUE(map.count(p.values.at(k))) << where;
          EXPECT_EQ(got, map.at(p.values.at(k))) << where;
          EXPECT_EQ(got.rfind("2.25.", 0), 0u) << where;
          break;
        case 'S': {
          const std::string v = p.values.at(k);
          if (dict_vr(r.group, r.element) == gdcm::VR::DA || dict_vr(r.group, r.element) == gdcm::VR::DT) {
            EXPECT_NE(got, v) << where;
            EXPECT_EQ(got.substr(8), v.substr(8)) << where;  // the time of a DT is kept
            if (shift_days == 10) {
              EXPECT_EQ(got.substr(0, 8), "20200112") << where;
            }
          } else {
            EXPECT_EQ(got, v) << where;
          }
          break;
        }
        default:
          if (seq) {
            EXPECT_NE(got, "<absent>") << where;
          } else {
            EXPECT_EQ(got, p.values.at(k)) << where;
          }
      }
    }
    // The catch-alls and the required attributes.
    EXPECT_FALSE(any_private(ds)) << out.files[f];
    EXPECT_FALSE(ds.FindDataElement(gdcm::Tag(0x5000, 0x3000))) << out.files[f];
    EXPECT_FALSE(ds.FindDataElement(gdcm::Tag(0x6000, 0x4000))) << out.files[f];
    EXPECT_EQ(get(ds, 0x0012, 0x0062), "YES");
    const gdcm::DataSet& nested = first_item(ds, 0x0008, 0x9092);
    EXPECT_TRUE(get(nested, 0x0010, 0x0010).empty()) << "a person's name nested in a kept sequence";
    EXPECT_EQ(get(nested, 0x0008, 0x1150), "1.2.840.10008.5.1.4.1.1.2") << "a SOP class UID is not an identifier";
    if (o.retain_uids) {
      EXPECT_EQ(get(nested, 0x0008, 0x1155), "1.2.826.0.1.3680043.9.7777.1.2");
    } else {
      EXPECT_EQ(get(nested, 0x0008, 0x1155), get(out.sets[1], 0x0008, 0x0018)) << "the reference follows slice 2";
    }
    if (o.retain_long_full_dates) {
      EXPECT_EQ(get(nested, 0x0018, 0x9804), "20200102030405");
    } else if (!o.retain_long_modified_dates) {
      EXPECT_TRUE(get(nested, 0x0018, 0x9804).empty());
    }
  }
}

}  // namespace

TEST(Deid, TheBasicProfileProtectsEveryPlantedAttributeAndKeepsTheStudyConsistent) {
  TempDir tmp;
  const Planted p = plant_series(tmp.file("in"));
  DeidOptions o;
  o.map_file = tmp.file("map.json");
  const pulmo::DeidResult r = pulmo::anonymize_dicom(tmp.file("in"), tmp.file("out"), o);
  EXPECT_EQ(r.files_written, 4);
  ASSERT_EQ(r.method_codes, std::vector<std::string>{"113100"});
  const Output out = read_output(tmp.file("out"));
  ASSERT_EQ(out.sets.size(), 4u);
  const auto map = read_map(o.map_file);
  expect_table_applied(out, p, o, map, 0);
  // Independently of the table's code: the obvious identifiers are gone.
  std::set<std::string> sops;
  for (const gdcm::DataSet& ds : out.sets) {
    EXPECT_TRUE(get(ds, 0x0010, 0x0010).empty());
    EXPECT_TRUE(get(ds, 0x0010, 0x0020).empty());
    EXPECT_TRUE(get(ds, 0x0010, 0x0030).empty());
    EXPECT_EQ(get(ds, 0x0010, 0x1010), "<absent>");
    EXPECT_EQ(get(ds, 0x0008, 0x0080), "<absent>");
    EXPECT_EQ(get(ds, 0x0008, 0x1010), "<absent>");
    EXPECT_TRUE(get(ds, 0x0008, 0x0020).empty());
    EXPECT_EQ(get(ds, 0x0028, 0x0303), "REMOVED");
    EXPECT_EQ(get(ds, 0x0020, 0x000d), get(out.sets[0], 0x0020, 0x000d));
    EXPECT_EQ(get(ds, 0x0020, 0x000e), get(out.sets[0], 0x0020, 0x000e));
    EXPECT_EQ(get(ds, 0x0020, 0x0052), get(out.sets[0], 0x0020, 0x0052));
    EXPECT_NE(get(ds, 0x0020, 0x000d), "1.2.826.0.1.3680043.9.7777");
    EXPECT_EQ(map.at("1.2.826.0.1.3680043.9.7777"), get(ds, 0x0020, 0x000d));
    EXPECT_EQ(map.at("1.2.826.0.1.3680043.9.7777.1"), get(ds, 0x0020, 0x000e));
    sops.insert(get(ds, 0x0008, 0x0018));
  }
  EXPECT_EQ(sops.size(), 4u);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(map.at("1.2.826.0.1.3680043.9.7777.1." + std::to_string(i + 1)), get(out.sets[i], 0x0008, 0x0018));
  // The file meta group names the new instance, and no input file name (which may hold a UID) survives.
  for (const std::string& f : out.files) {
    gdcm::Reader reader;
    reader.SetFileName(f.c_str());
    ASSERT_TRUE(reader.Read());
    EXPECT_EQ(pulmo::io::dicom_text(reader.GetFile().GetHeader().GetDataElement(gdcm::Tag(0x0002, 0x0003))),
              get(reader.GetFile().GetDataSet(), 0x0008, 0x0018));
    EXPECT_EQ(fs::path(f).filename().string().rfind("IM", 0), 0u);
  }
  // A second run with the same map gives the same UIDs; the map does not grow.
  const pulmo::DeidResult r2 = pulmo::anonymize_dicom(tmp.file("in"), tmp.file("out2"), o);
  EXPECT_EQ(r2.uids_new, 0);
  EXPECT_EQ(read_map(o.map_file), map);
  const Output out2 = read_output(tmp.file("out2"));
  for (int i = 0; i < 4; ++i)
    for (uint16_t e : {0x000d, 0x000e, 0x0052})
      EXPECT_EQ(get(out2.sets[i], 0x0020, e), get(out.sets[i], 0x0020, e));
  // Without the map a run makes new UIDs.
  DeidOptions no_map;
  pulmo::anonymize_dicom(tmp.file("in"), tmp.file("out3"), no_map);
  EXPECT_NE(get(read_output(tmp.file("out3")).sets[0], 0x0020, 0x000d), get(out.sets[0], 0x0020, 0x000d));
}

TEST(Deid, EachRetainOptionKeepsItsAttributesAndIsDeclared) {
  TempDir tmp;
  const Planted p = plant_series(tmp.file("in"));
  DeidOptions o;
  o.retain_uids = o.retain_device_identity = o.retain_institution_identity = o.retain_patient_characteristics =
      o.retain_long_full_dates = true;
  o.patient_pseudonym = "SUBJ-007";
  const pulmo::DeidResult r = pulmo::anonymize_dicom(tmp.file("in"), tmp.file("out"), o);
  EXPECT_EQ(r.method_codes, (std::vector<std::string>{"113100", "113106", "113108", "113109", "113110", "113112"}));
  const Output out = read_output(tmp.file("out"));
  expect_table_applied(out, p, o, {}, 0);
  for (const gdcm::DataSet& ds : out.sets) {
    EXPECT_EQ(get(ds, 0x0010, 0x0040), "SECRET");          // Patient's Sex, kept
    EXPECT_EQ(get(ds, 0x0010, 0x1010), "045Y");            // Patient's Age, kept
    EXPECT_EQ(get(ds, 0x0008, 0x1010), "SECRET Station Name");
    EXPECT_EQ(get(ds, 0x0008, 0x0080), "SECRET Institution Name");
    EXPECT_EQ(get(ds, 0x0008, 0x0020), "20200102");        // Study Date, kept
    EXPECT_EQ(get(ds, 0x0020, 0x000d), "1.2.826.0.1.3680043.9.7777");
    EXPECT_EQ(get(ds, 0x0010, 0x0010), "SUBJ-007");
    EXPECT_EQ(get(ds, 0x0010, 0x0020), "SUBJ-007");
    EXPECT_TRUE(get(ds, 0x0010, 0x0030).empty());          // the birth date is never retained
    EXPECT_EQ(get(ds, 0x0028, 0x0303), "UNMODIFIED");
    EXPECT_FALSE(any_private(ds));
  }
}

TEST(Deid, ModifiedDatesShiftEveryDateByTheSameDaysAndTheMapKeepsTheShift) {
  TempDir tmp;
  const Planted p = plant_series(tmp.file("in"));
  DeidOptions o;
  o.retain_long_modified_dates = true;
  o.date_shift_given = true;
  o.date_shift_days = 10;
  o.map_file = tmp.file("keys/map.json");
  const pulmo::DeidResult r = pulmo::anonymize_dicom(tmp.file("in"), tmp.file("out"), o);
  EXPECT_EQ(r.date_shift_days, 10);
  const Output out = read_output(tmp.file("out"));
  expect_table_applied(out, p, o, read_map(o.map_file), 10);
  EXPECT_EQ(get(out.sets[0], 0x0008, 0x0020), "20200112");
  EXPECT_EQ(get(out.sets[0], 0x0008, 0x0030), "101112");  // times of day are kept
  EXPECT_EQ(get(out.sets[0], 0x0028, 0x0303), "MODIFIED");
  // A later run without --date-shift-days takes the map's shift; another shift with the same map is refused.
  DeidOptions again = o;
  again.date_shift_given = false;
  EXPECT_EQ(pulmo::anonymize_dicom(tmp.file("in"), tmp.file("out2"), again).date_shift_days, 10);
  DeidOptions other = o;
  other.date_shift_days = 3;
  try {
    pulmo::anonymize_dicom(tmp.file("in"), tmp.file("out3"), other);
    FAIL() << "another shift with the same map was accepted";
  } catch (const pulmo::Error& e) {
    EXPECT_EQ(e.code(), pulmo::ExitCode::BadConfig);
  }
  EXPECT_FALSE(fs::exists(tmp.file("out3")));
}

TEST(Deid, RefusesMixedPatientsBadMapsAndExistingOutputsLeavingNothing) {
  TempDir tmp;
  plant_series(tmp.file("in/a"), "PAT-A");
  plant_series(tmp.file("in/b"), "PAT-B");
  auto code_of = [&](const std::string& in, const std::string& out, const DeidOptions& o) {
    try {
      pulmo::anonymize_dicom(in, out, o);
    } catch (const pulmo::Error& e) {
      return e.code();
    }
    return pulmo::ExitCode::Ok;
  };
  DeidOptions o;
  EXPECT_EQ(code_of(tmp.file("in"), tmp.file("out"), o), pulmo::ExitCode::Mismatch);
  EXPECT_FALSE(fs::exists(tmp.file("out")));
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  EXPECT_EQ(code_of(tmp.file("in/a"), tmp.file("in/a/out"), o), pulmo::ExitCode::Usage);
  fs::create_directories(tmp.file("exists"));
  EXPECT_EQ(code_of(tmp.file("in/a"), tmp.file("exists"), o), pulmo::ExitCode::WriteFailed);
  pulmo::write_text_atomic(tmp.file("bad.json"), "{\"uids\": 3}");
  o.map_file = tmp.file("bad.json");
  EXPECT_EQ(code_of(tmp.file("in/a"), tmp.file("out"), o), pulmo::ExitCode::BadConfig);
  o.map_file = tmp.file("out/map.json");
  EXPECT_EQ(code_of(tmp.file("in/a"), tmp.file("out"), o), pulmo::ExitCode::Usage);
  EXPECT_FALSE(fs::exists(tmp.file("out")));
}
