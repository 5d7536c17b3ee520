// pulmo cxr predict of one X-ray with its Grad-CAM overlay: read + letterbox + forward/backward + PNG write.
// Target: under 1 s on the 2-core CPU. Uses the shipped model (models/cxr) and a Hannover X-ray from
// ../shared/data when present, else a synthetic 640 x 560 image.
//
//   build/bench/bench_cxr [--benchmark_repetitions=5]   # from the repository root; PULMO_CXR_MODEL, PULMO_CXR_IMAGE override
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "pulmo/cxr_model.h"
#include "pulmo/fileutil.h"
#include "pulmo/runtime.h"

namespace fs = std::filesystem;

namespace {

std::string source_dir() { return fs::path(__FILE__).parent_path().parent_path().string(); }

std::string model_dir() {
  const char* env = std::getenv("PULMO_CXR_MODEL");
  if (env) return env;
  if (fs::exists("models/cxr/model.json")) return "models/cxr";  // run from the repository root
  return source_dir() + "/models/cxr";
}

std::string image_path() {
  const char* env = std::getenv("PULMO_CXR_IMAGE");
  if (env) return env;
  for (const std::string root : {std::string("."), source_dir()}) {
    const std::string shared = root + "/../shared/data/cxr/mhh-covid19/png/006f3a8a.png";
    if (fs::exists(shared)) return shared;
  }
  return "";
}

void BM_CxrPredictWithHeatmap(benchmark::State& state) {
  if (!fs::exists(model_dir() + "/model.json")) {
    state.SkipWithError("no model folder (models/cxr or PULMO_CXR_MODEL)");
    return;
  }
  pulmo::set_threads(int(state.range(0)));
  const pulmo::cxr::CxrModel model = pulmo::cxr::CxrModel::load(model_dir());
  const std::string image = image_path();
  const std::string out = (fs::temp_directory_path() / "pulmo-bench-cxr-heatmap.png").string();
  pulmo::cxr::XrayImage synthetic;
  if (image.empty()) {
    synthetic.width = 640;
    synthetic.height = 560;
    for (int y = 0; y < 560; ++y)
      for (int x = 0; x < 640; ++x) synthetic.pixels.push_back(float(0.5 + 0.4 * std::sin(x * 0.02) * std::cos(y * 0.03)));
  }
  for (auto _ : state) {
    const pulmo::cxr::XrayImage x = image.empty() ? synthetic : pulmo::cxr::read_xray(image);
    const pulmo::cxr::CxrPrediction p = model.predict(x, {{"crp", 80.0}, {"sex_male", 1.0}}, true);
    pulmo::cxr::write_heatmap_overlay(x, p, out);
    benchmark::DoNotOptimize(p.probability);
  }
  state.SetLabel(image.empty() ? "synthetic 640x560" : fs::path(image).filename().string());
  fs::remove(out);
}
BENCHMARK(BM_CxrPredictWithHeatmap)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
