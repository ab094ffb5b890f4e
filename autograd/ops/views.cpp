// views.cpp: reshape, permute, slice and contiguous as differentiable ops. Forward returns a view of the input
// where the tensor layer can make one (no copy); backward routes the gradient back to the input's shape.
#include <numeric>

#include "autograd/functional.h"
#include "autograd/registry.h"
#include "autograd/tape.h"

namespace fs {

// --- reshape ---------------------------------------------------------------------------------------------------

static std::vector<Tensor> reshape_fwd(const std::vector<Tensor>& in, const std::any& a) {
    return {in[0].reshape(attrs_as<Shape>(a, "reshape"))};
}
static std::vector<Tensor> reshape_bwd(const BackwardArgs& g) {
    return {g.dout[0].reshape(g.in[0].shape()).contiguous()};
}
const OpSpec k_spec_reshape = {
    "reshape", 1, 1, reshape_fwd, reshape_bwd,
    [] {
        return std::vector<TestCase>{{"flatten", {InputSpec{{2, 3, 4}}}, Shape{2, 12}},
                                     {"infer_dim", {InputSpec{{2, 3, 4}}}, Shape{-1, 3, 2}},
                                     {"strided_copy", {InputSpec{{3, 4}, -1, 1, true, true}}, Shape{12}}};
    },
    [] { return std::vector<PerfCase>{}; }, nullptr, k_op_view};
Tensor reshape(const Tensor& x, const Shape& shape) { return apply1(k_spec_reshape, {x}, shape); }

// --- permute ---------------------------------------------------------------------------------------------------

using Axes = std::vector<int64_t>;
static std::vector<Tensor> permute_fwd(const std::vector<Tensor>& in, const std::any& a) {
    return {in[0].permute(attrs_as<Axes>(a, "permute"))};
}
static std::vector<Tensor> permute_bwd(const BackwardArgs& g) {
    const Axes& p = attrs_as<Axes>(g.attrs, "permute");
    Axes inv(p.size());
    for (size_t i = 0; i < p.size(); ++i) inv[size_t(normalize_axis(p[i], p.size(), "permute"))] = int64_t(i);
    return {g.dout[0].permute(inv).contiguous()};
}
const OpSpec k_spec_permute = {
    "permute", 1, 1, permute_fwd, permute_bwd,
    [] {
        return std::vector<TestCase>{{"nchw_to_nhwc", {InputSpec{{2, 3, 4, 5}}}, Axes{0, 2, 3, 1}},
                                     {"cycle3", {InputSpec{{3, 1, 4}}}, Axes{2, 0, 1}},
                                     {"strided", {InputSpec{{3, 4}, -1, 1, true, true}}, Axes{1, 0}}};
    },
    [] { return std::vector<PerfCase>{}; }, nullptr, k_op_view};
Tensor permute(const Tensor& x, const std::vector<int64_t>& axes) { return apply1(k_spec_permute, {x}, axes); }

// --- slice -----------------------------------------------------------------------------------------------------

static std::vector<Tensor> slice_fwd(const std::vector<Tensor>& in, const std::any& a) {
    const SliceParams& p = attrs_as<SliceParams>(a, "slice");
    return {in[0].slice(p.axis, p.start, p.end, p.step)};
}
static std::vector<Tensor> slice_bwd(const BackwardArgs& g) {
    const SliceParams& p = attrs_as<SliceParams>(g.attrs, "slice");
    Tensor dx = Tensor::zeros(g.in[0].shape(), g.in[0].dtype());
    dx.slice(p.axis, p.start, p.end, p.step).copy_from(g.dout[0]);  // elements not taken get 0
    return {dx};
}
const OpSpec k_spec_slice = {
    "slice", 1, 1, slice_fwd, slice_bwd,
    [] {
        return std::vector<TestCase>{
            {"channels_1_3", {InputSpec{{2, 5, 3, 3}}}, SliceParams{1, 1, 3, 1}},
            {"last_axis_step2", {InputSpec{{3, 7}}}, SliceParams{-1, 0, 7, 2}},
            {"negative_start", {InputSpec{{4, 3}}}, SliceParams{0, -2, 4, 1}},
            {"strided", {InputSpec{{3, 6}, -1, 1, true, true}}, SliceParams{1, 1, 5, 1}}};
    },
    [] { return std::vector<PerfCase>{}; }, nullptr, k_op_view};
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step) {
    return apply1(k_spec_slice, {x}, SliceParams{axis, start, end, step});
}

// --- contiguous ------------------------------------------------------------------------------------------------

static std::vector<Tensor> contiguous_fwd(const std::vector<Tensor>& in, const std::any&) {
    return {in[0].contiguous()};
}
static std::vector<Tensor> contiguous_bwd(const BackwardArgs& g) { return {g.dout[0]}; }
const OpSpec k_spec_contiguous = {
    "contiguous", 1, 1, contiguous_fwd, contiguous_bwd,
    [] {
        return std::vector<TestCase>{{"already", {InputSpec{{2, 3}}}, {}},
                                     {"strided", {InputSpec{{3, 5}, -1, 1, true, true}}, {}}};
    },
    [] {
        InputSpec x{{8, 64, 64, 64}, -1, 1, true, true};
        return std::vector<PerfCase>{{"strided_8x64x64x64", {x}, {}}};
    },
    nullptr, k_op_none};
Tensor contiguous(const Tensor& x) { return apply1(k_spec_contiguous, {x}); }

}  // namespace fs
