// The NiiVue bundle, built into the binary with the assembler's .incbin when CMake found it (src/CMakeLists.txt
// passes its path and SHA-256: the hash makes the compiler cache see a new bundle as a new source).
#include "report/viewer.h"

#ifdef PULMO_NIIVUE_JS
__asm__(".pushsection .rodata\n"
        ".global pulmo_niivue_js_begin\n.hidden pulmo_niivue_js_begin\npulmo_niivue_js_begin:\n"
        ".incbin \"" PULMO_NIIVUE_JS "\"\n"
        ".global pulmo_niivue_js_end\n.hidden pulmo_niivue_js_end\npulmo_niivue_js_end:\n"
        ".byte 0\n.popsection\n");
extern "C" const char pulmo_niivue_js_begin[];
extern "C" const char pulmo_niivue_js_end[];
static const char* const kNiivueSha256 = PULMO_NIIVUE_SHA256;
#endif

namespace pulmo::report_detail {

std::string_view niivue_bundle() {
#ifdef PULMO_NIIVUE_JS
  (void)kNiivueSha256;
  return std::string_view(pulmo_niivue_js_begin, size_t(pulmo_niivue_js_end - pulmo_niivue_js_begin));
#else
  return {};
#endif
}

const char* niivue_version() {
#ifdef PULMO_NIIVUE_VERSION
  return PULMO_NIIVUE_VERSION;
#else
  return "";
#endif
}

}  // namespace pulmo::report_detail
