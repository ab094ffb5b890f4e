// attention_fast.cpp: flash-style softmax attention for f32 on the CPU. Queries are processed in blocks of
// k_bq rows against key blocks of k_bk: S = Q Kᵀ by SGEMM, an online softmax (running max m and sum l per row,
// earlier partial outputs rescaled by exp(m_old − m_new)), O += P V by SGEMM. No N×M matrix is ever stored:
// the working set is one k_bq×k_bk score tile (128 KiB) plus the row statistics. The backward recomputes the
// row log-sum-exp, then per tile P = exp(S − lse), dV += Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − Δ), dQ += dS K,
// dK += dSᵀ Q, with Δ_i = dO_i·O_i. Batch items run in parallel.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

// GCC 12 reports false "may be used uninitialized" warnings from inside its own AVX-512 intrinsics headers
// (their _mm512_undefined_ps() pass-through operands); they are not about this file's code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/attention.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/sgemm.h"

namespace fs {

namespace {

constexpr int64_t k_bq = 128;  // query rows per tile
constexpr int64_t k_bk = 256;  // keys per tile: a 128×256 f32 score tile is 128 KiB, inside Zen 4's 1 MiB L2

// y[i] = exp(x[i] − shift), returns Σ y. AVX-512 path: Cody–Waite range reduction (x = n·ln2 + r, |r| ≤ ln2/2)
// and a degree-6 polynomial for e^r, then 2^n through the exponent bits; relative error about 2e-7, which is
// well inside the 1e-5 the tests allow against the reference (std::exp). Inputs below −87 flush to 0.
__attribute__((target("avx512f,avx512dq,fma"))) float exp_shift_sum_avx512(const float* x, float shift, float* y,
                                                                          int64_t n) {
    const __m512 vshift = _mm512_set1_ps(shift), log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    const __m512 lo = _mm512_set1_ps(-87.0f), hi = _mm512_set1_ps(88.0f);
    const __m512 c1 = _mm512_set1_ps(1.0f), c2 = _mm512_set1_ps(0.5f), c3 = _mm512_set1_ps(1.6666666e-1f),
                 c4 = _mm512_set1_ps(4.1666645e-2f), c5 = _mm512_set1_ps(8.3333450e-3f),
                 c6 = _mm512_set1_ps(1.3887961e-3f), c7 = _mm512_set1_ps(1.9875691e-4f);
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_sub_ps(_mm512_loadu_ps(x + i), vshift);
        __mmask16 under = _mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ);
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(v, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_fnmadd_ps(k, ln2_hi, v);
        r = _mm512_fnmadd_ps(k, ln2_lo, r);
        __m512 p = _mm512_fmadd_ps(c7, r, c6);
        p = _mm512_fmadd_ps(p, r, c5);
        p = _mm512_fmadd_ps(p, r, c4);
        p = _mm512_fmadd_ps(p, r, c3);
        p = _mm512_fmadd_ps(p, r, c2);
        p = _mm512_fmadd_ps(p, r, c1);
        p = _mm512_fmadd_ps(p, r, c1);  // e^r ≈ 1 + r + r²/2 + ... + r⁷/5040
        __m512 e = _mm512_scalef_ps(p, k);  // p·2^k
        e = _mm512_maskz_mov_ps(static_cast<__mmask16>(~under), e);
        _mm512_storeu_ps(y + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    float buf[16];
    _mm512_storeu_ps(buf, acc);
    float s = 0;
    for (float b : buf) s += b;
    for (; i < n; ++i) s += (y[i] = std::exp(x[i] - shift));
    return s;
}

float exp_shift_sum_scalar(const float* x, float shift, float* y, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += (y[i] = std::exp(x[i] - shift));
    return s;
}

float exp_shift_sum(const float* x, float shift, float* y, int64_t n) {
    static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    return avx512 ? exp_shift_sum_avx512(x, shift, y, n) : exp_shift_sum_scalar(x, shift, y, n);
}

// --- small-D tiles -------------------------------------------------------------------------------------------
// faceswap-GAN's queries and keys have D = C/8 = 4..64 channels. For such a thin inner dimension the packed
// SGEMM spends more time packing than multiplying, so the three products with D as an operand width run here,
// on a transposed key tile kt (D × bk) held in L1: each is a sequence of 16-lane FMAs along the keys.
constexpr int64_t k_small_d = 32;

// kt (D × bk) = transpose of the bk key rows (bk × D).
void transpose_keys(const float* k, int64_t bk, int64_t D, float* kt) {
    for (int64_t j = 0; j < bk; ++j)
        for (int64_t c = 0; c < D; ++c) kt[c * bk + j] = k[j * D + c];
}

// S (bq × bk) = sc · Q (bq × D) · kt.
__attribute__((target("avx512f"))) void scores_avx512(const float* q, int64_t bq, int64_t D, const float* kt,
                                                      int64_t bk, float sc, float* S) {
    for (int64_t r = 0; r < bq; ++r) {
        const float* qr = q + r * D;
        float* sr = S + r * bk;
        for (int64_t j0 = 0; j0 < bk; j0 += 128) {  // 8 accumulators of 16 keys
            const int64_t n = std::min<int64_t>(128, bk - j0);
            __m512 acc[8];
            for (int u = 0; u < 8; ++u) acc[u] = _mm512_setzero_ps();
            for (int64_t c = 0; c < D; ++c) {
                const __m512 a = _mm512_set1_ps(qr[c] * sc);
                const float* kr = kt + c * bk + j0;
                for (int u = 0; u < 8; ++u) {
                    const int64_t left = n - 16 * u;
                    if (left <= 0) break;
                    const __mmask16 m = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
                    acc[u] = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m, kr + 16 * u), acc[u]);
                }
            }
            for (int u = 0; u < 8; ++u) {
                const int64_t left = n - 16 * u;
                if (left <= 0) break;
                const __mmask16 m = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
                _mm512_mask_storeu_ps(sr + j0 + 16 * u, m, acc[u]);
            }
        }
    }
}

void scores_scalar(const float* q, int64_t bq, int64_t D, const float* kt, int64_t bk, float sc, float* S) {
    for (int64_t r = 0; r < bq; ++r) {
        float* sr = S + r * bk;
        std::fill(sr, sr + bk, 0.f);
        for (int64_t c = 0; c < D; ++c) {
            const float a = q[r * D + c] * sc;
            for (int64_t j = 0; j < bk; ++j) sr[j] += a * kt[c * bk + j];
        }
    }
}

// dq (bq × D) += dS (bq × bk) · ktᵀ: D dot products of length bk per row.
__attribute__((target("avx512f"))) void dq_avx512(const float* dS, int64_t bq, int64_t bk, const float* kt,
                                                  int64_t D, float* dq) {
    for (int64_t r = 0; r < bq; ++r) {
        const float* g = dS + r * bk;
        for (int64_t c = 0; c < D; ++c) {
            const float* kr = kt + c * bk;
            __m512 acc = _mm512_setzero_ps();
            int64_t j = 0;
            for (; j + 16 <= bk; j += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(g + j), _mm512_loadu_ps(kr + j), acc);
            float s = _mm512_reduce_add_ps(acc);
            for (; j < bk; ++j) s += g[j] * kr[j];
            dq[r * D + c] += s;
        }
    }
}

void dq_scalar(const float* dS, int64_t bq, int64_t bk, const float* kt, int64_t D, float* dq) {
    for (int64_t r = 0; r < bq; ++r)
        for (int64_t c = 0; c < D; ++c) {
            float s = 0;
            for (int64_t j = 0; j < bk; ++j) s += dS[r * bk + j] * kt[c * bk + j];
            dq[r * D + c] += s;
        }
}

// dkt (D × bk) += Qᵀ (D × bq) · dS (bq × bk): an AXPY of each dS row per query channel.
__attribute__((target("avx512f"))) void dkt_avx512(const float* q, int64_t bq, int64_t D, const float* dS,
                                                   int64_t bk, float* dkt) {
    for (int64_t r = 0; r < bq; ++r) {
        const float* g = dS + r * bk;
        for (int64_t c = 0; c < D; ++c) {
            const __m512 a = _mm512_set1_ps(q[r * D + c]);
            float* out = dkt + c * bk;
            int64_t j = 0;
            for (; j + 16 <= bk; j += 16)
                _mm512_storeu_ps(out + j, _mm512_fmadd_ps(a, _mm512_loadu_ps(g + j), _mm512_loadu_ps(out + j)));
            for (; j < bk; ++j) out[j] += q[r * D + c] * g[j];
        }
    }
}

void dkt_scalar(const float* q, int64_t bq, int64_t D, const float* dS, int64_t bk, float* dkt) {
    for (int64_t r = 0; r < bq; ++r)
        for (int64_t c = 0; c < D; ++c)
            for (int64_t j = 0; j < bk; ++j) dkt[c * bk + j] += q[r * D + c] * dS[r * bk + j];
}

bool use_avx512() {
    static const bool b = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    return b;
}

// S = sc · Q Kᵀ for one tile: the small-D kernel (kt already transposed) or SGEMM.
void tile_scores(const float* q, int64_t bq, const float* k, const float* kt, int64_t bk, int64_t D, float sc,
                 float* S) {
    if (D <= k_small_d) {
        if (use_avx512()) scores_avx512(q, bq, D, kt, bk, sc, S);
        else scores_scalar(q, bq, D, kt, bk, sc, S);
    } else {
        sgemm(false, true, bq, bk, D, sc, q, D, k, D, 0.f, S, bk);
    }
}

struct Dims {
    int64_t N, M, D, E;
};

// Forward for the query rows [r_begin, r_end) of one batch item (r_begin a multiple of k_bq); lse (N) receives
// each row's log-sum-exp of the scaled scores when non-null.
void forward_one(const AttentionParams& prm, const Dims& d, const float* q, const float* k, const float* v, float* o,
                 float* lse, bool want_o, int64_t r_begin, int64_t r_end) {
    const float sc = float(prm.scale);
    std::vector<float> S(static_cast<size_t>(k_bq * k_bk)), m(static_cast<size_t>(k_bq)), l(static_cast<size_t>(k_bq));
    std::vector<float> kt(static_cast<size_t>(k_bk * d.D));
    for (int64_t i0 = r_begin; i0 < r_end; i0 += k_bq) {
        const int64_t bq = std::min(k_bq, r_end - i0);
        std::fill(m.begin(), m.end(), -INFINITY);
        std::fill(l.begin(), l.end(), 0.f);
        float* ob = o ? o + i0 * d.E : nullptr;
        if (want_o) std::fill(ob, ob + bq * d.E, 0.f);
        for (int64_t j0 = 0; j0 < d.M; j0 += k_bk) {
            const int64_t bk = std::min(k_bk, d.M - j0);
            if (d.D <= k_small_d) transpose_keys(k + j0 * d.D, bk, d.D, kt.data());
            tile_scores(q + i0 * d.D, bq, k + j0 * d.D, kt.data(), bk, d.D, sc, S.data());
            for (int64_t r = 0; r < bq; ++r) {
                float* s = S.data() + r * bk;
                float mx = *std::max_element(s, s + bk);
                float m_new = std::max(m[size_t(r)], mx);
                float keep = std::exp(m[size_t(r)] - m_new);  // 0 on the first tile (m = −inf)
                l[size_t(r)] = l[size_t(r)] * keep + exp_shift_sum(s, m_new, s, bk);
                m[size_t(r)] = m_new;
                if (want_o && keep != 1.f)
                    for (int64_t e = 0; e < d.E; ++e) ob[r * d.E + e] *= keep;
            }
            if (want_o) sgemm(false, false, bq, d.E, bk, 1.f, S.data(), bk, v + j0 * d.E, d.E, 1.f, ob, d.E);
        }
        for (int64_t r = 0; r < bq; ++r) {
            if (want_o) {
                float inv = 1.f / l[size_t(r)];
                for (int64_t e = 0; e < d.E; ++e) ob[r * d.E + e] *= inv;
            }
            if (lse) lse[i0 + r] = m[size_t(r)] + std::log(l[size_t(r)]);
        }
    }
}

// Backward for the query rows [r_begin, r_end) of one batch item: dq rows assigned, dk and dv ACCUMULATED (the
// caller zeroes them; every row range adds its share).
void backward_one(const AttentionParams& prm, const Dims& d, const float* q, const float* k, const float* v,
                  const float* o, const float* dout, float* dq, float* dk, float* dv, int64_t r_begin,
                  int64_t r_end) {
    const float sc = float(prm.scale);
    std::vector<float> lse(static_cast<size_t>(d.N)), delta(static_cast<size_t>(d.N));
    forward_one(prm, d, q, k, v, nullptr, lse.data(), false, r_begin, r_end);
    for (int64_t i = r_begin; i < r_end; ++i) {
        double s = 0;
        for (int64_t e = 0; e < d.E; ++e) s += double(dout[i * d.E + e]) * o[i * d.E + e];
        delta[size_t(i)] = float(s);
    }
    // Scratch always exists so the products can be formed even when a gradient is not wanted.
    std::vector<float> dq_s, dk_s, dv_s;
    if (!dq) dq_s.resize(static_cast<size_t>(d.N * d.D)), dq = dq_s.data();
    if (!dk) dk_s.resize(static_cast<size_t>(d.M * d.D)), dk = dk_s.data();
    if (!dv) dv_s.resize(static_cast<size_t>(d.M * d.E)), dv = dv_s.data();
    std::fill(dq + r_begin * d.D, dq + r_end * d.D, 0.f);
    std::vector<float> P(static_cast<size_t>(k_bq * k_bk)), dP(static_cast<size_t>(k_bq * k_bk));
    std::vector<float> kt(static_cast<size_t>(k_bk * d.D)), dkt(static_cast<size_t>(k_bk * d.D));
    const bool small = d.D <= k_small_d;
    for (int64_t i0 = r_begin; i0 < r_end; i0 += k_bq) {
        const int64_t bq = std::min(k_bq, r_end - i0);
        for (int64_t j0 = 0; j0 < d.M; j0 += k_bk) {
            const int64_t bk = std::min(k_bk, d.M - j0);
            if (small) transpose_keys(k + j0 * d.D, bk, d.D, kt.data());
            tile_scores(q + i0 * d.D, bq, k + j0 * d.D, kt.data(), bk, d.D, sc, P.data());
            for (int64_t r = 0; r < bq; ++r) exp_shift_sum(P.data() + r * bk, lse[size_t(i0 + r)], P.data() + r * bk, bk);
            // dV_j += Pᵀ dO_i
            sgemm(true, false, bk, d.E, bq, 1.f, P.data(), bk, dout + i0 * d.E, d.E, 1.f, dv + j0 * d.E, d.E);
            // dP = dO_i V_jᵀ, then dS = P ⊙ (dP − Δ)·scale (in place in dP)
            sgemm(false, true, bq, bk, d.E, 1.f, dout + i0 * d.E, d.E, v + j0 * d.E, d.E, 0.f, dP.data(), bk);
            for (int64_t r = 0; r < bq; ++r) {
                const float dl = delta[size_t(i0 + r)];
                float* dpr = dP.data() + r * bk;
                const float* pr = P.data() + r * bk;
                for (int64_t c = 0; c < bk; ++c) dpr[c] = pr[c] * (dpr[c] - dl) * sc;
            }
            // dQ_i += dS K_j;  dK_j += dSᵀ Q_i
            if (small) {
                std::fill(dkt.begin(), dkt.begin() + bk * d.D, 0.f);
                if (use_avx512()) {
                    dq_avx512(dP.data(), bq, bk, kt.data(), d.D, dq + i0 * d.D);
                    dkt_avx512(q + i0 * d.D, bq, d.D, dP.data(), bk, dkt.data());
                } else {
                    dq_scalar(dP.data(), bq, bk, kt.data(), d.D, dq + i0 * d.D);
                    dkt_scalar(q + i0 * d.D, bq, d.D, dP.data(), bk, dkt.data());
                }
                float* dkb = dk + j0 * d.D;
                for (int64_t j = 0; j < bk; ++j)
                    for (int64_t c = 0; c < d.D; ++c) dkb[j * d.D + c] += dkt[size_t(c * bk + j)];
            } else {
                sgemm(false, false, bq, d.D, bk, 1.f, dP.data(), bk, k + j0 * d.D, d.D, 1.f, dq + i0 * d.D, d.D);
                sgemm(true, false, bk, d.D, bq, 1.f, dP.data(), bk, q + i0 * d.D, d.D, 1.f, dk + j0 * d.D, d.D);
            }
        }
    }
}

}  // namespace

// Work is split over (batch item, block of k_bq query rows) units, so a single image (the converter's batch of
// one) uses every thread too. The forward's units are independent. In the backward, dq rows belong to one unit;
// dk and dv sum over all of an item's query blocks, so each chunk of units accumulates them in its own buffers
// and adds those into the outputs under a lock.
void attention_forward_fast(const AttentionParams& p, const float* q, const float* k, const float* v, float* o,
                            int64_t B, int64_t N, int64_t M, int64_t D, int64_t E) {
    Dims d{N, M, D, E};
    const int64_t nblk = (N + k_bq - 1) / k_bq;
    parallel_for(B * nblk, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1;) {
            const int64_t b = u / nblk, blk0 = u % nblk, blk1 = std::min(nblk, blk0 + (u1 - u));
            forward_one(p, d, q + b * N * D, k + b * M * D, v + b * M * E, o + b * N * E, nullptr, true, blk0 * k_bq,
                        std::min(N, blk1 * k_bq));
            u += blk1 - blk0;
        }
    });
}

void attention_backward_fast(const AttentionParams& p, const float* q, const float* k, const float* v, const float* o,
                             const float* dout, float* dq, float* dk, float* dv, int64_t B, int64_t N, int64_t M,
                             int64_t D, int64_t E) {
    Dims d{N, M, D, E};
    const int64_t nblk = (N + k_bq - 1) / k_bq;
    if (dk) std::fill(dk, dk + B * M * D, 0.f);
    if (dv) std::fill(dv, dv + B * M * E, 0.f);
    std::mutex mu;
    parallel_for(B * nblk, [&](int64_t u0, int64_t u1) {
        std::vector<float> dk_l(static_cast<size_t>(M * D)), dv_l(static_cast<size_t>(M * E));
        for (int64_t u = u0; u < u1;) {
            const int64_t b = u / nblk, blk0 = u % nblk, blk1 = std::min(nblk, blk0 + (u1 - u));
            const bool whole = blk0 == 0 && blk1 == nblk;  // this chunk owns every row of item b: write directly
            float* dkb = dk ? (whole ? dk + b * M * D : dk_l.data()) : nullptr;
            float* dvb = dv ? (whole ? dv + b * M * E : dv_l.data()) : nullptr;
            if (!whole) {
                std::fill(dk_l.begin(), dk_l.end(), 0.f);
                std::fill(dv_l.begin(), dv_l.end(), 0.f);
            }
            backward_one(p, d, q + b * N * D, k + b * M * D, v + b * M * E, o + b * N * E, dout + b * N * E,
                         dq ? dq + b * N * D : nullptr, dkb, dvb, blk0 * k_bq, std::min(N, blk1 * k_bq));
            if (!whole) {
                std::lock_guard<std::mutex> lk(mu);
                if (dk)
                    for (int64_t i = 0; i < M * D; ++i) dk[b * M * D + i] += dk_l[size_t(i)];
                if (dv)
                    for (int64_t i = 0; i < M * E; ++i) dv[b * M * E + i] += dv_l[size_t(i)];
            }
            u += blk1 - blk0;
        }
    });
}

}  // namespace fs
