// adam.cpp: the Adam step (Keras formula), over every thread.
#include "layers/adam.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <type_traits>

#include "autograd/tape.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"

namespace fs {

static NamedTensors name_all(const std::vector<Tensor>& params) {
    NamedTensors out;
    for (size_t i = 0; i < params.size(); ++i) out.emplace_back("p" + std::to_string(i), params[i]);
    return out;
}

Adam::Adam(const std::vector<Tensor>& params, AdamConfig cfg) : Adam(name_all(params), cfg) {}

Adam::Adam(NamedTensors params, AdamConfig cfg) : m_cfg(cfg) {
    for (auto& [name, p] : params) {
        m_names.push_back(name);
        m_params.push_back(p);
    }
    for (const Tensor& p : m_params) {
        FS_CHECK(p.defined() && p.requires_grad() && p.is_contiguous(), "Adam: every parameter must be a contiguous "
                 "tensor that requires grad, got ", p.str());
    }
    m_l2.assign(m_params.size(), 0.0);
    reset();
}

void Adam::set_l2(const NamedTensors& kernels, double w) {
    FS_CHECK(std::isfinite(w) && w >= 0, "Adam: the L2 weight must be finite and >= 0, got ", w);
    for (const auto& [name, k] : kernels) {
        size_t i = 0;
        while (i < m_params.size() && m_params[i].impl() != k.impl()) ++i;
        FS_CHECK(i < m_params.size(), "Adam: L2 kernel '", name, "' ", k.str(), " is not one of its parameters");
        m_l2[i] = 2 * w;
    }
}

void Adam::reset() {
    m_m.clear();
    m_v.clear();
    for (const Tensor& p : m_params) {
        m_m.push_back(Tensor::zeros(p.shape(), p.dtype()));
        m_v.push_back(Tensor::zeros(p.shape(), p.dtype()));
    }
    m_t = 0;
}

NamedTensors Adam::state(const std::string& prefix) const {
    NamedTensors out;
    for (size_t i = 0; i < m_params.size(); ++i) out.emplace_back(prefix + "m." + m_names[i], m_m[i]);
    for (size_t i = 0; i < m_params.size(); ++i) out.emplace_back(prefix + "v." + m_names[i], m_v[i]);
    return out;
}

void Adam::load_state(const NamedTensors& saved, const std::string& prefix, int64_t steps) {
    FS_CHECK(steps >= 0, "Adam: negative step count ", steps);
    auto find = [&](const std::string& n) -> const Tensor& {
        for (auto& [name, t] : saved)
            if (name == n) return t;
        FS_FAIL("Adam: the checkpoint has no optimiser state '", n, "'");
    };
    for (size_t i = 0; i < m_params.size(); ++i) {
        for (Tensor* dst : {&m_m[i], &m_v[i]}) {
            std::string n = prefix + (dst == &m_m[i] ? "m." : "v.") + m_names[i];
            const Tensor& src = find(n);
            FS_CHECK(src.shape() == dst->shape(), "Adam: state '", n, "' has shape ", shape_str(src.shape()),
                     " but the parameter has ", shape_str(dst->shape()));
            dst->copy_from(src);
        }
    }
    m_t = steps;
}

namespace {

// One element range of the update, in the arithmetic of the Keras formula. Every element is independent, so
// splitting the range over threads gives bitwise the same result as one pass.
// l2c: the L2 term's gradient factor (2·w), added to g first: g + l2c·p.
template <typename T>
inline void adam_range(T* p, T* m, T* v, const T* g, int64_t begin, int64_t end, T b1, T b2, T omb1, T omb2, T lr_t,
                       T eps, T l2c) {
    for (int64_t k = begin; k < end; ++k) {
        const T gk = l2c != T(0) ? g[k] + l2c * p[k] : g[k];
        m[k] = b1 * m[k] + omb1 * gk;
        v[k] = b2 * v[k] + omb2 * gk * gk;
        p[k] -= lr_t * m[k] / (std::sqrt(v[k]) + eps);
    }
}

#ifdef FS_X86_SIMD
// The same arithmetic, 16 floats per instruction, in the scalar loop's order with no contraction into FMAs (GCC
// would otherwise fuse the intrinsics' multiply and add), so it is bitwise the scalar loop of a build without FMA
// (IEEE sqrt and division are exactly rounded). Written with intrinsics: the compiler does not vectorise the
// scalar loop itself (std::sqrt keeps errno semantics), and the scalar version ran at a quarter of the memory
// bandwidth.
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void adam_range_avx512(
    float* p, float* m, float* v, const float* g, int64_t begin, int64_t end, float b1, float b2, float omb1,
    float omb2, float lr_t, float eps, float l2c) {
    const __m512 vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2), vomb1 = _mm512_set1_ps(omb1),
                 vomb2 = _mm512_set1_ps(omb2), vlr = _mm512_set1_ps(lr_t), veps = _mm512_set1_ps(eps),
                 vl2 = _mm512_set1_ps(l2c);
    for (int64_t k = begin; k < end; k += 16) {
        const __mmask16 mask = end - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (end - k)) - 1);
        __m512 gk = _mm512_maskz_loadu_ps(mask, g + k);
        if (l2c != 0.f) gk = _mm512_add_ps(gk, _mm512_mul_ps(vl2, _mm512_maskz_loadu_ps(mask, p + k)));
        const __m512 mk =
            _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_maskz_loadu_ps(mask, m + k)), _mm512_mul_ps(vomb1, gk));
        const __m512 vk = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_maskz_loadu_ps(mask, v + k)),
                                        _mm512_mul_ps(_mm512_mul_ps(vomb2, gk), gk));
        const __m512 step = _mm512_div_ps(_mm512_mul_ps(vlr, mk), _mm512_add_ps(_mm512_sqrt_ps(vk), veps));
        _mm512_mask_storeu_ps(m + k, mask, mk);
        _mm512_mask_storeu_ps(v + k, mask, vk);
        _mm512_mask_storeu_ps(p + k, mask, _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, p + k), step));
    }
}
// The AVX2 version: 8 floats per instruction, the same operations in the same order (bitwise the scalar loop
// too); the tail of fewer than 8 runs the scalar loop.
__attribute__((target("avx2"), optimize("fp-contract=off"))) void adam_range_avx2(
    float* p, float* m, float* v, const float* g, int64_t begin, int64_t end, float b1, float b2, float omb1,
    float omb2, float lr_t, float eps, float l2c) {
    const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2), vomb1 = _mm256_set1_ps(omb1),
                 vomb2 = _mm256_set1_ps(omb2), vlr = _mm256_set1_ps(lr_t), veps = _mm256_set1_ps(eps),
                 vl2 = _mm256_set1_ps(l2c);
    int64_t k = begin;
    for (; k + 8 <= end; k += 8) {
        __m256 gk = _mm256_loadu_ps(g + k);
        if (l2c != 0.f) gk = _mm256_add_ps(gk, _mm256_mul_ps(vl2, _mm256_loadu_ps(p + k)));
        const __m256 mk = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + k)), _mm256_mul_ps(vomb1, gk));
        const __m256 vk =
            _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + k)), _mm256_mul_ps(_mm256_mul_ps(vomb2, gk), gk));
        const __m256 step = _mm256_div_ps(_mm256_mul_ps(vlr, mk), _mm256_add_ps(_mm256_sqrt_ps(vk), veps));
        _mm256_storeu_ps(m + k, mk);
        _mm256_storeu_ps(v + k, vk);
        _mm256_storeu_ps(p + k, _mm256_sub_ps(_mm256_loadu_ps(p + k), step));
    }
    adam_range<float>(p, m, v, g, k, end, b1, b2, omb1, omb2, lr_t, eps, l2c);
}
bool have_avx512() { return cpu_has_avx512f(); }
bool have_avx2() { return cpu_has_avx2(); }
#endif

}  // namespace

// The step is memory-bound (7 floats moved per parameter; ~62M parameters in a standard-64 generator step), so
// it runs over every thread in chunks of at least 64K elements.
void Adam::step() {
    const bool prof = profiling();
    const auto t0 = std::chrono::steady_clock::now();
    ++m_t;
    const double b1 = m_cfg.beta1, b2 = m_cfg.beta2;
    const double lr_t = m_cfg.lr * std::sqrt(1 - std::pow(b2, double(m_t))) / (1 - std::pow(b1, double(m_t)));
    constexpr int64_t k_grain = int64_t(1) << 16;
    for (size_t i = 0; i < m_params.size(); ++i) {
        Tensor g = m_params[i].grad();
        if (!g.defined() && m_l2[i] == 0) continue;
        if (!g.defined()) g = Tensor::zeros(m_params[i].shape(), m_params[i].dtype());  // the L2 term alone
        FS_CHECK(g.shape() == m_params[i].shape(), "Adam: gradient ", g.str(), " for parameter ", m_params[i].str());
        Tensor gc = g.contiguous();
        const int64_t n = m_params[i].numel();
        dispatch_float(m_params[i].dtype(), "Adam", [&](auto tag) {
            using T = decltype(tag);
            T *p = m_params[i].data<T>(), *m = m_m[i].data<T>(), *v = m_v[i].data<T>();
            const T* gp = gc.data<T>();
            auto run = [&](int64_t b, int64_t e) {
#ifdef FS_X86_SIMD
                if constexpr (std::is_same_v<T, float>) {
                    if (have_avx512())
                        return adam_range_avx512(p, m, v, gp, b, e, float(b1), float(b2), float(1 - b1),
                                                 float(1 - b2), float(lr_t), float(m_cfg.eps), float(m_l2[i]));
                    if (have_avx2())
                        return adam_range_avx2(p, m, v, gp, b, e, float(b1), float(b2), float(1 - b1),
                                               float(1 - b2), float(lr_t), float(m_cfg.eps), float(m_l2[i]));
                }
#endif
                adam_range<T>(p, m, v, gp, b, e, T(b1), T(b2), T(1 - b1), T(1 - b2), T(lr_t), T(m_cfg.eps),
                              T(m_l2[i]));
            };
            const int64_t chunks = (n + k_grain - 1) / k_grain;
            if (chunks <= 1) return run(0, n);
            parallel_for(chunks, [&](int64_t c0, int64_t c1) { run(c0 * k_grain, std::min(n, c1 * k_grain)); });
        });
    }
    if (prof)
        profile_record("(Adam step)", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace fs
