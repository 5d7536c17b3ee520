// pulmo quantify: the cascade with the shipped models on real CTs, its outputs, batches, and bad input.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pulmo/dataset.h"
#include "pulmo/dicom_sr.h"
#include "pulmo/fileutil.h"
#include "pulmo/eval.h"
#include "pulmo/io.h"
#include "pulmo/nn.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::test::shared_data_path;
using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {

const std::string kChest = "ct/totalsegmentator/pulmonary_ct_cropped.nii.gz";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double dice(const at::Tensor& a, const at::Tensor& b) {
  const double inter = a.logical_and(b).sum().item<double>();
  const double sum = a.sum().item<double>() + b.sum().item<double>();
  return sum > 0 ? 2 * inter / sum : 1.0;
}

// The output folder was not created, and no hidden temporary folder is left beside it.
void expect_nothing_written(const TempDir& tmp, const std::string& out_name) {
  EXPECT_FALSE(fs::exists(tmp.path() / out_name));
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find("." + out_name + ".tmp"), std::string::npos) << e.path();
}

}  // namespace

TEST(CliQuantify, WritesMasksInTheInputGeometryAndEveryReportOnARealChestCt) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  const auto r = run_pulmo("quantify '" + shared_data_path(kChest) + "' --out '" + tmp.file("out") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("both lungs:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CT severity score"), std::string::npos);
  EXPECT_NE(r.err.find("stage lungs done in"), std::string::npos) << r.err;  // progress per stage
  const pulmo::Volume ct = pulmo::read_volume(shared_data_path(kChest));
  const pulmo::Volume lungs = pulmo::read_volume(tmp.file("out/lungs.nii.gz"));
  const pulmo::Volume lesions = pulmo::read_volume(tmp.file("out/lesions.nii.gz"));
  EXPECT_TRUE(lungs.geometry.same_grid_as(ct.geometry));
  EXPECT_TRUE(lesions.geometry.same_grid_as(ct.geometry));
  // Against the classical labels of this CT (checked by eye; a training case of the lung model: a regression check),
  // made as scripts/make-reference-labels.sh makes them.
  ASSERT_EQ(run_pulmo("quantify '" + shared_data_path(kChest) + "' --out '" + tmp.file("classical") +
                      "' --lungs classical --no-lesions --no-html").exit_code, 0);
  const pulmo::Volume ref = pulmo::read_volume(tmp.file("classical/lungs.nii.gz"));
  EXPECT_GT(dice(lungs.voxels.eq(1), ref.voxels.eq(1)), 0.90);
  EXPECT_GT(dice(lungs.voxels.eq(2), ref.voxels.eq(2)), 0.90);
  const nlohmann::json j = nlohmann::json::parse(slurp(tmp.file("out/report.json")));
  EXPECT_EQ(j["models"].size(), 3u);
  for (const auto& m : j["models"]) EXPECT_EQ(m["weights_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(j["options"]["precision"], "float32");
  // The lung box of stage 1 (LPS mm) holds every lung voxel.
  ASSERT_TRUE(j["lung_box"].is_object()) << j.dump();
  const at::Tensor idx = lungs.voxels.nonzero();  // [n, 3] in (z, y, x)
  ASSERT_GT(idx.size(0), 0);
  for (const bool low : {true, false}) {
    const at::Tensor corner = low ? std::get<0>(idx.min(0)) : std::get<0>(idx.max(0));
    const pulmo::Vec3 mm = ct.geometry.index_to_physical(
        {corner[2].item<double>(), corner[1].item<double>(), corner[0].item<double>()});
    for (int a = 0; a < 3; ++a) {
      EXPECT_GE(mm[a], j["lung_box"]["lps_min_mm"][a].get<double>() - 1e-3) << "axis " << a;
      EXPECT_LE(mm[a], j["lung_box"]["lps_max_mm"][a].get<double>() + 1e-3) << "axis " << a;
    }
  }
  std::istringstream csv(slurp(tmp.file("out/report.csv")));
  std::string header, row, extra;
  ASSERT_TRUE(std::getline(csv, header) && std::getline(csv, row));
  EXPECT_FALSE(std::getline(csv, extra) && !extra.empty());
  EXPECT_GT(slurp(tmp.file("out/report.html")).find("data:image/png;base64,"), 0u);
  EXPECT_FALSE(fs::exists(tmp.file("out/segmentation.dcm")));  // a NIfTI input: nothing for a DICOM-SEG to refer to
}

TEST(CliQuantify, GivesTheSameLungsWhateverTheStorageOrientation) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  // The same CT stored RAS-like (x and y reversed): the masks must cover the same physical voxels.
  pulmo::Volume ct = pulmo::read_volume(shared_data_path(kChest));
  pulmo::Volume flipped = ct;
  flipped.voxels = ct.voxels.flip({1, 2}).contiguous();
  flipped.geometry.origin_mm = ct.geometry.index_to_physical(
      {double(ct.geometry.size[0] - 1), double(ct.geometry.size[1] - 1), 0.0});
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 2; ++c) flipped.geometry.direction[r * 3 + c] = -ct.geometry.direction[r * 3 + c];
  pulmo::write_volume(flipped, tmp.file("ras.nii.gz"));
  ASSERT_EQ(run_pulmo("quantify '" + shared_data_path(kChest) + "' --out '" + tmp.file("a") + "' --no-html").exit_code, 0);
  const auto r = run_pulmo("quantify '" + tmp.file("ras.nii.gz") + "' --out '" + tmp.file("b") + "' --no-html");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pulmo::Volume a = pulmo::read_volume(tmp.file("a/lungs.nii.gz"));
  const pulmo::Volume b = pulmo::read_volume(tmp.file("b/lungs.nii.gz"));
  EXPECT_EQ(b.geometry.orientation_code(), "RAS");
  const pulmo::Volume b_on_a = pulmo::align_labels(b, a.geometry, "flipped result");
  EXPECT_GT(dice(a.voxels.eq(1), b_on_a.voxels.eq(1)), 0.995);
  EXPECT_GT(dice(a.voxels.eq(2), b_on_a.voxels.eq(2)), 0.995);

  // --bf16: nearly the same lungs where the CPU can; float32 and a warning where it cannot.
  const auto h = run_pulmo("quantify '" + shared_data_path(kChest) + "' --out '" + tmp.file("h") + "' --no-html --bf16");
  ASSERT_EQ(h.exit_code, 0) << h.err;
  const nlohmann::json jh = nlohmann::json::parse(slurp(tmp.file("h/report.json")));
  if (pulmo::cpu_supports_bfloat16()) {
    EXPECT_EQ(jh["options"]["precision"], "bfloat16");
    const pulmo::Volume c = pulmo::read_volume(tmp.file("h/lungs.nii.gz"));
    EXPECT_GT(dice(a.voxels.eq(1), c.voxels.eq(1)), 0.98);
    EXPECT_GT(dice(a.voxels.eq(2), c.voxels.eq(2)), 0.98);
  } else {
    EXPECT_EQ(jh["options"]["precision"], "float32");
    EXPECT_NE(jh["warnings"].dump().find("bfloat16 asked for"), std::string::npos) << jh.dump();
  }
}

TEST(CliQuantify, ClassicalLungsOfTheLidcSlicesMatchLungmaskWithinThreePercent) {
  PULMO_REQUIRE_SHARED_DATA("ct/lidc-lungmask");
  TempDir tmp;
  const auto r = run_pulmo("quantify '" + shared_data_path("ct/lidc-lungmask") + "' --out '" + tmp.file("out") +
                           "' --lungs classical --no-lesions --no-html");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pulmo::Volume lungs = pulmo::read_volume(tmp.file("out/lungs.nii.gz"));
  EXPECT_NEAR(lungs.voxels.eq(1).sum().item<double>() / 64752.0, 1.0, 0.03);
  EXPECT_NEAR(lungs.voxels.eq(2).sum().item<double>() / 36536.0, 1.0, 0.03);
}

TEST(CliQuantify, ADicomInputAlsoGetsADicomSegOfItsMasksUnlessAskedNot) {
  PULMO_REQUIRE_SHARED_DATA("ct/lidc-lungmask");
  TempDir tmp;
  const std::string series = shared_data_path("ct/lidc-lungmask");
  auto r = run_pulmo("quantify '" + series + "' --out '" + tmp.file("out") + "' --lungs classical --no-lesions --no-html");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pulmo::Volume ct = pulmo::read_volume(series);
  const pulmo::Volume lungs = pulmo::read_volume(tmp.file("out/lungs.nii.gz"));
  const auto segments = pulmo::read_dicom_seg(tmp.file("out/segmentation.dcm"), ct.geometry);
  ASSERT_EQ(segments.size(), 2u);  // no lesions asked for
  EXPECT_EQ(segments[0].label, "Right lung");
  EXPECT_EQ(segments[1].label, "Left lung");
  EXPECT_TRUE(segments[0].mask.voxels.equal(lungs.voxels.eq(1).to(at::kByte)));
  EXPECT_TRUE(segments[1].mask.voxels.equal(lungs.voxels.eq(2).to(at::kByte)));
  for (const std::string& uid : segments[0].source_instances) EXPECT_FALSE(uid.empty());  // both slices hold lung
  // The numbers as a TID 1500 measurement report about the two segments: report.json's volumes and mean HU.
  const auto report = nlohmann::json::parse(pulmo::read_text_file(tmp.file("out/report.json")));
  const auto groups = pulmo::read_measurement_report_sr(tmp.file("out/measurements.dcm"));
  ASSERT_EQ(groups.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const auto& region = report["regions"][k == 0 ? "right" : "left"];
    EXPECT_EQ(groups[k].tracking_id, k == 0 ? "Right lung" : "Left lung");
    EXPECT_EQ(groups[k].segment_number, k + 1);
    ASSERT_EQ(groups[k].measurements.size(), 2u);  // no lesions: volume and mean attenuation only
    EXPECT_EQ(groups[k].measurements[0].concept, "Volume");
    EXPECT_EQ(groups[k].measurements[0].unit, "ml");
    EXPECT_NEAR(groups[k].measurements[0].value, region["lung_ml"].get<double>(), 1e-5 * region["lung_ml"].get<double>());
    EXPECT_EQ(groups[k].measurements[1].unit, "[hnsf'U]");
    EXPECT_NEAR(groups[k].measurements[1].value, region["densitometry"]["mean_hu"].get<double>(), 0.01);
  }
  r = run_pulmo("quantify '" + series + "' --out '" + tmp.file("out2") +
                "' --lungs classical --no-lesions --no-html --no-dicom-seg");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(tmp.file("out2/lungs.nii.gz")));
  EXPECT_FALSE(fs::exists(tmp.file("out2/segmentation.dcm")));
  EXPECT_FALSE(fs::exists(tmp.file("out2/measurements.dcm")));
}

TEST(CliQuantify, AThinStackGivesASensibleResultNotAnError) {
  PULMO_REQUIRE_SHARED_DATA("ct/lidc-lungmask");
  TempDir tmp;
  const auto r = run_pulmo("quantify '" + shared_data_path("ct/lidc-lungmask") + "' --out '" + tmp.file("out") + "' --no-html");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("thin stack"), std::string::npos) << r.err;
  const pulmo::Volume lungs = pulmo::read_volume(tmp.file("out/lungs.nii.gz"));
  EXPECT_GT(lungs.voxels.eq(1).sum().item<int64_t>(), 30000);  // lungmask: 64752 right, 36536 left
  EXPECT_GT(lungs.voxels.eq(2).sum().item<int64_t>(), 15000);
  // with lesions: their segments are in the DICOM-SEG too, voxel for voxel
  const pulmo::Volume lesions = pulmo::read_volume(tmp.file("out/lesions.nii.gz"));
  const auto segments = pulmo::read_dicom_seg(tmp.file("out/segmentation.dcm"), lungs.geometry);
  for (const auto& s : segments) {
    if (s.label == "Ground-glass opacity") EXPECT_TRUE(s.mask.voxels.equal(lesions.voxels.eq(1).to(at::kByte)));
    if (s.label == "Consolidation") EXPECT_TRUE(s.mask.voxels.equal(lesions.voxels.eq(2).to(at::kByte)));
  }
  EXPECT_EQ(int64_t(segments.size()), 2 + (lesions.voxels.eq(1).any().item<bool>() ? 1 : 0) +
                                          (lesions.voxels.eq(2).any().item<bool>() ? 1 : 0));
}

TEST(CliQuantify, AUserLungMaskReplacesStagesOneAndTwo) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  const auto r = run_pulmo("quantify '" + shared_data_path("ct/totalsegmentator/example_ct_sm.nii.gz") + "' --out '" +
                           tmp.file("out") + "' --lung-mask '" + shared_data_path("ct/totalsegmentator/example_seg.nii.gz") +
                           "' --lung-mask-convention totalsegmentator --no-html");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pulmo::Volume given = pulmo::adapt_lungs(pulmo::read_volume(shared_data_path("ct/totalsegmentator/example_seg.nii.gz")),
                                                 "totalsegmentator");
  const pulmo::Volume lungs = pulmo::read_volume(tmp.file("out/lungs.nii.gz"));
  EXPECT_TRUE(at::equal(lungs.voxels.to(at::kByte), given.voxels.to(at::kByte)));
}

TEST(CliQuantify, BadInputGivesItsExitCodeAMessageAndNoOutputFolder) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  pulmo::Volume air;
  air.geometry.size = {48, 48, 24};
  air.voxels = at::full({24, 48, 48}, -1000.0f);
  pulmo::write_volume(air, tmp.file("air.nii.gz"));
  pulmo::write_volume(air.with_voxels(at::full({24, 48, 48}, 40.0f)), tmp.file("tissue.nii.gz"));
  std::ofstream(tmp.file("text.nii.gz")) << "not an image";
  fs::create_directories(tmp.path() / "models_bad");
  std::ofstream(tmp.file("models_bad/cascade.json"))
      << R"({"format_version": 1, "lung_box": {"model": "b"}, "lungs": {"model": "x", "treshold": 0.5}, "lesions": {"model": "l"}})";
  for (const char* name : {"models_bad_method", "models_method_on_lesions"}) fs::create_directories(tmp.path() / name);
  std::ofstream(tmp.file("models_bad_method/cascade.json"))
      << R"({"format_version": 1, "lung_box": {"model": "b"}, "lungs": {"model": "x", "method": "classical"}, "lesions": {"model": "l"}})";
  std::ofstream(tmp.file("models_method_on_lesions/cascade.json"))
      << R"({"format_version": 1, "lung_box": {"model": "b"}, "lungs": {"model": "x"}, "lesions": {"model": "l", "method": "hybrid"}})";
  const std::string chest = "'" + shared_data_path(kChest) + "'";
  struct Case {
    std::string args;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"'" + tmp.file("air.nii.gz") + "'", 11, "no lungs found"},
      {"'" + tmp.file("tissue.nii.gz") + "'", 11, "no lungs found"},
      {"'" + tmp.file("air.nii.gz") + "' --lungs classical", 11, "no lungs found"},
      {"'" + tmp.file("text.nii.gz") + "'", 4, ""},
      {"'" + tmp.file("missing.nii.gz") + "'", 3, "missing.nii.gz"},
      {chest + " --models '" + tmp.file("no_models") + "'", 3, "models folder"},
      {chest + " --models '" + tmp.file("models_bad") + "'", 10, "treshold"},
      {chest + " --models '" + tmp.file("models_bad_method") + "'", 10, "lungs.method"},
      {chest + " --models '" + tmp.file("models_method_on_lesions") + "'", 10, "lungs stage only"},
      {chest + " --lung-mask '" + shared_data_path("ct/totalsegmentator/example_seg.nii.gz") + "'", 9, "another grid"},
      {chest + " --input-window -1000,400", 9, "not an 8-bit export"},
      {chest + " --mc-dropout 101", 2, ""},
      {chest + " --shard 1/2", 2, "--shard"},
  };
  for (const Case& c : cases) {
    const auto r = run_pulmo("quantify " + c.args + " --out '" + tmp.file("out") + "'");
    EXPECT_EQ(r.exit_code, c.code) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
    expect_nothing_written(tmp, "out");
  }
  // An existing output folder is kept unless --overwrite.
  fs::create_directories(tmp.path() / "exists");
  std::ofstream(tmp.file("exists/keep.txt")) << "mine";
  const auto r = run_pulmo("quantify " + chest + " --out '" + tmp.file("exists") + "' --no-html");
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos);
  EXPECT_TRUE(fs::exists(tmp.file("exists/keep.txt")));
}

TEST(CliQuantify, ABatchSkipsAFailedCaseResumesAndShards) {
  PULMO_REQUIRE_SHARED_DATA("ct/totalsegmentator");
  TempDir tmp;
  fs::create_directories(tmp.path() / "cts");
  fs::copy_file(shared_data_path(kChest), tmp.file("cts/chest.nii.gz"));
  fs::copy_file(shared_data_path("ct/totalsegmentator/example_ct_sm.nii.gz"), tmp.file("cts/bases.nii.gz"));
  std::ofstream(tmp.file("cts/broken.nii.gz")) << "broken";
  const std::string base = "quantify '" + tmp.file("cts") + "' --batch --no-html --out '";
  auto r = run_pulmo(base + tmp.file("out") + "'");
  EXPECT_EQ(r.exit_code, 12) << r.err;
  EXPECT_NE(r.out.find("2 done, 0 skipped (done before), 1 failed"), std::string::npos) << r.out;
  const std::string summary = slurp(tmp.file("out/summary.csv"));
  EXPECT_NE(summary.find("broken,"), std::string::npos);
  EXPECT_NE(summary.find(",failed,4,"), std::string::npos) << summary;
  EXPECT_TRUE(fs::exists(tmp.file("out/chest/report.json")));
  EXPECT_FALSE(fs::exists(tmp.file("out/broken")));
  // Run again: the finished cases are skipped (resume).
  r = run_pulmo(base + tmp.file("out") + "'");
  EXPECT_NE(r.out.find("0 done, 2 skipped (done before), 1 failed"), std::string::npos) << r.out;
  // Two shards cover every case once.
  const auto s1 = run_pulmo(base + tmp.file("sharded") + "' --shard 1/2");
  const auto s2 = run_pulmo(base + tmp.file("sharded") + "' --shard 2/2");
  EXPECT_TRUE(fs::exists(tmp.file("sharded/summary-1-of-2.csv")));
  EXPECT_TRUE(fs::exists(tmp.file("sharded/summary-2-of-2.csv")));
  EXPECT_TRUE(fs::exists(tmp.file("sharded/bases/report.json")));
  EXPECT_TRUE(fs::exists(tmp.file("sharded/chest/report.json")));
  const std::string both = slurp(tmp.file("sharded/summary-1-of-2.csv")) + slurp(tmp.file("sharded/summary-2-of-2.csv"));
  for (const char* id : {"bases,", "broken,", "chest,"}) {
    const size_t first = both.find(std::string("\n") + id);
    ASSERT_NE(first, std::string::npos) << id;
    EXPECT_EQ(both.find(std::string("\n") + id, first + 1), std::string::npos) << id << " in two shards";
  }
}
