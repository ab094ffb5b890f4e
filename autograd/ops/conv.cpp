// conv.cpp: the conv2d spec: x (N,C,H,W), w (OC,C,KH,KW), optional bias b (OC) -> y (N,OC,Ho,Wo), with
// per-side padding (zeros or reflect) and per-axis stride from Conv2dParams; and the depthwise_conv2d spec: x
// (N,C,H,W), w (C,1,KH,KW), optional b (C) -> y (N,C,Ho,Wo), same params. Kernels in kernels/cpu/conv.cpp.
#include "autograd/functional.h"
#include "autograd/registry.h"
#include "autograd/tape.h"
#include "kernels/conv.h"
#include "kernels/fast.h"

namespace fs {

// Checks the strides and padding against the input size and derives g.Ho, g.Wo (shared by conv2d and
// depthwise_conv2d; messages start with `op`).
static void conv_output_size(const Tensor& x, const Conv2dParams& p, Conv2dGeom& g, const char* op) {
    FS_CHECK(p.stride_h >= 1 && p.stride_w >= 1, op, ": strides (", p.stride_h, ", ", p.stride_w, ") must be >= 1");
    FS_CHECK(p.pad_top >= 0 && p.pad_bottom >= 0 && p.pad_left >= 0 && p.pad_right >= 0, op, ": negative padding (top ",
             p.pad_top, ", bottom ", p.pad_bottom, ", left ", p.pad_left, ", right ", p.pad_right, ")");
    if (p.pad_mode == PadMode::reflect) {
        // A single mirror must land inside the input: padding of n or more would need to reflect twice.
        FS_CHECK(p.pad_top < g.H && p.pad_bottom < g.H && p.pad_left < g.W && p.pad_right < g.W, op,
                 ": reflect padding (top ", p.pad_top, ", bottom ", p.pad_bottom, ", left ", p.pad_left, ", right ",
                 p.pad_right, ") must be smaller than the input's H=", g.H, " and W=", g.W);
    }
    g.Ho = window_out_size(g.H, g.KH, p.pad_top, p.pad_bottom, p.stride_h);
    g.Wo = window_out_size(g.W, g.KW, p.pad_left, p.pad_right, p.stride_w);
    FS_CHECK(g.Ho >= 1 && g.Wo >= 1, op, ": kernel ", g.KH, "x", g.KW, " does not fit input ", x.str(),
             " padded by (top ", p.pad_top, ", bottom ", p.pad_bottom, ", left ", p.pad_left, ", right ", p.pad_right,
             ")");
}

// Checks the inputs and params and derives the sizes; every message names conv2d and the shapes involved.
static Conv2dGeom conv2d_geom(const std::vector<Tensor>& in, const Conv2dParams& p) {
    FS_CHECK(in.size() == 2 || in.size() == 3, "conv2d: expects (x, w) or (x, w, b), got ", in.size(), " inputs");
    const Tensor& x = in[0];
    const Tensor& w = in[1];
    check_rank(x, 4, "conv2d", "input x (N, C, H, W)");
    check_rank(w, 4, "conv2d", "weight w (OC, C, KH, KW)");
    check_same_dtype_device(in, "conv2d");
    FS_CHECK(x.device() == Device::cpu, "conv2d: only the CPU backend is available for ", x.str());
    Conv2dGeom g;
    g.N = x.size(0), g.C = x.size(1), g.H = x.size(2), g.W = x.size(3);
    g.OC = w.size(0), g.KH = w.size(2), g.KW = w.size(3);
    FS_CHECK(w.size(1) == g.C, "conv2d: input ", x.str(), " has C=", g.C, " but weight ", w.str(), " expects ",
             w.size(1));
    FS_CHECK(g.N >= 1 && g.C >= 1 && g.H >= 1 && g.W >= 1 && g.OC >= 1 && g.KH >= 1 && g.KW >= 1,
             "conv2d: empty input ", x.str(), " or weight ", w.str());
    if (in.size() == 3) {
        check_rank(in[2], 1, "conv2d", "bias b (OC)");
        FS_CHECK(in[2].size(0) == g.OC, "conv2d: weight ", w.str(), " has OC=", g.OC, " but bias is ", in[2].str());
    }
    conv_output_size(x, p, g, "conv2d");
    return g;
}

static std::vector<Tensor> conv2d_fwd(const std::vector<Tensor>& in, const std::any& a) {
    const Conv2dParams& p = attrs_as<Conv2dParams>(a, "conv2d");
    Conv2dGeom g = conv2d_geom(in, p);
    Tensor x = in[0].contiguous(), w = in[1].contiguous();
    Tensor b = in.size() == 3 ? in[2].contiguous() : Tensor();
    Tensor y = Tensor::empty({g.N, g.OC, g.Ho, g.Wo}, x.dtype());
    dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
        using T = decltype(tag);
        const T* bp = b.defined() ? b.data<T>() : nullptr;
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels()) return conv2d_forward_fast(p, g, x.data<T>(), w.data<T>(), bp, y.data<T>());
        }
        conv2d_forward_cpu<T>(p, g, x.data<T>(), w.data<T>(), bp, y.data<T>());
    });
    return {y};
}

static std::vector<Tensor> conv2d_bwd(const BackwardArgs& args) {
    const Conv2dParams& p = attrs_as<Conv2dParams>(args.attrs, "conv2d");
    Conv2dGeom g = conv2d_geom(args.in, p);
    Tensor x = args.in[0].contiguous(), w = args.in[1].contiguous(), dy = args.dout[0].contiguous();
    const bool has_b = args.in.size() == 3;
    Tensor dx = args.needs[0] ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
    Tensor dw = args.needs[1] ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
    Tensor db = has_b && args.needs[2] ? Tensor::empty({g.OC}, x.dtype()) : Tensor();
    dispatch_float(x.dtype(), "conv2d backward", [&](auto tag) {
        using T = decltype(tag);
        T* dxp = dx.defined() ? dx.data<T>() : nullptr;
        T* dwp = dw.defined() ? dw.data<T>() : nullptr;
        T* dbp = db.defined() ? db.data<T>() : nullptr;
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels()) return conv2d_backward_fast(p, g, x.data<T>(), w.data<T>(), dy.data<T>(), dxp, dwp, dbp);
        }
        conv2d_backward_cpu<T>(p, g, x.data<T>(), w.data<T>(), dy.data<T>(), dxp, dwp, dbp);
    });
    std::vector<Tensor> grads = {dx, dw};
    if (has_b) grads.push_back(db);
    return grads;
}

static double conv2d_flops(const std::vector<Tensor>& in, const std::any& a) {
    Conv2dGeom g = conv2d_geom(in, attrs_as<Conv2dParams>(a, "conv2d"));
    // One multiply and one add per (output element, input channel, tap); the bias add is negligible.
    return 2.0 * double(g.N * g.OC * g.Ho * g.Wo) * double(g.C * g.KH * g.KW);
}

// --- test and perf cases -------------------------------------------------------------------------------------

// A case: x (N,C,H,W), w (OC,C,KH,KW), bias or not, params; `strided` hands x and w in as non-contiguous views.
static TestCase conv_case(const std::string& name, Shape x, Shape w, bool bias, Conv2dParams p,
                          bool strided = false) {
    InputSpec xs, ws;
    xs.shape = std::move(x);
    ws.shape = std::move(w);
    xs.strided = ws.strided = strided;
    std::vector<InputSpec> in = {xs, ws};
    if (bias) {
        InputSpec bs;
        bs.shape = {ws.shape[0]};
        in.push_back(bs);
    }
    return {name, in, p};
}

static std::vector<TestCase> conv2d_cases() {
    using P = Conv2dParams;
    Conv2dParams reflect1;  // upscale_nn: reflect-pad 1 then a 3×3 "valid" conv
    reflect1.pad_top = reflect1.pad_bottom = reflect1.pad_left = reflect1.pad_right = 1;
    reflect1.pad_mode = PadMode::reflect;
    Conv2dParams reflect_asym;  // every side different, one side 0, one side reaching the edge-1 limit
    reflect_asym.pad_top = 2, reflect_asym.pad_bottom = 1, reflect_asym.pad_left = 0, reflect_asym.pad_right = 3;
    reflect_asym.pad_mode = PadMode::reflect;
    Conv2dParams reflect1_s2 = reflect1;
    reflect1_s2.stride_h = reflect1_s2.stride_w = 2;
    Conv2dParams mixed_stride = P::valid();  // stride 2 down, 1 across, zero padding on some sides only
    mixed_stride.stride_h = 2;
    mixed_stride.pad_top = 1, mixed_stride.pad_right = 2;
    return {
        // Kernel sizes 1, 3, 4, 5, 7 under TF 'same' and 'valid', stride 1 and 2, odd sizes.
        conv_case("k1_s1_bias", {2, 3, 4, 5}, {5, 3, 1, 1}, true, P::valid()),
        conv_case("k3_s1_same_bias", {2, 3, 5, 6}, {4, 3, 3, 3}, true, P::tf_same(3, 3, 1, 5, 6)),
        // 3×3/s2 'same' on an even input: pads top/left 0, bottom/right 1 (the encoder's conv_block).
        conv_case("k3_s2_same_even_asym", {2, 2, 6, 8}, {3, 2, 3, 3}, false, P::tf_same(3, 3, 2, 6, 8)),
        // ... and on odd sizes: 1/1 both ways.
        conv_case("k3_s2_same_odd", {2, 2, 7, 5}, {3, 2, 3, 3}, false, P::tf_same(3, 3, 2, 7, 5)),
        // 4×4/s2 'same' (conv_block_d): 1/1.
        conv_case("k4_s2_same", {2, 3, 8, 6}, {4, 3, 4, 4}, false, P::tf_same(4, 4, 2, 8, 6)),
        // 4×4/s1 'same' (the discriminator head, OC=1): top/left 1, bottom/right 2.
        conv_case("k4_s1_same_asym_oc1", {2, 3, 5, 6}, {1, 3, 4, 4}, false, P::tf_same(4, 4, 1, 5, 6)),
        // 5×5/s1 'same' (first encoder conv, output heads): 2/2.
        conv_case("k5_s1_same_bias", {2, 3, 7, 6}, {3, 3, 5, 5}, true, P::tf_same(5, 5, 1, 7, 6)),
        conv_case("k5_s2_valid_c1", {2, 1, 9, 10}, {3, 1, 5, 5}, true, P::valid(2)),
        conv_case("k7_s1_valid", {1, 2, 9, 8}, {2, 2, 7, 7}, false, P::valid()),
        conv_case("k7_s2_same", {1, 2, 9, 8}, {2, 2, 7, 7}, true, P::tf_same(7, 7, 2, 9, 8)),
        // Non-square kernel, different stride per axis, padding on two sides only.
        conv_case("k3x2_mixed_stride", {2, 2, 7, 6}, {3, 2, 3, 2}, true, mixed_stride),
        conv_case("reflect1_k3_bias", {2, 3, 6, 5}, {4, 3, 3, 3}, true, reflect1),
        conv_case("reflect_asym_k3", {1, 2, 4, 5}, {2, 2, 3, 3}, false, reflect_asym),
        // Size-1 everything that can be: N=1, C=1, OC=1 on a 1-row input.
        conv_case("n1_c1_oc1_row", {1, 1, 1, 6}, {1, 1, 1, 3}, true, P::valid()),
        conv_case("strided_x_w_k3_same", {2, 3, 5, 4}, {2, 3, 3, 3}, true, P::tf_same(3, 3, 1, 5, 4), true),
        // The optimised path's strategies (kernels/cpu/conv_fast.cpp), each reached by at least one case.
        // Direct (stride 1, OC <= 4 or rows of >= 16 outputs): a row wider than one 64-float tile with a ragged
        // tail; reflect padding with a partial group of input channels; several output-channel blocks with a
        // remainder, tiles that span rows, 4×4 and 3×3 kernels (different weight-gradient register blocks).
        conv_case("direct_oc3_k5_wide_row", {2, 3, 6, 70}, {3, 3, 5, 5}, true, P::tf_same(5, 5, 1, 6, 70)),
        conv_case("direct_oc4_reflect_c5", {1, 5, 6, 20}, {4, 5, 3, 3}, true, reflect1),
        conv_case("direct_oc13_c7_k3", {2, 7, 5, 17}, {13, 7, 3, 3}, true, P::tf_same(3, 3, 1, 5, 17)),
        conv_case("direct_oc9_reflect", {1, 3, 6, 18}, {9, 3, 3, 3}, false, reflect1),
        conv_case("direct_oc7_k4", {1, 2, 5, 16}, {7, 2, 4, 4}, true, P::tf_same(4, 4, 1, 5, 16)),
        // Stride 2, rows of >= 16 outputs, K = C·KH·KW <= 256: forward and weight gradient direct on the input split
        // into its four phases (odd padded sizes: 'same' pads 0 / 1 here), data gradient by GEMM; 4×4 below too.
        conv_case("direct_s2_k3_odd_padded", {1, 3, 32, 34}, {7, 3, 3, 3}, true, P::tf_same(3, 3, 2, 32, 34)),
        conv_case("direct_s2_reflect", {1, 2, 34, 34}, {5, 2, 3, 3}, false, reflect1_s2),
        // GEMM, small maps with an odd batch: blocks of images share one im2col matrix and one GEMM (stride 1
        // and 2, zero and reflect padding, 1×1).
        conv_case("batched_k3_s1_oc8", {3, 4, 4, 4}, {8, 4, 3, 3}, true, P::tf_same(3, 3, 1, 4, 4)),
        conv_case("batched_k3_s2_oc6", {3, 4, 6, 6}, {6, 4, 3, 3}, false, P::tf_same(3, 3, 2, 6, 6)),
        conv_case("batched_reflect_oc6", {3, 3, 5, 4}, {6, 3, 3, 3}, true, reflect1),
        conv_case("batched_k1_oc7", {3, 5, 3, 3}, {7, 5, 1, 1}, true, P::valid()),
        // Stride 1 with zero padding on small maps (under 90 % of the taps' reads inside the input): the
        // tap-decomposed GEMM. 40 output channels are one and a bit 32-column panels, C·KH·KW = 45 leaves a
        // transpose tail, a corner tap's 18 rows a part-empty 12-row panel; a 5×5 kernel on a 3×2 map has taps
        // that read nothing (and more than 16 taps: the scalar de-interleave); 4×4 'same' pads 1 / 2.
        conv_case("taps_k3_oc40_c5", {2, 5, 4, 4}, {40, 5, 3, 3}, true, P::tf_same(3, 3, 1, 4, 4)),
        conv_case("taps_k5_empty_taps", {2, 3, 3, 2}, {6, 3, 5, 5}, false, P::tf_same(5, 5, 1, 3, 2)),
        conv_case("taps_k4_asym", {3, 4, 5, 4}, {7, 4, 4, 4}, true, P::tf_same(4, 4, 1, 5, 4)),
        // 300 positions, 3 images: blocks of 2 + 1 (dW accumulated across blocks; a one-image block writes y
        // directly); and single images, with and without im2col.
        conv_case("blocked_two_blocks_oc5", {3, 2, 30, 10}, {5, 2, 3, 3}, true, P::tf_same(3, 3, 1, 30, 10)),
        conv_case("single_image_k3_oc6", {1, 3, 5, 5}, {6, 3, 3, 3}, true, P::tf_same(3, 3, 1, 5, 5)),
        conv_case("single_image_k1_oc5", {1, 4, 3, 3}, {5, 4, 1, 1}, true, P::valid()),
        // GEMM, maps of >= 256 positions with an even batch: whole images per thread (with more than one thread);
        // per_image_k4_s2_oc6 runs direct except for the data gradient.
        conv_case("per_image_reflect_s2_oc5", {2, 2, 64, 16}, {5, 2, 3, 3}, true, reflect1_s2),
        conv_case("per_image_k4_s2_oc6", {2, 2, 32, 32}, {6, 2, 4, 4}, false, P::tf_same(4, 4, 2, 32, 32)),
        conv_case("per_image_k3_narrow", {2, 2, 32, 8}, {5, 2, 3, 3}, true, P::tf_same(3, 3, 1, 32, 8)),
        conv_case("per_image_k1_oc6", {2, 3, 32, 8}, {6, 3, 1, 1}, true, P::valid()),
        // K = 12 with OC = 16, K = 36 with OC = 32: dW is computed transposed (better GEMM tile fill), per image
        // and batched.
        conv_case("per_image_dw_transposed", {2, 4, 32, 8}, {16, 4, 3, 1}, false, P::tf_same(3, 1, 1, 32, 8)),
        conv_case("batched_dw_transposed", {3, 4, 5, 5}, {32, 4, 3, 3}, true, P::tf_same(3, 3, 2, 5, 5)),
        // Winograd F(2×2, 3×3) (3×3 'same', stride 1, >= 32 channels each way, even maps of >= 8): forward and data
        // gradient. 10 tile columns are a group of 8 and a masked group of 2; 33 output channels leave a filter
        // tail of 1 in the data gradient's transposed filters.
        conv_case("winograd_c32_oc33", {1, 32, 8, 20}, {33, 32, 3, 3}, true, P::tf_same(3, 3, 1, 8, 20)),
    };
}

// The faceswap-GAN convolutions at RES 64 (standard), batch 8, f32 (spec §2.2, §2.3, §3).
static std::vector<PerfCase> conv2d_perf() {
    auto pc = [](const std::string& name, Shape x, Shape w, bool bias, Conv2dParams p) {
        TestCase t = conv_case(name, std::move(x), std::move(w), bias, p);
        return PerfCase{t.name, t.inputs, t.attrs};
    };
    using P = Conv2dParams;
    return {
        pc("enc_in_5x5_3to64_64px", {8, 3, 64, 64}, {64, 3, 5, 5}, false, P::tf_same(5, 5, 1, 64, 64)),
        pc("enc_block_3x3s2_64to128_64px", {8, 64, 64, 64}, {128, 64, 3, 3}, false, P::tf_same(3, 3, 2, 64, 64)),
        pc("enc_block_3x3s2_256to512_16px", {8, 256, 16, 16}, {512, 256, 3, 3}, false,
           P::tf_same(3, 3, 2, 16, 16)),
        // the decoder's first upscale_ps conv, 512 -> 4·256 at 8×8 (4.8 GFLOP at batch 8)
        pc("upscale_ps_3x3_512to1024_8px", {8, 512, 8, 8}, {1024, 512, 3, 3}, true, P::tf_same(3, 3, 1, 8, 8)),
        // the encoder's 3×3 blocks at 32 and 8 px, and the decoder's 64 px upscale conv
        pc("enc_block_3x3s2_128to256_32px", {8, 128, 32, 32}, {256, 128, 3, 3}, false, P::tf_same(3, 3, 2, 32, 32)),
        pc("enc_block_3x3s2_512to1024_8px", {8, 512, 8, 8}, {1024, 512, 3, 3}, false, P::tf_same(3, 3, 2, 8, 8)),
        pc("dec_upscale_3x3_128to256_32px", {8, 128, 32, 32}, {256, 128, 3, 3}, true, P::tf_same(3, 3, 1, 32, 32)),
        // the decoder's 16 px upscale conv (256 -> 4·128): with the 4×4 one, the heaviest conv call of a step
        pc("dec_upscale_3x3_256to512_16px", {8, 256, 16, 16}, {512, 256, 3, 3}, true, P::tf_same(3, 3, 1, 16, 16)),
        // the two heaviest convolutions of a training step besides those above: the encoder's final upscale_ps
        // conv at 4×4 (1024 -> 4·512, 9.7 GFLOP at batch 8) and the decoder's 64 px residual/conv blocks
        pc("enc_upscale_ps_3x3_1024to2048_4px", {8, 1024, 4, 4}, {2048, 1024, 3, 3}, true, P::tf_same(3, 3, 1, 4, 4)),
        pc("dec_res_3x3_64to64_64px", {8, 64, 64, 64}, {64, 64, 3, 3}, false, P::tf_same(3, 3, 1, 64, 64)),
        pc("dec_head_5x5_64to3_64px", {8, 64, 64, 64}, {3, 64, 5, 5}, true, P::tf_same(5, 5, 1, 64, 64)),
        pc("disc_in_4x4s2_6to64_64px", {8, 6, 64, 64}, {64, 6, 4, 4}, false, P::tf_same(4, 4, 2, 64, 64)),
        // the discriminator's two other stride-2 blocks (run 8 times per training iteration each: 4 per D)
        pc("disc_block_4x4s2_64to128_32px", {8, 64, 32, 32}, {128, 64, 4, 4}, false, P::tf_same(4, 4, 2, 32, 32)),
        pc("disc_block_4x4s2_128to256_16px", {8, 128, 16, 16}, {256, 128, 4, 4}, false,
           P::tf_same(4, 4, 2, 16, 16)),
        // RES 128: the layers whose maps grow with the resolution (the encoder's input and first block, the
        // decoder's last residual block)
        pc("enc_in_5x5_3to64_128px", {8, 3, 128, 128}, {64, 3, 5, 5}, false, P::tf_same(5, 5, 1, 128, 128)),
        pc("enc_block_3x3s2_64to128_128px", {8, 64, 128, 128}, {128, 64, 3, 3}, false,
           P::tf_same(3, 3, 2, 128, 128)),
        pc("dec_res_3x3_64to64_128px", {8, 64, 128, 128}, {64, 64, 3, 3}, false, P::tf_same(3, 3, 1, 128, 128)),
        // batch 1, as conversion runs them
        pc("b1_dec_res_3x3_64to64_64px", {1, 64, 64, 64}, {64, 64, 3, 3}, false, P::tf_same(3, 3, 1, 64, 64)),
        pc("b1_upscale_ps_3x3_512to1024_8px", {1, 512, 8, 8}, {1024, 512, 3, 3}, true, P::tf_same(3, 3, 1, 8, 8)),
    };
}

const OpSpec k_spec_conv2d = {"conv2d", 2, 3, conv2d_fwd, conv2d_bwd, conv2d_cases, conv2d_perf, conv2d_flops,
                              k_op_none};

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
    if (!b.defined()) return apply1(k_spec_conv2d, {x, w}, p);
    return apply1(k_spec_conv2d, {x, w, b}, p);
}

// --- depthwise_conv2d ------------------------------------------------------------------------------------------

static Conv2dGeom depthwise_geom(const std::vector<Tensor>& in, const Conv2dParams& p) {
    FS_CHECK(in.size() == 2 || in.size() == 3, "depthwise_conv2d: expects (x, w) or (x, w, b), got ", in.size(),
             " inputs");
    const Tensor& x = in[0];
    const Tensor& w = in[1];
    check_rank(x, 4, "depthwise_conv2d", "input x (N, C, H, W)");
    check_rank(w, 4, "depthwise_conv2d", "weight w (C, 1, KH, KW)");
    check_same_dtype_device(in, "depthwise_conv2d");
    FS_CHECK(x.device() == Device::cpu, "depthwise_conv2d: only the CPU backend is available for ", x.str());
    Conv2dGeom g;
    g.N = x.size(0), g.C = x.size(1), g.H = x.size(2), g.W = x.size(3);
    g.OC = g.C, g.KH = w.size(2), g.KW = w.size(3);
    FS_CHECK(w.size(0) == g.C && w.size(1) == 1, "depthwise_conv2d: input ", x.str(), " has C=", g.C,
             " so the weight must be (", g.C, ", 1, KH, KW), got ", w.str());
    FS_CHECK(g.N >= 1 && g.C >= 1 && g.H >= 1 && g.W >= 1 && g.KH >= 1 && g.KW >= 1, "depthwise_conv2d: empty input ",
             x.str(), " or weight ", w.str());
    if (in.size() == 3) {
        check_rank(in[2], 1, "depthwise_conv2d", "bias b (C)");
        FS_CHECK(in[2].size(0) == g.C, "depthwise_conv2d: input ", x.str(), " has C=", g.C, " but bias is ",
                 in[2].str());
    }
    conv_output_size(x, p, g, "depthwise_conv2d");
    return g;
}

static std::vector<Tensor> depthwise_conv2d_fwd(const std::vector<Tensor>& in, const std::any& a) {
    const Conv2dParams& p = attrs_as<Conv2dParams>(a, "depthwise_conv2d");
    Conv2dGeom g = depthwise_geom(in, p);
    Tensor x = in[0].contiguous(), w = in[1].contiguous();
    Tensor b = in.size() == 3 ? in[2].contiguous() : Tensor();
    Tensor y = Tensor::empty({g.N, g.C, g.Ho, g.Wo}, x.dtype());
    dispatch_float(x.dtype(), "depthwise_conv2d", [&](auto tag) {
        using T = decltype(tag);
        depthwise_conv2d_forward_cpu<T>(p, g, x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr,
                                        y.data<T>());
    });
    return {y};
}

static std::vector<Tensor> depthwise_conv2d_bwd(const BackwardArgs& args) {
    const Conv2dParams& p = attrs_as<Conv2dParams>(args.attrs, "depthwise_conv2d");
    Conv2dGeom g = depthwise_geom(args.in, p);
    Tensor x = args.in[0].contiguous(), w = args.in[1].contiguous(), dy = args.dout[0].contiguous();
    const bool has_b = args.in.size() == 3;
    Tensor dx = args.needs[0] ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
    Tensor dw = args.needs[1] ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
    Tensor db = has_b && args.needs[2] ? Tensor::empty({g.C}, x.dtype()) : Tensor();
    dispatch_float(x.dtype(), "depthwise_conv2d backward", [&](auto tag) {
        using T = decltype(tag);
        depthwise_conv2d_backward_cpu<T>(p, g, x.data<T>(), w.data<T>(), dy.data<T>(),
                                         dx.defined() ? dx.data<T>() : nullptr, dw.defined() ? dw.data<T>() : nullptr,
                                         db.defined() ? db.data<T>() : nullptr);
    });
    std::vector<Tensor> grads = {dx, dw};
    if (has_b) grads.push_back(db);
    return grads;
}

static double depthwise_conv2d_flops(const std::vector<Tensor>& in, const std::any& a) {
    Conv2dGeom g = depthwise_geom(in, attrs_as<Conv2dParams>(a, "depthwise_conv2d"));
    // One multiply and one add per (output element, tap).
    return 2.0 * double(g.N * g.C * g.Ho * g.Wo) * double(g.KH * g.KW);
}

static std::vector<TestCase> depthwise_conv2d_cases() {
    using P = Conv2dParams;
    Conv2dParams reflect1;
    reflect1.pad_top = reflect1.pad_bottom = reflect1.pad_left = reflect1.pad_right = 1;
    reflect1.pad_mode = PadMode::reflect;
    Conv2dParams mixed = P::valid();  // stride 2 down, 1 across, padding on two sides only
    mixed.stride_h = 2;
    mixed.pad_top = 1, mixed.pad_right = 2;
    return {
        // The landmark net's separable convs: 3×3 'same' at stride 1 and stride 2 on even (pads 0/1) and odd
        // (1/1) inputs.
        conv_case("k3_s1_same_bias", {2, 3, 5, 6}, {3, 1, 3, 3}, true, P::tf_same(3, 3, 1, 5, 6)),
        conv_case("k3_s2_same_even_asym", {2, 4, 6, 8}, {4, 1, 3, 3}, true, P::tf_same(3, 3, 2, 6, 8)),
        conv_case("k3_s2_same_odd", {1, 2, 7, 5}, {2, 1, 3, 3}, false, P::tf_same(3, 3, 2, 7, 5)),
        conv_case("k5_valid_c1", {2, 1, 7, 6}, {1, 1, 5, 5}, true, P::valid()),
        conv_case("k3x2_mixed_stride", {2, 3, 7, 6}, {3, 1, 3, 2}, false, mixed),
        conv_case("reflect1_k3", {1, 3, 4, 5}, {3, 1, 3, 3}, true, reflect1),
        conv_case("strided_x_w", {2, 3, 5, 4}, {3, 1, 3, 3}, true, P::tf_same(3, 3, 1, 5, 4), true),
    };
}

// The face-api 68-point landmark net's depthwise convs (PROVENANCE.md §4), batch 1 as `faceswap masks` runs it.
static std::vector<PerfCase> depthwise_conv2d_perf() {
    auto pc = [](const std::string& name, int64_t C, int64_t H, int stride) {
        TestCase t = conv_case(name, {1, C, H, H}, {C, 1, 3, 3}, false, Conv2dParams::tf_same(3, 3, stride, H, H));
        return PerfCase{t.name, t.inputs, t.attrs};
    };
    return {
        pc("landmarks_dense0_32c_56px", 32, 56, 1),
        pc("landmarks_dense1_down_32c_56px", 32, 56, 2),
        pc("landmarks_dense1_64c_28px", 64, 28, 1),
        pc("landmarks_dense3_256c_7px", 256, 7, 1),
    };
}

const OpSpec k_spec_depthwise_conv2d = {"depthwise_conv2d",
                                        2,
                                        3,
                                        depthwise_conv2d_fwd,
                                        depthwise_conv2d_bwd,
                                        depthwise_conv2d_cases,
                                        depthwise_conv2d_perf,
                                        depthwise_conv2d_flops,
                                        k_op_none};

Tensor depthwise_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
    if (!b.defined()) return apply1(k_spec_depthwise_conv2d, {x, w}, p);
    return apply1(k_spec_depthwise_conv2d, {x, w, b}, p);
}

}  // namespace fs
