// The LungQuant cascade on one chest CT through pulmo's public API only: read the CT, find the lungs and the
// lesions with the shipped models, quantify, print the involvement of each lung, write the two masks.
// From the repository root, after the build (scripts/build.sh):
//   build/pulmo_example_quantify ../shared/data/ct/lung-pet-ct-dx/A0002_series3        (a DICOM folder)
//   build/pulmo_example_quantify ../shared/data/ct/totalsegmentator/pulmonary_ct_cropped.nii.gz lungs.nii.gz lesions.nii.gz
// (../shared/data: the shared real data beside the checkout; any CT of yours will do, or one from `pulmo synth`.)
// The models are found as `pulmo quantify` finds them (pulmo::default_models_dir(): $PULMO_MODELS, else the
// models/ folder next to the build folder). The masks are written in the CT's exact geometry.
#include <pulmo/error.h>
#include <pulmo/io.h>
#include <pulmo/pipeline.h>
#include <pulmo/quantify.h>
#include <pulmo/runtime.h>

#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    std::cerr << "usage: pulmo_example_quantify CT [LUNGS_OUT LESIONS_OUT]   (CT: NIfTI/NRRD/MHA file or DICOM folder)\n";
    return 2;
  }
  try {
    pulmo::set_threads();
    const pulmo::Volume ct = pulmo::read_volume(argv[1]);  // HU, any orientation

    pulmo::CascadeOptions options;                         // the default models, all three stages
    options.progress = [](const std::string& line) { std::cerr << line << "\n"; };
    const pulmo::CascadeResult result = pulmo::run_cascade(ct, options);
    const pulmo::Quantification q = pulmo::quantify(ct, result.lungs, result.lesions);

    for (const pulmo::RegionQuantification& r : q.regions)
      std::printf("%-5s lung: %7.1f mL, lesions %6.1f mL, involved %5.1f %%, CT severity score %d\n", r.name.c_str(),
                  r.lung_ml, r.lesion_ml, r.involved_percent, r.severity_score);
    for (const std::string& w : result.warnings) std::cerr << "warning: " << w << "\n";
    if (argc == 4) {
      pulmo::write_volume(result.lungs, argv[2]);    // 1 right lung, 2 left lung
      pulmo::write_volume(result.lesions, argv[3]);  // 1 ground-glass, 2 consolidation
    }
    return 0;
  } catch (const pulmo::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return static_cast<int>(e.code());
  }
}
