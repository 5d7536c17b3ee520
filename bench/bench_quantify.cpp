// quantify() and the HTML report of a 512x512x300 chest-sized case (target: quantify well under 1 s on 2 cores).
// Lungs: two ellipsoids (about adult lung size at 0.7 x 0.7 x 1 mm, ~19 M lung voxels),
// lesions: the posterior third of each lung, half ground-glass, half consolidation. HU integer (the counting
// path) or with a fraction (arg 1: the sorting fallback of the percentiles).
//   ./build/bench/bench_quantify            (PULMO_BENCH_THREADS=2 to pin the thread count)
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "pulmo/quantify.h"
#include "pulmo/report.h"
#include "pulmo/runtime.h"

namespace {

struct Case {
  pulmo::Volume ct, lungs, lesions;
};

const Case& chest(bool fractional) {
  static Case c[2];
  Case& k = c[fractional];
  if (k.ct.voxels.defined()) return k;
  pulmo::Geometry g;
  g.size = {512, 512, 300};
  g.spacing_mm = {0.7, 0.7, 1.0};
  k.ct = pulmo::Volume::filled(g, 40.0);
  k.lungs = pulmo::Volume::filled(g, 0, at::kByte);
  k.lesions = pulmo::Volume::filled(g, 0, at::kByte);
  float* hu = k.ct.voxels.data_ptr<float>();
  uint8_t* lung = k.lungs.voxels.data_ptr<uint8_t>();
  uint8_t* lesion = k.lesions.voxels.data_ptr<uint8_t>();
  for (int64_t z = 0; z < 300; ++z)
    for (int64_t y = 0; y < 512; ++y)
      for (int64_t x = 0; x < 512; ++x) {
        const int64_t i = (z * 512 + y) * 512 + x;
        hu[i] = float(-900 + (x * 7 + y * 13 + z * 3) % 200) + (fractional ? 0.5f : 0.f);
        for (int side = 0; side < 2; ++side) {
          const double cx = side == 0 ? 135.0 : 377.0, dx = (x - cx) / 110, dy = (y - 250.0) / 150, dz = (z - 150.0) / 135;
          if (dx * dx + dy * dy + dz * dz > 1.0) continue;
          lung[i] = uint8_t(side + 1);
          if (y > 300) lesion[i] = x % 2 ? 1 : 2;
        }
      }
  return k;
}

void BM_Quantify(benchmark::State& state) {
  const char* threads = std::getenv("PULMO_BENCH_THREADS");
  const int used = pulmo::set_threads(threads ? std::atoi(threads) : 0);
  const Case& c = chest(state.range(0) != 0);
  double involved = 0;
  for (auto _ : state) involved = pulmo::quantify(c.ct, c.lungs, c.lesions).regions[pulmo::kTotal].involved_percent;
  state.counters["involved_percent"] = involved;
  state.counters["threads"] = used;
}
BENCHMARK(BM_Quantify)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime()->MeasureProcessCPUTime();

void BM_ReportHtml(benchmark::State& state) {
  const char* threads = std::getenv("PULMO_BENCH_THREADS");
  pulmo::set_threads(threads ? std::atoi(threads) : 0);
  const Case& c = chest(false);
  const pulmo::Quantification q = pulmo::quantify(c.ct, c.lungs, c.lesions);
  pulmo::ReportMeta meta;
  meta.input_geometry = c.ct.geometry;
  const std::string path = (std::filesystem::temp_directory_path() / "pulmo_bench_report.html").string();
  for (auto _ : state) pulmo::write_report_html(path, c.ct, c.lungs, c.lesions, q, meta);
  state.counters["html_kb"] = double(std::filesystem::file_size(path)) / 1024.0;
  std::filesystem::remove(path);
}
BENCHMARK(BM_ReportHtml)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime()->MeasureProcessCPUTime();

}  // namespace

BENCHMARK_MAIN();
