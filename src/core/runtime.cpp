#include "pulmo/runtime.h"

#include <ATen/Parallel.h>
#include <gdcmTrace.h>
#include <itkMultiThreaderBase.h>
#include <itkObject.h>
#include <omp.h>
#include <sched.h>

#include <thread>

namespace pulmo {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

void quiet_third_party_warnings() {
  // GDCM prints "Please report. Missing dict entry" for private tags of ordinary files,
  // and ITK pops warnings to stderr; pulmo reports what matters itself.
  gdcm::Trace::WarningOff();
  gdcm::Trace::DebugOff();
  itk::Object::GlobalWarningDisplayOff();
}

int set_threads(int threads) {
  quiet_third_party_warnings();
  const int n = threads > 0 ? threads : available_cores();
  omp_set_num_threads(n);
  at::set_num_threads(n);
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(n);
  itk::MultiThreaderBase::SetGlobalMaximumNumberOfThreads(std::max(n, 1));
  return n;
}

}  // namespace pulmo
