// norm_fast.cpp: instance_norm in f32 with the reference's double-precision statistics (kernels/cpu/norm.cpp is
// the specification): every sum runs in double, 8 lanes wide, and each output is formed in double and rounded
// once, so the results match the reference to float rounding. One sample per thread task.
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

bool have_avx512() {
    static const bool b = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
    return b;
}

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

}  // namespace
#endif

void instance_norm_forward_fast(const InstanceNormParams& p, const float* x, const float* gamma, const float* beta,
                                float* y, int64_t N, int64_t M) {
#if FS_NORM_X86
    if (have_avx512() && M > 0) {
        const double g = double(gamma[0]), b = double(beta[0]);
        parallel_for(N, [&](int64_t n0, int64_t n1) {
            for (int64_t n = n0; n < n1; ++n) forward_sample(p, x + n * M, g, b, y + n * M, M);
        });
        return;
    }
#endif
    instance_norm_forward_cpu<float>(p, x, gamma, beta, y, N, M);
}

void instance_norm_backward_fast(const InstanceNormParams& p, const float* x, const float* gamma, const float* dy,
                                 float* dx, float* dgamma, float* dbeta, int64_t N, int64_t M) {
#if FS_NORM_X86
    if (have_avx512() && M > 0) {
        const double g = double(gamma[0]);
        std::vector<double> dg(static_cast<size_t>(N)), db(static_cast<size_t>(N));
        parallel_for(N, [&](int64_t n0, int64_t n1) {
            for (int64_t n = n0; n < n1; ++n)
                backward_sample(p, x + n * M, g, dy + n * M, dx ? dx + n * M : nullptr, M, &dg[size_t(n)],
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
