// elementwise_fast.cpp: the unary and binary ops in f32 over every thread, vectorised. Each loop evaluates the
// scalar math of kernels/elementwise.h with the op kind fixed at compile time, so the switch folds away and the
// compiler vectorises the loop; further copies of each loop are compiled for AVX-512 and for AVX2 and picked at run
// time (simd_level()). The build does not contract multiplies and adds into FMAs (ISO C++ mode), so every copy
// rounds as the scalar loop does.
#include <algorithm>
#include <vector>

#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace fs {

namespace {

constexpr int64_t k_grain = int64_t(1) << 15;  // elements per parallel chunk (128 KiB of f32)

#ifdef FS_X86_SIMD
#define FS_EW_AVX512 __attribute__((target("avx512f")))
#define FS_EW_AVX2 __attribute__((target("avx2")))
#else
#define FS_EW_AVX512
#define FS_EW_AVX2
#endif

// The vector width a loop runs at: 2 = AVX-512, 1 = AVX2, 0 = the baseline copy.
int level() {
#ifdef FS_X86_SIMD
    return int(simd_level());
#else
    return 0;
#endif
}

// Runs body(begin, end) over [0, n) in chunks of k_grain on every thread.
template <typename F>
void chunked(int64_t n, F&& body) {
    const int64_t chunks = (n + k_grain - 1) / k_grain;
    if (chunks <= 1) return body(int64_t(0), n);
    parallel_for(chunks, [&](int64_t c0, int64_t c1) { body(c0 * k_grain, std::min(n, c1 * k_grain)); });
}

// --- unary ---------------------------------------------------------------------------------------------------

template <UnaryKind K>
inline void uf_loop(const UnaryParams& p, const float* x, float* y, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = unary_value(K, x[i], p);
}
template <UnaryKind K>
FS_EW_AVX512 void uf_loop_avx512(const UnaryParams& p, const float* x, float* y, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = unary_value(K, x[i], p);
}
template <UnaryKind K>
FS_EW_AVX2 void uf_loop_avx2(const UnaryParams& p, const float* x, float* y, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = unary_value(K, x[i], p);
}
template <UnaryKind K>
inline void ub_loop(const UnaryParams& p, const float* x, const float* y, const float* dy, float* dx, int64_t b,
                    int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * unary_derivative(K, x[i], y[i], p);
}
template <UnaryKind K>
FS_EW_AVX512 void ub_loop_avx512(const UnaryParams& p, const float* x, const float* y, const float* dy, float* dx,
                                 int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * unary_derivative(K, x[i], y[i], p);
}
template <UnaryKind K>
FS_EW_AVX2 void ub_loop_avx2(const UnaryParams& p, const float* x, const float* y, const float* dy, float* dx,
                             int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * unary_derivative(K, x[i], y[i], p);
}

#ifdef FS_X86_SIMD
// LeakyReLU by hand: the compiler will not if-convert `x > 0 ? x : slope·x` (under the default -ftrapping-math it
// may not evaluate the product where the scalar code does not), so the loops above stay scalar for it. Here the
// product is computed for every lane and the compare picks: y = x or slope·x, dx = dy or slope·dy — the same
// roundings as the scalar code (dy·1 is dy), so bitwise the reference.
FS_EW_AVX512 void leaky_lanes(float slope, const float* x, const float* dy, float* out, int64_t b, int64_t e) {
    const __m512 s = _mm512_set1_ps(slope), zero = _mm512_setzero_ps();
    for (int64_t i = b; i < e; i += 16) {
        const __mmask16 m = e - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (e - i)) - 1);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 v = dy ? _mm512_maskz_loadu_ps(m, dy + i) : xv;  // forward: the value; backward: dy
        const __mmask16 pos = _mm512_cmp_ps_mask(xv, zero, _CMP_GT_OQ);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mask_blend_ps(pos, _mm512_mul_ps(v, s), v));
    }
}
FS_EW_AVX2 void leaky_lanes_avx2(float slope, const float* x, const float* dy, float* out, int64_t b, int64_t e) {
    const __m256 s = _mm256_set1_ps(slope), zero = _mm256_setzero_ps();
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        const __m256 v = dy ? _mm256_loadu_ps(dy + i) : xv;  // forward: the value; backward: dy
        const __m256 pos = _mm256_cmp_ps(xv, zero, _CMP_GT_OQ);
        _mm256_storeu_ps(out + i, _mm256_blendv_ps(_mm256_mul_ps(v, s), v, pos));
    }
    for (; i < e; ++i) {
        const float v = dy ? dy[i] : x[i];
        out[i] = x[i] > 0.f ? v : v * slope;
    }
}
#endif

template <UnaryKind K>
void unary_forward_k(const UnaryParams& p, const float* x, float* y, int64_t n) {
    const int v = level();
#ifdef FS_X86_SIMD
    if constexpr (K == UnaryKind::leaky_relu) {
        const float sl = float(p.slope);
        if (v == 2) return chunked(n, [&](int64_t b, int64_t e) { leaky_lanes(sl, x, nullptr, y, b, e); });
        if (v == 1) return chunked(n, [&](int64_t b, int64_t e) { leaky_lanes_avx2(sl, x, nullptr, y, b, e); });
    }
#endif
    chunked(n, [&](int64_t b, int64_t e) {
        v == 2 ? uf_loop_avx512<K>(p, x, y, b, e) : v == 1 ? uf_loop_avx2<K>(p, x, y, b, e) : uf_loop<K>(p, x, y, b, e);
    });
}
template <UnaryKind K>
void unary_backward_k(const UnaryParams& p, const float* x, const float* y, const float* dy, float* dx, int64_t n) {
    const int v = level();
#ifdef FS_X86_SIMD
    if constexpr (K == UnaryKind::leaky_relu) {
        const float sl = float(p.slope);
        if (v == 2) return chunked(n, [&](int64_t b, int64_t e) { leaky_lanes(sl, x, dy, dx, b, e); });
        if (v == 1) return chunked(n, [&](int64_t b, int64_t e) { leaky_lanes_avx2(sl, x, dy, dx, b, e); });
    }
#endif
    chunked(n, [&](int64_t b, int64_t e) {
        v == 2   ? ub_loop_avx512<K>(p, x, y, dy, dx, b, e)
        : v == 1 ? ub_loop_avx2<K>(p, x, y, dy, dx, b, e)
                 : ub_loop<K>(p, x, y, dy, dx, b, e);
    });
}

// --- binary --------------------------------------------------------------------------------------------------

// out[i] = a[i·sa] ∘ b[i·sb] over one innermost run (sa, sb each 0 or 1 in the model's patterns, any value works).
template <BinaryKind K>
inline void bf_run(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t len) {
    if (sa == 1 && sb == 1)
        for (int64_t j = 0; j < len; ++j) out[j] = binary_value(K, a[j], b[j]);
    else if (sa == 1 && sb == 0)
        for (int64_t j = 0; j < len; ++j) out[j] = binary_value(K, a[j], b[0]);
    else if (sa == 0 && sb == 1)
        for (int64_t j = 0; j < len; ++j) out[j] = binary_value(K, a[0], b[j]);
    else
        for (int64_t j = 0; j < len; ++j) out[j] = binary_value(K, a[j * sa], b[j * sb]);
}
template <BinaryKind K>
FS_EW_AVX512 void bf_run_avx512(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t len) {
    bf_run<K>(a, sa, b, sb, out, len);
}
template <BinaryKind K>
FS_EW_AVX2 void bf_run_avx2(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t len) {
    bf_run<K>(a, sa, b, sb, out, len);
}

// Walks the output range [begin, end) of a broadcast one stretch of an innermost run at a time (at most max_len
// long): f(i, ia, ib, len) with i the output index and ia, ib the operands' offsets at its start. The odometer
// starts at `begin` and advances once per stretch instead of once per element.
template <typename F>
void walk_runs(const BroadcastGeom& g, int64_t begin, int64_t end, int64_t max_len, F&& f) {
    const int r = g.rank;
    const int64_t inner = g.out_shape[r - 1], sa = g.a_strides[r - 1], sb = g.b_strides[r - 1];
    int64_t idx[BroadcastGeom::k_max_rank] = {0};
    int64_t rest = begin, ia = 0, ib = 0;
    for (int d = r - 1; d >= 0; --d) {
        idx[d] = rest % g.out_shape[d];
        rest /= g.out_shape[d];
        ia += idx[d] * g.a_strides[d];
        ib += idx[d] * g.b_strides[d];
    }
    for (int64_t i = begin; i < end;) {
        const int64_t len = std::min({inner - idx[r - 1], end - i, max_len});
        f(i, ia, ib, len);
        i += len;
        // advance the odometer by len (which ends the innermost run, the stretch or the range)
        idx[r - 1] += len;
        ia += len * sa;
        ib += len * sb;
        for (int d = r - 1; d > 0 && idx[d] == g.out_shape[d]; --d) {
            ia -= g.a_strides[d] * g.out_shape[d];
            ib -= g.b_strides[d] * g.out_shape[d];
            idx[d] = 0;
            ++idx[d - 1];
            ia += g.a_strides[d - 1];
            ib += g.b_strides[d - 1];
        }
    }
}

template <BinaryKind K>
void bf_range(const BroadcastGeom& g, const float* a, const float* b, float* out, int64_t begin, int64_t end,
              int v) {
    const int64_t sa = g.a_strides[g.rank - 1], sb = g.b_strides[g.rank - 1];
    walk_runs(g, begin, end, end - begin, [&](int64_t i, int64_t ia, int64_t ib, int64_t len) {
        if (v == 2) bf_run_avx512<K>(a + ia, sa, b + ib, sb, out + i, len);
        else if (v == 1) bf_run_avx2<K>(a + ia, sa, b + ib, sb, out + i, len);
        else bf_run<K>(a + ia, sa, b + ib, sb, out + i, len);
    });
}

template <BinaryKind K>
void binary_forward_k(const BroadcastGeom& g, const float* a, const float* b, float* out) {
    if (g.numel == 0) return;
    const int v = level();
    chunked(g.numel, [&](int64_t s, int64_t e) { bf_range<K>(g, a, b, out, s, e, v); });
}

// Same-shape backward: da = 0 + dout·∂a, db = 0 + dout·∂b (the "0 +" keeps the reference's signed zeros, which
// accumulates into zeroed buffers).
template <BinaryKind K>
inline void bb_loop(const float* a, const float* b, const float* dout, float* da, float* db, int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
        float pa = 0.f, pb = 0.f;
        binary_partials(K, a[i], b[i], &pa, &pb);
        if (da) da[i] = 0.f + dout[i] * pa;
        if (db) db[i] = 0.f + dout[i] * pb;
    }
}
template <BinaryKind K>
FS_EW_AVX512 void bb_loop_avx512(const float* a, const float* b, const float* dout, float* da, float* db, int64_t s,
                                 int64_t e) {
    bb_loop<K>(a, b, dout, da, db, s, e);
}
template <BinaryKind K>
FS_EW_AVX2 void bb_loop_avx2(const float* a, const float* b, const float* dout, float* da, float* db, int64_t s,
                             int64_t e) {
    bb_loop<K>(a, b, dout, da, db, s, e);
}

bool no_broadcast(const BroadcastGeom& g) {
    int64_t stride = 1;
    for (int d = g.rank - 1; d >= 0; --d) {
        if (g.out_shape[d] != 1 && (g.a_strides[d] != stride || g.b_strides[d] != stride)) return false;
        stride *= g.out_shape[d];
    }
    return true;
}

// --- broadcast backward ---
// A broadcast side receives sums over the output elements that read it. The output is cut into at most 8 blocks
// (a number that depends on the shapes only, not on the thread count); each block sums its terms into its own
// double buffer, and the buffers are added in block order at the end: the result is the same on any number of
// threads, and closer to the exact sum than the reference's sequential float accumulation. Each term is
// dout·∂ rounded to float first, as in the reference.

// Σ t[0..n) and Σ t[0..n)² in double, vectorised where the CPU has AVX-512.
inline double sum_f64(const float* t, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; ++j) s += double(t[j]);
    return s;
}
inline double sum_sq_f64(const float* t, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; ++j) s += double(t[j]) * double(t[j]);
    return s;
}
#ifdef FS_X86_SIMD
template <bool Squares>
FS_EW_AVX512 double sum_f64_avx512(const float* t, int64_t n) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(t + j)), b = _mm512_cvtps_pd(_mm256_loadu_ps(t + j + 8));
        s0 = Squares ? _mm512_fmadd_pd(a, a, s0) : _mm512_add_pd(s0, a);
        s1 = Squares ? _mm512_fmadd_pd(b, b, s1) : _mm512_add_pd(s1, b);
    }
    const double s = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    return s + (Squares ? sum_sq_f64(t + j, n - j) : sum_f64(t + j, n - j));
}
template <bool Squares>
FS_EW_AVX2 double sum_f64_avx2(const float* t, int64_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(t + j)), b = _mm256_cvtps_pd(_mm_loadu_ps(t + j + 4));
        s0 = Squares ? _mm256_add_pd(s0, _mm256_mul_pd(a, a)) : _mm256_add_pd(s0, a);
        s1 = Squares ? _mm256_add_pd(s1, _mm256_mul_pd(b, b)) : _mm256_add_pd(s1, b);
    }
    const __m256d v = _mm256_add_pd(s0, s1);
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    const double s = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    return s + (Squares ? sum_sq_f64(t + j, n - j) : sum_f64(t + j, n - j));
}
#endif
template <bool Squares>
double run_sum(const float* t, int64_t n) {
#ifdef FS_X86_SIMD
    if (level() == 2) return sum_f64_avx512<Squares>(t, n);
    if (level() == 1) return sum_f64_avx2<Squares>(t, n);
#endif
    return Squares ? sum_sq_f64(t, n) : sum_f64(t, n);
}

// Σ over x[0..n) of run_sum in fixed blocks of k_grain (by n only) over the threads, added in block order: the
// result does not depend on the thread count.
template <bool Squares>
double blocked_sum(const float* x, int64_t n) {
    const int64_t blocks = std::max<int64_t>(1, (n + k_grain - 1) / k_grain);
    std::vector<double> part(static_cast<size_t>(blocks));
    auto body = [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
            part[size_t(b)] = run_sum<Squares>(x + b * k_grain, std::min(n, (b + 1) * k_grain) - b * k_grain);
    };
    if (blocks == 1) body(0, 1);
    else parallel_for(blocks, body);
    double acc = 0;
    for (double p : part) acc += p;
    return acc;
}

// --- sums over trailing axes (sum, mean) ---
// y[o] = float(scale · Σ x[o·len .. (o+1)·len)) in double, like the reference; the rows are shared over the
// threads, and a single long row is cut into fixed blocks (by its length only) whose double sums are added in
// order, so the result does not depend on the thread count.
}  // namespace

void sum_rows_fast(const float* x, int64_t rows, int64_t len, double scale, float* y) {
    if (rows == 1) {
        y[0] = float(blocked_sum<false>(x, len) * scale);
        return;
    }
    auto body = [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) y[r] = float(run_sum<false>(x + r * len, len) * scale);
    };
    if (rows * len < 2 * k_grain) return body(0, rows);
    parallel_for(rows, body);
}

double sum_squares_fast(const float* x, int64_t n) { return blocked_sum<true>(x, n); }

void sum_squares_backward_fast(const float* x, float dy, float* dx, int64_t n) {
    const float g = 2.f * dy;  // the reference's rounding: (2·dy)·x
    chunked(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dx[i] = g * x[i];
    });
}

void fill_rows_fast(const float* dy, int64_t rows, int64_t len, double scale, float* dx) {
    chunked(rows * len, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e;) {
            const int64_t r = i / len, stop = std::min(e, (r + 1) * len);
            std::fill(dx + i, dx + stop, float(double(dy[r]) * scale));
            i = stop;
        }
    });
}

namespace {

// The terms of one stretch of an innermost run: ta[j] = dout·∂a, tb[j] = dout·∂b (as the reference rounds them).
template <BinaryKind K>
inline void bcast_terms(const float* a, int64_t sa, const float* b, int64_t sb, const float* dout, float* ta,
                        float* tb, int64_t len) {
    for (int64_t j = 0; j < len; ++j) {
        float pa = 0.f, pb = 0.f;
        binary_partials(K, a[j * sa], b[j * sb], &pa, &pb);
        ta[j] = dout[j] * pa;
        tb[j] = dout[j] * pb;
    }
}
template <BinaryKind K>
FS_EW_AVX512 void bcast_terms_avx512(const float* a, int64_t sa, const float* b, int64_t sb, const float* dout,
                                     float* ta, float* tb, int64_t len) {
    if (sa == 1 && sb == 0) return bcast_terms<K>(a, 1, b, 0, dout, ta, tb, len);  // the model's patterns,
    if (sa == 0 && sb == 1) return bcast_terms<K>(a, 0, b, 1, dout, ta, tb, len);  // with constant strides
    bcast_terms<K>(a, sa, b, sb, dout, ta, tb, len);
}
template <BinaryKind K>
FS_EW_AVX2 void bcast_terms_avx2(const float* a, int64_t sa, const float* b, int64_t sb, const float* dout,
                                 float* ta, float* tb, int64_t len) {
    if (sa == 1 && sb == 0) return bcast_terms<K>(a, 1, b, 0, dout, ta, tb, len);
    if (sa == 0 && sb == 1) return bcast_terms<K>(a, 0, b, 1, dout, ta, tb, len);
    bcast_terms<K>(a, sa, b, sb, dout, ta, tb, len);
}

// One side's share of a run: written in place when that side is not broadcast (`full`), else summed into acc.
inline void bcast_take(const float* t, int64_t len, int64_t idx, int64_t stride, bool full, float* d, double* acc) {
    if (full) {
        for (int64_t j = 0; j < len; ++j) d[idx + j * stride] = 0.f + t[j];
    } else if (stride == 0) {
        acc[idx] += run_sum<false>(t, len);
    } else {
        for (int64_t j = 0; j < len; ++j) acc[idx + j * stride] += double(t[j]);
    }
}

template <BinaryKind K>
void binary_backward_broadcast(const BroadcastGeom& g, const float* a, const float* b, const float* dout, float* da,
                               float* db) {
    const int r = g.rank;
    int64_t na = 1, nb = 1;
    for (int d = 0; d < r; ++d) {
        if (g.a_strides[d] != 0) na *= g.out_shape[d];
        if (g.b_strides[d] != 0) nb *= g.out_shape[d];
    }
    const bool full_a = na == g.numel, full_b = nb == g.numel;
    const int64_t reduced = std::max(da && !full_a ? na : 1, db && !full_b ? nb : 1);
    // at most 8 blocks, each with ≥ k_grain outputs, and their buffers no larger than half the output
    const int64_t blocks =
        std::max<int64_t>(1, std::min<int64_t>({8, g.numel / k_grain, g.numel / (2 * reduced)}));
    std::vector<std::vector<double>> acc_a(static_cast<size_t>(blocks)), acc_b(static_cast<size_t>(blocks));
    const int v = level();
    parallel_for(blocks, [&](int64_t k0, int64_t k1) {
        constexpr int64_t k_stretch = 256;
        float ta[k_stretch], tb[k_stretch];
        for (int64_t k = k0; k < k1; ++k) {
            std::vector<double>& aa = acc_a[size_t(k)];
            std::vector<double>& ab = acc_b[size_t(k)];
            if (da && !full_a) aa.assign(size_t(na), 0.0);
            if (db && !full_b) ab.assign(size_t(nb), 0.0);
            const int64_t begin = g.numel * k / blocks, end = g.numel * (k + 1) / blocks;
            const int64_t sa = g.a_strides[r - 1], sb = g.b_strides[r - 1];
            walk_runs(g, begin, end, k_stretch, [&](int64_t i, int64_t ia, int64_t ib, int64_t len) {
#ifdef FS_X86_SIMD
                if (v == 2) bcast_terms_avx512<K>(a + ia, sa, b + ib, sb, dout + i, ta, tb, len);
                else if (v == 1) bcast_terms_avx2<K>(a + ia, sa, b + ib, sb, dout + i, ta, tb, len);
                else
#endif
                    bcast_terms<K>(a + ia, sa, b + ib, sb, dout + i, ta, tb, len);
                if (da) bcast_take(ta, len, ia, sa, full_a, da, aa.data());
                if (db) bcast_take(tb, len, ib, sb, full_b, db, ab.data());
            });
        }
    });
    auto merge = [&](float* d, const std::vector<std::vector<double>>& acc, int64_t n) {
        for (int64_t j = 0; j < n; ++j) {
            double t = 0;
            for (const auto& blk : acc) t += blk[size_t(j)];
            d[j] = float(t);
        }
    };
    if (da && !full_a) merge(da, acc_a, na);
    if (db && !full_b) merge(db, acc_b, nb);
}

template <BinaryKind K>
bool binary_backward_k(const BroadcastGeom& g, const float* a, const float* b, const float* dout, float* da,
                       float* db) {
    if (!no_broadcast(g)) {
        binary_backward_broadcast<K>(g, a, b, dout, da, db);
        return true;
    }
    const int v = level();
    chunked(g.numel, [&](int64_t s, int64_t e) {
        v == 2   ? bb_loop_avx512<K>(a, b, dout, da, db, s, e)
        : v == 1 ? bb_loop_avx2<K>(a, b, dout, da, db, s, e)
                 : bb_loop<K>(a, b, dout, da, db, s, e);
    });
    return true;
}

}  // namespace

#define FS_UNARY_CASES(CALL)                          \
    switch (k) {                                      \
        case UnaryKind::abs: CALL(UnaryKind::abs);     \
        case UnaryKind::square: CALL(UnaryKind::square); \
        case UnaryKind::exp: CALL(UnaryKind::exp);     \
        case UnaryKind::log: CALL(UnaryKind::log);     \
        case UnaryKind::relu: CALL(UnaryKind::relu);   \
        case UnaryKind::leaky_relu: CALL(UnaryKind::leaky_relu); \
        case UnaryKind::sigmoid: CALL(UnaryKind::sigmoid); \
        case UnaryKind::tanh: CALL(UnaryKind::tanh);   \
        case UnaryKind::scale: CALL(UnaryKind::scale); \
    }

void unary_forward_fast(UnaryKind k, const UnaryParams& p, const float* x, float* y, int64_t n) {
#define FS_CALL(K) return unary_forward_k<K>(p, x, y, n)
    FS_UNARY_CASES(FS_CALL)
#undef FS_CALL
}

void unary_backward_fast(UnaryKind k, const UnaryParams& p, const float* x, const float* y, const float* dy, float* dx,
                         int64_t n) {
#define FS_CALL(K) return unary_backward_k<K>(p, x, y, dy, dx, n)
    FS_UNARY_CASES(FS_CALL)
#undef FS_CALL
}

#define FS_BINARY_CASES(CALL)                    \
    switch (k) {                                 \
        case BinaryKind::add: CALL(BinaryKind::add); \
        case BinaryKind::sub: CALL(BinaryKind::sub); \
        case BinaryKind::mul: CALL(BinaryKind::mul); \
        case BinaryKind::div: CALL(BinaryKind::div); \
    }

void binary_forward_fast(BinaryKind k, const BroadcastGeom& g, const float* a, const float* b, float* out) {
#define FS_CALL(K) return binary_forward_k<K>(g, a, b, out)
    FS_BINARY_CASES(FS_CALL)
#undef FS_CALL
}

bool binary_backward_fast(BinaryKind k, const BroadcastGeom& g, const float* a, const float* b, const float* dout,
                          float* da, float* db) {
#define FS_CALL(K) return binary_backward_k<K>(g, a, b, dout, da, db)
    FS_BINARY_CASES(FS_CALL)
#undef FS_CALL
    return false;
}

}  // namespace fs
