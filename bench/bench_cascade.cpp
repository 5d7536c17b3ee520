// The whole cascade on a 512x512x300 chest CT (target: <= 20 s and <= 3 GB peak memory on 2 cores), with the time
// of each stage. The CT is a synthetic phantom (0.7 x 0.7 x 1 mm, 25 % involvement) made before timing starts.
//   ./build/bench/bench_cascade                 (PULMO_MODELS=folder to time other models; PULMO_BENCH_THREADS=n)
// Reported counters: seconds per stage (read/write excluded: bench_io measures them), peak RSS of the process.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdlib>
#include <iostream>
#include <map>

#include "pulmo/pipeline.h"
#include "pulmo/quantify.h"
#include "pulmo/runtime.h"
#include "pulmo/synth.h"

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;  // kB on Linux
}

const pulmo::synth::Phantom& phantom() {
  static const pulmo::synth::Phantom p = [] {
    pulmo::synth::PhantomOptions o;
    o.size = {512, 512, 300};
    o.spacing_mm = {0.7, 0.7, 1.0};
    o.involvement = 0.25;
    o.seed = 5;
    return pulmo::synth::make_phantom(o);
  }();
  return p;
}

void BM_CascadeWholeCt(benchmark::State& state) {
  const char* threads = std::getenv("PULMO_BENCH_THREADS");
  const int used = pulmo::set_threads(threads ? std::atoi(threads) : 0);
  const pulmo::synth::Phantom& p = phantom();
  pulmo::CascadeOptions o;
  const char* methods[] = {"", "classical", "cascade", "hybrid"};  // "" = the models folder's choice (cascade.json)
  o.lungs = methods[state.range(0)];
  o.bfloat16 = state.range(1) != 0;
  std::map<std::string, double> stage_seconds;
  double quantify_s = 0, involved = 0;
  for (auto _ : state) {
    const pulmo::CascadeResult r = pulmo::run_cascade(p.ct, o);
    const auto t0 = std::chrono::steady_clock::now();
    const pulmo::Quantification q = pulmo::quantify(p.ct, r.lungs, r.lesions);
    quantify_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    involved = q.regions[pulmo::kTotal].involved_percent;
    for (const pulmo::StageRecord& s : r.stages) stage_seconds[s.stage] += s.seconds;
  }
  const double n = static_cast<double>(state.iterations());
  for (const auto& [stage, s] : stage_seconds) state.counters[stage + "_s"] = s / n;
  state.counters["quantify_s"] = quantify_s / n;
  state.counters["involved_pct"] = involved;
  state.counters["truth_pct"] = p.involved_percent;
  state.counters["peak_rss_mb"] = peak_rss_mb();
  state.counters["threads"] = used;
}
// Args: {lungs (0 the models' choice, 1 classical, 2 cascade, 3 hybrid), bfloat16 (0/1)}.
BENCHMARK(BM_CascadeWholeCt)->Args({0, 0})->Args({0, 1})->Args({2, 0})->Args({3, 0})->ArgNames({"lungs", "bf16"})->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
