#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkPNGImageIO.h>
#include <itkRGBPixel.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <functional>

#include "data/csv.h"
#include "image/canvas.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/report.h"
#include "pulmo/synth.h"
#include "report/render.h"
#include "report/viewer.h"
#include "support/test_support.h"

using namespace pulmo;

namespace {

synth::Phantom small_phantom() {
  synth::PhantomOptions o;
  o.size = {64, 64, 40};
  o.spacing_mm = {0.8, 0.8, 2.5};
  o.involvement = 0.3;
  o.seed = 5;
  return synth::make_phantom(o);
}

ReportMeta meta_for(const Volume& ct) {
  ReportMeta m;
  m.input_path = "cases/ct, \"one\".nii.gz";  // a comma and quotes: CSV quoting
  m.input_format = "NIfTI";
  m.case_id = "case-1";
  m.input_geometry = ct.geometry;
  m.lung_method = "cascade";
  m.models.push_back({"lungs", "lung-unet", "lungs", "models/lungs", 1, std::string(64, 'a')});
  m.tta = true;
  m.mc_dropout_passes = 4;
  m.timings = {{"read", 0.25}, {"lungs", std::nan("")}};
  m.warnings = {"implausible HU <-2000"};
  return m;
}

// The number of files under `dir` (recursively), temporaries included.
int files_in(const std::string& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

}  // namespace

TEST(ReportJson, HoldsEveryKeyAndWritesNanAsNull) {
  const synth::Phantom p = small_phantom();
  const Quantification q = quantify(p.ct, p.lungs, p.lesions);
  const std::string text = report_json(q, meta_for(p.ct));
  EXPECT_EQ(text.find("NaN"), std::string::npos);
  EXPECT_EQ(text.find("nan"), std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(text);
  for (const char* key : {"case_id", "input", "lung_method", "models", "options", "timings", "warnings", "pulmo_version",
                          "created_utc", "disclaimer", "definitions", "hu_bands", "lesion_types_known", "regions", "slices"})
    EXPECT_TRUE(j.contains(key)) << key;
  for (const char* key : {"size", "spacing_mm", "origin_mm", "direction", "orientation"})
    EXPECT_TRUE(j["input"]["geometry"].contains(key)) << key;
  EXPECT_EQ(j["input"]["geometry"]["orientation"], "LPS");
  EXPECT_EQ(j["input"]["geometry"]["direction"].size(), 9u);
  for (const char* region : {"right", "left", "total"}) {
    const auto& r = j["regions"][region];
    for (const char* key : {"lung_voxels", "lung_ml", "lesion_ml", "ground_glass_ml", "consolidation_ml", "involved_percent",
                            "involved_percent_sd", "severity_score", "mosmed_category", "densitometry"})
      EXPECT_TRUE(r.contains(key)) << region << "." << key;
    EXPECT_EQ(r["densitometry"]["percentiles_hu"].size(), 6u);
    EXPECT_EQ(r["densitometry"]["band_percent_of_lung"].size(), 4u);
  }
  EXPECT_NEAR(j["regions"]["total"]["involved_percent"].get<double>(), q.regions[kTotal].involved_percent, 1e-9);
  EXPECT_EQ(j["regions"]["total"]["severity_score"], q.regions[kTotal].severity_score);
  EXPECT_EQ(j["regions"]["total"]["mosmed_category"], mosmed_category(q.regions[kTotal].involved_percent));
  EXPECT_TRUE(j["regions"]["total"]["involved_percent_sd"].is_null());  // not computed
  EXPECT_TRUE(j["timings"][1]["seconds"].is_null());                    // NaN
  EXPECT_TRUE(j["hu_bands"][0]["lo_hu"].is_null());                     // -infinity: unbounded
  EXPECT_EQ(j["slices"].size(), 40u);
  EXPECT_EQ(j["models"][0]["weights_sha256"], std::string(64, 'a'));
  EXPECT_EQ(j["options"]["mc_dropout_passes"], 4);
}

TEST(ReportJson, AnEmptyLungHasNullDensitometryAndUnknownLesionTypesAreNull) {
  const synth::Phantom p = small_phantom();
  Volume right_only = p.lungs.with_voxels(p.lungs.voxels.clone());
  right_only.voxels.masked_fill_(right_only.voxels == 2, 0);
  Quantification q = quantify(p.ct, right_only, p.lesions);
  q.lesion_types_known = false;
  const nlohmann::json j = nlohmann::json::parse(report_json(q, meta_for(p.ct)));
  EXPECT_TRUE(j["regions"]["left"]["densitometry"]["mean_hu"].is_null());
  EXPECT_EQ(j["regions"]["left"]["involved_percent"], 0.0);
  EXPECT_TRUE(j["regions"]["right"]["ground_glass_ml"].is_null());
  EXPECT_FALSE(j["regions"]["right"]["lesion_ml"].is_null());
}

TEST(ReportHtml, UnknownLesionTypesAreShownInOneColourNamedLesion) {
  const synth::Phantom p = small_phantom();
  Quantification q = quantify(p.ct, p.lungs, p.lesions);
  q.lesion_types_known = false;
  test::TempDir dir;
  write_report_html(dir.file("report.html"), p.ct, p.lungs, p.lesions, q, meta_for(p.ct));
  const std::string html = read_text_file(dir.file("report.html"));
  EXPECT_NE(html.find("lesion (types not separated)"), std::string::npos);
  EXPECT_EQ(html.find("consolidation</span>"), std::string::npos);
  report_detail::RenderOptions o;
  o.lesion_types_known = false;
  const draw::Canvas c = report_detail::render_slice(p.ct, p.lungs, p.lesions, Plane::Axial, 20, o);
  o.lesion_types_known = true;
  EXPECT_FALSE(c.pixels() == report_detail::render_slice(p.ct, p.lungs, p.lesions, Plane::Axial, 20, o).pixels());
}

TEST(ReportCsv, HeaderAndRowHaveTheSameColumnsWithUnitsInTheNames) {
  const synth::Phantom p = small_phantom();
  const Quantification q = quantify(p.ct, p.lungs, p.lesions);
  const std::string header = report_csv_header(), line = report_csv_row(q, meta_for(p.ct));
  const auto rows = data::parse_csv(header + "\n" + line + "\n");
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].size(), rows[1].size());
  auto column = [&](const std::string& name) {
    const auto it = std::find(rows[0].begin(), rows[0].end(), name);
    EXPECT_NE(it, rows[0].end()) << name;
    return it == rows[0].end() ? std::string() : rows[1][it - rows[0].begin()];
  };
  EXPECT_NEAR(std::stod(column("right_lung_ml")), q.regions[kRight].lung_ml, 1e-6);
  EXPECT_NEAR(std::stod(column("total_involved_percent")), q.regions[kTotal].involved_percent, 1e-6);
  EXPECT_EQ(column("total_severity_score"), std::to_string(q.regions[kTotal].severity_score));
  EXPECT_EQ(column("left_p50_hu").empty(), false);
  EXPECT_EQ(column("total_well_aerated_percent").empty(), false);
  EXPECT_EQ(column("total_involved_percent_sd"), "");  // not computed
  EXPECT_EQ(column("input_path"), "cases/ct, \"one\".nii.gz");

  test::TempDir dir;
  write_report_csv(dir.file("r.csv"), q, meta_for(p.ct));
  EXPECT_EQ(read_text_file(dir.file("r.csv")), header + "\n" + line + "\n");
}

TEST(ReportHtml, IsOneFileWithSixEmbeddedImagesTheTablesAndTheCurve) {
  const synth::Phantom p = small_phantom();
  const Quantification q = quantify(p.ct, p.lungs, p.lesions);
  test::TempDir dir;
  write_report_html(dir.file("report.html"), p.ct, p.lungs, p.lesions, q, meta_for(p.ct));
  EXPECT_EQ(files_in(dir.path().string()), 1);
  const std::string html = read_text_file(dir.file("report.html"));
  size_t images = 0;
  const std::string png_img = "src=\"data:image/png;base64,";  // the pictures (NiiVue holds base64 PNGs of its own)
  for (size_t at = html.find(png_img); at != std::string::npos; at = html.find(png_img, at + 1))
    ++images;
  EXPECT_EQ(images, 6u);  // five axial levels and one coronal slice
  for (const char* text : {"Right lung", "Left lung", "Both lungs", "Severity score", "MosMed", "Densitometry", "<svg",
                           "Ground-glass (mL)", "lung-unet", "implausible HU &lt;-2000", "Research tool, not a medical device",
                           "superior", "Coronal slice"})
    EXPECT_NE(html.find(text), std::string::npos) << text;
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // nothing to fetch
  if (!report_detail::niivue_bundle().empty()) {  // the viewer: NiiVue, its licence and the three volumes inline
    for (const char* text : {"Copyright (c) 2021, Niivue", "id=\"pulmo-viewer-canvas\"", "id=\"pulmo-viewer-ct\"",
                             "id=\"pulmo-viewer-lungs\"", "id=\"pulmo-viewer-lesions\"", "\"start_ras_mm\""})
      EXPECT_NE(html.find(text), std::string::npos) << text;
  } else {
    EXPECT_NE(html.find("built without NiiVue"), std::string::npos);
  }
}

TEST(ReportHtml, WithoutALesionMapShowsTheLungsOnlyAndRefusesLungsOnAnotherGrid) {
  const synth::Phantom p = small_phantom();
  const Quantification q = quantify(p.ct, p.lungs, Volume{});
  test::TempDir dir;
  write_report_html(dir.file("report.html"), p.ct, p.lungs, Volume{}, q, meta_for(p.ct));
  EXPECT_NE(read_text_file(dir.file("report.html")).find("data:image/png;base64,"), std::string::npos);
  Volume shifted = p.lungs;
  shifted.geometry.origin_mm[2] += 2.5;
  try {
    write_report_html(dir.file("other.html"), p.ct, shifted, p.lesions, q, meta_for(p.ct));
    FAIL() << "expected Mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Mismatch);
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("other.html")));
}

TEST(ReportHtml, AnInt16CtAndFloatLabelMapsGiveTheSamePage) {
  const synth::Phantom p = small_phantom();
  const Volume ct = p.ct.with_voxels(p.ct.voxels.round());
  const Quantification q = quantify(ct, p.lungs, p.lesions);
  const ReportMeta m = meta_for(ct);
  test::TempDir dir;
  write_report_html(dir.file("a.html"), ct, p.lungs, p.lesions, q, m);
  write_report_html(dir.file("b.html"), ct.with_voxels(ct.voxels.to(at::kShort)), p.lungs.with_voxels(p.lungs.voxels.to(at::kFloat)),
                    p.lesions.with_voxels(p.lesions.voxels.to(at::kFloat)), q, m);
  EXPECT_TRUE(read_text_file(dir.file("a.html")) == read_text_file(dir.file("b.html")));
}

TEST(ReportFiles, AnUnwritableFolderGivesWriteFailedAndLeavesNoFile) {
  const synth::Phantom p = small_phantom();
  const Quantification q = quantify(p.ct, p.lungs, p.lesions);
  test::TempDir dir;
  write_text_atomic(dir.file("blocker"), "a file where a folder should be");
  const std::string folder = dir.file("blocker/out");
  auto expect_write_failed = [&](const std::function<void()>& write) {
    try {
      write();
      ADD_FAILURE() << "expected WriteFailed";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::WriteFailed) << e.what();
    }
  };
  const ReportMeta m = meta_for(p.ct);
  expect_write_failed([&] { write_report_json(folder + "/r.json", q, m); });
  expect_write_failed([&] { write_report_csv(folder + "/r.csv", q, m); });
  expect_write_failed([&] { write_report_html(folder + "/r.html", p.ct, p.lungs, p.lesions, q, m); });
  expect_write_failed([&] { write_overlay_png(folder + "/a.png", p.ct, p.lungs, p.lesions, Plane::Axial, 3); });
  EXPECT_EQ(files_in(dir.path().string()), 1);  // the blocker only
}

TEST(OverlayPng, IsAPngAndRefusesASliceOutOfRange) {
  const synth::Phantom p = small_phantom();
  test::TempDir dir;
  write_overlay_png(dir.file("c.png"), p.ct, p.lungs, p.lesions, Plane::Coronal, 30);
  EXPECT_EQ(read_text_file(dir.file("c.png")).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(slice_count(p.ct.geometry, Plane::Coronal), 64);
  try {
    write_overlay_png(dir.file("x.png"), p.ct, p.lungs, p.lesions, Plane::Axial, 40);
    FAIL() << "expected Usage";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
  }
  EXPECT_EQ(files_in(dir.path().string()), 1);
}

TEST(PngEncoder, WritesPixelsThatItkReadsBackExactly) {
  draw::Canvas c(37, 23);  // gradients (rows filtered "sub" or "up"), noise-like rows ("none"), text
  for (int y = 0; y < 23; ++y)
    for (int x = 0; x < 37; ++x)
      c.set(x, y, y < 8 ? draw::Rgb{uint8_t(x * 7), uint8_t(y * 11), 40} : draw::Rgb{uint8_t(x * y * 37), uint8_t(x ^ y), uint8_t(255 - x)});
  c.text(2, 2, "R", {255, 255, 255}, 1);
  test::TempDir dir;
  draw::write_png(c, dir.file("p.png"));
  using Image = itk::Image<itk::RGBPixel<unsigned char>, 2>;
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetImageIO(itk::PNGImageIO::New());
  reader->SetFileName(dir.file("p.png"));
  reader->Update();
  const Image* image = reader->GetOutput();
  ASSERT_EQ(image->GetLargestPossibleRegion().GetSize()[0], 37u);
  ASSERT_EQ(image->GetLargestPossibleRegion().GetSize()[1], 23u);
  for (int y = 0; y < 23; ++y)
    for (int x = 0; x < 37; ++x) {
      const auto px = image->GetPixel({{x, y}});
      EXPECT_EQ(draw::Rgb({px[0], px[1], px[2]}), c.at(x, y)) << x << "," << y;
    }
}
