// reduce.cpp: the specs of sum, mean (over chosen axes) and softmax (over the last axis).
// sum and mean share one kernel pair: mean is the sum scaled by 1/count, forward and backward.
#include <type_traits>

#include "autograd/functional.h"
#include "autograd/registry.h"
#include "autograd/tape.h"
#include "kernels/fast.h"
#include "kernels/reduce.h"

namespace fs {

namespace {

ReduceParams reduce_params(const std::any& a, const char* op) {
    if (!a.has_value()) return ReduceParams{};  // apply() without attributes: reduce everything
    return attrs_as<ReduceParams>(a, op);
}

}  // namespace

// --- sum / mean ------------------------------------------------------------------------------------------------

template <bool Mean>
static std::vector<Tensor> reduce_fwd(const std::vector<Tensor>& in, const std::any& attrs) {
    const char* op = Mean ? "mean" : "sum";
    const ReduceParams p = reduce_params(attrs, op);
    Tensor x = in[0].contiguous();
    FS_CHECK(x.device() == Device::cpu, op, ": only the CPU backend is available for ", x.str());
    const ReduceGeom g = make_reduce_geom(x.shape(), p, op);
    Tensor y = Tensor::empty(reduce_out_shape(x.shape(), p, op), x.dtype());
    const double scale = Mean ? 1.0 / double(g.red_numel) : 1.0;
    dispatch_float(x.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels() && reduce_is_trailing(g))
                return sum_rows_fast(x.data<T>(), g.out_numel, g.red_numel, scale, y.data<T>());
        }
        reduce_sum_forward_cpu<T>(g, scale, x.data<T>(), y.data<T>());
    });
    return {y};
}

template <bool Mean>
static std::vector<Tensor> reduce_bwd(const BackwardArgs& b) {
    const char* op = Mean ? "mean backward" : "sum backward";
    const ReduceParams p = reduce_params(b.attrs, op);
    const Tensor& x = b.in[0];
    if (!b.needs[0]) return {Tensor()};
    const ReduceGeom g = make_reduce_geom(x.shape(), p, op);
    const double scale = Mean ? 1.0 / double(g.red_numel) : 1.0;
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    dispatch_float(x.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels() && reduce_is_trailing(g))
                return fill_rows_fast(b.dout[0].data<T>(), g.out_numel, g.red_numel, scale, dx.data<T>());
        }
        reduce_sum_backward_cpu<T>(g, scale, b.dout[0].data<T>(), dx.data<T>());
    });
    return {dx};
}

static std::vector<TestCase> reduce_cases() {
    using P = ReduceParams;
    return {{"all_2x3x4_to_scalar", {input_spec({2, 3, 4})}, P{{}, false}},
            {"all_keepdim_2x3x4", {input_spec({2, 3, 4})}, P{{}, true}},
            {"hw_2x3x4x5", {input_spec({2, 3, 4, 5})}, P{{2, 3}, false}},
            {"hw_keepdim_2x3x4x5", {input_spec({2, 3, 4, 5})}, P{{2, 3}, true}},
            {"neg_axis_3x4x5", {input_spec({3, 4, 5})}, P{{-1}, false}},
            {"axes_0_2_3x4x5", {input_spec({3, 4, 5})}, P{{2, 0}, false}},
            {"batch_axis_keepdim_3x2x2", {input_spec({3, 2, 2})}, P{{0}, true}},
            {"size1_1x3x1x2_axes_0_2", {input_spec({1, 3, 1, 2})}, P{{0, 2}, false}},
            {"vec7_to_scalar", {input_spec({7})}, P{{}, false}},
            {"strided_3x5_axis1", {input_spec({3, 5}, true)}, P{{1}, false}}};
}

static std::vector<PerfCase> reduce_perf() {
    // A loss's full reduction over an 8x64x64x64 activation, and a per-(N, C) spatial reduction of it.
    return {{"all_8x64x64x64", {input_spec({8, 64, 64, 64})}, ReduceParams{{}, false}},
            {"hw_8x64x64x64", {input_spec({8, 64, 64, 64})}, ReduceParams{{2, 3}, false}}};
}

const OpSpec k_spec_sum = {"sum", 1, 1, reduce_fwd<false>, reduce_bwd<false>, reduce_cases, reduce_perf, nullptr,
                           k_op_none};
const OpSpec k_spec_mean = {"mean", 1, 1, reduce_fwd<true>, reduce_bwd<true>, reduce_cases, reduce_perf, nullptr,
                            k_op_none};

Tensor sum(const Tensor& x, const ReduceParams& p) { return apply1(k_spec_sum, {x}, p); }
Tensor mean(const Tensor& x, const ReduceParams& p) { return apply1(k_spec_mean, {x}, p); }

// --- softmax ---------------------------------------------------------------------------------------------------

static std::vector<Tensor> softmax_fwd(const std::vector<Tensor>& in, const std::any&) {
    FS_CHECK(in[0].dim() >= 1, "softmax: input must have at least one axis (softmax runs over the last), got ",
             in[0].str());
    Tensor x = in[0].contiguous();
    FS_CHECK(x.device() == Device::cpu, "softmax: only the CPU backend is available for ", x.str());
    const int64_t cols = x.size(-1), rows = cols > 0 ? x.numel() / cols : 0;
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    dispatch_float(x.dtype(), "softmax", [&](auto tag) {
        using T = decltype(tag);
        softmax_forward_cpu<T>(x.data<T>(), y.data<T>(), rows, cols);
    });
    return {y};
}

static std::vector<Tensor> softmax_bwd(const BackwardArgs& g) {
    // Only the saved output is needed: dx = y·(dy - Σ dy·y) per row.
    if (!g.needs[0]) return {Tensor()};
    Tensor y = g.out[0].contiguous();
    const int64_t cols = y.size(-1), rows = cols > 0 ? y.numel() / cols : 0;
    Tensor dx = Tensor::empty(y.shape(), y.dtype());
    dispatch_float(y.dtype(), "softmax backward", [&](auto tag) {
        using T = decltype(tag);
        softmax_backward_cpu<T>(y.data<T>(), g.dout[0].data<T>(), dx.data<T>(), rows, cols);
    });
    return {dx};
}

static std::vector<TestCase> softmax_cases() {
    InputSpec large = input_spec({2, 6});
    large.lo = 40, large.hi = 45;  // logits far from 0: exp(45) is fine in double, but the shift is exercised
    return {{"rows_3x5", {input_spec({3, 5})}, {}},
            {"nchw_last_axis_2x3x4x5", {input_spec({2, 3, 4, 5})}, {}},
            {"vec7", {input_spec({7})}, {}},
            {"one_column_4x1", {input_spec({4, 1})}, {}},  // y = 1 everywhere, gradient exactly 0
            {"large_logits_2x6", {large}, {}},
            {"strided_3x6", {input_spec({3, 6}, true)}, {}}};
}

const OpSpec k_spec_softmax = {
    "softmax", 1, 1, softmax_fwd, softmax_bwd, softmax_cases,
    [] {
        // The attention map of the decoder's self-attention at 32×32: N = 1024 tokens, batch 8.
        return std::vector<PerfCase>{{"attn32_8x1024x1024", {input_spec({8, 1024, 1024})}, {}}};
    },
    nullptr, k_op_none};

Tensor softmax(const Tensor& x) { return apply1(k_spec_softmax, {x}); }

}  // namespace fs

// --- sum_squares -----------------------------------------------------------------------------------------------

namespace fs {

static std::vector<Tensor> sum_squares_fwd(const std::vector<Tensor>& in, const std::any&) {
    Tensor x = in[0].contiguous();
    Tensor y = Tensor::empty({}, x.dtype());
    dispatch_float(x.dtype(), "sum_squares", [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels()) {
                y.data<T>()[0] = T(sum_squares_fast(x.data<T>(), x.numel()));
                return;
            }
        }
        y.data<T>()[0] = T(sum_squares_forward_cpu<T>(x.data<T>(), x.numel()));
    });
    return {y};
}

static std::vector<Tensor> sum_squares_bwd(const BackwardArgs& g) {
    Tensor x = g.in[0].contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    dispatch_float(x.dtype(), "sum_squares backward", [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels())
                return sum_squares_backward_fast(x.data<T>(), g.dout[0].data<T>()[0], dx.data<T>(), x.numel());
        }
        sum_squares_backward_cpu<T>(x.data<T>(), g.dout[0].data<T>()[0], dx.data<T>(), x.numel());
    });
    return {dx};
}

const OpSpec k_spec_sum_squares = {
    "sum_squares", 1, 1, sum_squares_fwd, sum_squares_bwd,
    [] {
        return std::vector<TestCase>{{"vec9", {InputSpec{{9}}}, {}},
                                     {"conv_kernel_4x3x3x3", {InputSpec{{4, 3, 3, 3}}}, {}},
                                     {"one", {InputSpec{{1}}}, {}},
                                     {"strided", {InputSpec{{5, 6}, -1, 1, true, true}}, {}}};
    },
    [] {
        // the standard 64 encoder's first Dense kernel, the largest L2 term
        return std::vector<PerfCase>{{"dense_1024x16384", {InputSpec{{1024, 16384}}}, {}}};
    },
    [](const std::vector<Tensor>& in, const std::any&) { return 2.0 * double(in[0].numel()); }, k_op_none};

Tensor sum_squares(const Tensor& x) { return apply1(k_spec_sum_squares, {x}); }

}  // namespace fs
