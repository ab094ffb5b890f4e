// shuffle_fast.cpp: data movement over the threads. pixel_shuffle: each task runs the reference kernel
// (kernels/cpu/shuffle.cpp) on whole batch items, so nothing is re-derived here and the result is bitwise the
// reference's. The transposed plane copy behind Tensor::contiguous() of a (N, C, P) <-> (N, P, C) view: 16×16
// blocks transposed in registers (AVX-512), blocks of 32 rows per task.
#include <algorithm>

#include "kernels/cpu/thread_pool.h"
#include "kernels/fast.h"
#include "kernels/shuffle.h"

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12 warns inside its own intrinsics headers (_mm512_undefined_ps).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define FS_SHUF_X86 1
#endif

namespace fs {

namespace {

#ifdef FS_SHUF_X86
bool have_avx512() {
    static const bool b = __builtin_cpu_supports("avx512f");
    return b;
}

// dst[i][k] = src[k][i] for a 16×16 block: src rows k at src + k·ss, dst rows i at dst + i·ds. 32-bit then
// 64-bit interleaves within 128-bit lanes, then a 4×4 transpose of the lanes.
__attribute__((target("avx512f"))) void transpose16(const float* src, int64_t ss, float* dst, int64_t ds) {
    __m512 r[16], t[16];
    for (int k = 0; k < 16; ++k) r[k] = _mm512_loadu_ps(src + k * ss);
    for (int k = 0; k < 8; ++k) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    // r[4k + m], lane L: rows 4k..4k+3 of column 4L + m
    for (int k = 0; k < 4; ++k) {
        const __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 2]);
        const __m512d c = _mm512_castps_pd(t[4 * k + 1]), d = _mm512_castps_pd(t[4 * k + 3]);
        r[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        r[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        r[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int m = 0; m < 4; ++m) {
        const __m512 v0 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x44), v1 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xEE);
        const __m512 v2 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x44),
                     v3 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xEE);
        _mm512_storeu_ps(dst + (m)*ds, _mm512_shuffle_f32x4(v0, v2, 0x88));
        _mm512_storeu_ps(dst + (4 + m) * ds, _mm512_shuffle_f32x4(v0, v2, 0xDD));
        _mm512_storeu_ps(dst + (8 + m) * ds, _mm512_shuffle_f32x4(v1, v3, 0x88));
        _mm512_storeu_ps(dst + (12 + m) * ds, _mm512_shuffle_f32x4(v1, v3, 0xDD));
    }
}
#endif

}  // namespace

void transpose_planes_f32(int64_t planes, const int64_t* doff, const int64_t* soff, float* d, const float* s,
                          int64_t rows, int64_t cols, int64_t ss) {
    constexpr int64_t k_rows = 32;  // rows of one task
    const int64_t rblk = (rows + k_rows - 1) / k_rows, units = planes * rblk;
#ifdef FS_SHUF_X86
    const bool avx = have_avx512();
#endif
    auto body = [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1; ++u) {
            const int64_t o = u / rblk, i0 = (u % rblk) * k_rows, i1 = std::min(rows, i0 + k_rows);
            float* dp = d + doff[o];
            const float* sp = s + soff[o];
            for (int64_t j0 = 0; j0 < cols; j0 += 16) {
                const int64_t j1 = std::min(cols, j0 + 16);
                for (int64_t ib = i0; ib < i1; ib += 16) {
                    const int64_t ie = std::min(i1, ib + 16);
#ifdef FS_SHUF_X86
                    if (avx && ie - ib == 16 && j1 - j0 == 16) {
                        transpose16(sp + ib + j0 * ss, ss, dp + ib * cols + j0, cols);
                        continue;
                    }
#endif
                    for (int64_t i = ib; i < ie; ++i)
                        for (int64_t j = j0; j < j1; ++j) dp[i * cols + j] = sp[i + j * ss];
                }
            }
        }
    };
    if (planes * rows * cols < (int64_t(1) << 15)) return body(0, units);  // too small to hand off
    parallel_for(units, body);
}

template <typename T>
void pixel_shuffle_forward_fast(const PixelShuffleParams& p, const T* x, T* y, int64_t N, int64_t C, int64_t H,
                                int64_t W) {
    const int64_t in_item = C * p.r * p.r * H * W, out_item = C * H * p.r * W * p.r;  // the same count, moved
    parallel_for(N, [&](int64_t n0, int64_t n1) {
        pixel_shuffle_forward_cpu<T>(p, x + n0 * in_item, y + n0 * out_item, n1 - n0, C, H, W);
    });
}

template <typename T>
void pixel_shuffle_backward_fast(const PixelShuffleParams& p, const T* dy, T* dx, int64_t N, int64_t C, int64_t H,
                                 int64_t W) {
    const int64_t item = C * p.r * p.r * H * W;
    parallel_for(N, [&](int64_t n0, int64_t n1) {
        pixel_shuffle_backward_cpu<T>(p, dy + n0 * item, dx + n0 * item, n1 - n0, C, H, W);
    });
}

template void pixel_shuffle_forward_fast<float>(const PixelShuffleParams&, const float*, float*, int64_t, int64_t,
                                                int64_t, int64_t);
template void pixel_shuffle_forward_fast<double>(const PixelShuffleParams&, const double*, double*, int64_t, int64_t,
                                                 int64_t, int64_t);
template void pixel_shuffle_backward_fast<float>(const PixelShuffleParams&, const float*, float*, int64_t, int64_t,
                                                 int64_t, int64_t);
template void pixel_shuffle_backward_fast<double>(const PixelShuffleParams&, const double*, double*, int64_t,
                                                  int64_t, int64_t, int64_t);

}  // namespace fs
