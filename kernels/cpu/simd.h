// simd.h: <immintrin.h> for the hand-written AVX-512 paths, and the one run-time check of the CPU's support.
// GCC 12 reports false "may be used uninitialized" warnings from inside its own intrinsics headers (the
// _mm512_undefined_ps() pass-through operands), also where the intrinsics are inlined into the including file's
// functions; so after including this header that warning stays off for the rest of that file (the fast-path
// kernels' files only).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define FS_X86_SIMD 1

namespace fs {
/// True when this CPU runs AVX-512F (checked once).
inline bool cpu_has_avx512f() {
    static const bool b = __builtin_cpu_supports("avx512f");
    return b;
}
}  // namespace fs
#endif
