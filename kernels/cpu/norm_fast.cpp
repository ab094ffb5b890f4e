// norm_fast.cpp: instance_norm in f32 with the reference's double-precision statistics (kernels/cpu/norm.cpp is
// the specification): every sum runs in double, 8 lanes wide, and each output is formed in double and rounded
// once, so the results match the reference to float rounding. One sample per thread task. AVX-512 or AVX2 + FMA.
#include <cmath>
#include <vector>

#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"

#ifdef FS_X86_SIMD
#define FS_NORM_X86 1
#else
#define FS_NORM_X86 0
#endif

#include "kernels/norm.h"

namespace fs {

#if FS_NORM_X86
namespace {

#define FS_NORM_AVX512 __attribute__((target("avx512f,avx512vl")))

bool have_avx512() { return cpu_has_avx512f(); }
bool have_avx2() { return cpu_has_avx2(); }

// The 8 floats at p (masked to the first n) as doubles.
FS_NORM_AVX512 inline __m512d load8(const float* p, int64_t n) {
    const __mmask8 m = n >= 8 ? __mmask8(0xff) : __mmask8((1u << n) - 1);
    return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, p));
}

// The normalised input: x itself, or with pre_leaky z = x > 0 ? x : slope·x formed in float exactly as
// unary_value does, then widened.
struct Pre {
    bool leaky;
    float slope;
};
FS_NORM_AVX512 inline __m256 leaky8(__m256 x, const Pre& a) {
    const __mmask8 pos = _mm256_cmp_ps_mask(x, _mm256_setzero_ps(), _CMP_GT_OQ);
    return _mm256_mask_blend_ps(pos, _mm256_mul_ps(_mm256_set1_ps(a.slope), x), x);
}
FS_NORM_AVX512 inline __m512d loadz8(const float* p, int64_t n, const Pre& a) {
    const __mmask8 m = n >= 8 ? __mmask8(0xff) : __mmask8((1u << n) - 1);
    __m256 x = _mm256_maskz_loadu_ps(m, p);
    if (a.leaky) x = leaky8(x, a);
    return _mm512_cvtps_pd(x);
}
FS_NORM_AVX512 inline void store8(float* p, __m512d v, int64_t n) {
    const __mmask8 m = n >= 8 ? __mmask8(0xff) : __mmask8((1u << n) - 1);
    _mm256_mask_storeu_ps(p, m, _mm512_cvtpd_ps(v));
}

// Mean and population variance (two passes, as the reference).
FS_NORM_AVX512 void moments8(const float* x, int64_t M, const Pre& a, double* mean, double* var) {
    __m512d s = _mm512_setzero_pd();
    for (int64_t i = 0; i < M; i += 8) s = _mm512_add_pd(s, loadz8(x + i, M - i, a));
    const double mu = _mm512_reduce_add_pd(s) / double(M);
    const __m512d vmu = _mm512_set1_pd(mu);
    __m512d ss = _mm512_setzero_pd();
    for (int64_t i = 0; i < M; i += 8) {
        const int64_t n = M - i;
        const __mmask8 m = n >= 8 ? __mmask8(0xff) : __mmask8((1u << n) - 1);
        const __m512d d = _mm512_maskz_sub_pd(m, loadz8(x + i, n, a), vmu);  // masked lanes stay 0
        ss = _mm512_fmadd_pd(d, d, ss);
    }
    *mean = mu;
    *var = _mm512_reduce_add_pd(ss) / double(M);
}

FS_NORM_AVX512 void forward_sample(const InstanceNormParams& p, const float* xs, double g, double b, float* ys,
                                   int64_t M) {
    const Pre a{p.pre_leaky, float(p.slope)};
    double mean, var;
    moments8(xs, M, a, &mean, &var);
    const double d = std::sqrt(var) + p.eps;  // ε on σ, as the reference
    const __m512d vmu = _mm512_set1_pd(mean), vg = _mm512_set1_pd(g), vd = _mm512_set1_pd(d),
                  vb = _mm512_set1_pd(b);
    for (int64_t i = 0; i < M; i += 8) {
        const __m512d xh = _mm512_div_pd(_mm512_sub_pd(loadz8(xs + i, M - i, a), vmu), vd);
        store8(ys + i, _mm512_add_pd(_mm512_mul_pd(vg, xh), vb), M - i);
    }
}

// Returns this sample's Σ dy·x̂ and Σ dy (for dγ, dβ); writes dx when non-null.
FS_NORM_AVX512 void backward_sample(const InstanceNormParams& p, const float* xs, double g, const float* dys,
                                    float* dxs, int64_t M, double* dg, double* db) {
    const Pre a{p.pre_leaky, float(p.slope)};
    double mean, var;
    moments8(xs, M, a, &mean, &var);
    const double sigma = std::sqrt(var), d = sigma + p.eps;
    const __m512d vmu = _mm512_set1_pd(mean), vd = _mm512_set1_pd(d);
    __m512d s_dy = _mm512_setzero_pd(), s_dy_xh = _mm512_setzero_pd();
    for (int64_t i = 0; i < M; i += 8) {
        const int64_t n = M - i;
        const __m512d xh = _mm512_div_pd(_mm512_sub_pd(loadz8(xs + i, n, a), vmu), vd), dyv = load8(dys + i, n);
        s_dy = _mm512_add_pd(s_dy, dyv);  // masked lanes load 0
        s_dy_xh = _mm512_fmadd_pd(dyv, xh, s_dy_xh);
    }
    *db = _mm512_reduce_add_pd(s_dy);
    *dg = _mm512_reduce_add_pd(s_dy_xh);
    if (!dxs) return;
    // dx = (g·dy − mean(dxh))/d − x̂·mean(dxh·x̂)/σ with dxh = g·dy (std_norm_input_grad, norm.h)
    const double mean_dxh = g * *db / double(M), mean_dxh_xh = g * *dg / double(M);
    const __m512d vg = _mm512_set1_pd(g), vmd = _mm512_set1_pd(mean_dxh),
                  vk = _mm512_set1_pd(sigma > 0 ? mean_dxh_xh / sigma : 0.0);
    for (int64_t i = 0; i < M; i += 8) {
        const int64_t n = M - i;
        const __m512d xh = _mm512_div_pd(_mm512_sub_pd(loadz8(xs + i, n, a), vmu), vd);
        const __m512d gd = _mm512_div_pd(_mm512_sub_pd(_mm512_mul_pd(vg, load8(dys + i, n)), vmd), vd);
        const __m512d dz = _mm512_fnmadd_pd(xh, vk, gd);
        if (!a.leaky) {
            store8(dxs + i, dz, n);
            continue;
        }
        // dx = float(dz) · leaky'(x), in float as the reference composition multiplies
        const __mmask8 m = n >= 8 ? __mmask8(0xff) : __mmask8((1u << n) - 1);
        const __m256 x = _mm256_maskz_loadu_ps(m, xs + i);
        const __mmask8 pos = _mm256_cmp_ps_mask(x, _mm256_setzero_ps(), _CMP_GT_OQ);
        const __m256 deriv = _mm256_mask_blend_ps(pos, _mm256_set1_ps(a.slope), _mm256_set1_ps(1.f));
        _mm256_mask_storeu_ps(dxs + i, m, _mm256_mul_ps(_mm512_cvtpd_ps(dz), deriv));
    }
}

// --- AVX2: the same passes, 8 floats as two vectors of 4 doubles ------------------------------------------------
#define FS_NORM_AVX2 __attribute__((target("avx2,fma")))

struct D8 {
    __m256d lo, hi;
};

FS_NORM_AVX2 inline D8 widen(__m256 x) {
    return {_mm256_cvtps_pd(_mm256_castps256_ps128(x)), _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1))};
}
FS_NORM_AVX2 inline __m256 leaky8_avx2(__m256 x, const Pre& a) {
    const __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
    return _mm256_blendv_ps(_mm256_mul_ps(_mm256_set1_ps(a.slope), x), x, pos);
}
FS_NORM_AVX2 inline D8 loadz8_avx2(const float* p, int64_t n, const Pre& a) {
    __m256 x = load8_avx2(p, n);
    if (a.leaky) x = leaky8_avx2(x, a);
    return widen(x);
}
FS_NORM_AVX2 inline __m256 narrow(const D8& v) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(v.lo)), _mm256_cvtpd_ps(v.hi), 1);
}

FS_NORM_AVX2 void moments8_avx2(const float* x, int64_t M, const Pre& a, double* mean, double* var) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (int64_t i = 0; i < M; i += 8) {  // masked lanes load 0
        const D8 v = loadz8_avx2(x + i, M - i, a);
        s0 = _mm256_add_pd(s0, v.lo), s1 = _mm256_add_pd(s1, v.hi);
    }
    const double mu = (hsum4d_avx2(s0) + hsum4d_avx2(s1)) / double(M);
    const __m256d vmu = _mm256_set1_pd(mu);
    __m256d q0 = _mm256_setzero_pd(), q1 = _mm256_setzero_pd();
    for (int64_t i = 0; i < M; i += 8) {
        const int64_t n = M - i;
        const D8 v = loadz8_avx2(x + i, n, a);
        __m256d d0 = _mm256_sub_pd(v.lo, vmu), d1 = _mm256_sub_pd(v.hi, vmu);
        if (n < 8) {  // the padding lanes: 0, not −μ
            const __m256i m = lane_mask8_avx2(n);
            d0 = _mm256_and_pd(d0, _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(m))));
            d1 = _mm256_and_pd(d1, _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1))));
        }
        q0 = _mm256_fmadd_pd(d0, d0, q0), q1 = _mm256_fmadd_pd(d1, d1, q1);
    }
    *mean = mu;
    *var = (hsum4d_avx2(q0) + hsum4d_avx2(q1)) / double(M);
}

FS_NORM_AVX2 void forward_sample_avx2(const InstanceNormParams& p, const float* xs, double g, double b, float* ys,
                                      int64_t M) {
    const Pre a{p.pre_leaky, float(p.slope)};
    double mean, var;
    moments8_avx2(xs, M, a, &mean, &var);
    const double d = std::sqrt(var) + p.eps;  // ε on σ, as the reference
    const __m256d vmu = _mm256_set1_pd(mean), vg = _mm256_set1_pd(g), vd = _mm256_set1_pd(d), vb = _mm256_set1_pd(b);
    for (int64_t i = 0; i < M; i += 8) {
        const D8 v = loadz8_avx2(xs + i, M - i, a);
        const D8 y{_mm256_add_pd(_mm256_mul_pd(vg, _mm256_div_pd(_mm256_sub_pd(v.lo, vmu), vd)), vb),
                   _mm256_add_pd(_mm256_mul_pd(vg, _mm256_div_pd(_mm256_sub_pd(v.hi, vmu), vd)), vb)};
        store8_avx2(ys + i, narrow(y), M - i);
    }
}

FS_NORM_AVX2 void backward_sample_avx2(const InstanceNormParams& p, const float* xs, double g, const float* dys,
                                       float* dxs, int64_t M, double* dg, double* db) {
    const Pre a{p.pre_leaky, float(p.slope)};
    double mean, var;
    moments8_avx2(xs, M, a, &mean, &var);
    const double sigma = std::sqrt(var), d = sigma + p.eps;
    const __m256d vmu = _mm256_set1_pd(mean), vd = _mm256_set1_pd(d);
    __m256d sd0 = _mm256_setzero_pd(), sd1 = _mm256_setzero_pd(), sx0 = _mm256_setzero_pd(), sx1 = _mm256_setzero_pd();
    for (int64_t i = 0; i < M; i += 8) {
        const int64_t n = M - i;
        const D8 v = loadz8_avx2(xs + i, n, a), dyv = widen(load8_avx2(dys + i, n));  // masked lanes: dy 0
        sd0 = _mm256_add_pd(sd0, dyv.lo), sd1 = _mm256_add_pd(sd1, dyv.hi);
        sx0 = _mm256_fmadd_pd(dyv.lo, _mm256_div_pd(_mm256_sub_pd(v.lo, vmu), vd), sx0);
        sx1 = _mm256_fmadd_pd(dyv.hi, _mm256_div_pd(_mm256_sub_pd(v.hi, vmu), vd), sx1);
    }
    *db = hsum4d_avx2(sd0) + hsum4d_avx2(sd1);
    *dg = hsum4d_avx2(sx0) + hsum4d_avx2(sx1);
    if (!dxs) return;
    const double mean_dxh = g * *db / double(M), mean_dxh_xh = g * *dg / double(M);
    const __m256d vg = _mm256_set1_pd(g), vmd = _mm256_set1_pd(mean_dxh),
                  vk = _mm256_set1_pd(sigma > 0 ? mean_dxh_xh / sigma : 0.0);
    for (int64_t i = 0; i < M; i += 8) {
        const int64_t n = M - i;
        const D8 v = loadz8_avx2(xs + i, n, a), dyv = widen(load8_avx2(dys + i, n));
        D8 dz;
        dz.lo = _mm256_fnmadd_pd(_mm256_div_pd(_mm256_sub_pd(v.lo, vmu), vd), vk,
                                 _mm256_div_pd(_mm256_sub_pd(_mm256_mul_pd(vg, dyv.lo), vmd), vd));
        dz.hi = _mm256_fnmadd_pd(_mm256_div_pd(_mm256_sub_pd(v.hi, vmu), vd), vk,
                                 _mm256_div_pd(_mm256_sub_pd(_mm256_mul_pd(vg, dyv.hi), vmd), vd));
        __m256 out = narrow(dz);
        if (a.leaky) {  // dx = float(dz) · leaky'(x), in float as the reference composition multiplies
            const __m256 x = load8_avx2(xs + i, n);
            const __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
            out = _mm256_mul_ps(out, _mm256_blendv_ps(_mm256_set1_ps(a.slope), _mm256_set1_ps(1.f), pos));
        }
        store8_avx2(dxs + i, out, n);
    }
}

}  // namespace
#endif

void instance_norm_forward_fast(const InstanceNormParams& p, const float* x, const float* gamma, const float* beta,
                                float* y, int64_t N, int64_t M) {
#if FS_NORM_X86
    if (have_avx2() && M > 0) {
        const double g = double(gamma[0]), b = double(beta[0]);
        const bool wide = have_avx512();
        parallel_for(N, [&](int64_t n0, int64_t n1) {
            for (int64_t n = n0; n < n1; ++n)
                wide ? forward_sample(p, x + n * M, g, b, y + n * M, M)
                     : forward_sample_avx2(p, x + n * M, g, b, y + n * M, M);
        });
        return;
    }
#endif
    instance_norm_forward_cpu<float>(p, x, gamma, beta, y, N, M);
}

void instance_norm_backward_fast(const InstanceNormParams& p, const float* x, const float* gamma, const float* dy,
                                 float* dx, float* dgamma, float* dbeta, int64_t N, int64_t M) {
#if FS_NORM_X86
    if (have_avx2() && M > 0) {
        const double g = double(gamma[0]);
        const bool wide = have_avx512();
        std::vector<double> dg(static_cast<size_t>(N)), db(static_cast<size_t>(N));
        parallel_for(N, [&](int64_t n0, int64_t n1) {
            for (int64_t n = n0; n < n1; ++n)
                (wide ? backward_sample : backward_sample_avx2)(p, x + n * M, g, dy + n * M,
                                                                dx ? dx + n * M : nullptr, M, &dg[size_t(n)],
                                                                &db[size_t(n)]);
        });
        double sg = 0, sb = 0;
        for (int64_t n = 0; n < N; ++n) sg += dg[size_t(n)], sb += db[size_t(n)];
        if (dgamma) dgamma[0] = float(sg);
        if (dbeta) dbeta[0] = float(sb);
        return;
    }
#endif
    instance_norm_backward_cpu<float>(p, x, gamma, dy, dx, dgamma, dbeta, N, M);
}

}  // namespace fs
