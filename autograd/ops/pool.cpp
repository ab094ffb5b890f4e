// pool.cpp: the max_pool2d and avg_pool2d specs: x (N,C,H,W) -> y (N,C,Ho,Wo) with a kh×kw window, per-axis
// stride and per-side padding from Pool2dParams; padded cells never win a max and are not counted by a mean.
// Kernels in kernels/cpu/pool.cpp.
#include "autograd/functional.h"
#include "autograd/registry.h"
#include "autograd/tape.h"
#include "kernels/pool.h"

namespace fs {

static const char* pool_name(PoolKind k) { return k == PoolKind::max ? "max_pool2d" : "avg_pool2d"; }

// Checks the input and params and derives the sizes, including the rule that every window holds at least one
// real cell (an all-padding window has no max and no mean; Caffe would emit -FLT_MAX or 0 there).
static Pool2dGeom pool2d_geom(const std::vector<Tensor>& in, const Pool2dParams& p, PoolKind kind) {
    const char* op = pool_name(kind);
    FS_CHECK(in.size() == 1, op, ": expects one input, got ", in.size());
    const Tensor& x = in[0];
    check_rank(x, 4, op, "input x (N, C, H, W)");
    FS_CHECK(x.device() == Device::cpu, op, ": only the CPU backend is available for ", x.str());
    FS_CHECK(x.numel() > 0, op, ": empty input ", x.str());
    FS_CHECK(p.kh >= 1 && p.kw >= 1 && p.stride_h >= 1 && p.stride_w >= 1, op, ": kernel ", p.kh, "x", p.kw,
             " and stride (", p.stride_h, ", ", p.stride_w, ") must be >= 1");
    FS_CHECK(p.pad_top >= 0 && p.pad_bottom >= 0 && p.pad_left >= 0 && p.pad_right >= 0, op,
             ": negative padding (top ", p.pad_top, ", bottom ", p.pad_bottom, ", left ", p.pad_left, ", right ",
             p.pad_right, ")");
    Pool2dGeom g;
    g.N = x.size(0), g.C = x.size(1), g.H = x.size(2), g.W = x.size(3);
    g.Ho = window_out_size(g.H, p.kh, p.pad_top, p.pad_bottom, p.stride_h);
    g.Wo = window_out_size(g.W, p.kw, p.pad_left, p.pad_right, p.stride_w);
    FS_CHECK(g.Ho >= 1 && g.Wo >= 1, op, ": window ", p.kh, "x", p.kw, " does not fit input ", x.str(),
             " padded by (top ", p.pad_top, ", bottom ", p.pad_bottom, ", left ", p.pad_left, ", right ",
             p.pad_right, ")");
    // A 2-D window is the product of a row range and a column range, so it holds a real cell exactly when
    // both ranges do: checking every output row and every output column covers every window.
    for (int64_t oh = 0; oh < g.Ho; ++oh) {
        int64_t lo, hi;
        pool_window(oh, p.stride_h, p.pad_top, p.kh, g.H, &lo, &hi);
        FS_CHECK(lo < hi, op, ": output row ", oh, " of ", g.Ho, " pools only padding (input ", x.str(),
                 ", kernel ", p.kh, ", stride ", p.stride_h, ", pad top ", p.pad_top, " bottom ", p.pad_bottom, ")");
    }
    for (int64_t ow = 0; ow < g.Wo; ++ow) {
        int64_t lo, hi;
        pool_window(ow, p.stride_w, p.pad_left, p.kw, g.W, &lo, &hi);
        FS_CHECK(lo < hi, op, ": output column ", ow, " of ", g.Wo, " pools only padding (input ", x.str(),
                 ", kernel ", p.kw, ", stride ", p.stride_w, ", pad left ", p.pad_left, " right ", p.pad_right,
                 ")");
    }
    return g;
}

template <PoolKind K>
static std::vector<Tensor> pool2d_fwd(const std::vector<Tensor>& in, const std::any& a) {
    const Pool2dParams& p = attrs_as<Pool2dParams>(a, pool_name(K));
    Pool2dGeom g = pool2d_geom(in, p, K);
    Tensor x = in[0].contiguous();
    Tensor y = Tensor::empty({g.N, g.C, g.Ho, g.Wo}, x.dtype());
    dispatch_float(x.dtype(), pool_name(K), [&](auto tag) {
        using T = decltype(tag);
        pool2d_forward_cpu<T>(K, p, g, x.data<T>(), y.data<T>());
    });
    return {y};
}

template <PoolKind K>
static std::vector<Tensor> pool2d_bwd(const BackwardArgs& args) {
    if (!args.needs[0]) return {Tensor()};
    const Pool2dParams& p = attrs_as<Pool2dParams>(args.attrs, pool_name(K));
    Pool2dGeom g = pool2d_geom(args.in, p, K);
    Tensor x = args.in[0].contiguous(), dy = args.dout[0].contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    dispatch_float(x.dtype(), pool_name(K), [&](auto tag) {
        using T = decltype(tag);
        pool2d_backward_cpu<T>(K, p, g, x.data<T>(), dy.data<T>(), dx.data<T>());
    });
    return {dx};
}

// --- test and perf cases -------------------------------------------------------------------------------------

static Pool2dParams pool_params(int kh, int kw, int sh, int sw, int pt, int pb, int pl, int pr) {
    Pool2dParams p;
    p.kh = kh, p.kw = kw, p.stride_h = sh, p.stride_w = sw;
    p.pad_top = pt, p.pad_bottom = pb, p.pad_left = pl, p.pad_right = pr;
    return p;
}

// Shared by max and avg. Inputs are uniform doubles in [-1, 1): ties inside a window (max's kinks) have
// probability ~0, and the gradient check counts any it meets.
static std::vector<TestCase> pool2d_cases() {
    auto x = [](Shape s, bool strided = false) {
        InputSpec i;
        i.shape = std::move(s);
        i.strided = strided;
        return std::vector<InputSpec>{i};
    };
    using P = Pool2dParams;
    return {
        {"k2_s2_valid", x({2, 3, 6, 4}), P::valid(2, 2)},
        // TF 'SAME' 3×3/s2: even sides pad (0, 1), odd sides (1, 1).
        {"k3_s2_tf_same", x({2, 3, 8, 7}), P::tf_same(3, 2, 8, 7)},
        // MTCNN (Caffe ceil mode): RNet/ONet's 3×3/s2 and PNet/ONet's 2×2/s2 keep the last partial window,
        // expressed as extra bottom/right padding (10 -> 5 rows with 1 padded; 9 -> 4 columns, none padded).
        {"k3_s2_caffe_ceil", x({1, 2, 10, 9}), P::ceil_mode(3, 2, 10, 9)},
        {"k2_s2_caffe_ceil_odd", x({2, 3, 5, 7}), P::ceil_mode(2, 2, 5, 7)},
        {"k3_s2_valid", x({2, 2, 9, 9}), P::valid(3, 2)},
        // Symmetric padding 1 with stride 1: corner windows hold 4 real cells, edges 6, the middle 9.
        {"k3_s1_pad1", x({1, 1, 4, 5}), pool_params(3, 3, 1, 1, 1, 1, 1, 1)},
        // Non-square window and stride, uneven padding (2 on top with k=3 still leaves one real row).
        {"k2x3_s1x2_uneven_pad", x({2, 2, 5, 7}), pool_params(2, 3, 1, 2, 0, 1, 2, 1)},
        {"k3_pad_top2", x({1, 2, 4, 4}), pool_params(3, 3, 2, 1, 2, 0, 0, 0)},
        // Size-1 dims: N=1, C=1, H=1 (a 1×2 window along a single row).
        {"n1_c1_h1", x({1, 1, 1, 5}), pool_params(1, 2, 1, 1, 0, 0, 0, 0)},
        {"strided_k2_s2", x({2, 3, 6, 6}, true), P::valid(2, 2)},
    };
}

static std::vector<PerfCase> pool2d_perf() {
    InputSpec x{{8, 64, 64, 64}};
    return {{"8x64x64x64_3x3s2_same", {x}, Pool2dParams::tf_same(3, 2, 64, 64)},
            {"8x64x64x64_2x2s2", {x}, Pool2dParams::valid(2, 2)}};
}

const OpSpec k_spec_max_pool2d = {"max_pool2d",
                                  1,
                                  1,
                                  pool2d_fwd<PoolKind::max>,
                                  pool2d_bwd<PoolKind::max>,
                                  pool2d_cases,
                                  pool2d_perf,
                                  nullptr,
                                  k_op_kinked};
const OpSpec k_spec_avg_pool2d = {"avg_pool2d",
                                  1,
                                  1,
                                  pool2d_fwd<PoolKind::avg>,
                                  pool2d_bwd<PoolKind::avg>,
                                  pool2d_cases,
                                  pool2d_perf,
                                  nullptr,
                                  k_op_none};

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) { return apply1(k_spec_max_pool2d, {x}, p); }
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) { return apply1(k_spec_avg_pool2d, {x}, p); }

}  // namespace fs
