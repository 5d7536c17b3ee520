// Surface metrics of a pair of 512x512x300 lung-sized masks (target: <= 2 s, peak memory < 1.5 GB on 2 cores).
// The masks are two ellipsoids per side (about the size of adult lungs at 0.7 x 0.7 x 1 mm); the prediction is
// shifted by 2 voxels and 3 voxels larger, so that the surfaces differ everywhere.
//   ./build/bench/bench_eval            (reports time per evaluation and the process's peak RSS)
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cmath>
#include <cstdlib>

#include <itkImage.h>
#include <itkSignedMaurerDistanceMapImageFilter.h>

#include "eval/surfels.h"
#include "pulmo/eval.h"
#include "pulmo/runtime.h"

namespace {

// Two ellipsoidal "lungs" in a [300, 512, 512] bool mask (built slice by slice to keep setup memory small).
at::Tensor lungs(double shift_x, double grow) {
  at::Tensor mask = at::zeros({300, 512, 512}, at::kBool);
  bool* m = mask.data_ptr<bool>();
  for (int z = 0; z < 300; ++z)
    for (int y = 0; y < 512; ++y)
      for (int x = 0; x < 512; ++x)
        for (double cx : {135.0, 377.0}) {
          const double dx = (x - (cx + shift_x)) / (110 + grow), dy = (y - 250.0) / (150 + grow),
                       dz = (z - 150.0) / (135 + grow);
          if (dx * dx + dy * dy + dz * dz <= 1.0) m[(int64_t(z) * 512 + y) * 512 + x] = true;
        }
  return mask;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;  // kB on Linux
}

// A sphere of radius 8 voxels centred at (z, y, x) added to a mask (a far false positive).
void add_blob(at::Tensor& mask, int cz, int cy, int cx) {
  bool* m = mask.data_ptr<bool>();
  for (int z = cz - 8; z <= cz + 8; ++z)
    for (int y = cy - 8; y <= cy + 8; ++y)
      for (int x = cx - 8; x <= cx + 8; ++x)
        if ((z - cz) * (z - cz) + (y - cy) * (y - cy) + (x - cx) * (x - cx) <= 64) m[(int64_t(z) * 512 + y) * 512 + x] = true;
}

void BM_SurfaceMetricsLungPair(benchmark::State& state) {
  const char* threads = std::getenv("PULMO_BENCH_THREADS");  // default: all cores
  const int used = pulmo::set_threads(threads ? std::atoi(threads) : 0);
  const at::Tensor ref = lungs(0, 0);
  at::Tensor pred = lungs(2, 3);
  if (state.range(0)) add_blob(pred, 150, 450, 256);  // 50 voxels (35 mm) below the lungs' front
  const std::vector<double> spacing{0.7, 0.7, 1.0};  // (x, y, z) mm
  const double rss_before = peak_rss_mb();
  double sdsc = 0;
  for (auto _ : state) {
    const pulmo::SurfaceDistances sd = pulmo::compute_surface_distances(ref, pred, spacing);
    sdsc = pulmo::surface_dice_at(sd, 5.0);
    benchmark::DoNotOptimize(pulmo::hd_at(sd, 95.0) + pulmo::hd_at(sd, 100.0) + pulmo::average_symmetric_surface_distance(sd));
  }
  state.counters["sdsc_5mm"] = sdsc;
  state.counters["peak_rss_mb"] = peak_rss_mb();
  state.counters["peak_rss_mb_before"] = rss_before;
  state.counters["threads"] = used;
}
// Arg 0: the prediction's surface lies within 3.5 mm of the reference's; arg 1: plus a false positive 35 mm away.
// Time: wall clock; CPU: all threads of the process.
BENCHMARK(BM_SurfaceMetricsLungPair)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime()->MeasureProcessCPUTime();

// The distance-transform step alone, on the corner grid of the lungs' bounding box (278 x 308 x 470 points,
// 1 x 0.7 x 0.7 mm) with the reference lungs' surface as seeds: pulmo's separable exact EDT (used only as the
// fallback) against ITK's SignedMaurerDistanceMapImageFilter (squared, image spacing).
std::vector<uint8_t> lung_surface_seeds(std::array<int64_t, 3>& shape) {
  shape = {278, 308, 470};
  std::vector<uint8_t> seeds(static_cast<size_t>(shape[0] * shape[1] * shape[2]), 0);
  for (int64_t z = 0; z < shape[0]; ++z)
    for (int64_t y = 0; y < shape[1]; ++y)
      for (int64_t x = 0; x < shape[2]; ++x)
        for (double cx : {110.0, 352.0}) {
          const double dx = (x - cx) / 110, dy = (y - 153.0) / 150, dz = (z - 138.0) / 135;
          const double r = std::sqrt(dx * dx + dy * dy + dz * dz);
          if (r <= 1.0 && r > 0.99) seeds[(z * shape[1] + y) * shape[2] + x] = 1;
        }
  return seeds;
}

void BM_DistanceTransformPulmo(benchmark::State& state) {
  pulmo::set_threads(0);
  std::array<int64_t, 3> shape;
  const std::vector<uint8_t> seeds = lung_surface_seeds(shape);
  std::vector<double> sq;
  for (auto _ : state) pulmo::eval_detail::squared_distance_transform(seeds.data(), shape, {1.0, 0.7, 0.7}, sq);
  state.counters["peak_rss_mb"] = peak_rss_mb();
}
BENCHMARK(BM_DistanceTransformPulmo)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime()->MeasureProcessCPUTime();

void BM_DistanceTransformItkMaurer(benchmark::State& state) {
  pulmo::set_threads(0);
  std::array<int64_t, 3> shape;
  const std::vector<uint8_t> seeds = lung_surface_seeds(shape);
  using Image = itk::Image<uint8_t, 3>;
  auto image = Image::New();
  Image::RegionType region;
  region.SetSize({static_cast<itk::SizeValueType>(shape[2]), static_cast<itk::SizeValueType>(shape[1]),
                  static_cast<itk::SizeValueType>(shape[0])});
  image->SetRegions(region);
  const double spacing[3] = {0.7, 0.7, 1.0};
  image->SetSpacing(spacing);
  image->Allocate();
  std::copy(seeds.begin(), seeds.end(), image->GetBufferPointer());
  for (auto _ : state) {
    auto filter = itk::SignedMaurerDistanceMapImageFilter<Image, itk::Image<float, 3>>::New();
    filter->SetInput(image);
    filter->SetSquaredDistance(true);
    filter->SetUseImageSpacing(true);
    filter->SetInsideIsPositive(false);
    filter->Update();
    benchmark::DoNotOptimize(filter->GetOutput()->GetBufferPointer());
  }
  state.counters["peak_rss_mb"] = peak_rss_mb();
}
BENCHMARK(BM_DistanceTransformItkMaurer)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime()->MeasureProcessCPUTime();

}  // namespace

BENCHMARK_MAIN();
