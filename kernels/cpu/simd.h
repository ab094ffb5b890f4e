// simd.h: <immintrin.h> for the hand-written AVX-512 paths, and the one run-time check of the CPU's support.
// GCC 12 reports false "may be used uninitialized" warnings from inside its own intrinsics headers (the
// _mm512_undefined_ps() pass-through operands), also where the intrinsics are inlined into the including file's
// functions; so after including this header that warning stays off for the rest of that file (the fast-path
// kernels' files only).
#pragma once

#include "kernels/fast.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define FS_X86_SIMD 1

namespace fs {
/// True when the AVX-512 paths may run: the CPU has AVX-512 (F, DQ, BW, VL) and the SIMD cap allows it.
inline bool cpu_has_avx512f() { return simd_level() >= SimdLevel::avx512; }
/// True when the AVX2 + FMA paths may run (also on an AVX-512 CPU: they are the fallback of the AVX-512 ones).
inline bool cpu_has_avx2() { return simd_level() >= SimdLevel::avx2; }

// --- AVX2 helpers shared by the AVX2 kernels (callers are compiled with target("avx2,fma") or "avx2") ---------
/// Σ of the 8 lanes.
__attribute__((target("avx2"))) inline float hsum8_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
/// Σ of the 4 double lanes.
__attribute__((target("avx2"))) inline double hsum4d_avx2(__m256d v) {
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
/// The first min(n, 8) lanes set, as a maskload / maskstore mask.
__attribute__((target("avx2"))) inline __m256i lane_mask8_avx2(int64_t n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n < 8 ? n : 8)), lane);
}
/// The 8 floats at p, or the first n of them (the rest 0) when n < 8.
__attribute__((target("avx2"))) inline __m256 load8_avx2(const float* p, int64_t n) {
    return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask8_avx2(n));
}
/// Stores the first min(n, 8) lanes of v at p.
__attribute__((target("avx2"))) inline void store8_avx2(float* p, __m256 v, int64_t n) {
    if (n >= 8) return _mm256_storeu_ps(p, v);
    _mm256_maskstore_ps(p, lane_mask8_avx2(n), v);
}

/// Transposes the 8 × 8 floats in r[0..8) in registers (row i becomes column i): interleaves within 128-bit
/// lanes, then the lanes swapped across registers. The AVX2 sibling of transpose16x16_avx512.
__attribute__((target("avx2"))) inline void transpose8x8_avx2(__m256 r[8]) {
    __m256 t[8];
    for (int k = 0; k < 4; ++k) {
        t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int h = 0; h < 2; ++h) {  // rows 4h..4h+3: t[4h + m] holds columns m and 4 + m (one per lane)
        r[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        r[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        r[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        r[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
    for (int m = 0; m < 4; ++m) {
        t[m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x20);
        t[4 + m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x31);
    }
    for (int m = 0; m < 8; ++m) r[m] = t[m];
}

/// Transposes the 16 × 16 floats in r[0..16) in registers (row i becomes column i): the packing step of the GEMM
/// and convolution paths where packing is a transpose.
__attribute__((target("avx512f"))) inline void transpose16x16_avx512(__m512 r[16]) {
    // The masked forms with an all-ones mask compile to the plain instructions; the unmasked intrinsics trip
    // GCC 12's -Wmaybe-uninitialized inside its own headers (_mm512_undefined_ps).
    const __mmask16 all = 0xFFFF;
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_mask_unpacklo_ps(r[2 * i], all, r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_mask_unpackhi_ps(r[2 * i], all, r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
        r[4 * i + 0] = _mm512_mask_shuffle_ps(t[4 * i + 0], all, t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_mask_shuffle_ps(t[4 * i + 0], all, t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_mask_shuffle_ps(t[4 * i + 1], all, t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_mask_shuffle_ps(t[4 * i + 1], all, t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h)
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
            t[8 * h + i] = _mm512_mask_shuffle_f32x4(r[8 * h + i], all, r[8 * h + i], r[8 * h + i + 4], 0x88);
            t[8 * h + i + 4] = _mm512_mask_shuffle_f32x4(r[8 * h + i], all, r[8 * h + i], r[8 * h + i + 4], 0xdd);
        }
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
        r[i] = _mm512_mask_shuffle_f32x4(t[i], all, t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_mask_shuffle_f32x4(t[i], all, t[i], t[i + 8], 0xdd);
    }
}
}  // namespace fs
#endif
