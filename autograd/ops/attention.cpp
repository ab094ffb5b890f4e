// attention.cpp: the spec of the fused softmax attention op.
#include "autograd/functional.h"
#include "autograd/registry.h"
#include "kernels/attention.h"
#include "kernels/fast.h"

namespace fs {

static AttentionParams attention_params(const std::any& a) {
    return a.has_value() ? attrs_as<AttentionParams>(a, "attention") : AttentionParams{};
}

struct AttnDims {
    int64_t B, N, M, D, E;
};
static AttnDims attention_dims(const std::vector<Tensor>& in) {
    check_rank(in[0], 3, "attention", "q");
    check_rank(in[1], 3, "attention", "k");
    check_rank(in[2], 3, "attention", "v");
    AttnDims d{in[0].size(0), in[0].size(1), in[1].size(1), in[0].size(2), in[2].size(2)};
    FS_CHECK(in[1].size(0) == d.B && in[2].size(0) == d.B, "attention: batch sizes differ: q ", in[0].str(), ", k ",
             in[1].str(), ", v ", in[2].str());
    FS_CHECK(in[1].size(2) == d.D, "attention: q has D=", d.D, " but k has D=", in[1].size(2));
    FS_CHECK(in[2].size(1) == d.M, "attention: k has M=", d.M, " keys but v has ", in[2].size(1), " values");
    FS_CHECK(d.M >= 1, "attention: needs at least one key");
    return d;
}

// The fast f32 forward keeps each query row's log-sum-exp for its backward in the output's own storage, right after
// its B·N·E elements: o is a view of the first B·N·E floats of a (B·N·E + B·N) buffer. The backward receives that
// same storage with the recorded output and reads the tail instead of recomputing it (one of its two passes over
// the scores). Any other o (a copy, the reference path's output) has no tail, and the backward recomputes.
static const float* saved_lse(const Tensor& o, const AttnDims& d) {
    const size_t need = size_t(d.B * d.N * d.E + d.B * d.N) * sizeof(float);
    if (o.dtype() != DType::f32 || o.device() != Device::cpu || !o.is_contiguous() || o.offset() != 0 ||
        !o.storage() || o.storage()->bytes() != need)
        return nullptr;
    return static_cast<const float*>(o.storage()->data()) + d.B * d.N * d.E;
}

static std::vector<Tensor> attention_fwd(const std::vector<Tensor>& in, const std::any& a) {
    AttnDims d = attention_dims(in);
    Tensor q = in[0].contiguous(), k = in[1].contiguous(), v = in[2].contiguous();
    const bool fast = q.dtype() == DType::f32 && fast_kernels();
    Tensor o = fast ? Tensor::empty({d.B * d.N * d.E + d.B * d.N}).slice(0, 0, d.B * d.N * d.E).reshape({d.B, d.N, d.E})
                    : Tensor::empty({d.B, d.N, d.E}, q.dtype());
    AttentionParams p = attention_params(a);
    dispatch_float(q.dtype(), "attention", [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast)
                return attention_forward_fast(p, q.data<T>(), k.data<T>(), v.data<T>(), o.data<T>(), d.B, d.N, d.M,
                                              d.D, d.E, const_cast<float*>(saved_lse(o, d)));
        }
        attention_forward_cpu<T>(p, q.data<T>(), k.data<T>(), v.data<T>(), o.data<T>(), d.B, d.N, d.M, d.D, d.E);
    });
    return {o};
}

static std::vector<Tensor> attention_bwd(const BackwardArgs& g) {
    AttnDims d = attention_dims(g.in);
    Tensor q = g.in[0].contiguous(), k = g.in[1].contiguous(), v = g.in[2].contiguous();
    Tensor o = g.out[0].contiguous();
    Tensor dq = g.needs[0] ? Tensor::empty(q.shape(), q.dtype()) : Tensor();
    Tensor dk = g.needs[1] ? Tensor::empty(k.shape(), k.dtype()) : Tensor();
    Tensor dv = g.needs[2] ? Tensor::empty(v.shape(), v.dtype()) : Tensor();
    AttentionParams p = attention_params(g.attrs);
    dispatch_float(q.dtype(), "attention backward", [&](auto tag) {
        using T = decltype(tag);
        auto ptr = [](Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels())
                return attention_backward_fast(p, q.data<T>(), k.data<T>(), v.data<T>(), o.data<T>(),
                                               g.dout[0].data<T>(), ptr(dq), ptr(dk), ptr(dv), d.B, d.N, d.M, d.D,
                                               d.E, saved_lse(g.out[0], d));
        }
        attention_backward_cpu<T>(p, q.data<T>(), k.data<T>(), v.data<T>(), o.data<T>(), g.dout[0].data<T>(),
                                  ptr(dq), ptr(dk), ptr(dv), d.B, d.N, d.M, d.D, d.E);
    });
    return {dq, dk, dv};
}

static double attention_flops(const std::vector<Tensor>& in, const std::any&) {
    AttnDims d = attention_dims(in);
    return 2.0 * double(d.B) * double(d.N) * double(d.M) * double(d.D + d.E);
}

static std::vector<TestCase> attention_cases() {
    auto t = [](Shape s, bool strided = false) {
        InputSpec i;
        i.shape = std::move(s);
        i.strided = strided;
        return i;
    };
    return {{"self_b2_n6_d3_e4", {t({2, 6, 3}), t({2, 6, 3}), t({2, 6, 4})}, {}},
            {"cross_n5_m7", {t({1, 5, 2}), t({1, 7, 2}), t({1, 7, 3})}, {}},
            {"d1_e1", {t({2, 4, 1}), t({2, 4, 1}), t({2, 4, 1})}, {}},
            {"one_key", {t({1, 3, 2}), t({1, 1, 2}), t({1, 1, 3})}, {}},
            {"scaled", {t({1, 5, 4}), t({1, 5, 4}), t({1, 5, 2})}, AttentionParams{0.5}},
            {"strided", {t({2, 4, 3}, true), t({2, 4, 3}), t({2, 4, 5}, true)}, {}},
            // more queries and keys than one tile of the fast path (128 × 256), ragged at both ends
            {"tiles_n300_m520", {t({1, 300, 3}), t({1, 520, 3}), t({1, 520, 5})}, {}},
            // 3 items × 2 query blocks over 2 threads: one item's blocks split between threads (its dk/dv summed
            // from two partial buffers), the others whole
            {"tiles_b3_n200", {t({3, 200, 2}), t({3, 140, 2}), t({3, 140, 3})}, {}},
            // the register-blocked products' full blocks (6 rows × 4 vectors of 16) and their masked tails:
            // E = 69 is 64 + 5 value columns, M = 40 keys is 2 vectors + 8, N = 14 rows is 6 + 6 + 2
            {"blocks_n14_m40_d8_e69", {t({1, 14, 8}), t({1, 40, 8}), t({1, 40, 69})}, AttentionParams{0.3}},
            // D = 12: the fast backward's dQ takes channels 0-7 and then 8-11 as a second, narrower block
            {"channel_blocks_d12", {t({1, 9, 12}), t({1, 21, 12}), t({1, 21, 3})}, AttentionParams{0.3}},
            // D above the fast path's small-D kernels (> 32): its SGEMM route
            {"wide_d40", {t({2, 20, 40}), t({2, 33, 40}), t({2, 33, 6})}, AttentionParams{0.2}}};
}

static std::vector<PerfCase> attention_perf() {
    // faceswap-GAN's attention maps at RES 64 (spec §2.5): decoder 32×32 (C 128, C/8 16) and 64×64 (C 64, C/8 8),
    // at batch 1 (conversion), and the 64×64 map at the training batch of 8.
    InputSpec q1{{1, 1024, 16}}, v1{{1, 1024, 128}}, q2{{1, 4096, 8}}, v2{{1, 4096, 64}}, q8{{8, 4096, 8}},
        v8{{8, 4096, 64}};
    return {{"b1_n1024_d16_e128", {q1, q1, v1}, {}},
            {"b1_n4096_d8_e64", {q2, q2, v2}, {}},
            {"b8_n4096_d8_e64", {q8, q8, v8}, {}}};
}

const OpSpec k_spec_attention = {"attention", 3, 3, attention_fwd, attention_bwd, attention_cases, attention_perf,
                                 attention_flops, k_op_none};

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
    return apply1(k_spec_attention, {q, k, v}, AttentionParams{scale});
}

}  // namespace fs
