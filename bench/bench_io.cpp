// Reading a 512x512x300 CT: pulmo::read_volume next to ITK's plain readers on the same files.
// The ratio is what counts. Peak memory: each read runs once more in a forked child, whose
// peak RSS (getrusage of the child) is reported next to an idle child's (the libraries alone).
//
//   ./build/bench/bench_io                       # files generated once under $PULMO_BENCH_DIR or /tmp/pulmo-bench
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <itkGDCMImageIO.h>
#include <itkGDCMSeriesFileNames.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageSeriesReader.h>
#include <itkMetaDataObject.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>

#include "io/itk_bridge.h"
#include "pulmo/io.h"
#include "pulmo/runtime.h"

namespace fs = std::filesystem;

namespace {

constexpr int kX = 512, kY = 512, kZ = 300;

fs::path bench_dir() {
  const char* env = std::getenv("PULMO_BENCH_DIR");
  return env ? fs::path(env) : fs::temp_directory_path() / "pulmo-bench";
}

// A CT-like volume: air, an elliptic body of soft tissue with two lungs, noise (so it compresses like CT).
pulmo::Volume synthetic_ct() {
  pulmo::Geometry g;
  g.size = {kX, kY, kZ};
  g.spacing_mm = {0.7, 0.7, 1.0};
  g.origin_mm = {-179.0, -179.0, -300.0};
  auto x = (at::arange(kX, at::kFloat) - kX / 2.0f).view({1, 1, kX}) / (kX * 0.45f);
  auto y = (at::arange(kY, at::kFloat) - kY / 2.0f).view({1, kY, 1}) / (kY * 0.33f);
  auto body = (x * x + y * y) < 1.0f;
  auto lx = (x.abs() - 0.45f) / 0.3f, ly = y / 0.7f;
  auto lungs = (lx * lx + ly * ly) < 1.0f;
  at::manual_seed(1);
  auto hu = at::full({kZ, kY, kX}, -1000.0f) + at::randn({kZ, kY, kX}) * 15.0f;
  hu = at::where(body, hu + 1040.0f, hu);
  hu = at::where(lungs & body, hu - 890.0f, hu);
  pulmo::Volume v;
  v.geometry = g;
  v.voxels = hu.round().to(at::kShort).contiguous();
  return v;
}

const fs::path& nifti_file() {
  static const fs::path p = [] {
    const fs::path f = bench_dir() / "ct_512x512x300.nii.gz";
    if (!fs::exists(f)) {
      fs::create_directories(f.parent_path());
      std::fprintf(stderr, "bench_io: writing %s (once)\n", f.c_str());
      pulmo::write_volume(synthetic_ct(), f.string());
    }
    return f;
  }();
  return p;
}

const fs::path& dicom_folder() {
  static const fs::path p = [] {
    const fs::path dir = bench_dir() / "ct_512x512x300_dicom";
    if (!fs::exists(dir / "done")) {
      fs::create_directories(dir);
      std::fprintf(stderr, "bench_io: writing %d DICOM slices to %s (once)\n", kZ, dir.c_str());
      const pulmo::Volume v = synthetic_ct();
      using Image = itk::Image<int16_t, 3>;
      for (int k = 0; k < kZ; ++k) {
        pulmo::Volume slice;
        slice.geometry = v.geometry;
        slice.geometry.size[2] = 1;
        slice.geometry.origin_mm = v.geometry.index_to_physical({0, 0, double(k)});
        slice.voxels = v.voxels.narrow(0, k, 1).contiguous();
        auto image = pulmo::io::to_itk<int16_t>(slice);
        auto io = itk::GDCMImageIO::New();
        io->KeepOriginalUIDOn();
        auto& dict = io->GetMetaDataDictionary();
        itk::EncapsulateMetaData<std::string>(dict, "0008|0060", "CT");
        itk::EncapsulateMetaData<std::string>(dict, "0020|000d", "1.2.826.0.1.3680043.9.7778");
        itk::EncapsulateMetaData<std::string>(dict, "0020|000e", "1.2.826.0.1.3680043.9.7778.1");
        itk::EncapsulateMetaData<std::string>(dict, "0008|0018", "1.2.826.0.1.3680043.9.7778.1." + std::to_string(k + 1));
        itk::EncapsulateMetaData<std::string>(dict, "0020|0013", std::to_string(k + 1));
        auto writer = itk::ImageFileWriter<Image>::New();
        char name[32];
        std::snprintf(name, sizeof name, "IM%04d.dcm", k);
        writer->SetFileName((dir / name).string());
        writer->SetInput(image);
        writer->SetImageIO(io);
        writer->SetUseInputMetaDataDictionary(false);
        writer->Update();
      }
      std::FILE* f = std::fopen((dir / "done").c_str(), "w");
      if (f) std::fclose(f);
    }
    return dir;
  }();
  return p;
}

// Peak RSS (MiB) of a fresh process (this program, re-executed) that runs one named read and
// prints its own VmHWM. (fork() alone would deadlock: OpenMP and ITK threads do not survive it;
// the rusage of a spawned child would include the parent's high-water mark.)
double child_peak_rss_mib(const std::string& job) {
  const std::string cmd = "'" + fs::read_symlink("/proc/self/exe").string() + "' --child " + job;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  double kib = -1;
  if (std::fscanf(p, "%lf", &kib) != 1) kib = -1;
  return pclose(p) == 0 && kib > 0 ? kib / 1024.0 : -1;
}

double own_peak_rss_kib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  double kib = -1;
  while (f && std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
  if (f) std::fclose(f);
  return kib;
}

void run_child_job(const std::string& job);

void report(benchmark::State& state, const std::string& job) {
  state.counters["peak_rss_MiB"] = child_peak_rss_mib(job);
  state.counters["idle_rss_MiB"] = child_peak_rss_mib("idle");
  state.counters["voxels_per_s"] = benchmark::Counter(double(kX) * kY * kZ, benchmark::Counter::kIsIterationInvariantRate);
}

void itk_read_nifti(const std::string& f) {
  auto reader = itk::ImageFileReader<itk::Image<float, 3>>::New();
  reader->SetFileName(f);
  reader->Update();
  benchmark::DoNotOptimize(reader->GetOutput()->GetBufferPointer());
}

// ITK's documented way to read a series: GDCMSeriesFileNames sorts, ImageSeriesReader reads.
void itk_read_dicom(const std::string& d) {
  auto names = itk::GDCMSeriesFileNames::New();
  names->SetUseSeriesDetails(true);
  names->SetDirectory(d);
  const auto uids = names->GetSeriesUIDs();
  auto reader = itk::ImageSeriesReader<itk::Image<float, 3>>::New();
  reader->SetImageIO(itk::GDCMImageIO::New());
  reader->SetFileNames(names->GetFileNames(uids.front()));
  reader->Update();
  benchmark::DoNotOptimize(reader->GetOutput()->GetBufferPointer());
}

void run_child_job(const std::string& job) {
  if (job == "nifti_pulmo") pulmo::read_volume(nifti_file().string());
  if (job == "nifti_itk") itk_read_nifti(nifti_file().string());
  if (job == "dicom_pulmo") pulmo::read_volume(dicom_folder().string());
  if (job == "dicom_itk") itk_read_dicom(dicom_folder().string());
}

void BM_Nifti_PulmoReadVolume(benchmark::State& state) {
  const std::string f = nifti_file().string();
  for (auto _ : state) benchmark::DoNotOptimize(pulmo::read_volume(f).voxels.data_ptr());
  report(state, "nifti_pulmo");
}

void BM_Nifti_ItkImageFileReader(benchmark::State& state) {
  const std::string f = nifti_file().string();
  for (auto _ : state) itk_read_nifti(f);
  report(state, "nifti_itk");
}

void BM_Dicom_PulmoReadVolume(benchmark::State& state) {
  const std::string d = dicom_folder().string();
  for (auto _ : state) benchmark::DoNotOptimize(pulmo::read_volume(d).voxels.data_ptr());
  report(state, "dicom_pulmo");
}

void BM_Dicom_ItkSeriesReader(benchmark::State& state) {
  const std::string d = dicom_folder().string();
  for (auto _ : state) itk_read_dicom(d);
  report(state, "dicom_itk");
}

}  // namespace

BENCHMARK(BM_Nifti_PulmoReadVolume)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Nifti_ItkImageFileReader)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Dicom_PulmoReadVolume)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Dicom_ItkSeriesReader)->Unit(benchmark::kMillisecond)->Iterations(3);

int main(int argc, char** argv) {
  pulmo::set_threads();
  if (argc == 3 && std::string(argv[1]) == "--child") {
    run_child_job(argv[2]);
    std::printf("%.0f\n", own_peak_rss_kib());
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  nifti_file();
  dicom_folder();
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
