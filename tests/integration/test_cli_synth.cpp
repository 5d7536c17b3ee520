// pulmo synth: phantoms and lesion insertion on disk, with a manifest that pulmo dataset check accepts.
#include <gtest/gtest.h>

#include <filesystem>

#include <ATen/ATen.h>

#include <fstream>

#include "pulmo/dataset.h"
#include "pulmo/io.h"
#include "pulmo/synth.h"
#include "support/test_support.h"

using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {
const char* kSmall = " --size 64,64,32 --spacing 0.8,0.8,2.5 ";

// A lesion-free phantom written with the library (faster than running the CLI for test inputs).
void write_healthy(const TempDir& tmp, int64_t slices = 32) {
  pulmo::synth::PhantomOptions o;
  o.size = {64, 64, slices};
  o.involvement = 0;
  const pulmo::synth::Phantom p = pulmo::synth::make_phantom(o);
  pulmo::write_volume(p.ct, tmp.file("ct" + std::to_string(slices) + ".nii.gz"));
  pulmo::write_volume(p.lungs, tmp.file("lungs" + std::to_string(slices) + ".nii.gz"));
}
}  // namespace

TEST(CliSynth, WritesCasesAndAManifestThatChecksClean) {
  TempDir tmp;
  const auto r = run_pulmo("synth --out '" + tmp.file("out") + "' --count 2 --seed 4 --involvement 0.1:0.3" + kSmall);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("synth 2/2 cases"), std::string::npos) << r.err;  // progress with ETA
  EXPECT_NE(r.err.find("ETA"), std::string::npos);
  const pulmo::Manifest m = pulmo::read_manifest(tmp.file("out/manifest.csv"));
  ASSERT_EQ(m.cases.size(), 2u);
  EXPECT_NE(m.cases[0].patient_id, m.cases[1].patient_id);
  const pulmo::Volume ct = pulmo::read_volume(m.cases[0].image), lesions = pulmo::read_volume(m.cases[0].lesions);
  EXPECT_EQ(ct.geometry.size, (std::array<int64_t, 3>{64, 64, 32}));
  const double target = std::stod(m.cases[0].attributes.at("target_involvement_percent"));
  const pulmo::Volume lungs = pulmo::read_volume(m.cases[0].lungs);
  const double measured = 100.0 * lesions.voxels.gt(0).sum().item<double>() / lungs.voxels.gt(0).sum().item<double>();
  EXPECT_GE(target, 10.0);
  EXPECT_LE(target, 30.0);
  EXPECT_NEAR(measured, target, 0.5);
  EXPECT_EQ(run_pulmo("dataset check '" + tmp.file("out/manifest.csv") + "'").exit_code, 0);
  EXPECT_EQ(tmp.count_files(), 7);  // 2 x 3 volumes + manifest, no temporary left behind
}

TEST(CliSynth, SameSeedWritesIdenticalVolumes) {
  TempDir tmp;
  ASSERT_EQ(run_pulmo("-q synth --out '" + tmp.file("a") + "' --seed 9" + kSmall).exit_code, 0);
  ASSERT_EQ(run_pulmo("-q synth --out '" + tmp.file("b") + "' --seed 9" + kSmall).exit_code, 0);
  for (const char* f : {"ct", "lungs", "lesions"}) {
    const auto a = pulmo::read_volume(tmp.file(std::string("a/case_0000/") + f + ".nii.gz"));
    const auto b = pulmo::read_volume(tmp.file(std::string("b/case_0000/") + f + ".nii.gz"));
    EXPECT_TRUE(a.voxels.equal(b.voxels)) << f;
  }
}

TEST(CliSynth, InsertsLesionsIntoAGivenCtAndItsLungMask) {
  TempDir tmp;
  write_healthy(tmp);
  const auto r = run_pulmo("synth --out '" + tmp.file("ins") + "' --count 2 --involvement 0.25 --insert-into '" +
                           tmp.file("ct32.nii.gz") + "' --lung-mask '" + tmp.file("lungs32.nii.gz") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pulmo::Manifest m = pulmo::read_manifest(tmp.file("ins/manifest.csv"));
  ASSERT_EQ(m.cases.size(), 2u);
  EXPECT_EQ(m.cases[0].patient_id, m.cases[1].patient_id);  // one real patient: splits keep them together
  EXPECT_NEAR(std::stod(m.cases[0].attributes.at("involved_percent")), 25.0, 0.5);
}

TEST(CliSynth, InsertsRealLesionShapesFromAMaskFolder) {
  TempDir tmp;
  write_healthy(tmp);
  // The lung mask itself, binarised, as a "lesion mask" (--shapes takes binary masks): two lung-sized shapes,
  // plenty to cover the target.
  std::filesystem::create_directories(tmp.file("shapes"));
  pulmo::Volume shapes = pulmo::read_volume(tmp.file("lungs32.nii.gz"));
  shapes.voxels = shapes.voxels.gt(0).to(shapes.voxels.scalar_type());
  pulmo::write_volume(shapes, tmp.file("shapes/a.nii.gz"));
  const std::string base = "synth --count 1 --involvement 0.4 --insert-into '" + tmp.file("ct32.nii.gz") + "' --lung-mask '" +
                           tmp.file("lungs32.nii.gz") + "' --shapes ";
  const auto r = run_pulmo(base + "'" + tmp.file("shapes") + "' --out '" + tmp.file("ins") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pulmo::Manifest m = pulmo::read_manifest(tmp.file("ins/manifest.csv"));
  ASSERT_EQ(m.cases.size(), 1u);
  EXPECT_EQ(m.cases[0].dataset, "pulmo-synth-insert-shapes");
  EXPECT_NEAR(std::stod(m.cases[0].attributes.at("involved_percent")), 40.0, 0.5);
  // A folder without masks, a missing file: not found; --shapes without --insert-into: usage; nothing written.
  std::filesystem::create_directories(tmp.file("empty"));
  EXPECT_EQ(run_pulmo(base + "'" + tmp.file("empty") + "' --out '" + tmp.file("o1") + "'").exit_code, 3);
  EXPECT_EQ(run_pulmo(base + "'" + tmp.file("none.nii.gz") + "' --out '" + tmp.file("o2") + "'").exit_code, 3);
  EXPECT_EQ(run_pulmo("synth --out '" + tmp.file("o3") + "' --shapes '" + tmp.file("shapes") + "'").exit_code, 2);
  for (const char* o : {"o1", "o2", "o3"}) EXPECT_FALSE(std::filesystem::exists(tmp.file(o))) << o;
}

TEST(CliSynth, BadOptionValuesAreUsageErrorsAndWriteNothing) {
  TempDir tmp;
  // (Every range is tested on the library in test_synth.cpp; here one per kind of mistake.)
  for (const std::string bad : {"--involvement 0.5:0.2", "--size 64,x,32", "--spacing 2,2,2", "--count 0"}) {
    const auto r = run_pulmo("synth --out '" + tmp.file("o") + "' " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
  }
  EXPECT_EQ(run_pulmo("synth --out '" + tmp.file("o") + "' --insert-into x.nii.gz").exit_code, 2);  // needs --lung-mask
  EXPECT_EQ(tmp.count_files(), 0);
}

TEST(CliSynth, MissingCtIsNotFound) {
  TempDir tmp;
  const auto r = run_pulmo("synth --out '" + tmp.file("o") + "' --insert-into '" + tmp.file("none.nii.gz") + "' --lung-mask '" +
                           tmp.file("none2.nii.gz") + "'");
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST(CliSynth, UnreadableCtIsUnreadable) {
  TempDir tmp;
  std::ofstream(tmp.file("bad.nii.gz")) << "not an image";
  const auto r = run_pulmo("synth --out '" + tmp.file("o") + "' --insert-into '" + tmp.file("bad.nii.gz") + "' --lung-mask '" +
                           tmp.file("bad.nii.gz") + "'");
  EXPECT_EQ(r.exit_code, 4) << r.err;
}

TEST(CliSynth, ASingleSliceCtIsTheWrongDimension) {
  TempDir tmp;
  pulmo::Geometry g;
  g.size = {32, 32, 1};
  pulmo::write_volume(pulmo::Volume::filled(g, -800.0), tmp.file("slice.nii.gz"));
  const auto r = run_pulmo("synth --out '" + tmp.file("o") + "' --insert-into '" + tmp.file("slice.nii.gz") + "' --lung-mask '" +
                           tmp.file("slice.nii.gz") + "'");
  EXPECT_EQ(r.exit_code, 6) << r.err;
}

TEST(CliSynth, AnOutputThatIsAFileIsWriteFailed) {
  TempDir tmp;
  std::ofstream(tmp.file("file")) << "x";
  EXPECT_EQ(run_pulmo("synth --out '" + tmp.file("file") + "'" + kSmall).exit_code, 7);
}

TEST(CliSynth, ALungMaskOnAnotherGridIsAMismatch) {
  TempDir tmp;
  write_healthy(tmp, 32);
  write_healthy(tmp, 30);
  const auto r = run_pulmo("synth --out '" + tmp.file("o") + "' --insert-into '" + tmp.file("ct32.nii.gz") +
                           "' --lung-mask '" + tmp.file("lungs30.nii.gz") + "'");
  EXPECT_EQ(r.exit_code, 9) << r.err;
}

TEST(CliSynth, AnEmptyLungMaskIsNoData) {
  TempDir tmp;
  write_healthy(tmp);
  const pulmo::Volume lungs = pulmo::read_volume(tmp.file("lungs32.nii.gz"));
  pulmo::write_volume(lungs.with_voxels(at::zeros_like(lungs.voxels)), tmp.file("empty.nii.gz"));
  const auto r = run_pulmo("synth --out '" + tmp.file("o") + "' --insert-into '" + tmp.file("ct32.nii.gz") +
                           "' --lung-mask '" + tmp.file("empty.nii.gz") + "'");
  EXPECT_EQ(r.exit_code, 8) << r.err;
}
