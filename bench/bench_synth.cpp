// Phantom generation time (pulmo::synth::make_phantom, in memory, no file writing).
//   ./build/bench/bench_synth                      # all threads
//   ./build/bench/bench_synth --benchmark_filter=256
#include <benchmark/benchmark.h>

#include "pulmo/runtime.h"
#include "pulmo/synth.h"

static void BM_MakePhantom(benchmark::State& state) {
  pulmo::set_threads();
  pulmo::synth::PhantomOptions o;
  o.size = {state.range(0), state.range(1), state.range(2)};
  o.spacing_mm = {0.8, 0.8, state.range(2) > 200 ? 1.0 : 2.5};
  o.involvement = 0.3;
  for (auto _ : state) {
    o.seed++;
    pulmo::synth::Phantom p = pulmo::synth::make_phantom(o);
    benchmark::DoNotOptimize(p.ct.voxels.data_ptr());
  }
  state.counters["Mvoxel/s"] = benchmark::Counter(static_cast<double>(o.size[0] * o.size[1] * o.size[2]) * 1e-6,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MakePhantom)->Args({160, 160, 96})->Args({256, 256, 128})->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_MakePhantom)->Args({512, 512, 300})->Unit(benchmark::kMillisecond)->Iterations(2);

static void BM_InsertLesions(benchmark::State& state) {
  pulmo::set_threads();
  pulmo::synth::PhantomOptions o;
  o.size = {256, 256, 128};
  o.involvement = 0.0;
  const pulmo::synth::Phantom healthy = pulmo::synth::make_phantom(o);
  o.involvement = 0.3;
  for (auto _ : state) {
    o.seed++;
    pulmo::synth::Phantom p = pulmo::synth::insert_lesions(healthy.ct, healthy.lungs, o);
    benchmark::DoNotOptimize(p.ct.voxels.data_ptr());
  }
}
BENCHMARK(BM_InsertLesions)->Unit(benchmark::kMillisecond)->MinTime(2.0);

BENCHMARK_MAIN();
