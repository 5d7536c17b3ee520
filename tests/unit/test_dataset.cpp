// Datasets: manifests, label-convention adapters, manifest checks and patient-level splits.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "data/csv.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/labels.h"
#include "support/test_support.h"

using namespace pulmo;
using pulmo::test::TempDir;

namespace {

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A volume of shape [1, 1, n] (x runs along the values) with identity geometry.
Volume row(const std::vector<int>& values, double x_direction = 1.0) {
  Geometry g;
  g.size = {static_cast<int64_t>(values.size()), 1, 1};
  g.direction[0] = x_direction;
  std::vector<int64_t> v(values.begin(), values.end());
  Volume out;
  out.geometry = g;
  out.voxels = at::tensor(v, at::kLong).to(at::kFloat).reshape({1, 1, static_cast<int64_t>(values.size())});
  return out;
}

std::vector<int> values_of(const Volume& v) {
  const at::Tensor t = v.voxels.to(at::kInt).flatten().contiguous();
  return std::vector<int>(t.data_ptr<int>(), t.data_ptr<int>() + t.numel());
}

ExitCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ExitCode::Ok;
}

Manifest manifest_of(const std::vector<std::pair<std::string, std::string>>& case_patient) {
  Manifest m;
  for (const auto& [c, p] : case_patient) {
    Case x;
    x.case_id = c;
    x.patient_id = p;
    m.cases.push_back(x);
  }
  return m;
}

// A manifest of `patients` patients with 1..3 cases each.
Manifest patients_manifest(int patients) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (int p = 0; p < patients; ++p)
    for (int c = 0; c <= p % 3; ++c) rows.push_back({"p" + std::to_string(p) + "c" + std::to_string(c), "p" + std::to_string(p)});
  return manifest_of(rows);
}

std::set<std::string> patients_in(const Manifest& m, const std::vector<int>& cases) {
  std::set<std::string> out;
  for (int i : cases) out.insert(m.cases[i].patient_id);
  return out;
}

bool disjoint(const std::set<std::string>& a, const std::set<std::string>& b) {
  for (const auto& x : a)
    if (b.count(x)) return false;
  return true;
}

}  // namespace

// ---- CSV and manifests --------------------------------------------------------------------------

TEST(DatasetCsv, ParsesQuotesEscapesCrlfAndSkipsCommentsAndBlankLines) {
  const auto rows = data::parse_csv("a,b,c\r\n# comment\n\n\"x,1\",\"say \"\"hi\"\"\",\r\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1], (std::vector<std::string>{"x,1", "say \"hi\"", ""}));
  EXPECT_EQ(data::csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(data::csv_field("plain"), "plain");
  EXPECT_EQ(code_of([] { data::parse_csv("a,\"b\n"); }), ExitCode::BadConfig);
}

TEST(DatasetManifest, CsvPathsAreResolvedRelativeToTheManifestAndOtherColumnsAreAttributes) {
  TempDir tmp;
  write_file(tmp.file("m.csv"),  // with the UTF-8 byte-order mark a spreadsheet program writes
             "\xEF\xBB\xBF" "case_id,patient_id,image,lungs,convention,sex\nc1,p1,img/c1.nii.gz,/abs/l.nii.gz,medseg,F\n");
  const Manifest m = read_manifest(tmp.file("m.csv"));
  ASSERT_EQ(m.cases.size(), 1u);
  EXPECT_EQ(m.cases[0].image, (tmp.path() / "img/c1.nii.gz").string());
  EXPECT_EQ(m.cases[0].lungs, "/abs/l.nii.gz");
  EXPECT_EQ(m.cases[0].lesions, "");
  EXPECT_EQ(m.cases[0].convention, "medseg");
  EXPECT_EQ(m.cases[0].attributes.at("sex"), "F");
}

TEST(DatasetManifest, JsonManifestsReadAsObjectOrBareArray) {
  TempDir tmp;
  write_file(tmp.file("a.json"), R"({"cases": [{"case_id": "c1", "patient_id": "p1", "image": "c1.nii.gz",
                                    "attributes": {"age": 61}, "site": "x"}]})");
  write_file(tmp.file("b.json"), R"([{"case_id": "c2", "image": "c2.nii.gz"}])");
  const Manifest a = read_manifest(tmp.file("a.json")), b = read_manifest(tmp.file("b.json"));
  ASSERT_EQ(a.cases.size(), 1u);
  EXPECT_EQ(a.cases[0].attributes.at("age"), "61");
  EXPECT_EQ(a.cases[0].attributes.at("site"), "x");
  ASSERT_EQ(b.cases.size(), 1u);
  EXPECT_EQ(b.cases[0].case_id, "c2");
}

TEST(DatasetManifest, BrokenManifestsAreRefusedWithTheirExitCode) {
  TempDir tmp;
  write_file(tmp.file("nocol.csv"), "case_id,patient_id\nc1,p1\n");
  write_file(tmp.file("fields.csv"), "case_id,image\nc1,a.nii.gz,extra\n");
  write_file(tmp.file("bad.json"), "{\"cases\": [");
  write_file(tmp.file("empty.csv"), "");
  EXPECT_EQ(code_of([&] { read_manifest(tmp.file("missing.csv")); }), ExitCode::NotFound);
  EXPECT_EQ(code_of([&] { read_manifest(tmp.file("nocol.csv")); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([&] { read_manifest(tmp.file("fields.csv")); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([&] { read_manifest(tmp.file("bad.json")); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([&] { read_manifest(tmp.file("empty.csv")); }), ExitCode::BadConfig);
}

TEST(DatasetManifest, WrittenCsvReadsBackTheSameCases) {
  TempDir tmp;
  Manifest m;
  Case c;
  c.case_id = "c,1";
  c.patient_id = "p1";
  c.image = tmp.file("sub/ct.nii.gz");
  c.lungs = tmp.file("sub/lungs.nii.gz");
  c.convention = "pulmo";
  c.attributes["seed"] = "42";
  m.cases.push_back(c);
  write_file(tmp.file("m.csv"), manifest_csv(m, tmp.path().string()));
  const Manifest back = read_manifest(tmp.file("m.csv"));
  ASSERT_EQ(back.cases.size(), 1u);
  EXPECT_EQ(back.cases[0].case_id, "c,1");
  EXPECT_EQ(back.cases[0].image, c.image);
  EXPECT_EQ(back.cases[0].lungs, c.lungs);
  EXPECT_EQ(back.cases[0].attributes.at("seed"), "42");
}

// ---- label-convention adapters ------------------------------------------------------------------

TEST(DatasetAdapters, EachConventionMapsItsLungLabelsToPulmos) {
  struct Row { const char* convention; std::vector<int> in, out; };
  const Row rows[] = {
      {"pulmo", {0, 1, 2}, {0, 1, 2}},
      {"covid19-ct-seg", {0, 1, 2}, {0, 2, 1}},
      {"lungmask", {0, 1, 2}, {0, 1, 2}},
      {"lungmask-lobes", {0, 1, 2, 3, 4, 5}, {0, 2, 2, 1, 1, 1}},
      {"totalsegmentator", {0, 5, 10, 11, 12, 13, 14, 117}, {0, 0, 2, 2, 1, 1, 1, 0}},
  };
  for (const Row& r : rows) EXPECT_EQ(values_of(adapt_lungs(row(r.in), r.convention)), r.out) << r.convention;
}

TEST(DatasetAdapters, EachConventionMapsItsLesionLabelsToPulmos) {
  struct Row { const char* convention; std::vector<int> in, out; bool types_known; };
  const Row rows[] = {
      {"pulmo", {0, 1, 2}, {0, 1, 2}, true},
      {"medseg", {0, 1, 2, 3}, {0, 1, 2, 0}, true},  // 3 = pleural effusion: not a lesion
      {"covid19-ct-seg", {0, 1}, {0, 1}, false},
      {"mosmed", {0, 1}, {0, 1}, false},
      {"covid19-20", {0, 1}, {0, 1}, false},
      {"binary", {0, 1}, {0, 1}, false},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(values_of(adapt_lesions(row(r.in), r.convention)), r.out) << r.convention;
    EXPECT_EQ(lesion_types_known(r.convention), r.types_known) << r.convention;
  }
}

TEST(DatasetAdapters, BinaryLungsAreSplitAtTheGapWithTheRightLungAtSmallerLpsX) {
  EXPECT_EQ(values_of(adapt_lungs(row({1, 1, 1, 0, 0, 1, 1}), "mosmed")), (std::vector<int>{1, 1, 1, 0, 0, 2, 2}));
  // Stored with x reversed (RAS-like): the first voxels are on the patient's left.
  EXPECT_EQ(values_of(adapt_lungs(row({1, 1, 1, 0, 0, 1, 1}, -1.0), "mosmed")), (std::vector<int>{2, 2, 2, 0, 0, 1, 1}));
}

TEST(DatasetAdapters, CombinedCovid19CtSegFileGivesLungsAndInfection) {
  Volume lungs, lesions;
  adapt_combined(row({2, 3, 2, 0, 0, 1, 3, 1}), &lungs, &lesions);
  EXPECT_EQ(values_of(lungs), (std::vector<int>{1, 1, 1, 0, 0, 2, 2, 2}));  // infection joins its side
  EXPECT_EQ(values_of(lesions), (std::vector<int>{0, 1, 0, 0, 0, 0, 1, 0}));
}

TEST(DatasetAdapters, ValuesOutsideTheConventionAreMismatchesThatNameThem) {
  try {
    adapt_lungs(row({0, 1, 2, 7}), "lungmask");
    ADD_FAILURE() << "accepted 7";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
    EXPECT_NE(std::string(e.what()).find("7"), std::string::npos) << e.what();
  }
  EXPECT_EQ(code_of([] { adapt_lesions(row({0, 3}), "pulmo"); }), ExitCode::Mismatch);
  EXPECT_EQ(code_of([] { adapt_lesions(row({0, 2}), "mosmed"); }), ExitCode::Mismatch);
  Volume fractional = row({0, 1});
  fractional.voxels[0][0][1] = 0.5;
  EXPECT_EQ(code_of([&] { adapt_lesions(fractional, "pulmo"); }), ExitCode::Mismatch);
  EXPECT_EQ(code_of([] { adapt_lungs(row({0, 1}), "no-such-convention"); }), ExitCode::BadConfig);
}

TEST(DatasetAdapters, TotalSegmentatorMapOfARealScanKeepsItsGridAndDropsOtherOrgans) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  // 512x512x20 abdominal label map stored LAS, with organ labels up to 117 and no lung lobe.
  const Volume seg = read_volume(test::shared_data_path("ct/totalsegmentator/example_seg_dicom.nii.gz"));
  ASSERT_GT(seg.voxels.max().item<int>(), 14);
  const Volume lungs = adapt_lungs(seg, "totalsegmentator");
  EXPECT_TRUE(lungs.geometry.same_grid_as(seg.geometry));
  EXPECT_EQ(lungs.geometry.orientation_code(), "LAS");
  const at::Tensor s = seg.voxels;
  const at::Tensor lobes = s.ge(10).logical_and(s.le(14));
  EXPECT_EQ(lungs.voxels.gt(0).sum().item<int64_t>(), lobes.sum().item<int64_t>());
  EXPECT_EQ(lungs.voxels.gt(0).logical_and(lobes.logical_not()).sum().item<int64_t>(), 0);
}

TEST(DatasetAdapters, TotalSegmentatorLobesBecomeRightAndLeftLungs) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  const std::string path = test::shared_data_path("ct/totalsegmentator/example_seg.nii.gz");
  const Volume seg = read_volume(path);
  const Volume lungs = adapt_lungs(seg, "totalsegmentator");
  const at::Tensor s = seg.voxels;
  const int64_t right = s.ge(12).logical_and(s.le(14)).sum().item<int64_t>();
  const int64_t left = s.ge(10).logical_and(s.le(11)).sum().item<int64_t>();
  ASSERT_GT(right, 0);
  ASSERT_GT(left, 0);
  EXPECT_EQ(lungs.voxels.eq(labels::kRightLung).sum().item<int64_t>(), right);
  EXPECT_EQ(lungs.voxels.eq(labels::kLeftLung).sum().item<int64_t>(), left);
  // The right lung lies at smaller LPS x than the left, whatever the storage order.
  const Geometry& g = seg.geometry;
  const at::Tensor i = at::arange(g.size[0], at::kDouble).view({1, 1, -1}).expand(s.sizes());
  const at::Tensor x = g.origin_mm[0] + g.direction[0] * g.spacing_mm[0] * i;  // axis-aligned file
  EXPECT_LT(x.masked_select(lungs.voxels.eq(1)).mean().item<double>(), x.masked_select(lungs.voxels.eq(2)).mean().item<double>());
}

// ---- loading and checking cases -----------------------------------------------------------------

namespace {

// A tiny "CT" and label maps on disk; returns the manifest path.
std::string write_small_dataset(const TempDir& tmp) {
  Geometry g;
  g.size = {8, 6, 4};
  const Volume ct = Volume::filled(g, -1000.0);
  ct.voxels.slice(2, 2, 6).fill_(40.0);
  Volume lungs = Volume::filled(g, 0.0, at::kByte);
  lungs.voxels.slice(2, 1, 3).fill_(2);  // medseg-style binary lungs are 1; pulmo 1/2
  lungs.voxels.slice(2, 5, 7).fill_(1);
  Volume lesions = Volume::filled(g, 0.0, at::kByte);
  lesions.voxels[1][2][1] = 3;
  write_volume(ct, tmp.file("ct.nii.gz"));
  write_volume(lungs, tmp.file("lungs.nii.gz"));
  write_volume(lesions, tmp.file("lesions.nii.gz"));
  Geometry other = g;
  other.spacing_mm = {2, 2, 2};
  write_volume(Volume::filled(other, 0.0, at::kByte), tmp.file("other_grid.nii.gz"));
  write_volume(Volume::filled(g, 100.0), tmp.file("windowed.nii.gz"));
  write_file(tmp.file("garbage.nii.gz"), "not an image");
  return tmp.file("m.csv");
}

}  // namespace

TEST(DatasetCases, LoadCaseAppliesTheAdapterAndKeepsTheImageGrid) {
  TempDir tmp;
  write_small_dataset(tmp);
  Case c;
  c.case_id = "c1";
  c.image = tmp.file("ct.nii.gz");
  c.lungs = tmp.file("lungs.nii.gz");
  c.lesions = tmp.file("lesions.nii.gz");
  c.convention = "medseg";
  EXPECT_EQ(code_of([&] { load_case(c); }), ExitCode::Mismatch);  // medseg lungs are binary: 2 is not allowed
  c.convention = "pulmo";
  EXPECT_EQ(code_of([&] { load_case(c); }), ExitCode::Mismatch);  // pulmo lesions have no 3
  c.lesions.clear();
  const LabelledCase l = load_case(c);
  EXPECT_TRUE(l.has_lungs);
  EXPECT_FALSE(l.has_lesions);
  EXPECT_TRUE(l.intensity_is_hu);
  EXPECT_TRUE(l.lungs.voxels.equal(read_volume(tmp.file("lungs.nii.gz")).voxels.to(at::kByte)));
  c.lungs = tmp.file("other_grid.nii.gz");
  EXPECT_EQ(code_of([&] { load_case(c); }), ExitCode::Mismatch);
  c.image = tmp.file("missing.nii.gz");
  EXPECT_EQ(code_of([&] { load_case(c); }), ExitCode::NotFound);
}

TEST(DatasetCases, ALabelMapStoredInAnotherAxisOrderIsReorderedOntoTheImageGrid) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  // The real TotalSegmentator map is stored LAS; its DICOM series LPS: the same voxels, y reversed.
  Case c;
  c.case_id = "ts";
  c.image = test::shared_data_path("ct/totalsegmentator/example_ct_dicom");
  c.lungs = test::shared_data_path("ct/totalsegmentator/example_seg_dicom.nii.gz");
  c.convention = "totalsegmentator";
  const LabelledCase l = load_case(c);
  EXPECT_TRUE(l.lungs.geometry.same_grid_as(l.image.geometry));
  const Volume seg = read_volume(c.lungs);
  const Volume reordered = seg.with_voxels(seg.voxels.flip({1}));  // LAS -> LPS: reverse y
  // Voxel (i, j, k) of the series is voxel (i, 511 - j, k) of the map (shared/data README).
  Volume raw_on_grid = l.image.with_voxels(reordered.voxels);
  EXPECT_TRUE(adapt_lungs(raw_on_grid, "totalsegmentator").voxels.equal(l.lungs.voxels));
  // The liver (TotalSegmentator label 5) lands on liver tissue (measured: 89 HU; without the y reversal -75 HU).
  const at::Tensor liver = reordered.voxels.eq(5);
  ASSERT_GT(liver.sum().item<int64_t>(), 1000);
  const double liver_hu = l.image.voxels.masked_select(liver).mean().item<double>();
  EXPECT_GT(liver_hu, 30);
  EXPECT_LT(liver_hu, 200);
}

TEST(DatasetCases, ALabelMapWithSwappedAndReversedAxesIsReorderedVoxelForVoxel) {
  TempDir tmp;
  Geometry g;  // image: 4 x 3 x 2, identity
  g.size = {4, 3, 2};
  g.spacing_mm = {1.0, 2.0, 3.0};
  write_volume(Volume::filled(g, -500.0), tmp.file("ct.nii.gz"));
  // The same voxels stored with x and y swapped and (new) y reversed:
  // label axis 0 runs along image y, label axis 1 along image -x.
  Geometry h;
  h.size = {3, 4, 2};
  h.spacing_mm = {2.0, 1.0, 3.0};
  h.direction = {0, -1, 0, 1, 0, 0, 0, 0, 1};  // columns: axis 0 = (0, 1, 0), axis 1 = (-1, 0, 0)
  h.origin_mm = {3.0, 0.0, 0.0};                // label index (0, 0, 0) = image voxel (3, 0, 0)
  Volume labels = Volume::filled(h, 0.0, at::kByte);
  auto pattern = [](int64_t i, int64_t j, int64_t k) { return static_cast<uint8_t>((i + 2 * j + k) % 3); };
  for (int64_t k = 0; k < 2; ++k)
    for (int64_t b = 0; b < 4; ++b)
      for (int64_t a = 0; a < 3; ++a) labels.voxels[k][b][a] = pattern(3 - b, a, k);  // image (i, j) = (3 - b, a)
  write_volume(labels, tmp.file("labels.nii.gz"));
  Case c;
  c.case_id = "swapped";
  c.image = tmp.file("ct.nii.gz");
  c.lungs = tmp.file("labels.nii.gz");
  const LabelledCase l = load_case(c);
  ASSERT_TRUE(l.lungs.geometry.same_grid_as(l.image.geometry));
  for (int64_t k = 0; k < 2; ++k)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(l.lungs.voxels[k][j][i].item<int>(), pattern(i, j, k)) << i << j << k;
}

TEST(DatasetCheck, AGoodManifestHasNoProblem) {
  TempDir tmp;
  const std::string path = write_small_dataset(tmp);
  write_file(path, "case_id,patient_id,image,lungs,lesions,convention\nc1,p1,ct.nii.gz,lungs.nii.gz,,pulmo\n");
  EXPECT_TRUE(check_manifest(read_manifest(path)).empty());
}

TEST(DatasetCheck, ListsEveryProblemAtOnce) {
  TempDir tmp;
  const std::string path = write_small_dataset(tmp);
  write_file(path,
             "case_id,patient_id,image,lungs,lesions,convention\n"
             "c1,p1,ct.nii.gz,lungs.nii.gz,lesions.nii.gz,pulmo\n"       // lesion value 3
             "c1,p2,ct.nii.gz,,,pulmo\n"                                  // duplicate id
             "c3,,ct.nii.gz,,,pulmo\n"                                    // no patient
             "c4,p4,missing.nii.gz,,,pulmo\n"                             // missing image
             "c5,p5,garbage.nii.gz,,,pulmo\n"                             // unreadable
             "c6,p6,ct.nii.gz,other_grid.nii.gz,,pulmo\n"                 // another grid
             "c7,p7,windowed.nii.gz,,,pulmo\n"                            // not HU
             "c8,p8,ct.nii.gz,,,madeup\n"                                 // unknown convention
             ",p9,ct.nii.gz,,,pulmo\n");                                  // no case id
  std::vector<ManifestProblem> warnings;
  const auto problems = check_manifest(read_manifest(path), &warnings);
  std::set<std::string> cases;
  for (const auto& p : problems) cases.insert(p.case_id);
  EXPECT_EQ(cases, (std::set<std::string>{"c1", "c3", "c4", "c5", "c6", "c7", "c8", "row 9"})) << problems.size();
  EXPECT_GE(problems.size(), 9u);
}

TEST(DatasetCheck, LesionsOutsideTheLungsAreAWarning) {
  TempDir tmp;
  const std::string path = write_small_dataset(tmp);
  // medseg: lesion 3 (effusion) is dropped; write a lesion 1 outside the lungs instead.
  Volume lesions = read_volume(tmp.file("lesions.nii.gz"));
  lesions.voxels.zero_();
  lesions.voxels[0][0][0] = 1;  // x = 0: outside the lungs (x 1..2 and 5..6)
  write_volume(lesions.with_voxels(lesions.voxels.to(at::kByte)), tmp.file("lesion_out.nii.gz"));
  write_file(path, "case_id,patient_id,image,lungs,lesions\nc1,p1,ct.nii.gz,lungs.nii.gz,lesion_out.nii.gz\n");
  std::vector<ManifestProblem> warnings;
  EXPECT_TRUE(check_manifest(read_manifest(path), &warnings).empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].message.find("1 lesion voxel(s) lie outside"), std::string::npos) << warnings[0].message;
}

TEST(DatasetCheck, AWindowedImageDeclaredAsSuchIsOnlyAWarning) {
  TempDir tmp;
  const std::string path = write_small_dataset(tmp);
  write_file(path, "case_id,patient_id,image,intensity\nc1,p1,windowed.nii.gz,windowed\n");
  std::vector<ManifestProblem> warnings;
  EXPECT_TRUE(check_manifest(read_manifest(path), &warnings).empty());
  EXPECT_FALSE(warnings.empty());
}

// ---- patient-level splits -----------------------------------------------------------------------

TEST(DatasetSplits, KFoldNeverPutsAPatientInTwoSetsAndTestsEveryCaseOnce) {
  for (int patients : {2, 5, 13, 40})
    for (int k : {2, 3, 5})
      for (uint64_t seed : {0, 1, 99}) {
        if (k > patients) continue;
        const Manifest m = patients_manifest(patients);
        const auto folds = kfold_splits(m, k, 0.25, seed);
        ASSERT_EQ(static_cast<int>(folds.size()), k);
        std::vector<int> tested(m.cases.size(), 0);
        std::set<std::string> test_patients_so_far;
        for (const Split& s : folds) {
          const auto tr = patients_in(m, s.train), va = patients_in(m, s.validation), te = patients_in(m, s.test);
          EXPECT_TRUE(disjoint(tr, va) && disjoint(tr, te) && disjoint(va, te)) << patients << " " << k << " " << seed;
          EXPECT_TRUE(disjoint(te, test_patients_so_far));  // no patient in two test folds
          test_patients_so_far.insert(te.begin(), te.end());
          EXPECT_EQ(s.train.size() + s.validation.size() + s.test.size(), m.cases.size());
          EXPECT_FALSE(s.train.empty());
          for (int i : s.test) ++tested[i];
        }
        for (int t : tested) EXPECT_EQ(t, 1);
      }
}

TEST(DatasetSplits, KFoldBalancesCasesAcrossFolds) {
  const Manifest m = patients_manifest(30);  // 60 cases
  size_t lo = m.cases.size(), hi = 0;
  for (const Split& s : kfold_splits(m, 5, 0.0, 3)) lo = std::min(lo, s.test.size()), hi = std::max(hi, s.test.size());
  EXPECT_LE(hi - lo, 3u);
}

TEST(DatasetSplits, LeaveOnePatientOutTestsEachPatientAlone) {
  const Manifest m = patients_manifest(6);
  const auto folds = leave_one_patient_out(m, 0.2, 5);
  ASSERT_EQ(folds.size(), 6u);
  std::set<std::string> seen;
  for (const Split& s : folds) {
    const auto te = patients_in(m, s.test);
    ASSERT_EQ(te.size(), 1u);
    seen.insert(*te.begin());
    EXPECT_TRUE(disjoint(patients_in(m, s.train), te));
    EXPECT_TRUE(disjoint(patients_in(m, s.validation), te));
    EXPECT_TRUE(disjoint(patients_in(m, s.train), patients_in(m, s.validation)));
  }
  EXPECT_EQ(seen.size(), 6u);
}

TEST(DatasetSplits, HoldoutTakesTheRequestedShareOfPatients) {
  const Manifest m = patients_manifest(20);
  const Split s = holdout_split(m, 0.2, 0.1, 7);
  EXPECT_EQ(patients_in(m, s.test).size(), 2u);
  EXPECT_EQ(patients_in(m, s.validation).size(), 4u);
  EXPECT_EQ(patients_in(m, s.train).size(), 14u);
  EXPECT_TRUE(disjoint(patients_in(m, s.train), patients_in(m, s.test)));
  EXPECT_TRUE(disjoint(patients_in(m, s.train), patients_in(m, s.validation)));
  EXPECT_TRUE(disjoint(patients_in(m, s.validation), patients_in(m, s.test)));
}

TEST(DatasetSplits, AreDeterministicBySeed) {
  const Manifest m = patients_manifest(25);
  const auto a = kfold_splits(m, 5, 0.2, 11), b = kfold_splits(m, 5, 0.2, 11), c = kfold_splits(m, 5, 0.2, 12);
  bool all_same_as_c = true;
  for (size_t f = 0; f < a.size(); ++f) {
    EXPECT_EQ(a[f].train, b[f].train);
    EXPECT_EQ(a[f].validation, b[f].validation);
    EXPECT_EQ(a[f].test, b[f].test);
    all_same_as_c = all_same_as_c && a[f].test == c[f].test;
  }
  EXPECT_FALSE(all_same_as_c);
}

TEST(DatasetSplits, RefuseCasesWithoutPatientAndImpossibleSettings) {
  EXPECT_EQ(code_of([] { kfold_splits(manifest_of({{"a", "p"}, {"b", ""}}), 2, 0, 0); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([] { kfold_splits(patients_manifest(3), 4, 0, 0); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([] { kfold_splits(patients_manifest(3), 1, 0, 0); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([] { kfold_splits(patients_manifest(3), 2, 1.0, 0); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([] { leave_one_patient_out(patients_manifest(1), 0, 0); }), ExitCode::BadConfig);
  EXPECT_EQ(code_of([] { holdout_split(patients_manifest(3), 0.5, 0.5, 0); }), ExitCode::BadConfig);
}
