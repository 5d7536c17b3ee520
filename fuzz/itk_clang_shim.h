// Force-included into the fuzz target (clang): Debian's ITK 5.2 was built with GCC and its generated
// itk_compiler_detection.h knows only GCC ("#error Unsupported compiler" under clang). Run that header
// once as if the compiler were GCC 12 (its include guard keeps it from running again), then restore
// the compiler macros, so every other header still sees clang.
#pragma once
#if defined(__clang__) && defined(__cplusplus)
#pragma push_macro("__GNUC__")
#pragma push_macro("__GNUC_MINOR__")
#pragma push_macro("__clang__")
#undef __GNUC__
#undef __GNUC_MINOR__
#undef __clang__
#define __GNUC__ 12
#define __GNUC_MINOR__ 2
#include <itk_compiler_detection.h>
#pragma pop_macro("__clang__")
#pragma pop_macro("__GNUC_MINOR__")
#pragma pop_macro("__GNUC__")
#endif
