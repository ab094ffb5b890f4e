// shuffle.cpp: the specs of concat, pixel_shuffle and upsample_nearest: ops that move elements. Their backwards
// are the inverse moves (concat: slices; pixel_shuffle: the inverse permutation; upsample: block sums).
#include "autograd/functional.h"
#include "autograd/registry.h"
#include "autograd/tape.h"
#include "kernels/fast.h"
#include "kernels/shuffle.h"

namespace fs {


// --- concat ----------------------------------------------------------------------------------------------------

static ConcatParams concat_params(const std::any& a) {
    if (!a.has_value()) return ConcatParams{};
    return attrs_as<ConcatParams>(a, "concat");
}

// The (outer, inner) view concat works on, after checking every input against input 0. Returns the axis.
static int concat_geometry(const std::vector<Tensor>& in, const ConcatParams& p, int64_t* outer, int64_t* inner) {
    FS_CHECK(!in.empty(), "concat: no inputs");
    const Shape& s0 = in[0].shape();
    FS_CHECK(!s0.empty(), "concat: input 0 is rank 0 (", in[0].str(), "); there is no axis to join along");
    const int axis = normalize_axis(p.axis, s0.size(), "concat");
    for (size_t i = 1; i < in.size(); ++i) {
        const Shape& s = in[i].shape();
        FS_CHECK(s.size() == s0.size(), "concat: input ", i, " ", shape_str(s), " has rank ", s.size(),
                 " but input 0 ", shape_str(s0), " has rank ", s0.size());
        for (size_t d = 0; d < s.size(); ++d)
            FS_CHECK(int(d) == axis || s[d] == s0[d], "concat: input ", i, " ", shape_str(s), " differs from input 0 ",
                     shape_str(s0), " on axis ", d, " (only axis ", axis, " may differ)");
    }
    *outer = 1, *inner = 1;
    for (int d = 0; d < axis; ++d) *outer *= s0[size_t(d)];
    for (size_t d = size_t(axis) + 1; d < s0.size(); ++d) *inner *= s0[d];
    return axis;
}

static std::vector<Tensor> concat_fwd(const std::vector<Tensor>& in, const std::any& attrs) {
    check_same_dtype_device(in, "concat");
    int64_t outer = 0, inner = 0;
    const int axis = concat_geometry(in, concat_params(attrs), &outer, &inner);
    std::vector<Tensor> xs;
    std::vector<int64_t> sizes;
    Shape os = in[0].shape();
    os[size_t(axis)] = 0;
    for (const Tensor& t : in) {
        xs.push_back(t.contiguous());
        sizes.push_back(t.size(axis));
        os[size_t(axis)] += t.size(axis);
    }
    FS_CHECK(xs[0].device() == Device::cpu, "concat: only the CPU backend is available for ", xs[0].str());
    Tensor y = Tensor::empty(os, xs[0].dtype());
    dispatch_float(y.dtype(), "concat", [&](auto tag) {
        using T = decltype(tag);
        std::vector<const T*> ptrs;
        for (const Tensor& t : xs) ptrs.push_back(t.data<T>());
        concat_forward_cpu<T>(ptrs.data(), sizes.data(), int64_t(xs.size()), y.data<T>(), outer, inner);
    });
    return {y};
}

static std::vector<Tensor> concat_bwd(const BackwardArgs& g) {
    int64_t outer = 0, inner = 0;
    const int axis = concat_geometry(g.in, concat_params(g.attrs), &outer, &inner);
    std::vector<Tensor> dxs;
    std::vector<int64_t> sizes;
    for (size_t i = 0; i < g.in.size(); ++i) {
        dxs.push_back(g.needs[i] ? Tensor::empty(g.in[i].shape(), g.in[i].dtype()) : Tensor());
        sizes.push_back(g.in[i].size(axis));
    }
    dispatch_float(g.dout[0].dtype(), "concat backward", [&](auto tag) {
        using T = decltype(tag);
        std::vector<T*> ptrs;
        for (Tensor& t : dxs) ptrs.push_back(t.defined() ? t.data<T>() : nullptr);
        concat_backward_cpu<T>(g.dout[0].data<T>(), ptrs.data(), sizes.data(), int64_t(dxs.size()), outer, inner);
    });
    return dxs;
}

static std::vector<TestCase> concat_cases() {
    using P = ConcatParams;
    return {{"channels_2x3x4x5_2x2x4x5", {input_spec({2, 3, 4, 5}), input_spec({2, 2, 4, 5})}, P{1}},
            {"three_axis0_1x3_2x3_4x3", {input_spec({1, 3}), input_spec({2, 3}), input_spec({4, 3})}, P{0}},
            {"neg_axis_last_2x3x2_2x3x5", {input_spec({2, 3, 2}), input_spec({2, 3, 5})}, P{-1}},
            {"single_input_2x3", {input_spec({2, 3})}, P{1}},
            {"size1_slabs_2x1x3_2x1x3_2x2x3", {input_spec({2, 1, 3}), input_spec({2, 1, 3}), input_spec({2, 2, 3})}, P{1}},
            {"rank1_3_4", {input_spec({3}), input_spec({4})}, P{0}},
            {"strided_3x4_2x4_axis0", {input_spec({3, 4}, true), input_spec({2, 4})}, P{0}}};
}

const OpSpec k_spec_concat = {
    "concat", 1, -1, concat_fwd, concat_bwd, concat_cases,
    [] {
        // Channel concatenation of two decoder-sized maps (e.g. the hybrid norm's halves at 32×32).
        return std::vector<PerfCase>{
            {"channels_2x_8x128x32x32", {input_spec({8, 128, 32, 32}), input_spec({8, 128, 32, 32})}, ConcatParams{1}}};
    },
    nullptr, k_op_none};

Tensor concat(const std::vector<Tensor>& xs, const ConcatParams& p) { return apply1(k_spec_concat, xs, p); }

// --- pixel shuffle ---------------------------------------------------------------------------------------------

static PixelShuffleParams pixel_shuffle_params(const std::any& a) {
    if (!a.has_value()) return PixelShuffleParams{};
    return attrs_as<PixelShuffleParams>(a, "pixel_shuffle");
}

// Output channels C of input x (N, C·r², H, W), after checking r and the channel count.
static int64_t pixel_shuffle_out_channels(const Tensor& x, const PixelShuffleParams& p) {
    check_rank(x, 4, "pixel_shuffle", "input (N, C·r², H, W)");
    FS_CHECK(p.r >= 1, "pixel_shuffle: factor r must be >= 1, got ", p.r);
    const int64_t r2 = int64_t(p.r) * p.r;
    FS_CHECK(x.size(1) % r2 == 0, "pixel_shuffle: input ", shape_str(x.shape()), " has C=", x.size(1),
             " channels, not a multiple of r²=", r2);
    return x.size(1) / r2;
}

static std::vector<Tensor> pixel_shuffle_fwd(const std::vector<Tensor>& in, const std::any& attrs) {
    const PixelShuffleParams p = pixel_shuffle_params(attrs);
    const int64_t C = pixel_shuffle_out_channels(in[0], p);
    Tensor x = in[0].contiguous();
    FS_CHECK(x.device() == Device::cpu, "pixel_shuffle: only the CPU backend is available for ", x.str());
    const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
    Tensor y = Tensor::empty({N, C, H * p.r, W * p.r}, x.dtype());
    dispatch_float(x.dtype(), "pixel_shuffle", [&](auto tag) {
        using T = decltype(tag);
        if (fast_kernels()) return pixel_shuffle_forward_fast<T>(p, x.data<T>(), y.data<T>(), N, C, H, W);
        pixel_shuffle_forward_cpu<T>(p, x.data<T>(), y.data<T>(), N, C, H, W);
    });
    return {y};
}

static std::vector<Tensor> pixel_shuffle_bwd(const BackwardArgs& g) {
    if (!g.needs[0]) return {Tensor()};
    const PixelShuffleParams p = pixel_shuffle_params(g.attrs);
    const Tensor& x = g.in[0];
    const int64_t C = pixel_shuffle_out_channels(x, p);
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    dispatch_float(x.dtype(), "pixel_shuffle backward", [&](auto tag) {
        using T = decltype(tag);
        if (fast_kernels())
            return pixel_shuffle_backward_fast<T>(p, g.dout[0].data<T>(), dx.data<T>(), x.size(0), C, x.size(2),
                                                  x.size(3));
        pixel_shuffle_backward_cpu<T>(p, g.dout[0].data<T>(), dx.data<T>(), x.size(0), C, x.size(2), x.size(3));
    });
    return {dx};
}

static std::vector<TestCase> pixel_shuffle_cases() {
    using P = PixelShuffleParams;
    const auto dcr = PixelShuffleOrder::dcr, crd = PixelShuffleOrder::crd;
    // Odd H and W and C = 2 or 3 output channels, so the channel and sub-pixel indices can't be confused.
    return {{"dcr_r2_2x8x3x5", {input_spec({2, 8, 3, 5})}, P{2, dcr}},
            {"crd_r2_2x8x3x5", {input_spec({2, 8, 3, 5})}, P{2, crd}},
            {"dcr_r3_1x18x3x1", {input_spec({1, 18, 3, 1})}, P{3, dcr}},
            {"crd_r3_1x27x1x3", {input_spec({1, 27, 1, 3})}, P{3, crd}},
            {"dcr_r2_c1_1x4x1x1", {input_spec({1, 4, 1, 1})}, P{2, dcr}},
            {"r1_identity_2x3x2x3", {input_spec({2, 3, 2, 3})}, P{1, dcr}},
            {"strided_dcr_r2_2x12x3x3", {input_spec({2, 12, 3, 3}, true)}, P{2, dcr}},
            {"strided_crd_r2_1x12x3x3", {input_spec({1, 12, 3, 3}, true)}, P{2, crd}}};
}

const OpSpec k_spec_pixel_shuffle = {
    "pixel_shuffle", 1, 1, pixel_shuffle_fwd, pixel_shuffle_bwd, pixel_shuffle_cases,
    [] {
        // The decoder's upscale_ps blocks at RES 64: the first (conv to 4·256 = 1024 channels at 8×8 -> 256
        // channels at 16×16) and the last (4·64 = 256 channels at 32×32 -> 64 channels at 64×64).
        return std::vector<PerfCase>{
            {"dcr_r2_8x1024x8x8", {input_spec({8, 1024, 8, 8})}, PixelShuffleParams{2, PixelShuffleOrder::dcr}},
            {"dcr_r2_8x256x32x32", {input_spec({8, 256, 32, 32})}, PixelShuffleParams{2, PixelShuffleOrder::dcr}}};
    },
    nullptr, k_op_none};

Tensor pixel_shuffle(const Tensor& x, const PixelShuffleParams& p) { return apply1(k_spec_pixel_shuffle, {x}, p); }

// --- nearest upsampling ----------------------------------------------------------------------------------------

static UpsampleParams upsample_params(const std::any& a) {
    if (!a.has_value()) return UpsampleParams{};
    return attrs_as<UpsampleParams>(a, "upsample_nearest");
}

static std::vector<Tensor> upsample_nearest_fwd(const std::vector<Tensor>& in, const std::any& attrs) {
    const UpsampleParams p = upsample_params(attrs);
    check_rank(in[0], 4, "upsample_nearest", "input (N, C, H, W)");
    FS_CHECK(p.scale >= 1, "upsample_nearest: scale must be >= 1, got ", p.scale);
    Tensor x = in[0].contiguous();
    FS_CHECK(x.device() == Device::cpu, "upsample_nearest: only the CPU backend is available for ", x.str());
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    Tensor y = Tensor::empty({N, C, H * p.scale, W * p.scale}, x.dtype());
    dispatch_float(x.dtype(), "upsample_nearest", [&](auto tag) {
        using T = decltype(tag);
        upsample_nearest_forward_cpu<T>(p.scale, x.data<T>(), y.data<T>(), N * C, H, W);
    });
    return {y};
}

static std::vector<Tensor> upsample_nearest_bwd(const BackwardArgs& g) {
    if (!g.needs[0]) return {Tensor()};
    const UpsampleParams p = upsample_params(g.attrs);
    const Tensor& x = g.in[0];
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    dispatch_float(x.dtype(), "upsample_nearest backward", [&](auto tag) {
        using T = decltype(tag);
        upsample_nearest_backward_cpu<T>(p.scale, g.dout[0].data<T>(), dx.data<T>(), x.size(0) * x.size(1),
                                         x.size(2), x.size(3));
    });
    return {dx};
}

static std::vector<TestCase> upsample_nearest_cases() {
    using P = UpsampleParams;
    return {{"s2_2x3x3x5", {input_spec({2, 3, 3, 5})}, P{2}},
            {"s3_1x2x2x3", {input_spec({1, 2, 2, 3})}, P{3}},
            {"s1_identity_1x1x2x2", {input_spec({1, 1, 2, 2})}, P{1}},
            {"n1c1_1x1x1x1_s2", {input_spec({1, 1, 1, 1})}, P{2}},
            {"strided_s2_2x2x3x2", {input_spec({2, 2, 3, 2}, true)}, P{2}}};
}

const OpSpec k_spec_upsample_nearest = {
    "upsample_nearest", 1, 1, upsample_nearest_fwd, upsample_nearest_bwd, upsample_nearest_cases,
    [] {
        // upscale_nn (lite capacity) on a 32×32 map of 256 channels.
        return std::vector<PerfCase>{{"s2_8x256x32x32", {input_spec({8, 256, 32, 32})}, UpsampleParams{2}}};
    },
    nullptr, k_op_none};

Tensor upsample_nearest(const Tensor& x, const UpsampleParams& p) {
    return apply1(k_spec_upsample_nearest, {x}, p);
}

}  // namespace fs
