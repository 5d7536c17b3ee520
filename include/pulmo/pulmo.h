// pulmo - quantification of COVID-19 lung involvement from chest CT.
//
// Usage (examples/read_and_describe.cpp):
//
//   #include <pulmo/pulmo.h>
//   pulmo::set_threads();                                    // all cores (LibTorch starts with one)
//   pulmo::Volume ct = pulmo::read_volume("ct.nii.gz");      // or a DICOM folder
//   std::cout << ct.geometry.describe();                     // size, spacing, orientation, origin
//   pulmo::write_volume(ct, "copy.nrrd");                    // same geometry, atomic write
//
// Volume::voxels is a [z, y, x] tensor; geometry is ITK's (LPS, (x, y, z) arrays).
// Errors are pulmo::Error with an ExitCode (docs/exit-codes.md).
#pragma once

#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/eval.h"
#include "pulmo/geometry.h"
#include "pulmo/io.h"
#include "pulmo/runtime.h"
#include "pulmo/stats.h"
#include "pulmo/synth.h"
#include "pulmo/volume.h"
