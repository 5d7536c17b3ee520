// Training throughput: a 3-D U-Net (base width 16, 4 levels) on 96^3 patches, batch 2, Adam; and the
// loader's time per sample (crop + flips + rotation/scaling + intensity) next to the step time, with the
// time the network waited for data when the loader runs in a worker thread.
//   ./build/bench/bench_train --benchmark_counters_tabular=true
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <torch/optim/adam.h>

#include <chrono>

#include "pulmo/loader.h"
#include "pulmo/losses.h"
#include "pulmo/nn.h"
#include "pulmo/runtime.h"
#include "pulmo/transforms.h"

using namespace pulmo;

namespace {

NetworkOptions bench_unet() {
  NetworkOptions o;
  o.unet.depth = 4;
  o.unet.base_width = 16;
  o.unet.out_channels = 3;
  return o;
}

// A 192x192x128 "CT" (normalised) with a lung-like label: the loader's cost does not depend on content.
Sample big_case() {
  Sample s;
  s.image = at::rand({128, 192, 192});
  at::Tensor label = at::zeros({128, 192, 192}, at::kByte);
  label.slice(0, 20, 110).slice(1, 40, 150).slice(2, 20, 90).fill_(1);
  label.slice(0, 20, 110).slice(1, 40, 150).slice(2, 100, 170).fill_(2);
  s.label = label;
  s.spacing_mm = {1.5, 1.5, 1.5};
  index_foreground(s);
  return s;
}

std::shared_ptr<Compose> pipeline() {
  auto c = std::make_shared<Compose>();
  CropOptions crop;
  crop.patch = {96, 96, 96};
  c->add(random_crop(crop));
  c->add(random_flip({}));
  SpatialOptions sp;  // always rotate/scale here: the worst case
  sp.probability = 1.0;
  c->add(random_spatial(sp));
  c->add(random_intensity({}));
  return c;
}

void BM_LoaderSample(benchmark::State& state) {
  set_threads(1);  // as in a worker thread
  const Sample base = big_case();
  const auto pipe = pipeline();
  uint64_t seed = 0;
  for (auto _ : state) {
    Sample s = base;
    pipe->apply(s, seed++);
    benchmark::DoNotOptimize(s.image.data_ptr());
  }
  state.counters["samples_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LoaderSample)->Unit(benchmark::kMillisecond)->Iterations(8)->UseRealTime();

void BM_TrainStep(benchmark::State& state) {
  set_threads(0);
  const std::vector<Sample> cases{big_case()};
  LoaderOptions lo;
  lo.batch_size = 2;
  lo.workers = 1;
  BatchLoader loader(cases, pipeline(), lo);
  auto net = make_network(bench_unet());
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  double wait_ms = 0, step_ms = 0;
  for (auto _ : state) {
    const Batch b = loader.next();
    wait_ms += loader.last_wait_ms();
    const auto t0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    at::Tensor loss = segmentation_loss(net->forward(b.image), b.label);
    loss.backward();
    opt.step();
    step_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["samples_per_s"] = benchmark::Counter(2.0 * n, benchmark::Counter::kIsRate);
  state.counters["step_ms"] = step_ms / n;
  state.counters["loader_wait_ms"] = wait_ms / n;
  state.counters["params"] = static_cast<double>(count_parameters(*net));
}
BENCHMARK(BM_TrainStep)->Unit(benchmark::kSecond)->Iterations(4)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
