// elementwise.cpp: the specs of the unary ops, PReLU and the broadcasting binary ops.
#include <algorithm>
#include <type_traits>

#include "autograd/functional.h"
#include "autograd/registry.h"
#include "autograd/tape.h"
#include "kernels/elementwise.h"
#include "kernels/fast.h"

namespace fs {

// --- unary -----------------------------------------------------------------------------------------------------

static UnaryParams unary_params(const std::any& a) {
    if (!a.has_value()) return UnaryParams{};
    return attrs_as<UnaryParams>(a, "unary op");
}

template <UnaryKind K>
static std::vector<Tensor> unary_fwd(const std::vector<Tensor>& in, const std::any& a) {
    Tensor x = in[0].contiguous();
    FS_CHECK(x.device() == Device::cpu, "unary op: only the CPU backend is available for ", x.str());
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    UnaryParams p = unary_params(a);
    dispatch_float(x.dtype(), "unary op", [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels()) return unary_forward_fast(K, p, x.data<T>(), y.data<T>(), x.numel());
        }
        unary_forward_cpu<T>(K, p, x.data<T>(), y.data<T>(), x.numel());
    });
    return {y};
}

template <UnaryKind K>
static std::vector<Tensor> unary_bwd(const BackwardArgs& g) {
    Tensor x = g.in[0].contiguous(), y = g.out[0].contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    UnaryParams p = unary_params(g.attrs);
    dispatch_float(x.dtype(), "unary op backward", [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels())
                return unary_backward_fast(K, p, x.data<T>(), y.data<T>(), g.dout[0].data<T>(), dx.data<T>(), x.numel());
        }
        unary_backward_cpu<T>(K, p, x.data<T>(), y.data<T>(), g.dout[0].data<T>(), dx.data<T>(), x.numel());
    });
    return {dx};
}

static std::vector<TestCase> unary_cases(double lo, double hi, double min_abs, std::any attrs = {}) {
    auto in = [&](Shape s, bool strided = false) {
        InputSpec i;
        i.shape = std::move(s);
        i.lo = lo, i.hi = hi, i.min_abs = min_abs, i.strided = strided;
        return std::vector<InputSpec>{i};
    };
    return {{"vec7", in({7}), attrs},
            {"nchw_2x3x5x4", in({2, 3, 5, 4}), attrs},
            {"size1_1x3x1x2", in({1, 3, 1, 2}), attrs},
            {"strided_3x5", in({3, 5}, true), attrs}};
}

static std::vector<PerfCase> unary_perf(double lo, double hi) {
    InputSpec i;
    i.shape = {8, 64, 64, 64};
    i.lo = lo, i.hi = hi;
    return {{"8x64x64x64", {i}, {}}};
}

#define FS_UNARY_SPEC(NAME, LO, HI, MIN_ABS, FLAGS, ATTRS)                                                    \
    const OpSpec k_spec_##NAME = {                                                                            \
        #NAME, 1, 1, unary_fwd<UnaryKind::NAME>, unary_bwd<UnaryKind::NAME>,                                  \
        [] { return unary_cases(LO, HI, MIN_ABS, ATTRS); }, [] { return unary_perf(LO, HI); }, nullptr, FLAGS}; \
    Tensor NAME(const Tensor& x) { return apply1(k_spec_##NAME, {x}); }

// Kinked ops keep inputs >= 0.05 away from 0, far beyond the check's eps, so the kink is never straddled.
FS_UNARY_SPEC(abs, -1.0, 1.0, 0.05, k_op_kinked, std::any{})
FS_UNARY_SPEC(square, -2.0, 2.0, 0.0, k_op_none, std::any{})
FS_UNARY_SPEC(exp, -2.0, 2.0, 0.0, k_op_none, std::any{})
FS_UNARY_SPEC(log, 0.2, 3.0, 0.0, k_op_none, std::any{})  // log needs x > 0
FS_UNARY_SPEC(relu, -1.0, 1.0, 0.05, k_op_kinked, std::any{})
FS_UNARY_SPEC(sigmoid, -4.0, 4.0, 0.0, k_op_none, std::any{})
FS_UNARY_SPEC(tanh, -2.0, 2.0, 0.0, k_op_none, std::any{})
#undef FS_UNARY_SPEC

const OpSpec k_spec_leaky_relu = {
    "leaky_relu", 1, 1, unary_fwd<UnaryKind::leaky_relu>, unary_bwd<UnaryKind::leaky_relu>,
    [] { return unary_cases(-1.0, 1.0, 0.05, UnaryParams{0.2, 1, 0}); },
    [] { return unary_perf(-1, 1); }, nullptr, k_op_kinked};
Tensor leaky_relu(const Tensor& x, double slope) {
    UnaryParams p;
    p.slope = slope;
    return apply1(k_spec_leaky_relu, {x}, p);
}

const OpSpec k_spec_scale = {
    "scale", 1, 1, unary_fwd<UnaryKind::scale>, unary_bwd<UnaryKind::scale>,
    [] { return unary_cases(-1.0, 1.0, 0.0, UnaryParams{0.2, -1.7, 0.3}); },
    [] { return unary_perf(-1, 1); }, nullptr, k_op_none};
Tensor scale(const Tensor& x, double a, double b) {
    UnaryParams p;
    p.a = a, p.b = b;
    return apply1(k_spec_scale, {x}, p);
}

// --- PReLU -----------------------------------------------------------------------------------------------------

static std::vector<Tensor> prelu_fwd(const std::vector<Tensor>& in, const std::any&) {
    FS_CHECK(in[0].dim() >= 2, "prelu: input must be (N, C, ...), got ", in[0].str());
    check_rank(in[1], 1, "prelu", "alpha");
    FS_CHECK(in[1].size(0) == in[0].size(1), "prelu: input has C=", in[0].size(1), " but alpha has ",
             in[1].size(0), " slopes");
    Tensor x = in[0].contiguous(), al = in[1].contiguous();
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    int64_t N = x.size(0), C = x.size(1), S = x.numel() / std::max<int64_t>(N * C, 1);
    dispatch_float(x.dtype(), "prelu", [&](auto tag) {
        using T = decltype(tag);
        prelu_forward_cpu<T>(x.data<T>(), al.data<T>(), y.data<T>(), N, C, S);
    });
    return {y};
}

static std::vector<Tensor> prelu_bwd(const BackwardArgs& g) {
    Tensor x = g.in[0].contiguous(), al = g.in[1].contiguous();
    Tensor dx = g.needs[0] ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
    Tensor da = g.needs[1] ? Tensor::empty(al.shape(), al.dtype()) : Tensor();
    int64_t N = x.size(0), C = x.size(1), S = x.numel() / std::max<int64_t>(N * C, 1);
    dispatch_float(x.dtype(), "prelu backward", [&](auto tag) {
        using T = decltype(tag);
        prelu_backward_cpu<T>(x.data<T>(), al.data<T>(), g.dout[0].data<T>(), dx.defined() ? dx.data<T>() : nullptr,
                              da.defined() ? da.data<T>() : nullptr, N, C, S);
    });
    return {dx, da};
}

static std::vector<TestCase> prelu_cases() {
    auto x = [](Shape s, bool strided = false) {
        InputSpec i;
        i.shape = std::move(s);
        i.min_abs = 0.05;  // away from the kink at 0
        i.strided = strided;
        return i;
    };
    auto al = [](int64_t c) {
        InputSpec i;
        i.shape = {c};
        i.lo = 0.05, i.hi = 0.5;
        return i;
    };
    return {{"nchw_2x3x4x5", {x({2, 3, 4, 5}), al(3)}, {}},
            {"nc_4x6", {x({4, 6}), al(6)}, {}},
            {"c1_1x1x3x3", {x({1, 1, 3, 3}), al(1)}, {}},
            {"strided_2x3x4x3", {x({2, 3, 4, 3}, true), al(3)}, {}}};
}

const OpSpec k_spec_prelu = {
    "prelu", 2, 2, prelu_fwd, prelu_bwd, prelu_cases,
    [] {
        InputSpec x{{8, 32, 128, 128}}, a{{32}};
        return std::vector<PerfCase>{{"8x32x128x128", {x, a}, {}}};
    },
    nullptr, k_op_kinked};
Tensor prelu(const Tensor& x, const Tensor& alpha) { return apply1(k_spec_prelu, {x, alpha}); }

// --- binary ----------------------------------------------------------------------------------------------------

template <BinaryKind K>
static std::vector<Tensor> binary_fwd(const std::vector<Tensor>& in, const std::any&) {
    Tensor a = in[0].contiguous(), b = in[1].contiguous();
    FS_CHECK(a.device() == Device::cpu, "binary op: only the CPU backend is available for ", a.str());
    BroadcastGeom geom = make_broadcast(a.shape(), b.shape(), "binary op");
    Shape os = (a.dim() == 0 && b.dim() == 0) ? Shape{} : broadcast_shape(geom);
    Tensor out = Tensor::empty(os, a.dtype());
    dispatch_float(a.dtype(), "binary op", [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels()) return binary_forward_fast(K, geom, a.data<T>(), b.data<T>(), out.data<T>());
        }
        binary_forward_cpu<T>(K, geom, a.data<T>(), b.data<T>(), out.data<T>());
    });
    return {out};
}

template <BinaryKind K>
static std::vector<Tensor> binary_bwd(const BackwardArgs& g) {
    Tensor a = g.in[0].contiguous(), b = g.in[1].contiguous();
    BroadcastGeom geom = make_broadcast(a.shape(), b.shape(), "binary op backward");
    Tensor da = g.needs[0] ? Tensor::empty(a.shape(), a.dtype()) : Tensor();
    Tensor db = g.needs[1] ? Tensor::empty(b.shape(), b.dtype()) : Tensor();
    dispatch_float(a.dtype(), "binary op backward", [&](auto tag) {
        using T = decltype(tag);
        T* dap = da.defined() ? da.data<T>() : nullptr;
        T* dbp = db.defined() ? db.data<T>() : nullptr;
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels() && binary_backward_fast(K, geom, a.data<T>(), b.data<T>(), g.dout[0].data<T>(), dap, dbp))
                return;
        }
        binary_backward_cpu<T>(K, geom, a.data<T>(), b.data<T>(), g.dout[0].data<T>(),
                               da.defined() ? da.data<T>() : nullptr, db.defined() ? db.data<T>() : nullptr,
                               a.numel(), b.numel());
    });
    return {da, db};
}

// Every broadcast pattern the model uses: over N, over C (per-channel affine), over H·W, a scalar on either
// side, both sides broadcasting, lower rank, and a strided operand. blo/bhi keep div's divisor away from 0.
static std::vector<TestCase> binary_cases(double blo, double bhi) {
    auto A = [](Shape s, bool strided = false) {
        InputSpec i;
        i.shape = std::move(s);
        i.strided = strided;
        return i;
    };
    auto B = [&](Shape s, bool strided = false) {
        InputSpec i;
        i.shape = std::move(s);
        i.lo = blo, i.hi = bhi, i.strided = strided;
        return i;
    };
    return {{"same_2x3x4x5", {A({2, 3, 4, 5}), B({2, 3, 4, 5})}, {}},
            {"bcast_n", {A({2, 3, 4, 5}), B({1, 3, 4, 5})}, {}},
            {"bcast_c", {A({2, 3, 4, 5}), B({1, 3, 1, 1})}, {}},
            {"bcast_hw", {A({2, 3, 4, 5}), B({2, 3, 1, 1})}, {}},
            {"scalar_b", {A({2, 3, 4, 5}), B({1})}, {}},
            {"scalar_a", {A({1}), B({3, 1, 5})}, {}},
            {"both_ways", {A({2, 1, 4, 1}), B({1, 3, 1, 5})}, {}},
            {"lower_rank", {A({2, 3, 4, 5}), B({5})}, {}},
            {"strided", {A({3, 4}, true), B({3, 4}, true)}, {}}};
}

static std::vector<PerfCase> binary_perf(double blo, double bhi) {
    InputSpec a{{8, 64, 64, 64}}, b{{8, 64, 64, 64}}, c{{1, 64, 1, 1}};
    b.lo = c.lo = blo, b.hi = c.hi = bhi;
    return {{"same_8x64x64x64", {a, b}, {}}, {"bcast_c_8x64x64x64", {a, c}, {}}};
}

#define FS_BINARY_SPEC(NAME, BLO, BHI)                                                                      \
    const OpSpec k_spec_##NAME = {#NAME,                                                                    \
                                  2,                                                                        \
                                  2,                                                                        \
                                  binary_fwd<BinaryKind::NAME>,                                             \
                                  binary_bwd<BinaryKind::NAME>,                                             \
                                  [] { return binary_cases(BLO, BHI); },                                    \
                                  [] { return binary_perf(BLO, BHI); },                                     \
                                  nullptr,                                                                  \
                                  k_op_none};                                                               \
    Tensor NAME(const Tensor& a, const Tensor& b) { return apply1(k_spec_##NAME, {a, b}); }

FS_BINARY_SPEC(add, -1.0, 1.0)
FS_BINARY_SPEC(sub, -1.0, 1.0)
FS_BINARY_SPEC(mul, -1.0, 1.0)
FS_BINARY_SPEC(div, 0.5, 2.0)  // divisor in [0.5, 2): far from the pole at 0
#undef FS_BINARY_SPEC

}  // namespace fs
