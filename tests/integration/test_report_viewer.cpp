// report.html's interactive viewer (NiiVue) in headless Chromium: the page loads from disk (file://) with no
// console error, and a screenshot of the viewer's canvas shows the CT in grey and the label colours of the
// pictures. Skipped with a message when Chromium, Node.js or the NiiVue bundle (scripts/fetch-niivue.sh) is absent.
#include <gtest/gtest.h>
#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkRGBPixel.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <nlohmann/json.hpp>

#include "pulmo/io.h"
#include "support/test_support.h"

using pulmo::test::run_pulmo;
using pulmo::test::TempDir;

namespace {

std::string q(const std::string& s) { return "'" + s + "'"; }

// `name` found on PATH (or the path itself when it has a slash and exists), else "".
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return std::filesystem::exists(name) ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / name;
    if (!dirs.substr(start, end - start).empty() && std::filesystem::exists(candidate)) return candidate.string();
    start = end + 1;
  }
  return "";
}

std::string run_and_capture(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct ColourCounts {
  int64_t total = 0, grey = 0, right_lung = 0, left_lung = 0, ground_glass = 0, consolidation = 0;
  int64_t right_exact = 0, left_exact = 0;  // the pictures' lung colours themselves: outlines drawn opaque
  // Grey (CT) pixels in the left half (axial), the top-right and the bottom-right quarters (coronal, sagittal).
  int64_t grey_left = 0, grey_top_right = 0, grey_bottom_right = 0;
  unsigned width = 0, height = 0;
};

// Pixels by colour class. The overlays are blended over the CT (lungs 30 %, lesions 60 % by default): right lung
// (0, 200, 255) gives blue-green, left lung (60, 220, 60) green, ground-glass (255, 215, 0) yellow, consolidation
// (235, 40, 40) red.
ColourCounts count_colours(const std::string& png) {
  using Image = itk::Image<itk::RGBPixel<unsigned char>, 2>;
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetFileName(png);
  reader->Update();
  ColourCounts c;
  const Image* image = reader->GetOutput();
  const auto size = image->GetLargestPossibleRegion().GetSize();
  c.width = size[0], c.height = size[1];
  auto near = [](int r, int g, int b, int R, int G, int B) {
    return std::abs(r - R) <= 3 && std::abs(g - G) <= 3 && std::abs(b - B) <= 3;
  };
  for (unsigned y = 0; y < size[1]; ++y)
    for (unsigned x = 0; x < size[0]; ++x) {
      const auto p = image->GetPixel({{x, y}});
      const int r = p[0], g = p[1], b = p[2];
      ++c.total;
      c.right_exact += near(r, g, b, 0, 200, 255);
      c.left_exact += near(r, g, b, 60, 220, 60);
      if (std::abs(r - g) <= 6 && std::abs(g - b) <= 6 && r >= 20 && r <= 250) {
        ++c.grey;
        if (x < size[0] / 2) ++c.grey_left;
        else if (y < size[1] / 2) ++c.grey_top_right;
        else ++c.grey_bottom_right;
      }
      else if (b > r + 30 && g > r + 30 && std::abs(g - b) < 60) ++c.right_lung;
      else if (g > r + 30 && g > b + 30) ++c.left_lung;
      else if (r > b + 60 && g > b + 60 && std::abs(r - g) < 50) ++c.ground_glass;
      else if (r > g + 50 && r > b + 50) ++c.consolidation;
    }
  return c;
}

}  // namespace

TEST(ReportViewer, ChromiumShowsTheCtAndBothLabelMapsWithoutConsoleErrors) {
  const char* chromium_env = std::getenv("CHROMIUM");
  const std::string chromium = find_program(chromium_env ? chromium_env : "chromium");
  if (chromium.empty()) GTEST_SKIP() << "headless Chromium not found (Debian: apt-get install chromium; or CHROMIUM=PATH)";
  const std::string node = find_program("node");
  if (node.empty()) GTEST_SKIP() << "Node.js not found: it drives Chromium through the DevTools protocol";

  TempDir tmp;
  ASSERT_EQ(run_pulmo("synth --out " + q(tmp.file("synth")) + " --count 1 --seed 3 --size 128,128,40 --involvement 0.3")
                .exit_code, 0);
  const std::string case_dir = tmp.file("synth/case_0000");
  const auto r = run_pulmo("quantify " + q(case_dir + "/ct.nii.gz") + " --lung-mask " + q(case_dir + "/lungs.nii.gz") +
                           " --out " + q(tmp.file("out")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string page = tmp.file("out/report.html");
  const std::string html = slurp(page);
  if (html.find("id=\"pulmo-viewer-canvas\"") == std::string::npos)
    GTEST_SKIP() << "this pulmo was built without NiiVue (scripts/fetch-niivue.sh, then scripts/build.sh)";
  EXPECT_EQ(html.find("https://cdn"), std::string::npos);
  std::printf("report.html: %zu bytes\n", html.size());

  // Node 22 has WebSocket built in; Node 20 behind a flag (which later versions may no longer accept).
  const bool websocket_built_in =
      std::system((q(node) + " -e \"process.exit(typeof WebSocket === 'function' ? 0 : 1)\" 2>/dev/null").c_str()) == 0;
  int status = -1;
  const std::string out = run_and_capture(
      "CHROMIUM=" + q(chromium) + " " + q(node) + (websocket_built_in ? " " : " --experimental-websocket ") +
          q(std::string(PULMO_SOURCE_DIR) + "/tests/support/chromium_page.mjs") + " " + q("file://" + page) + " " +
          q(tmp.file("viewer.png")) + " '#pulmo-viewer-canvas' data-viewer 120000 '#pulmo-viewer-location'",
      &status);
  ASSERT_EQ(status, 0) << out;
  const nlohmann::json result = nlohmann::json::parse(out);
  std::printf("viewer: %s after %d ms\n", result.value("state", "").c_str(), result.value("load_ms", -1));
  EXPECT_EQ(result["state"], "ready") << out;
  EXPECT_TRUE(result["errors"].empty()) << result["errors"].dump(1);
  ASSERT_TRUE(std::filesystem::exists(tmp.file("viewer.png"))) << out;

  const ColourCounts c = count_colours(tmp.file("viewer.png"));
  std::printf("canvas %lld px: grey %lld, right lung %lld, left lung %lld, ground-glass %lld, consolidation %lld\n",
              (long long)c.total, (long long)c.grey, (long long)c.right_lung, (long long)c.left_lung,
              (long long)c.ground_glass, (long long)c.consolidation);
  ASSERT_GT(c.total, 100000);
  EXPECT_GT(c.grey, c.total / 20) << "the CT";
  EXPECT_GT(c.right_lung, c.total / 200) << "the right lung's colour";
  EXPECT_GT(c.left_lung, c.total / 200) << "the left lung's colour";
  // Outlined as in the pictures: their colours themselves, opaque.
  std::printf("exact lung colours: right %lld, left %lld; grey by region: left half %lld, top right %lld, bottom "
              "right %lld (%u x %u px)\n", (long long)c.right_exact, (long long)c.left_exact, (long long)c.grey_left,
              (long long)c.grey_top_right, (long long)c.grey_bottom_right, c.width, c.height);
  EXPECT_GT(c.right_exact, 300) << "the right lung's outline in the pictures' colour";
  EXPECT_GT(c.left_exact, 300) << "the left lung's outline in the pictures' colour";
  // The layout uses the canvas: axial on the left, coronal top right, sagittal bottom right - CT in each region,
  // no empty tile; the canvas taller than a row of three.
  const int64_t quarter = int64_t(c.width / 2) * (c.height / 2);
  EXPECT_GT(c.grey_left, quarter / 5) << "the axial plane";
  EXPECT_GT(c.grey_top_right, quarter / 10) << "the coronal plane";
  EXPECT_GT(c.grey_bottom_right, quarter / 10) << "the sagittal plane";
  EXPECT_GT(c.height * 3, c.width) << "the canvas should be taller than a row of three tiles";
  // The location line reads HU back from the 8-bit copy (its NIfTI intensity scale).
  const std::string location = result.value("text", "");
  std::printf("location line: %s\n", location.c_str());
  EXPECT_NE(location.find(" HU"), std::string::npos) << location;
  EXPECT_NE(location.find("lesions: "), std::string::npos) << location;
  // The crosshair starts on a lesion voxel: the lesion colours of the label map's labels show.
  const pulmo::Volume lesions = pulmo::read_volume(tmp.file("out/lesions.nii.gz"));
  const bool has_ggo = lesions.voxels.eq(1).any().item<bool>(), has_cons = lesions.voxels.eq(2).any().item<bool>();
  ASSERT_TRUE(has_ggo || has_cons) << "the phantom should have lesions";
  EXPECT_GT(c.ground_glass + c.consolidation, 50) << "lesion colours";
  if (has_ggo && !has_cons) EXPECT_GT(c.ground_glass, 50);
  if (has_cons && !has_ggo) EXPECT_GT(c.consolidation, 50);
}

// --no-viewer: the page keeps its pictures and says that the viewer was left out; measured against the same
// report with the viewer when this pulmo has NiiVue.
TEST(ReportViewer, NoViewerLeavesTheViewerOutKeepsThePicturesAndSaysSo) {
  TempDir tmp;
  ASSERT_EQ(run_pulmo("synth --out " + q(tmp.file("synth")) + " --count 1 --seed 3 --size 128,128,40 --involvement 0.3")
                .exit_code, 0);
  const std::string case_dir = tmp.file("synth/case_0000");
  const std::string args = "quantify " + q(case_dir + "/ct.nii.gz") + " --lung-mask " + q(case_dir + "/lungs.nii.gz");
  auto r = run_pulmo(args + " --no-viewer --out " + q(tmp.file("small")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string small = slurp(tmp.file("small/report.html"));
  EXPECT_EQ(small.find("pulmo-viewer-canvas"), std::string::npos);
  EXPECT_EQ(small.find("Copyright (c) 2021, Niivue"), std::string::npos) << "NiiVue's notice: the bundle is in";
  EXPECT_NE(small.find("id=\"pulmo-viewer-left-out\""), std::string::npos) << "the page says the viewer was left out";
  const std::regex picture("src=\"data:image/png;base64,");  // the pictures (NiiVue holds base64 PNGs of its own)
  const auto pictures = std::distance(std::sregex_iterator(small.begin(), small.end(), picture), std::sregex_iterator());
  EXPECT_EQ(pictures, 6) << "five axial levels and a coronal slice";
  std::printf("report.html --no-viewer: %zu bytes\n", small.size());
  EXPECT_LT(small.size(), 2000000u);
  r = run_pulmo(args + " --out " + q(tmp.file("full")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string full = slurp(tmp.file("full/report.html"));
  std::printf("report.html with the viewer: %zu bytes\n", full.size());
  if (full.find("pulmo-viewer-canvas") == std::string::npos) return;  // built without NiiVue: nothing to compare
  EXPECT_GT(full.size(), small.size() + 2000000) << "NiiVue alone is 2.28 MB";
  const auto full_pictures = std::distance(std::sregex_iterator(full.begin(), full.end(), picture), std::sregex_iterator());
  EXPECT_EQ(full_pictures, pictures) << "the same pictures with and without the viewer";
}
