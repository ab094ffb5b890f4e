// norm.cpp: the specs of instance_norm (scalar affine, ε on σ), group_norm and batch_norm (inference), with their
// typed wrappers. The kernels and the exact semantics are in kernels/norm.h.
#include <algorithm>
#include <type_traits>

#include "autograd/functional.h"
#include "autograd/registry.h"
#include "autograd/tape.h"
#include "kernels/fast.h"
#include "kernels/norm.h"

namespace fs {

namespace {

// The data pointer of an optional gradient (null when that input needs none).
template <typename T>
T* opt_ptr(const Tensor& t) {
    return t.defined() ? t.data<T>() : nullptr;
}

Tensor grad_like(const Tensor& t, bool need) { return need ? Tensor::empty(t.shape(), t.dtype()) : Tensor(); }

// A per-channel parameter input: rank 1 with C entries.
void check_per_channel(const Tensor& t, int64_t C, const char* op, const char* what, const Tensor& x) {
    check_rank(t, 1, op, what);
    FS_CHECK(t.size(0) == C, op, ": input ", x.str(), " has C=", C, " but ", what, " has ", t.size(0),
             " entries");
}

// Common checks of a (N, C, ...) normalisation input.
void check_norm_input(const std::vector<Tensor>& in, const char* op) {
    check_same_dtype_device(in, op);
    FS_CHECK(in[0].device() == Device::cpu, op, ": only the CPU backend is available for ", in[0].str());
    FS_CHECK(in[0].dim() >= 2, op, ": input must be (N, C, ...), got ", in[0].str());
}

// (N, C, S): S is the product of the dims after C (1 for an (N, C) input).
void ncs(const Tensor& x, int64_t& N, int64_t& C, int64_t& S) {
    N = x.size(0), C = x.size(1);
    S = N * C > 0 ? x.numel() / (N * C) : 0;
}

InputSpec in_spec(Shape s, double lo = -1.0, double hi = 1.0, bool strided = false) {
    InputSpec i;
    i.shape = std::move(s);
    i.lo = lo, i.hi = hi, i.strided = strided;
    return i;
}

}  // namespace

// --- instance_norm ---------------------------------------------------------------------------------------------

static std::vector<Tensor> instance_norm_fwd(const std::vector<Tensor>& in, const std::any& a) {
    const char* op = "instance_norm";
    const InstanceNormParams& p = attrs_as<InstanceNormParams>(a, op);
    check_norm_input(in, op);
    for (int k = 1; k <= 2; ++k) {
        const char* what = k == 1 ? "gamma" : "beta";
        check_rank(in[size_t(k)], 1, op, what);
        FS_CHECK(in[size_t(k)].size(0) == 1, op, ": ", what, " must be one scalar (shape [1]) since the layer's ",
                 "affine is scalar (axis=None), got ", in[size_t(k)].str());
    }
    FS_CHECK(p.eps >= 0, op, ": eps must be >= 0, got ", p.eps);
    Tensor x = in[0].contiguous(), g = in[1].contiguous(), b = in[2].contiguous();
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    const int64_t N = x.size(0), M = N > 0 ? x.numel() / N : 0;
    dispatch_float(x.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels()) return instance_norm_forward_fast(p, x.data<T>(), g.data<T>(), b.data<T>(), y.data<T>(), N, M);
        }
        instance_norm_forward_cpu<T>(p, x.data<T>(), g.data<T>(), b.data<T>(), y.data<T>(), N, M);
    });
    return {y};
}

static std::vector<Tensor> instance_norm_bwd(const BackwardArgs& ga) {
    const InstanceNormParams& p = attrs_as<InstanceNormParams>(ga.attrs, "instance_norm");
    Tensor x = ga.in[0].contiguous(), g = ga.in[1].contiguous(), dy = ga.dout[0].contiguous();
    Tensor dx = grad_like(x, ga.needs[0]), dg = grad_like(g, ga.needs[1]), db = grad_like(ga.in[2], ga.needs[2]);
    const int64_t N = x.size(0), M = N > 0 ? x.numel() / N : 0;
    dispatch_float(x.dtype(), "instance_norm backward", [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels())
                return instance_norm_backward_fast(p, x.data<T>(), g.data<T>(), dy.data<T>(), opt_ptr<T>(dx),
                                                   opt_ptr<T>(dg), opt_ptr<T>(db), N, M);
        }
        instance_norm_backward_cpu<T>(p, x.data<T>(), g.data<T>(), dy.data<T>(), opt_ptr<T>(dx), opt_ptr<T>(dg),
                                      opt_ptr<T>(db), N, M);
    });
    return {dx, dg, db};
}

static std::vector<TestCase> instance_norm_cases() {
    auto c = [&](const char* name, Shape xs, bool strided = false, InstanceNormParams p = InstanceNormParams{}) {
        return TestCase{name, {in_spec(std::move(xs), -1, 1, strided), in_spec({1}, 0.5, 1.5), in_spec({1})}, p};
    };
    auto leaky = [&](const char* name, Shape xs, double slope) {
        InputSpec x = in_spec(std::move(xs), -1, 1);
        x.min_abs = 0.05;
        InstanceNormParams p;
        p.pre_leaky = true;
        p.slope = slope;
        return TestCase{name, {x, in_spec({1}, 0.5, 1.5), in_spec({1})}, p};
    };
    return {c("nchw_2x3x4x5", {2, 3, 4, 5}),
            c("n1_1x4x3x3", {1, 4, 3, 3}),
            c("c1_3x1x2x5", {3, 1, 2, 5}),
            c("rank2_3x7", {3, 7}),
            c("hw1_2x5x1x1", {2, 5, 1, 1}),
            // One element per sample: σ = 0, x̂ ≡ 0, so every input gradient is 0 (the σ = 0 guard).
            c("one_element_3x1x1x1", {3, 1, 1, 1}),
            c("strided_2x3x4x3", {2, 3, 4, 3}, true),
            // A large ε makes the σ+ε (not var+ε) form and its 1/σ vs 1/(σ+ε) terms differ by a lot.
            c("eps0p5_2x3x3x4", {2, 3, 3, 4}, false, InstanceNormParams{0.5}),
            c("n8_8x2x2x2", {8, 2, 2, 2}),
            // LeakyReLU fused in front (conv → LeakyReLU → norm): inputs kept 0.05 away from the kink at 0,
            // M = 60 and 37 so the vector paths' masked tails are exercised, N = 2 and 3 over the threads
            leaky("pre_leaky_2x3x4x5", {2, 3, 4, 5}, 0.2), leaky("pre_leaky_slope0p5_3x37", {3, 37}, 0.5)};
}

const OpSpec k_spec_instance_norm = {
    "instance_norm", 3, 3, instance_norm_fwd, instance_norm_bwd, instance_norm_cases,
    [] {
        auto pc = [](const char* name, Shape s) {
            return PerfCase{name, {InputSpec{std::move(s)}, InputSpec{{1}}, InputSpec{{1}}}, InstanceNormParams{}};
        };
        InstanceNormParams fused;
        fused.pre_leaky = true;
        return std::vector<PerfCase>{pc("8x256x16x16", {8, 256, 16, 16}), pc("8x64x64x64", {8, 64, 64, 64}),
                                     {"pre_leaky_8x64x64x64",
                                      {InputSpec{{8, 64, 64, 64}}, InputSpec{{1}}, InputSpec{{1}}},
                                      fused}};
    },
    nullptr, k_op_none};

Tensor instance_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const InstanceNormParams& p) {
    return apply1(k_spec_instance_norm, {x, gamma, beta}, p);
}

// --- group_norm ------------------------------------------------------------------------------------------------

static std::vector<Tensor> group_norm_fwd(const std::vector<Tensor>& in, const std::any& a) {
    const char* op = "group_norm";
    const GroupNormParams& p = attrs_as<GroupNormParams>(a, op);
    check_norm_input(in, op);
    int64_t N, C, S;
    ncs(in[0], N, C, S);
    FS_CHECK(p.groups >= 1, op, ": groups must be >= 1, got ", p.groups);
    FS_CHECK(C % p.groups == 0, op, ": input ", in[0].str(), " has C=", C, ", not divisible by groups=", p.groups);
    FS_CHECK(p.eps >= 0, op, ": eps must be >= 0, got ", p.eps);
    check_per_channel(in[1], C, op, "gamma", in[0]);
    check_per_channel(in[2], C, op, "beta", in[0]);
    Tensor x = in[0].contiguous(), g = in[1].contiguous(), b = in[2].contiguous();
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    dispatch_float(x.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        group_norm_forward_cpu<T>(p, x.data<T>(), g.data<T>(), b.data<T>(), y.data<T>(), N, C, S);
    });
    return {y};
}

static std::vector<Tensor> group_norm_bwd(const BackwardArgs& ga) {
    const GroupNormParams& p = attrs_as<GroupNormParams>(ga.attrs, "group_norm");
    Tensor x = ga.in[0].contiguous(), g = ga.in[1].contiguous(), dy = ga.dout[0].contiguous();
    Tensor dx = grad_like(x, ga.needs[0]), dg = grad_like(g, ga.needs[1]), db = grad_like(ga.in[2], ga.needs[2]);
    int64_t N, C, S;
    ncs(x, N, C, S);
    dispatch_float(x.dtype(), "group_norm backward", [&](auto tag) {
        using T = decltype(tag);
        group_norm_backward_cpu<T>(p, x.data<T>(), g.data<T>(), dy.data<T>(), opt_ptr<T>(dx), opt_ptr<T>(dg),
                                   opt_ptr<T>(db), N, C, S);
    });
    return {dx, dg, db};
}

static std::vector<TestCase> group_norm_cases() {
    auto c = [](const char* name, Shape xs, int groups, double eps = 1e-6, bool strided = false) {
        const int64_t C = xs[1];
        return TestCase{name, {in_spec(std::move(xs), -1, 1, strided), in_spec({C}), in_spec({C})},
                        GroupNormParams{groups, eps}};
    };
    return {c("g1_2x6x3x4", {2, 6, 3, 4}, 1),              // one group: layer norm with per-channel affine
            c("gC_2x6x3x4", {2, 6, 3, 4}, 6),              // one channel per group ("layernorm" in conv_block)
            c("g3_2x6x3x4", {2, 6, 3, 4}, 3),              // 2 consecutive channels per group
            c("g16_1x32x2x3", {1, 32, 2, 3}, 16),          // "groupnorm": 16 groups
            c("consec4_2x8x3x3", {2, 8, 3, 3}, 2),         // upscale_ps: f groups over 4f channels
            c("rank2_4x6_g2", {4, 6}, 2),                  // (N, C) input, 3 elements per group
            c("c1_3x1x4x5_g1", {3, 1, 4, 5}, 1),
            c("strided_2x4x3x4_g2", {2, 4, 3, 4}, 2, 1e-6, true),
            c("eps0p5_2x4x3x3_g2", {2, 4, 3, 3}, 2, 0.5)}; // ε inside the sqrt, large enough to matter
}

const OpSpec k_spec_group_norm = {
    "group_norm", 3, 3, group_norm_fwd, group_norm_bwd, group_norm_cases,
    [] {
        auto pc = [](const char* name, int groups) {
            return PerfCase{name, {InputSpec{{8, 256, 16, 16}}, InputSpec{{256}}, InputSpec{{256}}},
                            GroupNormParams{groups, 1e-6}};
        };
        return std::vector<PerfCase>{pc("8x256x16x16_g16", 16), pc("8x256x16x16_gC", 256)};
    },
    nullptr, k_op_none};

Tensor group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const GroupNormParams& p) {
    return apply1(k_spec_group_norm, {x, gamma, beta}, p);
}

// --- batch_norm (inference) ------------------------------------------------------------------------------------

static std::vector<Tensor> batch_norm_fwd(const std::vector<Tensor>& in, const std::any& a) {
    const char* op = "batch_norm";
    const BatchNormParams& p = attrs_as<BatchNormParams>(a, op);
    check_norm_input(in, op);
    int64_t N, C, S;
    ncs(in[0], N, C, S);
    check_per_channel(in[1], C, op, "gamma", in[0]);
    check_per_channel(in[2], C, op, "beta", in[0]);
    check_per_channel(in[3], C, op, "running_mean", in[0]);
    check_per_channel(in[4], C, op, "running_var", in[0]);
    FS_CHECK(p.eps >= 0, op, ": eps must be >= 0, got ", p.eps);
    Tensor x = in[0].contiguous(), g = in[1].contiguous(), b = in[2].contiguous(), m = in[3].contiguous(),
           v = in[4].contiguous();
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    dispatch_float(x.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        batch_norm_forward_cpu<T>(p, x.data<T>(), g.data<T>(), b.data<T>(), m.data<T>(), v.data<T>(), y.data<T>(),
                                  N, C, S);
    });
    return {y};
}

static std::vector<Tensor> batch_norm_bwd(const BackwardArgs& ga) {
    const BatchNormParams& p = attrs_as<BatchNormParams>(ga.attrs, "batch_norm");
    Tensor x = ga.in[0].contiguous(), g = ga.in[1].contiguous(), m = ga.in[3].contiguous(),
           v = ga.in[4].contiguous(), dy = ga.dout[0].contiguous();
    Tensor dx = grad_like(x, ga.needs[0]), dg = grad_like(g, ga.needs[1]), db = grad_like(ga.in[2], ga.needs[2]),
           dm = grad_like(m, ga.needs[3]), dv = grad_like(v, ga.needs[4]);
    int64_t N, C, S;
    ncs(x, N, C, S);
    dispatch_float(x.dtype(), "batch_norm backward", [&](auto tag) {
        using T = decltype(tag);
        batch_norm_backward_cpu<T>(p, x.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(), dy.data<T>(),
                                   opt_ptr<T>(dx), opt_ptr<T>(dg), opt_ptr<T>(db), opt_ptr<T>(dm), opt_ptr<T>(dv), N,
                                   C, S);
    });
    return {dx, dg, db, dm, dv};
}

static std::vector<TestCase> batch_norm_cases() {
    auto c = [](const char* name, Shape xs, double eps = 1e-3, bool strided = false) {
        const int64_t C = xs[1];
        // running_var in [0.5, 2]: a variance, kept well away from the pole of (v+ε)^(-1/2) at v = −ε.
        return TestCase{name,
                        {in_spec(std::move(xs), -1, 1, strided), in_spec({C}), in_spec({C}), in_spec({C}),
                         in_spec({C}, 0.5, 2.0)},
                        BatchNormParams{eps}};
    };
    return {c("nchw_2x3x4x5", {2, 3, 4, 5}),
            c("nc_4x6", {4, 6}),
            c("c1_1x1x3x3", {1, 1, 3, 3}),
            c("hw1_3x4x1x1", {3, 4, 1, 1}),
            c("strided_2x3x4x3", {2, 3, 4, 3}, 1e-3, true),
            c("eps0p5_2x2x3x3", {2, 2, 3, 3}, 0.5)};
}

const OpSpec k_spec_batch_norm = {
    "batch_norm", 5, 5, batch_norm_fwd, batch_norm_bwd, batch_norm_cases,
    [] {
        InputSpec x{{8, 64, 64, 64}}, c{{64}}, v{{64}, 0.5, 2.0};
        return std::vector<PerfCase>{{"8x64x64x64", {x, c, c, c, v}, BatchNormParams{}}};
    },
    nullptr, k_op_none};

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, const BatchNormParams& p) {
    return apply1(k_spec_batch_norm, {x, gamma, beta, running_mean, running_var}, p);
}

}  // namespace fs
