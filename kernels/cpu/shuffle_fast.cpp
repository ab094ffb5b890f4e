// shuffle_fast.cpp: data movement over the threads. pixel_shuffle: r = 2 in f32 interleaves row pairs in
// registers (AVX-512 or AVX2); anything else runs the reference kernel (kernels/cpu/shuffle.cpp) on whole batch items.
// Both are copies, bitwise the reference. The transposed plane copy behind Tensor::contiguous() of a
// (N, C, P) <-> (N, P, C) view: 16×16 blocks transposed in registers (AVX-512, or four 8×8 with AVX2), blocks of 32
// rows per task.
#include <algorithm>
#include <type_traits>

#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/fast.h"
#include "kernels/shuffle.h"

namespace fs {

namespace {

#ifdef FS_X86_SIMD
bool have_avx512() { return cpu_has_avx512f(); }

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

bool have_avx2() { return cpu_has_avx2(); }

// The AVX2 8×8 version (simd.h's in-register transpose).
__attribute__((target("avx2"))) void transpose8(const float* src, int64_t ss, float* dst, int64_t ds) {
    __m256 r[8];
    for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(src + k * ss);
    transpose8x8_avx2(r);
    for (int k = 0; k < 8; ++k) _mm256_storeu_ps(dst + k * ds, r[k]);
}
#endif

}  // namespace

void transpose_planes_f32(int64_t planes, const int64_t* doff, const int64_t* soff, float* d, const float* s,
                          int64_t rows, int64_t cols, int64_t ss) {
    constexpr int64_t k_rows = 32;  // rows of one task
    const int64_t rblk = (rows + k_rows - 1) / k_rows, units = planes * rblk;
#ifdef FS_X86_SIMD
    const bool avx = have_avx512(), avx2 = have_avx2();
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
#ifdef FS_X86_SIMD
                    if (avx && ie - ib == 16 && j1 - j0 == 16) {
                        transpose16(sp + ib + j0 * ss, ss, dp + ib * cols + j0, cols);
                        continue;
                    }
                    if (avx2 && ie - ib == 16 && j1 - j0 == 16) {
                        for (int64_t bi = 0; bi < 16; bi += 8)
                            for (int64_t bj = 0; bj < 16; bj += 8)
                                transpose8(sp + ib + bi + (j0 + bj) * ss, ss, dp + (ib + bi) * cols + j0 + bj, cols);
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

#ifdef FS_X86_SIMD
namespace {

// r = 2, f32, one output row: y[2w + j] = in_j[w] (j = 0, 1), 16 input pairs per two permutes.
__attribute__((target("avx512f"))) void interleave_row(const float* a, const float* b, float* y, int64_t W) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    int64_t w = 0;
    for (; w + 16 <= W; w += 16) {
        const __m512 va = _mm512_loadu_ps(a + w), vb = _mm512_loadu_ps(b + w);
        _mm512_storeu_ps(y + 2 * w, _mm512_permutex2var_ps(va, lo, vb));
        _mm512_storeu_ps(y + 2 * w + 16, _mm512_permutex2var_ps(va, hi, vb));
    }
    for (; w < W; ++w) y[2 * w] = a[w], y[2 * w + 1] = b[w];
}

// The backward's inverse: a[w] = dy[2w], b[w] = dy[2w + 1].
__attribute__((target("avx512f"))) void deinterleave_row(const float* dy, float* a, float* b, int64_t W) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    int64_t w = 0;
    for (; w + 16 <= W; w += 16) {
        const __m512 v0 = _mm512_loadu_ps(dy + 2 * w), v1 = _mm512_loadu_ps(dy + 2 * w + 16);
        _mm512_storeu_ps(a + w, _mm512_permutex2var_ps(v0, ev, v1));
        _mm512_storeu_ps(b + w, _mm512_permutex2var_ps(v0, od, v1));
    }
    for (; w < W; ++w) a[w] = dy[2 * w], b[w] = dy[2 * w + 1];
}

// The AVX2 versions, 8 pairs at a time: unpack within 128-bit lanes, then put the lanes in order.
__attribute__((target("avx2"))) void interleave_row_avx2(const float* a, const float* b, float* y, int64_t W) {
    int64_t w = 0;
    for (; w + 8 <= W; w += 8) {
        const __m256 va = _mm256_loadu_ps(a + w), vb = _mm256_loadu_ps(b + w);
        const __m256 lo = _mm256_unpacklo_ps(va, vb), hi = _mm256_unpackhi_ps(va, vb);
        _mm256_storeu_ps(y + 2 * w, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(y + 2 * w + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
    for (; w < W; ++w) y[2 * w] = a[w], y[2 * w + 1] = b[w];
}

__attribute__((target("avx2"))) void deinterleave_row_avx2(const float* dy, float* a, float* b, int64_t W) {
    int64_t w = 0;
    for (; w + 8 <= W; w += 8) {
        const __m256 v0 = _mm256_loadu_ps(dy + 2 * w), v1 = _mm256_loadu_ps(dy + 2 * w + 8);
        const __m256 ev = _mm256_shuffle_ps(v0, v1, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a1 a4 a5 | a2 a3 a6 a7
        const __m256 od = _mm256_shuffle_ps(v0, v1, _MM_SHUFFLE(3, 1, 3, 1));
        _mm256_storeu_ps(a + w, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8)));
        _mm256_storeu_ps(b + w, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8)));
    }
    for (; w < W; ++w) a[w] = dy[2 * w], b[w] = dy[2 * w + 1];
}

// For r = 2: f(row, a, b) for every output row, with the offsets (from the batch start) of that shuffled row and
// of the two input rows it interleaves, over (image, output channel) units on the threads.
template <typename F>
void for_each_row_pair(const PixelShuffleParams& p, int64_t N, int64_t C, int64_t H, int64_t W, const F& f) {
    const int64_t item = 4 * C * H * W;
    parallel_for(N * C, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1; ++u) {
            const int64_t n = u / C, k = u % C;
            for (int64_t i = 0; i < 2; ++i) {
                const int64_t a = n * item + pixel_shuffle_in_channel(p.order, k, i, 0, C, 2) * H * W;
                const int64_t b = n * item + pixel_shuffle_in_channel(p.order, k, i, 1, C, 2) * H * W;
                for (int64_t h = 0; h < H; ++h) f(n * item + k * 4 * H * W + (2 * h + i) * 2 * W, a + h * W, b + h * W);
            }
        }
    });
}

}  // namespace
#endif

// f32 with r = 2 on AVX-512 (the model's only factor): each output row is two input rows interleaved, done 16
// pairs at a time in registers, over (image, output channel) units. A pure copy, so bitwise the reference.
template <typename T>
void pixel_shuffle_forward_fast(const PixelShuffleParams& p, const T* x, T* y, int64_t N, int64_t C, int64_t H,
                                int64_t W) {
    const int64_t in_item = C * p.r * p.r * H * W, out_item = C * H * p.r * W * p.r;  // the same count, moved
#ifdef FS_X86_SIMD
    if constexpr (std::is_same_v<T, float>) {
        if (p.r == 2 && have_avx512()) {
            return for_each_row_pair(p, N, C, H, W, [&](int64_t row, int64_t a, int64_t b) {
                interleave_row(x + a, x + b, y + row, W);
            });
        }
        if (p.r == 2 && have_avx2()) {
            return for_each_row_pair(p, N, C, H, W, [&](int64_t row, int64_t a, int64_t b) {
                interleave_row_avx2(x + a, x + b, y + row, W);
            });
        }
    }
#endif
    parallel_for(N, [&](int64_t n0, int64_t n1) {
        pixel_shuffle_forward_cpu<T>(p, x + n0 * in_item, y + n0 * out_item, n1 - n0, C, H, W);
    });
}

template <typename T>
void pixel_shuffle_backward_fast(const PixelShuffleParams& p, const T* dy, T* dx, int64_t N, int64_t C, int64_t H,
                                 int64_t W) {
    const int64_t item = C * p.r * p.r * H * W;
#ifdef FS_X86_SIMD
    if constexpr (std::is_same_v<T, float>) {
        if (p.r == 2 && have_avx512()) {
            return for_each_row_pair(p, N, C, H, W, [&](int64_t row, int64_t a, int64_t b) {
                deinterleave_row(dy + row, dx + a, dx + b, W);
            });
        }
        if (p.r == 2 && have_avx2()) {
            return for_each_row_pair(p, N, C, H, W, [&](int64_t row, int64_t a, int64_t b) {
                deinterleave_row_avx2(dy + row, dx + a, dx + b, W);
            });
        }
    }
#endif
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
