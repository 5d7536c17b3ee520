// pulmo overlay: a montage of labelled slices for checking label maps by eye (scripts/make-reference-labels.sh).
#include <gtest/gtest.h>

#include <fstream>

#include "pulmo/io.h"
#include "pulmo/synth.h"
#include "support/test_support.h"

using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {

std::string q(const std::string& s) { return "'" + s + "'"; }

// A phantom with lesions: ct, lungs and lesions in tmp.
void write_phantom(const TempDir& tmp) {
  pulmo::synth::PhantomOptions o;
  o.size = {64, 64, 24};
  o.involvement = 0.2;
  const pulmo::synth::Phantom p = pulmo::synth::make_phantom(o);
  pulmo::write_volume(p.ct, tmp.file("ct.nii.gz"));
  pulmo::write_volume(p.lungs, tmp.file("lungs.nii.gz"));
  pulmo::write_volume(p.lesions, tmp.file("lesions.nii.gz"));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(CliOverlay, WritesAPngOfSlicesSpreadOverTheLungs) {
  TempDir tmp;
  write_phantom(tmp);
  const pulmo::Volume lungs = pulmo::read_volume(tmp.file("lungs.nii.gz"));
  const at::Tensor per_slice = lungs.voxels.ne(0).sum({1, 2});  // [z]
  const at::Tensor with_lung = per_slice.nonzero().view(-1);
  const int64_t first = with_lung.min().item<int64_t>(), last = with_lung.max().item<int64_t>();
  const auto r = run_pulmo("overlay " + q(tmp.file("ct.nii.gz")) + " " + q(tmp.file("lungs.nii.gz")) + " --lesions " +
                           q(tmp.file("lesions.nii.gz")) + " --slices 4 --out " + q(tmp.file("m.png")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(slurp(tmp.file("m.png")).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  // The note names the slices: the first and the last with lung among them.
  EXPECT_NE(r.err.find("axial slices " + std::to_string(first) + ", "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(", " + std::to_string(last) + "\n"), std::string::npos) << r.err;
  EXPECT_EQ(run_pulmo("overlay " + q(tmp.file("ct.nii.gz")) + " " + q(tmp.file("lungs.nii.gz")) +
                      " --plane coronal --slices 3 --columns 3 --out " + q(tmp.file("c.png")))
                .exit_code,
            0);
}

// A one-slice montage (300-px tile) is widened to its legend: "CONSOLIDATION" was cut off at the right edge.
TEST(CliOverlay, AOneSliceMontageIsWideEnoughForItsLegend) {
  TempDir tmp;
  write_phantom(tmp);
  const auto r = run_pulmo("-q overlay " + q(tmp.file("ct.nii.gz")) + " " + q(tmp.file("lungs.nii.gz")) + " --lesions " +
                           q(tmp.file("lesions.nii.gz")) + " --slices 1 --columns 1 --out " + q(tmp.file("one.png")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string png = slurp(tmp.file("one.png"));
  ASSERT_GE(png.size(), 24u);
  const auto byte = [&](size_t i) { return uint32_t(static_cast<unsigned char>(png[i])); };
  const uint32_t width = byte(16) << 24 | byte(17) << 16 | byte(18) << 8 | byte(19);  // IHDR
  EXPECT_GT(width, 300u);  // wider than the tile: the legend (two entries of 12-13 letters at scale 2) sets it
}

TEST(CliOverlay, BadInputHasItsExitCodeAndWritesNothing) {
  TempDir tmp;
  write_phantom(tmp);
  pulmo::Geometry g;
  g.size = {8, 8, 8};
  pulmo::write_volume(pulmo::Volume::filled(g, 1, at::kByte), tmp.file("small.nii.gz"));
  const std::string ct = q(tmp.file("ct.nii.gz"));
  pulmo::test::expect_refused_command("overlay " + ct + " " + q(tmp.file("small.nii.gz")) + " --out " + q(tmp.file("o.png")),
                                      9, "not on the CT's grid", tmp.file("o.png"));
  pulmo::test::expect_refused_command("overlay " + ct + " " + q(tmp.file("none.nii.gz")) + " --out " + q(tmp.file("o.png")),
                                      3, "does not exist", tmp.file("o.png"));
  pulmo::test::expect_refused_command("overlay " + ct + " " + q(tmp.file("lungs.nii.gz")) + " --out " + q(tmp.file("o.jpg")),
                                      2, "must end in .png", tmp.file("o.jpg"));
}
