// attention_fast.cpp: flash-style softmax attention for f32 on the CPU. Queries are processed in blocks of
// k_bq rows against key blocks of k_bk: S = Q Kᵀ, an online softmax (running max m and sum l per row, earlier
// partial outputs rescaled by exp(m_old − m_new)), O += P V. No N×M matrix is ever stored: the working set is one
// k_bq×k_bk score tile (128 KiB) plus the row statistics. The backward takes the row log-sum-exp from the forward
// when the caller kept it (or recomputes it), then, key blocks outside and query blocks inside, per tile
// P = exp(S − lse), dV += Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − Δ), dQ += dS K, dK += dSᵀ Q, with Δ_i = dO_i·O_i. With
// AVX-512 or AVX2 the tile products run on a register-blocked micro-kernel (rb_gemm) that reads its operands in
// place, transposed or not; without them, on SGEMM and scalar loops. The forward's work is split over (batch
// item, query block) units, the backward's over (batch item, half of the keys).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/sgemm.h"
#include "tensor/error.h"

namespace fs {

namespace {

constexpr int64_t k_bq = 128;  // query rows per tile
constexpr int64_t k_bk = 256;  // keys per tile: a 128×256 f32 score tile is 128 KiB, inside Zen 4's 1 MiB L2
constexpr int64_t k_short_k = 16;  // rb_gemm_avx2: products with K up to this run a row block across all columns
// The row stride of the score tiles (S, P, dP), and the rule for the copies of V and dO the SIMD products read: a
// stride of a multiple of 1 KiB puts a column of a tile (or of a 64-wide V) in a quarter or less of L1's 64 sets,
// and the products walk down such columns (dV += Pᵀ dO broadcasts P by columns; the B operands are K rows of one
// 64-byte line). See padded_row(). On Zen 3 the padding alone measured within the run-to-run noise (the dV and dP
// phases 1-4 % faster by their minima); the backward's key-outer order is what gained.
constexpr int64_t k_ld = k_bk + 16;

// The fast kernels work in base 2: the scores are formed as S₂ = log2(e) · scale · Q Kᵀ (log2 e folded into the
// scaled copy of Q, or into SGEMM's alpha) and exponentiated with 2^x, so P = 2^(S₂ − m₂) = e^(S − m). 2^x needs no
// Cody–Waite reduction: with n = round(x), f = x − n is exact (|x| < 2^7, so f is a multiple of x's ulp that fits
// in 24 bits). A degree-6 polynomial gives 2^f on |f| ≤ 1/2 (a weighted least-squares fit with p(0) = 1, 2e-9 in
// exact arithmetic; the AVX2 kernel is within 1.7e-7 relative of exp2 over [−120, 0], as the e^r kernel it
// replaced was of exp). Per 8 lanes that is 9 multiply-class operations instead of 12: no x·log2 e and no
// two-constant n·ln2. The exp pass of a forward tile took ~18 % fewer cycles (17.4-18.0 → 14.4-14.8 M per
// b1 N=4096 forward on one Zen 3 core; degree 5 would save another 0.6 M at 2.3e-7). The row statistics stay in
// base 2 inside the kernels; the log-sum-exp callers see is natural (lse = ln 2 · (m₂ + log2 l)).
constexpr double k_log2e_d = 1.4426950408889634;
constexpr float k_log2e = float(k_log2e_d);
constexpr float k_ln2 = 0.693147180559945309f;

// y[i] = 2^(x[i] − shift), returns Σ y. Both callers shift by at least the largest x (the running row max in the
// forward, the row log-sum-exp in the backward), so the argument is ≤ 0 (up to rounding) and needs no upper clamp.
// Arguments below −125 clamp there (2^−125 ≈ 2.4e−38 instead of a denormal or 0: nothing next to a row sum ≥ 1),
// which keeps 2^n a normal float. max(lo, v) keeps a NaN a NaN (maxps returns its second operand when either is
// NaN). The polynomial is evaluated by Estrin's scheme, (1 + c1·f) + f²(c2 + c3·f) + f⁴(c4 + c5·f + c6·f²): depth
// 3 instead of Horner's 6 (on Zen 3 a Horner loop took about twice the time its multiply-class operations need on
// the two FMA pipes, each vector a dependent chain longer than the out-of-order window overlaps).
constexpr float k_e2c1 = 0.693147182f, k_e2c2 = 0.240226477f, k_e2c3 = 0.0555033237f, k_e2c4 = 0.00961843692f,
                k_e2c5 = 0.00133988750f, k_e2c6 = 0.000153533620f;

__attribute__((target("avx512f,avx512dq,fma"))) float exp2_shift_sum_avx512(const float* x, float shift, float* y,
                                                                           int64_t n) {
    const __m512 vshift = _mm512_set1_ps(shift), lo = _mm512_set1_ps(-125.0f), one = _mm512_set1_ps(1.0f);
    const __m512 c1 = _mm512_set1_ps(k_e2c1), c2 = _mm512_set1_ps(k_e2c2), c3 = _mm512_set1_ps(k_e2c3),
                 c4 = _mm512_set1_ps(k_e2c4), c5 = _mm512_set1_ps(k_e2c5), c6 = _mm512_set1_ps(k_e2c6);
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_max_ps(lo, _mm512_sub_ps(_mm512_loadu_ps(x + i), vshift));
        const __m512 k = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m512 f = _mm512_sub_ps(v, k), f2 = _mm512_mul_ps(f, f);
        const __m512 pl = _mm512_fmadd_ps(f2, _mm512_fmadd_ps(c3, f, c2), _mm512_fmadd_ps(c1, f, one));
        const __m512 ph = _mm512_fmadd_ps(c6, f2, _mm512_fmadd_ps(c5, f, c4));
        const __m512 p = _mm512_fmadd_ps(_mm512_mul_ps(f2, f2), ph, pl);
        const __m512 e = _mm512_scalef_ps(p, k);  // p·2^k
        _mm512_storeu_ps(y + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    float buf[16];
    _mm512_storeu_ps(buf, acc);
    float s = 0;
    for (float b : buf) s += b;
    for (; i < n; ++i) s += (y[i] = std::exp2(x[i] - shift));
    return s;
}

float exp2_shift_sum_scalar(const float* x, float shift, float* y, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += (y[i] = std::exp2(x[i] - shift));
    return s;
}

// 2^v, 8 lanes, for v ≤ 0 (up to rounding). n = round(v) by the magic-number add: t = v + (1.5·2^23 + 127)
// rounds to an integer in the low mantissa bits, n = t − magic exactly, and t's low 9 bits are n + 127 (the clamp
// at −125 keeps that in [2, 127]), so t's bits << 23 are the float 2^n. The scale is a multiply, not an integer
// add of n << 23 to p's bits: the add would turn a NaN whose payload has low bits set into a finite number.
__attribute__((target("avx2,fma"))) inline __m256 exp2_avx2(__m256 v) {
    const __m256 magic = _mm256_set1_ps(12583039.0f), one = _mm256_set1_ps(1.0f);
    const __m256 c1 = _mm256_set1_ps(k_e2c1), c2 = _mm256_set1_ps(k_e2c2), c3 = _mm256_set1_ps(k_e2c3),
                 c4 = _mm256_set1_ps(k_e2c4), c5 = _mm256_set1_ps(k_e2c5), c6 = _mm256_set1_ps(k_e2c6);
    v = _mm256_max_ps(_mm256_set1_ps(-125.0f), v);
    const __m256 t = _mm256_add_ps(v, magic);
    const __m256 f = _mm256_sub_ps(v, _mm256_sub_ps(t, magic));
    const __m256 f2 = _mm256_mul_ps(f, f);
    const __m256 pl = _mm256_fmadd_ps(f2, _mm256_fmadd_ps(c3, f, c2), _mm256_fmadd_ps(c1, f, one));
    const __m256 ph = _mm256_fmadd_ps(c6, f2, _mm256_fmadd_ps(c5, f, c4));
    const __m256 p = _mm256_fmadd_ps(_mm256_mul_ps(f2, f2), ph, pl);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23)));  // p·2^n
}

// The AVX2 version of exp2_shift_sum_avx512, two vectors per step (two independent chains side by side in the
// instruction stream, which the out-of-order window overlaps better than one after the other).
__attribute__((target("avx2,fma"))) float exp2_shift_sum_avx2(const float* x, float shift, float* y, int64_t n) {
    const __m256 vshift = _mm256_set1_ps(shift);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 e0 = exp2_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), vshift));
        const __m256 e1 = exp2_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vshift));
        _mm256_storeu_ps(y + i, e0);
        _mm256_storeu_ps(y + i + 8, e1);
        acc0 = _mm256_add_ps(acc0, e0);
        acc1 = _mm256_add_ps(acc1, e1);
    }
    if (i + 8 <= n) {
        const __m256 e = exp2_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), vshift));
        _mm256_storeu_ps(y + i, e);
        acc0 = _mm256_add_ps(acc0, e);
        i += 8;
    }
    float s = hsum8_avx2(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) s += (y[i] = std::exp2(x[i] - shift));
    return s;
}

float exp2_shift_sum(const float* x, float shift, float* y, int64_t n) {
    switch (simd_level()) {
        case SimdLevel::avx512:
            return exp2_shift_sum_avx512(x, shift, y, n);
        case SimdLevel::avx2:
            return exp2_shift_sum_avx2(x, shift, y, n);
        default:
            return exp2_shift_sum_scalar(x, shift, y, n);
    }
}

// --- small-D tiles -------------------------------------------------------------------------------------------
// faceswap-GAN's queries and keys have D = C/8 = 4..64 channels. For such a thin inner dimension the packed
// SGEMM spends more time packing than multiplying, so for D <= k_small_d the three products with D as an operand
// width run on the keys transposed once per call (kt, D × M): 16-lane FMAs along the keys.
constexpr int64_t k_small_d = 32;

// xt (cols × ld) = transpose of the rows × cols matrix x (row-major). Callers pad ld past a power of two so the
// transposed rows do not all fall into the same cache sets.
void transpose_into(const float* x, int64_t rows, int64_t cols, float* xt, int64_t ld) {
    for (int64_t j = 0; j < rows; ++j)
        for (int64_t c = 0; c < cols; ++c) xt[c * ld + j] = x[j * cols + c];
}

// The leading dimension of a transposed copy with `n` columns: n rounded up to 16, plus 16.
int64_t padded_ld(int64_t n) { return (n + 15) / 16 * 16 + 16; }

// The row stride for a copy of a row-major matrix with n columns that the AVX2 products stream down by columns:
// n itself unless its rows are a multiple of 256 bytes apart (then consecutive rows of a 64-byte column share
// a quarter of L1's sets or less: V's and dO's 64 floats did), else n + 16.
int64_t padded_row(int64_t n) { return n % 64 == 0 ? n + 16 : n; }

// dst (rows × ld) = src (rows × n, contiguous).
void copy_rows(const float* src, int64_t rows, int64_t n, float* dst, int64_t ld) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * ld, src + r * n, size_t(n) * sizeof(float));
}

// S (bq × bk, row stride k_ld) = sc · Q (bq × D) · kt, kt with leading dimension ldk; also returns each row's
// maximum in mx. (The AVX-512 path is rb_gemm on a scaled copy of Q, which also takes the row maxima as it stores
// the tile.)
void scores_scalar(const float* q, int64_t bq, int64_t D, const float* kt, int64_t ldk, int64_t bk, float sc,
                   float* S, float* mx) {
    for (int64_t r = 0; r < bq; ++r) {
        float* sr = S + r * k_ld;
        std::fill(sr, sr + bk, 0.f);
        for (int64_t c = 0; c < D; ++c) {
            const float a = q[r * D + c] * sc;
            for (int64_t j = 0; j < bk; ++j) sr[j] += a * kt[c * ldk + j];
        }
        if (mx) mx[r] = *std::max_element(sr, sr + bk);
    }
}

// out[c] += Σ lanes of a[c], c < 8, by a transposing add tree: 14 shuffles and adds for all eight sums, where eight
// separate horizontal reductions take ~8 each (by instruction count about a third of dq_avx512's work).
__attribute__((target("avx512f"))) inline void add_sums8(const __m512* a, float* out) {
    __m512 s[4];
    for (int k = 0; k < 4; ++k)  // per 128-bit lane: pairs of a[2k], a[2k+1] partly summed
        s[k] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]), _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]));
    __m512 t[2];
    for (int k = 0; k < 2; ++k) {  // per 128-bit lane: the lane's sums of a[4k..4k+3]
        const __m512d x = _mm512_castps_pd(s[2 * k]), y = _mm512_castps_pd(s[2 * k + 1]);
        t[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    const __m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(t[0], t[1], 0x88), _mm512_shuffle_f32x4(t[0], t[1], 0xDD));
    const __m512 v = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, 0xB1));  // lane 0: a[0..3], lane 2: a[4..7]
    _mm_storeu_ps(out, _mm_add_ps(_mm_loadu_ps(out), _mm512_castps512_ps128(v)));
    _mm_storeu_ps(out + 4, _mm_add_ps(_mm_loadu_ps(out + 4), _mm512_extractf32x4_ps(v, 2)));
}

// dq (bq × D) += dS (bq × bk, row stride k_ld) · ktᵀ: D dot products of length bk per row, kt with leading
// dimension ldk. Two rows × NC <= 8 channels at a time: 2·NC independent accumulator chains, each kt vector loaded
// once for both rows. NC is a template parameter so the chains stay in registers (with a run-time channel count
// and an early break in the unrolled loop GCC kept them on the stack: every FMA a load and a store, 2.5× slower).
template <int NC>
__attribute__((target("avx512f"))) void dq_rows_avx512(const float* dS, int64_t bq, int64_t bk, const float* kt,
                                                       int64_t ldk, int64_t D, int64_t c0, float* dq) {
    for (int64_t r = 0; r < bq; r += 2) {
        const bool two = bq - r >= 2;
        const float* g0 = dS + r * k_ld;
        const float* g1 = two ? g0 + k_ld : g0;  // a lone last row is computed twice and stored once
        __m512 a0[NC], a1[NC];
#pragma GCC unroll 8
        for (int c = 0; c < NC; ++c) a0[c] = _mm512_setzero_ps(), a1[c] = _mm512_setzero_ps();
        for (int64_t j = 0; j < bk; j += 16) {
            const __mmask16 m = bk - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (bk - j)) - 1);
            const __m512 v0 = _mm512_maskz_loadu_ps(m, g0 + j), v1 = _mm512_maskz_loadu_ps(m, g1 + j);
#pragma GCC unroll 8
            for (int c = 0; c < NC; ++c) {
                const __m512 kv = _mm512_maskz_loadu_ps(m, kt + (c0 + c) * ldk + j);
                a0[c] = _mm512_fmadd_ps(v0, kv, a0[c]);
                a1[c] = _mm512_fmadd_ps(v1, kv, a1[c]);
            }
        }
        if constexpr (NC == 8) {
            add_sums8(a0, dq + r * D + c0);
            if (two) add_sums8(a1, dq + (r + 1) * D + c0);
        } else {
            for (int c = 0; c < NC; ++c) {
                dq[r * D + c0 + c] += _mm512_reduce_add_ps(a0[c]);
                if (two) dq[(r + 1) * D + c0 + c] += _mm512_reduce_add_ps(a1[c]);
            }
        }
    }
}

void dq_avx512(const float* dS, int64_t bq, int64_t bk, const float* kt, int64_t ldk, int64_t D, float* dq) {
    using Fn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, float*);
    static constexpr Fn by_nc[8] = {dq_rows_avx512<1>, dq_rows_avx512<2>, dq_rows_avx512<3>, dq_rows_avx512<4>,
                                    dq_rows_avx512<5>, dq_rows_avx512<6>, dq_rows_avx512<7>, dq_rows_avx512<8>};
    for (int64_t c0 = 0; c0 < D; c0 += 8) by_nc[std::min<int64_t>(8, D - c0) - 1](dS, bq, bk, kt, ldk, D, c0, dq);
}

// The AVX2 version: two rows × NC <= 4 channels (8 accumulator chains of 8 lanes, 15 of the 16 ymm registers with
// the two row vectors and the key vector), each chain summed across its lanes at the end; a column tail (bk not a
// multiple of 8) is added in scalar.
template <int NC>
__attribute__((target("avx2,fma"))) void dq_rows_avx2(const float* dS, int64_t bq, int64_t bk, const float* kt,
                                                     int64_t ldk, int64_t D, int64_t c0, float* dq) {
    const int64_t bv = bk / 8 * 8;
    for (int64_t r = 0; r < bq; r += 2) {
        const bool two = bq - r >= 2;
        const float* g0 = dS + r * k_ld;
        const float* g1 = two ? g0 + k_ld : g0;  // a lone last row is computed twice and stored once
        __m256 a0[NC], a1[NC];
#pragma GCC unroll 4
        for (int c = 0; c < NC; ++c) a0[c] = _mm256_setzero_ps(), a1[c] = _mm256_setzero_ps();
        for (int64_t j = 0; j < bv; j += 8) {
            const __m256 v0 = _mm256_loadu_ps(g0 + j), v1 = _mm256_loadu_ps(g1 + j);
#pragma GCC unroll 4
            for (int c = 0; c < NC; ++c) {
                const __m256 kv = _mm256_loadu_ps(kt + (c0 + c) * ldk + j);
                a0[c] = _mm256_fmadd_ps(v0, kv, a0[c]);
                a1[c] = _mm256_fmadd_ps(v1, kv, a1[c]);
            }
        }
        for (int c = 0; c < NC; ++c) {
            float s0 = hsum8_avx2(a0[c]), s1 = hsum8_avx2(a1[c]);
            const float* kc = kt + (c0 + c) * ldk;
            for (int64_t j = bv; j < bk; ++j) s0 += g0[j] * kc[j], s1 += g1[j] * kc[j];
            dq[r * D + c0 + c] += s0;
            if (two) dq[(r + 1) * D + c0 + c] += s1;
        }
    }
}

void dq_avx2(const float* dS, int64_t bq, int64_t bk, const float* kt, int64_t ldk, int64_t D, float* dq) {
    using Fn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, float*);
    static constexpr Fn by_nc[4] = {dq_rows_avx2<1>, dq_rows_avx2<2>, dq_rows_avx2<3>, dq_rows_avx2<4>};
    for (int64_t c0 = 0; c0 < D; c0 += 4) by_nc[std::min<int64_t>(4, D - c0) - 1](dS, bq, bk, kt, ldk, D, c0, dq);
}

void dq_scalar(const float* dS, int64_t bq, int64_t bk, const float* kt, int64_t ldk, int64_t D, float* dq) {
    for (int64_t r = 0; r < bq; ++r)
        for (int64_t c = 0; c < D; ++c) {
            float s = 0;
            for (int64_t j = 0; j < bk; ++j) s += dS[r * k_ld + j] * kt[c * ldk + j];
            dq[r * D + c] += s;
        }
}

// dkt (D × bk, leading dimension ldk) += Qᵀ (D × bq) · dS (bq × bk, row stride k_ld). (The AVX-512 path uses
// rb_gemm.)
void dkt_scalar(const float* q, int64_t bq, int64_t D, const float* dS, int64_t bk, float* dkt, int64_t ldk) {
    for (int64_t r = 0; r < bq; ++r)
        for (int64_t c = 0; c < D; ++c)
            for (int64_t j = 0; j < bk; ++j) dkt[c * ldk + j] += q[r * D + c] * dS[r * k_ld + j];
}

// --- register-blocked products ------------------------------------------------------------------------------
// C (rows × n) = [C · row_scale] + A · B with A(i, k) = a[i·as + k·ak] (row-major A, or a transposed one, read in
// place) and B row-major (K × n, leading dimension ldb). A block of R ≤ 6 rows × W ≤ 4 vectors of 16 columns
// stays in up to 24 zmm accumulators for the whole K loop: per k, W loads of B, R broadcasts of A and R·W FMAs.
// The last vector of a block is masked, so any n works. The tiles here are small (K ≤ 256, B ≤ 64 KiB), which
// is where the packed SGEMM loses most of its time to packing.
// GCC keeps an accumulator array in registers only when its loops are unrolled before scalar replacement, hence
// the pragmas; the empty asm pins each loaded B vector to a register (the same device as conv_fast.cpp's).
#define FS_ATTN_IN_REGISTER(v) asm("" : "+v"(v))

template <int R, int W>
__attribute__((target("avx512f"))) void rb_block(const float* a, int64_t as, int64_t ak, const float* b,
                                                 int64_t ldb, int64_t K, float* c, int64_t ldc, __mmask16 last,
                                                 const float* row_scale, bool acc_in, float* row_max) {
    __m512 acc[R][W];
    __mmask16 mk[W];
#pragma GCC unroll 4
    for (int u = 0; u < W; ++u) mk[u] = u == W - 1 ? last : __mmask16(0xffff);
    if (acc_in) {
#pragma GCC unroll 6
        for (int i = 0; i < R; ++i) {
            const __m512 sc = _mm512_set1_ps(row_scale ? row_scale[i] : 1.f);
#pragma GCC unroll 4
            for (int u = 0; u < W; ++u)
                acc[i][u] = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk[u], c + i * ldc + 16 * u), sc);
        }
    } else {
#pragma GCC unroll 6
        for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
            for (int u = 0; u < W; ++u) acc[i][u] = _mm512_setzero_ps();
    }
    const float* ar[R];
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) ar[i] = a + i * as;
    for (int64_t k = 0; k < K; ++k, b += ldb) {
        __m512 bv[W];
#pragma GCC unroll 4
        for (int u = 0; u < W; ++u) {
            bv[u] = _mm512_maskz_loadu_ps(mk[u], b + 16 * u);
            FS_ATTN_IN_REGISTER(bv[u]);
        }
        const int64_t ko = k * ak;
#pragma GCC unroll 6
        for (int i = 0; i < R; ++i) {
            const __m512 av = _mm512_set1_ps(ar[i][ko]);
#pragma GCC unroll 4
            for (int u = 0; u < W; ++u) acc[i][u] = _mm512_fmadd_ps(av, bv[u], acc[i][u]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
        for (int u = 0; u < W; ++u) _mm512_mask_storeu_ps(c + i * ldc + 16 * u, mk[u], acc[i][u]);
    if (row_max) {  // the block's part of each row's maximum, folded into row_max (the scores: no second pass)
#pragma GCC unroll 6
        for (int i = 0; i < R; ++i) {
            __m512 mx = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), mk[0], acc[i][0]);
#pragma GCC unroll 4
            for (int u = 1; u < W; ++u) mx = _mm512_mask_max_ps(mx, mk[u], acc[i][u], mx);
            row_max[i] = std::max(row_max[i], _mm512_reduce_max_ps(mx));
        }
    }
}

using RbFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*, int64_t, __mmask16,
                      const float*, bool, float*);

template <int R>
constexpr std::array<RbFn, 4> rb_row() {
    return {rb_block<R, 1>, rb_block<R, 2>, rb_block<R, 3>, rb_block<R, 4>};
}

void rb_gemm_avx2(int64_t rows, int64_t n, int64_t K, const float* a, int64_t as, int64_t ak, const float* b,
                  int64_t ldb, float* c, int64_t ldc, const float* row_scale, bool acc_in, float* row_max,
                  const float* row_shift);

// The register-blocked product on the best SIMD level the CPU has (AVX-512 or AVX2; callers check use_simd()).
void rb_gemm(int64_t rows, int64_t n, int64_t K, const float* a, int64_t as, int64_t ak, const float* b,
             int64_t ldb, float* c, int64_t ldc, const float* row_scale, bool acc_in, float* row_max = nullptr) {
    if (row_max) std::fill(row_max, row_max + rows, -INFINITY);
    if (simd_level() < SimdLevel::avx512)
        return rb_gemm_avx2(rows, n, K, a, as, ak, b, ldb, c, ldc, row_scale, acc_in, row_max, nullptr);
    static constexpr std::array<std::array<RbFn, 4>, 6> table = {rb_row<1>(), rb_row<2>(), rb_row<3>(),
                                                                 rb_row<4>(), rb_row<5>(), rb_row<6>()};
    for (int64_t c0 = 0; c0 < n; c0 += 64) {
        const int64_t cols = std::min<int64_t>(64, n - c0);
        const int64_t W = (cols + 15) / 16, tail = cols - 16 * (W - 1);
        const __mmask16 last = tail == 16 ? __mmask16(0xffff) : __mmask16((1u << tail) - 1);
        for (int64_t r0 = 0, R = 0; r0 < rows; r0 += R) {
            // blocks of 6 rows; 7 or 8 rows left go as 4 + 3 or 4 + 4, not 6 + 1 or 6 + 2: a 1- or 2-row block
            // is bound by its B loads (W loads per R·W FMAs), and the tiles have 128 query rows and D = 8
            const int64_t left = rows - r0;
            R = left == 7 || left == 8 ? 4 : std::min<int64_t>(6, left);
            table[size_t(R - 1)][size_t(W - 1)](a + r0 * as, as, ak, b + c0, ldb, K, c + r0 * ldc + c0, ldc, last,
                                                row_scale ? row_scale + r0 : nullptr, acc_in,
                                                row_max ? row_max + r0 : nullptr);
        }
    }
}

// The AVX2 version of rb_block: R ≤ 6 rows × W ≤ 2 vectors of 8 columns (12 of the 16 ymm registers), no masks:
// rb_gemm_avx2 gives it whole vectors and does a column tail in scalar. It runs nblk such blocks, each 8·W columns
// right of the last, on the same rows (see rb_gemm_avx2's short-K order). Two extras for the score tiles:
//  * vmax (8 floats per row): each row's lane-wise running maximum, folded in as the block is stored. (Reducing
//    every block's maxima across lanes right away cost ~10 shuffles and maxes per row per block, as much as the
//    block's K = 8 FMA steps; the lanes are reduced once per tile instead.)
//  * row_shift: store exp(acc − row_shift[i]) instead of acc (the backward's P = exp(S − lse) straight from the
//    registers, without a second pass over the tile).
#define FS_ATTN_IN_YMM(v) asm("" : "+x"(v))

template <int R, int W>
__attribute__((target("avx2,fma"))) void rb_block_avx2(const float* a, int64_t as, int64_t ak, const float* b0,
                                                       int64_t ldb, int64_t K, float* c, int64_t ldc,
                                                       const float* row_scale, bool acc_in, float* vmax,
                                                       const float* row_shift, int64_t nblk) {
    const float* ar[R];
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) ar[i] = a + i * as;
    for (int64_t blk = 0; blk < nblk; ++blk, b0 += 8 * W, c += 8 * W) {
        const float* b = b0;
        __m256 acc[R][W];
        if (acc_in) {
#pragma GCC unroll 6
            for (int i = 0; i < R; ++i) {
                const __m256 sc = _mm256_set1_ps(row_scale ? row_scale[i] : 1.f);
#pragma GCC unroll 2
                for (int u = 0; u < W; ++u) acc[i][u] = _mm256_mul_ps(_mm256_loadu_ps(c + i * ldc + 8 * u), sc);
            }
        } else {
#pragma GCC unroll 6
            for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
                for (int u = 0; u < W; ++u) acc[i][u] = _mm256_setzero_ps();
        }
        for (int64_t k = 0; k < K; ++k, b += ldb) {
            __m256 bv[W];
#pragma GCC unroll 2
            for (int u = 0; u < W; ++u) {
                bv[u] = _mm256_loadu_ps(b + 8 * u);
                FS_ATTN_IN_YMM(bv[u]);
            }
            const int64_t ko = k * ak;
#pragma GCC unroll 6
            for (int i = 0; i < R; ++i) {
                const __m256 av = _mm256_broadcast_ss(ar[i] + ko);
#pragma GCC unroll 2
                for (int u = 0; u < W; ++u) acc[i][u] = _mm256_fmadd_ps(av, bv[u], acc[i][u]);
            }
        }
        if (vmax) {
#pragma GCC unroll 6
            for (int i = 0; i < R; ++i) {
                __m256 mx = _mm256_max_ps(_mm256_loadu_ps(vmax + 8 * i), acc[i][0]);
                if (W > 1) mx = _mm256_max_ps(mx, acc[i][W - 1]);
                _mm256_storeu_ps(vmax + 8 * i, mx);
            }
        }
        if (row_shift) {
#pragma GCC unroll 6
            for (int i = 0; i < R; ++i) {
                const __m256 sh = _mm256_set1_ps(row_shift[i]);
#pragma GCC unroll 2
                for (int u = 0; u < W; ++u) acc[i][u] = exp2_avx2(_mm256_sub_ps(acc[i][u], sh));
            }
        }
#pragma GCC unroll 6
        for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
            for (int u = 0; u < W; ++u) _mm256_storeu_ps(c + i * ldc + 8 * u, acc[i][u]);
    }
}

using RbFn2 = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*, int64_t, const float*,
                       bool, float*, const float*, int64_t);

template <int R>
constexpr std::array<RbFn2, 2> rb_row_avx2() {
    return {rb_block_avx2<R, 1>, rb_block_avx2<R, 2>};
}

// rb_gemm's contract with the AVX2 blocks: columns in blocks of 16 (the last block 8 when n mod 16 ≥ 8), then the
// n mod 8 tail columns in scalar. row_max (at most k_bq rows) receives each row's maximum before row_shift's exp.
void rb_gemm_avx2(int64_t rows, int64_t n, int64_t K, const float* a, int64_t as, int64_t ak, const float* b,
                  int64_t ldb, float* c, int64_t ldc, const float* row_scale, bool acc_in, float* row_max,
                  const float* row_shift) {
    static constexpr std::array<std::array<RbFn2, 2>, 6> table = {rb_row_avx2<1>(), rb_row_avx2<2>(), rb_row_avx2<3>(),
                                                                  rb_row_avx2<4>(), rb_row_avx2<5>(), rb_row_avx2<6>()};
    alignas(32) float vmax[8 * k_bq];
    if (row_max) {
        FS_CHECK(rows <= k_bq, "attention: a score tile of ", rows, " rows (at most ", k_bq, ")");
        std::fill(vmax, vmax + 8 * rows, -INFINITY);
    }
    const int64_t nv = n / 8 * 8;
    auto run = [&](int64_t R, int64_t W, int64_t r0, int64_t c0, int64_t nblk) {
        table[size_t(R - 1)][size_t(W - 1)](
            a + r0 * as, as, ak, b + c0, ldb, K, c + r0 * ldc + c0, ldc, row_scale ? row_scale + r0 : nullptr, acc_in,
            row_max ? vmax + 8 * r0 : nullptr, row_shift ? row_shift + r0 : nullptr, nblk);
    };
    auto rows_in_block = [&](int64_t r0) {
        const int64_t left = rows - r0;
        return left == 7 || left == 8 ? int64_t(4) : std::min<int64_t>(6, left);
    };
    if (K <= k_short_k) {
        // Short K (the score tiles, K = D): a block's own setup and stores cost as much as its few FMA steps, so
        // each call runs a row block across every column block.
        const int64_t n16 = nv / 16 * 16;
        for (int64_t r0 = 0, R = 0; r0 < rows; r0 += R) {
            R = rows_in_block(r0);
            if (n16 > 0) run(R, 2, r0, 0, n16 / 16);
            if (nv > n16) run(R, 1, r0, n16, 1);
        }
    } else {
        // Long K: column blocks outside, so a block of B (K × 16) stays in L1 while the row blocks pass.
        for (int64_t c0 = 0; c0 < nv; c0 += 16) {
            const int64_t W = std::min<int64_t>(16, nv - c0) / 8;
            for (int64_t r0 = 0, R = 0; r0 < rows; r0 += R) {
                R = rows_in_block(r0);
                run(R, W, r0, c0, 1);
            }
        }
    }
    if (row_max && nv > 0)
        for (int64_t i = 0; i < rows; ++i)
            row_max[i] = std::max(row_max[i], *std::max_element(vmax + 8 * i, vmax + 8 * i + 8));
    for (int64_t i = 0; i < rows && nv < n; ++i)
        for (int64_t j = nv; j < n; ++j) {
            float s = acc_in ? c[i * ldc + j] * (row_scale ? row_scale[i] : 1.f) : 0.f;
            for (int64_t k = 0; k < K; ++k) s += a[i * as + k * ak] * b[k * ldb + j];
            if (row_max) row_max[i] = std::max(row_max[i], s);
            c[i * ldc + j] = row_shift ? std::exp2(s - row_shift[i]) : s;
        }
}

// dS = P ⊙ (dP − Δ_r) · sc over one bq × bk tile (row stride k_ld), in place in dP.
__attribute__((target("avx512f"))) void dscores_avx512(const float* P, float* dP, const float* delta, int64_t bq,
                                                       int64_t bk, float sc) {
    const __m512 vsc = _mm512_set1_ps(sc);
    for (int64_t r = 0; r < bq; ++r) {
        const __m512 dl = _mm512_set1_ps(delta[r]);
        const float* pr = P + r * k_ld;
        float* dpr = dP + r * k_ld;
        for (int64_t j = 0; j < bk; j += 16) {
            const __mmask16 m = bk - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (bk - j)) - 1);
            const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dpr + j), dl);
            _mm512_mask_storeu_ps(dpr + j, m, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, pr + j), d), vsc));
        }
    }
}

__attribute__((target("avx2,fma"))) void dscores_avx2(const float* P, float* dP, const float* delta, int64_t bq,
                                                     int64_t bk, float sc) {
    const __m256 vsc = _mm256_set1_ps(sc);
    for (int64_t r = 0; r < bq; ++r) {
        const __m256 dl = _mm256_set1_ps(delta[r]);
        const float* pr = P + r * k_ld;
        float* dpr = dP + r * k_ld;
        int64_t j = 0;
        for (; j + 8 <= bk; j += 8) {
            const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(dpr + j), dl);
            _mm256_storeu_ps(dpr + j, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(pr + j), d), vsc));
        }
        for (; j < bk; ++j) dpr[j] = pr[j] * (dpr[j] - delta[r]) * sc;
    }
}

void dscores(const float* P, float* dP, const float* delta, int64_t bq, int64_t bk, float sc) {
    if (simd_level() >= SimdLevel::avx512) return dscores_avx512(P, dP, delta, bq, bk, sc);
    dscores_avx2(P, dP, delta, bq, bk, sc);
}

void dq_simd(const float* dS, int64_t bq, int64_t bk, const float* kt, int64_t ldk, int64_t D, float* dq) {
    if (simd_level() >= SimdLevel::avx512) return dq_avx512(dS, bq, bk, kt, ldk, D, dq);
    dq_avx2(dS, bq, bk, kt, ldk, D, dq);
}

// True when the tile products run on the register-blocked kernels (AVX-512 or AVX2 + FMA).
bool use_simd() { return simd_level() >= SimdLevel::avx2; }

// S (row stride k_ld) = sc · Q Kᵀ for one tile (sc includes log2 e: base-2 scores), and each row's maximum in mx
// (when mx is non-null; the backward, which has the row log-sum-exp, skips it): for small D, rb_gemm on qs (= sc · Q,
// prepared by the caller) and kt (the keys transposed with leading dimension ldk, offset to this tile), or the
// scalar kernel; SGEMM above. With lse (the backward; base 2), the tile stores P = 2^(S − lse_r) instead: on AVX2
// straight from the product's registers.
void tile_scores(const float* q, const float* qs, int64_t bq, const float* k, const float* kt, int64_t ldk,
                 int64_t bk, int64_t D, float sc, float* S, float* mx, const float* lse = nullptr) {
    if (D <= k_small_d) {
        if (use_simd() && simd_level() < SimdLevel::avx512) {
            if (mx) std::fill(mx, mx + bq, -INFINITY);
            return rb_gemm_avx2(bq, bk, D, qs, D, 1, kt, ldk, S, k_ld, nullptr, false, mx, lse);
        }
        if (use_simd()) {
            rb_gemm(bq, bk, D, qs, D, 1, kt, ldk, S, k_ld, nullptr, false, mx);
        } else {
            scores_scalar(q, bq, D, kt, ldk, bk, sc, S, mx);
        }
    } else {
        sgemm(false, true, bq, bk, D, sc, q, D, k, D, 0.f, S, k_ld);
        if (mx)
            for (int64_t r = 0; r < bq; ++r) mx[r] = *std::max_element(S + r * k_ld, S + r * k_ld + bk);
    }
    if (lse)
        for (int64_t r = 0; r < bq; ++r) exp2_shift_sum(S + r * k_ld, lse[r], S + r * k_ld, bk);
}

struct Dims {
    int64_t N, M, D, E;
};

// The keys [c0, c1) of one batch item transposed, at their columns of a D × ldk matrix, for the small-D kernels;
// empty when D is above them.
std::vector<float> transposed_keys(const float* k, const Dims& d, int64_t ldk, int64_t c0, int64_t c1) {
    std::vector<float> kt;
    if (d.D <= k_small_d) {
        kt.resize(static_cast<size_t>(d.D * ldk));
        transpose_into(k + c0 * d.D, c1 - c0, d.D, kt.data() + c0, ldk);
    }
    return kt;
}

// Forward for the query rows [r_begin, r_end) of one batch item (r_begin a multiple of k_bq); lse (N) receives
// each row's log-sum-exp of the scaled scores when non-null. With AVX-512, O += P V runs on rb_gemm with the
// online-softmax rescale of the earlier partial output folded into its accumulator load.
void forward_one(const AttentionParams& prm, const Dims& d, const float* q, const float* k, const float* v, float* o,
                 float* lse, bool want_o, int64_t r_begin, int64_t r_end) {
    const float sc2 = float(prm.scale * k_log2e_d);  // the scores in base 2 (see k_log2e)
    const bool fast = use_simd();
    const int64_t ldk = padded_ld(d.M);
    const std::vector<float> kt = transposed_keys(k, d, ldk, 0, d.M);
    // V as the SIMD products read it (rows padded_row(E) apart)
    const int64_t ldv = fast ? padded_row(d.E) : d.E;
    std::vector<float> vp;
    if (want_o && ldv != d.E) vp.resize(static_cast<size_t>(d.M * ldv)), copy_rows(v, d.M, d.E, vp.data(), ldv);
    const float* vs = vp.empty() ? v : vp.data();
    std::vector<float> S(static_cast<size_t>(k_bq * k_ld)), m(static_cast<size_t>(k_bq));
    std::vector<float> l(static_cast<size_t>(k_bq)), mx(static_cast<size_t>(k_bq)), keep(static_cast<size_t>(k_bq));
    std::vector<float> qs(static_cast<size_t>(k_bq * d.D));
    for (int64_t i0 = r_begin; i0 < r_end; i0 += k_bq) {
        const int64_t bq = std::min(k_bq, r_end - i0);
        std::fill(m.begin(), m.end(), -INFINITY);
        std::fill(l.begin(), l.end(), 0.f);
        float* ob = o ? o + i0 * d.E : nullptr;
        if (want_o && !fast) std::fill(ob, ob + bq * d.E, 0.f);
        if (fast && !kt.empty())  // the scaled queries only the rb_gemm scores read
            for (int64_t i = 0; i < bq * d.D; ++i) qs[size_t(i)] = q[i0 * d.D + i] * sc2;
        for (int64_t j0 = 0; j0 < d.M; j0 += k_bk) {
            const int64_t bk = std::min(k_bk, d.M - j0);
            tile_scores(q + i0 * d.D, qs.data(), bq, k + j0 * d.D, kt.empty() ? nullptr : kt.data() + j0, ldk, bk,
                        d.D, sc2, S.data(), mx.data());
            for (int64_t r = 0; r < bq; ++r) {
                float* s = S.data() + r * k_ld;
                const float m_new = std::max(m[size_t(r)], mx[size_t(r)]);
                keep[size_t(r)] = std::exp2(m[size_t(r)] - m_new);  // 0 on the first tile (m = −inf)
                l[size_t(r)] = l[size_t(r)] * keep[size_t(r)] + exp2_shift_sum(s, m_new, s, bk);
                m[size_t(r)] = m_new;
            }
            if (!want_o) continue;
            if (fast) {
                rb_gemm(bq, d.E, bk, S.data(), k_ld, 1, vs + j0 * ldv, ldv, ob, d.E, keep.data(), j0 > 0);
            } else {
                for (int64_t r = 0; r < bq; ++r)
                    if (keep[size_t(r)] != 1.f)
                        for (int64_t e = 0; e < d.E; ++e) ob[r * d.E + e] *= keep[size_t(r)];
                sgemm(false, false, bq, d.E, bk, 1.f, S.data(), k_ld, v + j0 * d.E, d.E, 1.f, ob, d.E);
            }
        }
        for (int64_t r = 0; r < bq; ++r) {
            if (want_o) {
                float inv = 1.f / l[size_t(r)];
                for (int64_t e = 0; e < d.E; ++e) ob[r * d.E + e] *= inv;
            }
            if (lse) lse[i0 + r] = k_ln2 * (m[size_t(r)] + std::log2(l[size_t(r)]));
        }
    }
}

// Backward for the keys [c_begin, c_end) of one batch item, given every query row's log-sum-exp in base 2 (lse2,
// as the tiles' scores): dk and dv rows [c_begin, c_end) assigned, dq ACCUMULATED (the caller zeroes it; every key
// range adds its share). The key blocks are the outer loop (FlashAttention-2's order): a block's dV (k_bk × E), its Vᵀ columns and its dKᵀ stay in L2
// while every query block passes, so the long products accumulate into cached memory; with the query blocks
// outside, dv's and Vᵀ's block came from L3 for every tile (the item's dv and Vᵀ are 1 MiB each at N = 4096,
// E = 64), and the dV and dP products ran at ~60 % of the FMA peak against ~100 % with hot operands. What
// streams instead is dO, one query block (32 KiB) at a time. With SIMD the four products of a tile run on rb_gemm
// and the small-D kernels: dV += Pᵀ dO reads P transposed in place, dP = dO Vᵀ reads V transposed once per call,
// and dKᵀ += Qᵀ dS accumulates in a transposed buffer that is added into dk after the block.
void backward_one(const AttentionParams& prm, const Dims& d, const float* q, const float* k, const float* v,
                  const float* dout, const float* lse2, const float* delta, float* dq, float* dk, float* dv,
                  int64_t c_begin, int64_t c_end) {
    const float sc = float(prm.scale), sc2 = float(prm.scale * k_log2e_d);
    const bool fast = use_simd();
    const bool small = d.D <= k_small_d;
    // Scratch always exists so the products can be formed even when a gradient is not wanted.
    std::vector<float> dq_s, dk_s, dv_s;
    if (!dq) dq_s.resize(static_cast<size_t>(d.N * d.D)), dq = dq_s.data();
    if (!dk) dk_s.resize(static_cast<size_t>(d.M * d.D)), dk = dk_s.data();
    if (!dv) dv_s.resize(static_cast<size_t>(d.M * d.E)), dv = dv_s.data();
    std::fill(dk + c_begin * d.D, dk + c_end * d.D, 0.f);
    std::fill(dv + c_begin * d.E, dv + c_end * d.E, 0.f);
    // This range's columns of the keys and (for the SIMD dP) the values transposed, at their places in D × ldk and
    // E × ldk.
    const int64_t ldk = padded_ld(d.M);
    const std::vector<float> kt = transposed_keys(k, d, ldk, c_begin, c_end);
    std::vector<float> dkt(kt.size()), vt;
    if (fast) {
        vt.resize(static_cast<size_t>(d.E * ldk));
        transpose_into(v + c_begin * d.E, c_end - c_begin, d.E, vt.data() + c_begin, ldk);
    }
    // The scaled queries the rb_gemm scores read, and dO as the SIMD products read it (rows padded_row(E) apart).
    std::vector<float> qs(fast && small ? static_cast<size_t>(d.N * d.D) : 0);
    for (size_t i = 0; i < qs.size(); ++i) qs[i] = q[i] * sc2;
    const int64_t lddo = fast ? padded_row(d.E) : d.E;
    std::vector<float> dop(lddo != d.E ? static_cast<size_t>(d.N * lddo) : 0);
    if (!dop.empty()) copy_rows(dout, d.N, d.E, dop.data(), lddo);
    const float* dos = dop.empty() ? dout : dop.data();
    std::vector<float> P(static_cast<size_t>(k_bq * k_ld)), dP(static_cast<size_t>(k_bq * k_ld));
    for (int64_t j0 = c_begin; j0 < c_end; j0 += k_bk) {
        const int64_t bk = std::min(k_bk, c_end - j0);
        for (int64_t i0 = 0; i0 < d.N; i0 += k_bq) {
            const int64_t bq = std::min(k_bq, d.N - i0);
            const float* qb = q + i0 * d.D;
            const float* dob = dout + i0 * d.E;
            tile_scores(qb, qs.empty() ? nullptr : qs.data() + i0 * d.D, bq, k + j0 * d.D,
                        small ? kt.data() + j0 : nullptr, ldk, bk, d.D, sc2, P.data(), nullptr, lse2 + i0);
            if (fast) {
                // dV_j += Pᵀ dO_i;  dP = dO_i V_jᵀ;  dS = P ⊙ (dP − Δ)·scale (in place in dP)
                const float* dobs = dos + i0 * lddo;
                rb_gemm(bk, d.E, bq, P.data(), 1, k_ld, dobs, lddo, dv + j0 * d.E, d.E, nullptr, true);
                rb_gemm(bq, bk, d.E, dobs, lddo, 1, vt.data() + j0, ldk, dP.data(), k_ld, nullptr, false);
                dscores(P.data(), dP.data(), delta + i0, bq, bk, sc);
            } else {
                sgemm(true, false, bk, d.E, bq, 1.f, P.data(), k_ld, dob, d.E, 1.f, dv + j0 * d.E, d.E);
                sgemm(false, true, bq, bk, d.E, 1.f, dob, d.E, v + j0 * d.E, d.E, 0.f, dP.data(), k_ld);
                for (int64_t r = 0; r < bq; ++r) {
                    const float dl = delta[i0 + r];
                    float* dpr = dP.data() + r * k_ld;
                    const float* pr = P.data() + r * k_ld;
                    for (int64_t c = 0; c < bk; ++c) dpr[c] = pr[c] * (dpr[c] - dl) * sc;
                }
            }
            // dQ_i += dS K_j;  dK_j += dSᵀ Q_i
            if (small) {
                if (fast) {
                    dq_simd(dP.data(), bq, bk, kt.data() + j0, ldk, d.D, dq + i0 * d.D);
                    rb_gemm(d.D, bk, bq, qb, 1, d.D, dP.data(), k_ld, dkt.data() + j0, ldk, nullptr, true);
                } else {
                    dq_scalar(dP.data(), bq, bk, kt.data() + j0, ldk, d.D, dq + i0 * d.D);
                    dkt_scalar(qb, bq, d.D, dP.data(), bk, dkt.data() + j0, ldk);
                }
            } else {
                sgemm(false, false, bq, d.D, bk, 1.f, dP.data(), k_ld, k + j0 * d.D, d.D, 1.f, dq + i0 * d.D, d.D);
                sgemm(true, false, bk, d.D, bq, 1.f, dP.data(), k_ld, qb, d.D, 1.f, dk + j0 * d.D, d.D);
            }
        }
        if (small)
            for (int64_t j = j0; j < j0 + bk; ++j)
                for (int64_t c = 0; c < d.D; ++c) dk[j * d.D + c] = dkt[size_t(c * ldk + j)];
    }
}

// forward_one over (batch item, block of k_bq query rows) units in parallel, a chunk's units of one item in one
// call; without O (want_o false, o null) it computes only lse.
void forward_all(const AttentionParams& p, const Dims& d, int64_t B, const float* q, const float* k, const float* v,
                 float* o, float* lse, bool want_o) {
    const int64_t N = d.N, M = d.M, D = d.D, E = d.E, nblk = (N + k_bq - 1) / k_bq;
    parallel_for(B * nblk, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1;) {
            const int64_t b = u / nblk, blk0 = u % nblk, blk1 = std::min(nblk, blk0 + (u1 - u));
            forward_one(p, d, q + b * N * D, k + b * M * D, v + b * M * E, o ? o + b * N * E : nullptr,
                        lse ? lse + b * N : nullptr, want_o, blk0 * k_bq, std::min(N, blk1 * k_bq));
            u += blk1 - blk0;
        }
    });
}

}  // namespace

// The forward's work is split over (batch item, block of k_bq query rows) units, so a single image (the
// converter's batch of one) uses every thread too; they are independent. The backward's units are halves of an
// item's keys (see attention_backward_fast).
void attention_forward_fast(const AttentionParams& p, const float* q, const float* k, const float* v, float* o,
                            int64_t B, int64_t N, int64_t M, int64_t D, int64_t E, float* lse) {
    forward_all(p, Dims{N, M, D, E}, B, q, k, v, o, lse, true);
}

void attention_backward_fast(const AttentionParams& p, const float* q, const float* k, const float* v, const float* o,
                             const float* dout, float* dq, float* dk, float* dv, int64_t B, int64_t N, int64_t M,
                             int64_t D, int64_t E, const float* lse) {
    Dims d{N, M, D, E};
    std::vector<float> lse_own;
    if (!lse) {  // the forward's row statistics, recomputed (its first pass over the scores, without O)
        lse_own.resize(static_cast<size_t>(B * N));
        forward_all(p, d, B, q, k, v, nullptr, lse_own.data(), false);
        lse = lse_own.data();
    }
    // the row log-sum-exp in base 2, as the tiles' scores (once here: both key halves of an item read all of it)
    std::vector<float> lse2(static_cast<size_t>(B * N));
    for (int64_t i = 0; i < B * N; ++i) lse2[size_t(i)] = lse[i] * k_log2e;
    if (dq) std::fill(dq, dq + B * N * D, 0.f);
    // Δ_i = dO_i · O_i for every query row (each key range needs all of them)
    std::vector<float> delta(static_cast<size_t>(B * N));
    parallel_for(B * N, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            double s = 0;
            for (int64_t e = 0; e < E; ++e) s += double(dout[i * E + e]) * o[i * E + e];
            delta[size_t(i)] = float(s);
        }
    });
    // Units: each item's keys in two fixed halves (whole items from a batch of 16, which alone gives the pool's
    // chunks enough units). A unit owns its dk and dv rows; a half adds its dq share to the item's under the
    // mutex, in whichever order the halves finish: with two addends on a zeroed sum, (0 + a) + b == (0 + b) + a
    // exactly, so the result depends neither on the timing nor on the thread count. More pieces per item would
    // make the sum order-dependent.
    const int64_t kblk = (M + k_bk - 1) / k_bk;
    const int64_t pieces = kblk >= 2 && B < 16 ? 2 : 1;
    const bool whole = pieces == 1;  // a unit owns every key of its item: it writes dq directly
    std::mutex mu;
    parallel_for(B * pieces, [&](int64_t u0, int64_t u1) {
        std::vector<float> dq_l;
        for (int64_t u = u0; u < u1; ++u) {
            const int64_t b = u / pieces, piece = u % pieces;
            const int64_t blk0 = kblk * piece / pieces, blk1 = kblk * (piece + 1) / pieces;
            if (!whole && dq) dq_l.assign(static_cast<size_t>(N * D), 0.f);
            float* dqb = dq ? (whole ? dq + b * N * D : dq_l.data()) : nullptr;
            backward_one(p, d, q + b * N * D, k + b * M * D, v + b * M * E, dout + b * N * E, lse2.data() + b * N,
                         delta.data() + b * N, dqb, dk ? dk + b * M * D : nullptr, dv ? dv + b * M * E : nullptr,
                         blk0 * k_bk, std::min(M, blk1 * k_bk));
            if (!whole && dq) {
                std::lock_guard<std::mutex> lk(mu);
                for (int64_t i = 0; i < N * D; ++i) dq[b * N * D + i] += dq_l[size_t(i)];
            }
        }
    });
}

}  // namespace fs
