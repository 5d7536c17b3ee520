// libFuzzer target: pulmo::read_volume on arbitrary bytes, as NIfTI (.nii, .nii.gz), NRRD, MetaImage,
// a single DICOM file, or a DICOM folder holding the file. The first input byte picks the format.
// Every input must end in a volume or a pulmo::Error; anything else (a crash, an ASan report, another
// exception, an abort) is a finding. See docs/fuzzing.md.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/runtime.h"

namespace fs = std::filesystem;

namespace {

const char* const kExtensions[] = {".nii", ".nii.gz", ".nrrd", ".mha", ".dcm", "/"};

const fs::path& work_dir() {
  static const fs::path dir = [] {
    const fs::path d = fs::temp_directory_path() / ("pulmo-fuzz-" + std::to_string(::getpid()));
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
  if (size < 1) return 0;
  const std::string ext = kExtensions[data[0] % (sizeof kExtensions / sizeof *kExtensions)];
  std::error_code ec;
  fs::remove_all(work_dir() / "in", ec);
  fs::create_directories(work_dir() / "in");
  std::string path;
  if (ext == "/") {
    path = (work_dir() / "in").string();
    std::ofstream((work_dir() / "in" / "slice.dcm").string(), std::ios::binary)
        .write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  } else {
    path = (work_dir() / "in" / ("input" + ext)).string();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  try {
    pulmo::read_volume(path);
  } catch (const pulmo::Error&) {
    // a refusal with an exit code: the expected outcome for garbage
  }
  return 0;
}
