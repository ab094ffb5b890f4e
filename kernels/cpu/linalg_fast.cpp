// linalg_fast.cpp: dense and batched matmul on the packed SGEMM (kernels/sgemm.h). The transposes are folded
// into SGEMM's op() flags; nothing is copied. A dense layer with a small batch (N ≤ 8: the encoder's two Dense
// layers in training and conversion) is a pass over its weights, which SGEMM would first copy into packed panels;
// it gets kernels that read the weights once, in place (below).
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/linalg.h"
#include "kernels/sgemm.h"
#include "tensor/error.h"

#ifdef FS_X86_SIMD
#define FS_LF_AVX512 __attribute__((target("avx512f")))
#endif

namespace fs {

#ifdef FS_X86_SIMD
namespace {

bool have_avx512() { return cpu_has_avx512f(); }

inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

// y[n][o] = b[o] + Σ_i x[n][i]·w[o][i] for one output row o: NB accumulators, the weight row read once in order and
// prefetched a few lines ahead. (Two or three rows at a time, sharing each x load, made GCC spill accumulators and
// were no faster: the loop is bound by reading the weights.)
template <int NB>
FS_LF_AVX512 __attribute__((always_inline)) inline void skinny_forward_step(__m512 (&a)[NB], const float* x,
                                                                           const float* wr, int64_t IN, int64_t i,
                                                                           __mmask16 m) {
    _mm_prefetch(reinterpret_cast<const char*>(wr + i + 256), _MM_HINT_T0);
    const __m512 v = _mm512_maskz_loadu_ps(m, wr + i);
    for (int n = 0; n < NB; ++n) a[n] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + n * IN + i), v, a[n]);
}

template <int NB>
FS_LF_AVX512 void skinny_forward(const float* x, const float* w, const float* b, float* y, int64_t IN, int64_t OUT,
                                 int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
        __m512 a[NB];
        for (int n = 0; n < NB; ++n) a[n] = _mm512_setzero_ps();
        const float* wr = w + o * IN;
        int64_t i = 0;
        for (; i + 16 <= IN; i += 16) skinny_forward_step<NB>(a, x, wr, IN, i, 0xffff);
        if (i < IN) skinny_forward_step<NB>(a, x, wr, IN, i, tail_mask(IN - i));
        for (int n = 0; n < NB; ++n) y[n * OUT + o] = (b ? b[o] : 0.f) + _mm512_reduce_add_ps(a[n]);
    }
}

// R weight rows o..o+R-1 over the columns [0, cols) of one thread's range: dw rows from x, and the dx block
// (acc, row stride ld) accumulated. x and acc are read once per R rows, not once per row, which keeps the loop
// within L2's bandwidth; the dy factors are broadcast straight from memory.
template <int NB, int R>
FS_LF_AVX512 inline void skinny_rows(const float* x, const float* wr, const float* dy, float* acc, float* dwr,
                                     int64_t IN, int64_t OUT, int64_t ld, int64_t cols) {
    for (int64_t c = 0; c < cols; c += 16) {
        const __mmask16 m = tail_mask(cols - c);
        if (dwr) {
            __m512 s[R];
            for (int k = 0; k < R; ++k) s[k] = _mm512_setzero_ps();
            for (int n = 0; n < NB; ++n) {
                const __m512 xv = _mm512_maskz_loadu_ps(m, x + n * IN + c);
                for (int k = 0; k < R; ++k) s[k] = _mm512_fmadd_ps(_mm512_set1_ps(dy[n * OUT + k]), xv, s[k]);
            }
            for (int k = 0; k < R; ++k) _mm512_mask_storeu_ps(dwr + k * IN + c, m, s[k]);
        }
        if (acc) {
            __m512 wv[R];
            for (int k = 0; k < R; ++k) wv[k] = _mm512_maskz_loadu_ps(m, wr + k * IN + c);  // 0 past the end
            for (int n = 0; n < NB; ++n) {
                float* a = acc + n * ld + c;
                __m512 av = _mm512_loadu_ps(a);
                for (int k = 0; k < R; ++k) av = _mm512_fmadd_ps(_mm512_set1_ps(dy[n * OUT + k]), wv[k], av);
                _mm512_storeu_ps(a, av);
            }
        }
    }
}

// The columns [i0, i1) of dw = dyᵀ·x and dx = dy·w, in one pass down the weight rows: each row's stretch
// w[o][i0..i1) is read once, in order (the prefetchers follow it), dw[o][i0..i1) is written, and dy[n][o]·w[o][·]
// goes into an L2-resident dx block. (Streaming stores for dw measured slower here.) That block's rows are
// padded off multiples of 4 KiB: with dx's own stride (IN floats, 4 or 64 KiB in the encoder) every store aliased
// the next row's load in the store-forwarding check.
template <int NB>
FS_LF_AVX512 void skinny_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, int64_t IN,
                                  int64_t OUT, int64_t i0, int64_t i1) {
    const int64_t cols = i1 - i0, ld = (cols + 15) / 16 * 16 + 16;
    std::vector<float> acc(dx ? size_t(NB * ld) : 0, 0.f);
    float* ap = dx ? acc.data() : nullptr;
    constexpr int R = 4;
    int64_t o = 0;
    for (; o + R <= OUT; o += R)
        skinny_rows<NB, R>(x + i0, w + o * IN + i0, dy + o, ap, dw ? dw + o * IN + i0 : nullptr, IN, OUT, ld, cols);
    for (; o < OUT; ++o)
        skinny_rows<NB, 1>(x + i0, w + o * IN + i0, dy + o, ap, dw ? dw + o * IN + i0 : nullptr, IN, OUT, ld, cols);
    if (dx)
        for (int n = 0; n < NB; ++n) std::copy(acc.data() + n * ld, acc.data() + n * ld + cols, dx + n * IN + i0);
}

// --- AVX2 + FMA versions of the skinny kernels ---------------------------------------------------------------
#define FS_LF_AVX2 __attribute__((target("avx2,fma")))

// The inputs in blocks of k_skinny_kb columns: the rows' partial sums go through y, so the block of x every row
// reads (8 × 2048 floats, 64 KiB) stays in L2. (Zen 3's L2 is 512 KiB: the encoder's whole 8 × 16384 x is that,
// and re-reading it from L3 for each of the 1024 rows cost more than the weights themselves.)
constexpr int64_t k_skinny_kb = 2048;

template <int NB>
FS_LF_AVX2 void skinny_forward_avx2(const float* x, const float* w, const float* b, float* y, int64_t IN,
                                    int64_t OUT, int64_t o0, int64_t o1) {
    for (int64_t i0 = 0; i0 < IN; i0 += k_skinny_kb) {
        const int64_t i1 = std::min(IN, i0 + k_skinny_kb);
        for (int64_t o = o0; o < o1; ++o) {
            __m256 a[NB];
            for (int n = 0; n < NB; ++n) a[n] = _mm256_setzero_ps();
            const float* wr = w + o * IN;
            int64_t i = i0;
            for (; i + 8 <= i1; i += 8) {
                _mm_prefetch(reinterpret_cast<const char*>(wr + i + 256), _MM_HINT_T0);
                const __m256 v = _mm256_loadu_ps(wr + i);
                for (int n = 0; n < NB; ++n) a[n] = _mm256_fmadd_ps(_mm256_loadu_ps(x + n * IN + i), v, a[n]);
            }
            if (i < i1) {
                const __m256 v = load8_avx2(wr + i, i1 - i);
                for (int n = 0; n < NB; ++n) a[n] = _mm256_fmadd_ps(load8_avx2(x + n * IN + i, i1 - i), v, a[n]);
            }
            for (int n = 0; n < NB; ++n) {
                const float part = hsum8_avx2(a[n]);
                y[n * OUT + o] = i0 == 0 ? (b ? b[o] : 0.f) + part : y[n * OUT + o] + part;
            }
        }
    }
}

template <int NB, int R>
FS_LF_AVX2 inline void skinny_rows_avx2(const float* x, const float* wr, const float* dy, float* acc, float* dwr,
                                        int64_t IN, int64_t OUT, int64_t ld, int64_t cols) {
    for (int64_t c = 0; c < cols; c += 8) {
        const int64_t left = cols - c;
        if (dwr) {
            __m256 s[R];
            for (int k = 0; k < R; ++k) s[k] = _mm256_setzero_ps();
            for (int n = 0; n < NB; ++n) {
                const __m256 xv = load8_avx2(x + n * IN + c, left);
                for (int k = 0; k < R; ++k) s[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(dy + n * OUT + k), xv, s[k]);
            }
            for (int k = 0; k < R; ++k) {
                store8_avx2(dwr + k * IN + c, s[k], left);
            }
        }
        if (acc) {
            __m256 wv[R];
            for (int k = 0; k < R; ++k) wv[k] = load8_avx2(wr + k * IN + c, left);  // 0 past the end
            for (int n = 0; n < NB; ++n) {
                float* a = acc + n * ld + c;
                __m256 av = _mm256_loadu_ps(a);
                for (int k = 0; k < R; ++k) av = _mm256_fmadd_ps(_mm256_broadcast_ss(dy + n * OUT + k), wv[k], av);
                _mm256_storeu_ps(a, av);
            }
        }
    }
}

template <int NB>
FS_LF_AVX2 void skinny_backward_avx2(const float* x, const float* w, const float* dy, float* dx, float* dw,
                                     int64_t IN, int64_t OUT, int64_t i0, int64_t i1) {
    const int64_t cols = i1 - i0, ld = (cols + 15) / 16 * 16 + 16;  // padded as skinny_backward's
    std::vector<float> acc(dx ? size_t(NB * ld) : 0, 0.f);
    float* ap = dx ? acc.data() : nullptr;
    constexpr int R = 4;
    int64_t o = 0;
    for (; o + R <= OUT; o += R)
        skinny_rows_avx2<NB, R>(x + i0, w + o * IN + i0, dy + o, ap, dw ? dw + o * IN + i0 : nullptr, IN, OUT, ld,
                                cols);
    for (; o < OUT; ++o)
        skinny_rows_avx2<NB, 1>(x + i0, w + o * IN + i0, dy + o, ap, dw ? dw + o * IN + i0 : nullptr, IN, OUT, ld,
                                cols);
    if (dx)
        for (int n = 0; n < NB; ++n) std::copy(acc.data() + n * ld, acc.data() + n * ld + cols, dx + n * IN + i0);
}

template <int NB>
void skinny_dense_forward(const float* x, const float* w, const float* b, float* y, int64_t IN, int64_t OUT) {
    const bool wide = have_avx512();
    parallel_for(OUT, [&](int64_t o0, int64_t o1) {
        wide ? skinny_forward<NB>(x, w, b, y, IN, OUT, o0, o1) : skinny_forward_avx2<NB>(x, w, b, y, IN, OUT, o0, o1);
    });
}

template <int NB>
void skinny_dense_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, int64_t IN,
                           int64_t OUT) {
    // one contiguous column range per thread (multiples of 16 columns)
    const int64_t groups = (IN + 15) / 16, tasks = std::min<int64_t>(num_threads(), groups);
    const bool wide = have_avx512();
    parallel_for(tasks, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t i0 = std::min(IN, groups * t / tasks * 16), i1 = std::min(IN, groups * (t + 1) / tasks * 16);
            wide ? skinny_backward<NB>(x, w, dy, dx, dw, IN, OUT, i0, i1)
                 : skinny_backward_avx2<NB>(x, w, dy, dx, dw, IN, OUT, i0, i1);
        }
    });
}

// f(std::integral_constant<int, N>) for a batch of N = 1..8 rows: the kernels' row count is a template argument.
template <typename F>
void with_batch(int64_t N, const F& f) {
    switch (N) {
        case 1: return f(std::integral_constant<int, 1>{});
        case 2: return f(std::integral_constant<int, 2>{});
        case 3: return f(std::integral_constant<int, 3>{});
        case 4: return f(std::integral_constant<int, 4>{});
        case 5: return f(std::integral_constant<int, 5>{});
        case 6: return f(std::integral_constant<int, 6>{});
        case 7: return f(std::integral_constant<int, 7>{});
        case 8: return f(std::integral_constant<int, 8>{});
        default: FS_FAIL("dense: no skinny kernel for a batch of ", N);
    }
}

// Batches of 1..8 rows; a wider layer (OUT ≥ 16, IN ≥ 16) so the vector loops have work.
bool skinny(int64_t N, int64_t IN, int64_t OUT) { return N >= 1 && N <= 8 && IN >= 16 && OUT >= 16 && cpu_has_avx2(); }

}  // namespace
#endif

void dense_forward_fast(const float* x, const float* w, const float* b, float* y, int64_t N, int64_t IN, int64_t OUT) {
    // y (N, OUT) = x (N, IN) · wᵀ (IN, OUT) + b
#ifdef FS_X86_SIMD
    if (skinny(N, IN, OUT))
        return with_batch(N, [&](auto nb) { skinny_dense_forward<decltype(nb)::value>(x, w, b, y, IN, OUT); });
#endif
    if (b)
        for (int64_t n = 0; n < N; ++n) std::copy(b, b + OUT, y + n * OUT);
    sgemm(false, true, N, OUT, IN, 1.f, x, IN, w, IN, b ? 1.f : 0.f, y, OUT);
}

void dense_backward_fast(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t N,
                         int64_t IN, int64_t OUT) {
#ifdef FS_X86_SIMD
    const bool thin = (dx || dw) && skinny(N, IN, OUT);
    if (thin) with_batch(N, [&](auto nb) { skinny_dense_backward<decltype(nb)::value>(x, w, dy, dx, dw, IN, OUT); });
#else
    const bool thin = false;
#endif
    if (!thin && dx) sgemm(false, false, N, IN, OUT, 1.f, dy, OUT, w, IN, 0.f, dx, IN);  // dx = dy · w
    if (!thin && dw) sgemm(true, false, OUT, IN, N, 1.f, dy, OUT, x, IN, 0.f, dw, IN);   // dw = dyᵀ · x
    if (db) {
        for (int64_t o = 0; o < OUT; ++o) {
            double s = 0;  // accumulate the batch sum in double, as the reference does
            for (int64_t n = 0; n < N; ++n) s += dy[n * OUT + o];
            db[o] = float(s);
        }
    }
}

void matmul_forward_fast(const float* a, const float* b, float* c, int64_t B, int64_t M, int64_t N, int64_t K,
                         bool trans_a, bool trans_b) {
    for (int64_t i = 0; i < B; ++i)
        sgemm(trans_a, trans_b, M, N, K, 1.f, a + i * M * K, trans_a ? M : K, b + i * K * N, trans_b ? K : N, 0.f,
              c + i * M * N, N);
}

void matmul_backward_fast(const float* a, const float* b, const float* dc, float* da, float* db, int64_t B, int64_t M,
                          int64_t N, int64_t K, bool trans_a, bool trans_b) {
    for (int64_t i = 0; i < B; ++i) {
        const float *ai = a + i * M * K, *bi = b + i * K * N, *dci = dc + i * M * N;
        // C = op(A) op(B): d op(A) = dC op(B)ᵀ (M, K), d op(B) = op(A)ᵀ dC (K, N); a transposed operand gets the
        // transpose of that, written in its own stored layout.
        if (da) {
            if (!trans_a) sgemm(false, !trans_b, M, K, N, 1.f, dci, N, bi, trans_b ? K : N, 0.f, da + i * M * K, K);
            else sgemm(trans_b, true, K, M, N, 1.f, bi, trans_b ? K : N, dci, N, 0.f, da + i * M * K, M);
        }
        if (db) {
            if (!trans_b) sgemm(!trans_a, false, K, N, M, 1.f, ai, trans_a ? M : K, dci, N, 0.f, db + i * K * N, N);
            else sgemm(true, trans_a, N, K, M, 1.f, dci, N, ai, trans_a ? M : K, 0.f, db + i * K * N, K);
        }
    }
}

}  // namespace fs
