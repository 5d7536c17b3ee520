// Internal to src/report: the interactive viewer section of report.html (NiiVue, embedded at build time when
// scripts/fetch-niivue.sh has fetched it; docs/report.md "Interactive viewer").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pulmo/report.h"

namespace pulmo::report_detail {

// The NiiVue browser bundle built into this pulmo (empty when it was built without one) and its version.
std::string_view niivue_bundle();
const char* niivue_version();

// The volumes as the viewer carries them: every axis at most kViewerMaxVoxels voxels.
constexpr int64_t kViewerMaxVoxels = 256;

// The section: controls, canvas, the volumes as base64 .nii.gz (CT in 8 bits over -1024..476 HU with the NIfTI
// intensity scale back to HU, labels uint8, lesions inside the lungs only), NiiVue and the page's script. Without an embedded NiiVue, a paragraph that
// says so. `lesions` may be undefined. `scratch`: a path whose folder takes the temporary .nii.gz files (the page's).
std::string viewer_section(const std::string& scratch, const Volume& ct, const Volume& lungs, const Volume& lesions, bool lesion_types_known);

}  // namespace pulmo::report_detail
