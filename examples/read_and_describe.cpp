// The smallest program on pulmo's public API: read a CT, print where it sits.
// From the repository root, after the build (scripts/build.sh):
//   build/pulmo_example ../shared/data/ct/totalsegmentator/pulmonary_ct_cropped.nii.gz   (or any CT of yours)
#include <pulmo/pulmo.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: pulmo_example CT (NIfTI/NRRD/MHA file or DICOM folder)\n";
    return 2;
  }
  try {
    pulmo::set_threads();
    pulmo::SourceInfo source;
    const pulmo::Volume ct = pulmo::read_volume(argv[1], {}, &source);
    const pulmo::IntensityStats stats = pulmo::intensity_stats(ct, {50});
    std::cout << pulmo::format_name(source.format) << ": " << ct.geometry.describe() << ", median "
              << stats.percentiles[0].second << "\n";
    return 0;
  } catch (const pulmo::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return static_cast<int>(e.code());
  }
}
