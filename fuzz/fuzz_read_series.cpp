// libFuzzer target: pulmo's DICOM series reader (read_volume on a folder) on arbitrary files. The input is split
// at each "\nPULMO-NEXT-SLICE\n" into up to 8 files of one folder (slice_0.dcm, slice_1.dcm, ...): the series scan,
// grouping, sorting by position, gap and tilt checks and the per-slice value checks all see several slices, which
// the single-file selector of fuzz_read_volume.cpp never reaches. Every input must end in a volume or a
// pulmo::Error; anything else is a finding (docs/fuzzing.md).
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/runtime.h"

namespace fs = std::filesystem;

namespace {

constexpr char kSeparator[] = "\nPULMO-NEXT-SLICE\n";
constexpr int kMaxFiles = 8;

const fs::path& work_dir() {
  static const fs::path dir = [] {
    const fs::path d = fs::temp_directory_path() / ("pulmo-fuzz-series-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pulmo::set_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const fs::path folder = work_dir() / "series";
  std::error_code ec;
  fs::remove_all(folder, ec);
  fs::create_directories(folder);
  size_t at = 0;
  for (int k = 0; k < kMaxFiles && at <= bytes.size(); ++k) {
    const size_t next = bytes.find(kSeparator, at);
    const size_t end = next == std::string::npos || k == kMaxFiles - 1 ? bytes.size() : next;
    std::ofstream((folder / ("slice_" + std::to_string(k) + ".dcm")).string(), std::ios::binary)
        .write(bytes.data() + at, static_cast<std::streamsize>(end - at));
    if (end == bytes.size()) break;
    at = end + sizeof kSeparator - 1;
  }
  try {
    pulmo::read_volume(folder.string());
  } catch (const pulmo::Error&) {
    // a refusal with an exit code: the expected outcome for garbage
  }
  return 0;
}
