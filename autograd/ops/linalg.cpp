// linalg.cpp: the specs of dense and matmul. Both backwards call explicit backward kernels (kernels/linalg.h)
// that write each gradient in its input's own layout.
#include "autograd/functional.h"
#include "autograd/registry.h"
#include "autograd/tape.h"
#include "kernels/fast.h"
#include "kernels/linalg.h"

namespace fs {


// --- dense -----------------------------------------------------------------------------------------------------

static std::vector<Tensor> dense_fwd(const std::vector<Tensor>& in, const std::any&) {
    check_same_dtype_device(in, "dense");
    check_rank(in[0], 2, "dense", "input x (N, IN)");
    check_rank(in[1], 2, "dense", "weight w (OUT, IN)");
    FS_CHECK(in[0].size(1) == in[1].size(1), "dense: input ", shape_str(in[0].shape()), " has IN=", in[0].size(1),
             " but weight ", shape_str(in[1].shape()), " (OUT, IN) expects IN=", in[1].size(1));
    const bool has_bias = in.size() == 3;
    if (has_bias) {
        check_rank(in[2], 1, "dense", "bias b (OUT)");
        FS_CHECK(in[2].size(0) == in[1].size(0), "dense: bias ", shape_str(in[2].shape()), " for weight ",
                 shape_str(in[1].shape()), " with OUT=", in[1].size(0));
    }
    Tensor x = in[0].contiguous(), w = in[1].contiguous(), b = has_bias ? in[2].contiguous() : Tensor();
    FS_CHECK(x.device() == Device::cpu, "dense: only the CPU backend is available for ", x.str());
    const int64_t N = x.size(0), IN = x.size(1), OUT = w.size(0);
    Tensor y = Tensor::empty({N, OUT}, x.dtype());
    dispatch_float(x.dtype(), "dense", [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels())
                return dense_forward_fast(x.data<T>(), w.data<T>(), has_bias ? b.data<T>() : nullptr, y.data<T>(), N,
                                          IN, OUT);
        }
        dense_forward_cpu<T>(x.data<T>(), w.data<T>(), has_bias ? b.data<T>() : nullptr, y.data<T>(), N, IN, OUT);
    });
    return {y};
}

static std::vector<Tensor> dense_bwd(const BackwardArgs& g) {
    Tensor x = g.in[0].contiguous(), w = g.in[1].contiguous();
    const bool has_bias = g.in.size() == 3;
    const int64_t N = x.size(0), IN = x.size(1), OUT = w.size(0);
    // x is only read for dw and w only for dx, but both are cheap to have contiguous already.
    Tensor dx = g.needs[0] ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
    Tensor dw = g.needs[1] ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
    Tensor db = has_bias && g.needs[2] ? Tensor::empty({OUT}, x.dtype()) : Tensor();
    dispatch_float(x.dtype(), "dense backward", [&](auto tag) {
        using T = decltype(tag);
        auto ptr = [](Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels())
                return dense_backward_fast(x.data<T>(), w.data<T>(), g.dout[0].data<T>(), ptr(dx), ptr(dw), ptr(db), N,
                                           IN, OUT);
        }
        dense_backward_cpu<T>(x.data<T>(), w.data<T>(), g.dout[0].data<T>(), ptr(dx), ptr(dw), ptr(db), N, IN, OUT);
    });
    if (has_bias) return {dx, dw, db};
    return {dx, dw};
}

static std::vector<TestCase> dense_cases() {
    return {{"bias_5x7_to_3", {input_spec({5, 7}), input_spec({3, 7}), input_spec({3})}, {}},
            {"nobias_4x6_to_5", {input_spec({4, 6}), input_spec({5, 6})}, {}},
            {"n1_1x9_to_4", {input_spec({1, 9}), input_spec({4, 9}), input_spec({4})}, {}},
            {"in1_out1_3x1_to_1", {input_spec({3, 1}), input_spec({1, 1}), input_spec({1})}, {}},
            {"strided_x_and_w_3x5_to_4", {input_spec({3, 5}, true), input_spec({4, 5}, true), input_spec({4})}, {}}};
}

static std::vector<PerfCase> dense_perf() {
    // The encoder's two Dense layers at RES 64: flatten 4·4·1024 -> latent 1024, then 1024 -> 4·4·1024.
    return {{"enc_flatten_8x16384_to_1024", {input_spec({8, 16384}), input_spec({1024, 16384}), input_spec({1024})}, {}},
            {"enc_expand_8x1024_to_16384", {input_spec({8, 1024}), input_spec({16384, 1024}), input_spec({16384})}, {}}};
}

static double dense_flops(const std::vector<Tensor>& in, const std::any&) {
    return 2.0 * double(in[0].size(0)) * double(in[0].size(1)) * double(in[1].size(0));  // 2·N·IN·OUT
}

const OpSpec k_spec_dense = {"dense", 2, 3, dense_fwd, dense_bwd, dense_cases, dense_perf, dense_flops, k_op_none};

Tensor dense(const Tensor& x, const Tensor& w, const Tensor& b) {
    if (b.defined()) return apply1(k_spec_dense, {x, w, b});
    return apply1(k_spec_dense, {x, w});
}

// --- matmul ----------------------------------------------------------------------------------------------------

static MatmulParams matmul_params(const std::any& a) {
    if (!a.has_value()) return MatmulParams{};
    return attrs_as<MatmulParams>(a, "matmul");
}

// The sizes of a matmul, read from the operands' shapes and the transpose flags (rank 2 counts as B = 1).
struct MatmulDims {
    int64_t B, M, N, K;
};

static MatmulDims matmul_dims(const Tensor& a, const Tensor& b, const MatmulParams& p) {
    FS_CHECK(a.dim() == 2 || a.dim() == 3, "matmul: a must be (M, K) or (B, M, K), got ", a.str());
    FS_CHECK(b.dim() == a.dim(), "matmul: a ", shape_str(a.shape()), " and b ", shape_str(b.shape()),
             " must have the same rank (2, or 3 with a batch axis)");
    const bool batched = a.dim() == 3;
    MatmulDims d;
    d.B = batched ? a.size(0) : 1;
    FS_CHECK(!batched || b.size(0) == d.B, "matmul: batch sizes differ: a ", shape_str(a.shape()), ", b ",
             shape_str(b.shape()));
    d.M = p.trans_a ? a.size(-1) : a.size(-2);
    d.K = p.trans_a ? a.size(-2) : a.size(-1);
    const int64_t kb = p.trans_b ? b.size(-1) : b.size(-2);
    d.N = p.trans_b ? b.size(-2) : b.size(-1);
    FS_CHECK(kb == d.K, "matmul: a ", shape_str(a.shape()), (p.trans_a ? " (transposed)" : ""), " has K=", d.K,
             " but b ", shape_str(b.shape()), (p.trans_b ? " (transposed)" : ""), " has K=", kb);
    return d;
}

static std::vector<Tensor> matmul_fwd(const std::vector<Tensor>& in, const std::any& attrs) {
    check_same_dtype_device(in, "matmul");
    const MatmulParams p = matmul_params(attrs);
    const MatmulDims d = matmul_dims(in[0], in[1], p);
    Tensor a = in[0].contiguous(), b = in[1].contiguous();
    FS_CHECK(a.device() == Device::cpu, "matmul: only the CPU backend is available for ", a.str());
    Tensor c = Tensor::empty(a.dim() == 3 ? Shape{d.B, d.M, d.N} : Shape{d.M, d.N}, a.dtype());
    dispatch_float(a.dtype(), "matmul", [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels())
                return matmul_forward_fast(a.data<T>(), b.data<T>(), c.data<T>(), d.B, d.M, d.N, d.K, p.trans_a,
                                           p.trans_b);
        }
        matmul_forward_cpu<T>(a.data<T>(), b.data<T>(), c.data<T>(), d.B, d.M, d.N, d.K, p.trans_a, p.trans_b);
    });
    return {c};
}

static std::vector<Tensor> matmul_bwd(const BackwardArgs& g) {
    const MatmulParams p = matmul_params(g.attrs);
    const MatmulDims d = matmul_dims(g.in[0], g.in[1], p);
    Tensor a = g.in[0].contiguous(), b = g.in[1].contiguous();
    // Gradients come back in the operands' own (stored) shapes, transposed or not.
    Tensor da = g.needs[0] ? Tensor::empty(a.shape(), a.dtype()) : Tensor();
    Tensor db = g.needs[1] ? Tensor::empty(b.shape(), b.dtype()) : Tensor();
    dispatch_float(a.dtype(), "matmul backward", [&](auto tag) {
        using T = decltype(tag);
        auto ptr = [](Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels())
                return matmul_backward_fast(a.data<T>(), b.data<T>(), g.dout[0].data<T>(), ptr(da), ptr(db), d.B, d.M,
                                            d.N, d.K, p.trans_a, p.trans_b);
        }
        matmul_backward_cpu<T>(a.data<T>(), b.data<T>(), g.dout[0].data<T>(), ptr(da), ptr(db), d.B, d.M, d.N, d.K,
                               p.trans_a, p.trans_b);
    });
    return {da, db};
}

static std::vector<TestCase> matmul_cases() {
    // B=2, M=3, K=5, N=4 in every transpose combination: all sizes distinct and odd/even mixed, so a swapped
    // pair of indices changes a shape or reads the wrong element.
    auto A = [](bool t, bool strided = false) { return input_spec(t ? Shape{2, 5, 3} : Shape{2, 3, 5}, strided); };
    auto Bm = [](bool t, bool strided = false) { return input_spec(t ? Shape{2, 4, 5} : Shape{2, 5, 4}, strided); };
    return {{"nn_2x3x5_2x5x4", {A(false), Bm(false)}, MatmulParams{false, false}},
            {"tn_2x5x3_2x5x4", {A(true), Bm(false)}, MatmulParams{true, false}},
            {"nt_2x3x5_2x4x5", {A(false), Bm(true)}, MatmulParams{false, true}},
            {"tt_2x5x3_2x4x5", {A(true), Bm(true)}, MatmulParams{true, true}},
            {"b1_1x7x3_1x3x1", {input_spec({1, 7, 3}), input_spec({1, 3, 1})}, MatmulParams{}},
            {"m1_k1_2x1x1_2x1x5", {input_spec({2, 1, 1}), input_spec({2, 1, 5})}, MatmulParams{}},
            {"rank2_3x5_5x4", {input_spec({3, 5}), input_spec({5, 4})}, MatmulParams{}},
            {"rank2_tt_5x3_4x5", {input_spec({5, 3}), input_spec({4, 5})}, MatmulParams{true, true}},
            {"strided_a_nt", {A(false, true), Bm(true)}, MatmulParams{false, true}},
            {"strided_b_tn", {A(true), Bm(false, true)}, MatmulParams{true, false}}};
}

static std::vector<PerfCase> matmul_perf() {
    // Self-attention, batch 8, tokens = H·W: S = g·fᵀ with g, f (B, tokens, C/8), then o = softmax(S)·h with
    // h (B, tokens, C). Encoder attention at 16×16 (C=256) and decoder attention at 32×32 (C=128).
    return {{"attn16_S_8x256x32_nt", {input_spec({8, 256, 32}), input_spec({8, 256, 32})}, MatmulParams{false, true}},
            {"attn16_o_8x256x256_8x256x256", {input_spec({8, 256, 256}), input_spec({8, 256, 256})}, MatmulParams{}},
            {"attn32_S_8x1024x16_nt", {input_spec({8, 1024, 16}), input_spec({8, 1024, 16})}, MatmulParams{false, true}},
            {"attn32_o_8x1024x1024_8x1024x128", {input_spec({8, 1024, 1024}), input_spec({8, 1024, 128})}, MatmulParams{}}};
}

static double matmul_flops(const std::vector<Tensor>& in, const std::any& attrs) {
    const MatmulDims d = matmul_dims(in[0], in[1], matmul_params(attrs));
    return 2.0 * double(d.B) * double(d.M) * double(d.N) * double(d.K);  // 2·B·M·N·K
}

const OpSpec k_spec_matmul = {"matmul", 2, 2, matmul_fwd, matmul_bwd, matmul_cases, matmul_perf, matmul_flops,
                              k_op_none};

Tensor matmul(const Tensor& a, const Tensor& b, const MatmulParams& p) { return apply1(k_spec_matmul, {a, b}, p); }

}  // namespace fs
